import Foundation

/// What `breakwater produce` sent, as `--expect-file` writes it: the workers must turn
/// it into `alerts` incidents and `malformed` DLQ records, which `breakwater tail
/// --summary-json` counts on the other side.
///
/// JSON (keys sorted): `topic`, `records` (attempted), `delivered`, `failed`, `alerts`
/// (carried by delivered valid records), `malformed` (delivered malformed records),
/// `by_format` (delivered valid records per input format), `errors` (failure kind → count),
/// `not_sent` (records left unsent by an interrupt),
/// `elapsed_seconds`, `records_per_second`.
public struct ProduceExpectation: Sendable, Equatable, Codable {
    /// Topic the records went to.
    public var topic: String
    /// Records attempted.
    public var records: Int
    /// Records acknowledged.
    public var delivered: Int
    /// Records that failed.
    public var failed: Int
    /// Alerts carried by acknowledged valid records.
    public var alerts: Int
    /// Acknowledged malformed records.
    public var malformed: Int
    /// Acknowledged valid records per input format.
    public var byFormat: [String: Int]
    /// Failure kinds and their counts.
    public var errors: [String: Int]
    /// Records not sent because the run was interrupted.
    public var notSent: Int
    /// Wall time of the run, seconds.
    public var elapsedSeconds: Double
    /// Acknowledged records per second.
    public var recordsPerSecond: Double

    enum CodingKeys: String, CodingKey {
        case topic, records, delivered, failed, alerts, malformed, errors
        case byFormat = "by_format", notSent = "not_sent", elapsedSeconds = "elapsed_seconds", recordsPerSecond = "records_per_second"
    }

    /// The expectation of a finished run.
    public init(_ summary: ProduceSummary) {
        topic = summary.topic
        records = summary.records
        delivered = summary.delivered
        failed = summary.failed
        alerts = summary.alerts
        malformed = summary.malformed
        byFormat = summary.byFormat
        errors = summary.errors
        notSent = summary.notSent
        elapsedSeconds = summary.elapsed.seconds
        recordsPerSecond = summary.rate
    }

    /// Pretty-printed JSON with sorted keys and a final newline.
    /// - Throws: `EncodingError` (not expected: every field is finite or a string).
    public func jsonData() throws -> Data {
        try ToolJSON.encode(self)
    }
}

/// The JSON conventions of the tools' files: pretty-printed, keys sorted, newline at the end.
enum ToolJSON {
    static func encode(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(value)
        data.append(UInt8(ascii: "\n"))
        return data
    }

    /// Writes `value` to `path` atomically.
    /// - Throws: ``ToolError`` naming the path.
    static func write(_ value: some Encodable, to path: String) throws(ToolError) {
        do {
            try encode(value).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw ToolError("\(path): cannot write: \(error.localizedDescription)")
        }
    }
}

extension ProduceExpectation {
    /// Writes the expectation to `path` (see the type for the format).
    /// - Throws: ``ToolError`` naming the path when it cannot be written.
    public func write(to path: String) throws(ToolError) { try ToolJSON.write(self, to: path) }
}
