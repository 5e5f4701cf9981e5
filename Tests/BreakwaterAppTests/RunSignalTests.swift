import AsyncHTTPClient
import BreakwaterApp
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Kafka
import NIOCore
import ServiceTestSupport
import Synchronization
import Testing
import Triage

/// Output collected as it comes, from the pipe's reading thread.
private final class LogBuffer: Sendable {
    private let text = Mutex("")

    func append(_ data: Data) {
        text.withLock { $0 += String(decoding: data, as: UTF8.self) }
    }

    var contents: String { text.withLock { $0 } }
}

/// The built `breakwater` binary running in the background, its log collected as it comes.
private final class RunningBinary {
    private let process: Process
    private let log = LogBuffer()

    init(_ arguments: [String], environment: [String: String]) throws {
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [directory, directory.deletingLastPathComponent()].map { $0.appendingPathComponent("breakwater") }
        let binary = try #require(candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) },
                                  "breakwater binary not found near \(directory.path)")
        process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.environment = environment
        process.currentDirectoryURL = repositoryRoot
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        pipe.fileHandleForReading.readabilityHandler = { [log] handle in log.append(handle.availableData) }
        try process.run()
    }

    var output: String { log.contents }

    /// Waits until the log contains `text`, at most `limit`; records an issue when it does not.
    func waitForLog(_ text: String, within limit: Duration = .seconds(90)) async {
        let deadline = ContinuousClock.now + limit
        while !output.contains(text), process.isRunning, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        if !output.contains(text) { Issue.record("no '\(text)' in the log within \(limit):\n\(output.suffix(3_000))") }
    }

    func send(_ signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    /// Kills the process if it still runs (clean-up after a test that failed early).
    func killIfRunning() {
        guard process.isRunning else { return }
        send(SIGKILL)
        process.waitUntilExit()
    }

    /// Waits for the process to exit, at most `limit`; kills it and records an issue when
    /// it does not. Returns its status (nil when it had to be killed).
    func exitStatus(within limit: Duration = .seconds(90)) async -> Int32? {
        let deadline = ContinuousClock.now + limit
        while process.isRunning, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        guard !process.isRunning else {
            send(SIGKILL)
            process.waitUntilExit()
            Issue.record("breakwater run did not exit within \(limit):\n\(output.suffix(3_000))")
            return nil
        }
        return process.terminationStatus
    }
}

/// `breakwater run` against the real broker, rules only, PostgreSQL unreachable; its
/// alerts topic is `signal-alerts-<suffix>`.
private func startWorker(
    bootstrap: String, port: Int = Int.random(in: 20_000..<40_000), suffix: String = String(UUID().uuidString.prefix(8).lowercased())
) throws -> RunningBinary {
    try RunningBinary(["run"], environment: [
        "BREAKWATER_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "BREAKWATER_KAFKA_GROUP_ID": "signal-tests-\(suffix)",
        "BREAKWATER_KAFKA_ASSIGNMENT_STRATEGY": "range",
        "BREAKWATER_TOPICS_ALERTS": "signal-alerts-\(suffix)",
        "BREAKWATER_TOPICS_CLASSIFIED": "signal-classified-\(suffix)",
        "BREAKWATER_TOPICS_FALLBACK_EVENTS": "signal-fallbacks-\(suffix)",
        "BREAKWATER_TOPICS_DEAD_LETTER": "signal-dlq-\(suffix)",
        "BREAKWATER_TOPICS_PARTITIONS": "1",
        "BREAKWATER_ML_ENABLED": "false",
        "BREAKWATER_CATALOG_POSTGRES_URL": "postgres://x:y@127.0.0.1:1/db",
        "BREAKWATER_HTTP_PORT": "\(port)",
        "BREAKWATER_LOGGING_LEVEL": "info",
    ])
}

@Suite("breakwater run: signals", .serialized, .timeLimit(.minutes(3)))
struct RunSignalTests {
    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func theFirstSignalDrainsCommitsAndExitsCleanly() async throws {
        let worker = try startWorker(bootstrap: try ExternalService.kafka.require())
        await worker.waitForLog("partitions assigned")
        worker.send(SIGTERM)
        #expect(await worker.exitStatus() == 0)
        let log = worker.output
        #expect(log.contains("shutting down gracefully"))
        #expect(log.contains("draining in-flight work"))
        #expect(log.contains("worker stopped"))
        #expect(!log.contains("stopping at once"))
    }

    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func aSecondSignalStopsAtOnce() async throws {
        let worker = try startWorker(bootstrap: try ExternalService.kafka.require())
        await worker.waitForLog("partitions assigned")
        worker.send(SIGINT)
        await worker.waitForLog("shutting down gracefully")
        worker.send(SIGTERM)
        _ = await worker.exitStatus()
        #expect(worker.output.contains("stopping at once"))
    }

    /// `breakwater ingest` on its own: it takes a PagerDuty event once the broker has it,
    /// and the first signal stops it cleanly.
    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func ingestAloneAcceptsAnEventAndStopsCleanly() async throws {
        let port = Int.random(in: 20_000..<40_000)
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let ingest = try RunningBinary(["ingest"], environment: [
            "BREAKWATER_KAFKA_BOOTSTRAP_SERVERS": try ExternalService.kafka.require(),
            "BREAKWATER_TOPICS_ALERTS": "ingest-alerts-\(suffix)",
            "BREAKWATER_TOPICS_CLASSIFIED": "ingest-classified-\(suffix)",
            "BREAKWATER_TOPICS_FALLBACK_EVENTS": "ingest-fallbacks-\(suffix)",
            "BREAKWATER_TOPICS_DEAD_LETTER": "ingest-dlq-\(suffix)",
            "BREAKWATER_TOPICS_PARTITIONS": "1",
            "BREAKWATER_HTTP_HOST": "127.0.0.1",
            "BREAKWATER_HTTP_PORT": "\(port)",
        ])
        await ingest.waitForLog("Server started and listening")
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v2/enqueue")
        request.method = .POST
        request.body = .bytes(ByteBuffer(string: #"{"routing_key":"r","event_action":"trigger","dedup_key":"cli-1","payload":{"summary":"s","source":"h","severity":"info"}}"#))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let body = String(buffer: try await response.body.collect(upTo: 4_096))
        #expect(response.status.code == 202, "\(body)")
        #expect(body.contains(#""dedup_key":"cli-1""#))
        ingest.send(SIGTERM)
        #expect(await ingest.exitStatus() == 0)
        #expect(ingest.output.contains("ingest stopped"))
    }

    @Test func aSignalBeforeTheWorkerRunsEndsTheStart() async throws {
        // Nothing listens on port 1: creating the topics waits for a broker that never answers.
        let worker = try RunningBinary(["run"], environment: [
            "BREAKWATER_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
            "BREAKWATER_ML_ENABLED": "false",
            "BREAKWATER_HTTP_PORT": "\(Int.random(in: 20_000..<40_000))",
        ])
        await worker.waitForLog("starting worker")
        worker.send(SIGTERM)
        let status = await worker.exitStatus(within: .seconds(60))
        #expect(status != nil && status != 0)
        #expect(worker.output.contains("stopping at once"))
    }
}

@Suite("breakwater run: /metrics", .serialized, .timeLimit(.minutes(3)))
struct LiveMetricsTests {
    /// The body of `GET url`.
    static func fetch(_ url: String) async throws -> String {
        let (data, _) = try await URLSession.shared.data(from: try #require(URL(string: url)))
        return String(decoding: data, as: UTF8.self)
    }

    @Test(.enabled(if: ExternalService.kafka.shouldRun && Promtool.shouldRun))
    func aLiveWorkersMetricsPassPromtoolsLint() async throws {
        let bootstrap = try ExternalService.kafka.require()
        let port = Int.random(in: 20_000..<40_000)
        let suffix = String(UUID().uuidString.prefix(8).lowercased())
        let worker = try startWorker(bootstrap: bootstrap, port: port, suffix: suffix)
        defer { worker.killIfRunning() }
        await worker.waitForLog("partitions assigned")

        // Records of every format and malformed ones: incidents, fallback events (the
        // static catalog stands in for PostgreSQL) and dead letters all get counted.
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(common: ToolsKafkaTests.kafka(bootstrap)), logger: ToolsKafkaTests.logger)
        let summary = await AlertProducerRun(topic: "signal-alerts-\(suffix)")
            .send(SampleBatch.records(count: 10, malformed: 2, seed: 3, now: Date()), to: producer)
        _ = await producer.close()
        #expect(summary.delivered == 12)

        let url = "http://127.0.0.1:\(port)\(HTTPRoutes.metrics)"
        var metrics = ""
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            metrics = (try? await Self.fetch(url)) ?? ""
            if [MetricNames.incidents, MetricNames.dlqRecords, MetricNames.fallbacks, "\(MetricNames.ready) 1"]
                .allSatisfy(metrics.contains) { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(metrics.contains("\(MetricNames.ready) 1"), "\(metrics)")
        #expect(metrics.contains("# HELP \(MetricNames.incidents) "))
        let lint = try Promtool.run(["check", "metrics"], input: metrics)
        #expect(lint.status == 0, "\(lint.output)")
        #expect(lint.output.isEmpty, "\(lint.output)")
        worker.send(SIGTERM)
        #expect(await worker.exitStatus() == 0)
    }
}
