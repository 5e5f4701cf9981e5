import Foundation
import Logging
import Triage

/// One log event, ready to be written: metadata merged and redacted.
struct LogRecord: Sendable {
    var timestamp: Date
    var level: Logger.Level
    var label: String
    var message: String
    var source: String
    var metadata: Logger.Metadata
    var error: String?

    /// The fixed fields, in output order. Metadata keys equal to one of these are written
    /// as `meta.<key>` so they never shadow a fixed field.
    static let reservedKeys: Set<String> = ["ts", "level", "logger", "msg", "source", "error"]

    /// Metadata key as written (renamed when it collides with a fixed field).
    static func outputKey(_ key: String) -> String { reservedKeys.contains(key) ? "meta.\(key)" : key }

    private static let timestampStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    /// RFC 3339 UTC with milliseconds, e.g. `2026-11-29T10:56:14.123Z`.
    var formattedTimestamp: String { timestamp.formatted(Self.timestampStyle) }
}

/// Renders a ``LogRecord`` as one line (no trailing newline) in JSON or logfmt.
enum LogLineFormatter {
    static func line(_ record: LogRecord, format: LogFormat) -> String {
        switch format {
        case .json: json(record)
        case .logfmt: logfmt(record)
        }
    }

    // MARK: JSON

    /// `{"ts":…,"level":…,"logger":…,"msg":…,"source":…,<metadata sorted by key>,"error":…}`.
    static func json(_ record: LogRecord) -> String {
        var out = "{"
        func field(_ key: String, _ writeValue: (inout String) -> Void) {
            if out.count > 1 { out += "," }
            JSONValue.appendStringLiteral(key, to: &out)
            out += ":"
            writeValue(&out)
        }
        field("ts") { JSONValue.appendStringLiteral(record.formattedTimestamp, to: &$0) }
        field("level") { JSONValue.appendStringLiteral(record.level.rawValue, to: &$0) }
        field("logger") { JSONValue.appendStringLiteral(record.label, to: &$0) }
        field("msg") { JSONValue.appendStringLiteral(record.message, to: &$0) }
        field("source") { JSONValue.appendStringLiteral(record.source, to: &$0) }
        for (key, value) in record.metadata.sorted(by: { $0.key < $1.key }) {
            field(LogRecord.outputKey(key)) { appendJSON(value, to: &$0) }
        }
        if let error = record.error {
            field("error") { JSONValue.appendStringLiteral(error, to: &$0) }
        }
        out += "}"
        return out
    }

    private static func appendJSON(_ value: Logger.MetadataValue, to out: inout String) {
        switch value {
        case .string(let string):
            JSONValue.appendStringLiteral(string, to: &out)
        case .stringConvertible(let convertible):
            JSONValue.appendStringLiteral(convertible.description, to: &out)
        case .array(let array):
            out += "["
            for (index, element) in array.enumerated() {
                if index > 0 { out += "," }
                appendJSON(element, to: &out)
            }
            out += "]"
        case .dictionary(let dictionary):
            out += "{"
            for (index, (key, element)) in dictionary.sorted(by: { $0.key < $1.key }).enumerated() {
                if index > 0 { out += "," }
                JSONValue.appendStringLiteral(key, to: &out)
                out += ":"
                appendJSON(element, to: &out)
            }
            out += "}"
        }
    }

    // MARK: logfmt

    /// `ts=… level=… logger=… msg=… source=… <metadata sorted by key> error=…`; nested
    /// dictionaries are flattened to `key.sub=…`, arrays written as JSON text.
    static func logfmt(_ record: LogRecord) -> String {
        var out = ""
        func pair(_ key: String, _ value: String) {
            if !out.isEmpty { out += " " }
            appendLogfmtKey(key, to: &out)
            out += "="
            appendLogfmtValue(value, to: &out)
        }
        pair("ts", record.formattedTimestamp)
        pair("level", record.level.rawValue)
        pair("logger", record.label)
        pair("msg", record.message)
        pair("source", record.source)
        for (key, value) in flatten(record.metadata) {
            pair(LogRecord.outputKey(key), value)
        }
        if let error = record.error { pair("error", error) }
        return out
    }

    /// Metadata as sorted `(key, text)` pairs, dictionaries flattened with dotted keys.
    private static func flatten(_ metadata: Logger.Metadata, prefix: String = "") -> [(String, String)] {
        var result: [(String, String)] = []
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            let fullKey = prefix.isEmpty ? key : "\(prefix).\(key)"
            switch value {
            case .dictionary(let nested) where !nested.isEmpty:
                result += flatten(nested, prefix: fullKey)
            case .array, .dictionary:  // arrays and empty dictionaries
                var json = ""
                appendJSON(value, to: &json)
                result.append((fullKey, json))
            default:
                result.append((fullKey, value.description))
            }
        }
        return result
    }

    /// A key with every character that would break a `key=value` pair (space, control,
    /// `=`, `"`) replaced by `_`; an empty key becomes `_`.
    static func appendLogfmtKey(_ key: String, to out: inout String) {
        if key.isEmpty {
            out += "_"
            return
        }
        for scalar in key.unicodeScalars {
            if breaksPair(scalar) { out += "_" } else { out.unicodeScalars.append(scalar) }
        }
    }

    /// A value bare when it is safe, else quoted and escaped like a JSON string. Empty
    /// values are written as `""`.
    static func appendLogfmtValue(_ value: String, to out: inout String) {
        let needsQuotes = value.isEmpty || value.unicodeScalars.contains { breaksPair($0) || $0 == "\\" }
        guard needsQuotes else {
            out += value
            return
        }
        JSONValue.appendStringLiteral(value, to: &out)
    }

    /// Whether `scalar` would end or corrupt a bare logfmt key or value.
    private static func breaksPair(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value <= 0x20 || scalar.value == 0x7F || scalar == "=" || scalar == "\"" || scalar.properties.isWhitespace
    }
}
