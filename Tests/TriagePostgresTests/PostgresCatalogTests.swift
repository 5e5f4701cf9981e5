import Foundation
import PostgresNIO
import ServiceTestSupport
import Testing
import Triage
@testable import TriagePostgres
import TriageTestSupport

@Suite(.enabled(if: ExternalService.postgres.shouldRun), .timeLimit(.minutes(3)))
struct PostgresCatalogTests {
    @Test func migrationIsIdempotent() async throws {
        try await withPool { pool in
            let catalog = PostgresCatalog(pool: pool)
            let dedup = PostgresDedupStore(pool: pool)
            _ = try await catalog.migrate()
            _ = try await dedup.migrate()
            // Once applied, running them again applies nothing.
            #expect(try await catalog.migrate() == [])
            #expect(try await dedup.migrate() == [])
            // Concurrent starters serialize on the advisory lock and all succeed.
            try await withThrowingTaskGroup(of: [String].self) { group in
                for _ in 0..<4 { group.addTask { try await catalog.migrate() } }
                for try await applied in group { #expect(applied == []) }
            }
            let recorded = try await scalar(
                pool, "SELECT count(*) FROM breakwater_migrations WHERE name IN ('0001_services', '0002_alert_dedup')", as: Int64.self
            )
            #expect(recorded == 2)
            let columns = try await pool.withConnection("columns") { connection in
                var names: [String: String] = [:]
                let rows = try await connection.query(
                    "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'services'",
                    logger: Logger(label: "test")
                )
                for try await (name, type) in rows.decode((String, String).self) { names[name] = type }
                return names
            }
            #expect(columns["name"] == "text")
            #expect(columns["owner_team"] == "text")
            #expect(columns["tier"] == "integer")
            #expect(columns["tags"] == "ARRAY")
            #expect(Set(columns.keys).isSuperset(of: ["runbook_url", "on_call", "chat_channel"]))
        }
    }

    @Test func roundTripAndUpdate() async throws {
        try await withPool { pool in
            let catalog = PostgresCatalog(pool: pool)
            try await catalog.migrate()
            let name = uniqueName("checkout")
            let full = ServiceInfo(
                name: name, ownerTeam: "payments", tier: 1, runbookURL: "https://runbooks.example.com/checkout",
                onCall: "payments-primary", chatChannel: "#payments-oncall", tags: ["web", "pci", "with space", "quote'd"]
            )
            try await catalog.upsert(full)
            #expect(try await catalog.lookup(service: name) == full)
            // Upsert replaces every field, including clearing optional ones.
            let sparse = ServiceInfo(name: name, ownerTeam: "commerce")
            try await catalog.upsert(sparse)
            #expect(try await catalog.lookup(service: name) == sparse)
        }
    }

    @Test func oneUpsertOfSeveralEntriesIsAllOrNothingAndTheLastOfANameWins() async throws {
        try await withPool { pool in
            let catalog = PostgresCatalog(pool: pool)
            try await catalog.migrate()
            let (first, second) = (uniqueName("svc-a"), uniqueName("svc-b"))
            try await catalog.upsert([
                ServiceInfo(name: second, ownerTeam: "old"), ServiceInfo(name: first, ownerTeam: "one", tier: 2),
                ServiceInfo(name: second, ownerTeam: "new", tags: ["x"]),
            ])
            #expect(try await catalog.lookup(service: first) == ServiceInfo(name: first, ownerTeam: "one", tier: 2))
            #expect(try await catalog.lookup(service: second) == ServiceInfo(name: second, ownerTeam: "new", tags: ["x"]))
            // A bad entry refuses the whole batch: nothing of it is written.
            let third = uniqueName("svc-c")
            await #expect(throws: PostgresStoreError.self) {
                try await catalog.upsert([ServiceInfo(name: third, ownerTeam: "t"), ServiceInfo(name: first, ownerTeam: "t", tier: 0)])
            }
            #expect(try await catalog.lookup(service: third) == nil)
            try await catalog.upsert([])
        }
    }

    @Test func concurrentSeedersOfTheSameRowsAllSucceedWithinTheStatementTimeout() async throws {
        let url = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("deploy/catalog.yaml")
        let services = try StaticCatalog(contentsOf: url).services
        try await withPool { pool in
            let catalog = PostgresCatalog(pool: pool)
            try await catalog.migrate()
            // Several workers starting at once seed the same rows (in different orders).
            try await withThrowingTaskGroup(of: Void.self) { group in
                for round in 0..<8 {
                    group.addTask { try await catalog.upsert(round.isMultiple(of: 2) ? services : services.reversed()) }
                }
                try await group.waitForAll()
            }
            #expect(try await catalog.lookup(service: services[0].name) == services[0])
        }
    }

    @Test func unknownServiceIsNil() async throws {
        try await withPool { pool in
            let catalog = PostgresCatalog(pool: pool)
            try await catalog.migrate()
            #expect(try await catalog.lookup(service: uniqueName("nobody")) == nil)
        }
    }

    @Test func seedsFromTheShippedYAML() async throws {
        let url = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("deploy/catalog.yaml")
        let expected = try StaticCatalog(contentsOf: url)
        try await withPool { (pool: PostgresPool) async throws in
            let catalog = PostgresCatalog(pool: pool)
            #expect(try await catalog.seed(fromYAMLAt: url) == expected.services.count)
            // Seeding again is harmless (upsert).
            #expect(try await catalog.seed(from: expected) == expected.services.count)
            for service in expected.services {
                #expect(try await catalog.lookup(service: service.name) == service)
            }
        }
    }

    @Test func invalidTierIsRejectedBeforeWriting() async throws {
        try await withPool { pool in
            let catalog = PostgresCatalog(pool: pool)
            try await catalog.migrate()
            let name = uniqueName("bad-tier")
            await #expect {
                try await catalog.upsert(ServiceInfo(name: name, ownerTeam: "t", tier: 0))
            } throws: { error in
                (error as? PostgresStoreError)?.kind == .badData
            }
            #expect(try await catalog.lookup(service: name) == nil)
        }
    }

    @Test func statementTimeoutIsEnforcedPerConnection() async throws {
        try await withPool({ $0.statementTimeout = .milliseconds(200); $0.operationTimeout = .seconds(30) }) { pool in
            let setting = try await scalar(pool, "SHOW statement_timeout", as: String.self)
            #expect(setting == "200ms")
            await #expect {
                try await pool.withConnection("slow query") { connection in
                    let rows = try await connection.query("SELECT pg_sleep(5)", logger: Logger(label: "test"))
                    for try await _ in rows {}
                }
            } throws: { error in
                guard let error = error as? PostgresStoreError else { return false }
                return error.kind == .statementTimeout && error.sqlState == "57014"
                    && error.description.contains("slow query")
            }
            // The pool stays usable afterwards.
            #expect(try await scalar(pool, "SELECT 1::int8", as: Int64.self) == 1)
        }
    }

    @Test func wrongPasswordIsAClearErrorWithoutThePassword() async throws {
        let wrong = "definitely-Wrong-\(UUID().uuidString.prefix(8))"
        try await withPool({ $0.password = wrong; $0.operationTimeout = .seconds(1); $0.connectTimeout = .seconds(5) }) { pool in
            await #expect {
                try await PostgresCatalog(pool: pool).lookup(service: "checkout")
            } throws: { error in
                guard let error = error as? PostgresStoreError else { return false }
                let text = "\(error) \(String(reflecting: error))"
                return error.kind == .authenticationFailed && error.sqlState == "28P01"
                    && text.contains("password authentication failed") && !text.contains(wrong)
            }
        }
    }

    @Test func missingTableIsAServerError() async throws {
        try await withPool { pool in
            await #expect {
                try await pool.withConnection("query") { connection in
                    let rows = try await connection.query("SELECT * FROM no_such_table_breakwater", logger: Logger(label: "test"))
                    for try await _ in rows {}
                }
            } throws: { error in
                (error as? PostgresStoreError).map { $0.kind == .server && $0.sqlState == "42P01" } ?? false
            }
        }
    }

    @Test func poolNotRunningFailsAsShutdown() async throws {
        let configuration = try PostgresConfiguration(url: try ExternalService.postgres.require())
        let pool = try PostgresPool(configuration: configuration)
        // run() ends as soon as it starts: the task is already cancelled.
        let task = Task { await pool.run() }
        task.cancel()
        await task.value
        await #expect {
            try await PostgresCatalog(pool: pool).lookup(service: "checkout")
        } throws: { error in
            (error as? PostgresStoreError)?.kind == .shutdown
        }
    }
}

@Suite(.enabled(if: ExternalService.postgres.shouldRun), .timeLimit(.minutes(3)))
struct PostgresTLSTests {
    @Test func requireAgainstAServerWithoutTLSFailsClearly() async throws {
        // The test cluster has no TLS: `prefer` (the default, used by every other test)
        // falls back to plain TCP, `require` must refuse.
        try await withPool({ $0.tls = .require; $0.operationTimeout = .seconds(1); $0.connectTimeout = .seconds(5) }) { pool in
            await #expect {
                try await PostgresCatalog(pool: pool).lookup(service: "checkout")
            } throws: { error in
                guard let error = error as? PostgresStoreError else { return false }
                return error.kind == .unreachable && error.detail.contains("does not support TLS")
            }
        }
    }

    @Test func caFileThatIsNotPEMIsRejected() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("not-a-ca-\(UUID().uuidString).pem").path
        try Data("definitely not a certificate".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        var configuration = try PostgresConfiguration(url: try ExternalService.postgres.require())
        configuration.tls = .require
        configuration.caFile = path
        #expect {
            _ = try PostgresPool(configuration: configuration)
        } throws: { error in
            (error as? PostgresConfigurationError)?.problem.contains("is not a PEM certificate file") == true
        }
    }
}
