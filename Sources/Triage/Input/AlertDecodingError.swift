/// Why a record could not be decoded into alerts. Every decode failure is one of these,
/// so the worker can dead-letter it with a machine-readable reason.
public struct AlertDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Machine-readable reason; the raw value is the wire code (e.g. in the
    /// `breakwater-dlq-reason` header).
    public enum Reason: String, Sendable, Codable, CaseIterable {
        /// The record has no value bytes (or only white space).
        case emptyRecord = "empty_record"
        /// The value is not valid UTF-8.
        case invalidUTF8 = "invalid_utf8"
        /// The value is not JSON (syntax error, truncated, trailing garbage).
        case invalidJSON = "invalid_json"
        /// Valid JSON, but not any of the supported alert formats.
        case unknownFormat = "unknown_format"
        /// A required field is absent.
        case missingField = "missing_field"
        /// A field has the wrong JSON type.
        case wrongType = "wrong_type"
        /// A field has the right type but a value that is not allowed (unknown status,
        /// bad timestamp, empty label set, …).
        case invalidValue = "invalid_value"
        /// The record, a string, a collection or a label set exceeds ``DecodingLimits``.
        case tooLarge = "too_large"
        /// The payload carries more alerts than ``DecodingLimits/maxAlertsPerRecord``.
        case tooManyAlerts = "too_many_alerts"
        /// JSON nested deeper than ``DecodingLimits/maxDepth``.
        case tooDeep = "too_deep"
        /// A CloudEvent without a required attribute, with an unsupported `specversion`,
        /// or `ce_*` headers without `ce_specversion`.
        case invalidCloudEvent = "invalid_cloudevent"
        /// The record's content type is not JSON.
        case unsupportedContentType = "unsupported_content_type"
    }

    /// The machine-readable reason.
    public var reason: Reason
    /// What was wrong, for people; names the field by its path (e.g. `alerts[2].labels`)
    /// or the byte offset where parsing stopped.
    public var detail: String

    /// Creates an error.
    public init(_ reason: Reason, _ detail: String) {
        self.reason = reason
        self.detail = detail
    }

    /// `reason: detail`, e.g. `missing_field: alerts[0].labels is required`.
    public var description: String { "\(reason.rawValue): \(detail)" }
}

/// Limits applied to every record before and while decoding it. A record breaking one is
/// rejected with an ``AlertDecodingError`` (never a crash, never unbounded work).
public struct DecodingLimits: Sendable, Equatable {
    /// Largest accepted record value, in bytes. Default 1 MiB (1,048,576), Kafka's default
    /// `max.message.bytes`. Larger → `too_large`.
    public var maxRecordBytes: Int
    /// Most alerts one record may carry. Default 1,000. More → `too_many_alerts`.
    public var maxAlertsPerRecord: Int
    /// Deepest JSON nesting (top-level value = 1). Default 32: real payloads nest at most
    /// ~6 (CloudEvent → data → alerts → alert → labels). Checked while reading bytes, before
    /// any recursion goes deeper. Deeper → `too_deep`.
    public var maxDepth: Int
    /// Longest JSON string (key, value or number text), in UTF-8 bytes. Default 65,536.
    /// Longer → `too_large`.
    public var maxStringBytes: Int
    /// Most labels (or annotations, or `extra` entries from one object) on one alert.
    /// Default 256. More → `too_large`.
    public var maxLabels: Int
    /// Most elements in any one JSON array or object. Default 65,536. More → `too_large`.
    public var maxCollectionCount: Int

    /// Creates limits; every parameter defaults to the documented default.
    public init(
        maxRecordBytes: Int = 1_048_576,
        maxAlertsPerRecord: Int = 1000,
        maxDepth: Int = 32,
        maxStringBytes: Int = 65_536,
        maxLabels: Int = 256,
        maxCollectionCount: Int = 65_536
    ) {
        self.maxRecordBytes = maxRecordBytes
        self.maxAlertsPerRecord = maxAlertsPerRecord
        self.maxDepth = maxDepth
        self.maxStringBytes = maxStringBytes
        self.maxLabels = maxLabels
        self.maxCollectionCount = maxCollectionCount
    }

    /// The documented defaults.
    public static let `default` = DecodingLimits()

    var json: JSONParseLimits {
        JSONParseLimits(maxDepth: maxDepth, maxStringBytes: maxStringBytes, maxCollectionCount: maxCollectionCount)
    }
}
