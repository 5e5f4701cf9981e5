/// How the classification step turns the model's and the rules' answers into the
/// published verdict (`ml.minConfidence`, `ml.severityFloor`).
///
/// - **Confidence threshold**: a model verdict less confident than ``minConfidence`` is
///   not trusted on its own: the rules are asked too and ``lowConfidence`` says which of
///   the two verdicts is published (by default the more urgent one). When it is the
///   rules', a fallback event of reason `low_confidence` (strategy `rules`) is written.
/// - **Severity floor**: when the alert's own severity label maps (through
///   ``Severity/init(sourceSeverity:)``) to one of ``severityFloor``, the published
///   severity is never less urgent than it. Whoever classified may raise it, fill it in
///   when the source has none, and choose the category; neither may downgrade a page.
public struct ClassificationPolicy: Sendable, Equatable {
    /// Source severities that set a floor. Default critical and high; empty turns the floor off.
    public var severityFloor: Set<Severity>
    /// The least model confidence (`0...1`) that is published unchallenged. Default 0.5;
    /// 0 publishes every model verdict.
    public var minConfidence: Double
    /// What is published when the model is less confident than ``minConfidence``. Default
    /// ``LowConfidenceVerdict/moreSevere``.
    public var lowConfidence: LowConfidenceVerdict

    /// Creates a policy; the defaults are the documented ones.
    public init(
        severityFloor: Set<Severity> = [.critical, .high], minConfidence: Double = 0.5, lowConfidence: LowConfidenceVerdict = .moreSevere
    ) {
        self.severityFloor = severityFloor
        self.minConfidence = minConfidence
        self.lowConfidence = lowConfidence
    }

    /// The policy that publishes what the classifier said: no floor, no threshold.
    public static let off = ClassificationPolicy(severityFloor: [], minConfidence: 0)

    /// The floor `alert` sets: its source severity when that is one of ``severityFloor``,
    /// else `nil` (no label, a spelling no tool uses, or a level without a floor).
    public func floor(for alert: Alert) -> Severity? {
        guard let source = alert.sourceSeverity.flatMap(Severity.init(sourceSeverity:)), severityFloor.contains(source) else {
            return nil
        }
        return source
    }

    /// `verdict` with its severity raised to the floor of `alert` when it is below it;
    /// everything else (category, confidence, classifier, rule) unchanged.
    public func applyingFloor(to verdict: Classification, for alert: Alert) -> Classification {
        guard let floor = floor(for: alert), floor < verdict.severity else { return verdict }
        var raised = verdict
        raised.severity = floor
        return raised
    }

    /// Whether a model verdict is confident enough to publish.
    public func accepts(_ model: Classification) -> Bool {
        model.confidence >= minConfidence
    }

    /// The verdict published for a `model` answer that ``accepts(_:)`` refused, given the
    /// `rules`' answer for the same alert: one of the two, whole (severity, category,
    /// confidence and classifier stay together), as ``lowConfidence`` says.
    public func verdict(unsureModel model: Classification, rules: Classification) -> Classification {
        switch lowConfidence {
        case .rules: rules
        case .moreSevere: model.severity < rules.severity ? model : rules
        }
    }
}

/// `ml.lowConfidence`: which verdict is published when the model is less confident than
/// `ml.minConfidence`.
public enum LowConfidenceVerdict: String, Sendable, CaseIterable {
    /// The rules' verdict, whatever its severity.
    case rules
    /// The more urgent of the model's and the rules' verdicts, the rules' when both name
    /// the same severity. In doubt, page: a page too many costs a look, a page missed an
    /// outage, so an unsure model may not be overruled downwards by rules that know less.
    case moreSevere = "more_severe"
}
