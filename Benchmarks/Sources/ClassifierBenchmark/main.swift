// Alerts per second through the ML client against a real MLServer, with micro-batching
// vs one infer call per alert, measured in the same run.
//
//   scripts/ml-up                      # prints the base URL
//   swift run -c release --package-path Benchmarks ClassifierBenchmark [URL] [alerts] [concurrency]
//
// URL defaults to $BREAKWATER_TEST_MLSERVER_URL. Both modes classify the same alerts
// with the same number of concurrent callers (each caller asks for one alert at a
// time, like pipeline workers do); only the batching differs. Each mode runs once to
// warm up, then is timed. The run is bounded: it classifies `alerts` alerts per mode.
import Foundation
import Triage
import TriageML

let arguments = CommandLine.arguments.dropFirst()
guard let baseURL = arguments.first ?? ProcessInfo.processInfo.environment["BREAKWATER_TEST_MLSERVER_URL"] else {
    FileHandle.standardError.write(Data("usage: ClassifierBenchmark URL [alerts] [concurrency]  (or set BREAKWATER_TEST_MLSERVER_URL)\n".utf8))
    exit(2)
}
let alertCount = arguments.dropFirst().first.flatMap(Int.init) ?? 2000
let concurrency = arguments.dropFirst(2).first.flatMap(Int.init) ?? 16

let templates: [(String, String, String)] = [
    ("HighLatency", "error", "checkout p99 latency above 900ms"),
    ("DiskSpaceLow", "warning", "Disk on db-1 93% full"),
    ("ServiceDown", "critical", "payments is down"),
    ("BruteForceLogin", "high", "Brute-force login attempts on auth"),
    ("ConsumerLag", "warning", "Kafka consumer lag for orders growing"),
]
let alerts = (0..<alertCount).map { index in
    let (name, severity, summary) = templates[index % templates.count]
    return Alert(
        fingerprint: "bench-\(index)", status: .firing, source: .alertmanager,
        labels: ["alertname": name, "severity": severity, "service": "svc-\(index % 13)"],
        annotations: ["summary": summary]
    )
}

/// Classifies every alert with `concurrency` callers each taking the next alert;
/// returns alerts per second.
func measure(_ phase: String, _ classifier: any AlertClassifier) async throws -> Double {
    do {
        return try await measureAlertsPerSecond(classifier)
    } catch {
        throw BenchmarkFailure(phase: phase, error: error)
    }
}

struct BenchmarkFailure: Error, CustomStringConvertible {
    let phase: String
    let error: any Error
    var description: String { "\(phase): \(error)" }
}

func measureAlertsPerSecond(_ classifier: any AlertClassifier) async throws -> Double {
    let next = IndexDispenser()
    let start = ContinuousClock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<concurrency {
            group.addTask {
                while let index = next.take(below: alerts.count) {
                    _ = try await classifier.classify(alerts[index])
                }
            }
        }
        try await group.waitForAll()
    }
    let elapsed = ContinuousClock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return Double(alerts.count) / seconds
}

/// Hands out indices 0, 1, 2, ... to concurrent callers.
final class IndexDispenser: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func take(below limit: Int) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard value < limit else { return nil }
        value += 1
        return value - 1
    }
}

let client = MLClient(configuration: .init(baseURL: baseURL, timeout: .seconds(10), maxConnections: concurrency))
do {
    guard await client.isModelReady() else {
        throw MLClientError.transport("model not ready at \(baseURL)")
    }
    let batcher = MicroBatcher(upstream: client, configuration: .init(maxBatchSize: 64, maxWait: .milliseconds(2)))
    print("ClassifierBenchmark: \(alertCount) alerts, \(concurrency) concurrent callers, MLServer at \(baseURL)")
    _ = try await measure("unbatched warm-up", client)   // connections, server caches
    let unbatched = try await measure("unbatched", client)
    _ = try await measure("batched warm-up", batcher)
    let batched = try await measure("batched", batcher)
    print(String(format: "one infer call per alert: %8.0f alerts/s", unbatched))
    print(String(format: "micro-batched (max 64, 2 ms): %8.0f alerts/s", batched))
    print(String(format: "ratio batched/unbatched: %.1fx (target >= 5x)", batched / unbatched))
    try await client.shutdown()
} catch {
    try? await client.shutdown()
    FileHandle.standardError.write(Data("ClassifierBenchmark failed: \(error)\n".utf8))
    exit(1)
}
