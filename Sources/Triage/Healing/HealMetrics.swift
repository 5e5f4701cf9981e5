import Locking
import Metrics

/// The healer's metrics (names in ``MetricNames``), and the counts `/admin/heal` shows.
public final class HealMetrics: Sendable {
    /// Why a repair was not healed.
    public enum SkipReason: String, Sendable, CaseIterable {
        /// Older than `heal.maxAge`.
        case tooOld = "too_old"
        /// None of its steps is in `heal.steps`.
        case stepOff = "step_off"
        /// A newer update of the alert was published since.
        case superseded
        /// The healed incident could not be encoded.
        case unencodable
    }

    /// Counts since the start.
    public struct Counts: Sendable, Equatable {
        /// Steps healed, by step.
        public var healed: [HealableStep: Int] = [:]
        /// Repairs skipped, by reason.
        public var skipped: [SkipReason: Int] = [:]
        /// Heal attempts that failed (the step stayed pending), by step.
        public var stillDegraded: [HealableStep: Int] = [:]
        /// Seconds from the incident's publication to its last heal.
        public var lastLagSeconds: Double?

        /// Nothing counted.
        public init() {}
    }

    private let healedCounters: [HealableStep: Counter]
    private let failedCounters: [HealableStep: Counter]
    private let skippedCounters: [SkipReason: Counter]
    private let lagGauge: Gauge
    private let state = LockedValue(Counts())

    /// Metrics made by `factory` (the bootstrapped metrics system's unless a test passes one).
    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        healedCounters = Dictionary(uniqueKeysWithValues: HealableStep.allCases.map {
            ($0, Counter(label: MetricNames.healHealed, dimensions: [("step", $0.rawValue)], factory: factory))
        })
        failedCounters = Dictionary(uniqueKeysWithValues: HealableStep.allCases.map {
            ($0, Counter(label: MetricNames.healFailedAttempts, dimensions: [("step", $0.rawValue)], factory: factory))
        })
        skippedCounters = Dictionary(uniqueKeysWithValues: SkipReason.allCases.map {
            ($0, Counter(label: MetricNames.healSkipped, dimensions: [("reason", $0.rawValue)], factory: factory))
        })
        lagGauge = Gauge(label: MetricNames.healLag, factory: factory)
    }

    /// Counts so far.
    public var counts: Counts { state.withLock { $0 } }

    func healed(_ step: HealableStep) {
        healedCounters[step]?.increment()
        state.withLock { $0.healed[step, default: 0] += 1 }
    }

    func stillDegraded(_ step: HealableStep) {
        failedCounters[step]?.increment()
        state.withLock { $0.stillDegraded[step, default: 0] += 1 }
    }

    func skipped(_ reason: SkipReason) {
        skippedCounters[reason]?.increment()
        state.withLock { $0.skipped[reason, default: 0] += 1 }
    }

    func lag(_ seconds: Double) {
        lagGauge.record(seconds)
        state.withLock { $0.lastLagSeconds = seconds }
    }
}
