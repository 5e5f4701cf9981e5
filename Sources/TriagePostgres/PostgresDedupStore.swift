import Foundation
import Logging
import Metrics
import PostgresNIO
import Triage

/// The dedup store in PostgreSQL (table `alert_dedup`): counts alert fingerprints with
/// atomic `INSERT … ON CONFLICT … RETURNING` statements, so concurrent workers recording
/// the same fingerprint never lose a count.
///
/// Occurrences recorded while a statement of this store runs wait and go together in the
/// next one (at most ``maxBatch``): under load one round trip serves many alerts. Each
/// caller still gets its own count; see ``record(fingerprint:seenAt:)``.
public struct PostgresDedupStore: DedupStore, Sendable {
    /// The pool this store writes to.
    public let pool: PostgresPool
    /// The most occurrences one statement writes. Default 256.
    public var maxBatch: Int { batcher.maxBatch }
    private let batcher: DedupBatcher

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

    /// Creates a store over `pool` (does not touch the database); one statement writes
    /// at most `maxBatch` occurrences (values below 1 become 1), each statement's count
    /// recorded in `breakwater_dedup_batch_size` through `metricsFactory` (default the
    /// bootstrapped `MetricsSystem`). With `preparedStatements` (the default) the upsert
    /// is prepared once per connection (``DedupUpsert``); without, it is sent whole each
    /// time, for poolers that do not keep a connection's prepared statements.
    public init(
        pool: PostgresPool, maxBatch: Int = 256, preparedStatements: Bool = true,
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.pool = pool
        self.batcher = DedupBatcher(maxBatch: maxBatch, metricsFactory: metricsFactory) { occurrences in
            try await Self.upsert(occurrences, pool: pool, prepared: preparedStatements)
        }
    }

    /// Creates the `alert_dedup` table when missing. Idempotent, safe concurrently.
    /// - Returns: names of the migrations this call applied.
    /// - Throws: ``PostgresStoreError``.
    @discardableResult
    public func migrate() async throws -> [String] {
        try await Migrations.apply(Self.migrations, on: pool, operation: "dedup migration")
    }

    /// Records one occurrence; see ``DedupStore/record(fingerprint:seenAt:)``.
    /// Timestamps are stored with microsecond precision. Occurrences of one fingerprint in
    /// one statement get consecutive counts in call order, and each sees the record's
    /// first and last seen after that statement.
    /// - Throws: ``PostgresStoreError``. After a `timedOut` or `connectionLost` error the
    ///   occurrence may or may not have been counted.
    public func record(fingerprint: String, seenAt: Date) async throws -> DedupRecord {
        try await batcher.record(DedupOccurrence(fingerprint: fingerprint, seenAt: seenAt))
    }

    /// One statement for `occurrences`: one row per distinct fingerprint, added at once.
    /// Rows go in fingerprint order: two workers' statements over the same fingerprints
    /// then lock them in the same order and cannot deadlock.
    /// - Returns: each occurrence's record, in order (``DedupBatchRows/records(returned:)``).
    private static func upsert(_ occurrences: [DedupOccurrence], pool: PostgresPool, prepared: Bool) async throws -> [DedupRecord] {
        let rows = DedupBatchRows(occurrences)
        let statement = DedupUpsert(rows)
        return try await pool.withConnection("dedup record") { connection in
            let returned =
                if prepared {
                    try await Self.records(in: connection.execute(statement, logger: Self.logger))
                } else {
                    try await Self.records(in: connection.query(statement.unprepared, logger: Self.logger).decode(DedupUpsert.Row.self))
                }
            return try rows.records(returned: returned)
        }
    }

    /// The upsert's returned rows as records, by fingerprint.
    private static func records(in rows: some AsyncSequence<DedupUpsert.Row, any Error>) async throws -> [String: DedupRecord] {
        var records: [String: DedupRecord] = [:]
        for try await (fingerprint, first, last, occurrences) in rows {
            records[fingerprint] = try record(fingerprint, first, last, occurrences)
        }
        return records
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
            return try record(fingerprint, first, last, occurrences)
        }
        return nil
    }

    private static func record(_ fingerprint: String, _ first: Date, _ last: Date, _ occurrences: Int64) throws -> DedupRecord {
        guard let count = Int(exactly: occurrences) else {
            throw DedupDataError(problem: "occurrences \(occurrences) of `\(fingerprint)` out of range")
        }
        return DedupRecord(fingerprint: fingerprint, firstSeen: first, lastSeen: last, occurrences: count)
    }

    static let logger = Logger(label: "breakwater.postgres.dedup")
}

/// The dedup upsert as a prepared statement: each connection has PostgreSQL parse and plan
/// it once, where a plain query was parsed and planned again for every batch (the full
/// path writes one every ~20 alerts). Needs a server, or a pooler in front of it, that
/// keeps a connection's prepared statements (PgBouncer: session pooling, or 1.21+ with
/// `max_prepared_statements`).
struct DedupUpsert: PostgresPreparedStatement {
    typealias Row = (String, Date, Date, Int64)

    // Versioned: a change of the SQL must change the name, or connections that prepared
    // the old text would go on running it.
    static let name = "breakwater_dedup_upsert_1"

    static let sql = """
        INSERT INTO alert_dedup AS d (fingerprint, first_seen, last_seen, occurrences)
        SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::bigint[])
        ORDER BY 1
        ON CONFLICT (fingerprint) DO UPDATE SET
            first_seen = LEAST(d.first_seen, EXCLUDED.first_seen),
            last_seen = GREATEST(d.last_seen, EXCLUDED.last_seen),
            occurrences = d.occurrences + EXCLUDED.occurrences
        RETURNING fingerprint, first_seen, last_seen, occurrences
        """

    static let bindingDataTypes: [PostgresDataType] = [.textArray, .timestamptzArray, .timestamptzArray, .int8Array]

    let fingerprints: [String]
    let firstSeen: [Date]
    let lastSeen: [Date]
    let counts: [Int64]

    init(_ rows: DedupBatchRows) {
        (fingerprints, firstSeen, lastSeen, counts) = (rows.fingerprints, rows.firstSeen, rows.lastSeen, rows.counts)
    }

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 4)
        bindings.append(fingerprints)
        bindings.append(firstSeen)
        bindings.append(lastSeen)
        bindings.append(counts)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try row.decode(Row.self)
    }

    /// The same statement with the same bindings, sent unnamed (parsed and planned by
    /// the server each time).
    var unprepared: PostgresQuery {
        get throws {
            PostgresQuery(unsafeSQL: Self.sql, binds: try makeBindings())
        }
    }
}
