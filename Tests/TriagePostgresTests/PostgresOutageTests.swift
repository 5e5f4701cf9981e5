import Foundation
import ServiceTestSupport
import Testing
import Triage
@testable import TriagePostgres
import TriageTestSupport

/// PostgreSQL made unreachable (and reachable again) through a TCPFaultProxy, without
/// touching the real server.
@Suite(.enabled(if: ExternalService.postgres.shouldRun), .timeLimit(.minutes(3)))
struct PostgresOutageTests {
    /// Runs `body` with a pool that connects through a proxy in front of the test server.
    /// The schema is migrated first over a direct pool (migrations of parallel tests
    /// serialize on a lock, which the proxied pool's short deadline is not meant for).
    func withProxiedPool(_ body: @Sendable (PostgresPool, TCPFaultProxy) async throws -> Void) async throws {
        try await withPool { pool in
            try await PostgresCatalog(pool: pool).migrate()
            try await PostgresDedupStore(pool: pool).migrate()
        }
        let real = try PostgresConfiguration(url: try ExternalService.postgres.require())
        let proxy = try await TCPFaultProxy.start(forwardingTo: real.host, port: real.port)
        do {
            try await withPool({
                $0.host = proxy.host
                $0.port = proxy.port
                $0.operationTimeout = .seconds(3)
                $0.connectTimeout = .seconds(1)
            }) { pool in
                try await body(pool, proxy)
            }
        } catch {
            await proxy.stop()
            throw error
        }
        await proxy.stop()
    }

    /// The kinds an outage shows as: no connection possible, or one that just broke.
    static func isOutage(_ error: PostgresStoreError) -> Bool {
        error.kind == .unreachable || error.kind == .connectionLost
    }

    /// Retries `operation` until it succeeds (the pool reconnects with its own backoff);
    /// bounded, so a broken recovery fails instead of hanging. The bound is about what
    /// 30 attempts at the proxied pool's 3 s operation timeout took at most.
    func eventually<T>(_ operation: () async throws -> T) async throws -> T {
        try await eventuallySucceeding(within: .seconds(90), operation)
    }

    @Test func cutGivesAClearUnreachableErrorAndRestoreRecovers() async throws {
        try await withProxiedPool { pool, proxy in
            let catalog = PostgresCatalog(pool: pool)
            let store = PostgresDedupStore(pool: pool)
            let name = uniqueName("orders")
            let entry = ServiceInfo(name: name, ownerTeam: "commerce", tier: 1)
            try await eventually { try await catalog.upsert(entry) }  // set-up: retried, not under test
            #expect(try await catalog.lookup(service: name) == entry)

            await proxy.cut()
            // The first operation may still lease the pooled connection the cut just closed
            // (the pool learns of the close asynchronously): that is `connectionLost`.
            await #expect {
                try await catalog.lookup(service: name)
            } throws: { error in
                guard let error = error as? PostgresStoreError else { return false }
                return Self.isOutage(error) && error.operation == "catalog lookup"
                    && error.endpoint == "127.0.0.1:\(proxy.port)/\(pool.configuration.database)"
                    && !error.description.contains("Generic description")
            }
            await #expect {
                try await store.record(fingerprint: name, seenAt: Date())
            } throws: { error in
                (error as? PostgresStoreError).map(Self.isOutage) ?? false
            }
            #expect(proxy.statistics.refused >= 1)

            await proxy.restore()
            #expect(try await eventually { try await catalog.lookup(service: name) } == entry)
            #expect(try await store.record(fingerprint: name, seenAt: Date()).occurrences == 1)
        }
    }

    @Test func partitionTimesOutAsUnreachableAndRecovers() async throws {
        try await withProxiedPool { pool, proxy in
            let catalog = PostgresCatalog(pool: pool)
            let name = uniqueName("cart")
            try await eventually { try await catalog.upsert(ServiceInfo(name: name, ownerTeam: "commerce")) }

            // Packets silently dropped: the query on the existing connection cannot finish,
            // the deadline closes that connection, and a fresh connection cannot start up.
            await proxy.partition()
            await #expect {
                try await catalog.lookup(service: name)
            } throws: { error in
                guard let error = error as? PostgresStoreError else { return false }
                // The probe connection either hits postgres-nio's connect timeout (which
                // covers the TLS negotiation) or our own startup bound: both say unreachable.
                return error.kind == .unreachable && error.detail.hasPrefix("no result within 3000 ms;")
            }

            await proxy.restore()
            #expect(try await eventually { try await catalog.lookup(service: name) }?.ownerTeam == "commerce")
        }
    }

    /// Slow by nature (about 70 s): the pool trips its own connection breaker only after
    /// a minute of failed attempts, and that cannot be shortened through PostgresClient.
    @Test(.timeLimit(.minutes(3)))
    func longOutageDoesNotDelayRecoveryByThePoolBackoff() async throws {
        try await withProxiedPool { pool, proxy in
            let catalog = PostgresCatalog(pool: pool)
            let name = uniqueName("ledger")
            try await eventually { try await catalog.upsert(ServiceInfo(name: name, ownerTeam: "finance-eng")) }

            await proxy.cut()
            // Keep the outage visible to the pool until it trips its breaker (after about a
            // minute of failed attempts) and operations go to a dedicated connection. A
            // round takes a little over 1 s: refused connections fail operations at once.
            var rounds = 0
            while pool.dedicatedConnectionFallbacks == 0 {
                rounds += 1
                try #require(rounds <= 120, "the pool never tripped its connection breaker")
                await #expect {
                    try await catalog.lookup(service: name)
                } throws: { error in
                    (error as? PostgresStoreError).map(Self.isOutage) ?? false
                }
                try await Task.sleep(for: .seconds(1))
            }
            // Still down: the dedicated attempt fails as unreachable, with the cause.
            await #expect {
                try await catalog.lookup(service: name)
            } throws: { error in
                guard let error = error as? PostgresStoreError else { return false }
                return error.kind == .unreachable && error.detail.contains("connecting fails")
            }

            await proxy.restore()
            // The first operation after the database returns succeeds, although the pool
            // itself is still waiting out its backoff.
            #expect(try await catalog.lookup(service: name)?.ownerTeam == "finance-eng")
        }
    }
}
