@testable import Kafka
import Testing

/// `rd_kafka_seek_partitions` before librdkafka 2.1 waited a thousandth of its timeout
/// (confluentinc/librdkafka#4230); the consumer makes up for it on those versions.
@Suite struct SeekTimeoutTests {
    @Test func versionsWithTheUnitBugGetTheTimeoutScaledUp() {
        // Debian's 2.0.2 (what this project links on its machines).
        #expect(KafkaConsumer.seekTimeoutArgument(.seconds(10), librdkafkaVersion: 0x0200_02FF) == 10_000_000)
        #expect(KafkaConsumer.seekTimeoutArgument(.milliseconds(250), librdkafkaVersion: 0x0200_02FF) == 250_000)
        // Past what a timeout_ms holds: the longest there is, not a wrapped one.
        #expect(KafkaConsumer.seekTimeoutArgument(.seconds(3_000), librdkafkaVersion: 0x0200_02FF) == Int32.max)
    }

    @Test func fixedVersionsGetTheTimeoutAsIs() {
        #expect(KafkaConsumer.seekTimeoutArgument(.seconds(10), librdkafkaVersion: 0x0201_00FF) == 10_000)
        #expect(KafkaConsumer.seekTimeoutArgument(.seconds(10), librdkafkaVersion: 0x0206_01FF) == 10_000)
    }
}
