/// The state of a ``CircuitBreaker``.
public enum CircuitBreakerState: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Calls pass; outcomes are counted against the trip rules.
    case closed = 0
    /// A limited number of probe calls pass to test recovery.
    case halfOpen = 1
    /// Calls are rejected until the open duration has passed.
    case open = 2
    /// Calls are rejected until an operator resets the breaker.
    case forcedOpen = 3
    /// Forced closed: calls pass and nothing trips the breaker until it is reset.
    case disabled = 4

    /// The value of the `circuit_breaker_state` gauge (0 closed, 1 half_open, 2 open,
    /// 3 forced_open, 4 disabled).
    public var gaugeValue: Int { Int(rawValue) }

    /// `closed`, `half_open`, `open`, `forced_open` or `disabled` (metric dimension form).
    public var description: String {
        switch self {
        case .closed: "closed"
        case .halfOpen: "half_open"
        case .open: "open"
        case .forcedOpen: "forced_open"
        case .disabled: "disabled"
        }
    }
}

/// A coarse health verdict for health checks.
public enum CircuitBreakerHealth: String, Sendable, Hashable, Comparable {
    /// Closed (or disabled by an operator): calls flow.
    case healthy
    /// Half-open: recovering, a few probes flow.
    case degraded
    /// Open or forced open: calls are rejected.
    case unhealthy

    private var rank: Int {
        switch self {
        case .healthy: 0
        case .degraded: 1
        case .unhealthy: 2
        }
    }

    /// Orders healthy < degraded < unhealthy, so `max()` is the worst.
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rank < rhs.rank }
}

/// Why a call was not admitted: by the breaker, or by an ``AdaptivePolicy``'s part in
/// front of it.
public enum RejectionReason: Sendable, Hashable, CustomStringConvertible {
    /// The breaker is open.
    case open
    /// An operator forced the breaker open.
    case forcedOpen
    /// The breaker is half-open and every probe slot is taken.
    case halfOpenProbesExhausted
    /// The ``AdaptiveThrottle`` shed the call.
    case throttled
    /// The ``ConcurrencyLimit`` was reached.
    case limited
    /// A retry the ``RetryBudget`` had no token for.
    case budgetExhausted
    /// The breaker is open because its fleet opened it (a quorum of peers reported it
    /// open), or its open duration is over and it waits for the fleet's prober's verdict
    /// (see ``CircuitBreakerCoordinator``).
    case fleetOpen

    /// `open`, `forced_open`, `half_open_full`, `throttled`, `limited`, `budget_exhausted`
    /// or `fleet_open`.
    public var description: String {
        switch self {
        case .open: "open"
        case .forcedOpen: "forced_open"
        case .halfOpenProbesExhausted: "half_open_full"
        case .throttled: "throttled"
        case .limited: "limited"
        case .budgetExhausted: "budget_exhausted"
        case .fleetOpen: "fleet_open"
        }
    }

    /// The fallback reason of a call rejected for this reason: `circuit_open` for the
    /// breaker's own, the adaptive part's name otherwise.
    public var fallbackReason: FallbackReason {
        switch self {
        case .open, .forcedOpen, .halfOpenProbesExhausted: .circuitOpen
        case .throttled: .throttled
        case .limited: .limited
        case .budgetExhausted: .budgetExhausted
        case .fleetOpen: .fleetOpen
        }
    }
}

/// The error of the throwing entry points.
public enum CircuitBreakerError: Error, Sendable, CustomStringConvertible {
    /// The call was not admitted: by the breaker or, through an ``AdaptivePolicy``, by
    /// the part `reason` names.
    case open(breaker: String, reason: RejectionReason)
    /// The operation exceeded the configured per-call timeout and was cancelled.
    case timeout(breaker: String, after: Duration)
    /// The operation threw `underlying`. `counted` is false when the configured
    /// predicate decided the error does not count (the state was left alone).
    case operationFailed(breaker: String, underlying: any Error, counted: Bool)
    /// The call failed (see ``FallbackFailure/trigger``) and no fallback served a value;
    /// every fallback tried and its error are attached.
    indirect case fallbackFailed(FallbackFailure)

    /// The breaker's name.
    public var breaker: String {
        switch self {
        case .open(let breaker, _), .timeout(let breaker, _), .operationFailed(let breaker, _, _):
            breaker
        case .fallbackFailed(let failure):
            failure.trigger.breaker
        }
    }

    /// A one-line description naming the breaker and the cause.
    public var description: String {
        switch self {
        case .open(let breaker, let reason):
            "circuit breaker '\(breaker)' rejected the call (\(reason))"
        case .timeout(let breaker, let after):
            "circuit breaker '\(breaker)': call timed out after \(after)"
        case .operationFailed(let breaker, let underlying, let counted):
            "circuit breaker '\(breaker)': operation failed\(counted ? "" : " (not counted)"): \(underlying)"
        case .fallbackFailed(let failure):
            failure.description
        }
    }
}

/// The result of ``CircuitBreaker/execute(_:)``: the non-throwing way in.
///
/// A rejection is returned as ``rejected(_:)`` without allocating or throwing.
public enum CallOutcome<Value: Sendable>: Sendable {
    /// The operation returned `Value`.
    case success(Value)
    /// The call was not admitted (by the breaker or, through an ``AdaptivePolicy``, by a
    /// part in front of it).
    case rejected(RejectionReason)
    /// The operation exceeded the per-call timeout and was cancelled.
    case timedOut(after: Duration)
    /// The operation threw a counted error.
    case failure(any Error)
    /// The operation threw an error the predicate does not count.
    case ignoredFailure(any Error)

    /// The value, if the call succeeded.
    public var value: Value? {
        if case .success(let value) = self { return value }
        return nil
    }
}

/// Counts of one window of calls.
public struct WindowCounts: Sendable, Hashable, Encodable {
    /// Calls in the window.
    public var calls: Int
    /// Counted failures (timeouts included) in the window.
    public var failures: Int
    /// Slow calls in the window.
    public var slowCalls: Int

    /// Creates counts.
    public init(calls: Int = 0, failures: Int = 0, slowCalls: Int = 0) {
        self.calls = calls
        self.failures = failures
        self.slowCalls = slowCalls
    }

    /// failures / calls, 0 when empty.
    public var failureRate: Double { calls == 0 ? 0 : Double(failures) / Double(calls) }
    /// slowCalls / calls, 0 when empty.
    public var slowCallRate: Double { calls == 0 ? 0 : Double(slowCalls) / Double(calls) }
}

/// Lifetime call counts of a breaker.
public struct CallTotals: Sendable, Hashable, Encodable {
    /// Successful calls.
    public var successes = 0
    /// Counted failures other than timeouts.
    public var failures = 0
    /// Timed-out calls.
    public var timeouts = 0
    /// Errors the predicate did not count.
    public var ignoredErrors = 0
    /// Rejected calls.
    public var rejections = 0
    /// Slow calls (whatever their result).
    public var slowCalls = 0

    /// Creates zero totals.
    public init() {}
}

/// A point-in-time view of a breaker, for health checks and the admin API.
///
/// Times are offsets on the breaker's clock since the breaker was created (`…At`), or
/// ages measured at the snapshot (`…Age`, `timeInState`).
public struct CircuitBreakerSnapshot: Sendable, Hashable {
    /// The breaker's name.
    public var name: String
    /// The current state.
    public var state: CircuitBreakerState
    /// healthy / degraded / unhealthy, derived from the state.
    public var health: CircuitBreakerHealth
    /// When the current state began.
    public var stateSince: Duration
    /// How long the breaker has been in the current state.
    public var timeInState: Duration
    /// Counts in the sliding window (empty while the rate rules are unused).
    public var window: WindowCounts
    /// Failure rate in the window (0 when empty).
    public var failureRate: Double
    /// Slow-call rate in the window (0 when empty).
    public var slowCallRate: Double
    /// Consecutive counted failures while closed.
    public var consecutiveFailures: Int
    /// How many times the breaker has opened (by its rules) since creation.
    public var openCount: Int
    /// When it last opened by its rules, if ever.
    public var lastOpenedAt: Duration?
    /// How long ago it last opened, if ever.
    public var lastOpenedAge: Duration?
    /// When open: how long until half-open probes are admitted.
    public var retryAfter: Duration?
    /// The reason given to ``CircuitBreaker/forceOpen(reason:)`` while forced open.
    public var forcedReason: String?
    /// While open: whether its peers opened it (``CircuitBreaker/openOnPeerAdvice()``)
    /// rather than its own rules.
    public var openedByPeers: Bool
    /// Probes admitted / succeeded in the current half-open episode.
    public var halfOpenProbesAdmitted: Int
    /// Successful probes in the current half-open episode.
    public var halfOpenSuccesses: Int
    /// Lifetime counts.
    public var totals: CallTotals
}
