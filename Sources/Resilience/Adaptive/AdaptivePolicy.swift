import CoreMetrics

/// One dependency's protection: its ``CircuitBreaker`` with, optionally, a
/// ``RetryBudget``, an ``AdaptiveThrottle`` and a ``ConcurrencyLimit`` in front of it.
///
/// A call is asked of each, in this order, and the first that refuses ends it with a
/// ``CallOutcome/rejected(_:)`` naming itself:
/// 1. the breaker, when it is open (or forced open): nothing else is asked, so calls an
///    open breaker refuses count in no window of the parts below;
/// 2. the retry budget, for retries only (a first attempt deposits into it);
/// 3. the concurrency limit, at the call's priority;
/// 4. the throttle, at the call's priority (a refusal gives the limit's permit back);
/// 5. the breaker's permit (a half-open breaker admits only its probes), then the call,
///    under the breaker's timeout — or, with ``BreakerPlacement/belowTheCall``, the call
///    alone: it makes its own requests through the breaker.
///
/// The limit comes before the throttle because the throttle judges the dependency by
/// the share of requests it accepts: a call the limit keeps back never reached the
/// dependency, and counted as a request without an accept it would make the throttle
/// shed what the limit already shed.
///
/// What the call came to feeds the parts: the throttle counts it as a request, accepted
/// when it succeeded or failed with an error the breaker does not count (the dependency
/// answered), not accepted after a counted failure or a timeout. The concurrency limit
/// takes the latency of a success as a sample, a timeout as a drop, and learns nothing
/// from a failure. A call that gave up waiting below the breaker (a
/// ``TimeoutReportingError`` that is not the breaker's own, such as a wait budget) falls
/// back as a timeout but feeds neither: the dependency has not answered yet, and counted
/// as refusals such give-ups made the throttle shed 80% of the calls in
/// `scripts/bench-adaptive`. A part in shadow mode decides and counts but never refuses.
///
/// Where many calls share one request to the dependency (a micro-batcher sends one infer
/// request for many alerts), the breaker belongs around the request, not around each
/// call: a timed-out request of 32 alerts is one failure of the dependency, and counted
/// as 32 consecutive failures it would open a breaker whose threshold is 5 on a single
/// slow request. ``BreakerPlacement/belowTheCall`` says so: the policy then only asks
/// whether the breaker is open and reads the outcome from the ``CircuitBreakerError``
/// the call throws.
///
/// Without parts this is the breaker alone. Its metrics are listed in
/// `AdaptivePolicyMetrics` (`adaptive_rejections_total`, `adaptive_throttle_probability`),
/// labelled with the breaker's name; the limit records its own gauge.
public struct AdaptivePolicy: Sendable {
    /// Which calls the breaker admits and counts.
    public enum BreakerPlacement: Sendable, Hashable {
        /// Each call through the policy is one request of the dependency: the breaker
        /// admits it (a half-open breaker only its probes) and counts its outcome.
        case aroundEachCall
        /// The call makes its own requests of the dependency through the same breaker
        /// (``CircuitBreaker/call(_:)``), several calls sharing one request: the policy
        /// refuses calls while the breaker is open and takes no permit; the call's
        /// outcome is what the ``CircuitBreakerError`` it throws says (an
        /// ``AdmissionRefused`` is a refusal, a ``TimeoutReportingError`` that timed out a
        /// timeout, any other error a failure the breaker did not count).
        case belowTheCall
    }

    /// The breaker.
    public let breaker: CircuitBreaker
    /// Where the breaker sits: around each call (the default) or below it.
    public let placement: BreakerPlacement
    /// The retry budget, if any.
    public let retryBudget: RetryBudget?
    /// The throttle, if any.
    public let throttle: AdaptiveThrottle?
    /// The concurrency limit, if any.
    public let concurrencyLimit: ConcurrencyLimit?
    private let metrics: AdaptivePolicyMetrics?

    /// Composes `breaker` with the given parts.
    /// - Parameters:
    ///   - placement: whether the breaker guards each call (the default) or the requests
    ///     the calls make below the policy.
    ///   - metricsFactory: where the parts' metrics go; `nil` means the bootstrapped
    ///     `MetricsSystem`. None are made without parts.
    public init(
        breaker: CircuitBreaker, placement: BreakerPlacement = .aroundEachCall, retryBudget: RetryBudget? = nil,
        throttle: AdaptiveThrottle? = nil, concurrencyLimit: ConcurrencyLimit? = nil, metricsFactory: (any MetricsFactory)? = nil
    ) {
        self.breaker = breaker
        self.placement = placement
        self.retryBudget = retryBudget
        self.throttle = throttle
        self.concurrencyLimit = concurrencyLimit
        let hasParts = retryBudget != nil || throttle != nil || concurrencyLimit != nil
        metrics = hasParts ? AdaptivePolicyMetrics(breaker: breaker.name, factory: metricsFactory ?? MetricsSystem.factory) : nil
    }

    /// Runs `operation` if every part and the breaker admit it, and returns what happened.
    /// - Parameters:
    ///   - priority: the call's priority for the throttle and the limit, 0 the lowest.
    ///   - isRetry: whether this is a retry of a call that failed (it draws from the
    ///     retry budget) rather than a first attempt (which deposits into it).
    /// - Returns: the outcome; a refusal is ``CallOutcome/rejected(_:)`` with the reason
    ///   of whoever refused. Never throws: the operation's error is in the outcome.
    public func execute<T: Sendable>(
        priority: Int = 0, isRetry: Bool = false, _ operation: @Sendable () async throws -> T
    ) async -> CallOutcome<T> {
        if let rejection = breaker.rejectionWithoutLock() {
            breaker.countRejection(rejection)
            return .rejected(rejection)
        }
        if let retryBudget {
            if isRetry {
                let decision = retryBudget.tryRetry()
                metrics?.count(.retryBudget, wouldRefuse: decision.wouldRefuse, admitted: decision.allowed)
                guard decision.allowed else { return .rejected(.budgetExhausted) }
            } else {
                retryBudget.recordRequest()
            }
        }
        var permit: ConcurrencyLimit.Permit?
        if let concurrencyLimit {
            permit = concurrencyLimit.tryAcquire(priority: priority)
            metrics?.count(.concurrencyLimit, wouldRefuse: permit?.overLimit ?? true, admitted: permit != nil)
            guard permit != nil else { return .rejected(.limited) }
        }
        if let throttle {
            let decision = throttle.admit(priority: priority)
            metrics?.throttleProbability.record(decision.overallProbability)
            metrics?.count(.throttle, wouldRefuse: decision.wouldReject, admitted: decision.admitted)
            guard decision.admitted else {
                if let concurrencyLimit, let permit { concurrencyLimit.release(permit, outcome: .ignored) }
                return .rejected(.throttled)
            }
        }
        let outcome: CallOutcome<T>
        // The call stopped waiting before the dependency answered (a timeout thrown below
        // that is not the breaker's, e.g. a wait budget): nothing to judge it by yet.
        var gaveUp = false
        switch placement {
        case .aroundEachCall:
            outcome = await breaker.execute(operation)
        case .belowTheCall:
            do {
                outcome = .success(try await operation())
            } catch {
                outcome = CallOutcome(thrownBelow: error)
                if case .timedOut = outcome, !(error is CircuitBreakerError) { gaveUp = true }
            }
        }
        switch outcome {
        case _ where gaveUp:
            break
        case .success, .ignoredFailure:
            throttle?.recordOutcome(priority: priority, accepted: true)
        case .timedOut, .failure:
            throttle?.recordOutcome(priority: priority, accepted: false)
        case .rejected:
            break  // the breaker's permit refused it: it never reached the dependency
        }
        if let concurrencyLimit, let permit {
            let sample: ConcurrencyLimit.Outcome =
                switch outcome {
                case _ where gaveUp: .ignored
                case .success: .success
                case .timedOut: .dropped
                case .rejected, .failure, .ignoredFailure: .ignored
                }
            concurrencyLimit.release(permit, outcome: sample)
        }
        return outcome
    }

    /// Runs `operation` as ``execute(priority:isRetry:_:)`` and, when `policy` says so,
    /// falls back to `chain`, as ``CircuitBreaker/call(fallback:policy:_:)`` does; a
    /// refusal by a part falls back under ``FallbackPolicy/circuitOpen`` with the part's
    /// reason (``FallbackReason/throttled``, ``FallbackReason/limited``,
    /// ``FallbackReason/budgetExhausted``).
    /// - Throws: As ``CircuitBreaker/call(fallback:policy:_:)``.
    public func call<T: Sendable>(
        priority: Int = 0,
        isRetry: Bool = false,
        fallback chain: FallbackChain<T>,
        policy: FallbackPolicy = .onCircuitOpen,
        _ operation: @Sendable () async throws -> T
    ) async throws(CircuitBreakerError) -> GuardedResult<T> {
        try await breaker.fallBack(
            to: chain, policy: policy, after: await execute(priority: priority, isRetry: isRetry, operation))
    }

    /// ``call(priority:isRetry:fallback:policy:_:)`` with a single strategy.
    /// - Throws: As ``CircuitBreaker/call(fallback:policy:_:)``.
    public func call<T: Sendable>(
        priority: Int = 0,
        isRetry: Bool = false,
        fallback strategy: some FallbackStrategy<T>,
        policy: FallbackPolicy = .onCircuitOpen,
        _ operation: @Sendable () async throws -> T
    ) async throws(CircuitBreakerError) -> GuardedResult<T> {
        try await call(priority: priority, isRetry: isRetry, fallback: FallbackChain().adding(strategy), policy: policy, operation)
    }
}

extension CallOutcome {
    /// The outcome of a call whose requests went through the breaker below it, from the
    /// error it threw: the ``CircuitBreakerError`` says what the breaker made of the
    /// request; an ``AdmissionRefused`` is a refusal; a ``TimeoutReportingError`` that says
    /// it timed out a timeout; any other error (a cancellation, a failure outside the
    /// request) a failure the breaker did not count.
    init(thrownBelow error: any Error) {
        switch error {
        case let refused as AdmissionRefused:
            self = .rejected(refused.reason)
        case CircuitBreakerError.open(_, let reason):
            self = .rejected(reason)
        case CircuitBreakerError.timeout(_, let after):
            self = .timedOut(after: after)
        case CircuitBreakerError.operationFailed(_, let underlying, let counted):
            self = counted ? .failure(underlying) : .ignoredFailure(underlying)
        case let late as any TimeoutReportingError:
            // Gave up waiting below the breaker (e.g. a wait budget): a timeout for this
            // call, though not for the request, which the breaker judges itself.
            if let after = late.timedOutAfter { self = .timedOut(after: after) } else { self = .ignoredFailure(error) }
        default:
            self = .ignoredFailure(error)
        }
    }
}

/// Thrown by an operation whose call was refused by a protection part below the
/// breaker, before it reached the dependency (for instance a batcher in front of the
/// dependency that sheds what its concurrency limit cannot take). The breaker does not
/// count it as a failure: the call's outcome is ``CallOutcome/rejected(_:)`` with
/// ``reason``, and it falls back like any rejection.
public struct AdmissionRefused: Error, Sendable, Equatable, CustomStringConvertible {
    /// Who refused: ``RejectionReason/limited``, ``RejectionReason/throttled`` or
    /// ``RejectionReason/budgetExhausted``.
    public let reason: RejectionReason

    /// A refusal for `reason`.
    public init(_ reason: RejectionReason) { self.reason = reason }

    /// `refused before the call (<reason>)`.
    public var description: String { "refused before the call (\(reason))" }
}
