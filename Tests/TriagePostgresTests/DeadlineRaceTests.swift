import Locking
import Synchronization
import Testing
@testable import TriagePostgres

/// Work that ignores cancellation until the test lets it go, like a lease request that
/// missed its cancellation inside the driver.
private final class StuckWork: Sendable {
    private let waiter = LockedValue<CheckedContinuation<Void, Never>?>(nil)
    private let started = Atomic<Bool>(false)

    var hasStarted: Bool { started.load(ordering: .acquiring) }

    func run() async -> Int {
        await withCheckedContinuation { continuation in
            waiter.withLock { $0 = continuation }
            started.store(true, ordering: .releasing)
        }
        return 42
    }

    func release() {
        while !hasStarted {}
        waiter.withLock { $0 }?.resume()
    }
}

/// The operation deadline of ``PostgresPool``, without a database.
@Suite struct DeadlineRaceTests {
    @Test func aDeadlineEndsTheRaceEvenWhenTheWorkIgnoresCancellation() async throws {
        let work = StuckWork()
        let outcome = try await PostgresPool.race({ await work.run() }, deadline: {
            while !work.hasStarted { await Task.yield() }
        })
        guard case .deadline = outcome else {
            Issue.record("expected the deadline, got \(outcome)")
            return
        }
        work.release()
    }

    @Test func workThatFinishesFirstWinsAndItsErrorIsThrown() async throws {
        let outcome = try await PostgresPool.race({ 7 }, deadline: { try await Task.sleep(for: .seconds(3600)) })
        guard case .finished(let value) = outcome else {
            Issue.record("expected the work's value, got \(outcome)")
            return
        }
        #expect(value == 7)

        struct Broken: Error {}
        await #expect(throws: Broken.self) {
            _ = try await PostgresPool.race({ () throws -> Int in throw Broken() }, deadline: { try await Task.sleep(for: .seconds(3600)) })
        }
    }

    @Test func cancellingTheCallerEndsTheRaceAtOnce() async {
        let work = StuckWork()
        let caller = Task {
            try await PostgresPool.race({ await work.run() }, deadline: { try await Task.sleep(for: .seconds(3600)) })
        }
        while !work.hasStarted { await Task.yield() }
        caller.cancel()
        await #expect(throws: CancellationError.self) { _ = try await caller.value }
        work.release()
    }
}
