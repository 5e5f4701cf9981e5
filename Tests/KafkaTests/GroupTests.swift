@testable import Kafka
import Resilience
import ServiceTestSupport
import Testing
import TriageTestSupport

extension BrokerTests {
    @Test(
        .enabled(if: ExternalService.kafka.shouldRun),
        arguments: [KafkaConsumerConfiguration.AssignmentStrategy.cooperativeSticky, .range]
    )
    func threeMembersSharePartitionsAndSurvivorsTakeOverOnClose(strategy: KafkaConsumerConfiguration.AssignmentStrategy) async throws {
        let bootstrap = try TestKafka.bootstrap()
        let topic = try await TestKafka.createTopic(bootstrap, prefix: "group", partitions: 6)
        let all = Set((0..<6).map { KafkaTopicPartition(topic: topic, partition: Int32($0)) })
        let group = uniqueName("g")
        let watcher = AssignmentWatcher()
        var consumers: [KafkaConsumer] = []
        var tasks: [Task<Void, Never>] = []
        for member in 0..<3 {
            let consumer = try KafkaConsumer(
                configuration: TestKafka.consumerConfiguration(bootstrap, group: group) { $0.assignmentStrategy = strategy },
                topics: [topic],
                logger: TestKafka.logger
            )
            consumers.append(consumer)
            tasks.append(watcher.drive(consumer, member: member))
        }

        let shared = await eventually {
            let owned = await watcher.owned
            let sets = (0..<3).map { owned[$0] ?? [] }
            let disjoint = sets[0].isDisjoint(with: sets[1]) && sets[0].isDisjoint(with: sets[2]) && sets[1].isDisjoint(with: sets[2])
            return disjoint && sets.allSatisfy { !$0.isEmpty } && sets.reduce(into: Set()) { $0.formUnion($1) } == all
        }
        let ownedByThree = await watcher.owned
        #expect(shared, "three members should each own some of the 6 partitions: \(ownedByThree)")

        await consumers[2].close()
        await tasks[2].value
        await watcher.forget(2)
        let takenOver = await eventually {
            let owned = await watcher.owned
            let first = owned[0] ?? []
            let second = owned[1] ?? []
            return first.isDisjoint(with: second) && first.union(second) == all
        }
        let ownedByTwo = await watcher.owned
        #expect(takenOver, "the two survivors should own all 6 partitions: \(ownedByTwo)")

        for consumer in consumers.prefix(2) { await consumer.close() }
        for task in tasks { await task.value }
    }

    /// Static membership (`group.instance.id`): a member killed and started again with the
    /// same instance id within the session timeout gets its own partitions back, and the
    /// other member keeps its partitions throughout: the group is not rebalanced. (The
    /// local broker supports it; librdkafka's mock cluster, Debian's 2.0.2 as well as
    /// 2.16's, rebalances the whole group instead, so this runs here.)
    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func aStaticMemberRestartedWithinTheSessionTimeoutGetsItsPartitionsBackWithoutARebalance() async throws {
        let bootstrap = try TestKafka.bootstrap()
        let topic = try await TestKafka.createTopic(bootstrap, prefix: "static", partitions: 4)
        let all = Set((0..<4).map { KafkaTopicPartition(topic: topic, partition: Int32($0)) })
        let group = uniqueName("g")
        let configuration = { (instance: String) in
            TestKafka.consumerConfiguration(bootstrap, group: group) {
                $0.assignmentStrategy = .range
                $0.groupInstanceID = instance
                $0.sessionTimeout = .seconds(30)
            }
        }
        let watcher = AssignmentWatcher()
        let survivor = try KafkaConsumer(configuration: configuration("worker-a"), topics: [topic], logger: TestKafka.logger)
        let survivorTask = watcher.drive(survivor, member: 0)
        let victim = try KafkaConsumer(configuration: configuration("worker-b"), topics: [topic], logger: TestKafka.logger)
        let victimTask = watcher.drive(victim, member: 1)
        let shared = await eventually {
            let owned = await watcher.owned
            return owned[0]?.isEmpty == false && owned[1]?.isEmpty == false && (owned[0] ?? []).union(owned[1] ?? []) == all
        }
        try #require(shared)
        let (survivorsShare, victimsShare, survivorsRevocations) = await (watcher.owned[0], watcher.owned[1], watcher.revocations[0])

        await victim.terminateWithoutLeavingGroup()
        await victimTask.value
        let restarted = try KafkaConsumer(configuration: configuration("worker-b"), topics: [topic], logger: TestKafka.logger)
        let restartedTask = watcher.drive(restarted, member: 2)
        // Well within the 30 s session timeout: only static membership explains it.
        let back = await eventually(within: .seconds(20)) { await watcher.owned[2] == victimsShare }
        let (restartedOwns, survivorOwns, survivorRevocations) = await (watcher.owned[2], watcher.owned[0], watcher.revocations[0])
        #expect(back, "the restarted member owns \(restartedOwns ?? [])")
        #expect(survivorRevocations == survivorsRevocations, "the survivor was not rebalanced")
        #expect(survivorOwns == survivorsShare)
        await restarted.close()
        await restartedTask.value
        await survivor.close()
        await survivorTask.value
    }

    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func restartedConsumerResumesRightAfterItsLastCommit() async throws {
        let bootstrap = try TestKafka.bootstrap()
        let topic = try await TestKafka.createTopic(bootstrap, prefix: "resume")
        let producer = try TestKafka.producer(bootstrap)
        for index in 0..<10 {
            _ = try await producer.send(topic: topic, key: nil, value: TestKafka.bytes("\(index)"))
        }
        await producer.close()
        let configuration = TestKafka.consumerConfiguration(bootstrap, group: uniqueName("g"))

        let first = try KafkaConsumer(configuration: configuration, topics: [topic], logger: TestKafka.logger)
        let read = try await TestKafka.collect(first, count: 10, markDone: false)
        #expect(read.map(\.offset) == Array(0..<10))
        // Offsets 0...5 done, 6...9 still in progress when the worker stops.
        for message in read.prefix(6) { first.markDone(message) }
        await first.close()

        let second = try KafkaConsumer(configuration: configuration, topics: [topic], logger: TestKafka.logger)
        let reread = try await TestKafka.collect(second, count: 4)
        await second.close()
        #expect(reread.map(\.offset) == [6, 7, 8, 9])
    }

    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func outOfOrderCompletionNeverCommitsPastUnfinishedWork() async throws {
        let bootstrap = try TestKafka.bootstrap()
        let topic = try await TestKafka.createTopic(bootstrap, prefix: "order")
        let partition = KafkaTopicPartition(topic: topic, partition: 0)
        let producer = try TestKafka.producer(bootstrap)
        for index in 0..<5 {
            _ = try await producer.send(topic: topic, key: nil, value: TestKafka.bytes("\(index)"))
        }
        await producer.close()
        let configuration = TestKafka.consumerConfiguration(bootstrap, group: uniqueName("g"))

        let first = try KafkaConsumer(configuration: configuration, topics: [topic], logger: TestKafka.logger)
        let read = try await TestKafka.collect(first, count: 5, markDone: false)
        #expect(read.count == 5)
        // 4, 3, 2 and 0 finish; 1 is still running.
        for index in [4, 3, 2, 0] { first.markDone(read[index]) }
        #expect(first.committableOffsets() == [partition: 1])
        try await first.commit()
        #expect(first.committableOffsets().isEmpty)
        await first.close()

        // Only offset 0 was committed as done: 1...4 come again (at-least-once).
        let second = try KafkaConsumer(configuration: configuration, topics: [topic], logger: TestKafka.logger)
        let reread = try await TestKafka.collect(second, count: 4, markDone: false)
        #expect(reread.map(\.offset) == [1, 2, 3, 4])
        second.markDone(reread[0])
        #expect(second.committableOffsets() == [partition: 2])
        for message in reread { second.markDone(message) }
        #expect(second.committableOffsets() == [partition: 5])
        await second.close()
    }

    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func pausedPartitionIsNotFetchedUntilResumed() async throws {
        let bootstrap = try TestKafka.bootstrap()
        let topic = try await TestKafka.createTopic(bootstrap, prefix: "pause", partitions: 2)
        let paused = KafkaTopicPartition(topic: topic, partition: 0)
        let producer = try TestKafka.producer(bootstrap)
        for partition in [Int32(0), 1] {
            _ = try await producer.send(topic: topic, key: nil, value: TestKafka.bytes("before"), partition: partition)
        }
        let consumer = try KafkaConsumer(
            configuration: TestKafka.consumerConfiguration(bootstrap, group: uniqueName("g")),
            topics: [topic],
            logger: TestKafka.logger
        )
        var seen: [KafkaMessage] = []
        var resumed = false
        for try await event in consumer.events {
            switch event {
            case .partitionsAssigned(let partitions):
                // Paused before the first fetch.
                if partitions.contains(paused) { try consumer.pause([paused]) }
            case .partitionsRevoked:
                break
            case .message(let message):
                seen.append(message)
                consumer.markDone(message)
                if message.partition == 1, message.value == TestKafka.bytes("before") {
                    // A marker behind the paused partition's record, on the running one.
                    _ = try await producer.send(topic: topic, key: nil, value: TestKafka.bytes("marker"), partition: 1)
                } else if message.value == TestKafka.bytes("marker") {
                    #expect(!seen.contains { $0.partition == 0 }, "a paused partition was fetched")
                    try consumer.resume([paused])
                    resumed = true
                }
            }
            if resumed, seen.contains(where: { $0.partition == 0 }) { break }
        }
        #expect(resumed)
        #expect(seen.filter { $0.partition == 0 }.map(\.value) == [TestKafka.bytes("before")])
        await producer.close()
        await consumer.close()
    }

    /// A topic of one partition holding "a", its producer, and a consumer of it in `group`
    /// that rests an idle partition for `backoff` on the returned clock (no commit timer:
    /// the rests are the clock's only sleepers).
    private static func restingConsumer(
        prefix: String, backoff: Duration, group: String
    ) async throws -> (topic: String, producer: KafkaProducer, consumer: KafkaConsumer, clock: ManualClock) {
        let bootstrap = try TestKafka.bootstrap()
        let topic = try await TestKafka.createTopic(bootstrap, prefix: prefix)
        let producer = try TestKafka.producer(bootstrap)
        _ = try await producer.send(topic: topic, key: nil, value: TestKafka.bytes("a"), partition: 0)
        let clock = ManualClock()
        let consumer = try KafkaConsumer(
            configuration: TestKafka.consumerConfiguration(bootstrap, group: group) {
                $0.idleFetchBackoff = backoff
                $0.offsetCommits = .manual
            },
            topics: [topic],
            logger: TestKafka.logger,
            clock: clock
        )
        return (topic, producer, consumer, clock)
    }

    /// Reads `consumer`'s messages (marking each done) into a stream of their values as
    /// text, which finishes when the returned task ends.
    private static func readValues(of consumer: KafkaConsumer) -> (reader: Task<Void, any Error>, values: AsyncStream<String>) {
        let (values, delivered) = AsyncStream.makeStream(of: String.self)
        let reader = Task {
            defer { delivered.finish() }
            for try await event in consumer.events {
                guard case .message(let message) = event else { continue }
                consumer.markDone(message)
                delivered.yield(String(decoding: message.value ?? [], as: UTF8.self))
            }
        }
        return (reader, values)
    }

    /// The local broker answers an empty fetch at once: with `idleFetchBackoff` a partition
    /// whose end was reached is not fetched until its rest ends on the consumer's clock,
    /// then fetched again (a record produced meanwhile arrives) and, at its end again,
    /// rested again; an owner's pause outlasts a rest.
    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func aPartitionAtItsEndRestsThenIsFetchedAgainAndAnOwnersPauseOutlastsTheRest() async throws {
        let (topic, producer, consumer, clock) = try await Self.restingConsumer(prefix: "rest", backoff: .seconds(1), group: uniqueName("g"))
        let partition = KafkaTopicPartition(topic: topic, partition: 0)
        let (reader, values) = Self.readValues(of: consumer)
        var arrived = values.makeAsyncIterator()
        #expect(await arrived.next() == "a")
        await clock.waitForSleepers(count: 1)
        #expect(consumer.restingPartitions == [partition])

        _ = try await producer.send(topic: topic, key: nil, value: TestKafka.bytes("b"), partition: 0)
        clock.advance(by: .seconds(1))
        #expect(await arrived.next() == "b")
        await clock.waitForSleepers(count: 1)
        #expect(consumer.restingPartitions == [partition], "the end reached again starts another rest")
        // A rest ends with a seek to where it rested: still empty there, the end is
        // reached again (librdkafka reports it again after the seek) and rests again.
        clock.advance(by: .seconds(1))
        await clock.waitForSleepers(count: 1)
        #expect(consumer.restingPartitions == [partition], "an idle partition rests again after its seek")
        #expect(try consumer.lag().first?.position == 2, "where it rests, though the seek made librdkafka forget it")

        try consumer.pause([partition])
        clock.advance(by: .seconds(1))
        #expect(await eventually(polling: .yielding) { consumer.restingPartitions.isEmpty })
        _ = try await producer.send(topic: topic, key: nil, value: TestKafka.bytes("c"), partition: 0)
        try consumer.resume([partition])
        #expect(await arrived.next() == "c")

        reader.cancel()
        await producer.close()
        await consumer.close()
        #expect(await arrived.next() == nil, "each record delivered once across the rests and their seeks")
    }

    /// A rewind of a resting partition (an exactly-once worker aborting while its input
    /// is idle): the partition keeps resting (librdkafka's pause outlives the seek) and,
    /// when the rest ends, is fetched from the rewound offset. The rest used to be
    /// forgotten by the rewind while librdkafka kept the partition paused, so nothing was
    /// fetched again until a rebalance.
    @Test(.enabled(if: ExternalService.kafka.shouldRun), .timeLimit(.minutes(1)))
    func aRewindDuringARestIsFetchedFromTheRewoundOffsetWhenTheRestEnds() async throws {
        let (topic, producer, consumer, clock) = try await Self.restingConsumer(prefix: "rest-rewind", backoff: .seconds(1), group: uniqueName("g"))
        let partition = KafkaTopicPartition(topic: topic, partition: 0)
        _ = try await producer.send(topic: topic, key: nil, value: TestKafka.bytes("b"), partition: 0)
        let (reader, values) = Self.readValues(of: consumer)
        var arrived = values.makeAsyncIterator()
        #expect(await arrived.next() == "a")
        #expect(await arrived.next() == "b")
        await clock.waitForSleepers(count: 1)
        #expect(consumer.restingPartitions == [partition])

        try await consumer.rewind(to: [partition: 1])
        #expect(consumer.restingPartitions == [partition], "the rewind keeps the rest")
        #expect(try consumer.lag().first?.position == 1, "a resting partition's position is where it will be fetched from")
        clock.advance(by: .seconds(1))
        #expect(await arrived.next() == "b", "fetched from the rewound offset")
        await clock.waitForSleepers(count: 1)
        #expect(consumer.restingPartitions == [partition])

        reader.cancel()
        await producer.close()
        await consumer.close()
    }

    /// A rebalance in the middle of a rest: the partition, assigned again, is fetched at
    /// once, though the rest's clock never moves (the rest it was in is forgotten, in this
    /// layer's bookkeeping and in librdkafka's pause state).
    @Test(.enabled(if: ExternalService.kafka.shouldRun), .timeLimit(.minutes(1)))
    func aPartitionAssignedAgainDuringARestIsFetchedWithoutWaitingForIt() async throws {
        let group = uniqueName("g")
        let (topic, producer, consumer, clock) = try await Self.restingConsumer(prefix: "rest-rebalance", backoff: .seconds(3_600), group: group)
        let partition = KafkaTopicPartition(topic: topic, partition: 0)
        enum Seen: Equatable { case value(String), assigned([KafkaTopicPartition]), revoked }
        let (seen, report) = AsyncStream.makeStream(of: Seen.self)
        let reader = Task {
            for try await event in consumer.events {
                switch event {
                case .message(let message):
                    consumer.markDone(message)
                    report.yield(.value(String(decoding: message.value ?? [], as: UTF8.self)))
                case .partitionsAssigned(let partitions): report.yield(.assigned(partitions))
                case .partitionsRevoked: report.yield(.revoked)
                }
            }
        }
        var events = seen.makeAsyncIterator()
        func next(_ wanted: (Seen) -> Bool) async -> Seen? {
            while let event = await events.next() { if wanted(event) { return event } }
            return nil
        }
        #expect(await next { $0 == .value("a") } != nil)
        await clock.waitForSleepers(count: 1)
        #expect(consumer.restingPartitions == [partition])
        // Produced while the partition rests: not fetched until something ends the rest.
        _ = try await producer.send(topic: topic, key: nil, value: TestKafka.bytes("b"), partition: 0)

        // A second member joins and leaves: the partition is revoked and comes back.
        let other = try KafkaConsumer(
            configuration: TestKafka.consumerConfiguration(try TestKafka.bootstrap(), group: group) { $0.offsetCommits = .manual },
            topics: [topic],
            logger: TestKafka.logger
        )
        let otherReader = Task { for try await _ in other.events {} }
        #expect(await next { $0 == .revoked } != nil)
        await other.close()
        otherReader.cancel()
        #expect(await next { $0 == .assigned([partition]) } != nil)
        // Fetched again from the start (nothing was committed), the clock never moved.
        #expect(await next { $0 == .value("b") } != nil)

        reader.cancel()
        await producer.close()
        await consumer.close()
    }

    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func lagIsHighWatermarkMinusPosition() async throws {
        let bootstrap = try TestKafka.bootstrap()
        let topic = try await TestKafka.createTopic(bootstrap, prefix: "lag")
        let producer = try TestKafka.producer(bootstrap)
        for index in 0..<5 {
            _ = try await producer.send(topic: topic, key: nil, value: TestKafka.bytes("\(index)"))
        }
        await producer.close()
        let consumer = try KafkaConsumer(
            configuration: TestKafka.consumerConfiguration(bootstrap, group: uniqueName("g")) { $0.pollBatchSize = 1 },
            topics: [topic],
            logger: TestKafka.logger
        )
        _ = try await TestKafka.collect(consumer, count: 2)
        let lag = try consumer.lag()
        #expect(lag.map(\.topicPartition) == [KafkaTopicPartition(topic: topic, partition: 0)])
        #expect(lag.first?.position == 2)
        #expect(lag.first?.highWatermark == 5)
        #expect(lag.first?.lag == 3)
        await consumer.close()
        #expect(throws: KafkaError.closed) { try consumer.lag() }
    }
}

extension BrokerTests {
    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func doneOffsetsAreCommittedWhenTheCommitTimerFires() async throws {
        let bootstrap = try TestKafka.bootstrap()
        let topic = try await TestKafka.createTopic(bootstrap, prefix: "timer")
        let partition = KafkaTopicPartition(topic: topic, partition: 0)
        let producer = try TestKafka.producer(bootstrap)
        for index in 0..<3 { _ = try await producer.send(topic: topic, key: nil, value: TestKafka.bytes("\(index)")) }
        await producer.close()
        let clock = ManualClock()
        let consumer = try KafkaConsumer(
            configuration: TestKafka.consumerConfiguration(bootstrap, group: uniqueName("g")) { $0.commitInterval = .seconds(5) },
            topics: [topic],
            logger: TestKafka.logger,
            clock: clock
        )
        let read = try await TestKafka.collect(consumer, count: 3, markDone: false)
        consumer.markDone(read[0])
        consumer.markDone(read[2])
        #expect(try await consumer.committedOffsets().isEmpty)

        // The timer is the only committer here: nothing before it fires.
        #expect(await eventually { clock.sleeperCount == 1 })
        clock.advance(by: .seconds(4))
        #expect(try await consumer.committedOffsets().isEmpty)
        clock.advance(by: .seconds(1))
        let firstTick = try await eventually { try await consumer.committedOffsets() == [partition: 1] }
        #expect(firstTick)

        consumer.markDone(read[1])
        #expect(await eventually { clock.sleeperCount == 1 })
        clock.advance(by: .seconds(5))
        let secondTick = try await eventually { try await consumer.committedOffsets() == [partition: 3] }
        #expect(secondTick)
        #expect(await consumer.close() == nil)
    }
}
