import Resilience

/// The classification step: ML inference behind the `ml` circuit breaker, with the
/// rule-based classifier as its fallback, and the ``ClassificationPolicy`` applied to
/// what is published.
///
/// The feature `ml_classification` (``FeatureName/mlClassification``) gates the ML call through a
/// ``FeatureFallback``: it is off while the breaker is open or while an operator switched
/// it off, and then the rules classify (reason `feature_off`). While it is on, a failing or
/// timed-out ML call also falls back to the rules (reason `error` / `timeout`). An answer
/// less confident than the policy's threshold is a successful call for the breaker; the
/// policy then chooses between it and the rules' verdict, and when the rules' is
/// published that is a fallback of reason `low_confidence`. Whoever answered, the policy's severity floor is
/// applied to the published verdict, and the model's own answer is kept next to it.
///
/// The call goes through the `ml` breaker's ``AdaptivePolicy``, and the ML classifier
/// may turn alerts away too (the micro-batcher's concurrency limit) or stop waiting for
/// them (its wait budgets): then the rules classify the alert (reason `throttled`,
/// `limited` or `timeout`). Each alert's priority is its
/// provisional severity's place in the ``SeverityAdmission``, so `info` alerts go to the
/// rules first and `critical` ones last.
public struct GuardedClassification: ClassificationStep {
    private let ml: (any AlertClassifier)?
    private let rules: RuleClassifier
    private let protection: AdaptivePolicy
    private let features: FeatureFallback
    private let policy: ClassificationPolicy
    private let admission: SeverityAdmission

    /// Creates the step.
    /// - Parameters:
    ///   - ml: the ML classifier (usually a micro-batcher over the inference client);
    ///     `nil` when ML is disabled by configuration, so the rules are the primary.
    ///   - rules: the rule-based classifier.
    ///   - protection: guards `ml`: the `ml` breaker (register it with `features` under
    ///     ``FeatureName/mlClassification``) and its adaptive parts, if any.
    ///   - features: the feature switches.
    ///   - policy: the confidence threshold and severity floor (default: the documented defaults).
    ///   - admission: how alerts rank when `protection` ranks calls (default: by severity,
    ///     `info` first turned away).
    public init(
        ml: (any AlertClassifier)?, rules: RuleClassifier, protection: AdaptivePolicy, features: FeatureFallback,
        policy: ClassificationPolicy = ClassificationPolicy(), admission: SeverityAdmission = .default
    ) {
        self.ml = ml
        self.rules = rules
        self.protection = protection
        self.features = features
        self.policy = policy
        self.admission = admission
    }

    /// Without ML the rules answer at once; with ML, `nil` (the call must wait).
    public func classifyWithoutWaiting(_ alert: Alert) -> StepOutcome<ClassificationDecision>? {
        guard ml == nil else { return nil }
        return decided(rules.classify(alert), model: nil, for: alert, provenance: StepProvenance(source: .primary, fallbackUsed: false))
    }

    /// Classifies `alert`; never fails (the rules always answer).
    public func classify(_ alert: Alert) async -> StepOutcome<ClassificationDecision> {
        if let answered = classifyWithoutWaiting(alert) { return answered }
        // The rules' synchronous, never-failing overload (not AlertClassifier's async one).
        let rules: @Sendable (Alert) -> Classification = self.rules.classify
        guard let ml else { return decided(rules(alert), model: nil, for: alert, provenance: StepProvenance(source: .primary, fallbackUsed: false)) }
        let protection = self.protection
        // One rules pass per alert: it ranks the alert for the protection and is every
        // fallback's answer and the low-confidence comparison.
        let provisional = rules(alert)
        let priority = admission.priority(of: alert, rules: provisional)
        do {
            let gated = try await features.executeIfEnabled(
                FeatureName.mlClassification,
                operation: {
                    try await protection.call(
                        priority: priority,
                        fallback: FunctionFallback(name: StrategyName.rules) { _ in provisional },
                        policy: .onAnyFailure
                    ) { try await ml.classify(alert, priority: priority) }
                },
                fallback: { GuardedResult(value: provisional) }
            )
            let result = gated.value
            var notes = FallbackNote.served(in: gated, strategy: StrategyName.rules) + FallbackNote.served(in: result)
            // Only the model's own answer carries `.ml`: every fallback above is the rules.
            let model = result.value.classifier == .ml ? result.value : nil
            var verdict = result.value
            if let model, !policy.accepts(model) {
                verdict = policy.verdict(unsureModel: model, rules: provisional)
                if verdict.classifier == .rules {
                    notes.append(FallbackNote(breaker: BreakerName.ml, strategy: StrategyName.rules, reason: .lowConfidence))
                }
            }
            return decided(
                verdict, model: model, for: alert,
                provenance: StepProvenance(source: notes.isEmpty ? .primary : .secondary, fallbackUsed: !notes.isEmpty),
                fallbacks: notes
            )
        } catch {
            // Only an error the breaker does not count reaches here (e.g. cancellation):
            // the rules still answer, so no alert goes unclassified.
            return decided(provisional, model: nil, for: alert, provenance: StepProvenance(source: .secondary, fallbackUsed: true))
        }
    }

    /// The model's verdict on `alert` through the `ml` breaker and its protection, with
    /// no fallback: what a heal replaces the rules' verdict with. The policy applies as on
    /// the live path: an answer below the confidence threshold publishes the rules'
    /// verdict with the model's next to it (a fallback of reason `low_confidence`, and final).
    /// - Parameter priority: the call's priority for the protection; heals pass 0, the
    ///   lowest, so live alerts are admitted first.
    /// - Throws: ``StepUnavailable`` when ML is off (by configuration or an operator), or
    ///   the breaker or a protection part refuses the call, or the model fails or times out.
    public func classifyByModel(_ alert: Alert, priority: Int = 0) async throws(StepUnavailable) -> StepOutcome<ClassificationDecision> {
        guard let ml else { throw StepUnavailable(.classification, reason: "ml.enabled is off") }
        if let cause = features.offCause(FeatureName.mlClassification) {
            throw StepUnavailable(.classification, reason: "\(FeatureName.mlClassification) is off (\(cause))")
        }
        let outcome = await protection.execute(priority: priority) { try await ml.classify(alert, priority: priority) }
        guard case .success(let model) = outcome else { throw StepUnavailable(.classification, outcome) }
        guard policy.accepts(model) else {
            // The rules' synchronous overload, and only here: a confident model needs no rules pass.
            let rules: @Sendable (Alert) -> Classification = self.rules.classify
            let verdict = policy.verdict(unsureModel: model, rules: rules(alert))
            let unsure = verdict.classifier == .rules
            return decided(
                verdict, model: model, for: alert, provenance: StepProvenance(source: unsure ? .secondary : .primary, fallbackUsed: unsure),
                fallbacks: unsure ? [FallbackNote(breaker: BreakerName.ml, strategy: StrategyName.rules, reason: .lowConfidence)] : [])
        }
        return decided(model, model: model, for: alert, provenance: StepProvenance(source: .primary, fallbackUsed: false))
    }

    private func decided(
        _ verdict: Classification, model: Classification?, for alert: Alert, provenance: StepProvenance, fallbacks: [FallbackNote] = []
    ) -> StepOutcome<ClassificationDecision> {
        StepOutcome(
            value: ClassificationDecision(published: policy.applyingFloor(to: verdict, for: alert), model: model),
            provenance: provenance, fallbacks: fallbacks
        )
    }
}
