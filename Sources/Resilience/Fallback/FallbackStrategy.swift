/// Why a fallback ran. The raw value is the `reason` metric dimension.
public enum FallbackReason: String, Sendable, Hashable, CaseIterable {
    /// The breaker rejected the call (open, forced open, or half-open full).
    case circuitOpen = "circuit_open"
    /// The operation failed with a counted error.
    case failure
    /// The operation exceeded its per-call timeout.
    case timeout
    /// A ``FeatureFallback`` feature is off (flag off or its breaker open).
    case featureOff = "feature_off"
    /// A ``DegradedService`` is read-only and rejected a write.
    case readOnly = "read_only"
    /// An ``AdaptiveThrottle`` shed the call.
    case throttled
    /// A ``ConcurrencyLimit`` was reached.
    case limited
    /// A ``RetryBudget`` had no token for the retry.
    case budgetExhausted = "budget_exhausted"
    /// The breaker's fleet opened it, or holds it open for the fleet's prober.
    case fleetOpen = "fleet_open"
}

/// When a guarded call turns to its fallback; chosen per call.
public struct FallbackPolicy: OptionSet, Sendable, Hashable {
    /// The option set's bits.
    public let rawValue: UInt8
    /// Creates a policy from raw bits.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Fall back when the call is not admitted: the breaker rejects it, or a part of an
    /// ``AdaptivePolicy`` does.
    public static let circuitOpen = FallbackPolicy(rawValue: 1)
    /// Fall back when the operation fails with a counted error.
    public static let failure = FallbackPolicy(rawValue: 2)
    /// Fall back when the operation times out.
    public static let timeout = FallbackPolicy(rawValue: 4)

    /// The design's behaviour: only on circuit-open.
    public static let onCircuitOpen: FallbackPolicy = [.circuitOpen]
    /// On circuit-open, counted failure and timeout.
    public static let onAnyFailure: FallbackPolicy = [.circuitOpen, .failure, .timeout]
}

/// What a strategy is told about the call it stands in for.
public struct FallbackContext: Sendable {
    /// The breaker guarding the call (or the feature / service name outside a breaker).
    public var breaker: String
    /// Why the fallback runs.
    public var reason: FallbackReason
    /// The error that made the call fall back, when there is one.
    public var error: (any Error)?

    /// Creates a context.
    public init(breaker: String, reason: FallbackReason, error: (any Error)? = nil) {
        self.breaker = breaker
        self.reason = reason
        self.error = error
    }
}

/// A value a strategy served, with how old the data is when it came from a cache.
public struct FallbackValue<Value: Sendable>: Sendable {
    /// The value.
    public var value: Value
    /// The age of the data, for cached values.
    public var age: Duration?
    /// Whether the data is past its fresh period.
    public var isStale: Bool

    /// Creates a served value.
    public init(_ value: Value, age: Duration? = nil, isStale: Bool = false) {
        self.value = value
        self.age = age
        self.isStale = isStale
    }

    /// The age when the data is stale, else `nil`.
    public var staleAge: Duration? { isStale ? age : nil }
}

/// One way of producing a value when the primary call cannot.
///
/// `execute` returns the value, `nil` when it has nothing to offer (a cache miss), or
/// throws when it failed; a ``FallbackChain`` moves on in both latter cases.
public protocol FallbackStrategy<Value>: Sendable {
    /// The type of value served.
    associatedtype Value: Sendable
    /// Names the strategy in events, metrics (`strategy` dimension) and results.
    var name: String { get }
    /// Produces a value, `nil` for nothing to offer.
    /// - Throws: Whatever made the strategy fail; reported, never swallowed.
    func execute(_ context: FallbackContext) async throws -> FallbackValue<Value>?
    /// What ``execute(_:)`` returns, when the strategy can answer without suspending;
    /// `nil` when it must wait (the default). ``SynchronousFallbackStrategy`` answers always.
    func executeWithoutWaiting(_ context: FallbackContext) -> Result<FallbackValue<Value>?, any Error>?
}

extension FallbackStrategy {
    public func executeWithoutWaiting(_ context: FallbackContext) -> Result<FallbackValue<Value>?, any Error>? { nil }
}

/// A ``FallbackStrategy`` that never waits (a cache read, a constant, a local function),
/// so a chain made only of these can serve a rejected call without suspending
/// (``CircuitBreaker/fallBackIfOpen(to:policy:)``).
public protocol SynchronousFallbackStrategy<Value>: FallbackStrategy {
    /// Produces a value at once, `nil` for nothing to offer.
    /// - Throws: Whatever made the strategy fail; reported, never swallowed.
    func execute(_ context: FallbackContext) throws -> FallbackValue<Value>?
}

extension SynchronousFallbackStrategy {
    public func executeWithoutWaiting(_ context: FallbackContext) -> Result<FallbackValue<Value>?, any Error>? {
        Result { try execute(context) }
    }
}

/// How one strategy of a chain fared.
public struct FallbackAttempt: Sendable {
    /// How the strategy ended.
    public enum Outcome: Sendable {
        /// It served a value of this age (for cached data).
        case served(age: Duration?, isStale: Bool)
        /// It had nothing to offer.
        case noValue
        /// It threw.
        case failed(any Error)
    }

    /// The strategy's name.
    public var strategy: String
    /// How it ended.
    public var outcome: Outcome

    /// The strategy's own error, if it threw.
    public var error: (any Error)? {
        if case .failed(let error) = outcome { return error }
        return nil
    }
}

/// One fallback execution for one call: the record callers attach to what caused it
/// (the pipeline writes one fallback-event per element of
/// ``GuardedResult/fallbackExecutions`` or ``FallbackFailure/executions``).
public struct FallbackExecution: Sendable, Hashable {
    /// How the execution ended. The metric `result` dimension is `success` for
    /// ``success`` and `failure` for the other two.
    public enum Result: String, Sendable, Hashable {
        /// It served the caller a value.
        case success
        /// It had nothing to offer (for example a cache miss).
        case noValue = "no_value"
        /// It failed (threw, or — for read-only mode — rejected the write).
        case failure
    }

    /// The breaker guarding the call (feature or service name where none is registered).
    public var breaker: String
    /// The strategy's name.
    public var strategy: String
    /// Why the fallback ran.
    public var reason: FallbackReason
    /// How it ended.
    public var result: Result
    /// For cached data: the age of the data served.
    public var dataAge: Duration?
    /// For stale data: its age (set only when the served data was stale).
    public var staleAge: Duration?
    /// The description of the strategy's own error, when it failed.
    public var errorDescription: String?
    /// When it ran: an offset on the breaker's clock.
    public var at: Duration

    /// Creates a record.
    public init(
        breaker: String,
        strategy: String,
        reason: FallbackReason,
        result: Result,
        dataAge: Duration? = nil,
        staleAge: Duration? = nil,
        errorDescription: String? = nil,
        at: Duration
    ) {
        self.breaker = breaker
        self.strategy = strategy
        self.reason = reason
        self.result = result
        self.dataAge = dataAge
        self.staleAge = staleAge
        self.errorDescription = errorDescription
        self.at = at
    }

    /// Whether it served a value.
    public var succeeded: Bool { result == .success }
}

/// The value of a guarded call plus, per call, which fallback served it and why.
public struct GuardedResult<Value: Sendable>: Sendable {
    /// The value, from the primary operation or a fallback.
    public var value: Value
    /// The strategy that served the value; `nil` when the primary operation did.
    public var servedBy: String?
    /// Why a fallback ran; `nil` when the primary operation served.
    public var reason: FallbackReason?
    /// Every fallback tried for this call, in order (empty when the primary served).
    public var fallbackExecutions: [FallbackExecution]

    /// Creates a result.
    public init(value: Value, servedBy: String? = nil, reason: FallbackReason? = nil, fallbackExecutions: [FallbackExecution] = []) {
        self.value = value
        self.servedBy = servedBy
        self.reason = reason
        self.fallbackExecutions = fallbackExecutions
    }

    /// Whether a fallback served the value.
    public var isFallback: Bool { servedBy != nil }
    /// The age of the served data when a fallback served stale data.
    public var staleAge: Duration? { fallbackExecutions.last(where: \.succeeded)?.staleAge }
}

/// Raised when a call needed its fallback and none served: carries the error that
/// triggered the fallback and every fallback's own error.
public struct FallbackFailure: Error, Sendable, CustomStringConvertible {
    /// Why the fallback ran: the rejection, timeout or operation failure.
    public var trigger: CircuitBreakerError
    /// The trigger as a fallback reason.
    public var reason: FallbackReason
    /// Every strategy tried, in order, with its outcome and error.
    public var attempts: [FallbackAttempt]
    /// The per-call records, one per attempt (also emitted as events).
    public var executions: [FallbackExecution]

    /// The fallbacks' own errors, in order.
    public var fallbackErrors: [any Error] { attempts.compactMap(\.error) }

    /// Names the trigger and every attempt.
    public var description: String {
        let tried = attempts.map { attempt -> String in
            switch attempt.outcome {
            case .served: "\(attempt.strategy): served"
            case .noValue: "\(attempt.strategy): no value"
            case .failed(let error): "\(attempt.strategy): failed (\(error))"
            }
        }
        let list = tried.isEmpty ? "no fallback configured" : tried.joined(separator: "; ")
        return "fallback failed after \(trigger) — \(list)"
    }
}
