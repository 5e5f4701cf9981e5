@testable import Kafka
import ServiceTestSupport
import Locking
import Testing
import TriageTestSupport

extension BrokerTests {
    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func idempotentProducerDeliversEachRecordExactlyOnce() async throws {
        let bootstrap = try TestKafka.bootstrap()
        let topic = try await TestKafka.createTopic(bootstrap, prefix: "idem", partitions: 2)
        let configuration = KafkaProducerConfiguration(common: TestKafka.common(bootstrap))
        #expect(configuration.idempotent)
        #expect(configuration.librdkafkaProperties().contains { $0 == ("enable.idempotence", "true") })
        let producer = try KafkaProducer(configuration: configuration, logger: TestKafka.logger)
        let count = 200
        let reports = try await withThrowingTaskGroup(of: KafkaDeliveryReport.self) { group in
            for index in 0..<count {
                group.addTask {
                    try await producer.send(topic: topic, key: TestKafka.bytes("k\(index % 7)"), value: TestKafka.bytes("v\(index)"))
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        await producer.close()
        #expect(Set(reports.map { "\($0.partition)/\($0.offset)" }).count == count)

        let consumer = try KafkaConsumer(
            configuration: TestKafka.consumerConfiguration(bootstrap, group: uniqueName("g")),
            topics: [topic],
            logger: TestKafka.logger
        )
        let messages = try await TestKafka.collect(consumer, count: count)
        await consumer.close()
        let values = messages.compactMap(\.value).map { String(decoding: $0, as: UTF8.self) }
        #expect(values.count == count)
        #expect(Set(values) == Set((0..<count).map { "v\($0)" }))
    }

    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func inFlightRecordsAreBoundedAndCloseFailsTheUnacknowledged() async throws {
        // Nobody listens on port 1: nothing is ever acknowledged.
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(
                common: TestKafka.common("127.0.0.1:1"),
                maxInFlight: 2,
                messageTimeout: .seconds(300)
            ),
            logger: TestKafka.logger
        )
        let outcomes = LockedValue<[Result<KafkaDeliveryReport, KafkaError>]>([])
        for index in 0..<2 {
            try await producer.enqueue(KafkaProducerRecord(topic: "t", key: nil, value: TestKafka.bytes("\(index)"))) { result in
                outcomes.withLock { $0.append(result) }
            }
        }
        #expect(producer.outstandingCount == 2)
        // The third waits for a slot; it only throws CancellationError if it was waiting.
        let third = Task {
            try await producer.enqueue(KafkaProducerRecord(topic: "t", key: nil, value: [1])) { _ in }
        }
        third.cancel()
        await #expect(throws: CancellationError.self) { try await third.value }

        let purged = await producer.close(flushTimeout: .zero)
        #expect(purged == 2)
        let failures = outcomes.withLock { $0 }
        #expect(failures.count == 2)
        for outcome in failures {
            #expect(throws: KafkaError.self) { try outcome.get() }
        }
        await #expect(throws: KafkaError.closed) {
            _ = try await producer.send(topic: "t", key: nil, value: [1])
        }
    }

    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func unreachableBrokerGivesClearErrors() async throws {
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(common: TestKafka.common("127.0.0.1:1"), messageTimeout: .seconds(2)),
            logger: TestKafka.logger
        )
        // The payload has no NUL terminator; it must not be read as the error text.
        let payload = Array("payload-must-not-leak".utf8)
        let sendError = await #expect(throws: KafkaError.self) {
            _ = try await producer.send(topic: "nowhere", key: nil, value: payload)
        }
        #expect(sendError?.name == "_MSG_TIMED_OUT")
        #expect(sendError.map { !"\($0)".contains("payload-must-not-leak") } == true)
        #expect(sendError?.isTimeout == true)
        await producer.close()

        let admin = try KafkaAdmin(configuration: TestKafka.common("127.0.0.1:1"), logger: TestKafka.logger)
        defer { admin.close() }
        let adminError = await #expect(throws: KafkaError.self) {
            _ = try await admin.listTopics(timeout: .seconds(2))
        }
        #expect(adminError?.text.contains("metadata request failed") == true)
        #expect(adminError.map { ["_TRANSPORT", "_TIMED_OUT", "_ALL_BROKERS_DOWN"].contains($0.name) } == true)
    }

    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func flushWaitsForAcknowledgements() async throws {
        let bootstrap = try TestKafka.bootstrap()
        let topic = try await TestKafka.createTopic(bootstrap, prefix: "flush")
        let producer = try TestKafka.producer(bootstrap)
        let acknowledged = LockedValue(0)
        for index in 0..<20 {
            try await producer.enqueue(KafkaProducerRecord(topic: topic, key: nil, value: TestKafka.bytes("\(index)"))) { result in
                if case .success = result { acknowledged.withLock { $0 += 1 } }
            }
        }
        try await producer.flush(timeout: .seconds(30))
        #expect(acknowledged.withLock { $0 } == 20)
        #expect(producer.outstandingCount == 0)
        #expect(await producer.close() == 0)
    }
}

@Suite("Kafka configuration")
struct ConfigurationTests {
    @Test func unknownPropertyIsAnErrorNamingIt() throws {
        var configuration = KafkaProducerConfiguration(common: TestKafka.common("127.0.0.1:1"))
        configuration.common.properties["no.such.property"] = "1"
        let error = #expect(throws: KafkaError.self) {
            _ = try KafkaProducer(configuration: configuration, logger: TestKafka.logger)
        }
        #expect(error?.property == "no.such.property")
        #expect(error?.text.contains("unknown configuration property 'no.such.property'") == true)
    }

    @Test func invalidValueIsAnErrorNamingThePropertyWithoutLeakingSecrets() throws {
        var consumer = KafkaConsumerConfiguration(common: TestKafka.common("127.0.0.1:1"), groupID: "g")
        consumer.common.properties["session.timeout.ms"] = "not-a-number"
        let error = #expect(throws: KafkaError.self) {
            _ = try KafkaConsumer(configuration: consumer, topics: ["t"], logger: TestKafka.logger)
        }
        #expect(error?.property == "session.timeout.ms")
        #expect(error?.text.contains("not-a-number") == true)

        // A secret in an invalid value never shows up.
        var admin = TestKafka.common("127.0.0.1:1")
        admin.properties["sasl.mechanisms"] = "PLAIN"
        admin.properties["ssl.key.password"] = "hunter2"
        admin.properties["sasl.password"] = "hunter2"
        admin.properties["security.protocol"] = "hunter2"
        let secretError = #expect(throws: KafkaError.self) {
            _ = try KafkaAdmin(configuration: admin, logger: TestKafka.logger)
        }
        #expect(secretError?.property == "security.protocol")
        #expect(KafkaConfiguration.displayValue("sasl.password", "hunter2") == "*****")
    }

    @Test func descriptionsMaskSecrets() {
        let common = KafkaConfiguration(
            bootstrapServers: ["b:9093"],
            properties: [
                "security.protocol": "SASL_SSL",
                "sasl.username": "svc",
                "sasl.password": "hunter2",
                "ssl.key.password": "hunter3",
                "ssl.key.pem": "-----BEGIN PRIVATE KEY-----",
                "sasl.oauthbearer.client.secret": "s3",
            ]
        )
        let consumer = KafkaConsumerConfiguration(common: common, groupID: "g")
        let producer = KafkaProducerConfiguration(common: common)
        for text in [common.description, consumer.description, producer.description] {
            #expect(text.contains("security.protocol=SASL_SSL"))
            #expect(text.contains("sasl.username=svc"))
            for secret in ["hunter2", "hunter3", "PRIVATE KEY", "s3"] { #expect(!text.contains(secret)) }
        }
    }

    @Test func typedFieldsBecomeLibrdkafkaPropertiesAndPassThroughOverrides() {
        var consumer = KafkaConsumerConfiguration(
            common: KafkaConfiguration(bootstrapServers: ["a:1", "b:2"], properties: ["fetch.max.bytes": "1024"]),
            groupID: "workers",
            assignmentStrategy: .range,
            sessionTimeout: .milliseconds(12_500)
        )
        consumer.groupInstanceID = "worker-1"
        let properties = Dictionary(consumer.librdkafkaProperties(), uniquingKeysWith: { $1 })
        #expect(properties["bootstrap.servers"] == "a:1,b:2")
        #expect(properties["group.id"] == "workers")
        #expect(properties["group.instance.id"] == "worker-1")
        #expect(properties["partition.assignment.strategy"] == "range")
        #expect(properties["session.timeout.ms"] == "12500")
        #expect(properties["enable.auto.commit"] == "false")
        #expect(properties["fetch.max.bytes"] == "1024")
        // Bounded prefetch by default; a pass-through property still wins.
        #expect(properties["queued.min.messages"] == "100000")
        #expect(properties["queued.max.messages.kbytes"] == "16384")
        consumer.common.properties["queued.min.messages"] = "50"
        consumer.prefetch = .init(messages: 0, kilobytes: 2_048)
        let overridden = Dictionary(consumer.librdkafkaProperties(), uniquingKeysWith: { $1 })
        #expect(overridden["queued.min.messages"] == "50")
        #expect(overridden["queued.max.messages.kbytes"] == "2048")
        #expect(consumer.prefetch.messages == 1)

        let producer = KafkaProducerConfiguration(common: KafkaConfiguration(bootstrapServers: ["a:1"]), idempotent: false)
        let transactional = Dictionary(
            producer.librdkafkaProperties(transactionalID: "tx", transactionTimeout: .seconds(20)),
            uniquingKeysWith: { $1 }
        )
        #expect(transactional["enable.idempotence"] == "true")
        #expect(transactional["transactional.id"] == "tx")
        #expect(transactional["transaction.timeout.ms"] == "20000")
    }
}

extension BrokerTests {
    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func aBatchSendReportsEachRecordInOrderIncludingTheRejectedOne() async throws {
        let bootstrap = try TestKafka.bootstrap()
        let topic = try await TestKafka.createTopic(bootstrap, prefix: "batch", partitions: 3)
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(common: TestKafka.common(bootstrap)), logger: TestKafka.logger)
        let records = (0..<50).map { index in
            KafkaProducerRecord(topic: topic, key: TestKafka.bytes("k\(index)"), value: TestKafka.bytes("v\(index)"))
        }
        // An explicit partition the topic does not have fails that record alone, at enqueue.
        let rejected = KafkaProducerRecord(topic: topic, partition: 99, key: nil, value: [1])
        let results = await producer.send(Array(records[..<25]) + [rejected] + Array(records[25...]))
        #expect(results.count == 51)
        for (index, result) in results.enumerated() {
            if index == 25 {
                #expect(throws: KafkaError.self) { try result.get() }
            } else {
                let report = try result.get()
                #expect(report.topic == topic)
                #expect(report.offset >= 0)
            }
        }
        #expect(await producer.send([]).isEmpty)
        await producer.close()

        let consumer = try KafkaConsumer(
            configuration: TestKafka.consumerConfiguration(bootstrap, group: uniqueName("g")), topics: [topic], logger: TestKafka.logger
        )
        let messages = try await TestKafka.collect(consumer, count: 50)
        await consumer.close()
        #expect(Set(messages.compactMap(\.value).map { String(decoding: $0, as: UTF8.self) }) == Set((0..<50).map { "v\($0)" }))
    }

    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func aBatchSendCancelledWhileWaitingForASlotFailsTheUnsentRecords() async throws {
        // Nobody listens on port 1: nothing is ever acknowledged, so one slot stays taken.
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(common: TestKafka.common("127.0.0.1:1"), maxInFlight: 1, messageTimeout: .seconds(300)),
            logger: TestKafka.logger
        )
        let batch = Task {
            await producer.send((0..<3).map { KafkaProducerRecord(topic: "t", key: nil, value: [UInt8($0)]) })
        }
        // The first record holds the only slot; the second waits for it.
        #expect(await eventually { producer.outstandingCount == 1 })
        batch.cancel()
        // The first record is failed by close (purged); the two behind it never left.
        let purged = await producer.close(flushTimeout: .zero)
        #expect(purged == 1)
        let results = await batch.value
        #expect(results.count == 3)
        #expect(throws: KafkaError.self) { try results[0].get() }
        #expect(throws: CancellationError.self) { try results[1].get() }
        #expect(throws: CancellationError.self) { try results[2].get() }
    }
}
