import AsyncHTTPClient
import BreakwaterApp
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Kafka
import Logging
import NIOCore
import ServiceTestSupport
import Locking
import Testing
import Triage
import TriageTestSupport

/// Output collected as it comes, from the pipe's reading thread.
private final class LogBuffer: Sendable {
    private let text = LockedValue("")

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

/// A Kafka-protocol broker of the test's own (the binary `scripts/kafka-up` runs), on a
/// fixed port and data directory, so the test can stop it and bring it back empty.
private final class PrivateBroker {
    let port: Int
    private let binary: String
    private let data: URL
    /// The broker's own output, shown when it does not come up.
    private let log: URL
    private var process: Process?

    init(binary: String) throws {
        self.binary = binary
        port = try freeLocalPort()
        data = FileManager.default.temporaryDirectory.appendingPathComponent("broker-\(UUID().uuidString)")
        log = data.appendingPathExtension("log")
    }

    var bootstrap: String { "127.0.0.1:\(port)" }

    /// Starts it with an empty data directory and waits until it answers a metadata request.
    func startEmpty() async throws {
        try? FileManager.default.removeItem(at: data)
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["start", "--only", "kafka", "--host", "127.0.0.1", "--kafka-port", "\(port)", "--data-dir", data.path]
        try #require(FileManager.default.createFile(atPath: log.path, contents: nil))
        let output = try FileHandle(forWritingTo: log)
        defer { try? output.close() }
        process.standardOutput = output
        process.standardError = output
        try process.run()
        self.process = process
        var configuration = KafkaConfiguration(bootstrapServers: [bootstrap])
        configuration.properties["log_level"] = "0"
        do {
            _ = try await eventuallySucceeding(within: .seconds(60)) {
                let admin = try KafkaAdmin(configuration: configuration, logger: Logger(label: "private-broker"))
                defer { admin.close() }
                _ = try await admin.listTopics(timeout: .seconds(2))
            }
        } catch {
            // Say why, when the broker itself gave up (e.g. its port was taken).
            let said = (try? String(contentsOf: log, encoding: .utf8)).map { String($0.suffix(2_000)) } ?? ""
            Issue.record("the private broker on \(bootstrap) did not answer; running: \(process.isRunning); its output:\n\(said)")
            throw error
        }
    }

    /// Kills it (SIGKILL: the broker dies, it does not shut down) and waits until it is gone.
    func stop() async {
        guard let process else { return }
        self.process = nil
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        let deadline = ContinuousClock.now + .seconds(30)
        while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
    }

    deinit {
        if let process, process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(at: data)
        try? FileManager.default.removeItem(at: log)
    }
}

/// `breakwater run` against the real broker, rules only, PostgreSQL unreachable; its
/// alerts topic is `signal-alerts-<suffix>`.
private func startWorker(
    bootstrap: String, port: Int? = nil, suffix: String = String(UUID().uuidString.prefix(8).lowercased())
) throws -> RunningBinary {
    let port = try port ?? freeLocalPort()
    return try RunningBinary(["run"], environment: [
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

    /// The worker is held stopped (SIGSTOP) while both signals are sent, so the second one
    /// provably comes while the first's graceful shutdown runs: with nothing in flight that
    /// shutdown ends in well under a second, and a second signal sent after it ended (the
    /// test being slow to see the first one's log line on a loaded machine) meets a process
    /// that is already exiting cleanly.
    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func aSecondSignalStopsAtOnce() async throws {
        let worker = try startWorker(bootstrap: try ExternalService.kafka.require())
        defer { worker.killIfRunning() }
        await worker.waitForLog("partitions assigned")
        worker.send(SIGSTOP)
        worker.send(SIGINT)
        worker.send(SIGTERM)
        worker.send(SIGCONT)
        _ = await worker.exitStatus()
        let log = worker.output
        #expect(log.contains("shutting down gracefully"))
        #expect(log.contains("stopping at once"))
    }

    /// The broker goes away and comes back empty (topics, offsets and the idempotent
    /// producer's state gone): the worker recreates its topics, is assigned the new input
    /// topic, replaces its producer (librdkafka fails it fatally on the unknown sequence
    /// numbers) and publishes the incidents of alerts sent afterwards, without a restart.
    @Test(.enabled(if: ExternalService.kafkaBroker.shouldRun), .timeLimit(.minutes(3)))
    func aWorkerRecoversWhenItsBrokerComesBackEmpty() async throws {
        let broker = try PrivateBroker(binary: try ExternalService.kafkaBroker.require())
        try await broker.startEmpty()
        let suffix = String(UUID().uuidString.prefix(8).lowercased())
        let worker = try startWorker(bootstrap: broker.bootstrap, suffix: suffix)
        defer { worker.killIfRunning() }
        await worker.waitForLog("partitions assigned")
        var configuration = KafkaConfiguration(bootstrapServers: [broker.bootstrap])
        configuration.properties["log_level"] = "0"
        let logger = Logger(label: "recovery-test")

        /// Sends `count` single-alert records (retrying while the topic is missing) and waits
        /// until the incidents topic holds at least `count` records.
        func sendAndAwaitIncidents(_ count: Int, seed: UInt64) async throws {
            let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(common: configuration), logger: logger)
            defer { Task { await producer.close() } }
            var samples = SampleAlerts(seed: seed)
            for _ in 0..<count {
                let record = samples.next(format: .alertmanagerAlert)
                _ = try await eventuallySucceeding(within: .seconds(90)) {
                    try await producer.send(topic: "signal-alerts-\(suffix)", key: record.key, value: record.value)
                }
            }
            _ = try await eventuallySucceeding(within: .seconds(90)) {
                let admin = try KafkaAdmin(configuration: configuration, logger: logger)
                defer { admin.close() }
                let marks = try await admin.watermarks(of: "signal-classified-\(suffix)", timeout: .seconds(5))
                let incidents = marks.values.reduce(Int64(0)) { $0 + $1.high - $1.low }
                guard incidents >= Int64(count) else { throw CancellationError() }
            }
        }

        try await sendAndAwaitIncidents(20, seed: 1)
        await broker.stop()
        try await broker.startEmpty()
        // The worker finds its input topic gone and creates it (before anything is sent: a
        // producer's metadata request would have this broker create it).
        await worker.waitForLog("the input topic is missing; creating the topics again")
        try await sendAndAwaitIncidents(20, seed: 2)
        #expect(worker.output.contains("the producer hit a fatal error; replaced it with a new one"))
        worker.send(SIGTERM)
        let status = await worker.exitStatus()
        #expect(status == 0, "exit status \(status.map(String.init) ?? "none (killed)"); the log's end:\n\(worker.output.suffix(60000))")
    }

    /// `breakwater ingest` on its own: it takes a PagerDuty event once the broker has it,
    /// and the first signal stops it cleanly.
    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func ingestAloneAcceptsAnEventAndStopsCleanly() async throws {
        let port = try freeLocalPort()
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
            "BREAKWATER_HTTP_PORT": "\(try freeLocalPort())",
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
        let port = try freeLocalPort()
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
