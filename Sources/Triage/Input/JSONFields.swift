import Foundation

/// Typed, path-aware access to one JSON object's members for the decoders: every getter
/// throws an ``AlertDecodingError`` naming the field's full path.
struct JSONFields {
    let members: [String: JSONValue]
    /// Path of this object, e.g. `alerts[2]`; empty for the top level.
    let path: String
    let limits: DecodingLimits

    init(_ members: [String: JSONValue], path: String, limits: DecodingLimits) {
        self.members = members
        self.path = path
        self.limits = limits
    }

    func pathOf(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func has(_ key: String) -> Bool { members[key] != nil }

    /// The member, treating JSON `null` as absent (producers write `null` for "not set").
    func value(_ key: String) -> JSONValue? {
        guard let value = members[key], value != .null else { return nil }
        return value
    }

    func wrongType(_ key: String, expected: String, got: JSONValue) -> AlertDecodingError {
        AlertDecodingError(.wrongType, "\(pathOf(key)) must be \(expected), got \(got.typeName)")
    }

    func missing(_ key: String) -> AlertDecodingError {
        AlertDecodingError(.missingField, "\(pathOf(key)) is required")
    }

    func optionalString(_ key: String) throws(AlertDecodingError) -> String? {
        guard let value = value(key) else { return nil }
        guard case .string(let text) = value else { throw wrongType(key, expected: "a string", got: value) }
        return text
    }

    func string(_ key: String) throws(AlertDecodingError) -> String {
        guard let text = try optionalString(key) else { throw missing(key) }
        return text
    }

    /// A required string that must not be empty or only white space.
    func nonEmptyString(_ key: String) throws(AlertDecodingError) -> String {
        let text = try string(key)
        guard !text.isBlank else {
            throw AlertDecodingError(.invalidValue, "\(pathOf(key)) must not be empty")
        }
        return text
    }

    func optionalObject(_ key: String) throws(AlertDecodingError) -> JSONFields? {
        guard let value = value(key) else { return nil }
        guard case .object(let members) = value else { throw wrongType(key, expected: "an object", got: value) }
        return JSONFields(members, path: pathOf(key), limits: limits)
    }

    func array(_ key: String) throws(AlertDecodingError) -> [JSONValue] {
        guard let value = value(key) else { throw missing(key) }
        guard case .array(let elements) = value else { throw wrongType(key, expected: "an array", got: value) }
        return elements
    }

    /// An optional non-negative integer (written as a JSON number without fraction).
    func optionalInteger(_ key: String) throws(AlertDecodingError) -> Int? {
        guard let value = value(key) else { return nil }
        guard case .number(let text) = value else { throw wrongType(key, expected: "an integer", got: value) }
        guard let integer = Int(text) else {
            throw AlertDecodingError(.invalidValue, "\(pathOf(key)) must be an integer, got \(text.prefix(32))")
        }
        return integer
    }

    /// An optional `{string: string}` map (labels, annotations), at most `limits.maxLabels`
    /// entries.
    func optionalStringMap(_ key: String) throws(AlertDecodingError) -> [String: String]? {
        guard let value = value(key) else { return nil }
        guard case .object(let members) = value else { throw wrongType(key, expected: "an object of strings", got: value) }
        guard members.count <= limits.maxLabels else {
            throw AlertDecodingError(.tooLarge, "\(pathOf(key)) has \(members.count) entries, more than \(limits.maxLabels)")
        }
        for (name, element) in members {
            guard case .string = element else {
                throw AlertDecodingError(.wrongType, "\(pathOf(key)).\(name) must be a string, got \(element.typeName)")
            }
        }
        // `mapValues` keeps the parsed table's layout: no key is hashed again.
        return members.mapValues { element in
            if case .string(let text) = element { text } else { "" }
        }
    }

    /// An optional RFC 3339 timestamp; Go's zero time (`0001-01-01T00:00:00Z`) reads as `nil`.
    func optionalTimestamp(_ key: String) throws(AlertDecodingError) -> Date? {
        guard let text = try optionalString(key) else { return nil }
        switch Timestamp.alertTime(text) {
        case .unset: return nil
        case .at(let date): return date
        case .unreadable:
            throw AlertDecodingError(.invalidValue, "\(pathOf(key)) is not an RFC 3339 timestamp: \(text.prefix(64))")
        }
    }

    /// An optional alert status, `firing` or `resolved`.
    func optionalStatus(_ key: String) throws(AlertDecodingError) -> AlertStatus? {
        guard let text = try optionalString(key) else { return nil }
        guard let status = AlertStatus(rawValue: text.lowercased()) else {
            throw AlertDecodingError(.invalidValue, "\(pathOf(key)) must be firing or resolved, got \(text.prefix(32))")
        }
        return status
    }
}
