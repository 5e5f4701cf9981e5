import Foundation
import Hummingbird
import Logging
import Metrics
import Prometheus
import Resilience
import Locking
import Testing
import Triage

@testable import BreakwaterApp

@Suite struct HTTPHealthTests {
    @Test func liveAnswersWhileTheProcessServes() async throws {
        let fixture = try HTTPFixture()
        let response = try await fixture.withServer { try await $0.request(.get, HTTPRoutes.live) }
        #expect(response.status == .ok)
        #expect(try response.decode([String: String].self) == ["status": "live"])
    }

    @Test func readinessFollowsConsumerProducerAndShutdown() async throws {
        let fixture = try HTTPFixture()
        let readiness = fixture.readiness
        let bodies = try await fixture.withServer { client in
            var seen: [(HTTPResponse.Status, ReadinessBody)] = []
            func probe() async throws {
                let response = try await client.request(.get, HTTPRoutes.ready)
                seen.append((response.status, try response.decode(ReadinessBody.self)))
            }
            try await probe()
            readiness.setConsumerJoinedGroup(true)
            try await probe()
            readiness.setProducerConnected(true)
            try await probe()
            readiness.setConsumerFailure("KafkaError _TRANSPORT: invalid response size")  // fetches keep failing
            try await probe()
            readiness.setConsumerFailure(nil)
            try await probe()
            readiness.setConsumerJoinedGroup(false)  // a rebalance took the consumer out
            try await probe()
            readiness.setConsumerJoinedGroup(true)
            readiness.markShuttingDown()
            try await probe()
            return seen.map { ($0.0.code, $0.1) }
        }
        #expect(bodies.map(\.0) == [503, 503, 200, 503, 200, 503, 503])
        #expect(bodies.map(\.1.notReady) == [
            ["consumerJoinedGroup", "producerConnected"],
            ["producerConnected"],
            [],
            ["consumerMakingProgress"],
            [],
            ["consumerJoinedGroup"],
            ["notShuttingDown"],
        ])
        #expect(bodies.map(\.1.status) == ["not_ready", "not_ready", "ready", "not_ready", "ready", "not_ready", "not_ready"])
        #expect(bodies[2].1.checks == [
            "consumerJoinedGroup": true, "consumerMakingProgress": true, "producerConnected": true, "notShuttingDown": true,
        ])
        #expect(bodies[3].1.checks["consumerMakingProgress"] == false)
        #expect(bodies[6].1.checks["notShuttingDown"] == false)
    }

    @Test func gracefulShutdownOfTheServerMarksReadinessShuttingDown() async throws {
        let fixture = try HTTPFixture()
        fixture.readiness.setConsumerJoinedGroup(true)
        fixture.readiness.setProducerConnected(true)
        let during = try await fixture.withServer { try await $0.request(.get, HTTPRoutes.ready).status }
        #expect(during == .ok)
        #expect(fixture.readiness.status.failing == [.notShuttingDown])
    }

    @Test func aPortInUseMakesRunThrowAndListeningPortFail() async throws {
        let fixture = try HTTPFixture()
        var settings = HTTPSettings()
        settings.host = "127.0.0.1"
        settings.port = 0
        let first = BreakwaterHTTPServer(settings: settings, dependencies: fixture.dependencies)
        try await fixture.run(first) { port in
            var clash = settings
            clash.port = port
            let second = BreakwaterHTTPServer(settings: clash, dependencies: fixture.dependencies)
            await #expect(throws: (any Error).self) { try await second.run() }
            await #expect(throws: BreakwaterHTTPServerError.stoppedBeforeListening(host: "127.0.0.1", port: port)) {
                try await second.listeningPort()
            }
        }
    }

    @Test func waitingForThePortCanBeCancelled() async throws {
        let fixture = try HTTPFixture()
        let server = BreakwaterHTTPServer(settings: HTTPSettings(), dependencies: fixture.dependencies)
        let waiter = Task { try await server.listeningPort() }  // never run: it never listens
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
    }
}

@Suite struct HTTPMetricsTests {
    @Test func metricsExposeSwiftMetricsAndBreakerMetricsInPrometheusText() async throws {
        let fixture = try HTTPFixture()
        let consumed = Counter(label: MetricNames.recordsConsumed, dimensions: [("topic", "alerts.raw")], factory: fixture.factory)
        consumed.increment(by: 3)
        let batch = Recorder(label: MetricNames.mlBatchSize, aggregate: true, factory: fixture.factory)
        batch.record(12)
        let latency = Metrics.Timer(label: MetricNames.processingDuration, factory: fixture.factory)
        latency.recordMilliseconds(40)

        let (status, contentType, before, after) = try await fixture.withServer { client in
            let before = try await client.request(.get, HTTPRoutes.metrics)
            _ = try await client.admin(.post, HTTPRoutes.adminBreaker("ml", .forceOpen))
            let after = try await client.request(.get, HTTPRoutes.metrics)
            return (before.status.code, before.headers[.contentType], before.body, after.body)
        }
        #expect(status == 200)
        #expect(contentType == "text/plain; version=0.0.4; charset=utf-8")
        #expect(before.contains("# TYPE breakwater_records_consumed_total counter"))
        #expect(before.contains(#"breakwater_records_consumed_total{topic="alerts.raw"} 3"#))
        // Breakwater's own buckets, not the library defaults.
        #expect(before.contains(#"breakwater_ml_batch_size_bucket{le="16.0"} 1"#))
        #expect(before.contains(#"breakwater_ml_batch_size_bucket{le="8.0"} 0"#))
        #expect(before.contains(#"breakwater_processing_duration_seconds_bucket{le="0.05"} 1"#))
        #expect(before.contains("breakwater_processing_duration_seconds_count 1"))
        for name in [
            MetricNames.circuitBreakerState, MetricNames.circuitBreakerCalls,
            MetricNames.circuitBreakerTransitions, MetricNames.circuitBreakerRejections,
        ] {
            #expect(before.contains("\(name){breaker=\"ml\""), "missing \(name)")
        }
        #expect(before.contains(#"circuit_breaker_state{breaker="ml"} 0"#))
        #expect(after.contains(#"circuit_breaker_state{breaker="ml"} 3"#))
        #expect(after.contains(#"circuit_breaker_transitions_total{breaker="ml",from="closed",to="forced_open"} 1"#))
    }

    @Test func everyMetricHasItsHelpTextAndReadinessIsTakenAtEachScrape() async throws {
        let fixture = try HTTPFixture()
        Counter(label: MetricNames.incidents, dimensions: [("classifier", "ml"), ("severity", "low")], factory: fixture.factory).increment()
        Recorder(label: MetricNames.mlBatchSize, aggregate: true, factory: fixture.factory).record(3)
        Metrics.Timer(label: MetricNames.processingDuration, factory: fixture.factory).recordMilliseconds(5)
        Meter(label: MetricNames.inFlight, factory: fixture.factory).increment()
        let (notReady, ready) = try await fixture.withServer { client in
            let notReady = try await client.request(.get, HTTPRoutes.metrics).body
            fixture.readiness.setConsumerJoinedGroup(true)
            fixture.readiness.setProducerConnected(true)
            return (notReady, try await client.request(.get, HTTPRoutes.metrics).body)
        }
        #expect(notReady.contains("\(MetricNames.ready) 0"))
        #expect(ready.contains("\(MetricNames.ready) 1"))
        let lines = ready.split(separator: "\n")
        let typed = lines.filter { $0.hasPrefix("# TYPE ") }.map { String($0.split(separator: " ")[2]) }
        #expect(typed.count >= 8)
        for name in typed {
            let help = try #require(MetricNames.help[name], "\(name) has no entry in MetricNames.help")
            #expect(lines.contains("# HELP \(name) \(help)"), "no HELP line for \(name)")
        }
        #expect(Set(MetricNames.help.keys) == Set(MetricNames.all))
    }

    @Test func bootstrapInstallsOneFactoryOverItsRegistryAndOnlyOnce() {
        let once = OnceBootstrap<PrometheusCollectorRegistry>()
        let installed = LockedValue<[DescribedPrometheusMetricsFactory]>([])
        let first = BreakwaterMetrics.bootstrap(once: once) { factory in installed.withLock { $0.append(factory) } }
        let second = BreakwaterMetrics.bootstrap(once: once) { factory in installed.withLock { $0.append(factory) } }
        #expect(first === second)
        let factories = installed.withLock { $0 }
        #expect(factories.count == 1)
        #expect(factories.first?.registry === first)
        #expect(factories.first?.base.valueHistogramBuckets[MetricNames.mlBatchSize] == BreakwaterMetrics.mlBatchSizeBuckets)
        #expect(factories.first?.base.valueHistogramBuckets[MetricNames.dedupBatchSize] == BreakwaterMetrics.dedupBatchSizeBuckets)
        #expect(factories.first?.base.durationHistogramBuckets[MetricNames.processingDuration] == BreakwaterMetrics.processingDurationBuckets)
    }
}
