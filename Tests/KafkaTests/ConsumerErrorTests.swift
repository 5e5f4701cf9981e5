import Kafka
import ServiceTestSupport
import Testing
import TriageTestSupport

extension BrokerTests {
    /// The local broker answers a fetch with the whole backlog, whatever the fetch
    /// limits: with a small `receive.message.max.bytes` librdkafka refuses every response
    /// and the consumer gets no record, only errors, which it now counts.
    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func refusedFetchResponsesAreCountedAsConsecutiveErrors() async throws {
        let bootstrap = try TestKafka.bootstrap()
        let topic = try await TestKafka.createTopic(bootstrap, prefix: "refused")
        let producer = try TestKafka.producer(bootstrap)
        for index in 0..<20 {
            _ = try await producer.send(KafkaProducerRecord(
                topic: topic, key: TestKafka.bytes("k\(index)"), value: Array(repeating: UInt8(ascii: "x"), count: 50_000)
            ))
        }
        await producer.close()

        let configuration = TestKafka.consumerConfiguration(bootstrap, group: uniqueName("g")) {
            // Room for metadata and group responses, not for one fetch of the backlog (1 MB).
            $0.common.properties["receive.message.max.bytes"] = "100000"
            $0.common.properties["fetch.max.bytes"] = "50000"
            $0.common.properties["fetch.message.max.bytes"] = "50000"
            $0.common.properties["message.max.bytes"] = "50000"
            $0.common.properties["reconnect.backoff.max.ms"] = "200"
        }
        let consumer = try KafkaConsumer(configuration: configuration, topics: [topic], logger: TestKafka.logger)
        #expect(consumer.errors == KafkaConsumerErrors())
        let reader = Task {
            var messages = 0
            for try await event in consumer.events {
                if case .message = event { messages += 1 }
            }
            return messages
        }
        #expect(await eventually(within: .seconds(60)) { consumer.errors.consecutive >= 3 }, "errors: \(consumer.errors)")
        let errors = consumer.errors
        #expect(errors.total >= errors.consecutive)
        #expect(errors.last != nil)
        reader.cancel()
        #expect(try await reader.value == 0)
        await consumer.close()
    }
}
