import CRdKafka

/// What a ``KafkaConsumer`` delivers, in order: messages interleaved with changes of
/// this member's assignment.
public enum KafkaConsumerEvent: Sendable, Hashable {
    /// A record. Mark it done (``KafkaConsumer/markDone(_:)-(KafkaMessage)``) when
    /// its processing finished, successfully or not; only done prefixes get committed.
    case message(KafkaMessage)
    /// These partitions were added to this member's assignment.
    case partitionsAssigned([KafkaTopicPartition])
    /// These partitions were taken away. Done work was committed before they were given
    /// up (unless `lost`); unfinished work for them will be redone by the new owner, so
    /// the caller should abandon it. Marking their messages done later is harmless.
    /// `lost` means the member was kicked out of the group and could not commit.
    case partitionsRevoked([KafkaTopicPartition], lost: Bool)
}

/// Lag of one assigned partition: high watermark minus the consumer's position.
public struct KafkaPartitionLag: Sendable, Hashable {
    /// The partition.
    public let topicPartition: KafkaTopicPartition
    /// Next offset this consumer will fetch, `nil` before the first fetch.
    public let position: Int64?
    /// The partition's high watermark as last seen by a fetch, `nil` if unknown yet.
    public let highWatermark: Int64?

    /// A partition's lag as read from the consumer (also for tests of what reads it).
    public init(topicPartition: KafkaTopicPartition, position: Int64?, highWatermark: Int64?) {
        self.topicPartition = topicPartition
        self.position = position
        self.highWatermark = highWatermark
    }

    /// Records behind the end of the partition, `nil` while either side is unknown.
    public var lag: Int64? {
        guard let position, let highWatermark else { return nil }
        return max(highWatermark - position, 0)
    }
}

/// A consumer's group identity (group id, generation, member id) for
/// ``KafkaTransactionalProducer/sendOffsetsToTransaction(_:groupMetadata:timeout:)``.
public final class KafkaConsumerGroupMetadata: @unchecked Sendable {
    // Immutable after creation; librdkafka only reads it.
    let pointer: OpaquePointer

    init(pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit { rd_kafka_consumer_group_metadata_destroy(pointer) }
}
