import Locking

/// A retry budget (Finagle's `RetryBudget`, Linkerd's retry budget): retries may add at
/// most ``Configuration/ratio`` of the requests on top, plus
/// ``Configuration/minimumPerSecond`` so a quiet client can still retry.
///
/// It is a token bucket whose tokens expire: every request deposits `ratio` of a token,
/// every retry withdraws one, and both drop out after ``Configuration/ttl``; a reserve of
/// `minimumPerSecond × ttl` tokens never expires. So at any moment
///
///     balance = minimumPerSecond · ttl + ratio · requests(ttl) − retries(ttl)
///
/// and a retry is allowed while the balance is at least 1. Retries stop being possible
/// exactly when they would multiply load on a failing dependency: with every first
/// attempt failing, a client retrying everything sends `1 + ratio` times its traffic, not
/// `1 + attempts`.
///
/// In shadow mode (``Configuration/shadow``) every retry is allowed and still withdrawn,
/// and one the budget would have refused is counted in ``AdaptiveRejections/shadowRejections``.
///
/// Thread-safe.
public final class RetryBudget: Sendable {
    /// The budget's settings. Every property has a default; ``validate()`` (run by the
    /// initializer) rejects out-of-range values naming the field.
    public struct Configuration: Sendable, Equatable {
        /// Retries allowed per request, in 0...1. Default 0.2 (Finagle, Linkerd).
        public var ratio: Double = 0.2
        /// Retries per second allowed whatever the traffic. Default 10.
        public var minimumPerSecond: Double = 10
        /// How long deposits and withdrawals count. Default 10 s.
        public var ttl: Duration = .seconds(10)
        /// The granularity of the window: a deposit counts for between `ttl - bucket` and
        /// `ttl`. Default 1 s; `ttl` must be a whole number of buckets.
        public var bucket: Duration = .seconds(1)
        /// Compute and report decisions without refusing. Default `false`.
        public var shadow: Bool = false

        /// The defaults.
        public init() {}

        /// Checks every field.
        /// - Throws: ``CircuitBreaker/ConfigurationError`` naming the first invalid field.
        public func validate() throws(CircuitBreaker.ConfigurationError) {
            guard ratio >= 0, ratio <= 1 else {
                throw CircuitBreaker.ConfigurationError(field: "ratio", reason: "must be in 0...1, got \(ratio)")
            }
            guard minimumPerSecond.isFinite, minimumPerSecond >= 0 else {
                throw CircuitBreaker.ConfigurationError(field: "minimumPerSecond", reason: "must be 0 or more, got \(minimumPerSecond)")
            }
            try CircuitBreaker.ConfigurationError.checkWindow(ttl, field: "ttl", bucket: bucket, bucketField: "bucket")
        }
    }

    /// What ``tryRetry()`` decided.
    public struct Decision: Sendable, Equatable {
        /// Whether the caller may retry (always, in shadow mode).
        public var allowed: Bool
        /// Whether the budget refused the retry, or in shadow mode would have.
        public var wouldRefuse: Bool
    }

    /// The budget's counts at one moment.
    public struct Snapshot: Sendable, Equatable {
        /// Requests deposited within the ttl.
        public var requests: Int64
        /// Retries withdrawn within the ttl.
        public var retries: Int64
        /// Whole retries allowed now (never negative).
        public var balance: Int
        /// What it refused, or in shadow mode would have.
        public var refused: AdaptiveRejections
    }

    private struct State: Sendable {
        var window: WindowedCounters
        var refused = AdaptiveRejections()
    }

    private static let requestsField = 0
    private static let retriesField = 1

    /// The settings it was created with.
    public let configuration: Configuration
    private let reserve: Double
    private let clock: ResilienceClock
    private let state: LockedValue<State>

    /// Creates a budget holding only its reserve.
    /// - Throws: ``CircuitBreaker/ConfigurationError`` for an invalid `configuration`.
    public convenience init<C: Clock>(_ configuration: Configuration = Configuration(), clock: C = ContinuousClock())
    throws(CircuitBreaker.ConfigurationError) where C.Duration == Duration {
        try configuration.validate()
        self.init(validated: configuration, clock: ResilienceClock(clock))
    }

    // Validation stays in the generic convenience initializer, as in ``ConcurrencyLimit``
    // (a Swift 6.3.1 optimizer crash on throwing initializers that store a lock).
    private init(validated configuration: Configuration, clock: ResilienceClock) {
        self.configuration = configuration
        reserve = configuration.minimumPerSecond * configuration.ttl.secondsDouble
        self.clock = clock
        state = LockedValue(State(window: WindowedCounters(window: configuration.ttl, bucket: configuration.bucket, fields: 2)))
    }

    /// Deposits one request (a first attempt, not a retry).
    public func recordRequest() {
        let now = clock.now()
        state.withLock { $0.window.add(Self.requestsField, at: now) }
    }

    /// Asks for one retry, withdrawing it when allowed (always, in shadow mode).
    /// - Returns: whether the caller may retry, and whether the budget would have
    ///   refused; never fails.
    public func tryRetry() -> Decision {
        let now = clock.now()
        return state.withLock { state in
            let wouldRefuse = balance(&state, at: now) < 1 - Self.tolerance
            if wouldRefuse, state.refused.refuse(shadow: configuration.shadow) {
                return Decision(allowed: false, wouldRefuse: true)
            }
            state.window.add(Self.retriesField, at: now)
            return Decision(allowed: true, wouldRefuse: wouldRefuse)
        }
    }

    /// The counts now.
    public var snapshot: Snapshot {
        let now = clock.now()
        return state.withLock { state in
            let balance = balance(&state, at: now)
            return Snapshot(
                requests: state.window.sum(Self.requestsField, at: now), retries: state.window.sum(Self.retriesField, at: now),
                balance: max(0, Int((balance + Self.tolerance).rounded(.down))),
                refused: state.refused)
        }
    }

    /// Absorbs the rounding of `ratio · requests` (0.2 · 5 must make one whole retry).
    private static let tolerance = 1e-9

    private func balance(_ state: inout State, at now: Duration) -> Double {
        reserve + configuration.ratio * Double(state.window.sum(Self.requestsField, at: now))
            - Double(state.window.sum(Self.retriesField, at: now))
    }
}
