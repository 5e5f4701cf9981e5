/// One rule of a rule file: every matcher must hold for the rule to apply; the first
/// applying rule of the file decides.
public struct ClassificationRule: Sendable {
    /// The rule's name, unique in its file; reported as ``Classification/rule``.
    public let name: String
    /// The tests on the alert, all of which must hold. Never empty.
    public let matchers: [(field: AlertField, matcher: FieldMatcher)]
    /// The severity this rule assigns; `nil` keeps the source's own severity
    /// (see ``Severity/init(sourceSeverity:)``), then the file's default.
    public let severity: Severity?
    /// The category this rule assigns; `nil` uses the keyword heuristics, then the
    /// file's default.
    public let category: Category?

    /// Creates a rule. Never fails; an empty `matchers` list makes a rule that matches
    /// every alert (rule files reject that: they use their `defaults` instead).
    public init(name: String, matchers: [(field: AlertField, matcher: FieldMatcher)], severity: Severity? = nil, category: Category? = nil) {
        self.name = name
        self.matchers = matchers
        self.severity = severity
        self.category = category
    }

    /// Whether every matcher holds for `alert`.
    public func matches(_ alert: Alert) -> Bool {
        matchers.allSatisfy { $0.matcher.matches($0.field.value(in: alert)) }
    }

    /// The confidence of a verdict by this rule: `min(0.95, 0.5 + Σ specificity)`, where
    /// each matcher adds its ``FieldMatcher/specificity`` (exact 0.15, regex 0.10,
    /// presence/absence 0.05). A rule with one exact matcher gives 0.65, one with an
    /// exact and a regex matcher 0.75; every rule verdict is above any default verdict.
    public var confidence: Double {
        min(0.95, 0.5 + matchers.reduce(0) { $0 + $1.matcher.specificity })
    }
}
