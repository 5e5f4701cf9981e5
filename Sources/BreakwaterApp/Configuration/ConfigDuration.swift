import Foundation

/// A duration as written in configuration: a sequence of number+unit parts such as
/// `250ms`, `5s`, `1m`, `1m30s` or `1.5s`.
///
/// Units: `ns`, `us`, `ms`, `s`, `m`, `h`. Negative durations cannot be written.
/// Encodes back to the shortest canonical form (`1m30s`, `250ms`).
public struct ConfigDuration: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// The duration.
    public let duration: Duration

    /// What a valid duration looks like; used in error messages.
    public static let expectedFormat = "a duration such as 250ms, 5s, 1m or 1m30s (units ns, us, ms, s, m, h)"

    /// Wraps a duration.
    public init(_ duration: Duration) { self.duration = duration }

    /// A duration of whole seconds.
    public static func seconds(_ value: Int64) -> ConfigDuration { ConfigDuration(.seconds(value)) }
    /// A duration of whole milliseconds.
    public static func milliseconds(_ value: Int64) -> ConfigDuration { ConfigDuration(.milliseconds(value)) }

    private static let units: [(suffix: String, nanoseconds: Int64)] = [
        ("h", 3_600_000_000_000), ("m", 60_000_000_000), ("s", 1_000_000_000),
        ("ms", 1_000_000), ("us", 1_000), ("ns", 1),
    ]

    /// Parses `text`; returns `nil` when it is not a valid duration (empty, missing
    /// unit, unknown unit, negative, or too large).
    public init?(parsing text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        var rest = Substring(trimmed)
        guard !rest.isEmpty else { return nil }
        var total: Double = 0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            let unitText = rest.prefix { $0.isLetter }
            guard let unit = Self.units.first(where: { $0.suffix == unitText }) else { return nil }
            rest = rest.dropFirst(unitText.count)
            total += value * Double(unit.nanoseconds)
        }
        guard total.isFinite, total < Double(Int64.max) else { return nil }
        self.duration = .nanoseconds(Int64(total.rounded()))
    }

    /// Whole nanoseconds of the duration (saturating for durations beyond ~292 years).
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = duration.components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? Int64.min : Int64.max }
        return scaled + attoseconds / 1_000_000_000
    }

    /// Canonical text, e.g. `1m30s`, `250ms`, `0s`.
    public var description: String {
        var remaining = nanoseconds
        if remaining == 0 { return "0s" }
        var parts = ""
        if remaining < 0 { parts = "-"; remaining = -remaining }
        for unit in Self.units where remaining >= unit.nanoseconds {
            parts += "\(remaining / unit.nanoseconds)\(unit.suffix)"
            remaining %= unit.nanoseconds
        }
        return parts
    }

    public static func < (lhs: ConfigDuration, rhs: ConfigDuration) -> Bool { lhs.duration < rhs.duration }

    /// Decodes from a string; throws `DecodingError.dataCorrupted` naming the expected
    /// format when the text is not a duration.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let parsed = ConfigDuration(parsing: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: Self.expectedFormat)
        }
        self = parsed
    }

    /// Encodes as its canonical text.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
