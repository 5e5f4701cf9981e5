/// One Kafka record header. Kafka allows repeated keys and null values; both are kept.
public struct RecordHeader: Sendable, Equatable, Hashable {
    /// The header name, as sent.
    public var key: String
    /// The header value; `nil` for a Kafka null header.
    public var value: [UInt8]?

    /// Creates a header with raw bytes.
    public init(key: String, value: [UInt8]?) {
        self.key = key
        self.value = value
    }

    /// Creates a header whose value is the UTF-8 bytes of `string`.
    public init(_ key: String, _ string: String) {
        self.init(key: key, value: Array(string.utf8))
    }

    /// Creates a header from the `(key, value)` pair shape Kafka clients commonly use.
    public init(_ pair: (key: String, value: [UInt8]?)) {
        self.init(key: pair.key, value: pair.value)
    }

    /// The header as a `(key, value)` pair.
    public var pair: (key: String, value: [UInt8]?) { (key, value) }

    /// The value as UTF-8 text; `nil` when the value is null or not valid UTF-8.
    public var stringValue: String? {
        guard let value else { return nil }
        return String(validating: value, as: UTF8.self)
    }
}

extension Array where Element == RecordHeader {
    /// The last header named `key` (compared case-insensitively, as HTTP-derived headers
    /// such as `content-type` are spelled every way); `nil` when absent.
    public func last(named key: String) -> RecordHeader? {
        let wanted = key.lowercased()
        return last { $0.key.lowercased() == wanted }
    }

    /// The W3C trace context header (`traceparent`) to carry from an input record to every
    /// record produced for it; `nil` when the input has none.
    public var traceparent: RecordHeader? { last(named: "traceparent") }
}

/// One consumed record, as the decoder sees it: value bytes, headers, and the content
/// type if the transport gave one outside the headers.
public struct InputRecord: Sendable, Equatable {
    /// The record value bytes.
    public var value: [UInt8]
    /// The record headers, in order.
    public var headers: [RecordHeader]
    /// An explicit content type; when `nil` the `content-type` header (if any) is used.
    public var contentType: String?

    /// Creates a record.
    public init(value: [UInt8], headers: [RecordHeader] = [], contentType: String? = nil) {
        self.value = value
        self.headers = headers
        self.contentType = contentType
    }

    /// Creates a record from headers in `(key, value)` pair form.
    public init(value: [UInt8], headerPairs: [(key: String, value: [UInt8]?)], contentType: String? = nil) {
        self.init(value: value, headers: headerPairs.map(RecordHeader.init), contentType: contentType)
    }

    /// The effective content type: ``contentType`` or the `content-type` header, else `nil`.
    public var effectiveContentType: String? {
        contentType ?? headers.last(named: "content-type")?.stringValue
    }
}
