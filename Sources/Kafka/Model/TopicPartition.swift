import CRdKafka

/// A partition of a topic.
public struct KafkaTopicPartition: Sendable, Hashable, CustomStringConvertible, Comparable {
    /// Topic name.
    public let topic: String
    /// Partition number.
    public let partition: Int32

    /// Creates a topic-partition.
    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(topic)[\(partition)]" }

    /// Hashes the partition and the topic name's length only. The consumer looks its
    /// partitions up several times per message (buffering, marking done, checking a message
    /// is still current), and hashing the whole name cost more than the rest of those
    /// lookups; a consumer has few topics, so names of one length colliding is cheap, and
    /// equality still compares the names.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(partition)
        hasher.combine(topic.utf8.count)
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.topic, lhs.partition) < (rhs.topic, rhs.partition)
    }
}

/// An owned `rd_kafka_topic_partition_list_t`, destroyed with the value.
final class PartitionList {
    let pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>

    /// Builds a list of partitions, each with an optional offset.
    init(_ entries: [(KafkaTopicPartition, Int64?)]) {
        // rd_kafka_topic_partition_list_new never returns NULL (it aborts on OOM).
        pointer = rd_kafka_topic_partition_list_new(Int32(clamping: max(entries.count, 1)))
        for (topicPartition, offset) in entries {
            let element = rd_kafka_topic_partition_list_add(pointer, topicPartition.topic, topicPartition.partition)
            if let offset, let element { element.pointee.offset = offset }
        }
    }

    convenience init(_ partitions: [KafkaTopicPartition]) {
        self.init(partitions.map { ($0, nil) })
    }

    /// Takes ownership of a list librdkafka returned.
    init(owning pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        self.pointer = pointer
    }

    deinit { rd_kafka_topic_partition_list_destroy(pointer) }

    var entries: [PartitionListEntry] { Self.entries(of: pointer) }

    /// Reads a list without taking ownership.
    static func entries(of pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> [PartitionListEntry] {
        let list = pointer.pointee
        guard let elements = list.elems else { return [] }
        return (0..<Int(list.cnt)).map { index in
            let element = elements[index]
            return PartitionListEntry(
                topicPartition: KafkaTopicPartition(topic: String(cString: element.topic), partition: element.partition),
                offset: element.offset,
                error: element.err
            )
        }
    }
}

/// One element of a partition list.
struct PartitionListEntry {
    let topicPartition: KafkaTopicPartition
    let offset: Int64
    let error: rd_kafka_resp_err_t
}
