import Foundation
import Logging
import PostgresNIO
import Triage

/// The dedup store in PostgreSQL (table `alert_dedup`): counts alert fingerprints with
/// one atomic `INSERT … ON CONFLICT … RETURNING` per occurrence, so concurrent workers
/// recording the same fingerprint never lose a count.
public struct PostgresDedupStore: DedupStore, Sendable {
    /// The pool this store writes to.
    public let pool: PostgresPool

    static let migrations = [
        Migration(name: "0002_alert_dedup", statements: [
            """
            CREATE TABLE IF NOT EXISTS alert_dedup (
                fingerprint text PRIMARY KEY,
                first_seen timestamptz NOT NULL,
                last_seen timestamptz NOT NULL,
                occurrences bigint NOT NULL CHECK (occurrences >= 1)
            )
            """,
        ]),
    ]

    /// Creates a store over `pool` (does not touch the database).
    public init(pool: PostgresPool) {
        self.pool = pool
    }

    /// Creates the `alert_dedup` table when missing. Idempotent, safe concurrently.
    /// - Returns: names of the migrations this call applied.
    /// - Throws: ``PostgresStoreError``.
    @discardableResult
    public func migrate() async throws -> [String] {
        try await Migrations.apply(Self.migrations, on: pool, operation: "dedup migration")
    }

    /// Records one occurrence; see ``DedupStore/record(fingerprint:seenAt:)``.
    /// Timestamps are stored with microsecond precision.
    /// - Throws: ``PostgresStoreError``. After a `timedOut` or `connectionLost` error the
    ///   occurrence may or may not have been counted.
    public func record(fingerprint: String, seenAt: Date) async throws -> DedupRecord {
        try await pool.withConnection("dedup record") { connection in
            let rows = try await connection.query("""
                INSERT INTO alert_dedup AS d (fingerprint, first_seen, last_seen, occurrences)
                VALUES (\(fingerprint), \(seenAt), \(seenAt), 1)
                ON CONFLICT (fingerprint) DO UPDATE SET
                    first_seen = LEAST(d.first_seen, EXCLUDED.first_seen),
                    last_seen = GREATEST(d.last_seen, EXCLUDED.last_seen),
                    occurrences = d.occurrences + 1
                RETURNING fingerprint, first_seen, last_seen, occurrences
                """, logger: Self.logger)
            guard let record = try await Self.firstRecord(rows) else {
                throw DedupDataError(problem: "the upsert of `\(fingerprint)` returned no row")
            }
            return record
        }
    }

    /// Reads the record; see ``DedupStore/lookup(fingerprint:)``.
    /// - Throws: ``PostgresStoreError``.
    public func lookup(fingerprint: String) async throws -> DedupRecord? {
        try await pool.withConnection("dedup lookup") { connection in
            let rows = try await connection.query("""
                SELECT fingerprint, first_seen, last_seen, occurrences FROM alert_dedup WHERE fingerprint = \(fingerprint)
                """, logger: Self.logger)
            return try await Self.firstRecord(rows)
        }
    }

    private static func firstRecord(_ rows: PostgresRowSequence) async throws -> DedupRecord? {
        for try await (fingerprint, first, last, occurrences) in rows.decode((String, Date, Date, Int64).self) {
            guard let count = Int(exactly: occurrences) else {
                throw DedupDataError(problem: "occurrences \(occurrences) of `\(fingerprint)` out of range")
            }
            return DedupRecord(fingerprint: fingerprint, firstSeen: first, lastSeen: last, occurrences: count)
        }
        return nil
    }

    static let logger = Logger(label: "breakwater.postgres.dedup")
}
