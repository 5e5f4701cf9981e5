import CRdKafka
@testable import Kafka
import ServiceTestSupport
import Testing
import TriageTestSupport

extension BrokerTests {
    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func adminReadsAGroupsCommittedOffsetsWithoutJoiningIt() async throws {
        let bootstrap = try TestKafka.bootstrap()
        let topic = try await TestKafka.createTopic(bootstrap, prefix: "offsets", partitions: 2)
        let producer = try TestKafka.producer(bootstrap)
        for index in 0..<6 {
            _ = try await producer.send(topic: topic, key: nil, value: TestKafka.bytes("\(index)"), partition: Int32(index % 2))
        }
        await producer.close()
        let group = uniqueName("g")
        let partitions = [KafkaTopicPartition(topic: topic, partition: 0), KafkaTopicPartition(topic: topic, partition: 1)]
        let admin = try KafkaAdmin(configuration: TestKafka.common(bootstrap), logger: TestKafka.logger)
        defer { admin.close() }
        #expect(try await admin.committedOffsets(group: group, partitions: partitions).isEmpty, "a group that never committed has no offsets")

        let consumer = try KafkaConsumer(configuration: TestKafka.consumerConfiguration(bootstrap, group: group), topics: [topic], logger: TestKafka.logger)
        let read = try await TestKafka.collect(consumer, count: 6, markDone: false)
        // Partition 0 fully done, partition 1 only its first record.
        for message in read where message.partition == 0 || message.offset == 0 { consumer.markDone(message) }
        try await consumer.commit()
        // Read while the member is still in the group: reading does not disturb it.
        let offsets = try await admin.committedOffsets(group: group, partitions: partitions)
        #expect(offsets == [partitions[0]: 3, partitions[1]: 1])
        #expect(try consumer.assignment() == partitions)
        await consumer.close()
    }

    /// How long a reading may wait for a new group's coordinator on a loaded machine (the
    /// suite runs in parallel): a bound, not a timing check.
    static let coordinatorWait: Duration = .seconds(30)

    /// The group's backlog is read on every partition, whoever owns it: the same from a
    /// member that owns them all and from one that has not joined yet.
    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func uncommittedRecordsCountTheWholeGroupsBacklogWhoeverOwnsThePartitions() async throws {
        let bootstrap = try TestKafka.bootstrap()
        let topic = try await TestKafka.createTopic(bootstrap, prefix: "backlog", partitions: 2)
        let producer = try TestKafka.producer(bootstrap)
        for index in 0..<6 {
            _ = try await producer.send(topic: topic, key: nil, value: TestKafka.bytes("\(index)"), partition: Int32(index % 2))
        }
        await producer.close()
        let group = uniqueName("g")
        let owner = try KafkaConsumer(configuration: TestKafka.consumerConfiguration(bootstrap, group: group), topics: [topic], logger: TestKafka.logger)
        #expect(try await owner.uncommittedRecords(timeout: Self.coordinatorWait) == 6, "nothing committed, no partition owned yet")
        let read = try await TestKafka.collect(owner, count: 6, markDone: false)
        for message in read where message.partition == 0 || message.offset == 0 { owner.markDone(message) }
        try await owner.commit()
        #expect(try await owner.uncommittedRecords(timeout: Self.coordinatorWait) == 2, "partition 1's last two records")
        // Not polled, so never assigned anything: it reads the same backlog.
        let idle = try KafkaConsumer(configuration: TestKafka.consumerConfiguration(bootstrap, group: group), topics: [topic], logger: TestKafka.logger)
        #expect(try idle.assignment().isEmpty)
        #expect(try await idle.uncommittedRecords(timeout: Self.coordinatorWait) == 2)
        await idle.close()
        await owner.close()
        let closed = await #expect(throws: KafkaError.self) { try await owner.uncommittedRecords() }
        #expect(closed?.name == "_DESTROY")
    }
}

@Suite struct RecordRejectionTests {
    @Test func recordsTheClusterRefusesForGoodAreRejections() {
        for code in [RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED] {
            #expect(KafkaError(code: code).isRecordRejection, "\(KafkaError(code: code).name)")
        }
    }

    @Test func transientFailuresAreNotRejections() {
        for code in [RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR__DESTROY] {
            #expect(!KafkaError(code: code).isRecordRejection, "\(KafkaError(code: code).name)")
        }
    }
}
