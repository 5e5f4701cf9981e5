import Resilience

/// The JSON form of a ``Resilience/CircuitBreakerSnapshot`` on `GET /admin/breakers`.
/// Durations are in seconds; `…Ago` values are ages measured when the snapshot was taken.
public struct BreakerSnapshotBody: Codable, Sendable, Hashable {
    /// Counts in the sliding window.
    public struct Window: Codable, Sendable, Hashable {
        /// Calls in the window.
        public var calls: Int
        /// Failed calls in the window.
        public var failures: Int
        /// Slow calls in the window.
        public var slowCalls: Int
    }

    /// Lifetime counts.
    public struct Totals: Codable, Sendable, Hashable {
        /// Successful calls.
        public var successes: Int
        /// Failed calls.
        public var failures: Int
        /// Calls that timed out.
        public var timeouts: Int
        /// Errors the breaker was told to ignore.
        public var ignoredErrors: Int
        /// Calls rejected without running.
        public var rejections: Int
        /// Slow calls.
        public var slowCalls: Int
    }

    /// The breaker's name.
    public var name: String
    /// `closed`, `half_open`, `open`, `forced_open` or `disabled`.
    public var state: String
    /// `healthy`, `degraded` or `unhealthy`.
    public var health: String
    /// Seconds in the current state.
    public var secondsInState: Double
    /// Sliding-window counts.
    public var window: Window
    /// Failure rate in the window (0...1).
    public var failureRate: Double
    /// Slow-call rate in the window (0...1).
    public var slowCallRate: Double
    /// Consecutive failures while closed.
    public var consecutiveFailures: Int
    /// Times opened by its rules.
    public var openCount: Int
    /// Seconds since it last opened by its rules, if ever.
    public var lastOpenedSecondsAgo: Double?
    /// While open: seconds until probes are admitted.
    public var retryAfterSeconds: Double?
    /// While forced open: the operator's reason.
    public var forcedReason: String?
    /// Probes admitted in the current half-open episode.
    public var halfOpenProbesAdmitted: Int
    /// Successful probes in the current half-open episode.
    public var halfOpenSuccesses: Int
    /// Lifetime counts.
    public var totals: Totals

    /// The JSON form of `snapshot`.
    public init(_ snapshot: CircuitBreakerSnapshot) {
        name = snapshot.name
        state = snapshot.state.description
        health = snapshot.health.rawValue
        secondsInState = snapshot.timeInState.inSeconds
        window = Window(calls: snapshot.window.calls, failures: snapshot.window.failures, slowCalls: snapshot.window.slowCalls)
        failureRate = snapshot.failureRate
        slowCallRate = snapshot.slowCallRate
        consecutiveFailures = snapshot.consecutiveFailures
        openCount = snapshot.openCount
        lastOpenedSecondsAgo = snapshot.lastOpenedAge?.inSeconds
        retryAfterSeconds = snapshot.retryAfter?.inSeconds
        forcedReason = snapshot.forcedReason
        halfOpenProbesAdmitted = snapshot.halfOpenProbesAdmitted
        halfOpenSuccesses = snapshot.halfOpenSuccesses
        let totals = snapshot.totals
        self.totals = Totals(
            successes: totals.successes, failures: totals.failures, timeouts: totals.timeouts,
            ignoredErrors: totals.ignoredErrors, rejections: totals.rejections, slowCalls: totals.slowCalls
        )
    }
}

/// `GET /admin/breakers`: `{"breakers": [...]}` sorted by name.
public struct BreakerListBody: Codable, Sendable, Hashable {
    /// Every breaker's snapshot.
    public var breakers: [BreakerSnapshotBody]
}

/// `POST /admin/breakers/{name}/force-open` body (optional).
public struct ForceOpenRequest: Codable, Sendable, Hashable {
    /// Why the operator forced the breaker open; shown in snapshots and logs.
    public var reason: String?
    /// A request with `reason`.
    public init(reason: String? = nil) { self.reason = reason }
}

/// `PUT /admin/features/{name}` and `PUT /admin/read-only` body.
public struct EnabledRequest: Codable, Sendable, Hashable {
    /// The new value.
    public var enabled: Bool
    /// A request setting `enabled`.
    public init(enabled: Bool) { self.enabled = enabled }
}

/// `GET`/`PUT /admin/features/{name}` answer.
public struct FeatureBody: Codable, Sendable, Hashable {
    /// The feature's name.
    public var name: String
    /// Whether the feature is on now (flag on and its breaker not open).
    public var enabled: Bool
    /// Why it is off (`flag_off`, `circuit_open`), absent when on.
    public var offReason: String?
}

/// `GET`/`PUT /admin/read-only` answer.
public struct ReadOnlyBody: Codable, Sendable, Hashable {
    /// Whether writes are refused now.
    public var readOnly: Bool
    /// Why (`switched_on`, `circuit_open`), absent when writes are allowed.
    public var reason: String?
}

/// `GET /health/ready` answer.
public struct ReadinessBody: Codable, Sendable, Hashable {
    /// `ready` or `not_ready`.
    public var status: String
    /// Each check by name (`consumerJoinedGroup`, `producerConnected`, `notShuttingDown`).
    public var checks: [String: Bool]
    /// The names of the failing checks, in a fixed order (empty when ready).
    public var notReady: [String]

    /// The JSON form of `status`.
    public init(_ status: Readiness.Status) {
        self.status = status.isReady ? "ready" : "not_ready"
        checks = Dictionary(uniqueKeysWithValues: status.checks.map { ($0.check.rawValue, $0.passing) })
        notReady = status.failing.map(\.rawValue)
    }
}

extension Duration {
    /// This duration in (fractional) seconds.
    var inSeconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
