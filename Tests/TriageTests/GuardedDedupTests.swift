import Foundation
import Resilience
import Testing
@testable import Triage
import TriageTestSupport

/// Dedup writes through a DegradedService: counted, unavailable on failure, read-only
/// while the breaker is open or the switch is on.
@Suite struct GuardedDedupTests {
    static let t0 = Date(timeIntervalSince1970: 1_795_953_600)

    let clock = ManualClock()
    let store = ScriptedStore()
    let breaker: CircuitBreaker
    let degraded: DegradedService<any DedupStore>

    init() throws {
        breaker = try makeBreaker(.tripping(after: 2, open: .seconds(30), callTimeout: .seconds(1)), clock: clock, name: "dedup")
        degraded = DegradedService(service: store, breaker: breaker)
    }

    var step: GuardedDedup { GuardedDedup(store: degraded) }

    func expectUnavailable(_ outcome: StepOutcome<DedupInfo>, reason: FallbackEventReason, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(outcome.value == .unavailable, sourceLocation: sourceLocation)
        #expect(outcome.provenance == StepProvenance(source: .unavailable, fallbackUsed: true), sourceLocation: sourceLocation)
        #expect(outcome.fallbacks == [FallbackNote(breaker: "dedup", strategy: "read_only", reason: reason)], sourceLocation: sourceLocation)
    }

    @Test func successCountsOccurrences() async {
        let first = await step.record(stepAlert(), at: Self.t0)
        let second = await step.record(stepAlert(), at: Self.t0.addingTimeInterval(30))
        #expect(first.value == .seen(occurrences: 1, firstSeen: Self.t0, lastSeen: Self.t0))
        #expect(second.value == .seen(occurrences: 2, firstSeen: Self.t0, lastSeen: Self.t0.addingTimeInterval(30)))
        #expect(second.provenance == StepProvenance(source: .primary, fallbackUsed: false))
        #expect(second.fallbacks.isEmpty)
    }

    @Test func failureIsUnavailableWithReasonError() async {
        store.script.set(.fail)
        expectUnavailable(await step.record(stepAlert(), at: Self.t0), reason: .error)
        #expect(breaker.state == .closed)
    }

    @Test func timeoutIsUnavailableWithReasonTimeout() async {
        store.script.set(.hang(clock))
        let step = self.step
        let outcome = await advancing(clock, sleepers: 2, by: .seconds(1)) { await step.record(stepAlert(), at: Self.t0) }
        expectUnavailable(outcome, reason: .timeout)
    }

    @Test func openBreakerMakesItReadOnlyWithoutTouchingTheStore() async {
        store.script.set(.fail)
        for _ in 0..<2 { expectUnavailable(await step.record(stepAlert(), at: Self.t0), reason: .error) }
        #expect(breaker.state == .open)
        store.script.set(.answer)

        for _ in 0..<3 { expectUnavailable(await step.record(stepAlert(), at: Self.t0), reason: .readOnly) }
        #expect(store.script.calls == 2)
        #expect(await store.memory.lookup(fingerprint: "fp-1") == nil)

        clock.advance(by: .seconds(30))
        #expect(await step.record(stepAlert(), at: Self.t0).value == .seen(occurrences: 1, firstSeen: Self.t0, lastSeen: Self.t0))
        #expect(breaker.state == .closed)
    }

    @Test func readOnlySwitchedOnByHand() async {
        degraded.enableReadOnly()
        expectUnavailable(await step.record(stepAlert(), at: Self.t0), reason: .readOnly)
        #expect(store.script.calls == 0)

        degraded.disableReadOnly()
        #expect(await step.record(stepAlert(), at: Self.t0).value == .seen(occurrences: 1, firstSeen: Self.t0, lastSeen: Self.t0))
    }

    /// Half-open with its only probe in flight: the breaker rejects the next write, which
    /// is a circuit-open fallback, not an error of the store.
    @Test func rejectionWhileHalfOpenIsCircuitOpen() async {
        store.script.set(.fail)
        for _ in 0..<2 { _ = await step.record(stepAlert(), at: Self.t0) }
        clock.advance(by: .seconds(30))
        store.script.set(.hang(clock))
        let step = self.step
        let probe = Task { await step.record(stepAlert(), at: Self.t0) }
        // The probe's store call and the breaker's call timeout.
        await clock.waitForSleepers(count: 2)
        #expect(breaker.state == .halfOpen)

        expectUnavailable(await step.record(stepAlert(), at: Self.t0), reason: .circuitOpen)
        #expect(store.script.calls == 3)

        clock.advance(by: .seconds(1))
        expectUnavailable(await probe.value, reason: .timeout)
    }
}
