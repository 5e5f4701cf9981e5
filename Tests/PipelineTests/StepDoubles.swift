import Foundation
import Locking
import Testing
import Triage

// Test doubles of the step ports (Steps.swift). The real enrichment and classification
// steps live elsewhere; these tests are about delivery, so the steps are small,
// deterministic and instant, and the worker takes whatever steps it is given. They answer
// without waiting (so the worker processes whole polls in its consume loop and publishes
// them as batches), except a gated classification, which must be awaited (a task per
// record): the worker tests cover both paths.

/// Enrichment double: the alert's service, owned by `team-<service>`, served by the primary.
struct FixedEnrichment: EnrichmentStep {
    func enrich(_ alert: Alert) async -> StepOutcome<ServiceInfo?> {
        answer(alert)
    }

    func enrichWithoutWaiting(_ alert: Alert) -> StepOutcome<ServiceInfo?>? {
        answer(alert)
    }

    private func answer(_ alert: Alert) -> StepOutcome<ServiceInfo?> {
        StepOutcome(
            value: alert.serviceName.map { ServiceInfo(name: $0, ownerTeam: "team-\($0)", tier: 2) },
            provenance: StepProvenance(source: .primary, fallbackUsed: false)
        )
    }
}

/// Classification double: a fixed verdict. For alerts whose fingerprint starts with 0–7
/// (about half) it says the ML breaker was open and the rules served, so those alerts
/// produce one `incidents.fallback-events` record each. If given a gate, every call
/// waits at it first (backpressure and shutdown tests).
struct FixedClassification: ClassificationStep {
    var gate: Gate?

    /// Whether the double reports a fallback for `alert` (and so one fallback event).
    static func fallsBack(_ alert: Alert) -> Bool {
        alert.fingerprint.first.map { "01234567".contains($0) } ?? false
    }

    func classify(_ alert: Alert) async -> StepOutcome<ClassificationDecision> {
        if let gate { await gate.pass() }
        return answer(alert)
    }

    /// Ungated: the verdict at once. Gated: `nil`, the call must wait at the gate.
    func classifyWithoutWaiting(_ alert: Alert) -> StepOutcome<ClassificationDecision>? {
        gate == nil ? answer(alert) : nil
    }

    private func answer(_ alert: Alert) -> StepOutcome<ClassificationDecision> {
        guard Self.fallsBack(alert) else {
            return StepOutcome(
                value: ClassificationDecision(published: Classification(severity: .high, category: .availability, confidence: 0.9, classifier: .ml)),
                provenance: StepProvenance(source: .primary, fallbackUsed: false)
            )
        }
        return StepOutcome(
            value: ClassificationDecision(published: Classification(severity: .medium, category: .other, confidence: 0.5, classifier: .rules, rule: "default")),
            provenance: StepProvenance(source: .default, fallbackUsed: true),
            fallbacks: [FallbackNote(breaker: "ml", strategy: "rules", reason: .circuitOpen)]
        )
    }
}

/// Dedup double: every alert seen once, at its reception time.
struct FirstSightingDedup: DedupStep {
    func record(_ alert: Alert, at time: Date) async -> StepOutcome<DedupInfo> {
        answer(at: time)
    }

    func recordWithoutWaiting(_ alert: Alert, at time: Date) -> StepOutcome<DedupInfo>? {
        answer(at: time)
    }

    private func answer(at time: Date) -> StepOutcome<DedupInfo> {
        StepOutcome(value: .seen(occurrences: 1, firstSeen: time, lastSeen: time), provenance: StepProvenance(source: .primary, fallbackUsed: false))
    }
}

/// A gate step calls wait at until the test opens it. Counts arrivals and the most
/// callers inside at once; a caller whose task is cancelled leaves without waiting.
final class Gate: Sendable {
    private struct State {
        var isOpen = false
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextID: UInt64 = 0
        var inside = 0
        var peak = 0
        var arrivals = 0
    }

    private let state = LockedValue(State())
    private let arrivalsStream: AsyncStream<Int>
    private let arrivalsSink: AsyncStream<Int>.Continuation

    init() {
        (arrivalsStream, arrivalsSink) = AsyncStream.makeStream(of: Int.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Callers that reached the gate so far.
    var arrivals: Int { state.withLock { $0.arrivals } }
    /// The most callers that were inside (waiting or passing) at once.
    var peak: Int { state.withLock { $0.peak } }

    /// Waits until the gate is open (or the task is cancelled).
    func pass() async {
        let (id, arrivals): (UInt64, Int) = state.withLock { state in
            state.inside += 1
            state.arrivals += 1
            state.peak = max(state.peak, state.inside)
            defer { state.nextID += 1 }
            return (state.nextID, state.arrivals)
        }
        arrivalsSink.yield(arrivals)
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let passNow = state.withLock { state in
                    if state.isOpen || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if passNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
        state.withLock { $0.inside -= 1 }
    }

    /// Lets every waiting and future caller through.
    func open() {
        let waiters = state.withLock { state in
            state.isOpen = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Suspends until at least `count` callers arrived, at most `limit` (then records an
    /// issue). Call from one task at a time.
    func waitForArrivals(_ count: Int, within limit: Duration = Bounded.defaultLimit, sourceLocation: SourceLocation = #_sourceLocation) async {
        if arrivals >= count { return }
        await Bounded.wait("\(count) arrivals at the gate", within: limit, context: { "\(self.arrivals) arrived" }, sourceLocation: sourceLocation) { () async -> Bool? in
            for await seen in self.arrivalsStream where seen >= count { return true }
            return nil
        }
    }
}
