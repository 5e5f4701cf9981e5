import BreakwaterApp
import Foundation
import Kafka
import ServiceTestSupport
import Locking
import Testing
import Triage
import TriageTestSupport

/// `produce` and `tail` against the real broker scripts/kafka-up started. Serialized:
/// each live consumer costs the broker about a third of a core.
@Suite("produce and tail against the real broker", .serialized, .timeLimit(.minutes(3)))
struct ToolsKafkaTests {
    static let logger = toolLogger(label: "tools-tests")
    static let now = Date(timeIntervalSince1970: 1_795_947_330)

    /// The tools' client settings for the test broker (through the configuration, as the CLI does).
    static func kafka(_ bootstrap: String) -> KafkaConfiguration {
        var settings = KafkaSettings()
        settings.bootstrapServers = bootstrap
        return settings.clientConfiguration(clientID: "tools-tests")
    }

    /// Creates fresh topics (one per prefix) and returns their names.
    static func createTopics(_ bootstrap: String, _ prefixes: [String], partitions: Int32) async throws -> [String] {
        try await TestTopics.create(prefixes, partitions: partitions, configuration: kafka(bootstrap), logger: logger)
    }

    /// Deletes the topics a test created (clean-up: failures are ignored).
    static func deleteTopics(_ bootstrap: String, _ names: [String]) async {
        await TestTopics.delete(names, configuration: kafka(bootstrap), logger: logger)
    }

    /// A comparable picture of one record: key, value and headers.
    static func picture(key: [UInt8]?, value: [UInt8]?, headers: [(String, [UInt8]?)]) -> String {
        let hex = { (bytes: [UInt8]?) in bytes.map { $0.map { String(format: "%02x", $0) }.joined() } ?? "nil" }
        return "\(hex(key))|\(hex(value))|" + headers.map { "\($0.0)=\(hex($0.1))" }.joined(separator: ",")
    }

    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func producedSamplesAreAllOnTheTopicWithTheirKeysAndHeaders() async throws {
        let bootstrap = try ExternalService.kafka.require()
        let topics = try await Self.createTopics(bootstrap, ["tools-produce"], partitions: 3)
        defer { Task { await Self.deleteTopics(bootstrap, topics) } }
        let records = SampleBatch.records(count: 60, malformed: 4, seed: 11, now: Self.now)

        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(common: Self.kafka(bootstrap)), logger: Self.logger)
        let summary = await AlertProducerRun(topic: topics[0], clock: ContinuousClock()).send(records, to: producer)
        _ = await producer.close()
        #expect(summary.delivered == 64)
        #expect(summary.failed == 0, "\(summary.errors)")
        #expect(summary.malformed == 4)
        #expect(summary.alerts == records.map(\.alertCount).reduce(0, +))

        let consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(common: Self.kafka(bootstrap), groupID: "tools-test-\(UUID())", offsetCommits: .manual),
            topics: topics, logger: Self.logger)
        var read: [KafkaMessage] = []
        for try await event in consumer.events {
            if case .message(let message) = event { read.append(message) }
            if read.count == records.count { break }
        }
        _ = await consumer.close()

        let sent = records.map { Self.picture(key: $0.key, value: $0.value, headers: $0.headers.map { ($0.key, $0.value) }) }
        let received = read.map { Self.picture(key: $0.key, value: $0.value, headers: $0.headers.map { ($0.name, $0.value) }) }
        #expect(received.sorted() == sent.sorted())
        // Keyed records: one key, one partition, so updates of one alert stay in order.
        var partitionOfKey: [[UInt8]: Set<Int32>] = [:]
        for message in read { if let key = message.key { partitionOfKey[key, default: []].insert(message.partition) } }
        #expect(partitionOfKey.values.allSatisfy { $0.count == 1 })
        #expect(Set(read.map(\.partition)).count > 1)
    }

    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func tailReadsEveryOutputTopicUntilIdleAndByLimit() async throws {
        let bootstrap = try ExternalService.kafka.require()
        let names = try await Self.createTopics(bootstrap, ["tools-classified", "tools-fallback", "tools-dlq", "tools-repair"], partitions: 1)
        defer { Task { await Self.deleteTopics(bootstrap, names) } }
        var settings = TopicSettings()
        (settings.classified, settings.fallbackEvents, settings.deadLetter, settings.repair) = (names[0], names[1], names[2], names[3])
        let topics = settings

        let first = ToolsSummaryTests.incident("f1", .critical, .errors, .ml)
        let second = ToolsSummaryTests.incident("f2", .low, .capacity, .rules)
        let event = ToolsSummaryTests.fallback("classifier.ml", "rules", .circuitOpen)
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(common: Self.kafka(bootstrap)), logger: Self.logger)
        for incident in [first, first, second] {
            _ = try await producer.send(topic: topics.classified, key: incident.key, value: try incident.jsonBytes())
        }
        _ = try await producer.send(topic: topics.classified, key: nil, value: Array("garbage".utf8))
        for _ in 0..<2 { _ = try await producer.send(topic: topics.fallbackEvents, key: event.key, value: try event.jsonBytes()) }
        for reason in ["invalid_json", "invalid_json", "too_large"] {
            let headers = ToolsSummaryTests.deadLetterHeaders(reason).map { KafkaHeader(name: $0.key, value: $0.value) }
            _ = try await producer.send(topic: topics.deadLetter, key: Array("k".utf8), value: Array("{".utf8), headers: headers)
        }
        _ = await producer.close()

        let reader = OutputTopicReader(kafka: Self.kafka(bootstrap), clock: ContinuousClock(), logger: Self.logger)
        #expect(reader.groupID.hasPrefix("breakwater-tail-"))
        let collected = LockedValue<(summary: OutputSummary, rows: [TailRow])>((OutputSummary(), []))
        let outcome = try await reader.read(
            topics: OutputKind.allCases.map(topics.pipelineTopics.topic(for:)), fromBeginning: true, idleTimeout: .seconds(3)
        ) { message in
            guard let kind = topics.pipelineTopics.kind(of: message.topic) else { return }
            let record = PublishedRecord(kind: kind, value: message.value, headers: message.headers.map { RecordHeader(key: $0.name, value: $0.value) })
            collected.withLock { $0.summary.add(record); $0.rows.append(TailRow(record)) }
        }
        #expect(outcome.stop == .idle)
        #expect(outcome.records == 9)
        let (summary, rows) = collected.withLock { $0 }
        #expect(summary.incidents == 3)
        #expect(summary.distinctIncidents == 2)
        #expect(summary.incidentsByClassifier == ["ml": ["critical": 2], "rules": ["low": 1]])
        #expect(summary.fallbackEventsByBreaker == ["classifier.ml": ["rules": [FallbackEventReason.circuitOpen.rawValue: 2]]])
        #expect(summary.deadLettersByReason == ["invalid_json": 2, "too_large": 1])
        #expect(summary.unreadable == ["incident": 1])
        #expect(rows.filter { $0.kind == "incident" }.map(\.incidentID) == [first.incidentID, first.incidentID, second.incidentID])

        // A fresh group again (nothing was committed), so a limited read starts over.
        let limited = OutputTopicReader(kafka: Self.kafka(bootstrap), clock: ContinuousClock(), logger: Self.logger)
        #expect(limited.groupID != reader.groupID)
        let count = LockedValue(0)
        let stop = try await limited.read(topics: [topics.fallbackEvents], fromBeginning: true, limit: 2) { _ in count.withLock { $0 += 1 } }
        #expect(stop.stop == .limit)
        #expect(stop.records == 2)
        #expect(count.withLock { $0 } == 2)
    }

    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func theCommandsProduceAndSummarizeEndToEnd() async throws {
        let bootstrap = try ExternalService.kafka.require()
        let names = try await Self.createTopics(bootstrap, ["cli-alerts", "cli-empty", "cli-empty"], partitions: 2)
        defer { Task { await Self.deleteTopics(bootstrap, names) } }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tools-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let expectPath = directory.appendingPathComponent("expect.json").path
        let summaryPath = directory.appendingPathComponent("summary.json").path
        let environment = ["BREAKWATER_KAFKA_BOOTSTRAP_SERVERS": bootstrap]

        let produced = try breakwater(
            ["produce", "--count", "24", "--malformed", "3", "--seed", "5", "--topic", names[0], "--expect-file", expectPath],
            environment: environment)
        #expect(produced.status == 0, "\(produced.error)")
        #expect(produced.output.hasPrefix("sent 27/27 records to \(names[0]) ("))
        #expect(produced.error.contains("produce: 27/27 records (100%)"))  // not a terminal: plain lines
        let expectation = try JSONDecoder().decode(ProduceExpectation.self, from: Data(contentsOf: URL(fileURLWithPath: expectPath)))
        #expect(expectation.delivered == 27)
        #expect(expectation.malformed == 3)
        #expect(expectation.byFormat.count == InputFormat.allCases.count)

        // Read the alerts topic as if it were the DLQ: every record counts, none committed.
        let summarized = try breakwater(
            ["tail", "--summary", "--until-idle", "3", "--summary-json", summaryPath,
             "--set", "topics.deadLetter=\(names[0])", "--set", "topics.classified=\(names[1])",
             "--set", "topics.fallbackEvents=\(names[2])"],
            environment: environment)
        #expect(summarized.status == 0, "\(summarized.error)")
        #expect(summarized.output.contains("dead letters: 27"))
        let summary = try JSONDecoder().decode(OutputSummary.self, from: Data(contentsOf: URL(fileURLWithPath: summaryPath)))
        #expect(summary.deadLetters == 27)
        #expect(summary.deadLettersByReason == ["unknown": 27])
        #expect(summary.incidents == 0)

        // As dead letters, the valid records still carry their alerts: nothing is lost.
        #expect(summary.deadLetteredAlerts == expectation.alerts)
        #expect(summary.decodableDeadLetters == 24)
        let accounted = try breakwater(
            ["tail", "--until-idle", "3", "--expect", expectPath,
             "--set", "topics.deadLetter=\(names[0])", "--set", "topics.classified=\(names[1])",
             "--set", "topics.fallbackEvents=\(names[2])"],
            environment: environment)
        #expect(accounted.status == 0, "\(accounted.error)")
        #expect(accounted.output.contains("alerts sent: \(expectation.alerts) → incidents: 0 + \(expectation.alerts) dead-lettered"))
        #expect(accounted.output.hasSuffix("nothing lost\n"))

        // Read as fallback events, they are unreadable: every alert and dead letter is missing.
        let missing = try breakwater(
            ["tail", "--until-idle", "3", "--expect", expectPath,
             "--set", "topics.fallbackEvents=\(names[0])", "--set", "topics.classified=\(names[1])",
             "--set", "topics.deadLetter=\(names[2])"],
            environment: environment)
        #expect(missing.status == 1)
        #expect(missing.output.contains("unreadable records: 27"))
        #expect(missing.output.contains("MISSING: \(expectation.alerts) alerts, 3 dead letters"))
    }

    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func cancellingAReadEndsItWithTheRecordsSoFar() async throws {
        let bootstrap = try ExternalService.kafka.require()
        let names = try await Self.createTopics(bootstrap, ["tools-cancel"], partitions: 1)
        defer { Task { await Self.deleteTopics(bootstrap, names) } }
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(common: Self.kafka(bootstrap)), logger: Self.logger)
        _ = try await producer.send(topic: names[0], key: nil, value: Array("one".utf8))
        _ = await producer.close()

        let (arrivals, arrived) = AsyncStream<Void>.makeStream()
        let reader = OutputTopicReader(kafka: Self.kafka(bootstrap), clock: ContinuousClock(), logger: Self.logger)
        let read = Task {
            try await reader.read(topics: names, fromBeginning: true, idleTimeout: .seconds(600)) { _ in arrived.yield() }
        }
        for await _ in arrivals { break }
        read.cancel()
        let outcome = try await read.value
        #expect(outcome.stop == .ended)
        #expect(outcome.records == 1)
    }

    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func aReadOfTopicsThatNeverGetAssignedEndsAsNotAssigned() async throws {
        let bootstrap = try ExternalService.kafka.require()
        let reader = OutputTopicReader(kafka: Self.kafka(bootstrap), clock: ContinuousClock(), logger: Self.logger)
        let outcome = try await reader.read(
            topics: [uniqueName("tools-missing")], fromBeginning: true,
            idleTimeout: .seconds(1), joinTimeout: .seconds(2)) { _ in }
        #expect(outcome.stop == .notAssigned)
        #expect(outcome.records == 0)
    }

    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func aRecordTheBrokerRefusesFailsTheRun() async throws {
        let bootstrap = try ExternalService.kafka.require()
        let names = try await Self.createTopics(bootstrap, ["cli-too-large"], partitions: 1)
        defer { Task { await Self.deleteTopics(bootstrap, names) } }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("too-large-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: file) }
        let huge = "\"" + String(repeating: "x", count: 3 << 20) + "\""
        try Data("{\"ok\":true}\n\(huge)\n".utf8).write(to: file)

        let result = try breakwater(["produce", "--file", file.path, "--topic", names[0], "--no-progress"],
                                    environment: ["BREAKWATER_KAFKA_BOOTSTRAP_SERVERS": bootstrap])
        #expect(result.status == 1)
        #expect(result.output.hasPrefix("sent 1/2 records to \(names[0]) (0 alerts, 1 malformed), 1 failed"))
        #expect(result.error.contains("1 × "))
    }
}

@Suite("produce and tail: command-line checks")
struct ToolsCommandTests {
    @Test func aFileWithInvalidLinesIsRefusedWithTheirLineNumbers() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("invalid-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data("{\"ok\":1}\n\n{broken\n".utf8).write(to: file)
        // No broker is reachable here: the file is checked before anything connects.
        let result = try breakwater(["produce", "--file", file.path], environment: ["BREAKWATER_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"])
        #expect(result.status == 65)
        #expect(result.error.contains("\(file.path):3: not valid JSON"))
        #expect(result.error.contains("nothing was sent"))
        #expect(result.output.isEmpty)
    }

    @Test func anUnreachableBrokerFailsEveryRecordAndTheRun() throws {
        let result = try breakwater(
            ["produce", "--count", "4", "--no-progress", "--set", "kafka.properties.message.timeout.ms=1000"],
            environment: ["BREAKWATER_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"])
        #expect(result.status == 1)
        #expect(result.output.hasPrefix("sent 0/4 records to alerts (0 alerts, 0 malformed), 4 failed"))
        #expect(result.error.contains("4 × KafkaError _MSG_TIMED_OUT (-192)"))
    }

    @Test(arguments: [
        (["produce"], "give exactly one of --file <file> or --count <N>"),
        (["produce", "--count", "0"], "nothing to send"),
        (["produce", "--file", "x", "--malformed", "2"], "only apply to generated samples"),
        (["produce", "--count", "3", "--formats", "nagios"], "unknown format 'nagios'"),
        (["tail", "--summary"], "--summary needs --until-idle"),
        (["tail", "--until-idle", "0"], "--until-idle must be a positive number"),
    ])
    func badArgumentsAreRejected(arguments: [String], message: String) throws {
        let result = try breakwater(arguments, environment: ["BREAKWATER_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"])
        #expect(result.status != 0)
        #expect(result.error.contains(message), "\(result.error)")
    }
}
