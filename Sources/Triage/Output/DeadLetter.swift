import Foundation

/// Why and from where a record was dead-lettered to `alerts.dlq`.
///
/// The DLQ record's key and value are the original record's, byte for byte; its headers
/// are the original headers (minus any earlier `breakwater-dlq-*` ones) followed by:
///
/// | header | value |
/// |---|---|
/// | `breakwater-dlq-reason` | reason code: an ``AlertDecodingError/Reason`` raw value, `processing_failed` or `publish_failed` |
/// | `breakwater-dlq-detail` | human detail, at most 1,024 UTF-8 bytes |
/// | `breakwater-dlq-source-topic` | topic the record was consumed from |
/// | `breakwater-dlq-source-partition` | its partition, decimal |
/// | `breakwater-dlq-source-offset` | its offset, decimal |
/// | `breakwater-dlq-time` | when it was dead-lettered, UTC RFC 3339 with milliseconds |
/// | `breakwater-dlq-worker-id` | the worker that dead-lettered it |
/// | `breakwater-dlq-original-dropped` | `true` only when the key, value and headers are NOT the original's (a `publish_failed` letter the dead-letter topic refused with them); absent otherwise |
///
/// A header `breakwater-redrive-count` among the original headers is kept: it counts how
/// often `breakwater redrive` has sent the record back (see ``redriveCountHeader``).
///
/// Schema of these headers as a JSON object: `deploy/schemas/dlq-headers.schema.json`.
public struct DeadLetter: Sendable, Equatable {
    /// Header names, in the order they are appended.
    public enum Header {
        /// Reason code header.
        public static let reason = "breakwater-dlq-reason"
        /// Human detail header.
        public static let detail = "breakwater-dlq-detail"
        /// Source topic header.
        public static let sourceTopic = "breakwater-dlq-source-topic"
        /// Source partition header.
        public static let sourcePartition = "breakwater-dlq-source-partition"
        /// Source offset header.
        public static let sourceOffset = "breakwater-dlq-source-offset"
        /// Dead-lettering time header.
        public static let time = "breakwater-dlq-time"
        /// Worker id header.
        public static let workerID = "breakwater-dlq-worker-id"
        /// Present (`true`) only when the original key, value and headers were dropped.
        public static let originalDropped = "breakwater-dlq-original-dropped"
        /// Prefix shared by all of them.
        public static let prefix = "breakwater-dlq-"
    }

    /// The reason code for a record that decoded but could not be processed.
    public static let processingFailedReason = "processing_failed"
    /// Longest detail kept, in UTF-8 bytes.
    public static let maxDetailBytes = 1024

    /// Header `breakwater redrive` sets on every record it sends back to the input topic:
    /// how many times the record has been redriven (decimal, `1` the first time). The
    /// worker keeps it among the original headers when the record is dead-lettered again,
    /// which is what lets redrive's loop guard (`--max-redrives`) see it.
    public static let redriveCountHeader = "breakwater-redrive-count"

    /// The reason code for a record whose outputs the cluster rejected for good (e.g. too
    /// large for their topic), so the worker dead-lettered it instead of retrying forever.
    public static let publishFailedReason = "publish_failed"

    /// The reason code for a record of the repair log that is not a ``RepairRecord`` (the
    /// healer cannot heal it, and does not drop it).
    public static let invalidRepairReason = "invalid_repair"

    /// Every reason code a DLQ record can carry.
    public static var reasonCodes: [String] {
        AlertDecodingError.Reason.allCases.map(\.rawValue) + [processingFailedReason, publishFailedReason, invalidRepairReason]
    }

    /// Reason code (see ``reasonCodes``).
    public var reason: String
    /// Human detail, at most ``maxDetailBytes``.
    public var detail: String
    /// Topic the record was consumed from.
    public var sourceTopic: String
    /// Partition the record was consumed from.
    public var sourcePartition: Int32
    /// Offset of the record in its partition.
    public var sourceOffset: Int64
    /// When the record was dead-lettered.
    public var time: Date
    /// The worker that dead-lettered it.
    public var workerID: String
    /// Whether the record carries NOT the original key, value and headers (they were
    /// dropped; read them at the source offset).
    public var originalDropped: Bool

    /// Creates a dead letter; `detail` is cut to ``maxDetailBytes`` on a character boundary.
    public init(
        reason: String, detail: String, sourceTopic: String, sourcePartition: Int32, sourceOffset: Int64, time: Date, workerID: String,
        originalDropped: Bool = false
    ) {
        self.originalDropped = originalDropped
        self.reason = reason
        self.detail = Self.truncate(detail)
        self.sourceTopic = sourceTopic
        self.sourcePartition = sourcePartition
        self.sourceOffset = sourceOffset
        self.time = time
        self.workerID = workerID
    }

    /// A dead letter for a record that failed to decode.
    public init(error: AlertDecodingError, sourceTopic: String, sourcePartition: Int32, sourceOffset: Int64, time: Date, workerID: String) {
        self.init(reason: error.reason.rawValue, detail: error.detail, sourceTopic: sourceTopic, sourcePartition: sourcePartition,
                  sourceOffset: sourceOffset, time: time, workerID: workerID)
    }

    /// The headers as name → text, as `dlq-headers.schema.json` describes them.
    public var headerFields: [String: String] {
        Dictionary(uniqueKeysWithValues: ownHeaders.map { ($0.key, $0.stringValue ?? "") })
    }

    private var ownHeaders: [RecordHeader] {
        let required = [
            RecordHeader(Header.reason, reason),
            RecordHeader(Header.detail, detail),
            RecordHeader(Header.sourceTopic, sourceTopic),
            RecordHeader(Header.sourcePartition, String(sourcePartition)),
            RecordHeader(Header.sourceOffset, String(sourceOffset)),
            RecordHeader(Header.time, Timestamp.format(time)),
            RecordHeader(Header.workerID, workerID),
        ]
        return originalDropped ? required + [RecordHeader(Header.originalDropped, "true")] : required
    }

    /// The DLQ record's headers: `original` without earlier `breakwater-dlq-*` headers,
    /// then this dead letter's headers (see the table on the type).
    public func headers(appendingTo original: [RecordHeader]) -> [RecordHeader] {
        original.filter { !$0.key.lowercased().hasPrefix(Header.prefix) } + ownHeaders
    }

    /// Reads a dead letter back from a DLQ record's headers.
    /// - Returns: `nil` when a header is missing or unreadable (partition/offset not
    ///   decimal, time not RFC 3339).
    public init?(headers: [RecordHeader]) {
        func text(_ name: String) -> String? { headers.last(named: name)?.stringValue }
        guard let reason = text(Header.reason), let detail = text(Header.detail), let topic = text(Header.sourceTopic),
              let partition = text(Header.sourcePartition).flatMap({ Int32($0) }),
              let offset = text(Header.sourceOffset).flatMap({ Int64($0) }),
              let time = text(Header.time).flatMap(Timestamp.parse), let worker = text(Header.workerID)
        else { return nil }
        self.init(reason: reason, detail: detail, sourceTopic: topic, sourcePartition: partition, sourceOffset: offset, time: time, workerID: worker,
                  originalDropped: text(Header.originalDropped) == "true")
    }

    private static func truncate(_ detail: String) -> String {
        guard detail.utf8.count > maxDetailBytes else { return detail }
        var out = ""
        var bytes = 0
        for character in detail {
            let size = character.utf8.count
            if bytes + size > maxDetailBytes - 3 { break }
            out.append(character)
            bytes += size
        }
        return out + "..."
    }
}
