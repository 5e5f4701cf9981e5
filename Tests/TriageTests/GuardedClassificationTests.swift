import Resilience
import Testing
@testable import Triage
import TriageTestSupport

/// ML behind its breaker and feature flag, the rules as fallback; a scripted ML
/// classifier and a breaker on a manual clock.
@Suite struct GuardedClassificationTests {
    let clock = ManualClock()
    let ml = ScriptedClassifier()
    let breaker: CircuitBreaker
    let features: FeatureFallback
    let rules: RuleClassifier

    init() throws {
        breaker = try makeBreaker(.tripping(after: 3, open: .seconds(30), callTimeout: .seconds(1)), clock: clock, name: "ml")
        features = FeatureFallback(clock: clock)
        features.register(FeatureName.mlClassification, breaker: breaker)
        rules = try RuleClassifier(contentsOf: Fixture.repositoryRoot.appendingPathComponent("deploy/rules.yaml").path)
    }

    var step: GuardedClassification {
        GuardedClassification(ml: ml, rules: rules, protection: AdaptivePolicy(breaker: breaker), features: features)
    }

    /// The rules' verdict (a synchronous context picks their never-failing overload).
    var ruleVerdict: Classification { rules.classify(stepAlert()) }

    func expectRules(_ outcome: StepOutcome<ClassificationDecision>, reason: FallbackEventReason, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(outcome.value.published == ruleVerdict, sourceLocation: sourceLocation)
        #expect(outcome.value.published.classifier == .rules, sourceLocation: sourceLocation)
        #expect(outcome.provenance == StepProvenance(source: .secondary, fallbackUsed: true), sourceLocation: sourceLocation)
        #expect(outcome.fallbacks == [FallbackNote(breaker: "ml", strategy: "rules", reason: reason)], sourceLocation: sourceLocation)
    }

    @Test func mlSuccessHasNoNotes() async {
        let outcome = await step.classify(stepAlert())
        #expect(outcome.value.published == ScriptedClassifier.verdict)
        #expect(outcome.provenance == StepProvenance(source: .primary, fallbackUsed: false))
        #expect(outcome.fallbacks.isEmpty)
    }

    @Test func mlFailureFallsBackToRulesWithReasonError() async {
        ml.script.set(.fail)
        expectRules(await step.classify(stepAlert()), reason: .error)
        #expect(breaker.state == .closed)
    }

    @Test func mlTimeoutFallsBackToRulesWithReasonTimeout() async {
        ml.script.set(.hang(clock))
        let step = self.step
        let outcome = await advancing(clock, sleepers: 2, by: .seconds(1)) { await step.classify(stepAlert()) }
        expectRules(outcome, reason: .timeout)
        #expect(breaker.snapshot().totals.timeouts == 1)
    }

    @Test func openBreakerTurnsTheFeatureOffAndMLIsNotCalled() async {
        ml.script.set(.fail)
        for _ in 0..<3 { expectRules(await step.classify(stepAlert()), reason: .error) }
        #expect(breaker.state == .open)
        #expect(features.offCause(FeatureName.mlClassification) == .circuitOpen)
        #expect(ml.script.calls == 3)

        for _ in 0..<5 { expectRules(await step.classify(stepAlert()), reason: .featureOff) }
        #expect(ml.script.calls == 3)
    }

    @Test func breakerClosesAfterTheOpenDurationAndMLServesAgain() async {
        ml.script.set(.fail)
        for _ in 0..<3 { _ = await step.classify(stepAlert()) }
        ml.script.set(.answer)
        clock.advance(by: .seconds(29))
        expectRules(await step.classify(stepAlert()), reason: .featureOff)
        #expect(ml.script.calls == 3)

        clock.advance(by: .seconds(1))
        #expect(features.isEnabled(FeatureName.mlClassification))
        let probe = await step.classify(stepAlert())
        #expect(probe.value.published == ScriptedClassifier.verdict)
        #expect(probe.fallbacks.isEmpty)
        #expect(breaker.state == .closed)
        let next = await step.classify(stepAlert())
        #expect(next.value.published.classifier == .ml)
        #expect(ml.script.calls == 5)
    }

    @Test func flagSwitchedOffByHandRoutesToRulesUntilSwitchedOn() async {
        features.setEnabled(FeatureName.mlClassification, false)
        expectRules(await step.classify(stepAlert()), reason: .featureOff)
        #expect(ml.script.calls == 0)
        #expect(breaker.state == .closed)

        features.setEnabled(FeatureName.mlClassification, true)
        #expect(await step.classify(stepAlert()).value.published == ScriptedClassifier.verdict)
        #expect(ml.script.calls == 1)
    }

    @Test func withoutMLTheRulesArePrimary() async {
        let step = GuardedClassification(ml: nil, rules: rules, protection: AdaptivePolicy(breaker: breaker), features: features)
        let outcome = await step.classify(stepAlert())
        #expect(outcome.value.published == ruleVerdict)
        #expect(outcome.value.model == nil)
        #expect(outcome.provenance == StepProvenance(source: .primary, fallbackUsed: false))
        #expect(outcome.fallbacks.isEmpty)
    }

    // MARK: - Policy: confidence threshold, severity floor, both verdicts

    /// An alert with `severity` as its source label (none when `nil`).
    func alert(severity: String?) -> Alert {
        var alert = stepAlert()
        alert.labels["severity"] = severity
        return alert
    }

    func step(answering answer: Classification, policy: ClassificationPolicy = ClassificationPolicy()) -> GuardedClassification {
        GuardedClassification(ml: ScriptedClassifier(answer: answer), rules: rules, protection: AdaptivePolicy(breaker: breaker), features: features, policy: policy)
    }

    @Test func bothVerdictsRecordedWhenTheModelIsPublished() async {
        let outcome = await step.classify(stepAlert())
        #expect(outcome.value.model == ScriptedClassifier.verdict)
        #expect(outcome.value.published == ScriptedClassifier.verdict)
    }

    @Test func modelBelowMinConfidencePublishesTheRulesWithReasonLowConfidence() async {
        let unsure = Classification(severity: .info, category: .other, confidence: 0.49, classifier: .ml)
        let outcome = await step(answering: unsure, policy: ClassificationPolicy(minConfidence: 0.5)).classify(stepAlert())
        expectRules(outcome, reason: .lowConfidence)
        #expect(outcome.value.model == unsure)
        // A confident-enough answer is a success for the breaker, not a failure.
        #expect(breaker.snapshot().totals.failures == 0)
    }

    @Test func unsureModelMoreUrgentThanTheRulesIsPublishedWithoutFallback() async throws {
        // By default (ml.lowConfidence more_severe) doubt resolves towards the page.
        let rulesSay = ruleVerdict.severity
        let moreUrgent = try #require(Severity.allCases.first { $0 < rulesSay }, "the rules' verdict must leave room above it")
        let unsure = Classification(severity: moreUrgent, category: .latency, confidence: 0.3, classifier: .ml)
        let outcome = await step(answering: unsure).classify(stepAlert())
        #expect(outcome.value.published == unsure)
        #expect(outcome.value.model == unsure)
        #expect(outcome.provenance == StepProvenance(source: .primary, fallbackUsed: false))
        #expect(outcome.fallbacks.isEmpty)
    }

    @Test func unsureModelAsOrLessUrgentThanTheRulesPublishesTheRules() async {
        for modelSays in Severity.allCases where modelSays >= ruleVerdict.severity {
            let unsure = Classification(severity: modelSays, category: .latency, confidence: 0.3, classifier: .ml)
            let outcome = await step(answering: unsure).classify(stepAlert())
            expectRules(outcome, reason: .lowConfidence)
            #expect(outcome.value.model == unsure, "\(modelSays)")
        }
    }

    @Test func lowConfidenceRulesAlwaysPublishesTheRules() async {
        let policy = ClassificationPolicy(minConfidence: 0.5, lowConfidence: .rules)
        for modelSays in Severity.allCases {
            let unsure = Classification(severity: modelSays, category: .latency, confidence: 0.3, classifier: .ml)
            let outcome = await step(answering: unsure, policy: policy).classify(stepAlert())
            expectRules(outcome, reason: .lowConfidence)
        }
    }

    @Test func unsureVerdictChoiceKeepsEachVerdictWhole() {
        let model = Classification(severity: .critical, category: .capacity, confidence: 0.4, classifier: .ml)
        let rules = Classification(severity: .high, category: .other, confidence: 0.3, classifier: .rules, rule: nil)
        #expect(ClassificationPolicy().verdict(unsureModel: model, rules: rules) == model)
        #expect(ClassificationPolicy(lowConfidence: .rules).verdict(unsureModel: model, rules: rules) == rules)
        var tie = model
        tie.severity = .high
        #expect(ClassificationPolicy().verdict(unsureModel: tie, rules: rules) == rules, "a tie goes to the fallback")
    }

    @Test func modelAtMinConfidenceIsPublished() async {
        let sure = Classification(severity: .low, category: .errors, confidence: 0.5, classifier: .ml)
        let outcome = await step(answering: sure, policy: ClassificationPolicy(minConfidence: 0.5)).classify(stepAlert())
        #expect(outcome.value.published == sure)
        #expect(outcome.fallbacks.isEmpty)
    }

    @Test func floorRaisesTheModelToTheSourceSeverity() async {
        let low = Classification(severity: .medium, category: .errors, confidence: 0.9, classifier: .ml)
        for (source, floor) in [("critical", Severity.critical), ("P1", .critical), ("error", .high), ("high", .high)] {
            let outcome = await step(answering: low).classify(alert(severity: source))
            #expect(outcome.value.published.severity == floor, "\(source)")
            #expect(outcome.value.published.category == .errors)
            #expect(outcome.value.published.classifier == .ml)
            #expect(outcome.value.model == low, "the model's own answer is kept")
            #expect(outcome.fallbacks.isEmpty)
        }
    }

    @Test func floorNeverLowersAndOnlyCoversTheConfiguredLevels() async {
        let critical = Classification(severity: .critical, category: .availability, confidence: 0.9, classifier: .ml)
        #expect(await step(answering: critical).classify(alert(severity: "high")).value.published.severity == .critical)
        let info = Classification(severity: .info, category: .other, confidence: 0.9, classifier: .ml)
        // warning (medium) has no floor by default; with `medium` configured it has.
        #expect(await step(answering: info).classify(alert(severity: "warning")).value.published.severity == .info)
        let withMedium = ClassificationPolicy(severityFloor: [.critical, .high, .medium])
        #expect(await step(answering: info, policy: withMedium).classify(alert(severity: "warning")).value.published.severity == .medium)
        #expect(await step(answering: info, policy: .off).classify(alert(severity: "critical")).value.published.severity == .info)
    }

    @Test func withoutSourceSeverityTheModelDecides() async {
        let info = Classification(severity: .info, category: .other, confidence: 0.9, classifier: .ml)
        for source in [nil, "", "bogus"] {
            let outcome = await step(answering: info).classify(alert(severity: source))
            #expect(outcome.value.published == info, "\(String(describing: source))")
            #expect(ClassificationPolicy().floor(for: alert(severity: source)) == nil)
        }
    }

    @Test func floorAlsoAppliesToTheRules() async {
        let unsure = Classification(severity: .info, category: .other, confidence: 0.1, classifier: .ml)
        let source = alert(severity: "critical")
        let outcome = await step(answering: unsure).classify(source)
        #expect(outcome.value.published.classifier == .rules)
        #expect(outcome.value.published.severity == .critical)
        let ruleVerdict: @Sendable (Alert) -> Classification = rules.classify
        #expect(outcome.value.published == ClassificationPolicy().applyingFloor(to: ruleVerdict(source), for: source))

        let rulesOnly = GuardedClassification(ml: nil, rules: rules, protection: AdaptivePolicy(breaker: breaker), features: features)
        #expect(await rulesOnly.classify(source).value.published.severity <= .critical)
        #expect(await rulesOnly.classify(alert(severity: "error")).value.published.severity <= .high)
    }

    // MARK: - Adaptive protection

    /// An order ranking `alert`'s provisional severity first and `critical` last.
    func admission(rankingFirst alert: Alert) throws -> SeverityAdmission {
        let rulesSay: @Sendable (Alert) -> Classification = rules.classify
        let provisional = min(alert.sourceSeverity.flatMap(Severity.init(sourceSeverity:)) ?? .info, rulesSay(alert).severity)
        try #require(provisional != .critical)
        let rest = Severity.allCases.filter { $0 != provisional && $0 != .critical }
        return try #require(SeverityAdmission(order: [provisional] + rest + [.critical]))
    }

    @Test func aThrottledAlertIsClassifiedByTheRulesWithReasonThrottled() async throws {
        let throttle = try AdaptiveThrottle(clock: clock, random: { 0 })
        for _ in 0..<10 { throttle.recordOutcome(accepted: false) }  // the model accepted none of them
        let step = GuardedClassification(
            ml: ml, rules: rules, protection: AdaptivePolicy(breaker: breaker, throttle: throttle), features: features)
        expectRules(await step.classify(stepAlert()), reason: .throttled)
        #expect(ml.script.calls == 0 && breaker.state == .closed)
    }

    @Test func theLowestRankedSeverityIsThrottledFirstAndCriticalStillReachesTheModel() async throws {
        let low = stepAlert()
        let admission = try admission(rankingFirst: low)
        var configuration = AdaptiveThrottle.Configuration()
        configuration.priorityLevels = admission.levels
        let throttle = try AdaptiveThrottle(configuration, clock: clock, random: { 0 })
        // 100 lowest-ranked requests, 40 accepted: a fifth of the window's requests is to
        // be shed, all of it from the lowest rank.
        for index in 0..<100 { throttle.recordOutcome(priority: 0, accepted: index < 40) }
        let step = GuardedClassification(
            ml: ml, rules: rules, protection: AdaptivePolicy(breaker: breaker, throttle: throttle), features: features,
            admission: admission)
        expectRules(await step.classify(low), reason: .throttled)
        var critical = stepAlert()
        critical.labels["severity"] = "critical"
        let outcome = await step.classify(critical)
        #expect(outcome.fallbacks.isEmpty)
        #expect(outcome.value.model == ScriptedClassifier.verdict)
        #expect(ml.script.calls == 1)
    }

    @Test func capacityReservedForCriticalAlertsIsKeptFromTheOthers() async throws {
        var configuration = ConcurrencyLimit.Configuration()
        configuration.initialLimit = 10
        configuration.reservedShares = [SeverityAdmission.default.priority(of: .critical): 0.3]
        let limit = try ConcurrencyLimit(configuration, clock: clock)
        let step = GuardedClassification(
            ml: ml, rules: rules, protection: AdaptivePolicy(breaker: breaker, concurrencyLimit: limit), features: features)
        let held = (0..<7).compactMap { _ in limit.tryAcquire(priority: 0) }
        #expect(held.count == 7)
        let ruleVerdict: @Sendable (Alert) -> Classification = rules.classify
        try #require(ruleVerdict(stepAlert()).severity != .critical)
        expectRules(await step.classify(stepAlert()), reason: .limited)
        var critical = stepAlert()
        critical.labels["severity"] = "critical"
        #expect(await step.classify(critical).fallbacks.isEmpty)
        #expect(ml.script.calls == 1)
        for permit in held { limit.release(permit, outcome: .ignored) }
        #expect(await step.classify(stepAlert()).fallbacks.isEmpty)
    }
}
