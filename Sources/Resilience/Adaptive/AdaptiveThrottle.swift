import Locking

/// Client-side adaptive throttling (Google SRE, "Handling Overload"): the client rejects
/// a share of its own requests locally once the backend accepts fewer than `1/K` of them,
///
///     P(reject) = max(0, (requests − K · accepts) / (requests + 1))
///
/// over a sliding time window, capped at ``Configuration/maxRejectionProbability`` so some
/// requests always reach the backend and show when it recovers.
///
/// `requests` counts every request the throttle rejected, when it rejects it, and every
/// request it admitted, when the caller reports how it ended (``recordOutcome(priority:accepted:)``);
/// `accepts` counts those the backend accepted: answered, whatever the answer, other than
/// an overload signal (a timeout, 429, 503, a refused connection). Counting an admitted
/// request only once it ended keeps requests still in flight, which have no answer yet,
/// from reading as refusals (at start, or when the backend slows down, that would shed
/// for nothing). Rejected requests count as requests: that is what makes the throttle
/// back off while the backend keeps refusing. With K = 2 the backend sees about twice
/// what it can take, so it stays the judge of its capacity while the client sheds the
/// rest before sending.
///
/// With ``Configuration/priorityLevels`` above 1, requests carry a priority and the
/// lowest go first: the share `P` of all requests that is to be rejected is taken from the
/// requests of priority 0 (as counted in the window), then 1, and so on, so the highest
/// priority is only throttled once every lower one is rejected outright:
///
///     P(reject at k) = clamp((P · requests − requests below k) / requests at k, 0, 1)
///
/// With one level this is `P` itself.
///
/// In shadow mode (``Configuration/shadow``) every request is admitted and a request the
/// throttle would have rejected is counted in ``AdaptiveRejections/shadowRejections``.
///
/// Thread-safe; one lock, held for a few additions per call.
public final class AdaptiveThrottle: Sendable {
    /// The throttle's settings. Every property has a default; ``validate()`` (run by the
    /// initializer) rejects out-of-range values naming the field.
    public struct Configuration: Sendable, Equatable {
        /// The window requests and accepts are counted over. Default 120 s (SRE's two
        /// minutes: long enough to smooth bursts, short enough to follow a recovery).
        public var window: Duration = .seconds(120)
        /// The granularity of the window: an event counts for
        /// between `window - bucket` and `window`. Default 1 s; `window` must be a whole
        /// number of buckets.
        public var bucket: Duration = .seconds(1)
        /// K: how many requests per accepted one the client still sends. At least 1;
        /// lower is more aggressive. Default 2.
        public var multiplier: Double = 2
        /// The highest rejection probability, in 0..<1, so the throttle never rejects
        /// everything. Default 0.9.
        public var maxRejectionProbability: Double = 0.9
        /// How many priorities requests may have (0 the lowest; a higher one is clamped
        /// to the highest), 1...16. Default 1: all requests are equal.
        public var priorityLevels: Int = 1
        /// Compute and report decisions without rejecting. Default `false`.
        public var shadow: Bool = false

        /// The defaults.
        public init() {}

        /// Checks every field.
        /// - Throws: ``CircuitBreaker/ConfigurationError`` naming the first invalid field.
        public func validate() throws(CircuitBreaker.ConfigurationError) {
            try CircuitBreaker.ConfigurationError.checkWindow(window, field: "window", bucket: bucket, bucketField: "bucket")
            guard (1...16).contains(priorityLevels) else {
                throw CircuitBreaker.ConfigurationError(field: "priorityLevels", reason: "must be in 1...16, got \(priorityLevels)")
            }
            guard multiplier.isFinite, multiplier >= 1 else {
                throw CircuitBreaker.ConfigurationError(field: "multiplier", reason: "must be at least 1, got \(multiplier)")
            }
            guard maxRejectionProbability >= 0, maxRejectionProbability < 1 else {
                throw CircuitBreaker.ConfigurationError(
                    field: "maxRejectionProbability", reason: "must be in 0..<1, got \(maxRejectionProbability)")
            }
        }
    }

    /// What ``admit(priority:)`` decided.
    public struct Decision: Sendable, Equatable {
        /// Whether the request may go to the backend (always, in shadow mode).
        public var admitted: Bool
        /// Whether the throttle rejected it, or in shadow mode would have.
        public var wouldReject: Bool
        /// The rejection probability the decision was drawn against (the request's
        /// priority's).
        public var probability: Double
        /// The rejection probability over all priorities (``probability`` with one level).
        public var overallProbability: Double
    }

    /// The throttle's counts at one moment.
    public struct Snapshot: Sendable, Equatable {
        /// Requests in the window.
        public var requests: Int64
        /// Accepted requests in the window.
        public var accepts: Int64
        /// The rejection probability now, over all priorities.
        public var probability: Double
        /// What it refused, or in shadow mode would have.
        public var refused: AdaptiveRejections
    }

    private struct State: Sendable {
        var window: WindowedCounters
        var refused = AdaptiveRejections()
    }

    private static let requestsField = 0
    private static let acceptsField = 1
    /// Requests of priority k are counted in field `firstPriorityField + k` (only with
    /// more than one level).
    private static let firstPriorityField = 2

    /// The settings it was created with.
    public let configuration: Configuration
    private let clock: ResilienceClock
    private let random: @Sendable () -> Double
    private let state: LockedValue<State>

    /// Creates a throttle with no history (it admits everything until the backend
    /// refuses).
    /// - Parameters:
    ///   - clock: the clock of the window.
    ///   - random: uniform numbers in `0..<1` the decisions are drawn with; inject a fixed
    ///     sequence to make decisions deterministic in tests.
    /// - Throws: ``CircuitBreaker/ConfigurationError`` for an invalid `configuration`.
    public convenience init<C: Clock>(
        _ configuration: Configuration = Configuration(),
        clock: C = ContinuousClock(),
        random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) throws(CircuitBreaker.ConfigurationError) where C.Duration == Duration {
        try configuration.validate()
        self.init(validated: configuration, clock: ResilienceClock(clock), random: random)
    }

    // Validation stays in the generic convenience initializer, as in ``ConcurrencyLimit``
    // (a Swift 6.3.1 optimizer crash on throwing initializers that store a lock).
    private init(validated configuration: Configuration, clock: ResilienceClock, random: @escaping @Sendable () -> Double) {
        self.configuration = configuration
        self.clock = clock
        self.random = random
        let fields = Self.firstPriorityField + (configuration.priorityLevels > 1 ? configuration.priorityLevels : 0)
        state = LockedValue(State(window: WindowedCounters(window: configuration.window, bucket: configuration.bucket, fields: fields)))
    }

    /// Decides whether a request goes to the backend. A rejected request counts as a
    /// request now; an admitted one counts when ``recordOutcome(priority:accepted:)``
    /// reports how it ended.
    /// - Parameter priority: the request's priority, 0 the lowest (see
    ///   ``Configuration/priorityLevels``); ignored with one level.
    /// - Returns: the decision; never fails.
    public func admit(priority: Int = 0) -> Decision {
        let now = clock.now()
        let draw = random()
        let level = self.level(priority)
        return state.withLock { state in
            let requests = state.window.sum(Self.requestsField, at: now)
            let overall = Self.probability(
                requests: requests, accepts: state.window.sum(Self.acceptsField, at: now), configuration: configuration)
            var probability = overall
            if configuration.priorityLevels > 1 {
                probability = Self.share(of: overall * Double(requests), at: level, in: &state.window, now: now)
            }
            let wouldReject = draw < probability
            let rejected = wouldReject && state.refused.refuse(shadow: configuration.shadow)
            if rejected { count(&state, level: level, accepted: false, at: now) }
            return Decision(admitted: !rejected, wouldReject: wouldReject, probability: probability, overallProbability: overall)
        }
    }

    /// Counts one admitted request that ended: a request, and an accept when the backend
    /// `accepted` it (answered, not overloaded). A request that never reached the backend
    /// (refused further on, cancelled before it was sent) is not reported.
    /// - Parameter priority: the priority it was admitted at.
    public func recordOutcome(priority: Int = 0, accepted: Bool) {
        let now = clock.now()
        let level = self.level(priority)
        state.withLock { count(&$0, level: level, accepted: accepted, at: now) }
    }

    private func level(_ priority: Int) -> Int { min(max(priority, 0), configuration.priorityLevels - 1) }

    private func count(_ state: inout State, level: Int, accepted: Bool, at now: Duration) {
        state.window.add(Self.requestsField, at: now)
        if accepted { state.window.add(Self.acceptsField, at: now) }
        if configuration.priorityLevels > 1 { state.window.add(Self.firstPriorityField + level, at: now) }
    }

    /// The rejection probability the next request would be drawn against.
    public var rejectionProbability: Double { snapshot.probability }

    /// The counts now.
    public var snapshot: Snapshot {
        let now = clock.now()
        return state.withLock { state in
            let requests = state.window.sum(Self.requestsField, at: now)
            let accepts = state.window.sum(Self.acceptsField, at: now)
            return Snapshot(
                requests: requests, accepts: accepts,
                probability: Self.probability(requests: requests, accepts: accepts, configuration: configuration),
                refused: state.refused)
        }
    }

    /// The rejection probability of priority `level` when `shed` requests of the window
    /// are to be rejected, lowest priorities first.
    private static func share(of shed: Double, at level: Int, in window: inout WindowedCounters, now: Duration) -> Double {
        guard shed > 0 else { return 0 }
        var below: Int64 = 0
        for lower in 0..<level { below += window.sum(firstPriorityField + lower, at: now) }
        let left = shed - Double(below)
        guard left > 0 else { return 0 }
        let atLevel = window.sum(firstPriorityField + level, at: now)
        return atLevel == 0 ? 1 : min(1, left / Double(atLevel))
    }

    /// The SRE formula, capped.
    static func probability(requests: Int64, accepts: Int64, configuration: Configuration) -> Double {
        let excess = Double(requests) - configuration.multiplier * Double(accepts)
        guard excess > 0 else { return 0 }
        return min(configuration.maxRejectionProbability, excess / (Double(requests) + 1))
    }
}
