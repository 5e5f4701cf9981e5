import ServiceTestSupport
import Testing
import Triage
@testable import TriageML

/// Against the real MLServer that scripts/ml-up starts (BREAKWATER_TEST_MLSERVER_URL).
@Suite("MLClient against the real MLServer", .timeLimit(.minutes(3)))
struct MLServerIntegrationTests {
    private func configuration(model: String = "alert-classifier") throws -> MLClient.Configuration {
        MLClient.Configuration(baseURL: try ExternalService.mlserver.require(), modelName: model, timeout: .seconds(5))
    }

    @Test(.enabled(if: ExternalService.mlserver.shouldRun))
    func readyAndClassifiesOneAlert() async throws {
        try await withClient(try configuration()) { client in
            #expect(await client.isReady())
            #expect(await client.isModelReady())
            let alert = makeAlert("ServiceDown", severity: "critical", summary: "checkout is down")
            let result = try await client.classify(alert)
            #expect(result.classifier == .ml)
            #expect(result.category == .availability)
            // The demo model is trained on synthetic data: severity is learned less
            // sharply than category, so accept the two most urgent values.
            #expect([.critical, .high].contains(result.severity))
            #expect((0...1).contains(result.confidence))
        }
    }

    @Test(.enabled(if: ExternalService.mlserver.shouldRun))
    func classifiesABatchInOneCallInOrder() async throws {
        try await withClient(try configuration()) { client in
            let alerts = [
                makeAlert("HighLatency", severity: "error", summary: "checkout p99 latency above 900ms"),
                makeAlert("DiskSpaceLow", severity: "error", summary: "Disk on db-1 93% full"),
                makeAlert("BruteForceLogin", severity: "high", summary: "Brute-force login attempts on auth"),
                makeAlert("Watchdog", severity: "none", summary: "Alerting pipeline heartbeat"),
            ]
            let results = try await client.classify(alerts)
            #expect(results.map(\.category) == [.latency, .capacity, .security, .other])
            #expect(results[3].severity == .info)
        }
    }

    @Test(.enabled(if: ExternalService.mlserver.shouldRun))
    func microBatcherInFrontOfTheRealServer() async throws {
        try await withClient(try configuration()) { client in
            let batcher = MicroBatcher(upstream: client, configuration: .init(maxBatchSize: 16, maxWait: .milliseconds(2)))
            let names = ["HighLatency", "DiskSpaceLow", "BruteForceLogin", "ServiceDown"]
            let alerts = (0..<40).map { makeAlert(names[$0 % names.count], severity: "warning") }
            let results = try await batcher.classify(alerts)
            #expect(results.count == 40)
            #expect(results[0].category == .latency)
            #expect(results[1].category == .capacity)
            #expect(results[2].category == .security)
            #expect(results[3].category == .availability)
        }
    }

    @Test(.enabled(if: ExternalService.mlserver.shouldRun))
    func unknownModelIs404() async throws {
        try await withClient(try configuration(model: "no-such-model")) { client in
            let error = await #expect(throws: MLClientError.self) { try await client.classify([makeAlert("A")]) }
            guard case let .httpStatus(code, _) = error else { Issue.record("got \(String(describing: error))"); return }
            #expect(code == 404)
            #expect(await client.isModelReady() == false)
        }
    }
}
