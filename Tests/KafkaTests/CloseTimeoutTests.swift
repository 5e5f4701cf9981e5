import Dispatch
@testable import Kafka
import ServiceTestSupport
import Testing
import TriageTestSupport

extension BrokerTests {
    /// librdkafka's close can block without end (here: a revocation hook that never
    /// returns, which runs inside the leave); a bounded close returns `_TIMED_OUT` at its
    /// deadline instead of holding the caller, and the abandoned client still finishes
    /// once whatever blocked it lets go.
    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func aCloseThatBlocksIsAbandonedAtItsTimeout() async throws {
        let bootstrap = try TestKafka.bootstrap()
        let topic = try await TestKafka.createTopic(bootstrap, prefix: "close-timeout")
        let producer = try TestKafka.producer(bootstrap)
        _ = try await producer.send(topic: topic, key: nil, value: TestKafka.bytes("one"))
        await producer.close()
        let configuration = TestKafka.consumerConfiguration(bootstrap, group: uniqueName("g")) {
            $0.assignmentStrategy = .range
        }
        let consumer = try KafkaConsumer(configuration: configuration, topics: [topic], logger: TestKafka.logger)
        _ = try await TestKafka.collect(consumer, count: 1)

        let blocker = DispatchSemaphore(value: 0)
        consumer.onPartitionsRevoking { _, _ in blocker.wait() }
        let error = await consumer.close(timeout: .milliseconds(500))
        #expect(error?.name == "_TIMED_OUT", "\(String(describing: error))")
        // A second close does not queue behind the blocked one.
        #expect(await consumer.close() == nil)

        blocker.signal()
        #expect(await eventually(within: .seconds(30)) {
            (try? consumer.assignment()) == nil  // `_DESTROY`: the abandoned close released the client
        })
    }
}
