import Foundation
import Synchronization

/// A test on one optional string value of an alert (a label, the alert name, the
/// summary or the description).
public enum FieldMatcher: Sendable, CustomStringConvertible {
    /// The value is present and equal to the string (case-sensitive).
    case exact(String)
    /// The value is present and the regular expression matches somewhere in it
    /// (anchor with `^…$` to match the whole value).
    case regex(RulePattern)
    /// The value is present (`true`) or absent (`false`). An empty string counts as absent.
    case present(Bool)

    /// Whether `value` satisfies this matcher.
    public func matches(_ value: String?) -> Bool {
        let value = (value?.isEmpty ?? true) ? nil : value
        switch self {
        case let .exact(expected):
            return value == expected
        case let .regex(pattern):
            guard let value else { return false }
            return pattern.matches(value)
        case let .present(wanted):
            return (value != nil) == wanted
        }
    }

    /// How much this matcher narrows the alerts a rule applies to, the weight it adds to
    /// the rule's confidence (see ``RuleClassifier``): exact 0.15, regex 0.10,
    /// presence or absence 0.05.
    public var specificity: Double {
        switch self {
        case .exact: 0.15
        case .regex: 0.10
        case .present: 0.05
        }
    }

    public var description: String {
        switch self {
        case let .exact(value): "== \(value)"
        case let .regex(pattern): "~ /\(pattern.source)/"
        case let .present(wanted): wanted ? "present" : "absent"
        }
    }
}

/// A compiled regular expression from a rule file.
///
/// Matching remembers its answer per value: the values rules test (alert names,
/// severities, a handful of labels) repeat across an alert storm, and an ICU match costs
/// microseconds (each call converts the value to UTF-16) where a hash lookup costs tens
/// of nanoseconds. The memory is bounded: once it holds ``memoCapacity`` values it is
/// emptied and starts over, so a field whose values never repeat costs one lookup more
/// per match and no memory growth.
public struct RulePattern: Sendable {
    /// Values whose answer is remembered at most, per pattern.
    public static let memoCapacity = 4_096

    /// The pattern as written in the rule file.
    public let source: String
    private let expression: NSRegularExpression
    private let memo: BoundedMemo<String, Bool>

    /// Compiles `source` (ICU syntax; `(?i)` makes it case-insensitive).
    /// - Throws: the compiler's error when `source` is not a valid regular expression.
    public init(_ source: String) throws {
        self.source = source
        self.expression = try NSRegularExpression(pattern: source)
        self.memo = BoundedMemo(capacity: Self.memoCapacity)
    }

    /// Whether the pattern matches anywhere in `value`.
    public func matches(_ value: String) -> Bool {
        if let known = memo.value(for: value) { return known }
        let range = NSRange(value.startIndex..<value.endIndex, in: value)
        let matched = expression.firstMatch(in: value, range: range) != nil
        memo.remember(matched, for: value)
        return matched
    }

    /// How many values the memo holds now (at most ``memoCapacity``).
    var rememberedValues: Int { memo.count }
}

/// Which value of an alert a ``FieldMatcher`` looks at.
public enum AlertField: Sendable, Hashable, CustomStringConvertible {
    /// The `alertname` label.
    case alertName
    /// The `summary` annotation.
    case summary
    /// The `description` annotation.
    case description
    /// Any label, by key.
    case label(String)

    /// The field's value in `alert`, `nil` when absent.
    public func value(in alert: Alert) -> String? {
        switch self {
        case .alertName: alert.alertName
        case .summary: alert.summary
        case .description: alert.description
        case let .label(key): alert.labels[key]
        }
    }

    public var description: String {
        switch self {
        case .alertName: "alertname"
        case .summary: "summary"
        case .description: "description"
        case let .label(key): "labels.\(key)"
        }
    }
}
