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

    /// Creates a classifier over a loaded rule set.
    public init(ruleSet: RuleSet) {
        self.ruleSet = ruleSet
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
        if let rule = ruleSet.rules.first(where: { $0.matches(alert) }) {
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

    /// Classifies each alert in order. Never fails.
    public func classify(_ alerts: [Alert]) -> [Classification] {
        alerts.map { classify($0) }
    }
}
