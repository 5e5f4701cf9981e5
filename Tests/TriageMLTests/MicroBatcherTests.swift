import MetricsTestKit
import Resilience
import Locking
import Testing
import Triage
@testable import TriageML
import TriageTestSupport

/// An upstream classifier that records each batch and answers from a closure.
private final class RecordingClassifier: AlertClassifier {
    struct Failure: Error, Equatable {}

    private let batches = LockedValue<[[String]]>([])
    private let fails: Bool
    private let dropOne: Bool

    init(fails: Bool = false, dropOne: Bool = false) {
        self.fails = fails
        self.dropOne = dropOne
    }

    var recordedBatches: [[String]] { batches.withLock { $0 } }

    func classify(_ alerts: [Alert]) async throws -> [Classification] {
        batches.withLock { $0.append(alerts.map(\.fingerprint)) }
        if fails { throw Failure() }
        // Encode each alert's position in the confidence, to check results reach their caller.
        let results = alerts.map { alert in
            Classification(severity: .low, category: .other, confidence: Double(alert.fingerprint.dropFirst()) ?? -1, classifier: .ml)
        }
        return dropOne ? Array(results.dropLast()) : results
    }
}

/// An upstream classifier that holds every batch until ``release()``.
private final class HeldClassifier: AlertClassifier {
    private let held = LockedValue<[(count: Int, continuation: CheckedContinuation<Void, Never>)]>([])

    var heldBatches: Int { held.withLock { $0.count } }

    func classify(_ alerts: [Alert]) async throws -> [Classification] {
        await withCheckedContinuation { continuation in held.withLock { $0.append((alerts.count, continuation)) } }
        return alerts.map { _ in Classification(severity: .low, category: .other, confidence: 1, classifier: .ml) }
    }

    func release() {
        for batch in held.withLock({ held in defer { held = [] }; return held }) { batch.continuation.resume() }
    }
}

/// An upstream classifier that holds every batch until ``release()`` and says which
/// alerts each held batch carries.
private final class RecordingHeldClassifier: AlertClassifier {
    private let held = LockedValue<[(fingerprints: [String], continuation: CheckedContinuation<Void, Never>)]>([])

    var heldBatches: [[String]] { held.withLock { $0.map(\.fingerprints) } }

    func classify(_ alerts: [Alert]) async throws -> [Classification] {
        await withCheckedContinuation { continuation in held.withLock { $0.append((alerts.map(\.fingerprint), continuation)) } }
        return alerts.map { _ in Classification(severity: .low, category: .other, confidence: 1, classifier: .ml) }
    }

    func release() {
        for batch in held.withLock({ held in defer { held = [] }; return held }) { batch.continuation.resume() }
    }
}

/// An upstream that fails every batch, saying it timed out.
private struct TimingOutClassifier: AlertClassifier {
    struct TimedOut: TimeoutReportingError { var timedOutAfter: Duration? { .seconds(2) } }

    func classify(_ alerts: [Alert]) async throws -> [Classification] { throw TimedOut() }
}

/// What a classify call ended with.
private enum Ending: Equatable {
    case classified
    case cancelled
    case failed
}

private func ending(_ body: () async throws -> Classification) async -> Ending {
    do {
        _ = try await body()
        return .classified
    } catch is CancellationError {
        return .cancelled
    } catch {
        return .failed
    }
}

@Suite("MicroBatcher timing with a manual clock")
struct MicroBatcherTests {
    private func alert(_ index: Int) -> Alert { makeAlert("A\(index)") }

    /// Classifies alerts 0..<`alerts` at once; for each, whether it failed with an error
    /// `expected` accepts.
    private func failures(
        of batcher: MicroBatcher, alerts: Int, expected: @escaping @Sendable (any Error) -> Bool
    ) async -> [Bool] {
        await withTaskGroup(of: Bool.self) { group in
            for index in 0..<alerts {
                group.addTask {
                    do {
                        _ = try await batcher.classify(alert(index))
                        return false
                    } catch {
                        return expected(error)
                    }
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
    }

    @Test func alertsArrivingTogetherGoInOneBatchAfterMaxWait() async throws {
        let clock = ManualClock()
        let upstream = RecordingClassifier()
        let metrics = TestMetrics()
        let batcher = MicroBatcher(upstream: upstream, configuration: .init(maxBatchSize: 10, maxWait: .milliseconds(5)), clock: clock, metricsFactory: metrics)
        let results = Task {
            try await withThrowingTaskGroup(of: (Int, Classification).self) { group in
                for index in 0..<3 { group.addTask { (index, try await batcher.classify(alert(index))) } }
                return try await group.reduce(into: [Int: Classification]()) { $0[$1.0] = $1.1 }
            }
        }
        #expect(await eventually(polling: .yielding) { await batcher.pendingCount == 3 && clock.sleeperCount == 1 })
        #expect(await batcher.pendingCount == 3)
        #expect(upstream.recordedBatches.isEmpty)

        clock.advance(by: .milliseconds(4))
        #expect(upstream.recordedBatches.isEmpty)
        #expect(await batcher.pendingCount == 3)

        clock.advance(by: .milliseconds(1))
        let classified = try await results.value
        #expect(upstream.recordedBatches.count == 1)
        #expect(Set(upstream.recordedBatches.first ?? []) == ["A0", "A1", "A2"])
        for index in 0..<3 { #expect(classified[index]?.confidence == Double(index)) }
        #expect(try metrics.expectRecorder("breakwater_ml_batch_size").values == [3])
    }

    @Test func fullBatchIsSentWithoutWaiting() async throws {
        let clock = ManualClock()
        let upstream = RecordingClassifier()
        let metrics = TestMetrics()
        let batcher = MicroBatcher(upstream: upstream, configuration: .init(maxBatchSize: 2, maxWait: .seconds(60)), clock: clock, metricsFactory: metrics)
        async let first = batcher.classify(alert(0))
        async let second = batcher.classify(alert(1))
        // The clock never moves: the batch went out because it was full.
        let results = try await [first, second]
        #expect(results.map(\.confidence) == [0, 1])
        #expect(upstream.recordedBatches.count == 1)
        #expect(try metrics.expectRecorder("breakwater_ml_batch_size").values == [2])
    }

    @Test func overflowSplitsIntoBatchesOfMaxSize() async throws {
        let clock = ManualClock()
        let upstream = RecordingClassifier()
        let batcher = MicroBatcher(upstream: upstream, configuration: .init(maxBatchSize: 4, maxWait: .milliseconds(1)), clock: clock, metricsFactory: TestMetrics())
        let results = Task { try await batcher.classify((0..<10).map(alert)) }
        // Two full batches leave at once; the last 2 alerts wait for the timer. Each batch
        // that began gathering armed a timer (the first and second ones are stale now):
        // all three must be asleep before the clock moves, or one would miss the advance.
        #expect(await eventually(polling: .yielding) { upstream.recordedBatches.count == 2 && clock.sleeperCount == 3 })
        #expect(upstream.recordedBatches.map(\.count) == [4, 4])
        clock.advance(by: .milliseconds(1))
        let classified = try await results.value
        #expect(classified.map(\.confidence) == (0..<10).map(Double.init))
        #expect(upstream.recordedBatches.map(\.count) == [4, 4, 2])
    }

    @Test func staleTimerDoesNotSendTheNextBatchEarly() async throws {
        let clock = ManualClock()
        let upstream = RecordingClassifier()
        let batcher = MicroBatcher(upstream: upstream, configuration: .init(maxBatchSize: 2, maxWait: .milliseconds(10)), clock: clock, metricsFactory: TestMetrics())
        // Alert 0 arms the timer at t=0; alert 1 fills the batch, which leaves at once.
        let firstPair = Task { try await batcher.classify([alert(0), alert(1)]) }
        _ = try await firstPair.value
        // Alert 2 arrives at t=6 and arms its own timer (due at t=16).
        clock.advance(by: .milliseconds(6))
        let third = Task { try await batcher.classify(alert(2)) }
        #expect(await eventually(polling: .yielding) { await batcher.pendingCount == 1 && clock.sleeperCount == 2 })
        // t=10: the first timer fires, but its batch is gone; alert 2 must keep waiting.
        clock.advance(by: .milliseconds(4))
        #expect(await eventually(polling: .yielding) { clock.sleeperCount == 1 })
        #expect(await batcher.pendingCount == 1)
        #expect(upstream.recordedBatches.count == 1)
        clock.advance(by: .milliseconds(6))
        #expect(try await third.value.confidence == 2)
        #expect(upstream.recordedBatches.count == 2)
    }

    @Test func failedBatchFailsEveryAlertInIt() async throws {
        let clock = ManualClock()
        let upstream = RecordingClassifier(fails: true)
        let batcher = MicroBatcher(upstream: upstream, configuration: .init(maxBatchSize: 3, maxWait: .seconds(1)), clock: clock, metricsFactory: TestMetrics())
        let outcomes = await failures(of: batcher, alerts: 3) { $0 as? RecordingClassifier.Failure == RecordingClassifier.Failure() }
        #expect(outcomes == [true, true, true])
        #expect(upstream.recordedBatches.count == 1)
    }

    @Test func upstreamReturningTooFewResultsFailsTheBatch() async throws {
        let batcher = MicroBatcher(upstream: RecordingClassifier(dropOne: true), configuration: .init(maxBatchSize: 2, maxWait: .seconds(1)), clock: ManualClock(), metricsFactory: TestMetrics())
        let error = await #expect(throws: ClassifierError.self) { try await batcher.classify([alert(0), alert(1)]) }
        #expect(error == .resultCountMismatch(expected: 2, got: 1))
    }

    @Test func aCancelledCallerStopsWaitingForItsBatchAtOnce() async {
        let upstream = HeldClassifier()
        let batcher = MicroBatcher(upstream: upstream, configuration: .init(maxBatchSize: 2, maxWait: .seconds(60)), clock: ManualClock(), metricsFactory: TestMetrics())
        let cancelled = Task { await ending { try await batcher.classify(alert(0)) } }
        let kept = Task { await ending { try await batcher.classify(alert(1)) } }
        #expect(await eventually(polling: .yielding) { upstream.heldBatches == 1 })
        // The batch is with the upstream, which never answers on its own: only the
        // cancellation can end the first wait (as a breaker's call timeout does).
        cancelled.cancel()
        #expect(await cancelled.value == .cancelled)
        upstream.release()
        #expect(await kept.value == .classified)
    }

    @Test func aCallerCancelledBeforeItWaitsIsNeverQueued() async {
        let upstream = HeldClassifier()
        let batcher = MicroBatcher(upstream: upstream, configuration: .init(maxBatchSize: 1, maxWait: .seconds(60)), clock: ManualClock(), metricsFactory: TestMetrics())
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await ending { try await batcher.classify(alert(0)) }
        }
        #expect(await task.value == .cancelled)
        #expect(await batcher.pendingCount == 0)
        #expect(upstream.heldBatches == 0)
    }

    // MARK: - Breaker

    @Test(.timeLimit(.minutes(1))) func theBreakerCountsRequestsNotTheAlertsTheyCarry() async throws {
        let breaker = try makeBreaker(.tripping(after: 2), clock: ManualClock(), name: "ml")
        let failing = MicroBatcher(
            upstream: TimingOutClassifier(), configuration: .init(maxBatchSize: 8, maxWait: .seconds(60)), clock: ManualClock(),
            metricsFactory: TestMetrics(), breaker: breaker)
        // Eight alerts in one timed-out request: one failure of the dependency, and each
        // alert learns the breaker's view of it.
        let first = await failures(of: failing, alerts: 8) {
            if case CircuitBreakerError.timeout(breaker: "ml", after: .seconds(2)) = $0 { true } else { false }
        }
        #expect(first == Array(repeating: true, count: 8))
        #expect(breaker.snapshot().totals.timeouts == 1)
        #expect(breaker.state == .closed, "one slow request must not open a breaker whose threshold is 2")
        // A successful request is one success too.
        let working = MicroBatcher(
            upstream: RecordingClassifier(), configuration: .init(maxBatchSize: 4, maxWait: .seconds(60)), clock: ManualClock(),
            metricsFactory: TestMetrics(), breaker: breaker)
        #expect(try await working.classify((0..<4).map(alert)).count == 4)
        #expect(breaker.snapshot().totals.successes == 1)
    }

    @Test(.timeLimit(.minutes(1))) func aBatchDueWhileTheBreakerIsOpenIsTurnedAwayWithoutARequest() async throws {
        let breaker = try makeBreaker(.tripping(after: 1), clock: ManualClock(), name: "ml")
        let upstream = RecordingClassifier()
        let batcher = MicroBatcher(
            upstream: upstream, configuration: .init(maxBatchSize: 2, maxWait: .seconds(60)), clock: ManualClock(),
            metricsFactory: TestMetrics(), breaker: breaker)
        breaker.forceOpen(reason: "test")
        let error = await #expect(throws: CircuitBreakerError.self) { try await batcher.classify([alert(0), alert(1)]) }
        guard case .open(breaker: "ml", reason: .forcedOpen)? = error else {
            Issue.record("expected the open breaker's refusal, got \(String(describing: error))")
            return
        }
        #expect(upstream.recordedBatches.isEmpty)
    }

    @Test(.timeLimit(.minutes(1))) func aWrongNumberOfResultsIsTheRequestsFailureForTheBreaker() async throws {
        let breaker = try makeBreaker(.tripping(after: 1), clock: ManualClock(), name: "ml")
        let batcher = MicroBatcher(
            upstream: RecordingClassifier(dropOne: true), configuration: .init(maxBatchSize: 2, maxWait: .seconds(1)), clock: ManualClock(),
            metricsFactory: TestMetrics(), breaker: breaker)
        let error = await #expect(throws: CircuitBreakerError.self) { try await batcher.classify([alert(0), alert(1)]) }
        guard case .operationFailed(_, let underlying, counted: true)? = error else {
            Issue.record("expected a counted failure, got \(String(describing: error))")
            return
        }
        #expect(underlying as? ClassifierError == .resultCountMismatch(expected: 2, got: 1))
        #expect(breaker.state == .open)
    }

    // MARK: - Wait budget

    @Test(.timeLimit(.minutes(1))) func anAlertWaitsNoLongerThanItsPrioritysBudgetWhileItsRequestIsOut() async throws {
        let clock = ManualClock()
        let upstream = HeldClassifier()
        let breaker = try makeBreaker(.tripping(after: 1), clock: clock, name: "ml")
        let batcher = MicroBatcher(
            upstream: upstream, configuration: .init(maxBatchSize: 2, maxWait: .seconds(60)), clock: clock, metricsFactory: TestMetrics(),
            breaker: breaker, waitBudgets: [0: .milliseconds(100)])
        let impatient = answer(batcher, 0, priority: 0)
        let patient = answer(batcher, 1, priority: 4)
        #expect(await eventually(polling: .yielding) { upstream.heldBatches == 1 })
        // The request is out and slow: the budget's sweep is the only sleeper left (the
        // batch timer's went with the full batch).
        #expect(await eventually(polling: .yielding) { clock.sleeperCount >= 1 })
        clock.advance(by: .milliseconds(99))
        clock.advance(by: .milliseconds(1))
        #expect(await impatient.value == .budgetSpent)
        upstream.release()
        #expect(await patient.value == .classified)
        // The request itself succeeded: the breaker saw one success and no failure.
        #expect(breaker.snapshot().totals.successes == 1 && breaker.snapshot().totals.timeouts == 0)
    }

    @Test(.timeLimit(.minutes(1))) func aShorterBudgetArrivingLaterEndsFirstAndTheLongerOneStillEnds() async throws {
        let clock = ManualClock()
        let upstream = HeldClassifier()
        let batcher = MicroBatcher(
            upstream: upstream, configuration: .init(maxBatchSize: 2, maxWait: .seconds(60)), clock: clock, metricsFactory: TestMetrics(),
            waitBudgets: [4: .milliseconds(300), 0: .milliseconds(100)])
        let longer = Task { () -> Duration? in
            do {
                _ = try await batcher.classify(alert(0), priority: 4)
                return nil
            } catch {
                return (error as? WaitBudgetExceeded)?.after
            }
        }
        #expect(await eventually(polling: .yielding) { await batcher.pendingCount == 1 })
        // The sweep, armed for 300 ms, is re-armed for this one's 100 ms.
        let shorter = answer(batcher, 1, priority: 0)
        #expect(await eventually(polling: .yielding) { upstream.heldBatches == 1 })
        clock.advance(by: .milliseconds(100))
        #expect(await shorter.value == .budgetSpent)
        clock.advance(by: .milliseconds(200))
        #expect(await longer.value == .milliseconds(300))
        upstream.release()
    }

    @Test(.timeLimit(.minutes(1))) func aRequestAnsweredAfterAnAlertItCarriedGaveUpIsADropForTheLimit() async throws {
        let clock = ManualClock()
        let upstream = HeldClassifier()
        var configuration = ConcurrencyLimit.Configuration()
        configuration.initialLimit = 4
        configuration.maxLimit = 4
        configuration.backoffRatio = 0.5
        let limit = try ConcurrencyLimit(configuration, clock: clock)
        let batcher = MicroBatcher(
            upstream: upstream, configuration: .init(maxBatchSize: 2, maxWait: .seconds(60)), clock: clock, metricsFactory: TestMetrics(),
            limit: limit, waitBudgets: [0: .milliseconds(100)])
        // Answered within the budget: a success, the limit stays.
        let inTime = answer(batcher, 0, priority: 0)
        let unbudgeted = answer(batcher, 1, priority: 4)
        #expect(await eventually(polling: .yielding) { upstream.heldBatches == 1 })
        clock.advance(by: .milliseconds(50))
        upstream.release()
        #expect(await inTime.value == .classified)
        #expect(await unbudgeted.value == .classified)
        #expect(await eventually(polling: .yielding) { limit.snapshot.inFlight == 0 })
        #expect(limit.limit == 4)
        // Answered after the budgeted alert gave up: the other one still gets the model's
        // answer, and the limit backs off as for a timeout.
        let impatient = answer(batcher, 2, priority: 0)
        let patient = answer(batcher, 3, priority: 4)
        #expect(await eventually(polling: .yielding) { upstream.heldBatches == 1 })
        clock.advance(by: .milliseconds(100))
        #expect(await impatient.value == .budgetSpent)
        upstream.release()
        #expect(await patient.value == .classified)
        #expect(await eventually(polling: .yielding) { limit.limit == 2 })
    }

    @Test(.timeLimit(.minutes(1))) func aWaitingAlertWhoseBudgetRanOutIsNotSent() async throws {
        let clock = ManualClock()
        let upstream = RecordingHeldClassifier()
        let batcher = MicroBatcher(
            upstream: upstream, configuration: .init(maxBatchSize: 1, maxWait: .seconds(60)), clock: clock, metricsFactory: TestMetrics(),
            limit: try fixedLimit(1), waitBudgets: [0: .milliseconds(100)])
        let first = answer(batcher, 0, priority: 4)
        #expect(await eventually(polling: .yielding) { upstream.heldBatches.count == 1 })
        // The limit's one request is out: this one waits in the queue, under its budget.
        let queued = answer(batcher, 1, priority: 0)
        #expect(await eventually(polling: .yielding) { await batcher.pendingCount == 1 && clock.sleeperCount >= 1 })
        clock.advance(by: .milliseconds(100))
        #expect(await queued.value == .budgetSpent)
        #expect(await batcher.pendingCount == 0)
        upstream.release()
        #expect(await first.value == .classified)
        // Nothing was left to send.
        let sent = answer(batcher, 2, priority: 4)
        #expect(await eventually(polling: .yielding) { upstream.heldBatches.count == 1 })
        #expect(upstream.heldBatches == [["A2"]])
        upstream.release()
        #expect(await sent.value == .classified)
    }

    @Test func configurationClampsBatchSize() {
        #expect(MicroBatcher.Configuration(maxBatchSize: 0).maxBatchSize == 1)
        #expect(MicroBatcher.Configuration().maxBatchSize == 32)
    }

    // MARK: - Requests in flight

    @Test(.timeLimit(.minutes(1))) func aBatchDueWhileTheRequestsAreAtTheirBoundKeepsFillingAndGoesWhenOneEnds() async throws {
        let upstream = RecordingHeldClassifier()
        let batcher = MicroBatcher(
            upstream: upstream, configuration: .init(maxBatchSize: 4, maxWait: .zero, maxConcurrentRequests: 1), clock: ManualClock(),
            metricsFactory: TestMetrics())
        let first = answer(batcher, 0, priority: 0)
        #expect(await eventually(polling: .yielding) { upstream.heldBatches.count == 1 })
        // Due at once (maxWait is zero), but the one request allowed is out: they gather.
        let waiting = (1...3).map { answer(batcher, $0, priority: 0) }
        #expect(await eventually(polling: .yielding) { await batcher.pendingCount == 3 })
        #expect(upstream.heldBatches == [["A0"]])
        upstream.release()
        #expect(await first.value == .classified)
        #expect(await eventually(polling: .yielding) { upstream.heldBatches == [["A1", "A2", "A3"]] })
        upstream.release()
        for task in waiting { #expect(await task.value == .classified) }
    }

    @Test(.timeLimit(.minutes(1))) func alertsWaitingForARequestToEndGoInFullBatchesOneRequestAtATime() async throws {
        let upstream = RecordingHeldClassifier()
        let batcher = MicroBatcher(
            upstream: upstream, configuration: .init(maxBatchSize: 2, maxWait: .seconds(60), maxConcurrentRequests: 1), clock: ManualClock(),
            metricsFactory: TestMetrics())
        let tasks = (0..<7).map { index in answer(batcher, index, priority: 0) }
        #expect(await eventually(polling: .yielding) {
            let pending = await batcher.pendingCount
            return upstream.heldBatches.count == 1 && pending == 5
        })
        var sent: [[String]] = []
        for expectedPending in [3, 1, 0] {
            sent += upstream.heldBatches
            upstream.release()
            #expect(await eventually(polling: .yielding) {
                let pending = await batcher.pendingCount
                return upstream.heldBatches.count == 1 && pending == expectedPending
            })
        }
        sent += upstream.heldBatches
        upstream.release()
        for task in tasks { #expect(await task.value == .classified) }
        // Never more than one request out; each full but the last, the rest of those that
        // gathered meanwhile, sent as the one before ended, though its timer never fired.
        #expect(sent.map(\.count) == [2, 2, 2, 1])
        #expect(Set(sent.joined()) == Set((0..<7).map { "A\($0)" }))
    }

    @Test func configurationClampsConcurrentRequests() {
        #expect(MicroBatcher.Configuration(maxConcurrentRequests: 0).maxConcurrentRequests == 1)
        #expect(MicroBatcher.Configuration().maxConcurrentRequests == 8)
    }

    // MARK: - Concurrency limit

    /// A limiter of exactly `requests` upstream requests, with `reserved` shares.
    private func fixedLimit(_ requests: Int, reserved: [Int: Double] = [:]) throws -> ConcurrencyLimit {
        var configuration = ConcurrencyLimit.Configuration()
        configuration.initialLimit = requests
        configuration.minLimit = requests
        configuration.maxLimit = requests
        configuration.reservedShares = reserved
        return try ConcurrencyLimit(configuration, clock: ManualClock())
    }

    /// How a prioritized classify call ended (`budgetSpent`: a 100 ms wait budget).
    private enum Answer: Equatable { case classified, limited, budgetSpent, failed }

    private func answer(_ batcher: MicroBatcher, _ index: Int, priority: Int) -> Task<Answer, Never> {
        Task {
            do {
                _ = try await batcher.classify(alert(index), priority: priority)
                return .classified
            } catch let refused as AdmissionRefused where refused.reason == .limited {
                return .limited
            } catch let spent as WaitBudgetExceeded where spent.after == .milliseconds(100) {
                return .budgetSpent
            } catch {
                return .failed
            }
        }
    }

    @Test(.timeLimit(.minutes(1))) func aBatchDueAtTheLimitWaitsForARequestToEndAndKeepsFilling() async throws {
        let upstream = HeldClassifier()
        let batcher = MicroBatcher(
            upstream: upstream, configuration: .init(maxBatchSize: 4, maxWait: .zero), clock: ManualClock(), metricsFactory: TestMetrics(),
            limit: try fixedLimit(1))
        let first = answer(batcher, 0, priority: 0)
        #expect(await eventually(polling: .yielding) { upstream.heldBatches == 1 })
        // The limit's one request is out: these wait, together, whatever maxWait says.
        let waiting = (1...3).map { answer(batcher, $0, priority: 0) }
        #expect(await eventually(polling: .yielding) { await batcher.pendingCount == 3 })
        #expect(upstream.heldBatches == 1)
        upstream.release()
        #expect(await first.value == .classified)
        #expect(await eventually(polling: .yielding) {
            let pending = await batcher.pendingCount
            return upstream.heldBatches == 1 && pending == 0
        })
        upstream.release()
        for task in waiting { #expect(await task.value == .classified) }
    }

    @Test(.timeLimit(.minutes(1))) func aFullQueueTurnsAwayTheLowestPriorityFirst() async throws {
        let upstream = HeldClassifier()
        let metrics = TestMetrics()
        let batcher = MicroBatcher(
            upstream: upstream, configuration: .init(maxBatchSize: 2, maxWait: .seconds(60)), clock: ManualClock(), metricsFactory: metrics,
            limit: try fixedLimit(1))
        let sent = [answer(batcher, 0, priority: 0), answer(batcher, 1, priority: 0)]
        #expect(await eventually(polling: .yielding) { upstream.heldBatches == 1 })
        // One round of requests is 1 × 2 alerts: the queue holds two.
        let older = answer(batcher, 2, priority: 0)
        #expect(await eventually(polling: .yielding) { await batcher.pendingCount == 1 })
        let newer = answer(batcher, 3, priority: 1)
        #expect(await eventually(polling: .yielding) { await batcher.pendingCount == 2 })
        // A critical alert takes the place of the oldest of the lowest rank.
        let critical = answer(batcher, 4, priority: 4)
        #expect(await older.value == .limited)
        // An alert no more urgent than any waiting one is turned away itself.
        #expect(await answer(batcher, 5, priority: 1).value == .limited)
        upstream.release()
        for task in sent { #expect(await task.value == .classified) }
        #expect(await eventually(polling: .yielding) { upstream.heldBatches == 1 })
        upstream.release()
        #expect(await newer.value == .classified)
        #expect(await critical.value == .classified)
        #expect(metrics.counterTotal(
            label: MetricNames.adaptiveRejections, dimensions: [("breaker", "ml"), ("part", "concurrency_limit"), ("mode", "enforced")]) == 2)
    }

    @Test(.timeLimit(.minutes(1))) func batchesHeldBackGoHighestPriorityFirst() async throws {
        let upstream = RecordingHeldClassifier()
        let batcher = MicroBatcher(
            upstream: upstream, configuration: .init(maxBatchSize: 2, maxWait: .seconds(60)), clock: ManualClock(), metricsFactory: TestMetrics(),
            limit: try fixedLimit(2))
        let first = (0..<4).map { answer(batcher, $0, priority: 0) }
        #expect(await eventually(polling: .yielding) { upstream.heldBatches.count == 2 })
        // Held back (both requests are out): priorities 0, 2, 1, 2 in arrival order.
        let waiting = [(4, 0), (5, 2), (6, 1), (7, 2)].map { answer(batcher, $0.0, priority: $0.1) }
        #expect(await eventually(polling: .yielding) { await batcher.pendingCount == 4 })
        upstream.release()
        #expect(await eventually(polling: .yielding) { upstream.heldBatches.count == 2 })
        #expect(upstream.heldBatches == [["A5", "A7"], ["A4", "A6"]])
        upstream.release()
        for task in first + waiting { #expect(await task.value == .classified) }
    }

    @Test(.timeLimit(.minutes(1))) func aFailedRequestGivesBackItsPermitAndShrinksTheLimitOnATimeout() async throws {
        var configuration = ConcurrencyLimit.Configuration()
        configuration.initialLimit = 10
        configuration.minLimit = 1
        let limit = try ConcurrencyLimit(configuration, clock: ManualClock())
        let batcher = MicroBatcher(
            // Room for more requests than the limit allows: the limit is what holds them back.
            upstream: TimingOutClassifier(), configuration: .init(maxBatchSize: 1, maxWait: .seconds(60), maxConcurrentRequests: 20), clock: ManualClock(),
            metricsFactory: TestMetrics(), limit: limit)
        // Every request fails: each caller gets the error, none is stranded behind a permit
        // that was never given back.
        let tasks = (0..<20).map { answer(batcher, $0, priority: 0) }
        for task in tasks { #expect(await task.value == .failed) }
        #expect(limit.snapshot.inFlight == 0)
        #expect(await batcher.pendingCount == 0)
        #expect(limit.limit < 10, "a timed-out request is a drop")
    }

    @Test(.timeLimit(.minutes(1))) func sharesReservedForHigherPrioritiesKeepRoomInTheQueue() async throws {
        let upstream = HeldClassifier()
        let clock = ManualClock()
        let batcher = MicroBatcher(
            upstream: upstream, configuration: .init(maxBatchSize: 4, maxWait: .milliseconds(5)), clock: clock, metricsFactory: TestMetrics(),
            limit: try fixedLimit(1, reserved: [3: 0.5]))
        let sent = (0..<4).map { answer(batcher, $0, priority: 3) }
        #expect(await eventually(polling: .yielding) { upstream.heldBatches == 1 })
        // Three more are due after maxWait, while the limit's one request is out: they wait.
        let waiting = (4..<7).map { answer(batcher, $0, priority: 3) }
        // Two timers sleep: the first batch's, stale since it filled up, and this one's.
        #expect(await eventually(polling: .yielding) { await batcher.pendingCount == 3 && clock.sleeperCount == 2 })
        clock.advance(by: .milliseconds(5))
        #expect(await eventually(polling: .yielding) { clock.sleeperCount == 0 })
        // Below priority 3, half of the 4 places are reserved: the queue of 3 is full.
        #expect(await answer(batcher, 7, priority: 2).value == .limited)
        // Priority 3 may use all 4.
        let reserved = answer(batcher, 8, priority: 3)
        #expect(await eventually(polling: .yielding) { await batcher.pendingCount == 4 })
        upstream.release()
        for task in sent { #expect(await task.value == .classified) }
        #expect(await eventually(polling: .yielding) { upstream.heldBatches == 1 })
        upstream.release()
        for task in waiting + [reserved] { #expect(await task.value == .classified) }
    }
}
