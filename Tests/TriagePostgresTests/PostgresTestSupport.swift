import Foundation
import PostgresNIO
import ServiceTestSupport
import Testing
@testable import TriagePostgres

/// Runs `body` with a running pool on the PostgreSQL that scripts/test started.
@discardableResult
func withPool<Result: Sendable>(
    _ configure: (inout PostgresConfiguration) -> Void = { _ in },
    _ body: @Sendable (PostgresPool) async throws -> Result
) async throws -> Result {
    var configuration = try PostgresConfiguration(url: try ExternalService.postgres.require())
    // Generous unless a test sets its own: set-up statements must not fail on a loaded machine.
    configuration.operationTimeout = .seconds(30)
    configure(&configuration)
    let pool = try PostgresPool(configuration: configuration)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await pool.run() }
        defer { group.cancelAll() }
        return try await body(pool)
    }
}

/// Runs one scalar query.
func scalar<T: PostgresDecodable & Sendable>(_ pool: PostgresPool, _ query: PostgresQuery, as type: T.Type) async throws -> T? {
    try await pool.withConnection("test query") { connection in
        let rows = try await connection.query(query, logger: Logger(label: "test"))
        for try await value in rows.decode(T.self) { return value }
        return nil
    }
}
