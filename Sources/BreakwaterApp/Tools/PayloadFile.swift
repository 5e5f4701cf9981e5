import Foundation
import Triage

/// A file of alert payloads for `breakwater produce --file`: either one JSON array whose
/// elements are the payloads, or one JSON payload per line (blank lines ignored).
///
/// The array form is chosen when the whole file is one JSON array; otherwise every
/// non-blank line must be one JSON document. Line payloads are kept byte for byte (minus
/// surrounding white space); array elements are re-serialized compactly.
public struct PayloadFile: Sendable, Equatable {
    /// How the file was laid out.
    public enum Layout: String, Sendable, Equatable {
        /// One payload per line.
        case lines
        /// One JSON array of payloads.
        case array
    }

    /// One payload and where it was in the file.
    public struct Payload: Sendable, Equatable {
        /// 1-based line where the payload starts.
        public var line: Int
        /// The payload bytes.
        public var bytes: [UInt8]
        /// `line N` (lines layout) or `element N` (array layout, 1-based).
        public var origin: String
    }

    /// A line that is not valid JSON.
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        /// 1-based line number.
        public var line: Int
        /// What is wrong, from the JSON parser.
        public var message: String
        /// The raw line, so it can still be sent on purpose (it will be dead-lettered).
        public var bytes: [UInt8]

        /// `line N: message`.
        public var description: String { "line \(line): \(message)" }
    }

    /// How the file was laid out.
    public var layout: Layout
    /// The valid payloads, in file order.
    public var payloads: [Payload]
    /// The lines that are not valid JSON, in file order (always empty for the array layout).
    public var problems: [Problem]

    /// Limits for reading the file itself; the workers' decoder applies its own, stricter ones.
    static let fileLimits = JSONParseLimits(maxDepth: 128, maxStringBytes: 16 << 20, maxCollectionCount: 10_000_000)

    /// Splits `contents` into payloads. Never throws: lines that are not JSON are
    /// returned in ``problems`` with their line numbers. A file that starts with `[` but
    /// is not one valid JSON array is read line by line (so each bad line is reported).
    public init(contents: [UInt8]) {
        if contents.first(where: { !Self.isWhiteSpace($0) }) == UInt8(ascii: "["),
           let value = try? JSONValue.parse(contents, limits: Self.fileLimits),
           let elements = value.arrayValue
        {
            let firstLine = 1 + contents.prefix { $0 != UInt8(ascii: "[") }.count { $0 == UInt8(ascii: "\n") }
            layout = .array
            payloads = elements.enumerated().map { index, element in
                Payload(line: firstLine, bytes: Array(element.canonicalText.utf8), origin: "element \(index + 1)")
            }
            problems = []
            return
        }
        layout = .lines
        payloads = []
        problems = []
        for (index, rawLine) in contents.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            let line = Array(rawLine.drop { Self.isWhiteSpace($0) }.reversed().drop { Self.isWhiteSpace($0) }.reversed())
            guard !line.isEmpty else { continue }
            do {
                _ = try JSONValue.parse(line, limits: Self.fileLimits)
                payloads.append(Payload(line: index + 1, bytes: line, origin: "line \(index + 1)"))
            } catch {
                problems.append(Problem(line: index + 1, message: "not valid JSON: \(error.description)", bytes: line))
            }
        }
    }

    /// Reads and splits the file at `path`.
    /// - Throws: ``ToolError`` naming the path when it cannot be read.
    public init(path: String) throws(ToolError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ToolError("\(path): cannot read the payload file")
        }
        self.init(contents: Array(data))
    }

    /// The records to send: every payload, classified by the workers' decoder; with
    /// `includingInvalid`, the invalid lines too (as malformed records, in file order).
    public func records(includingInvalid: Bool, decoder: AlertDecoder = AlertDecoder()) -> [OutgoingAlertRecord] {
        var entries = payloads.map { (line: $0.line, record: OutgoingAlertRecord(origin: $0.origin, payload: $0.bytes, decoder: decoder)) }
        if includingInvalid {
            entries += problems.map {
                (line: $0.line, record: OutgoingAlertRecord(origin: "line \($0.line)", key: nil, value: $0.bytes, format: nil, alertCount: 0))
            }
            entries.sort { $0.line < $1.line }
        }
        return entries.map(\.record)
    }

    private static func isWhiteSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n")
    }
}

/// A failure of an operator tool (`produce`, `tail`) with a message for the operator.
public struct ToolError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, naming the file, topic or setting involved.
    public var description: String

    /// Creates an error with its message.
    public init(_ description: String) { self.description = description }
}
