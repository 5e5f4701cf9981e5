import Locking
import Resilience
import ServiceTestSupport
import Synchronization
import Testing
import Triage
@testable import TriagePostgres

/// A connection attempt the test answers by hand, counting how often it was made.
private final class ScriptedAttempt: Sendable {
    private let pending = LockedValue<[CheckedContinuation<ConnectProbe.Verdict, Never>]>([])
    private let made = Atomic<Int>(0)

    var attempts: Int { made.load(ordering: .acquiring) }

    func run() async -> ConnectProbe.Verdict {
        await withCheckedContinuation { continuation in
            pending.withLock { $0.append(continuation) }
            made.add(1, ordering: .releasing)
        }
    }

    /// Answers every attempt waiting now, after waiting for at least `count` to have started.
    func answer(_ verdict: ConnectProbe.Verdict, afterAttempts count: Int = 1) async {
        while attempts < count { await Task.yield() }
        for continuation in pending.withLock({ pending in defer { pending = [] }; return pending }) {
            continuation.resume(returning: verdict)
        }
    }
}

private struct Refused: Error, Equatable {}

/// ``ConnectProbe`` without a database.
@Suite struct ConnectProbeTests {
    fileprivate let attempt = ScriptedAttempt()

    func makeProbe() -> ConnectProbe {
        let attempt = self.attempt
        return ConnectProbe { await attempt.run() }
    }

    @Test func operationsArrivingTogetherShareAtMostTwoAttemptsAndTheirRefusal() async {
        let probe = makeProbe()
        // Every attempt is refused; the ones arriving while the first ran take the next
        // one, together.
        let attempt = self.attempt
        let refusing = Task {
            while !Task.isCancelled {
                await attempt.answer(.refused(Refused()), afterAttempts: 0)
                await Task.yield()
            }
        }
        async let first = probe.refusal()
        async let second = probe.refusal()
        async let third = probe.refusal()
        let errors = await [first, second, third]
        refusing.cancel()
        #expect(errors.allSatisfy { $0 is Refused })
        #expect(attempt.attempts <= 2)
    }

    @Test func anAttemptThatStartedBeforeAnOperationArrivedDoesNotAnswerIt() async {
        let probe = makeProbe()
        async let early = probe.refusal()
        while attempt.attempts < 1 { await Task.yield() }
        async let late = probe.refusal()
        while probe.waitingOperations < 2 { await Task.yield() }
        // The database comes back between the two: the first attempt's refusal is old news
        // for the late operation, which waits for an attempt of its own.
        await attempt.answer(.refused(Refused()))
        #expect(await early is Refused)
        await attempt.answer(.reachable, afterAttempts: 2)
        #expect(await late == nil)
        #expect(attempt.attempts == 2)
    }

    @Test func aFinishedAttemptIsNotReusedSoADatabaseThatCameBackIsFoundAtOnce() async {
        let probe = makeProbe()
        async let first = probe.refusal()
        await attempt.answer(.refused(Refused()))
        #expect(await first is Refused)

        async let again = probe.refusal()
        await attempt.answer(.reachable, afterAttempts: 2)
        #expect(await again == nil)
        #expect(attempt.attempts == 2)
        #expect(probe.isProven)
    }

    @Test func aReachableDatabaseIsNotProbedUntilAnOperationLosesContact() async {
        let probe = makeProbe()
        #expect(!probe.isProven)
        async let first = probe.refusal()
        await attempt.answer(.reachable)
        #expect(await first == nil)
        #expect(probe.isProven)
        #expect(await probe.refusal() == nil)
        #expect(attempt.attempts == 1)

        probe.lostContact()
        #expect(!probe.isProven)
        async let next = probe.refusal()
        await attempt.answer(.refused(Refused()), afterAttempts: 2)
        #expect(await next is Refused)
    }

    @Test func anAttemptWithoutAnswerFailsNothingAndProvesNothing() async {
        let probe = makeProbe()
        async let first = probe.refusal()
        await attempt.answer(.noAnswer)
        #expect(await first == nil)
        #expect(!probe.isProven)
    }

    @Test func anOperationThatSucceedsMeanwhileIsNotUndoneByALateRefusal() async {
        let probe = makeProbe()
        async let waiting = probe.refusal()
        while attempt.attempts < 1 { await Task.yield() }
        probe.succeeded()
        await attempt.answer(.refused(Refused()))
        // The waiter hears the attempt it waited for; the state keeps the newer proof.
        #expect(await waiting is Refused)
        #expect(probe.isProven)
    }

    @Test func aRefusalEndsTheDeadlineRaceWhileTheWorkWaits() async throws {
        let work = FirstOffer<Int>()
        await #expect(throws: Refused.self) {
            _ = try await PostgresPool.race({ await work.value() }, deadline: { try await Task.sleep(for: .seconds(3600)) }, refusal: { Refused() })
        }
        work.offer(0)
    }
}

/// A pool whose database refuses connections fails its operations at once as unreachable:
/// its clock never advances, so the operation deadline cannot be what ends them.
@Suite(.timeLimit(.minutes(1)))
struct PoolRefusedConnectionTests {
    @Test func operationsFailWithTheCauseWithoutWaitingForTheDeadline() async throws {
        let proxy = try await TCPFaultProxy.start(forwardingTo: "127.0.0.1", port: 9)
        await proxy.cut()
        let configuration = PostgresConfiguration(
            host: proxy.host, port: proxy.port, username: "breakwater", password: "never-sent", database: "breakwater",
            connectTimeout: .seconds(1), operationTimeout: .seconds(5))
        let pool = try PostgresPool(configuration: configuration, clock: ManualClock())
        let running = Task { await pool.run() }
        let catalog = PostgresCatalog(pool: pool)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<20 {
                group.addTask {
                    await #expect {
                        _ = try await catalog.lookup(service: "svc-\(index)")
                    } throws: { error in
                        guard let error = error as? PostgresStoreError else { return false }
                        return error.kind == .unreachable && error.operation == "catalog lookup"
                            && error.detail.hasPrefix("not waiting for the pool; connecting fails:")
                            && !error.description.contains("never-sent")
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(proxy.statistics.refused >= 1)
        running.cancel()
        await running.value
        await proxy.stop()
    }
}
