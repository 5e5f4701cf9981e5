/// How the classification step turns the model's and the rules' answers into the
/// published verdict (`ml.minConfidence`, `ml.severityFloor`).
///
/// - **Confidence threshold**: a model verdict less confident than ``minConfidence`` is
///   not published; the rules' verdict is, with a fallback event of reason
///   `low_confidence` (strategy `rules`).
/// - **Severity floor**: when the alert's own severity label maps (through
///   ``Severity/init(sourceSeverity:)``) to one of ``severityFloor``, the published
///   severity is never less urgent than it. Whoever classified may raise it, fill it in
///   when the source has none, and choose the category; neither may downgrade a page.
public struct ClassificationPolicy: Sendable, Equatable {
    /// Source severities that set a floor. Default critical and high; empty turns the floor off.
    public var severityFloor: Set<Severity>
    /// The least model confidence (`0...1`) that is published. Default 0.5; 0 publishes every model verdict.
    public var minConfidence: Double

    /// Creates a policy; the defaults are the documented ones.
    public init(severityFloor: Set<Severity> = [.critical, .high], minConfidence: Double = 0.5) {
        self.severityFloor = severityFloor
        self.minConfidence = minConfidence
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
}
