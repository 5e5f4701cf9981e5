extension CircuitBreaker {
    /// The error thrown when a configuration value is out of range.
    ///
    /// `field` names the offending property exactly as it is spelled in Swift (for example
    /// `"openDuration.maximum"`), so an operator reading a log can find it.
    public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
        /// The property that holds the invalid value.
        public let field: String
        /// Why the value is rejected.
        public let reason: String

        /// Creates an error for `field`.
        public init(field: String, reason: String) {
            self.field = field
            self.reason = reason
        }

        /// `"invalid <field>: <reason>"`.
        public var description: String { "invalid \(field): \(reason)" }
    }

    /// How outcomes are aggregated for the rate rules.
    public enum SlidingWindow: Sendable, Equatable {
        /// The last `n` calls.
        case count(Int)
        /// The calls of the last `duration`, kept in one-second buckets; the duration must
        /// be a whole number of seconds.
        case time(Duration)
    }

    /// How long the breaker stays open before it admits half-open probes.
    public enum OpenDuration: Sendable, Equatable {
        /// The same duration after every opening.
        case fixed(Duration)
        /// `initial * multiplier^k` for the k-th successive opening (k = 0 when it opens
        /// from closed, +1 for each failed half-open episode), capped at `maximum`, then
        /// spread by ±`jitter` (a fraction in 0...1) and capped again.
        case exponential(initial: Duration, multiplier: Double, maximum: Duration, jitter: Double)
    }

    /// Everything that decides when a ``CircuitBreaker`` trips, how long it stays open and
    /// how it recovers. Every property has a documented default; ``validate()`` (run by
    /// the breaker's initializer) rejects out-of-range values naming the field.
    public struct Configuration: Sendable {
        /// Trip after this many consecutive counted failures (timeouts included).
        /// `nil` disables the rule. Default 5.
        public var failureThreshold: Int?
        /// Trip when the failure rate in ``slidingWindow`` reaches this fraction (0...1),
        /// once ``minimumCalls`` are in the window. `nil` disables the rule. Default `nil`.
        public var failureRateThreshold: Double?
        /// Trip when the share of slow calls in ``slidingWindow`` reaches this fraction
        /// (0...1), once ``minimumCalls`` are in the window. Needs ``slowCallDuration``.
        /// `nil` disables the rule. Default `nil`.
        public var slowCallRateThreshold: Double?
        /// A call taking at least this long counts as slow (whatever its result).
        /// `nil` means no call is slow. Default `nil`.
        public var slowCallDuration: Duration?
        /// The window the rate rules look at. Default `.count(100)`.
        public var slidingWindow: SlidingWindow
        /// The rate rules judge only once the window holds this many calls. Default 10.
        public var minimumCalls: Int
        /// How long the breaker stays open. Default `.fixed(.seconds(60))`.
        public var openDuration: OpenDuration
        /// How many probe calls half-open admits. Default 3.
        public var halfOpenProbes: Int
        /// How many successful probes close the breaker; must not exceed
        /// ``halfOpenProbes``. Default 2.
        public var successThreshold: Int
        /// Per-call timeout for ``CircuitBreaker/call(_:)`` and ``CircuitBreaker/execute(_:)``:
        /// the operation is cancelled and the call counts as a failure (outcome `timeout`).
        /// `nil` means no timeout. Default `nil`.
        public var callTimeout: Duration?
        /// When every half-open probe slot has been taken for this long without the
        /// episode concluding (a permit was never reported), the next call reopens the
        /// breaker as if a probe had failed, so a lost permit cannot wedge it.
        /// `nil` waits forever. Default `nil`.
        public var halfOpenMaxWait: Duration?
        /// Decides which errors count as failures. Errors it rejects pass through
        /// unchanged in meaning (outcome `ignored_error`) and leave the state alone.
        /// Default: every error except `CancellationError`.
        public var isFailure: @Sendable (any Error) -> Bool

        /// Creates a configuration; every argument defaults to the documented value.
        public init(
            failureThreshold: Int? = 5,
            failureRateThreshold: Double? = nil,
            slowCallRateThreshold: Double? = nil,
            slowCallDuration: Duration? = nil,
            slidingWindow: SlidingWindow = .count(100),
            minimumCalls: Int = 10,
            openDuration: OpenDuration = .fixed(.seconds(60)),
            halfOpenProbes: Int = 3,
            successThreshold: Int = 2,
            callTimeout: Duration? = nil,
            halfOpenMaxWait: Duration? = nil,
            isFailure: @escaping @Sendable (any Error) -> Bool = { !($0 is CancellationError) }
        ) {
            self.failureThreshold = failureThreshold
            self.failureRateThreshold = failureRateThreshold
            self.slowCallRateThreshold = slowCallRateThreshold
            self.slowCallDuration = slowCallDuration
            self.slidingWindow = slidingWindow
            self.minimumCalls = minimumCalls
            self.openDuration = openDuration
            self.halfOpenProbes = halfOpenProbes
            self.successThreshold = successThreshold
            self.callTimeout = callTimeout
            self.halfOpenMaxWait = halfOpenMaxWait
            self.isFailure = isFailure
        }

        /// Checks every value.
        /// - Throws: ``CircuitBreaker/ConfigurationError`` naming the first invalid field: non-positive
        ///   thresholds or counts, negative or zero durations, rates outside 0...1, a zero
        ///   window, a slow-call rate without a slow-call duration, or more required
        ///   successes than probes.
        public func validate() throws(ConfigurationError) {
            if let failureThreshold, failureThreshold < 1 {
                throw ConfigurationError(field: "failureThreshold", reason: "must be at least 1, got \(failureThreshold)")
            }
            try Self.checkRate(failureRateThreshold, field: "failureRateThreshold")
            try Self.checkRate(slowCallRateThreshold, field: "slowCallRateThreshold")
            if let slowCallDuration, slowCallDuration <= .zero {
                throw ConfigurationError(field: "slowCallDuration", reason: "must be positive, got \(slowCallDuration)")
            }
            if slowCallRateThreshold != nil, slowCallDuration == nil {
                throw ConfigurationError(field: "slowCallDuration", reason: "is required when slowCallRateThreshold is set")
            }
            switch slidingWindow {
            case .count(let size) where size < 1:
                throw ConfigurationError(field: "slidingWindow", reason: "count window must hold at least 1 call, got \(size)")
            case .time(let duration) where duration < .seconds(1) || duration.components.attoseconds != 0:
                throw ConfigurationError(field: "slidingWindow", reason: "time window must be a whole number of seconds ≥ 1, got \(duration)")
            default:
                break
            }
            if minimumCalls < 1 {
                throw ConfigurationError(field: "minimumCalls", reason: "must be at least 1, got \(minimumCalls)")
            }
            switch openDuration {
            case .fixed(let duration):
                if duration < .zero {
                    throw ConfigurationError(field: "openDuration", reason: "must not be negative, got \(duration)")
                }
            case .exponential(let initial, let multiplier, let maximum, let jitter):
                if initial < .zero {
                    throw ConfigurationError(field: "openDuration.initial", reason: "must not be negative, got \(initial)")
                }
                if !(multiplier >= 1) {
                    throw ConfigurationError(field: "openDuration.multiplier", reason: "must be at least 1, got \(multiplier)")
                }
                if maximum < initial {
                    throw ConfigurationError(field: "openDuration.maximum", reason: "must be at least the initial duration \(initial), got \(maximum)")
                }
                if !(0...1).contains(jitter) {
                    throw ConfigurationError(field: "openDuration.jitter", reason: "must be within 0...1, got \(jitter)")
                }
            }
            if halfOpenProbes < 1 {
                throw ConfigurationError(field: "halfOpenProbes", reason: "must be at least 1, got \(halfOpenProbes)")
            }
            if successThreshold < 1 || successThreshold > halfOpenProbes {
                throw ConfigurationError(
                    field: "successThreshold",
                    reason: "must be within 1...halfOpenProbes (\(halfOpenProbes)), got \(successThreshold)"
                )
            }
            if let callTimeout, callTimeout <= .zero {
                throw ConfigurationError(field: "callTimeout", reason: "must be positive, got \(callTimeout)")
            }
            if let halfOpenMaxWait, halfOpenMaxWait <= .zero {
                throw ConfigurationError(field: "halfOpenMaxWait", reason: "must be positive, got \(halfOpenMaxWait)")
            }
        }

        private static func checkRate(_ rate: Double?, field: String) throws(ConfigurationError) {
            guard let rate else { return }
            if !(0...1).contains(rate) {
                throw ConfigurationError(field: field, reason: "must be within 0...1, got \(rate)")
            }
        }

        /// Whether any rule or timeout needs the call's start time.
        var needsStartTime: Bool { slowCallDuration != nil }
        /// Whether the rate window is consulted at all.
        var usesWindow: Bool { failureRateThreshold != nil || slowCallRateThreshold != nil }
    }
}
