import Foundation
import Triage

/// A JSON Schema (draft 2020-12) validator for the subset Breakwater's schemas use.
///
/// Supported keywords: `type` (string or array; `integer` = a number with no fractional
/// part), `enum`, `const`, `required`, `properties`, `additionalProperties` (boolean or
/// schema), `items`, `minItems`, `minimum`, `maximum`, `minLength`, `maxLength` (in
/// Unicode scalars), `pattern` (unanchored search, as the spec says), `format: date-time`
/// (RFC 3339), `oneOf`, `anyOf`, and `$ref` to `#/$defs/<name>`. Annotations (`$schema`,
/// `$id`, `title`, `description`, `examples`, `$comment`) are ignored.
///
/// Any other keyword makes ``validate(_:)`` throw ``UnsupportedSchema`` instead of
/// silently passing, so a schema never relies on something this validator skips.
public struct JSONSchemaValidator: Sendable {
    /// The schema uses something outside the supported subset, or is malformed.
    public struct UnsupportedSchema: Error, CustomStringConvertible, Equatable {
        /// What is unsupported or malformed.
        public var message: String
        /// Same as ``message``.
        public var description: String { message }
    }

    /// One way an instance breaks the schema.
    public struct Violation: Sendable, Equatable, CustomStringConvertible {
        /// JSON Pointer-ish path of the offending value, e.g. `/alert/labels/severity`.
        public var path: String
        /// What is wrong with the value.
        public var message: String
        /// `path: message`.
        public var description: String { "\(path.isEmpty ? "/" : path): \(message)" }
    }

    static let annotations: Set<String> = ["$schema", "$id", "title", "description", "examples", "$comment", "$defs"]
    static let supported: Set<String> = [
        "type", "enum", "const", "required", "properties", "additionalProperties", "items", "minItems", "minimum",
        "maximum", "minLength", "maxLength", "pattern", "format", "oneOf", "anyOf", "$ref",
    ]

    let root: JSONValue

    /// Creates a validator for `schema`.
    /// - Throws: ``UnsupportedSchema`` when the schema is not a JSON object.
    public init(schema: JSONValue) throws {
        guard schema.objectValue != nil else { throw UnsupportedSchema(message: "a schema must be an object") }
        root = schema
    }

    /// Creates a validator from schema file bytes.
    /// - Throws: `JSONParseError` for invalid JSON, ``UnsupportedSchema`` for a non-object.
    public init(schemaBytes: [UInt8]) throws {
        try self.init(schema: JSONValue.parse(schemaBytes, limits: JSONParseLimits(maxDepth: 64)))
    }

    /// Every violation of the schema by `instance`; empty when it is valid.
    /// - Throws: ``UnsupportedSchema`` when the schema uses a keyword outside the subset,
    ///   a broken `$ref`, or an invalid `pattern`.
    public func validate(_ instance: JSONValue) throws -> [Violation] {
        var violations: [Violation] = []
        try check(instance, against: root, path: "", into: &violations)
        return violations
    }

    /// Like ``validate(_:)`` for JSON bytes.
    /// - Throws: `JSONParseError` when `bytes` is not JSON; ``UnsupportedSchema`` as above.
    public func validate(bytes: [UInt8]) throws -> [Violation] {
        try validate(JSONValue.parse(bytes, limits: JSONParseLimits(maxDepth: 64)))
    }

    private func resolve(_ reference: String) throws -> JSONValue {
        let prefix = "#/$defs/"
        guard reference.hasPrefix(prefix), let schema = root.objectValue?["$defs"]?.objectValue?[String(reference.dropFirst(prefix.count))] else {
            throw UnsupportedSchema(message: "unresolvable $ref \(reference)")
        }
        return schema
    }

    private func check(_ instance: JSONValue, against schema: JSONValue, path: String, into violations: inout [Violation]) throws {
        if case .bool(let allowed) = schema {
            if !allowed { violations.append(Violation(path: path, message: "no value is allowed here")) }
            return
        }
        guard let keywords = schema.objectValue else { throw UnsupportedSchema(message: "schema at \(path) is not an object") }
        for key in keywords.keys where !Self.supported.contains(key) && !Self.annotations.contains(key) {
            throw UnsupportedSchema(message: "unsupported keyword \(key) at \(path)")
        }
        func fail(_ message: String) { violations.append(Violation(path: path, message: message)) }

        if let reference = keywords["$ref"]?.stringValue {
            try check(instance, against: try resolve(reference), path: path, into: &violations)
        }
        if let type = keywords["type"] {
            let names = type.arrayValue?.compactMap(\.stringValue) ?? [type.stringValue].compactMap { $0 }
            if !names.contains(where: { Self.matches(instance, type: $0) }) {
                fail("expected \(names.joined(separator: " or ")), got \(instance.typeName)")
            }
        }
        if let options = keywords["enum"]?.arrayValue, !options.contains(where: { Self.equal($0, instance) }) {
            fail("\(instance.canonicalText.prefix(60)) is not one of \(options.map(\.canonicalText).joined(separator: ", "))")
        }
        if let constant = keywords["const"], !Self.equal(constant, instance) {
            fail("must equal \(constant.canonicalText)")
        }
        try checkObject(instance, keywords, path: path, into: &violations)
        if case .array(let elements) = instance {
            if let minimum = keywords["minItems"]?.doubleValue, Double(elements.count) < minimum { fail("fewer than \(minimum) items") }
            if let items = keywords["items"] {
                for (index, element) in elements.enumerated() {
                    try check(element, against: items, path: "\(path)/\(index)", into: &violations)
                }
            }
        }
        if let number = instance.doubleValue {
            if let minimum = keywords["minimum"]?.doubleValue, number < minimum { fail("\(number) is less than \(minimum)") }
            if let maximum = keywords["maximum"]?.doubleValue, number > maximum { fail("\(number) is more than \(maximum)") }
        }
        if case .string(let text) = instance {
            try checkString(text, keywords, fail: fail)
        }
        if let options = keywords["anyOf"]?.arrayValue {
            let passing = try options.filter { try isValid(instance, against: $0, path: path) }.count
            if passing == 0 { fail("matches none of the anyOf schemas") }
        }
        if let options = keywords["oneOf"]?.arrayValue {
            let passing = try options.filter { try isValid(instance, against: $0, path: path) }.count
            if passing != 1 { fail("matches \(passing) of the oneOf schemas, not exactly 1") }
        }
    }

    private func checkObject(_ instance: JSONValue, _ keywords: [String: JSONValue], path: String, into violations: inout [Violation]) throws {
        guard case .object(let members) = instance else { return }
        for name in keywords["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where members[name] == nil {
            violations.append(Violation(path: path, message: "missing required property \(name)"))
        }
        let properties = keywords["properties"]?.objectValue ?? [:]
        for (name, value) in members.sorted(by: { $0.key < $1.key }) {
            let childPath = "\(path)/\(name)"
            if let propertySchema = properties[name] {
                try check(value, against: propertySchema, path: childPath, into: &violations)
            } else if let additional = keywords["additionalProperties"] {
                if case .bool(false) = additional {
                    violations.append(Violation(path: childPath, message: "property \(name) is not allowed"))
                } else {
                    try check(value, against: additional, path: childPath, into: &violations)
                }
            }
        }
    }

    private func checkString(_ text: String, _ keywords: [String: JSONValue], fail: (String) -> Void) throws {
        let length = Double(text.unicodeScalars.count)
        if let minimum = keywords["minLength"]?.doubleValue, length < minimum { fail("shorter than \(minimum)") }
        if let maximum = keywords["maxLength"]?.doubleValue, length > maximum { fail("longer than \(maximum)") }
        if let pattern = keywords["pattern"]?.stringValue, !(try Self.search(pattern, in: text)) {
            fail("\(text.prefix(60)) does not match \(pattern)")
        }
        if let format = keywords["format"]?.stringValue {
            guard format == "date-time" else { throw UnsupportedSchema(message: "unsupported format \(format)") }
            let shape = #"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"#
            if !(try Self.search(shape, in: text)) || Timestamp.parse(text) == nil { fail("\(text.prefix(40)) is not an RFC 3339 date-time") }
        }
    }

    private func isValid(_ instance: JSONValue, against schema: JSONValue, path: String) throws -> Bool {
        var inner: [Violation] = []
        try check(instance, against: schema, path: path, into: &inner)
        return inner.isEmpty
    }

    static func search(_ pattern: String, in text: String) throws -> Bool {
        let regex: NSRegularExpression
        do {
            regex = try NSRegularExpression(pattern: pattern)
        } catch {
            throw UnsupportedSchema(message: "invalid pattern \(pattern)")
        }
        return regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }

    static func matches(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("number", .number), ("string", .string), ("array", .array), ("object", .object): true
        case ("integer", .number): value.doubleValue.map { $0.rounded() == $0 } ?? false
        default: false
        }
    }

    /// JSON equality: numbers compare by value (`1` equals `1.0`).
    static func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.number, .number): a.doubleValue == b.doubleValue
        case (.array(let x), .array(let y)): x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        case (.object(let x), .object(let y)): x.count == y.count && x.allSatisfy { key, value in y[key].map { equal(value, $0) } ?? false }
        default: a == b
        }
    }
}
