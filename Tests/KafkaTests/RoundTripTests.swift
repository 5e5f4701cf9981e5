import Kafka
import ServiceTestSupport
import Testing
import TriageTestSupport

extension BrokerTests {
    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func createdTopicIsListedAndDescribedWithItsConfigs() async throws {
        let bootstrap = try TestKafka.bootstrap()
        let admin = try KafkaAdmin(configuration: TestKafka.common(bootstrap), logger: TestKafka.logger)
        defer { admin.close() }
        let name = uniqueName("admin")
        try await admin.createTopics([
            KafkaTopicSpecification(name: name, partitions: 3, configs: ["cleanup.policy": "compact"]),
        ])
        #expect(try await admin.listTopics().contains(name))
        let description = try #require(try await admin.describeTopics([name]).first)
        #expect(description.partitions.map(\.id) == [0, 1, 2])
        #expect(description.configs["cleanup.policy"] == "compact")

        // Creating it again is an error naming the topic, unless asked to ignore it.
        let error = await #expect(throws: KafkaError.self) {
            try await admin.createTopics([KafkaTopicSpecification(name: name, partitions: 3)])
        }
        #expect(error?.name == "TOPIC_ALREADY_EXISTS")
        #expect(error?.text.contains(name) == true)
        try await admin.createTopics([KafkaTopicSpecification(name: name, partitions: 3)], ignoreExisting: true)
    }

    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func recordsRoundTripWithKeysAndBinaryHeaders() async throws {
        let bootstrap = try TestKafka.bootstrap()
        let topic = try await TestKafka.createTopic(bootstrap, prefix: "roundtrip", partitions: 2)
        let producer = try TestKafka.producer(bootstrap)
        let binary: [UInt8] = [0x00, 0xFF, 0x10, 0x00, 0x7F]
        var reports: [KafkaDeliveryReport] = []
        for index in 0..<4 {
            reports.append(try await producer.send(
                topic: topic,
                key: TestKafka.bytes("key-\(index)"),
                value: TestKafka.bytes("value-\(index)"),
                headers: [KafkaHeader(name: "bin", value: binary), KafkaHeader(name: "empty", value: nil)]
            ))
        }
        // A tombstone: key, no value.
        reports.append(try await producer.send(topic: topic, key: TestKafka.bytes("key-0"), value: nil))
        await producer.close()
        #expect(reports.allSatisfy { $0.topic == topic && $0.offset >= 0 && (0..<2).contains($0.partition) })

        let consumer = try KafkaConsumer(
            configuration: TestKafka.consumerConfiguration(bootstrap, group: uniqueName("g")),
            topics: [topic],
            logger: TestKafka.logger
        )
        let messages = try await TestKafka.collect(consumer, count: 5)
        await consumer.close()

        #expect(messages.count == 5)
        let values = messages.filter { $0.value != nil }
        #expect(Set(values.compactMap(\.key).map { String(decoding: $0, as: UTF8.self) }) == ["key-0", "key-1", "key-2", "key-3"])
        for message in values {
            let key = String(decoding: message.key ?? [], as: UTF8.self)
            #expect(message.value == TestKafka.bytes(key.replacingOccurrences(of: "key", with: "value")))
            #expect(message.headers == [KafkaHeader(name: "bin", value: binary), KafkaHeader(name: "empty", value: nil)])
            #expect(message.topic == topic)
            #expect((message.timestamp?.milliseconds ?? 0) > 0)
            let report = try #require(reports.first { $0.partition == message.partition && $0.offset == message.offset })
            #expect(report.topic == topic)
        }
        let tombstone = try #require(messages.first { $0.value == nil })
        #expect(tombstone.key == TestKafka.bytes("key-0"))
        #expect(tombstone.headers.isEmpty)
    }
}
