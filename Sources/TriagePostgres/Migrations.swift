import PostgresNIO

/// One named, append-only schema change. Applied at most once per database, recorded
/// in `breakwater_migrations`.
struct Migration: Sendable {
    let name: String
    let statements: [PostgresQuery]
}

enum Migrations {
    /// Serializes concurrent migrators (several workers starting at once) on one advisory lock.
    private static let advisoryLockKey: Int64 = 0x6272_6B77_7472  // "brkwtr"

    /// Applies the migrations not applied yet, in order, in one transaction under an
    /// advisory lock; already applied ones are skipped, so calling this again is harmless.
    /// - Returns: the names of the migrations applied by this call.
    static func apply(_ migrations: [Migration], on pool: PostgresPool, operation: String) async throws -> [String] {
        try await pool.withConnection(operation) { connection in
            let logger = Logger(label: "breakwater.postgres.migrations")
            // Fast path, no lock: every worker start after the first finds nothing to do,
            // and must not queue behind a migrator that holds the lock.
            let recorded = try await recordedMigrations(connection, logger: logger)
            if migrations.allSatisfy({ recorded.contains($0.name) }) { return [] }
            return try await connection.withTransaction(logger: logger) { connection in
                // Waiting for another migrator's lock is expected (workers start together):
                // lift the per-connection statement timeout for this transaction only, so
                // the wait does not abort the migration.
                try await connection.query("SET LOCAL statement_timeout = 0", logger: logger)
                let locked = try await connection.query("SELECT pg_advisory_xact_lock(\(advisoryLockKey))", logger: logger)
                for try await _ in locked {}
                try await connection.query("""
                    CREATE TABLE IF NOT EXISTS breakwater_migrations (
                        name text PRIMARY KEY,
                        applied_at timestamptz NOT NULL DEFAULT now()
                    )
                    """, logger: logger)
                var applied: [String] = []
                for migration in migrations {
                    let rows = try await connection.query(
                        "SELECT 1 FROM breakwater_migrations WHERE name = \(migration.name)", logger: logger
                    )
                    var alreadyApplied = false
                    for try await _ in rows { alreadyApplied = true }
                    if alreadyApplied { continue }
                    for statement in migration.statements {
                        try await connection.query(statement, logger: logger)
                    }
                    try await connection.query("INSERT INTO breakwater_migrations (name) VALUES (\(migration.name))", logger: logger)
                    applied.append(migration.name)
                }
                return applied
            }
        }
    }

    /// The names recorded in `breakwater_migrations`; empty when the table does not exist yet.
    private static func recordedMigrations(_ connection: PostgresConnection, logger: Logger) async throws -> Set<String> {
        var exists = false
        for try await (present) in try await connection.query(
            "SELECT to_regclass('breakwater_migrations') IS NOT NULL", logger: logger
        ).decode(Bool.self) {
            exists = present
        }
        guard exists else { return [] }
        var names: Set<String> = []
        for try await (name) in try await connection.query("SELECT name FROM breakwater_migrations", logger: logger)
            .decode(String.self) {
            names.insert(name)
        }
        return names
    }
}
