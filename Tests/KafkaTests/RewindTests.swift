@testable import Kafka
import ServiceTestSupport
import Locking
import Testing
import TriageTestSupport

extension BrokerTests {
    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func rewindRedeliversFromTheGivenOffsetAndStalesEarlierMessages() async throws {
        let bootstrap = try TestKafka.bootstrap()
        let topic = try await TestKafka.createTopic(bootstrap, prefix: "rewind")
        let producer = try TestKafka.producer(bootstrap)
        for index in 0..<6 { _ = try await producer.send(topic: topic, key: nil, value: TestKafka.bytes("\(index)")) }
        await producer.close()
        let configuration = TestKafka.consumerConfiguration(bootstrap, group: uniqueName("g")) { $0.offsetCommits = .manual }
        let consumer = try KafkaConsumer(configuration: configuration, topics: [topic], logger: TestKafka.logger)
        let partition = KafkaTopicPartition(topic: topic, partition: 0)

        let first = try await TestKafka.collect(consumer, count: 6)
        #expect(first.map(\.offset) == [0, 1, 2, 3, 4, 5])
        #expect(consumer.committableOffsets() == [partition: 6])
        #expect(first.allSatisfy { consumer.isCurrent($0) })

        try await consumer.rewind(to: [partition: 2, KafkaTopicPartition(topic: topic, partition: 9): 0])
        // Everything delivered before the rewind is stale; its marks no longer count.
        #expect(first.allSatisfy { !consumer.isCurrent($0) })
        #expect(consumer.committableOffsets().isEmpty)
        consumer.markDone(first[5])
        #expect(consumer.committableOffsets().isEmpty)

        let again = try await TestKafka.collect(consumer, count: 4)
        #expect(again.map(\.offset) == [2, 3, 4, 5])
        #expect(again.allSatisfy { consumer.isCurrent($0) })
        #expect(consumer.committableOffsets() == [partition: 6])
        await consumer.close()

        let closed = await #expect(throws: KafkaError.self) { try await consumer.rewind(to: [partition: 0]) }
        #expect(closed?.name == "_DESTROY")
    }

    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func revocationHookRunsBeforeThePartitionsAreGivenUp() async throws {
        let bootstrap = try TestKafka.bootstrap()
        let topic = try await TestKafka.createTopic(bootstrap, prefix: "revoking", partitions: 2)
        let group = uniqueName("g")
        // Eager: a member joining later makes the first one give up everything. (On
        // noida-db a late cooperative join stalls in the coordinator; see GroupTests.)
        let configuration = TestKafka.consumerConfiguration(bootstrap, group: group) {
            $0.offsetCommits = .manual
            $0.assignmentStrategy = .range
        }
        let first = try KafkaConsumer(configuration: configuration, topics: [topic], logger: TestKafka.logger)
        // What the hook saw: the revoked partitions, and whether they were still assigned.
        let calls = RevocationLog()
        first.onPartitionsRevoking { partitions, lost in
            let assigned = Set((try? first.assignment()) ?? [])
            calls.append(partitions.sorted(), stillAssigned: !lost && Set(partitions).isSubset(of: assigned))
        }
        let watcher = AssignmentWatcher()
        let driver = watcher.drive(first, member: 0)
        #expect(await eventually { await watcher.owned[0]?.count == 2 })

        let second = try KafkaConsumer(configuration: configuration, topics: [topic], logger: TestKafka.logger)
        let secondDriver = watcher.drive(second, member: 1)
        #expect(await eventually {
            let owned = await watcher.owned
            return owned[1]?.count == 1 && owned[0]?.count == 1
        })
        let seen = calls.entries
        #expect(seen.count == 1)
        #expect(seen.first?.partitions == [KafkaTopicPartition(topic: topic, partition: 0), KafkaTopicPartition(topic: topic, partition: 1)])
        #expect(seen.first?.stillAssigned == true)

        first.onPartitionsRevoking(nil)
        await first.close()
        await second.close()
        await driver.value
        await secondDriver.value
        #expect(calls.entries.count >= 1)
    }
}

/// What a revocation hook saw, per call.
private final class RevocationLog: Sendable {
    private let log = LockedValue<[(partitions: [KafkaTopicPartition], stillAssigned: Bool)]>([])

    func append(_ partitions: [KafkaTopicPartition], stillAssigned: Bool) {
        log.withLock { $0.append((partitions, stillAssigned)) }
    }

    var entries: [(partitions: [KafkaTopicPartition], stillAssigned: Bool)] { log.withLock { $0 } }
}
