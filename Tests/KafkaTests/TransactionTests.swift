@testable import Kafka
import ServiceTestSupport
import Testing
import TriageTestSupport

extension BrokerTests {
    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func committedTransactionIsVisibleAndAbortedOneIsNot() async throws {
        let bootstrap = try TestKafka.bootstrap()
        let topic = try await TestKafka.createTopic(bootstrap, prefix: "txn")
        let transactional = try KafkaTransactionalProducer(
            configuration: KafkaProducerConfiguration(common: TestKafka.common(bootstrap)),
            transactionalID: uniqueName("tx"),
            logger: TestKafka.logger
        )
        try await transactional.initTransactions()
        for (batch, commit) in [("a", true), ("b", false), ("c", true)] {
            try await transactional.beginTransaction()
            for index in 0..<2 {
                _ = try await transactional.producer.send(topic: topic, key: nil, value: TestKafka.bytes("\(batch)\(index)"))
            }
            if commit {
                try await transactional.commitTransaction()
            } else {
                try await transactional.abortTransaction()
            }
        }
        await transactional.close()

        let consumer = try KafkaConsumer(
            configuration: TestKafka.consumerConfiguration(bootstrap, group: uniqueName("g")),
            topics: [topic],
            logger: TestKafka.logger
        )
        let messages = try await TestKafka.collect(consumer, count: 4)
        await consumer.close()
        #expect(messages.compactMap(\.value).map { String(decoding: $0, as: UTF8.self) } == ["a0", "a1", "c0", "c1"])
    }

    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func consumedOffsetsCommitWithTheTransaction() async throws {
        let bootstrap = try TestKafka.bootstrap()
        let input = try await TestKafka.createTopic(bootstrap, prefix: "eos-in")
        let output = try await TestKafka.createTopic(bootstrap, prefix: "eos-out")
        let producer = try TestKafka.producer(bootstrap)
        for index in 0..<4 { _ = try await producer.send(topic: input, key: nil, value: TestKafka.bytes("\(index)")) }
        await producer.close()
        let configuration = TestKafka.consumerConfiguration(bootstrap, group: uniqueName("g")) { $0.offsetCommits = .manual }
        let transactional = try KafkaTransactionalProducer(
            configuration: KafkaProducerConfiguration(common: TestKafka.common(bootstrap)),
            transactionalID: uniqueName("tx"),
            logger: TestKafka.logger
        )
        try await transactional.initTransactions()

        let consumer = try KafkaConsumer(configuration: configuration, topics: [input], logger: TestKafka.logger)
        let read = try await TestKafka.collect(consumer, count: 4, markDone: false)
        try await transactional.beginTransaction()
        for message in read.prefix(3) {
            _ = try await transactional.producer.send(topic: output, key: nil, value: message.value)
            consumer.markDone(message)
        }
        let offsets = consumer.committableOffsets()
        #expect(offsets == [KafkaTopicPartition(topic: input, partition: 0): 3])
        try await transactional.sendOffsetsToTransaction(offsets, groupMetadata: try consumer.groupMetadata())
        try await transactional.commitTransaction()
        consumer.offsetsCommitted(offsets)
        #expect(consumer.committableOffsets().isEmpty)
        // Manual mode: close commits nothing, so offset 3 is read again.
        await consumer.close()
        await transactional.close()

        let restarted = try KafkaConsumer(configuration: configuration, topics: [input], logger: TestKafka.logger)
        let rest = try await TestKafka.collect(restarted, count: 1)
        await restarted.close()
        #expect(rest.map(\.offset) == [3])
    }

    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func fencedProducerFailsFatally() async throws {
        let bootstrap = try TestKafka.bootstrap()
        let topic = try await TestKafka.createTopic(bootstrap, prefix: "fence")
        let id = uniqueName("tx")
        let configuration = KafkaProducerConfiguration(common: TestKafka.common(bootstrap))
        let old = try KafkaTransactionalProducer(configuration: configuration, transactionalID: id, logger: TestKafka.logger)
        try await old.initTransactions()
        try await old.beginTransaction()
        _ = try await old.producer.send(topic: topic, key: nil, value: [1])

        let new = try KafkaTransactionalProducer(configuration: configuration, transactionalID: id, logger: TestKafka.logger)
        try await new.initTransactions()

        let error = await #expect(throws: KafkaError.self) { try await old.commitTransaction() }
        #expect(error?.isFatal == true)
        #expect(error?.isFenced == true)
        // Fatal is final: every later call fails the same way.
        let again = await #expect(throws: KafkaError.self) { try await old.beginTransaction() }
        #expect(again?.isFatal == true)
        await old.close(flushTimeout: .zero)

        try await new.beginTransaction()
        _ = try await new.producer.send(topic: topic, key: nil, value: [2])
        try await new.commitTransaction()
        await new.close()
    }
}
