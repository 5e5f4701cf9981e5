@testable import Kafka
import Testing
import TriageTestSupport

/// Behaviour the local broker cannot show, on librdkafka's in-process mock cluster.
@Suite("Kafka on librdkafka's mock cluster", .serialized, .timeLimit(.minutes(3)))
struct MockClusterTests {
    static func configuration(
        _ cluster: KafkaMockCluster,
        group: String,
        strategy: KafkaConsumerConfiguration.AssignmentStrategy = .cooperativeSticky
    ) -> KafkaConsumerConfiguration {
        var configuration = TestKafka.consumerConfiguration(cluster.bootstrapServers, group: group) {
            $0.assignmentStrategy = strategy
            $0.commitInterval = .seconds(3_600)
            $0.sessionTimeout = .seconds(6)
        }
        configuration.common.properties["topic.metadata.refresh.interval.ms"] = "1000"
        return configuration
    }

    @Test func survivorsTakeOverTheKilledMembersPartitionsAfterItsSessionTimesOut() async throws {
        let cluster = try KafkaMockCluster(logger: TestKafka.logger)
        let topic = uniqueName("evict")
        try cluster.createTopic(topic, partitions: 4)
        let all = Set((0..<4).map { KafkaTopicPartition(topic: topic, partition: Int32($0)) })
        let group = uniqueName("g")
        let watcher = AssignmentWatcher()
        let survivor = try KafkaConsumer(configuration: Self.configuration(cluster, group: group), topics: [topic], logger: TestKafka.logger)
        let victim = try KafkaConsumer(configuration: Self.configuration(cluster, group: group), topics: [topic], logger: TestKafka.logger)
        let survivorTask = watcher.drive(survivor, member: 0)
        let victimTask = watcher.drive(victim, member: 1)
        let shared = await eventually {
            let owned = await watcher.owned
            return owned[0]?.isEmpty == false && owned[1]?.isEmpty == false && (owned[0] ?? []).union(owned[1] ?? []) == all
        }
        #expect(shared)

        // Killed: no LeaveGroup, no commit. Only the session timeout reveals it.
        await victim.terminateWithoutLeavingGroup()
        await victimTask.value
        let takenOver = await eventually(within: .seconds(60)) { await watcher.owned[0] == all }
        #expect(takenOver)
        await survivor.close()
        await survivorTask.value
    }

    /// The consumer commits a revoked partition's done work before giving it up. Whether
    /// the broker takes that commit depends on it: Kafka accepts commits from the current
    /// generation while a rebalance is being prepared; librdkafka's mock cluster refuses
    /// them (REBALANCE_IN_PROGRESS) in some phases of its rebalance, and noida-db refuses
    /// them always (ILLEGAL_GENERATION). So this checks the guarantee that holds either
    /// way: the new owner starts right after the done work when the commit was taken, at
    /// the last committed offset (none here: 0) when not, and never skips a record.
    @Test func aMovedPartitionsNewOwnerStartsAfterTheCommittedWorkAndSkipsNothing() async throws {
        let cluster = try KafkaMockCluster(logger: TestKafka.logger)
        let topic = uniqueName("revoke")
        try cluster.createTopic(topic, partitions: 2)
        let producer = try TestKafka.producer(cluster.bootstrapServers)
        for partition in [Int32(0), 1] {
            for index in 0..<3 {
                _ = try await producer.send(topic: topic, key: nil, value: TestKafka.bytes("old-\(index)"), partition: partition)
            }
        }
        let configuration = Self.configuration(cluster, group: uniqueName("g"))
        let watcher = AssignmentWatcher()
        let first = try KafkaConsumer(configuration: configuration, topics: [topic], logger: TestKafka.logger)
        let firstTask = watcher.drive(first, member: 0)
        let readAll = await eventually { await watcher.received[0]?.count == 6 }
        #expect(readAll)

        // A second member joins: one partition moves, done work is committed first.
        let second = try KafkaConsumer(configuration: configuration, topics: [topic], logger: TestKafka.logger)
        let secondTask = watcher.drive(second, member: 1)
        let rebalanced = await eventually {
            let owned = await watcher.owned
            return owned[1]?.count == 1 && owned[0]?.count == 1
        }
        #expect(rebalanced)
        let moved = try #require(await watcher.owned[1]?.first)
        _ = try await producer.send(topic: topic, key: nil, value: TestKafka.bytes("new"), partition: moved.partition)
        let newOwnerRead = await eventually { await watcher.received[1]?.contains { $0.value == TestKafka.bytes("new") } == true }
        #expect(newOwnerRead)
        let received = await watcher.received[1] ?? []
        let offsets = received.map(\.offset)
        #expect(offsets == [3] || offsets == [0, 1, 2, 3], "the new owner read \(offsets)")
        #expect(received.last?.value == TestKafka.bytes("new"))

        await producer.close()
        await first.close()
        await second.close()
        await firstTask.value
        await secondTask.value
    }
}
