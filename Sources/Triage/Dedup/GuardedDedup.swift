import Foundation
import Resilience

/// The dedup step: counts deliveries of an alert in the dedup store, whose writes go
/// through the `dedup` breaker inside a ``DegradedService``. While the breaker is open
/// (or read-only mode is switched on) the store is read-only: the write is refused, the
/// incident says dedup was unavailable, and a `read_only` fallback event is written.
public struct GuardedDedup: DedupStep {
    private let store: DegradedService<any DedupStore>

    /// Creates the step over a store wrapped in its degraded-service switch.
    public init(store: DegradedService<any DedupStore>) {
        self.store = store
    }

    /// Counts `alert` at `time`; never fails.
    public func record(_ alert: Alert, at time: Date) async -> StepOutcome<DedupInfo> {
        let fingerprint = alert.fingerprint
        do {
            let record = try await store.write { try await $0.record(fingerprint: fingerprint, seenAt: time) }
            return StepOutcome(
                value: .seen(occurrences: record.occurrences, firstSeen: record.firstSeen, lastSeen: record.lastSeen),
                provenance: StepProvenance(source: .primary, fallbackUsed: false)
            )
        } catch {
            let note: FallbackNote
            switch error {
            case .readOnly(_, _, let execution):
                note = FallbackNote(execution)
            case .breaker(let failure):
                // A rejection reaches here when the breaker is half-open with every probe
                // slot taken (an open breaker makes the store read-only before the call).
                let reason: FallbackEventReason = switch failure {
                case .timeout: .timeout
                case .open: .circuitOpen
                case .operationFailed, .fallbackFailed: .error
                }
                note = FallbackNote(breaker: store.breaker.name, strategy: StrategyName.readOnly, reason: reason)
            }
            return StepOutcome(
                value: .unavailable, provenance: StepProvenance(source: .unavailable, fallbackUsed: true), fallbacks: [note]
            )
        }
    }
}

/// The dedup step when dedup is switched off by configuration: every incident says
/// dedup was unavailable; no fallback ran, so no event is written.
public struct DisabledDedup: DedupStep {
    public init() {}

    private static let outcome = StepOutcome<DedupInfo>(value: .unavailable, provenance: StepProvenance(source: .unavailable, fallbackUsed: false))

    public func record(_ alert: Alert, at time: Date) async -> StepOutcome<DedupInfo> {
        Self.outcome
    }

    /// Always answers: there is nothing to wait for.
    public func recordWithoutWaiting(_ alert: Alert, at time: Date) -> StepOutcome<DedupInfo>? {
        Self.outcome
    }
}
