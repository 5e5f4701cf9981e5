import Locking
import Testing
@testable import Triage

/// A gate a job waits on until the test opens it; records that the job reached it.
private final class Gate: Sendable {
    private let opened: AsyncStream<Void>
    private let opener: AsyncStream<Void>.Continuation
    init() { (opened, opener) = AsyncStream.makeStream(of: Void.self) }
    func wait() async { for await _ in opened { return } }
    func open() { opener.yield(); opener.finish() }
}

/// Events in the order jobs produced them, readable as a stream by the test.
private final class EventLog: Sendable {
    let events: AsyncStream<String>
    private let sink: AsyncStream<String>.Continuation
    private let all = LockedValue<[String]>([])
    init() { (events, sink) = AsyncStream.makeStream(of: String.self) }
    func record(_ event: String) {
        all.withLock { $0.append(event) }
        sink.yield(event)
    }
    var recorded: [String] { all.withLock { $0 } }
    /// Waits until `count` more events arrived, returning them.
    func next(_ count: Int, from iterator: inout AsyncStream<String>.Iterator) async -> [String] {
        var seen: [String] = []
        while seen.count < count, let event = await iterator.next() { seen.append(event) }
        return seen
    }
}

@Suite(.timeLimit(.minutes(1))) struct KeyedTaskSchedulerTests {
    @Test func runsOneKeyInSubmissionOrderWithoutOverlap() async {
        let scheduler = KeyedTaskScheduler<String>(maxInFlight: 16)
        let log = EventLog()
        await withDiscardingTaskGroup { group in
            group.addTask { await scheduler.run() }
            for index in 0..<50 {
                await scheduler.submit(key: "k") {
                    log.record("start \(index)")
                    await Task.yield()
                    log.record("end \(index)")
                }
            }
            await scheduler.waitUntilIdle()
            scheduler.finish()
        }
        let expected = (0..<50).flatMap { ["start \($0)", "end \($0)"] }
        #expect(log.recorded == expected)
    }

    @Test func runsDifferentKeysConcurrently() async {
        let scheduler = KeyedTaskScheduler<String>(maxInFlight: 4)
        let log = EventLog()
        let gate = Gate()
        var iterator = log.events.makeAsyncIterator()
        await withDiscardingTaskGroup { group in
            group.addTask { await scheduler.run() }
            for key in ["a", "b", "c"] {
                await scheduler.submit(key: key) {
                    log.record("started \(key)")
                    await gate.wait()
                }
            }
            // All three are running at once while the gate is closed.
            let started = await log.next(3, from: &iterator)
            #expect(Set(started) == ["started a", "started b", "started c"])
            #expect(scheduler.inFlight == 3)
            gate.open()
            await scheduler.waitUntilIdle()
            #expect(scheduler.inFlight == 0)
            scheduler.finish()
        }
    }

    @Test func withManyLanesEveryJobRunsAndEachKeyKeepsItsOrder() async {
        // 100 in flight: 7 lanes of task groups.
        let scheduler = KeyedTaskScheduler<String>(maxInFlight: 100)
        let log = EventLog()
        await withDiscardingTaskGroup { group in
            group.addTask { await scheduler.run() }
            for index in 0..<30 {
                for key in 0..<20 {
                    await scheduler.submit(key: "k\(key)") {
                        await Task.yield()
                        log.record("k\(key) \(index)")
                    }
                }
            }
            await scheduler.waitUntilIdle()
            scheduler.finish()
        }
        let recorded = log.recorded
        #expect(recorded.count == 600)
        for key in 0..<20 {
            let ofKey = recorded.filter { $0.hasPrefix("k\(key) ") }
            #expect(ofKey == (0..<30).map { "k\(key) \($0)" })
        }
    }

    @Test func runningWorkInEveryLaneSeesTheCancellationOfRun() async {
        let scheduler = KeyedTaskScheduler<String>(maxInFlight: 64)
        let log = EventLog()
        var iterator = log.events.makeAsyncIterator()
        let neverOpened = Gate()
        let running = Task { await scheduler.run() }
        for key in 0..<64 {
            await scheduler.submit(key: "k\(key)") {
                log.record("started")
                await neverOpened.wait()  // returns once cancelled
                log.record(Task.isCancelled ? "cancelled" : "not cancelled")
            }
        }
        // All 64 run at once, spread over every lane.
        #expect(await log.next(64, from: &iterator) == Array(repeating: "started", count: 64))
        running.cancel()
        await running.value
        #expect(await log.next(64, from: &iterator) == Array(repeating: "cancelled", count: 64))
        #expect(await scheduler.submit(key: "late") {} == false)
    }

    @Test func submitWaitsWhileTheBoundIsHit() async {
        let scheduler = KeyedTaskScheduler<String>(maxInFlight: 2)
        let log = EventLog()
        let gate = Gate()
        var iterator = log.events.makeAsyncIterator()
        await withDiscardingTaskGroup { group in
            group.addTask { await scheduler.run() }
            await scheduler.submit(key: "a") { log.record("a"); await gate.wait() }
            await scheduler.submit(key: "b") { log.record("b"); await gate.wait() }
            _ = await log.next(2, from: &iterator)
            #expect(scheduler.isSaturated)
            group.addTask {
                await scheduler.submit(key: "c") { log.record("c") }
                log.record("c admitted")
            }
            // Nothing admits "c" until a slot frees: the only way forward is the gate.
            #expect(!log.recorded.contains("c admitted"))
            gate.open()
            let rest = await log.next(2, from: &iterator)
            #expect(Set(rest) == ["c", "c admitted"])
            await scheduler.waitUntilIdle()
            #expect(!scheduler.isSaturated)
            scheduler.finish()
        }
    }

    @Test func aStartWindowOpensByOneForEachFinishedItemUpToTheBound() async {
        let scheduler = KeyedTaskScheduler<String>(maxInFlight: 5, startWindow: 2)
        let log = EventLog()
        let gate = Gate()
        var iterator = log.events.makeAsyncIterator()
        #expect(scheduler.window == 2)
        await withDiscardingTaskGroup { group in
            group.addTask { await scheduler.run() }
            #expect(scheduler.admitNow(key: "a") == .admitted)
            #expect(scheduler.admitNow(key: "b") == .admitted)
            #expect(scheduler.admitNow(key: "c") == .full, "nothing has finished: the window is the start window")
            #expect(scheduler.isSaturated)
            scheduler.start(admitted: ["a"]) { log.record("a") }
            scheduler.start(admitted: ["b"]) { log.record("b"); await gate.wait() }
            _ = await log.next(2, from: &iterator)
            await scheduler.waitUntilInFlight(atMost: 1)
            // "a" finished: its place is free and the window one wider (3), with "b" still in.
            #expect(scheduler.window == 3)
            #expect(scheduler.admitNow(key: "c") == .admitted)
            #expect(scheduler.admitNow(key: "d") == .admitted)
            #expect(scheduler.admitNow(key: "e") == .full)
            // A submit waiting for room is let in once an item finishes and widens the window.
            group.addTask {
                await scheduler.submit(key: "e") { log.record("e") }
                log.record("e admitted")
            }
            scheduler.start(admitted: ["c", "d"]) { log.record("c+d") }
            let next = await log.next(3, from: &iterator)
            #expect(Set(next) == ["c+d", "e", "e admitted"])
            gate.open()
            await scheduler.waitUntilIdle()
            // Five finished: the window stops at the bound.
            #expect(scheduler.completedTotal == 5)
            #expect(scheduler.window == 5)
            scheduler.finish()
        }
    }

    @Test func withoutAStartWindowTheWholeBoundIsOpenAtOnce() {
        #expect(KeyedTaskScheduler<String>(maxInFlight: 7).window == 7)
        #expect(KeyedTaskScheduler<String>(maxInFlight: 7, startWindow: 0).window == 1, "clamped to at least 1")
        #expect(KeyedTaskScheduler<String>(maxInFlight: 7, startWindow: 70).window == 7, "clamped to the bound")
    }

    @Test func theWorkerStartsAtAQuarterOfItsBoundAndAtLeast256() {
        func startWindow(_ bound: Int) -> Int { PipelineWorker.Configuration(topics: PipelineTopics(), maxInFlight: bound).startWindow }
        #expect(startWindow(2_048) == 512)
        #expect(startWindow(4_096) == 1_024)
        #expect(startWindow(600) == 256)
        #expect(startWindow(64) == 64, "a small bound is open from the start")
        #expect(startWindow(2) == 2)
    }

    @Test func queuedWorkIsDroppedAndSubmitRefusedAfterStop() async {
        let scheduler = KeyedTaskScheduler<String>(maxInFlight: 8)
        let log = EventLog()
        let gate = Gate()
        var iterator = log.events.makeAsyncIterator()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await scheduler.run() }
            await scheduler.submit(key: "k") { log.record("first"); await gate.wait() }
            await scheduler.submit(key: "k") { log.record("second") }
            _ = await log.next(1, from: &iterator)
            scheduler.finish()
            gate.open()
            await group.next()
        }
        #expect(log.recorded == ["first"])
        #expect(scheduler.inFlight == 0)
        let accepted = await scheduler.submit(key: "k") { log.record("late") }
        #expect(!accepted)
        await scheduler.waitUntilIdle()
    }

    @Test func waitUntilInFlightWakesOnceWorkDrainsToTheLimit() async {
        let scheduler = KeyedTaskScheduler<String>(maxInFlight: 3)
        let log = EventLog()
        let gates = [Gate(), Gate(), Gate()]
        var iterator = log.events.makeAsyncIterator()
        await withDiscardingTaskGroup { group in
            group.addTask { await scheduler.run() }
            for (index, gate) in gates.enumerated() {
                await scheduler.submit(key: "\(index)") { log.record("started \(index)"); await gate.wait() }
            }
            _ = await log.next(3, from: &iterator)
            group.addTask {
                await scheduler.waitUntilInFlight(atMost: 1)
                log.record("at most 1")
            }
            group.addTask {
                await scheduler.waitUntilInFlight(atMost: 0)
                log.record("at most 0")
            }
            group.addTask {
                await scheduler.waitUntilIdle()
                log.record("idle")
            }
            // Only finishing work moves them: one job done leaves 2, still above both limits.
            gates[0].open()
            gates[1].open()
            #expect(await log.next(1, from: &iterator) == ["at most 1"])
            // The last job wakes the limit-0 waiter and the idle waiter together.
            gates[2].open()
            #expect(Set(await log.next(2, from: &iterator)) == ["at most 0", "idle"])
            scheduler.finish()
        }
    }

    @Test func waitUntilInFlightReturnsWhenCancelled() async {
        let scheduler = KeyedTaskScheduler<String>(maxInFlight: 1)
        let gate = Gate()
        await withDiscardingTaskGroup { group in
            group.addTask { await scheduler.run() }
            await scheduler.submit(key: "k") { await gate.wait() }
            let waiter = Task { await scheduler.waitUntilInFlight(atMost: 0) }
            waiter.cancel()
            await waiter.value
            #expect(scheduler.inFlight == 1, "it returned on cancellation, not because work finished")
            gate.open()
            await scheduler.waitUntilIdle()
            scheduler.finish()
        }
    }

    @Test func admitNowTakesAFreeKeyAndABatchReleasesAllItsKeys() async {
        let scheduler = KeyedTaskScheduler<String>(maxInFlight: 3)
        let log = EventLog()
        let gate = Gate()
        var iterator = log.events.makeAsyncIterator()
        await withDiscardingTaskGroup { group in
            group.addTask { await scheduler.run() }
            #expect(scheduler.admitNow(key: "a") == .admitted)
            #expect(scheduler.admitNow(key: "b") == .admitted)
            #expect(scheduler.admitNow(key: "a") == .keyBusy)
            #expect(scheduler.inFlight == 2)
            scheduler.start(admitted: ["a", "b"]) {
                log.record("batch")
                await gate.wait()
            }
            _ = await log.next(1, from: &iterator)
            // Queued behind the batch's key, not started while the batch runs.
            await scheduler.submit(key: "a") { log.record("after a") }
            #expect(scheduler.admitNow(key: "c") == .full)
            #expect(log.recorded == ["batch"])
            gate.open()
            #expect(await log.next(1, from: &iterator) == ["after a"])
            await scheduler.waitUntilIdle()
            #expect(scheduler.admitNow(key: "a") == .admitted)
            scheduler.start(admitted: ["a"]) {}
            await scheduler.waitUntilIdle()
            scheduler.finish()
        }
        #expect(scheduler.admitNow(key: "z") == .stopped)
    }
}

@Suite struct RecordKeyTests {
    @Test func digestIsFNV1aFedInPieces() {
        // The published FNV-1a 64-bit vectors.
        var empty = FNV1a64()
        empty.add([])
        #expect(empty.value == 0xcbf2_9ce4_8422_2325)
        var pieces = FNV1a64()
        pieces.add(Array("foo".utf8))
        pieces.add("ba")
        pieces.add(UInt8(ascii: "r"))
        #expect(pieces.value == 0x8594_4171_f739_67e8)
        #expect(Fingerprint.fnv1a64("foobar") == 0x8594_4171_f739_67e8)
    }

    @Test func recordsOfOneKeyShareItWhereverTheyAre() {
        let fingerprint = Array("3f2a9c41d07be5a2".utf8)
        #expect(RecordKey(key: fingerprint, partition: 0, offset: 1) == RecordKey(key: fingerprint, partition: 3, offset: 900))
        #expect(RecordKey(key: fingerprint, partition: 0, offset: 1) != RecordKey(key: Array("3f2a9c41d07be5a3".utf8), partition: 0, offset: 1))
    }

    @Test func recordsWithoutAKeyAreEachTheirOwn() {
        #expect(RecordKey(key: nil, partition: 0, offset: 7) != RecordKey(key: nil, partition: 0, offset: 8))
        #expect(RecordKey(key: nil, partition: 0, offset: 7) != RecordKey(key: nil, partition: 1, offset: 7))
        // An empty key is a key (all empty-keyed records in one order), not a missing one.
        #expect(RecordKey(key: [], partition: 0, offset: 7) != RecordKey(key: nil, partition: 0, offset: 7))
    }
}

@Suite struct ConsumedCountTests {
    @Test func aPollIsCountedOncePerRunOfATopic() {
        let runs = PipelineMetrics.runs(of: ["alerts", "alerts", "alerts.retry", "alerts"])
        #expect(runs.map(\.topic) == ["alerts", "alerts.retry", "alerts"])
        #expect(runs.map(\.count) == [2, 1, 1])
        #expect(PipelineMetrics.runs(of: [String]()).isEmpty)
    }
}
