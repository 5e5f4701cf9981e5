import Foundation
import Kafka
import Logging
import Resilience
import ServiceLifecycle
import ServiceTestSupport
import Locking
import Testing
import Triage
import TriageTestSupport

/// The broker scripts/kafka-up started, with the clients and topics a test needs.
struct Broker {
    static let logger: Logger = {
        var logger = Logger(label: "pipeline-tests")
        logger.logLevel = ProcessInfo.processInfo.environment["PIPELINE_TEST_LOG"] == "1" ? .debug : .critical
        return logger
    }()

    /// The group's assignment strategy: eager `range` unless PIPELINE_TEST_STRATEGY names
    /// another. noida-db 0.2.3 never completes a cooperative-sticky rebalance when a member
    /// joins a group that already settled (the newcomer gets no assignment, not even an
    /// empty one), so the cooperative protocol cannot be tested against it.
    static let strategy = ProcessInfo.processInfo.environment["PIPELINE_TEST_STRATEGY"]
        .flatMap(KafkaConsumerConfiguration.AssignmentStrategy.init(rawValue:)) ?? .range

    let bootstrap: String
    let admin: KafkaAdmin

    init() throws {
        bootstrap = try ExternalService.kafka.require()
        admin = try KafkaAdmin(configuration: Self.common(bootstrap), logger: Self.logger)
    }

    /// noida-db answers fetches with everything up to the high watermark, whatever the
    /// fetch limits, so clients must accept large responses.
    static func common(_ bootstrap: String) -> KafkaConfiguration {
        KafkaConfiguration(bootstrapServers: [bootstrap], clientID: "pipeline-tests", properties: ["receive.message.max.bytes": "1000000000"])
    }

    /// Creates an alerts topic and the three output topics, all named uniquely.
    func makeTopics(
        _ prefix: String,
        alertPartitions: Int32,
        outputPartitions: Int32 = 3,
        alertConfigs: [String: String] = [:],
        classifiedConfigs: [String: String] = [:],
        deadLetterConfigs: [String: String] = [:]
    ) async throws -> PipelineTopics {
        let run = uniqueName(prefix)
        let topics = PipelineTopics(
            alerts: "\(run).alerts", classified: "\(run).incidents.classified",
            fallbackEvents: "\(run).incidents.fallback-events", deadLetter: "\(run).alerts.dlq"
        )
        try await admin.createTopics([
            KafkaTopicSpecification(name: topics.alerts, partitions: alertPartitions, configs: alertConfigs),
            KafkaTopicSpecification(name: topics.classified, partitions: outputPartitions, configs: classifiedConfigs),
            KafkaTopicSpecification(name: topics.fallbackEvents, partitions: outputPartitions),
            KafkaTopicSpecification(name: topics.deadLetter, partitions: outputPartitions, configs: deadLetterConfigs),
        ])
        return topics
    }

    func producer(_ configure: (inout KafkaProducerConfiguration) -> Void = { _ in }) throws -> KafkaProducer {
        var configuration = KafkaProducerConfiguration(common: Self.common(bootstrap), linger: .milliseconds(2))
        configure(&configuration)
        return try KafkaProducer(configuration: configuration, logger: Self.logger)
    }

    func consumer(group: String, topics: [String], properties: [String: String] = [:]) throws -> KafkaConsumer {
        var common = Self.common(bootstrap)
        common.properties.merge(properties) { $1 }
        let configuration = KafkaConsumerConfiguration(
            common: common, groupID: group, assignmentStrategy: Self.strategy, sessionTimeout: .seconds(10), heartbeatInterval: .seconds(1),
            commitInterval: .milliseconds(100)
        )
        return try KafkaConsumer(configuration: configuration, topics: topics, logger: Self.logger)
    }

    /// The group's committed offset of every partition of `topic` (partitions without one are absent).
    func committed(group: String, topic: String, partitions: Int32) async throws -> [Int32: Int64] {
        let offsets = try await admin.committedOffsets(
            group: group, partitions: (0..<partitions).map { KafkaTopicPartition(topic: topic, partition: $0) }
        )
        return Dictionary(uniqueKeysWithValues: offsets.map { ($0.key.partition, $0.value) })
    }

    /// Waits until `condition` holds on the group's committed offsets, at most `limit`.
    /// - Returns: the last offsets read.
    func waitForCommitted(
        group: String, topic: String, partitions: Int32, within limit: Duration = .seconds(30),
        until condition: ([Int32: Int64]) -> Bool
    ) async throws -> [Int32: Int64] {
        var offsets: [Int32: Int64] = [:]
        _ = try await eventually(within: limit, polling: .every(.milliseconds(100))) {
            offsets = try await committed(group: group, topic: topic, partitions: partitions)
            return condition(offsets)
        }
        return offsets
    }
}

// MARK: - Inputs

/// One produced input and what it must turn into.
struct ProducedInput: Sendable {
    /// Position in the produced list; its `traceparent` carries it, so every output names its input.
    let index: Int
    let sample: SampleRecord
    let headers: [RecordHeader]
    let partition: Int32
    let offset: Int64
    /// Fingerprint → how many incidents with it the input must produce (empty for malformed).
    let expectedIncidents: [String: Int]
    /// How many fallback events the input must produce.
    let expectedFallbacks: Int
    /// For an input the decoder rejects, the DLQ reason it must carry.
    let expectedDeadLetterReason: String?

    /// The same input with nothing required of it: its outputs are attributed when read
    /// (not reported as unknown), but none has to arrive. For an input whose outputs are
    /// only partly published at the time of reading.
    var withNothingRequired: ProducedInput {
        ProducedInput(
            index: index, sample: sample, headers: headers, partition: partition, offset: offset,
            expectedIncidents: [:], expectedFallbacks: 0, expectedDeadLetterReason: nil
        )
    }
}

enum Trace {
    /// A `traceparent` whose trace id is the input's index (plus one: all-zero ids are invalid).
    static func parent(for index: Int) -> String {
        let hex = String(index + 1, radix: 16)
        return "00-\(String(repeating: "0", count: 32 - hex.count))\(hex)-00000000000000a1-01"
    }

    /// The input index a record's `traceparent` names.
    static func index(in headers: [KafkaHeader]) -> Int? {
        guard let header = headers.last(where: { $0.name == "traceparent" }), let value = header.value,
              let text = String(validating: value, as: UTF8.self) else { return nil }
        let parts = text.split(separator: "-")
        guard parts.count == 4, let id = Int(parts[1], radix: 16) else { return nil }
        return id - 1
    }
}

/// Produces samples (each with its own `traceparent`) and works out, with the real
/// decoder, what each must turn into.
func produceInputs(
    _ samples: [SampleRecord], to topic: String, broker: Broker, firstIndex: Int = 0,
    producerConfiguration: (inout KafkaProducerConfiguration) -> Void = { _ in }
) async throws -> [ProducedInput] {
    let producer = try broker.producer(producerConfiguration)
    let reports = Locked<[Int: Result<KafkaDeliveryReport, KafkaError>]>([:])
    var prepared: [(sample: SampleRecord, headers: [RecordHeader], expected: [String: Int], fallbacks: Int, reason: String?)] = []
    for (offset, sample) in samples.enumerated() {
        let index = firstIndex + offset
        let headers = sample.headers.filter { $0.key.lowercased() != "traceparent" } + [RecordHeader("traceparent", Trace.parent(for: index))]
        var expected: [String: Int] = [:]
        var fallbacks = 0
        var reason: String?
        do {
            let alerts = try AlertDecoder().decode(InputRecord(value: sample.value, headers: headers), receivedAt: Date())
            for alert in alerts {
                expected[alert.fingerprint, default: 0] += 1
                if FixedClassification.fallsBack(alert) { fallbacks += 1 }
            }
        } catch {
            reason = error.reason.rawValue
        }
        prepared.append((sample, headers, expected, fallbacks, reason))
        let record = KafkaProducerRecord(
            topic: topic, key: sample.key, value: sample.value, headers: headers.map { KafkaHeader(name: $0.key, value: $0.value) }
        )
        try await producer.enqueue(record) { result in reports.withLock { $0[index] = result } }
    }
    try await producer.flush(timeout: .seconds(60))
    await producer.close()
    let delivered = reports.withLock { $0 }
    return try prepared.enumerated().map { offset, item in
        let index = firstIndex + offset
        let report = try #require(delivered[index]).get()
        return ProducedInput(
            index: index, sample: item.sample, headers: item.headers, partition: report.partition, offset: report.offset,
            expectedIncidents: item.expected, expectedFallbacks: item.fallbacks, expectedDeadLetterReason: item.reason
        )
    }
}

/// Per partition, one past the highest produced offset: where the group's commits must end up.
func endOffsets(of inputs: [ProducedInput]) -> [Int32: Int64] {
    var ends: [Int32: Int64] = [:]
    for input in inputs { ends[input.partition] = max(ends[input.partition] ?? 0, input.offset + 1) }
    return ends
}

/// Whether every partition's committed offset reached its end.
func reached(_ ends: [Int32: Int64], _ committed: [Int32: Int64]) -> Bool {
    ends.allSatisfy { committed[$0.key] ?? -1 >= $0.value }
}

// MARK: - Outputs

/// Everything read back from the output topics, attributed to the input that caused it.
struct Ledger: Sendable {
    /// Input index → fingerprint → incidents seen.
    var incidents: [Int: [String: Int]] = [:]
    var fallbacks: [Int: Int] = [:]
    var deadLetters: [Int: [KafkaMessage]] = [:]
    /// Problems found while reading (schema violations, wrong keys, unattributable records).
    var problems: [String] = []
    var complete: Set<Int> = []
    var incidentCount = 0
    var fallbackCount = 0
    /// Ids of the workers that wrote incidents.
    var workers: Set<String> = []
}

/// The JSON schemas of the output records, from deploy/schemas.
struct OutputSchemas: Sendable {
    let incident: JSONSchemaValidator
    let fallbackEvent: JSONSchemaValidator
    let deadLetterHeaders: JSONSchemaValidator

    init() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        func load(_ name: String) throws -> JSONSchemaValidator {
            try JSONSchemaValidator(schemaBytes: Array(try Data(contentsOf: root.appendingPathComponent("deploy/schemas/\(name)"))))
        }
        incident = try load("incident.schema.json")
        fallbackEvent = try load("fallback-event.schema.json")
        deadLetterHeaders = try load("dlq-headers.schema.json")
    }
}

/// Reads the three output topics from the beginning (a fresh group) until every input is
/// accounted for — its incidents and fallback events, or a dead letter — or `limit` passes.
func readOutputs(
    _ topics: PipelineTopics, inputs: [ProducedInput], broker: Broker, schemas: OutputSchemas, within limit: Duration = .seconds(90)
) async throws -> Ledger {
    let byIndex = Dictionary(uniqueKeysWithValues: inputs.map { ($0.index, $0) })
    let consumer = try broker.consumer(group: uniqueName("reader"), topics: [topics.classified, topics.fallbackEvents, topics.deadLetter])
    let ledger = Locked(Ledger())

    func isComplete(_ ledger: Ledger, _ input: ProducedInput) -> Bool {
        if input.expectedDeadLetterReason != nil { return !(ledger.deadLetters[input.index] ?? []).isEmpty }
        let seen = ledger.incidents[input.index] ?? [:]
        return input.expectedIncidents.allSatisfy { seen[$0.key] ?? 0 >= $0.value } && ledger.fallbacks[input.index] ?? 0 >= input.expectedFallbacks
    }

    func take(_ message: KafkaMessage) {
        let index = Trace.index(in: message.headers)
        let value = message.value ?? []
        var problem: String?
        var fingerprint: String?
        var workerID: String?
        switch message.topic {
        case topics.classified:
            do {
                let violations = try schemas.incident.validate(bytes: value)
                if !violations.isEmpty { problem = "incident violates the schema: \(violations)" }
                let incident = try IncidentRecord.decode(value)
                fingerprint = incident.alert.fingerprint
                workerID = incident.workerID
                if message.key != Array(incident.alert.fingerprint.utf8) { problem = "incident key is not its fingerprint" }
            } catch {
                problem = "unreadable incident: \(error)"
            }
        case topics.fallbackEvents:
            do {
                let violations = try schemas.fallbackEvent.validate(bytes: value)
                if !violations.isEmpty { problem = "fallback event violates the schema: \(violations)" }
                _ = try FallbackEventRecord.decode(value)
            } catch {
                problem = "unreadable fallback event: \(error)"
            }
        default:
            let fields = message.headers.filter { $0.name.hasPrefix(DeadLetter.Header.prefix) }
                .map { ($0.name, JSONValue.string($0.value.flatMap { String(validating: $0, as: UTF8.self) } ?? "")) }
            do {
                let violations = try schemas.deadLetterHeaders.validate(.object(Dictionary(fields, uniquingKeysWith: { $1 })))
                if !violations.isEmpty { problem = "DLQ headers violate the schema: \(violations)" }
            } catch {
                problem = "DLQ headers unreadable: \(error)"
            }
        }
        ledger.withLock { ledger in
            if let problem { ledger.problems.append("\(message.reference): \(problem)") }
            guard let index, let input = byIndex[index] else {
                ledger.problems.append("\(message.reference): names no produced input")
                return
            }
            switch message.topic {
            case topics.classified:
                if let fingerprint { ledger.incidents[index, default: [:]][fingerprint, default: 0] += 1 }
                if let workerID { ledger.workers.insert(workerID) }
                ledger.incidentCount += 1
            case topics.fallbackEvents:
                ledger.fallbacks[index, default: 0] += 1
                ledger.fallbackCount += 1
            default:
                ledger.deadLetters[index, default: []].append(message)
            }
            if isComplete(ledger, input) { ledger.complete.insert(index) }
        }
    }

    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            for try await event in consumer.events {
                guard case .message(let message) = event else { continue }
                take(message)
                consumer.markDone(message)
                if ledger.withLock({ $0.complete.count }) == inputs.count { return }
            }
        }
        // A deadline on reading, not a timing assertion: the checks below say what is missing.
        group.addTask { try await Task.sleep(for: limit) }
        try await group.next()
        group.cancelAll()
    }
    await consumer.close()
    return ledger.withLock { $0 }
}

/// Reads the DLQ topic from the beginning until `count` records arrived (or `limit` passes).
func readDeadLetters(_ topics: PipelineTopics, broker: Broker, count: Int, within limit: Duration = .seconds(60)) async throws -> [KafkaMessage] {
    let consumer = try broker.consumer(group: uniqueName("dlq-reader"), topics: [topics.deadLetter])
    let collected = Locked<[KafkaMessage]>([])
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            for try await event in consumer.events {
                guard case .message(let message) = event else { continue }
                if collected.withLock({ $0.append(message); return $0.count }) >= count { return }
            }
        }
        group.addTask { try await Task.sleep(for: limit) }
        try await group.next()
        group.cancelAll()
    }
    await consumer.close()
    return collected.withLock { $0 }
}

/// Checks every input is accounted for: the incidents of every alert it carried (by
/// fingerprint) and its fallback events, or a dead letter with the right reason, its
/// original bytes and where it came from. With `exactlyOnce`, duplicates fail too.
func expectAccounted(_ inputs: [ProducedInput], in ledger: Ledger, exactlyOnce: Bool, sourceLocation: SourceLocation = #_sourceLocation) {
    let problemCount = ledger.problems.count
    #expect(problemCount == 0, "\(ledger.problems.prefix(10))", sourceLocation: sourceLocation)
    var missing: [String] = []
    var duplicated: [String] = []
    for input in inputs {
        let seen = ledger.incidents[input.index] ?? [:]
        let letters = ledger.deadLetters[input.index] ?? []
        if let reason = input.expectedDeadLetterReason {
            if letters.isEmpty { missing.append("\(input.sample.name): no dead letter") }
            if letters.count > 1 { duplicated.append("\(input.sample.name): \(letters.count) dead letters") }
            if !seen.isEmpty { missing.append("\(input.sample.name): malformed, yet incidents") }
            for letter in letters {
                let headers = letter.headers.map { RecordHeader(key: $0.name, value: $0.value) }
                let dead = DeadLetter(headers: headers)
                if dead?.reason != reason { missing.append("\(input.sample.name): reason \(dead?.reason ?? "none"), want \(reason)") }
                if dead?.sourcePartition != input.partition || dead?.sourceOffset != input.offset {
                    missing.append("\(input.sample.name): DLQ names the wrong source")
                }
                if letter.value ?? [] != input.sample.value { missing.append("\(input.sample.name): DLQ value is not the original bytes") }
                if letter.key != input.sample.key { missing.append("\(input.sample.name): DLQ key is not the original key") }
                if Array(headers.prefix(input.headers.count)) != input.headers {
                    missing.append("\(input.sample.name): DLQ does not keep the original headers first")
                }
            }
        } else {
            if !letters.isEmpty { missing.append("\(input.sample.name): valid, yet dead-lettered") }
            for (fingerprint, count) in input.expectedIncidents {
                let got = seen[fingerprint] ?? 0
                if got < count { missing.append("\(input.sample.name): \(got)/\(count) incidents for \(fingerprint)") }
                if got > count { duplicated.append("\(input.sample.name): \(got)/\(count) incidents for \(fingerprint)") }
            }
            if seen.keys.contains(where: { input.expectedIncidents[$0] == nil }) { missing.append("\(input.sample.name): an incident for a foreign alert") }
            let fallbacks = ledger.fallbacks[input.index] ?? 0
            if fallbacks < input.expectedFallbacks { missing.append("\(input.sample.name): \(fallbacks)/\(input.expectedFallbacks) fallback events") }
            if fallbacks > input.expectedFallbacks { duplicated.append("\(input.sample.name): \(fallbacks)/\(input.expectedFallbacks) fallback events") }
        }
    }
    let (missingCount, duplicatedCount) = (missing.count, duplicated.count)
    #expect(missingCount == 0, "not accounted for, e.g. \(missing.prefix(10))", sourceLocation: sourceLocation)
    if exactlyOnce {
        #expect(duplicatedCount == 0, "duplicated, e.g. \(duplicated.prefix(10))", sourceLocation: sourceLocation)
    }
}

// MARK: - Workers

/// What a worker reported, in order.
final class WorkerLog: Sendable {
    private let recorded = LockedValue<(states: [PipelineWorkerState], events: [PipelineWorkerEvent])>(([], []))
    let stream: AsyncStream<PipelineWorkerEvent>
    private let sink: AsyncStream<PipelineWorkerEvent>.Continuation
    let stateStream: AsyncStream<PipelineWorkerState>
    private let stateSink: AsyncStream<PipelineWorkerState>.Continuation

    init() {
        (stream, sink) = AsyncStream.makeStream(of: PipelineWorkerEvent.self)
        (stateStream, stateSink) = AsyncStream.makeStream(of: PipelineWorkerState.self)
    }

    func record(_ state: PipelineWorkerState) {
        recorded.withLock { $0.states.append(state) }
        stateSink.yield(state)
    }

    func record(_ event: PipelineWorkerEvent) {
        recorded.withLock { $0.events.append(event) }
        sink.yield(event)
    }

    var states: [PipelineWorkerState] { recorded.withLock { $0.states } }
    var events: [PipelineWorkerEvent] { recorded.withLock { $0.events } }

    /// Waits for the first state matching `wanted`, at most `limit`; records an issue
    /// (with what the worker did report) when it does not come. One task at a time.
    func waitFor(
        _ wanted: PipelineWorkerState, within limit: Duration = Bounded.defaultLimit,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async {
        if states.contains(wanted) { return }
        await Bounded.wait("worker state \(wanted)", within: limit, context: summary, sourceLocation: sourceLocation) { () async -> Bool? in
            for await state in self.stateStream where state == wanted { return true }
            return nil
        }
    }

    /// Waits for the first event `matches` accepts (earlier ones count), at most `limit`;
    /// records an issue and returns `nil` when none comes. One task at a time.
    func waitForEvent(
        within limit: Duration = Bounded.defaultLimit, sourceLocation: SourceLocation = #_sourceLocation,
        _ matches: @escaping @Sendable (PipelineWorkerEvent) -> Bool
    ) async -> PipelineWorkerEvent? {
        if let seen = events.first(where: matches) { return seen }
        return await Bounded.wait("a worker event", within: limit, context: summary, sourceLocation: sourceLocation) {
            for await event in self.stream where matches(event) { return event }
            return nil
        }
    }

    /// The states and the last events, for failure messages.
    @Sendable func summary() -> String {
        "states \(states), last events \(events.suffix(8))"
    }
}

/// Waits with a deadline: a test that waits for something that never happens fails,
/// naming it, instead of hanging the whole run.
enum Bounded {
    /// Long enough for a loaded 2-core machine; a deadline, not a timing assertion.
    static let defaultLimit: Duration = .seconds(120)

    /// Runs `body` (which must end when cancelled) until it returns or `limit` passes;
    /// then cancels it, records an issue naming `what` and `context()`, and returns `nil`.
    @discardableResult
    static func wait<T: Sendable>(
        _ what: String, within limit: Duration = defaultLimit, context: @escaping @Sendable () -> String = { "" },
        sourceLocation: SourceLocation = #_sourceLocation,
        _ body: @escaping @Sendable () async -> T?
    ) async -> T? {
        let outcome: (value: T?, timedOut: Bool) = await withTaskGroup(of: (T?, Bool).self) { group in
            group.addTask { (await body(), false) }
            group.addTask {
                try? await Task.sleep(for: limit)
                return (nil, !Task.isCancelled)
            }
            let first = await group.next() ?? (nil, false)
            group.cancelAll()
            return first
        }
        if outcome.timedOut {
            Issue.record("waited \(limit) for \(what) in vain; \(context())", sourceLocation: sourceLocation)
        }
        return outcome.value
    }

    /// Waits until `clock` has `count` sleepers, at most `limit`.
    static func sleepers(
        _ count: Int, on clock: ManualClock, within limit: Duration = defaultLimit,
        context: @escaping @Sendable () -> String = { "" }, sourceLocation: SourceLocation = #_sourceLocation
    ) async {
        await wait("\(count) sleepers on the manual clock", within: limit, context: {
            "\(clock.sleeperCount) sleeping; \(context())"
        }, sourceLocation: sourceLocation) { () async -> Bool? in
            await clock.waitForSleepers(count: count)
            return clock.sleeperCount >= count ? true : nil
        }
    }
}

/// A worker running in its own ServiceGroup, as `breakwater run` runs it.
struct RunningWorker: Sendable {
    let worker: PipelineWorker
    let serviceGroup: ServiceGroup
    let log: WorkerLog
    let task: Task<Void, any Error>

    /// Starts a worker in `group` over `topics`.
    static func start(
        id: String,
        group: String,
        topics: PipelineTopics,
        broker: Broker,
        configure: (inout PipelineWorker.Configuration) -> Void = { _ in },
        producerConfiguration: (inout KafkaProducerConfiguration) -> Void = { _ in },
        consumerProperties: [String: String] = [:],
        classification: FixedClassification = FixedClassification(),
        clock: ManualClock? = nil
    ) throws -> RunningWorker {
        var configuration = PipelineWorker.Configuration(
            topics: topics, maxInFlight: 64, shutdownDeadline: .seconds(30), atLeastOnce: .init(publishBackoff: .milliseconds(20))
        )
        configure(&configuration)
        let processor = AlertProcessor(
            enrichment: FixedEnrichment(), classification: classification, dedup: FirstSightingDedup(), workerID: id
        )
        let log = WorkerLog()
        let consumer = try broker.consumer(group: group, topics: [topics.alerts], properties: consumerProperties)
        let producer = try broker.producer(producerConfiguration)
        var logger = Broker.logger
        logger[metadataKey: "worker"] = "\(id)"
        func worker<C: Clock>(on clock: C) -> PipelineWorker where C.Duration == Duration {
            PipelineWorker(
                configuration: configuration, consumer: consumer, delivery: .atLeastOnce(producer), processor: processor,
                logger: logger, clock: clock, onStateChange: { log.record($0) }, onEvent: { log.record($0) }
            )
        }
        let worker = if let clock { worker(on: clock) } else { worker(on: ContinuousClock()) }
        let serviceGroup = ServiceGroup(services: [worker], logger: logger)
        let task = Task { try await serviceGroup.run() }
        return RunningWorker(worker: worker, serviceGroup: serviceGroup, log: log, task: task)
    }

    /// Graceful shutdown (as on SIGTERM), then waits for the worker to stop.
    func stop() async throws {
        await serviceGroup.triggerGracefulShutdown()
        try await task.value
    }
}
