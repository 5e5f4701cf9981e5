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
        GuardedClassification(ml: ml, rules: rules, breaker: breaker, features: features)
    }

    /// The rules' verdict (a synchronous context picks their never-failing overload).
    var ruleVerdict: Classification { rules.classify(stepAlert()) }

    func expectRules(_ outcome: StepOutcome<Classification>, reason: FallbackEventReason, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(outcome.value == ruleVerdict, sourceLocation: sourceLocation)
        #expect(outcome.value.classifier == .rules, sourceLocation: sourceLocation)
        #expect(outcome.provenance == StepProvenance(source: .secondary, fallbackUsed: true), sourceLocation: sourceLocation)
        #expect(outcome.fallbacks == [FallbackNote(breaker: "ml", strategy: "rules", reason: reason)], sourceLocation: sourceLocation)
    }

    @Test func mlSuccessHasNoNotes() async {
        let outcome = await step.classify(stepAlert())
        #expect(outcome.value == ScriptedClassifier.verdict)
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
        #expect(probe.value == ScriptedClassifier.verdict)
        #expect(probe.fallbacks.isEmpty)
        #expect(breaker.state == .closed)
        let next = await step.classify(stepAlert())
        #expect(next.value.classifier == .ml)
        #expect(ml.script.calls == 5)
    }

    @Test func flagSwitchedOffByHandRoutesToRulesUntilSwitchedOn() async {
        features.setEnabled(FeatureName.mlClassification, false)
        expectRules(await step.classify(stepAlert()), reason: .featureOff)
        #expect(ml.script.calls == 0)
        #expect(breaker.state == .closed)

        features.setEnabled(FeatureName.mlClassification, true)
        #expect(await step.classify(stepAlert()).value == ScriptedClassifier.verdict)
        #expect(ml.script.calls == 1)
    }

    @Test func withoutMLTheRulesArePrimary() async {
        let step = GuardedClassification(ml: nil, rules: rules, breaker: breaker, features: features)
        let outcome = await step.classify(stepAlert())
        #expect(outcome.value == ruleVerdict)
        #expect(outcome.provenance == StepProvenance(source: .primary, fallbackUsed: false))
        #expect(outcome.fallbacks.isEmpty)
    }
}
