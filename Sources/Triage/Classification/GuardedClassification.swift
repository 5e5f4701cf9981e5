import Resilience

/// The classification step: ML inference behind the `ml` circuit breaker, with the
/// rule-based classifier as its fallback.
///
/// The feature `ml_classification` (``FeatureName/mlClassification``) gates the ML call through a
/// ``FeatureFallback``: it is off while the breaker is open or while an operator switched
/// it off, and then the rules classify (reason `feature_off`). While it is on, a failing or
/// timed-out ML call also falls back to the rules (reason `error` / `timeout`).
public struct GuardedClassification: ClassificationStep {
    private let ml: (any AlertClassifier)?
    private let rules: RuleClassifier
    private let breaker: CircuitBreaker
    private let features: FeatureFallback

    /// Creates the step.
    /// - Parameters:
    ///   - ml: the ML classifier (usually a micro-batcher over the inference client);
    ///     `nil` when ML is disabled by configuration, so the rules are the primary.
    ///   - rules: the rule-based classifier.
    ///   - breaker: guards `ml`; register it with `features` under ``FeatureName/mlClassification``.
    ///   - features: the feature switches.
    public init(ml: (any AlertClassifier)?, rules: RuleClassifier, breaker: CircuitBreaker, features: FeatureFallback) {
        self.ml = ml
        self.rules = rules
        self.breaker = breaker
        self.features = features
    }

    /// Classifies `alert`; never fails (the rules always answer).
    public func classify(_ alert: Alert) async -> StepOutcome<Classification> {
        // The rules' synchronous, never-failing overload (not AlertClassifier's async one).
        let rules: @Sendable (Alert) -> Classification = self.rules.classify
        guard let ml else {
            return StepOutcome(value: rules(alert), provenance: StepProvenance(source: .primary, fallbackUsed: false))
        }
        let breaker = self.breaker
        do {
            let gated = try await features.executeIfEnabled(
                FeatureName.mlClassification,
                operation: {
                    try await breaker.call(
                        fallback: FunctionFallback(name: StrategyName.rules) { _ in rules(alert) },
                        policy: .onAnyFailure
                    ) { try await ml.classify(alert) }
                },
                fallback: { GuardedResult(value: rules(alert)) }
            )
            let result = gated.value
            let notes = FallbackNote.served(in: gated, strategy: StrategyName.rules) + FallbackNote.served(in: result)
            return StepOutcome(
                value: result.value,
                provenance: StepProvenance(source: notes.isEmpty ? .primary : .secondary, fallbackUsed: !notes.isEmpty),
                fallbacks: notes
            )
        } catch {
            // Only an error the breaker does not count reaches here (e.g. cancellation):
            // the rules still answer, so no alert goes unclassified.
            return StepOutcome(value: rules(alert), provenance: StepProvenance(source: .secondary, fallbackUsed: true))
        }
    }
}
