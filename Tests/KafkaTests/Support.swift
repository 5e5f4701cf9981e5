import Foundation
import Kafka
import Logging
import ServiceTestSupport
import Testing
import TriageTestSupport

/// Every test that talks to the real broker, run one at a time: each live consumer
/// costs the broker about a third of a core.
@Suite("Kafka against the real broker", .serialized, .timeLimit(.minutes(3)))
struct BrokerTests {}

/// Shared helpers for tests against the real broker scripts/kafka-up started.
enum TestKafka {
    static let logger: Logger = {
        var logger = Logger(label: "kafka-tests")
        logger.logLevel = ProcessInfo.processInfo.environment["KAFKA_TEST_LOG"] == "1" ? .debug : .warning
        return logger
    }()

    /// The broker's bootstrap address (`BREAKWATER_TEST_KAFKA_BOOTSTRAP`).
    static func bootstrap() throws -> String {
        try ExternalService.kafka.require()
    }

    static func common(_ bootstrap: String, properties: [String: String] = [:]) -> KafkaConfiguration {
        KafkaConfiguration(bootstrapServers: [bootstrap], clientID: "kafka-tests", properties: properties)
    }

    /// Creates a fresh topic and returns its name.
    static func createTopic(_ bootstrap: String, prefix: String, partitions: Int32 = 1) async throws -> String {
        let names = try await TestTopics.create([prefix], partitions: partitions, configuration: common(bootstrap), logger: logger)
        return names[0]
    }

    static func producer(_ bootstrap: String, _ configure: (inout KafkaProducerConfiguration) -> Void = { _ in }) throws -> KafkaProducer {
        var configuration = KafkaProducerConfiguration(common: common(bootstrap))
        configure(&configuration)
        return try KafkaProducer(configuration: configuration, logger: logger)
    }

    static func consumerConfiguration(
        _ bootstrap: String,
        group: String,
        _ configure: (inout KafkaConsumerConfiguration) -> Void = { _ in }
    ) -> KafkaConsumerConfiguration {
        var configuration = KafkaConsumerConfiguration(
            common: common(bootstrap),
            groupID: group,
            sessionTimeout: .seconds(10),
            heartbeatInterval: .seconds(1)
        )
        configure(&configuration)
        return configuration
    }

    static func bytes(_ string: String) -> [UInt8] { Array(string.utf8) }

    /// Reads events until `count` messages arrived (or `deadline` passes), marking
    /// each done when `markDone` is set.
    static func collect(
        _ consumer: KafkaConsumer,
        count: Int,
        markDone: Bool = true,
        deadline: Duration = .seconds(30)
    ) async throws -> [KafkaMessage] {
        let start = ContinuousClock.now
        var messages: [KafkaMessage] = []
        for try await event in consumer.events {
            if case .message(let message) = event {
                messages.append(message)
                if markDone { consumer.markDone(message) }
                if messages.count >= count { break }
            }
            if ContinuousClock.now - start > deadline { break }
        }
        return messages
    }
}

/// Per consumer, the partitions its event stream says it owns.
actor AssignmentWatcher {
    private(set) var owned: [Int: Set<KafkaTopicPartition>] = [:]
    private(set) var received: [Int: [KafkaMessage]] = [:]
    /// Revocations each member has seen.
    private(set) var revocations: [Int: Int] = [:]

    func apply(_ event: KafkaConsumerEvent, member: Int) {
        switch event {
        case .partitionsAssigned(let partitions): owned[member, default: []].formUnion(partitions)
        case .partitionsRevoked(let partitions, _):
            owned[member, default: []].subtract(partitions)
            revocations[member, default: 0] += 1
        case .message(let message): received[member, default: []].append(message)
        }
    }

    func forget(_ member: Int) { owned[member] = nil }

    /// Drives a consumer's event stream into the watcher until it ends, marking messages done.
    nonisolated func drive(_ consumer: KafkaConsumer, member: Int) -> Task<Void, Never> {
        Task {
            do {
                for try await event in consumer.events {
                    if case .message(let message) = event { consumer.markDone(message) }
                    await apply(event, member: member)
                }
            } catch {
                Issue.record("consumer \(member) failed: \(error)")
            }
        }
    }
}
