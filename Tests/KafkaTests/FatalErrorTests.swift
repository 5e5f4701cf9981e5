import Kafka
import ServiceTestSupport
import Testing
import TriageTestSupport

extension BrokerTests {
    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func consumerFencedByItsStaticTwinEndsWithAFatalError() async throws {
        let bootstrap = try TestKafka.bootstrap()
        let topic = try await TestKafka.createTopic(bootstrap, prefix: "static")
        let configuration = TestKafka.consumerConfiguration(bootstrap, group: uniqueName("g")) {
            $0.groupInstanceID = "worker-1"
        }
        let old = try KafkaConsumer(configuration: configuration, topics: [topic], logger: TestKafka.logger)
        var iterator = old.events.makeAsyncIterator()
        guard case .partitionsAssigned = try await iterator.next() else {
            Issue.record("expected an assignment first")
            return
        }
        // A second instance with the same group.instance.id fences the first.
        let new = try KafkaConsumer(configuration: configuration, topics: [topic], logger: TestKafka.logger)
        var newIterator = new.events.makeAsyncIterator()
        _ = try await newIterator.next()
        let error = await #expect(throws: KafkaError.self) {
            while try await iterator.next() != nil {}
        }
        #expect(error?.isFatal == true)
        await old.close()
        await new.close()
    }
}
