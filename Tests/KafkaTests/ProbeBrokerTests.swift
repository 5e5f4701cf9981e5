import Kafka
import Testing
import TriageTestSupport

/// The broker probe against librdkafka's mock cluster, whose brokers can be taken down
/// and brought back (the shared test broker cannot).
@Suite("Broker probe", .serialized, .timeLimit(.minutes(2)))
struct ProbeBrokerTests {
    @Test func theProbeFailsWhileNoBrokerAnswersAndSucceedsOnceOneDoesAgain() async throws {
        let cluster = try KafkaMockCluster(brokers: 1, logger: TestKafka.logger)
        try cluster.createTopic("probe", partitions: 1)
        let configuration = KafkaConsumerConfiguration(
            common: KafkaConfiguration(bootstrapServers: [cluster.bootstrapServers], clientID: "probe-tests"),
            groupID: uniqueName("probe")
        )
        let consumer = try KafkaConsumer(configuration: configuration, topics: ["probe"], logger: TestKafka.logger)
        try await consumer.probeBroker(timeout: .seconds(10))

        try cluster.setBrokerDown()
        let error = await #expect(throws: KafkaError.self) { try await consumer.probeBroker(timeout: .milliseconds(500)) }
        #expect(error != nil)

        try cluster.setBrokerUp()
        // Reconnecting follows librdkafka's backoff: the probe succeeds again within a few tries.
        #expect(await eventually(within: .seconds(30), polling: .every(.milliseconds(200))) {
            (try? await consumer.probeBroker(timeout: .seconds(1))) != nil
        })
        await consumer.close()
        let closed = await #expect(throws: KafkaError.self) { try await consumer.probeBroker() }
        #expect(closed?.name == "_DESTROY")
    }
}
