/// The rule-based classifier: the fallback when ML classification is unavailable, and
/// the only classifier when ML is off. Pure, synchronous, never fails.
///
/// For each alert, the first rule of the ``RuleSet`` whose matchers all hold decides:
/// - severity: the rule's, else the source's own (`labels["severity"]` through
///   ``Severity/init(sourceSeverity:)``), else the rule set's default;
/// - category: the rule's, else the keyword heuristics, else the default;
/// - confidence: ``ClassificationRule/confidence`` (`min(0.95, 0.5 + Σ specificity)`,
///   0.65 to 0.95).
///
/// When no rule matches, the verdict uses the same severity and category fallbacks and
/// has confidence `0.2 + 0.1 (source severity known) + 0.1 (a keyword found)`, i.e.
/// 0.2 to 0.4, below every rule verdict; its ``Classification/rule`` is `nil`.
public struct RuleClassifier: AlertClassifier {
    /// The rules this classifier applies.
    public let ruleSet: RuleSet
    /// Every field some rule tests, once each.
    private let testedFields: [AlertField]
    /// The index of the first applying rule (-1: none) by the values of ``testedFields``,
    /// which alone decide it. Trying the rules in order looked a field up in the alert's
    /// labels per matcher and asked a pattern's memo per regex (a hash and a lock each):
    /// ~6% of a rules-path record's CPU for the shipped rules, where alert names and
    /// severities repeat across a storm.
    private let firstApplying: BoundedMemo<[String?], Int>

    /// Creates a classifier over a loaded rule set.
    public init(ruleSet: RuleSet) {
        self.ruleSet = ruleSet
        var seen = Set<AlertField>()
        testedFields = ruleSet.rules.flatMap { $0.matchers.map(\.field) }.filter { seen.insert($0).inserted }
        firstApplying = BoundedMemo(capacity: RulePattern.memoCapacity)
    }

    /// Loads the rule file at `path` (see ``RuleSet`` for the format).
    /// - Throws: ``RuleFileError`` with the file, rule index and problem when the file is
    ///   unreadable or invalid; call this at start so a bad file stops the service.
    public init(contentsOf path: String) throws(RuleFileError) {
        self.init(ruleSet: try RuleSet(contentsOf: path))
    }

    /// Classifies one alert. Never fails.
    public func classify(_ alert: Alert) -> Classification {
        let sourceSeverity = alert.sourceSeverity.flatMap(Severity.init(sourceSeverity:))
        if let rule = firstApplyingRule(alert) {
            return Classification(
                severity: rule.severity ?? sourceSeverity ?? ruleSet.defaultSeverity,
                category: rule.category ?? ruleSet.keywords.category(for: alert) ?? ruleSet.defaultCategory,
                confidence: rule.confidence,
                classifier: .rules,
                rule: rule.name
            )
        }
        let keywordCategory = ruleSet.keywords.category(for: alert)
        let confidence = 0.2 + (sourceSeverity == nil ? 0 : 0.1) + (keywordCategory == nil ? 0 : 0.1)
        return Classification(
            severity: sourceSeverity ?? ruleSet.defaultSeverity,
            category: keywordCategory ?? ruleSet.defaultCategory,
            confidence: confidence,
            classifier: .rules,
            rule: nil
        )
    }

    /// The first rule whose matchers all hold for `alert`, if any.
    func firstApplyingRule(_ alert: Alert) -> ClassificationRule? {
        let values = testedFields.map { $0.value(in: alert) }
        let index = firstApplying.value(for: values) { ruleSet.rules.firstIndex { $0.matches(alert) } ?? -1 }
        return index >= 0 ? ruleSet.rules[index] : nil
    }

    /// Classifies each alert in order. Never fails.
    public func classify(_ alerts: [Alert]) -> [Classification] {
        alerts.map { classify($0) }
    }
}
