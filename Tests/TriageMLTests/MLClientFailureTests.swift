import Foundation
import NIOCore
import ServiceTestSupport
import Resilience
import Testing
import Triage
@testable import TriageML

/// Every failure mode of the inference client, provoked by a real HTTP server on
/// 127.0.0.1 that answers what the test wants.
@Suite("MLClient against a stub inference server", .timeLimit(.minutes(3)))
struct MLClientFailureTests {
    private func expectFailure(
        _ expected: MLClientError,
        reply: StubInferenceServer.Reply,
        alerts: Int = 2,
        configure: (inout MLClient.Configuration) -> Void = { _ in }
    ) async throws {
        try await withStub({ _, _ in reply }) { server in
            var configuration = MLClient.Configuration(baseURL: server.baseURL)
            configure(&configuration)
            try await withClient(configuration) { client in
                let error = await #expect(throws: MLClientError.self) {
                    try await client.classify((0..<alerts).map { makeAlert("A\($0)") })
                }
                #expect(error == expected)
            }
        }
    }

    @Test func wellFormedResponseDecodesInOrder() async throws {
        try await withStub({ uri, _ in
            #expect(uri == "/v2/models/alert-classifier/infer")
            return .init(body: inferResponse(count: 3, severity: "critical", category: "availability", confidence: 0.95))
        }) { server in
            try await withClient(.init(baseURL: server.baseURL)) { client in
                let results = try await client.classify([makeAlert("A"), makeAlert("B", severity: "warning"), makeAlert("C")])
                #expect(results.count == 3)
                #expect(results.allSatisfy { $0 == Classification(severity: .critical, category: .availability, confidence: 0.8, classifier: .ml) })
                // One request carrying all three texts as a BYTES tensor of shape [3].
                let bodies = server.requestBodies
                #expect(bodies.count == 1)
                let request = try #require(try JSONSerialization.jsonObject(with: Data((bodies.first ?? "").utf8)) as? [String: Any])
                let input = try #require((request["inputs"] as? [[String: Any]])?.first)
                #expect(input["name"] as? String == "alerts")
                #expect(input["datatype"] as? String == "BYTES")
                #expect(input["shape"] as? [Int] == [3])
                #expect((input["data"] as? [String])?[1] == "B | severity=warning | service=checkout")
            }
        }
    }

    @Test func configuredNamesAreUsed() async throws {
        try await withStub({ uri, body in
            #expect(uri == "/v2/models/other-model/infer")
            #expect(body.contains("\"name\":\"texts\""))
            return .init(body: inferResponse(count: 1).replacingOccurrences(of: "\"severity\"", with: "\"sev\""))
        }) { server in
            let configuration = MLClient.Configuration(baseURL: server.baseURL + "/", modelName: "other-model", inputName: "texts", severityOutput: "sev")
            try await withClient(configuration) { client in
                let result = try await client.classify(makeAlert("A"))
                #expect(result.severity == .high)
            }
        }
    }

    @Test func emptyBatchSendsNothing() async throws {
        try await withStub({ _, _ in .init(body: "{}") }) { server in
            try await withClient(.init(baseURL: server.baseURL)) { client in
                let results = try await client.classify([Alert]())
                #expect(results.isEmpty)
                #expect(server.requestBodies.isEmpty)
            }
        }
    }

    @Test func serverError500() async throws {
        try await expectFailure(.httpStatus(code: 500, body: "{\"error\":\"boom\"}"), reply: .init(status: .internalServerError, body: "{\"error\":\"boom\"}"))
    }

    @Test func notFound404() async throws {
        try await expectFailure(.httpStatus(code: 404, body: "no such model"), reply: .init(status: .notFound, body: "no such model"))
    }

    @Test func nonJSONBody() async throws {
        try await withStub({ _, _ in .init(body: "<html>proxy error</html>") }) { server in
            try await withClient(.init(baseURL: server.baseURL)) { client in
                let error = await #expect(throws: MLClientError.self) { try await client.classify([makeAlert("A")]) }
                guard case .malformedResponse = error else { Issue.record("got \(String(describing: error))"); return }
            }
        }
    }

    @Test func jsonWithoutOutputs() async throws {
        try await withStub({ _, _ in .init(body: "{\"error\":\"nothing\"}") }) { server in
            try await withClient(.init(baseURL: server.baseURL)) { client in
                let error = await #expect(throws: MLClientError.self) { try await client.classify([makeAlert("A")]) }
                guard case .malformedResponse = error else { Issue.record("got \(String(describing: error))"); return }
            }
        }
    }

    @Test func missingOutput() async throws {
        let body = inferResponse(count: 2).replacingOccurrences(of: "\"category\"", with: "\"kind\"")
        try await expectFailure(.missingOutput("category"), reply: .init(body: body))
    }

    @Test func wrongShape() async throws {
        try await expectFailure(.wrongShape(output: "severity", shape: [2, 2], expectedCount: 2), reply: .init(body: inferResponse(count: 2, shape: [2, 2])))
        try await expectFailure(.wrongShape(output: "severity", shape: [3], expectedCount: 2), reply: .init(body: inferResponse(count: 2, shape: [3])))
    }

    @Test func wrongLength() async throws {
        try await expectFailure(.wrongLength(output: "severity", count: 1, expectedCount: 2), reply: .init(body: inferResponse(count: 2, severityCount: 1)))
    }

    @Test func wrongDatatype() async throws {
        try await expectFailure(
            .wrongType(output: "severity", detail: "expected BYTES labels, got FP64"),
            reply: .init(body: inferResponse(count: 2, severityDatatype: "FP64"))
        )
    }

    @Test func confidenceOutOfRange() async throws {
        try await expectFailure(
            .wrongType(output: "severity_confidence", detail: "confidence 1.5 outside 0...1"),
            reply: .init(body: inferResponse(count: 2, confidence: 1.5))
        )
    }

    @Test func unknownLabels() async throws {
        try await expectFailure(.unknownLabel(output: "severity", label: "apocalyptic"), reply: .init(body: inferResponse(count: 2, severity: "apocalyptic")))
        try await expectFailure(.unknownLabel(output: "category", label: "network"), reply: .init(body: inferResponse(count: 2, category: "network")))
    }

    @Test func oversizedResponse() async throws {
        let huge = String(repeating: " ", count: 64 * 1024) + inferResponse(count: 2)
        try await expectFailure(.responseTooLarge(limit: 4096), reply: .init(body: huge)) { $0.maxResponseBytes = 4096 }
    }

    @Test func slowServerTimesOut() async throws {
        // The server answers after 1 s; the client gives up after 100 ms.
        try await expectFailure(
            .timeout(.milliseconds(100)),
            reply: .init(body: inferResponse(count: 2), delay: .seconds(1))
        ) { $0.timeout = .milliseconds(100) }
    }

    @Test func onlyTheTimeoutReportsItselfAsATimeoutToABreaker() {
        #expect(MLClientError.timeout(.milliseconds(100)).timedOutAfter == .milliseconds(100))
        #expect(MLClientError.httpStatus(code: 500, body: "").timedOutAfter == nil)
        #expect(MLClientError.transport("refused").timedOutAfter == nil)
    }

    @Test func connectionRefused() async throws {
        // Bind a server, stop it, and call its now-closed port.
        let closedURL = try await withStub({ _, _ in .init(body: "") }) { $0.baseURL }
        // The pool retries refused connections until the call's deadline: keep it short.
        try await withClient(.init(baseURL: closedURL, timeout: .milliseconds(200))) { client in
            let error = await #expect(throws: MLClientError.self) { try await client.classify([makeAlert("A")]) }
            guard case .transport = error else { Issue.record("got \(String(describing: error))"); return }
            #expect(await client.isReady() == false)
        }
    }

    @Test func invalidBaseURL() async throws {
        try await withClient(.init(baseURL: "not a url")) { client in
            let error = await #expect(throws: MLClientError.self) { try await client.classify([makeAlert("A")]) }
            guard case .invalidURL = error else { Issue.record("got \(String(describing: error))"); return }
        }
    }

    @Test func readinessFollowsTheStatus() async throws {
        try await withStub({ uri, _ in .init(status: uri == "/v2/health/ready" ? .ok : .serviceUnavailable, body: "") }) { server in
            try await withClient(.init(baseURL: server.baseURL)) { client in
                #expect(await client.isReady())
                #expect(await client.isModelReady() == false)
            }
        }
    }
}

@Suite("Alert text for the model")
struct AlertTextTests {
    @Test func textListsPresentPartsAndSortedLabels() {
        let alert = Alert(
            fingerprint: "f", status: .firing, source: .alertmanager,
            labels: ["alertname": "HighLatency", "severity": "warning", "zone": "a", "env": "prod", "empty": ""],
            annotations: ["summary": "p99 slow", "description": "checkout is slow"]
        )
        #expect(MLClient.text(for: alert) == "HighLatency | p99 slow | checkout is slow | severity=warning | env=prod zone=a")
        let bare = Alert(fingerprint: "f", status: .firing, source: .pagerduty, labels: [:])
        #expect(MLClient.text(for: bare) == "")
    }

    /// The text as deploy/mlserver/alert_text.py spells it, part by part.
    private static func reference(_ alert: Alert) -> String {
        var parts: [String] = []
        for part in [alert.alertName, alert.summary, alert.description] {
            if let part, !part.isEmpty { parts.append(part) }
        }
        if let severity = alert.sourceSeverity, !severity.isEmpty { parts.append("severity=\(severity)") }
        let rest = alert.labels
            .filter { $0.key != "alertname" && $0.key != "severity" && !$0.value.isEmpty }
            .sorted { $0.key < $1.key }
            .map { "\($0.key)=\($0.value)" }
        if !rest.isEmpty { parts.append(rest.joined(separator: " ")) }
        return parts.joined(separator: " | ")
    }

    @Test(arguments: 0..<64)
    func everyCombinationOfPartsReadsAsTheReference(_ present: Int) {
        func when(_ bit: Int, _ value: String) -> String? { present & (1 << bit) != 0 ? value : nil }
        var labels: [String: String] = [:]
        labels["alertname"] = when(0, "DiskFull")
        labels["severity"] = when(1, "critical")
        if present & (1 << 2) != 0 { labels.merge(["zone": "b", "app": "db", "blank": "", "Zeta": "é"]) { $1 } }
        var annotations: [String: String] = [:]
        annotations["summary"] = when(3, "disk full")
        annotations["description"] = when(4, present & (1 << 5) != 0 ? "" : "/var at 99%")
        let alert = Alert(fingerprint: "f", status: .firing, source: .alertmanager, labels: labels, annotations: annotations)
        #expect(MLClient.text(for: alert) == Self.reference(alert))
    }
}
