import Foundation

/// The commonest record of an alert storm, one Alertmanager alert whose members are all
/// strings or objects of strings, read straight from its bytes into an ``Alert``.
///
/// Through the ``JSONValue`` tree, decoding such a record hashed every member of every
/// object into a dictionary and then hashed most keys again to read them: about two
/// thirds of its decoding time. This reader takes the members as they come, into the
/// alert's own label and annotation maps. It answers only a record whose meaning it can
/// take exactly as ``WebhookDecoding/decodeAlert(_:group:receivedAt:)`` would, and `nil`
/// for anything else — another key (any other format has one), a `null`, a value of
/// another type, a repeated key, no or empty `labels`, a limit broken, a time or status
/// that does not read, invalid JSON — which the tree then decodes, with its error if it
/// is one. `AlertDecoderDirectPathTests` hold the two equal over the sample corpora and
/// mutations of them.
extension JSONParser {
    /// The alert of `bytes` when they are a plain Alertmanager alert; else `nil`.
    /// - Parameter receivedAt: when the record was received; only used to infer the status
    ///   of an alert that names none.
    static func plainAlertmanagerAlert(_ bytes: [UInt8], limits: DecodingLimits, receivedAt: Date) -> Alert? {
        // The tree checks the depth of an object as it enters it: the labels are at 2.
        guard limits.maxDepth >= 2 else { return nil }
        var parser = JSONParser(bytes: bytes, limits: limits.json)
        do {
            return try parser.readPlainAlert(limits: limits, receivedAt: receivedAt)
        } catch {
            return nil
        }
    }

    private mutating func readPlainAlert(limits: DecodingLimits, receivedAt: Date) throws(JSONParseError) -> Alert? {
        skipWhitespace()
        guard consume(UInt8(ascii: "{")) else { return nil }
        skipWhitespace()
        let maxEntries = min(limits.maxLabels, limits.maxCollectionCount)
        var labels: [String: String]?
        var annotations: [String: String]?
        var startsAt: String?, endsAt: String?, generatorURL: String?, fingerprint: String?, status: String?
        var members = 0
        repeat {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
            let key = try parseString()
            guard try separateValue() else { return nil }
            let read: Bool
            switch key {
            case "labels": read = try readOnce(into: &labels, maxEntries: maxEntries)
            case "annotations": read = try readOnce(into: &annotations, maxEntries: maxEntries)
            case "startsAt": read = try readOnce(into: &startsAt)
            case "endsAt": read = try readOnce(into: &endsAt)
            case "generatorURL": read = try readOnce(into: &generatorURL)
            case "fingerprint": read = try readOnce(into: &fingerprint)
            case "status": read = try readOnce(into: &status)
            default: read = false
            }
            guard read else { return nil }
            members += 1
            guard members <= limits.maxCollectionCount else { return nil }
        } while try nextMember()
        skipWhitespace()
        guard index == bytes.count else { return nil }

        guard let labels, !labels.isEmpty else { return nil }
        guard let starts = Self.time(startsAt), let ends = Self.time(endsAt) else { return nil }
        var known: AlertStatus?
        if let status {
            guard let named = AlertStatus(rawValue: status.lowercased()) else { return nil }
            known = named
        }
        return WebhookDecoding.makeAlert(
            fingerprint: fingerprint ?? "", status: known, source: .alertmanager, labels: labels,
            annotations: annotations ?? [:], startsAt: starts, endsAt: ends, generatorURL: generatorURL, extra: [:],
            receivedAt: receivedAt
        )
    }

    /// An object of string members, at most `maxEntries`, none repeated; `nil` for any
    /// other value.
    private mutating func stringMap(maxEntries: Int) throws(JSONParseError) -> [String: String]? {
        guard consume(UInt8(ascii: "{")) else { return nil }
        skipWhitespace()
        if consume(UInt8(ascii: "}")) { return [:] }
        // Room for a typical label set from the start: grown from empty, a map rehashes
        // every key at each doubling (17 hashes for 7 labels instead of 7).
        var map = [String: String](minimumCapacity: 8)
        repeat {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
            let key = try parseString()
            guard try separateValue(), let value = try string() else { return nil }
            guard map.updateValue(value, forKey: key) == nil, map.count <= maxEntries else { return nil }
        } while try nextMember()
        return map
    }

    /// Reads a string value into `slot`; `false` when `slot` is set already (a repeated
    /// key) or the value is not a string.
    private mutating func readOnce(into slot: inout String?) throws(JSONParseError) -> Bool {
        guard slot == nil, let text = try string() else { return false }
        slot = text
        return true
    }

    /// Reads an object of strings into `slot`; `false` as ``readOnce(into:)``, or when it
    /// is not such an object or has over `maxEntries` members.
    private mutating func readOnce(into slot: inout [String: String]?, maxEntries: Int) throws(JSONParseError) -> Bool {
        guard slot == nil, let map = try stringMap(maxEntries: maxEntries) else { return false }
        slot = map
        return true
    }

    /// A string value; `nil` for any other.
    private mutating func string() throws(JSONParseError) -> String? {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
        return try parseString()
    }

    /// Past the `:` after a key and the white space around it; `false` when there is none.
    private mutating func separateValue() throws(JSONParseError) -> Bool {
        skipWhitespace()
        guard consume(UInt8(ascii: ":")) else { return false }
        skipWhitespace()
        return true
    }

    /// After a member: `true` past a `,` (another member follows), `false` past the `}`.
    /// - Throws: anything else, as the tree would.
    private mutating func nextMember() throws(JSONParseError) -> Bool {
        skipWhitespace()
        if consume(UInt8(ascii: ",")) {
            skipWhitespace()
            return true
        }
        if consume(UInt8(ascii: "}")) { return false }
        throw fail(.syntax, "expected ',' or '}'")
    }

    private mutating func consume(_ byte: UInt8) -> Bool {
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    /// The date of an optional alert time: `.some(nil)` when absent or unset, `nil` when
    /// it does not read.
    private static func time(_ text: String?) -> Date?? {
        guard let text else { return .some(nil) }
        switch Timestamp.alertTime(text) {
        case .unset: return .some(nil)
        case .at(let date): return .some(date)
        case .unreadable: return nil
        }
    }
}
