import BreakwaterApp
import Foundation
import Logging
import Resilience
import ServiceTestSupport
import Testing
import Triage
import TriageML
import TriagePostgres
import TriageTestSupport

/// The real steps wired as the worker wires them, against the real PostgreSQL and
/// MLServer that scripts/test started, each behind its own TCPFaultProxy. Breakers and
/// the catalog cache run on a manual clock, so open durations and stale ages are exact
/// and nothing waits for them.
struct Rig: Sendable {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    /// How long every breaker stays open (on ``clock``).
    static let openDuration: Duration = .seconds(30)
    /// Catalog cache: fresh for a minute, then stale for an hour.
    static let freshFor: Duration = .seconds(60)
    /// Consecutive failures that open the ML breaker.
    static let mlFailures = 3
    /// Consecutive failures that open the catalog and dedup breakers.
    static let postgresFailures = 2

    let clock: ManualClock
    let postgresProxy: TCPFaultProxy
    let mlProxy: TCPFaultProxy
    let mlBreaker: CircuitBreaker
    let catalogBreaker: CircuitBreaker
    let dedupBreaker: CircuitBreaker
    let features: FeatureFallback
    let staticCatalog: StaticCatalog
    let rules: RuleClassifier
    let processor: AlertProcessor
    /// Makes this test's fingerprints unique in the shared dedup table.
    let runID = UUID().uuidString.lowercased().prefix(12)

    /// Builds the rig, runs `body`, and always tears everything down.
    /// - Parameters:
    ///   - mlCallTimeout: the ML breaker's per-call timeout (on ``clock``).
    ///   - postgresOperationTimeout: the deadline of each statement through the proxy. The
    ///     outage tests need a short one (a stopped proxy must fail calls fast); a test of
    ///     the healthy path gives PostgreSQL time, so a loaded machine (the whole suite
    ///     runs in parallel on 2 cores in CI) does not read as an outage.
    static func run(
        mlCallTimeout: Duration? = nil, postgresOperationTimeout: Duration = .seconds(1),
        _ body: @Sendable (Rig) async throws -> Void
    ) async throws {
        let staticCatalogFile = repositoryRoot.appendingPathComponent("deploy/catalog.yaml").path
        let staticCatalog = try StaticCatalog(contentsOf: URL(fileURLWithPath: staticCatalogFile))
        let postgres = try PostgresConfiguration(url: try ExternalService.postgres.require())
        try await seed(postgres, from: staticCatalog)

        let mlURL = try ExternalService.mlserver.require()
        let ml = try #require(URLComponents(string: mlURL))
        let postgresProxy = try await TCPFaultProxy.start(forwardingTo: postgres.host, port: postgres.port)
        let mlProxy = try await TCPFaultProxy.start(forwardingTo: try #require(ml.host), port: try #require(ml.port))

        var proxied = postgres
        proxied.host = postgresProxy.host
        proxied.port = postgresProxy.port
        proxied.connectTimeout = .milliseconds(500)
        proxied.operationTimeout = postgresOperationTimeout
        let pool = try PostgresPool(configuration: proxied)

        // The worker's own assembly, with this rig's thresholds and services.
        var configuration = BreakwaterConfiguration()
        configuration.rules.file = repositoryRoot.appendingPathComponent("deploy/rules.yaml").path
        configuration.catalog.staticCatalogFile = staticCatalogFile
        configuration.catalog.cacheTTL = ConfigDuration(freshFor)
        configuration.catalog.staleTTL = .seconds(3600)
        configuration.ml.url = "http://\(mlProxy.address)"
        configuration.ml.timeout = .seconds(5)
        configuration.ml.maxBatchSize = 16
        configuration.ml.maxBatchWait = .milliseconds(2)
        configuration.pipeline.workerId = "degradation-test"
        configuration.breakers.ml = consecutiveFailures(mlFailures, callTimeout: mlCallTimeout)
        configuration.breakers.catalog = consecutiveFailures(postgresFailures)
        configuration.breakers.dedup = consecutiveFailures(postgresFailures)
        let assembly = WorkerAssembly(configuration: configuration, logger: Logger(label: "degradation-tests"))
        let client = try #require(try assembly.makeMLClient())
        let clock = ManualClock()
        let steps = try assembly.makeSteps(catalogPool: pool, secondaryPool: nil, mlClient: client, clock: clock)
        let rig = Rig(
            clock: clock, postgresProxy: postgresProxy, mlProxy: mlProxy,
            mlBreaker: steps.breakers.breaker(named: BreakerName.ml),
            catalogBreaker: steps.breakers.breaker(named: BreakerName.catalog),
            dedupBreaker: steps.breakers.breaker(named: BreakerName.dedup),
            features: steps.features, staticCatalog: staticCatalog, rules: steps.rules, processor: steps.processor
        )

        let result: Result<Void, any Error> = await withTaskGroup(of: Void.self) { group in
            group.addTask { await pool.run() }
            defer { group.cancelAll() }
            do {
                // Set-up, not under test: the proxied pool's connections are open before
                // the steps use them (on a loaded machine the first connects can take
                // longer than the 1 s operation deadline the outage tests need).
                try await eventuallySucceeding(within: .seconds(60)) {
                    try await withThrowingTaskGroup(of: Void.self) { lookups in
                        for _ in 0..<proxied.poolSize { lookups.addTask { _ = try await PostgresCatalog(pool: pool).lookup(service: "checkout") } }
                        try await lookups.waitForAll()
                    }
                }
                try await body(rig)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try? await client.shutdown()
        await postgresProxy.stop()
        await mlProxy.stop()
        try result.get()
    }

    /// Breaker settings that open on `failures` consecutive failures only (the rate rules
    /// need more calls than any test makes), stay open ``openDuration`` and close on one
    /// half-open success.
    private static func consecutiveFailures(_ failures: Int, callTimeout: Duration? = nil) -> BreakerSettings {
        var settings = BreakerSettings()
        settings.failureThreshold = failures
        settings.openDuration = ConfigDuration(openDuration)
        settings.halfOpenMaxCalls = 1
        settings.successThreshold = 1
        settings.windowSize = 1_000
        settings.minimumCalls = 1_000
        settings.failureRateThreshold = 1
        settings.slowCallRateThreshold = 1
        settings.slowCallDuration = .seconds(3_600)
        settings.callTimeout = callTimeout.map { ConfigDuration($0) }
        return settings
    }

    /// Creates the tables and loads deploy/catalog.yaml into the real database (direct,
    /// not through a proxy). Idempotent: tests share the database.
    private static func seed(_ configuration: PostgresConfiguration, from catalog: StaticCatalog) async throws {
        // Set-up, not under test: a generous deadline, so a loaded machine does not fail it.
        var configuration = configuration
        configuration.operationTimeout = .seconds(60)
        // Other suites upsert the same rows at the same time; waiting for their locks is fine here.
        configuration.statementTimeout = .seconds(60)
        let pool = try PostgresPool(configuration: configuration)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await pool.run() }
            defer { group.cancelAll() }
            try await PostgresCatalog(pool: pool).seed(from: catalog)
            try await PostgresDedupStore(pool: pool).migrate()
        }
    }

    // MARK: - Alerts

    /// One alert of a test: which service it names and what it says.
    struct TestAlert: Sendable {
        var id: String
        var service: String?
        var name: String
        var severity: String
        var summary: String
    }

    /// Alerts the demo model classifies confidently, cycling over `services`.
    func alerts(_ count: Int, services: [String?] = ["checkout"], prefix: String = "a") -> [TestAlert] {
        let kinds = [
            ("HighLatency", "error", "p99 latency above 900ms"),
            ("DiskSpaceLow", "error", "Disk on db-1 93% full"),
            ("ServiceDown", "critical", "service is down"),
            ("BruteForceLogin", "high", "Brute-force login attempts on auth"),
        ]
        return (0..<count).map { index in
            let kind = kinds[index % kinds.count]
            return TestAlert(
                id: "\(prefix)\(index)", service: services[index % services.count],
                name: kind.0, severity: kind.1, summary: kind.2
            )
        }
    }

    /// One Alertmanager webhook record carrying `alerts`, fingerprinted per run.
    func record(_ alerts: [TestAlert]) throws -> InputRecord {
        let objects: [[String: Any]] = alerts.map { alert in
            var labels = ["alertname": alert.name, "severity": alert.severity]
            labels["service"] = alert.service
            return [
                "fingerprint": fingerprint(alert),
                "labels": labels,
                "annotations": ["summary": alert.summary],
                "startsAt": "2026-11-29T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
            ]
        }
        let data = try JSONSerialization.data(withJSONObject: ["alerts": objects], options: [.sortedKeys])
        return InputRecord(value: Array(data))
    }

    /// What the worker publishes when the rules (the fallback) classify `alert`: their
    /// verdict under the default policy's severity floor.
    func ruleVerdict(_ alert: Alert) -> Classification { ClassificationPolicy().applyingFloor(to: rules.classify(alert), for: alert) }

    func fingerprint(_ alert: TestAlert) -> String { "deg-\(runID)-\(alert.id)" }

    /// Runs `alerts` through the processor as one record; fails the test on a dead letter.
    func process(_ alerts: [TestAlert], sourceLocation: SourceLocation = #_sourceLocation) async throws -> ProcessingOutcome {
        let outcome = await processor.process(
            try record(alerts), key: nil, origin: RecordOrigin(topic: "alerts", partition: 0, offset: 0), receivedAt: Date()
        )
        #expect(outcome.deadLetter == nil, sourceLocation: sourceLocation)
        #expect(outcome.incidents.count == alerts.count, sourceLocation: sourceLocation)
        return outcome
    }

    /// Runs each alert as its own record, one after the other (so each ML call is its
    /// own batch and the breakers see the failures in order).
    func processEach(_ alerts: [TestAlert], sourceLocation: SourceLocation = #_sourceLocation) async throws -> [ProcessingOutcome] {
        var outcomes: [ProcessingOutcome] = []
        for alert in alerts { outcomes.append(try await process([alert], sourceLocation: sourceLocation)) }
        return outcomes
    }

    /// After a dependency came back: lets the open duration pass (manual clock) and
    /// processes `alert` until `recovered` holds for its outcome, within a real-time
    /// deadline (the pools reconnect with their own backoff).
    /// - Returns: every attempt's outcome; the last is the recovered one.
    @discardableResult
    func recover(
        _ alert: TestAlert, within deadline: Duration = .seconds(20), until recovered: (ProcessingOutcome) -> Bool
    ) async throws -> [ProcessingOutcome] {
        let end = ContinuousClock.now + deadline
        var attempts: [ProcessingOutcome] = []
        while true {
            clock.advance(by: Self.openDuration)
            let outcome = try await process([alert])
            attempts.append(outcome)
            if recovered(outcome) { return attempts }
            if ContinuousClock.now >= end {
                Issue.record("did not recover within \(deadline): \(outcome.incidents.first.map { "\($0.provenance)" } ?? "-")")
                return attempts
            }
        }
    }
}

extension ProcessingOutcome {
    /// The fallback events of `breaker`, in incident order.
    func events(_ breaker: String) -> [FallbackEventRecord] { fallbackEvents.filter { $0.breaker == breaker } }

    /// The only incident (for one-alert records).
    var incident: IncidentRecord? { incidents.count == 1 ? incidents.first : nil }
}
