import CRdKafka

/// A record header: a name and an optional binary value.
public struct KafkaHeader: Sendable, Hashable {
    /// Header name.
    public var name: String
    /// Header value; `nil` is a header without a value.
    public var value: [UInt8]?

    /// Creates a header.
    public init(name: String, value: [UInt8]?) {
        self.name = name
        self.value = value
    }

    /// Creates a header with a UTF-8 value.
    public init(name: String, string: String) {
        self.init(name: name, value: Array(string.utf8))
    }
}

/// When a record was created or appended, as the broker reports it.
public struct KafkaTimestamp: Sendable, Hashable {
    /// Who set the timestamp.
    public enum Kind: Sendable, Hashable {
        /// The producer (`CreateTime`).
        case createTime
        /// The broker, on append (`LogAppendTime`).
        case logAppendTime
    }

    /// Milliseconds since the Unix epoch.
    public let milliseconds: Int64
    /// Who set it.
    public let kind: Kind
}

/// Identifies a consumed message for ``KafkaConsumer/markDone(_:)-(KafkaMessageReference)``:
/// small enough to hand to workers instead of the whole message.
public struct KafkaMessageReference: Sendable, Hashable, CustomStringConvertible {
    /// Where the message came from.
    public let topicPartition: KafkaTopicPartition
    /// Its offset.
    public let offset: Int64
    /// The assignment it was delivered under; marks from an earlier assignment of the
    /// same partition are ignored, so they can never commit the new owner's work.
    let assignmentEpoch: UInt64

    public var description: String { "\(topicPartition)@\(offset)" }
}

/// A consumed record.
public struct KafkaMessage: Sendable, Hashable {
    /// Topic it was read from.
    public let topic: String
    /// Partition it was read from.
    public let partition: Int32
    /// Its offset in the partition.
    public let offset: Int64
    /// Key bytes, `nil` when the record has no key.
    public let key: [UInt8]?
    /// Value bytes, `nil` for a tombstone.
    public let value: [UInt8]?
    /// Headers in record order (names may repeat).
    public let headers: [KafkaHeader]
    /// The record's timestamp, when it has one.
    public let timestamp: KafkaTimestamp?
    let assignmentEpoch: UInt64

    /// The topic-partition it came from.
    public var topicPartition: KafkaTopicPartition { KafkaTopicPartition(topic: topic, partition: partition) }

    /// A small handle for marking this message done.
    public var reference: KafkaMessageReference {
        KafkaMessageReference(topicPartition: topicPartition, offset: offset, assignmentEpoch: assignmentEpoch)
    }

    /// Copies a librdkafka message (which the caller still owns and destroys).
    init(copying message: UnsafeMutablePointer<rd_kafka_message_t>, topic: String, epoch: UInt64) {
        let raw = message.pointee
        self.topic = topic
        partition = raw.partition
        offset = raw.offset
        key = raw.key.map { Array(UnsafeRawBufferPointer(start: $0, count: raw.key_len)) }
        value = raw.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: raw.len)) }
        var kind = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let milliseconds = rd_kafka_message_timestamp(message, &kind)
        switch kind {
        case RD_KAFKA_TIMESTAMP_CREATE_TIME: timestamp = KafkaTimestamp(milliseconds: milliseconds, kind: .createTime)
        case RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME: timestamp = KafkaTimestamp(milliseconds: milliseconds, kind: .logAppendTime)
        default: timestamp = nil
        }
        headers = Self.headers(of: message)
        assignmentEpoch = epoch
    }

    private static func headers(of message: UnsafeMutablePointer<rd_kafka_message_t>) -> [KafkaHeader] {
        var list: OpaquePointer?
        guard rd_kafka_message_headers(message, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list else { return [] }
        var result: [KafkaHeader] = []
        var index = 0
        while true {
            var name: UnsafePointer<CChar>?
            var value: UnsafeRawPointer?
            var size = 0
            guard rd_kafka_header_get_all(list, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR else { break }
            let bytes = value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }
            result.append(KafkaHeader(name: name.map { String(cString: $0) } ?? "", value: bytes))
            index += 1
        }
        return result
    }
}
