import Foundation
import Logging
import PostgresNIO
import Triage

/// The service catalog in PostgreSQL (table `services`), one step of the enrichment
/// fallback chain: the primary source, or (on a read replica's pool) the secondary.
///
/// Answers only for itself: a failure is thrown as ``PostgresStoreError``, never hidden
/// behind a fallback, so a breaker sees it.
public struct PostgresCatalog: ServiceCatalog, Sendable {
    /// The pool this catalog queries.
    public let pool: PostgresPool

    /// The migrations of the `services` table.
    static let migrations = [
        Migration(name: "0001_services", statements: [
            """
            CREATE TABLE IF NOT EXISTS services (
                name text PRIMARY KEY,
                owner_team text NOT NULL,
                tier integer CHECK (tier IS NULL OR tier >= 1),
                runbook_url text,
                on_call text,
                chat_channel text,
                tags text[] NOT NULL DEFAULT '{}',
                updated_at timestamptz NOT NULL DEFAULT now()
            )
            """,
        ]),
    ]

    /// Creates a catalog over `pool` (does not touch the database).
    public init(pool: PostgresPool) {
        self.pool = pool
    }

    /// Creates the `services` table when missing. Idempotent and safe to run from several
    /// processes at once. Call it at start on the primary; a read replica needs none.
    /// - Returns: names of the migrations this call applied (empty when up to date).
    /// - Throws: ``PostgresStoreError``.
    @discardableResult
    public func migrate() async throws -> [String] {
        try await Migrations.apply(Self.migrations, on: pool, operation: "catalog migration")
    }

    /// Looks up `service` by exact name.
    /// - Returns: the entry, or `nil` when the table has no such row.
    /// - Throws: ``PostgresStoreError`` (unreachable, timed out, …); a missing table is a
    ///   `server` error with SQLSTATE 42P01.
    public func lookup(service: String) async throws -> ServiceInfo? {
        try await pool.withConnection("catalog lookup") { connection in
            let rows = try await connection.query("""
                SELECT name, owner_team, tier, runbook_url, on_call, chat_channel, tags
                FROM services WHERE name = \(service)
                """, logger: Self.logger)
            for try await (name, owner, tier, runbook, onCall, chat, tags)
                in rows.decode((String, String, Int32?, String?, String?, String?, [String]).self) {
                return ServiceInfo(
                    name: name, ownerTeam: owner, tier: tier.map(Int.init), runbookURL: runbook,
                    onCall: onCall, chatChannel: chat, tags: tags
                )
            }
            return nil
        }
    }

    /// Inserts or replaces the entry for `service.name`.
    /// - Throws: ``PostgresStoreError``; a tier outside 1…Int32.max is a `badData` error.
    public func upsert(_ service: ServiceInfo) async throws {
        try await upsert([service])
    }

    /// Inserts or replaces several entries in one statement (all or none; for a name given
    /// twice the last entry wins).
    ///
    /// One statement, with the rows in name order, keeps the row locks short and taken in
    /// the same order by every writer: concurrent seeders (several workers starting, the
    /// demo and a worker) wait for each other for milliseconds instead of one round trip
    /// per row, and cannot deadlock.
    /// - Throws: ``PostgresStoreError``; a tier outside 1…Int32.max is a `badData` error.
    public func upsert(_ services: [ServiceInfo]) async throws {
        for service in services {
            if let tier = service.tier, tier < 1 || tier > Int(Int32.max) {
                throw PostgresStoreError(
                    kind: .badData, operation: "catalog upsert", endpoint: pool.configuration.endpoint,
                    detail: "service `\(service.name)` has tier \(tier), expected 1…\(Int32.max)"
                )
            }
        }
        let latest = Dictionary(services.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
        let rows = latest.values.sorted { $0.name < $1.name }
        guard !rows.isEmpty else { return }
        var sql = PostgresQuery.StringInterpolation(literalCapacity: 256 + 64 * rows.count, interpolationCount: 7 * rows.count)
        sql.appendLiteral("INSERT INTO services (name, owner_team, tier, runbook_url, on_call, chat_channel, tags, updated_at) VALUES ")
        for (index, service) in rows.enumerated() {
            sql.appendLiteral(index == 0 ? "(" : ", (")
            sql.appendInterpolation(service.name)
            sql.appendLiteral(", ")
            sql.appendInterpolation(service.ownerTeam)
            sql.appendLiteral(", ")
            sql.appendInterpolation(service.tier.map { Int32($0) })
            sql.appendLiteral(", ")
            sql.appendInterpolation(service.runbookURL)
            sql.appendLiteral(", ")
            sql.appendInterpolation(service.onCall)
            sql.appendLiteral(", ")
            sql.appendInterpolation(service.chatChannel)
            sql.appendLiteral(", ")
            sql.appendInterpolation(service.tags)
            sql.appendLiteral(", now())")
        }
        sql.appendLiteral("""
             ON CONFLICT (name) DO UPDATE SET
                owner_team = EXCLUDED.owner_team, tier = EXCLUDED.tier,
                runbook_url = EXCLUDED.runbook_url, on_call = EXCLUDED.on_call,
                chat_channel = EXCLUDED.chat_channel, tags = EXCLUDED.tags, updated_at = now()
            """)
        let query = PostgresQuery(stringInterpolation: sql)
        try await pool.withConnection("catalog upsert") { connection in
            _ = try await connection.query(query, logger: Self.logger)
        }
    }

    /// Seeds the table from a static catalog: migrates, then upserts every entry.
    /// Independent of the `breakwater` executable; the demo calls it at set-up.
    /// - Returns: how many entries were written.
    /// - Throws: ``PostgresStoreError``.
    @discardableResult
    public func seed(from catalog: StaticCatalog) async throws -> Int {
        try await migrate()
        try await upsert(catalog.services)
        return catalog.services.count
    }

    /// Seeds the table from a catalog YAML file (e.g. `deploy/catalog.yaml`).
    /// - Throws: ``CatalogFileError`` for an invalid file (nothing is written then),
    ///   ``PostgresStoreError`` for database failures.
    @discardableResult
    public func seed(fromYAMLAt url: URL) async throws -> Int {
        try await seed(from: StaticCatalog(contentsOf: url))
    }

    static let logger = Logger(label: "breakwater.postgres.catalog")
}
