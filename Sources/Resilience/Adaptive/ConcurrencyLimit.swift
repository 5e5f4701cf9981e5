import CoreMetrics
import Locking

/// An adaptive concurrency limit that follows the dependency's latency: TCP Vegas's delay
/// rule, as in Netflix's `VegasLimit`.
///
/// Why Vegas and not Gradient2: Gradient2 compares short-term latency with a long-term
/// *average*, which drifts up with the latency during a long incident until the limit
/// grows back into the overload (failsafe-go #127). Vegas compares with the *minimum*
/// latency seen (the latency with no queue), and a minimum only rises when the old one
/// leaves its window; ``Configuration/maxHealthyLatency`` bounds even that.
///
/// Each completed call is one sample. With `baseline` the smallest latency of the current
/// and the previous ``Configuration/baselineWindow``, and `rtt` this call's, the queue the
/// limit builds is estimated as `limit × (1 − baseline / rtt)`, and then:
/// - a call that was dropped (timed out, overloaded) or took more than
///   ``Configuration/maxHealthyLatency``: `limit × backoffRatio` (and its latency is not
///   a baseline);
/// - queue above ``Configuration/beta``: `limit − 1`;
/// - queue below ``Configuration/alpha``: `limit + 1`, but only when the limit was being
///   used (the call started with at least half the limit in flight), so a quiet period
///   does not inflate it, and not within ``Configuration/holdAfterBackoff`` of the last
///   backoff, so it does not probe straight back into the overload it just left;
/// - otherwise unchanged; always within `minLimit...maxLimit`.
///
/// The limit changes at most once a round trip, as TCP Vegas does: a call admitted
/// before the last change tells of the limit as it was, and only counts for the
/// baseline. Otherwise calls completing together (an ML batch of 32) would move it 32
/// times for one observation, and one slow batch would take it to the floor.
///
/// The baseline is the latency of calls that did not queue, so start below the
/// dependency's capacity (``Configuration/initialLimit``, default 20): a limiter whose
/// very first calls already queue learns that queue as the baseline and keeps it.
///
/// ``tryAcquire(priority:)`` refuses a call while `limit` calls are in flight (fewer for
/// low priorities when ``Configuration/reservedShares`` keeps some for higher ones); in shadow mode
/// (``Configuration/shadow``) it admits it and counts it in ``AdaptiveRejections/shadowRejections``.
/// Every acquired ``Permit`` must be given back with ``release(_:outcome:)`` exactly once.
///
/// Thread-safe.
public final class ConcurrencyLimit: Sendable {
    /// The limiter's settings. Every property has a default; ``validate()`` (run by the
    /// initializer) rejects out-of-range values naming the field.
    public struct Configuration: Sendable, Equatable {
        /// The limit before any sample. Default 20.
        public var initialLimit = 20
        /// The lowest limit (at least 1). Default 1.
        public var minLimit = 1
        /// The highest limit. Default 200.
        public var maxLimit = 200
        /// Grow while the estimated queue is below this many calls. Default 3.
        public var alpha: Double = 3
        /// Shrink while the estimated queue is above this many calls (more than
        /// ``alpha``). Default 6.
        public var beta: Double = 6
        /// The factor applied to the limit on a dropped or unhealthy call, in 0.5..<1.
        /// Default 0.9.
        public var backoffRatio: Double = 0.9
        /// A call slower than this is overload, whatever the baseline; `nil`: no bound.
        /// Default `nil`.
        public var maxHealthyLatency: Duration?
        /// How long a minimum latency stands: the baseline is the minimum of the current
        /// and the previous window, so it can rise (a slower model deployed) one to two
        /// windows after the latency did. Default 60 s.
        public var baselineWindow: Duration = .seconds(60)
        /// How long the limit does not grow after a backoff (a dropped call, or one slower
        /// than ``maxHealthyLatency``). Vegas grows one call a round while its queue
        /// estimate is below alpha, and at a small limit one call is a large step: against
        /// a server whose latency grows with what it is sent, the limit backed off from 2
        /// to 1 and grew back to 2 after the next answer, every second, and each time a
        /// round of answers came too late. Default 5 s; `.zero`: grow again at once.
        public var holdAfterBackoff: Duration = .seconds(5)
        /// Shares of the limit only calls of a higher priority may use, by priority: with
        /// `[2: 0.3]`, calls of priority 0 and 1 find 30% of the limit (rounded down)
        /// taken, calls of priority 2 and up may use all of it. Shares add up per
        /// priority: with `[1: 0.2, 2: 0.3]`, priority 0 gets 50%, priority 1 70%. Each
        /// share in 0..<1, their sum below 1. Default none: every call is equal.
        public var reservedShares: [Int: Double] = [:]
        /// Compute and report decisions without refusing. Default `false`.
        public var shadow = false

        /// The defaults.
        public init() {}

        /// Checks every field.
        /// - Throws: ``CircuitBreaker/ConfigurationError`` naming the first invalid field.
        public func validate() throws(CircuitBreaker.ConfigurationError) {
            guard minLimit >= 1 else {
                throw CircuitBreaker.ConfigurationError(field: "minLimit", reason: "must be at least 1, got \(minLimit)")
            }
            guard maxLimit >= minLimit else {
                throw CircuitBreaker.ConfigurationError(field: "maxLimit", reason: "must be at least minLimit (\(minLimit)), got \(maxLimit)")
            }
            guard (minLimit...maxLimit).contains(initialLimit) else {
                throw CircuitBreaker.ConfigurationError(
                    field: "initialLimit", reason: "must be in minLimit...maxLimit (\(minLimit)...\(maxLimit)), got \(initialLimit)")
            }
            guard alpha.isFinite, alpha >= 0 else {
                throw CircuitBreaker.ConfigurationError(field: "alpha", reason: "must be 0 or more, got \(alpha)")
            }
            guard beta.isFinite, beta > alpha else {
                throw CircuitBreaker.ConfigurationError(field: "beta", reason: "must be more than alpha (\(alpha)), got \(beta)")
            }
            guard backoffRatio >= 0.5, backoffRatio < 1 else {
                throw CircuitBreaker.ConfigurationError(field: "backoffRatio", reason: "must be in 0.5..<1, got \(backoffRatio)")
            }
            if let maxHealthyLatency, maxHealthyLatency <= .zero {
                throw CircuitBreaker.ConfigurationError(field: "maxHealthyLatency", reason: "must be positive, got \(maxHealthyLatency)")
            }
            guard baselineWindow > .zero else {
                throw CircuitBreaker.ConfigurationError(field: "baselineWindow", reason: "must be positive, got \(baselineWindow)")
            }
            guard holdAfterBackoff >= .zero else {
                throw CircuitBreaker.ConfigurationError(field: "holdAfterBackoff", reason: "must be zero or more, got \(holdAfterBackoff)")
            }
            for (priority, share) in reservedShares.sorted(by: { $0.key < $1.key }) where !(share >= 0 && share < 1) {
                throw CircuitBreaker.ConfigurationError(field: "reservedShares", reason: "the share of priority \(priority) must be in 0..<1, got \(share)")
            }
            guard reservedShares.values.reduce(0, +) < 1 else {
                throw CircuitBreaker.ConfigurationError(field: "reservedShares", reason: "must add up to less than 1, got \(reservedShares.values.reduce(0, +))")
            }
        }
    }

    /// One admitted call; give it back with ``ConcurrencyLimit/release(_:outcome:)``.
    public struct Permit: Sendable {
        /// When the call was admitted, on the limiter's clock.
        public let startedAt: Duration
        /// Calls in flight once this one was admitted (itself included).
        public let inFlightAtStart: Int
        /// Whether the limit (less what is reserved above the call's priority) was
        /// reached, so only shadow mode admitted it.
        public let overLimit: Bool
    }

    /// How an admitted call ended, for the limit.
    public enum Outcome: Sendable, Equatable {
        /// It completed; its latency is a sample.
        case success
        /// It timed out or the dependency said it is overloaded: shrink.
        case dropped
        /// It ended without telling anything about capacity (cancelled, a bad request):
        /// no sample.
        case ignored
    }

    /// The limiter at one moment.
    public struct Snapshot: Sendable, Equatable {
        /// The current limit.
        public var limit: Int
        /// Calls in flight.
        public var inFlight: Int
        /// The latency baseline, once a call completed.
        public var baseline: Duration?
        /// What it refused, or in shadow mode would have.
        public var refused: AdaptiveRejections
    }

    private struct State: Sendable {
        var limit: Double
        /// When the limit last changed.
        var lastChange: Duration?
        /// The limit does not grow before this (``Configuration/holdAfterBackoff``).
        var growsAgainAt: Duration?
        var inFlight = 0
        var windowStart: Duration = .zero
        var currentMinimum: Duration?
        var previousMinimum: Duration?
        var refused = AdaptiveRejections()

        var baseline: Duration? {
            switch (currentMinimum, previousMinimum) {
            case let (current?, previous?): min(current, previous)
            case let (current, previous): current ?? previous
            }
        }
    }

    /// The settings it was created with.
    public let configuration: Configuration
    private let clock: ResilienceClock
    private let state: LockedValue<State>
    private let limitGauge: Gauge?

    /// Creates a limiter at ``Configuration/initialLimit`` with nothing in flight.
    /// - Parameters:
    ///   - breaker: when set, the limit is recorded as the gauge
    ///     `adaptive_concurrency_limit{breaker}` at every change.
    ///   - metricsFactory: where that gauge goes; `nil` means the bootstrapped `MetricsSystem`.
    /// - Throws: ``CircuitBreaker/ConfigurationError`` for an invalid `configuration`.
    public convenience init<C: Clock>(
        _ configuration: Configuration = Configuration(), clock: C = ContinuousClock(), breaker: String? = nil,
        metricsFactory: (any MetricsFactory)? = nil
    ) throws(CircuitBreaker.ConfigurationError) where C.Duration == Duration {
        try configuration.validate()
        let gauge = breaker.map {
            Gauge(label: "adaptive_concurrency_limit", dimensions: [("breaker", $0)], factory: metricsFactory ?? MetricsSystem.factory)
        }
        gauge?.record(configuration.initialLimit)
        self.init(validated: configuration, clock: ResilienceClock(clock), limitGauge: gauge)
    }

    // Validation stays in the generic convenience initializer: Swift 6.3.1's optimizer
    // crashes (CopyPropagation, "Found ownership error") on a throwing initializer that
    // stores a lock, specialized across modules in the release build.
    private init(validated configuration: Configuration, clock: ResilienceClock, limitGauge: Gauge?) {
        self.configuration = configuration
        self.clock = clock
        self.limitGauge = limitGauge
        state = LockedValue(State(limit: Double(configuration.initialLimit)))
    }

    /// Admits a call unless `limit` calls are in flight, less the shares reserved for
    /// priorities above `priority` (in shadow mode, always).
    /// - Parameter priority: the call's priority; higher is more important, 0 the lowest.
    /// - Returns: the call's permit, or `nil` when it is refused; never fails.
    public func tryAcquire(priority: Int = 0) -> Permit? {
        let now = clock.now()
        let reservedAbove = configuration.reservedShares.reduce(0) { sum, entry in entry.key > priority ? sum + entry.value : sum }
        return state.withLock { state in
            let limit = Int(state.limit)
            // The small addend keeps 0.29 · 100 from rounding down to 28.
            let overLimit = state.inFlight >= limit - Int(Double(limit) * reservedAbove + 1e-9)
            if overLimit, state.refused.refuse(shadow: configuration.shadow) { return nil }
            state.inFlight += 1
            return Permit(startedAt: now, inFlightAtStart: state.inFlight, overLimit: overLimit)
        }
    }

    /// Gives back `permit` and adjusts the limit by how the call ended.
    public func release(_ permit: Permit, outcome: Outcome) {
        let now = clock.now()
        let changed: Int? = state.withLock { state in
            let before = Int(state.limit)
            adjust(&state, releasing: permit, outcome: outcome, at: now)
            return Int(state.limit) == before ? nil : Int(state.limit)
        }
        if let changed { limitGauge?.record(changed) }
    }

    private func adjust(_ state: inout State, releasing permit: Permit, outcome: Outcome, at now: Duration) {
        state.inFlight = max(0, state.inFlight - 1)
        guard outcome != .ignored else { return }
        let latency = now - permit.startedAt
        // A call admitted before the limit last changed tells of the limit as it was.
        let newRound = state.lastChange.map { permit.startedAt >= $0 } ?? true
        if outcome == .dropped || configuration.maxHealthyLatency.map({ latency > $0 }) == true {
            guard newRound else { return }
            state.limit = max(Double(configuration.minLimit), state.limit * configuration.backoffRatio)
            state.lastChange = now
            state.growsAgainAt = now + configuration.holdAfterBackoff
            return
        }
        if now - state.windowStart >= configuration.baselineWindow {
            state.previousMinimum = state.currentMinimum
            state.currentMinimum = nil
            state.windowStart = now
        }
        state.currentMinimum = min(state.currentMinimum ?? latency, latency)
        guard newRound, let baseline = state.baseline, latency > .zero else { return }
        let queue = state.limit * (1 - baseline.secondsDouble / latency.secondsDouble)
        if queue > configuration.beta {
            state.limit = max(Double(configuration.minLimit), state.limit - 1)
            state.lastChange = now
        } else if queue < configuration.alpha, Double(permit.inFlightAtStart) * 2 >= state.limit,
                  state.growsAgainAt.map({ now >= $0 }) ?? true {
            state.limit = min(Double(configuration.maxLimit), state.limit + 1)
            state.lastChange = now
        }
    }

    /// The current limit.
    public var limit: Int { state.withLock { Int($0.limit) } }

    /// The limiter now.
    public var snapshot: Snapshot {
        state.withLock { state in
            Snapshot(
                limit: Int(state.limit), inFlight: state.inFlight, baseline: state.baseline,
                refused: state.refused)
        }
    }
}
