import Foundation
import ServiceTestSupport
import Triage
import TriageML

func makeAlert(_ name: String, severity: String? = nil, summary: String? = nil) -> Alert {
    var labels = ["alertname": name, "service": "checkout"]
    labels["severity"] = severity
    var annotations: [String: String] = [:]
    annotations["summary"] = summary
    return Alert(fingerprint: name, status: .firing, source: .alertmanager, labels: labels, annotations: annotations)
}

/// Runs `body` with `resource`, then `release`s it whether `body` threw or not.
func using<Resource, T>(_ resource: Resource, release: (Resource) async throws -> Void, _ body: (Resource) async throws -> T) async throws -> T {
    let result: Result<T, any Error>
    do { result = .success(try await body(resource)) } catch { result = .failure(error) }
    try await release(resource)
    return try result.get()
}

/// Runs `body` with a client and always shuts the client down afterwards.
func withClient<T>(_ configuration: MLClient.Configuration, _ body: (MLClient) async throws -> T) async throws -> T {
    try await using(MLClient(configuration: configuration), release: { try await $0.shutdown() }, body)
}

/// Runs `body` against a stub server and always stops it afterwards.
func withStub<T>(_ responder: @escaping StubInferenceServer.Responder, _ body: (StubInferenceServer) async throws -> T) async throws -> T {
    try await using(try await StubInferenceServer.start(responder), release: { try await $0.stop() }, body)
}

/// A well-formed Open Inference Protocol v2 response for `count` alerts, with the
/// pieces a test wants to break overridable.
func inferResponse(
    count: Int,
    severity: String = "high",
    category: String = "latency",
    shape: [Int]? = nil,
    severityCount: Int? = nil,
    severityDatatype: String = "BYTES",
    confidence: Double = 0.9
) -> String {
    func output(_ name: String, _ datatype: String, _ shape: [Int], _ data: [Any]) -> [String: Any] {
        ["name": name, "datatype": datatype, "shape": shape, "data": data]
    }
    let object: [String: Any] = [
        "model_name": "alert-classifier",
        "outputs": [
            output("severity", severityDatatype, shape ?? [count], Array(repeating: severity, count: severityCount ?? count)),
            output("severity_confidence", "FP64", [count], Array(repeating: confidence, count: count)),
            output("category", "BYTES", [count], Array(repeating: category, count: count)),
            output("category_confidence", "FP64", [count], Array(repeating: 0.8, count: count)),
        ],
    ]
    let data = (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
    return String(decoding: data, as: UTF8.self)
}
