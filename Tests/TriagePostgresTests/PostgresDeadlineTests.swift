import Foundation
import PostgresNIO
import ServiceTestSupport
import Testing
@testable import TriagePostgres

/// A clock under test control: a sleep of about `firing` returns at once, every other
/// sleep lasts until cancelled. Makes "the operation deadline passed" exact.
struct FiringClock: Clock {
    typealias Instant = ContinuousClock.Instant
    let firing: Duration
    var now: Instant { ContinuousClock.now }
    var minimumResolution: Duration { .nanoseconds(1) }

    func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        let remaining = now.duration(to: deadline)
        if remaining <= firing && remaining > firing - .seconds(1) { return }
        while true { try await Task.sleep(for: .seconds(3600)) }
    }
}

@Suite(.enabled(if: ExternalService.postgres.shouldRun), .timeLimit(.minutes(3)))
struct PostgresDeadlineTests {
    @Test func deadlineWhileTheDatabaseAnswersIsTimedOutAndEndsTheStatement() async throws {
        var configuration = try PostgresConfiguration(url: try ExternalService.postgres.require())
        configuration.operationTimeout = .seconds(10)
        configuration.connectTimeout = .seconds(2)
        configuration.statementTimeout = .seconds(60)
        let pool = try PostgresPool(configuration: configuration, clock: FiringClock(firing: .seconds(10)))
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await pool.run() }
            defer { group.cancelAll() }
            // The deadline fires at once; the 30 s statement is cut off by closing its
            // connection, and the probe (which can connect) classifies it as a timeout.
            await #expect {
                try await pool.withConnection("slow report") { connection in
                    let rows = try await connection.query("SELECT pg_sleep(30)", logger: Logger(label: "test"))
                    for try await _ in rows {}
                }
            } throws: { error in
                guard let error = error as? PostgresStoreError else { return false }
                return error.kind == .timedOut && error.operation == "slow report"
                    && error.detail == "no result within 10000 ms"
            }
        }
        // No backend still runs the cut-off statement. The server notices the closed
        // client at its next check; bounded polling allows for that (no timing asserted).
        let remaining = try await withPool { checker in
            var remaining = try await Self.activeSleeps(checker)
            var polls = 0
            while remaining > 0 && polls < 100 {
                polls += 1
                try await Task.sleep(for: .milliseconds(100))
                remaining = try await Self.activeSleeps(checker)
            }
            return remaining
        }
        #expect(remaining == 0)
    }

    static func activeSleeps(_ pool: PostgresPool) async throws -> Int64 {
        try await scalar(
            pool, "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' AND state = 'active'", as: Int64.self
        ) ?? -1
    }
}
