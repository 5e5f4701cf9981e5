/// A parsed JSON document.
///
/// Breakwater parses untrusted records with its own small parser instead of
/// `JSONSerialization`, so that every limit in ``JSONParseLimits`` (nesting depth, string
/// length, collection size) is enforced *while* reading the bytes: a 100,000-deep `[[[[…`
/// is rejected at depth `maxDepth + 1` without ever recursing further, so it cannot exhaust
/// the stack. Numbers keep their exact source text.
public enum JSONValue: Sendable, Equatable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A number, as its source text (e.g. `"1"`, `"-0.5e3"`).
    case number(String)
    /// A string, unescaped.
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object; when a key repeats, the last value wins (as in most JSON parsers).
    case object([String: JSONValue])

    /// The JSON type name used in error messages: `null`, `boolean`, `number`, `string`,
    /// `array`, `object`.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    /// The value as an object's members, or `nil` when it is not an object.
    public var objectValue: [String: JSONValue]? {
        if case .object(let members) = self { return members }
        return nil
    }

    /// The value as an array, or `nil` when it is not an array.
    public var arrayValue: [JSONValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    /// The value as a string, or `nil` when it is not a string.
    public var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    /// The value as a `Double`, or `nil` when it is not a number.
    public var doubleValue: Double? {
        if case .number(let text) = self { return Double(text) }
        return nil
    }

    /// Compact JSON text for this value with object keys sorted by their UTF-8 bytes, so
    /// equal values always serialize to equal text (used for `extra` fields and tests).
    public var canonicalText: String {
        var out = ""
        writeCanonical(into: &out)
        return out
    }

    private func writeCanonical(into out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let flag): out += flag ? "true" : "false"
        case .number(let text): out += text
        case .string(let text): Self.appendStringLiteral(text, to: &out)
        case .array(let elements):
            out += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { out += "," }
                element.writeCanonical(into: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (index, key) in members.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }).enumerated() {
                if index > 0 { out += "," }
                Self.appendStringLiteral(key, to: &out)
                out += ":"
                members[key]?.writeCanonical(into: &out)
            }
            out += "}"
        }
    }

    /// Appends `text` as a JSON string literal: `"` and `\` escaped, `\n`, `\r`, `\t`,
    /// every other control character, DEL and U+2028/U+2029 as `\u00XX`, everything
    /// else as is. The result is also a safe quoted logfmt value and safe to paste into
    /// JavaScript or a terminal. Output records do not use it: their bytes must stay
    /// those `JSONEncoder` wrote, so ``JSONByteWriter`` escapes as it did.
    public static func appendStringLiteral(_ text: String, to out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F || scalar == "\u{2028}" || scalar == "\u{2029}":
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

/// Limits the JSON parser enforces while it reads.
public struct JSONParseLimits: Sendable, Equatable {
    /// Deepest allowed nesting of arrays/objects; the top-level value is depth 1. The parser
    /// recurses once per level, so keep this in the tens or hundreds, not the hundreds of
    /// thousands (that would bring back the stack exhaustion the limit exists to prevent).
    public var maxDepth: Int
    /// Longest allowed string (key or value), in UTF-8 bytes after unescaping.
    public var maxStringBytes: Int
    /// Most elements in one array or members in one object.
    public var maxCollectionCount: Int

    /// Creates limits; see the properties for their meaning.
    public init(maxDepth: Int = 32, maxStringBytes: Int = 65_536, maxCollectionCount: Int = 65_536) {
        self.maxDepth = maxDepth
        self.maxStringBytes = maxStringBytes
        self.maxCollectionCount = maxCollectionCount
    }
}

/// Why the JSON parser rejected its input.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Which limit or rule was broken.
    public enum Kind: Sendable, Equatable {
        /// Not JSON (syntax error, truncation, trailing bytes, bad escape, invalid UTF-8).
        case syntax
        /// Nested deeper than ``JSONParseLimits/maxDepth``.
        case tooDeep
        /// A string longer than ``JSONParseLimits/maxStringBytes``.
        case stringTooLong
        /// An array/object larger than ``JSONParseLimits/maxCollectionCount``.
        case collectionTooLarge
    }

    /// Which rule was broken.
    public var kind: Kind
    /// Byte offset in the input where the problem was found.
    public var offset: Int
    /// What was wrong, for people.
    public var message: String

    /// `message at byte N`.
    public var description: String { "\(message) at byte \(offset)" }
}

extension JSONValue {
    /// Parses one JSON document (RFC 8259; white space around it allowed, nothing else).
    ///
    /// - Throws: ``JSONParseError`` when the bytes are not one valid JSON value (including
    ///   invalid UTF-8 inside strings or lone surrogate escapes) or break a limit.
    public static func parse(_ bytes: [UInt8], limits: JSONParseLimits = JSONParseLimits()) throws(JSONParseError) -> JSONValue {
        var parser = JSONParser(bytes: bytes, limits: limits)
        return try parser.parseDocument()
    }
}

/// A JSON reader over one document's bytes: ``JSONValue/parse(_:limits:)`` builds a tree
/// with it, and ``JSONParser/plainAlertmanagerAlert(_:limits:receivedAt:)`` reads the
/// commonest record straight into an ``Alert``.
struct JSONParser {
    let bytes: [UInt8]
    let limits: JSONParseLimits
    var index = 0
    /// Members of the objects being parsed, innermost last: a stack shared by every
    /// nesting level, so building an object allocates only its dictionary.
    var pendingMembers: [(key: String, value: JSONValue)] = []

    init(bytes: [UInt8], limits: JSONParseLimits) {
        self.bytes = bytes
        self.limits = limits
    }

    func fail(_ kind: JSONParseError.Kind, _ message: String) -> JSONParseError {
        JSONParseError(kind: kind, offset: index, message: message)
    }

    mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        skipWhitespace()
        let value = try parseValue(depth: 1)
        skipWhitespace()
        guard index == bytes.count else { throw fail(.syntax, "unexpected data after the JSON value") }
        return value
    }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    mutating func parseValue(depth: Int) throws(JSONParseError) -> JSONValue {
        guard index < bytes.count else { throw fail(.syntax, "unexpected end of input") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw fail(.syntax, "unexpected character")
        }
    }

    mutating func expectLiteral(_ literal: String) throws(JSONParseError) {
        let expected = literal.utf8
        let count = expected.count
        guard index + count <= bytes.count else { throw fail(.syntax, "unexpected end of input") }
        guard expected.elementsEqual(bytes[index..<index + count]) else { throw fail(.syntax, "invalid literal") }
        index += count
    }

    mutating func enter(_ depth: Int) throws(JSONParseError) {
        guard depth <= limits.maxDepth else {
            throw fail(.tooDeep, "nesting deeper than \(limits.maxDepth)")
        }
        index += 1
        skipWhitespace()
    }

    mutating func parseObject(depth: Int) throws(JSONParseError) -> JSONValue {
        try enter(depth)
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return .object([:]) }
        let first = pendingMembers.count
        while true {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw fail(.syntax, "expected a string key") }
            let key = try parseString()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw fail(.syntax, "expected ':'") }
            index += 1
            skipWhitespace()
            pendingMembers.append((key, try parseValue(depth: depth + 1)))
            guard pendingMembers.count - first <= limits.maxCollectionCount else {
                throw fail(.collectionTooLarge, "object with more than \(limits.maxCollectionCount) members")
            }
            skipWhitespace()
            guard index < bytes.count else { throw fail(.syntax, "unexpected end of input") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; skipWhitespace(); continue }
            if bytes[index] == UInt8(ascii: "}") { index += 1; return .object(takeMembers(from: first)) }
            throw fail(.syntax, "expected ',' or '}'")
        }
    }

    /// The members parsed since `first`, as one dictionary made at its final size (a
    /// dictionary grown one member at a time rehashes at every doubling); in member
    /// order, so a repeated key keeps its last value.
    mutating func takeMembers(from first: Int) -> [String: JSONValue] {
        var members = [String: JSONValue](minimumCapacity: pendingMembers.count - first)
        for index in first..<pendingMembers.count {
            members[pendingMembers[index].key] = pendingMembers[index].value
        }
        pendingMembers.removeSubrange(first...)
        return members
    }

    mutating func parseArray(depth: Int) throws(JSONParseError) -> JSONValue {
        try enter(depth)
        var elements: [JSONValue] = []
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return .array(elements) }
        while true {
            elements.append(try parseValue(depth: depth + 1))
            guard elements.count <= limits.maxCollectionCount else {
                throw fail(.collectionTooLarge, "array with more than \(limits.maxCollectionCount) elements")
            }
            skipWhitespace()
            guard index < bytes.count else { throw fail(.syntax, "unexpected end of input") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; skipWhitespace(); continue }
            if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(elements) }
            throw fail(.syntax, "expected ',' or ']'")
        }
    }

    mutating func parseNumber() throws(JSONParseError) -> String {
        let start = index
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count, isDigit(bytes[index]) else { throw fail(.syntax, "invalid number") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else { throw fail(.syntax, "invalid number") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count, isDigit(bytes[index]) else { throw fail(.syntax, "invalid number") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        guard index - start <= limits.maxStringBytes else { throw fail(.stringTooLong, "number longer than \(limits.maxStringBytes) bytes") }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    mutating func parseString() throws(JSONParseError) -> String {
        index += 1  // opening quote
        // Fast path: no escapes before the closing quote → one slice, validated once.
        var anyNonASCII: UInt8 = 0
        let start = index
        let end = bytes.withUnsafeBufferPointer { JSONStringScan.plainRunEnd(in: $0, from: start, highBits: &anyNonASCII) }
        anyNonASCII &= 0x80
        if end < bytes.count, bytes[end] == UInt8(ascii: "\"") {
            guard end - index <= limits.maxStringBytes else {
                throw fail(.stringTooLong, "string longer than \(limits.maxStringBytes) bytes")
            }
            // ASCII is valid UTF-8: only other text needs the (generic, slower) validation.
            let text: String
            if anyNonASCII == 0 {
                text = String(decoding: bytes[index..<end], as: UTF8.self)
            } else {
                guard let validated = String(validating: bytes[index..<end], as: UTF8.self) else {
                    throw fail(.syntax, "string is not valid UTF-8")
                }
                text = validated
            }
            index = end + 1
            return text
        }
        var buffer = Array(bytes[index..<end])
        index = end
        while true {
            guard index < bytes.count else { throw fail(.syntax, "unterminated string") }
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                guard let text = String(validating: buffer, as: UTF8.self) else {
                    throw fail(.syntax, "string is not valid UTF-8")
                }
                return text
            case UInt8(ascii: "\\"):
                index += 1
                try appendEscape(into: &buffer)
            case 0..<0x20:
                throw fail(.syntax, "unescaped control character in string")
            default:
                buffer.append(byte)
                index += 1
            }
            guard buffer.count <= limits.maxStringBytes else {
                throw fail(.stringTooLong, "string longer than \(limits.maxStringBytes) bytes")
            }
        }
    }

    mutating func appendEscape(into buffer: inout [UInt8]) throws(JSONParseError) {
        guard index < bytes.count else { throw fail(.syntax, "unterminated escape") }
        let escape = bytes[index]
        index += 1
        switch escape {
        case UInt8(ascii: "\""): buffer.append(0x22)
        case UInt8(ascii: "\\"): buffer.append(0x5C)
        case UInt8(ascii: "/"): buffer.append(0x2F)
        case UInt8(ascii: "b"): buffer.append(0x08)
        case UInt8(ascii: "f"): buffer.append(0x0C)
        case UInt8(ascii: "n"): buffer.append(0x0A)
        case UInt8(ascii: "r"): buffer.append(0x0D)
        case UInt8(ascii: "t"): buffer.append(0x09)
        case UInt8(ascii: "u"):
            var code = try readHex4()
            if (0xD800...0xDBFF).contains(code) {
                guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                    throw fail(.syntax, "unpaired surrogate escape")
                }
                index += 2
                let low = try readHex4()
                guard (0xDC00...0xDFFF).contains(low) else { throw fail(.syntax, "unpaired surrogate escape") }
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00...0xDFFF).contains(code) {
                throw fail(.syntax, "unpaired surrogate escape")
            }
            guard let scalar = Unicode.Scalar(code) else { throw fail(.syntax, "invalid unicode escape") }
            buffer.append(contentsOf: Array(String(Character(scalar)).utf8))
        default:
            throw fail(.syntax, "invalid escape")
        }
    }

    mutating func readHex4() throws(JSONParseError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw fail(.syntax, "truncated unicode escape") }
        var value: UInt32 = 0
        for byte in bytes[index..<index + 4] {
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw fail(.syntax, "invalid unicode escape")
            }
            value = value << 4 | UInt32(digit)
        }
        index += 4
        return value
    }
}
