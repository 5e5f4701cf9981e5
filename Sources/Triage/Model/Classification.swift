/// Which classifier produced a ``Classification``.
public enum ClassifierKind: String, Sendable, Codable, CaseIterable {
    /// The ML inference service.
    case ml
    /// The rule-based classifier (the fallback, or the only one when ML is off).
    case rules
}

/// What the classification step decided for one alert: the verdict it publishes and
/// the model's own answer, so every decision of the policy can be audited.
public struct ClassificationDecision: Sendable, Equatable {
    /// The verdict published as the incident's `classification`.
    public var published: Classification
    /// The model's answer before the policy (``ClassificationPolicy``); `nil` when the
    /// model was not asked or did not answer (ML off, breaker open, error, timeout).
    public var model: Classification?

    public init(published: Classification, model: Classification? = nil) {
        self.published = published
        self.model = model
    }
}

/// The verdict on one alert.
public struct Classification: Sendable, Codable, Equatable {
    public var severity: Severity
    public var category: Category
    /// How sure the classifier is, in `0...1`.
    public var confidence: Double
    public var classifier: ClassifierKind
    /// For rule verdicts, the name of the rule that matched (`nil` for the default).
    public var rule: String?

    public init(severity: Severity, category: Category, confidence: Double, classifier: ClassifierKind, rule: String? = nil) {
        self.severity = severity
        self.category = category
        self.confidence = confidence
        self.classifier = classifier
        self.rule = rule
    }
}
