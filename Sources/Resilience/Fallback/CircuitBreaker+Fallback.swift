extension CircuitBreaker {
    /// Runs `operation` through the breaker and, when `policy` says so, falls back to
    /// `chain`.
    ///
    /// - Returns: The value with the per-call record of every fallback tried
    ///   (``GuardedResult/fallbackExecutions``), which one served, why, and the stale age.
    /// - Throws: ``CircuitBreakerError/fallbackFailed(_:)`` when a fallback was needed and
    ///   none served (it carries the trigger and every fallback's error); otherwise the
    ///   error ``call(_:)`` would throw, when the policy does not cover the cause or the
    ///   error was not counted by the predicate.
    public func call<T: Sendable>(
        fallback chain: FallbackChain<T>,
        policy: FallbackPolicy = .onCircuitOpen,
        _ operation: @Sendable () async throws -> T
    ) async throws(CircuitBreakerError) -> GuardedResult<T> {
        try await fallBack(to: chain, policy: policy, after: await execute(operation))
    }

    /// Turns what a call through this breaker came to into its guarded result, running
    /// `chain` when `policy` covers the cause: the one place a call's outcome becomes a
    /// fallback, for the breaker's own calls and an ``AdaptivePolicy``'s.
    /// - Throws: As ``call(fallback:policy:_:)``.
    func fallBack<T: Sendable>(
        to chain: FallbackChain<T>, policy: FallbackPolicy, after outcome: CallOutcome<T>
    ) async throws(CircuitBreakerError) -> GuardedResult<T> {
        let trigger: CircuitBreakerError
        let reason: FallbackReason
        switch outcome {
        case .success(let value):
            return GuardedResult(value: value)
        case .rejected(let rejection):
            trigger = .open(breaker: name, reason: rejection)
            reason = rejection.fallbackReason
        case .timedOut(let after):
            trigger = .timeout(breaker: name, after: after)
            reason = .timeout
        case .failure(let error):
            trigger = .operationFailed(breaker: name, underlying: error, counted: true)
            reason = .failure
        case .ignoredFailure(let error):
            throw .operationFailed(breaker: name, underlying: error, counted: false)
        }
        guard policy.contains(reason.policy) else { throw trigger }
        return try await runFallback(chain, reason: reason, trigger: trigger)
    }

    /// ``call(fallback:policy:_:)`` with a single strategy. When it fails, its error and
    /// the trigger both surface in ``CircuitBreakerError/fallbackFailed(_:)``.
    public func call<T: Sendable>(
        fallback strategy: some FallbackStrategy<T>,
        policy: FallbackPolicy = .onCircuitOpen,
        _ operation: @Sendable () async throws -> T
    ) async throws(CircuitBreakerError) -> GuardedResult<T> {
        try await call(fallback: FallbackChain().adding(strategy), policy: policy, operation)
    }

    /// Falls back to `value` (the design's `call_with_static_fallback`).
    /// - Throws: As ``call(fallback:policy:_:)``.
    public func callWithStaticFallback<T: Sendable>(
        _ value: T,
        policy: FallbackPolicy = .onCircuitOpen,
        _ operation: @Sendable () async throws -> T
    ) async throws(CircuitBreakerError) -> GuardedResult<T> {
        try await call(fallback: StaticFallback(value), policy: policy, operation)
    }

    /// Falls back to a synchronous function (the design's `call_with_fallback`).
    /// - Throws: As ``call(fallback:policy:_:)``; the function's own error is attached.
    public func callWithFallback<T: Sendable>(
        policy: FallbackPolicy = .onCircuitOpen,
        _ operation: @Sendable () async throws -> T,
        fallback: @escaping @Sendable (FallbackContext) throws -> T
    ) async throws(CircuitBreakerError) -> GuardedResult<T> {
        try await call(fallback: FunctionFallback(fallback), policy: policy, operation)
    }

    /// Falls back to an async function (the design's `call_with_async_fallback`).
    /// - Throws: As ``call(fallback:policy:_:)``; the function's own error is attached.
    public func callWithAsyncFallback<T: Sendable>(
        policy: FallbackPolicy = .onCircuitOpen,
        _ operation: @Sendable () async throws -> T,
        fallback: @escaping @Sendable (FallbackContext) async throws -> T
    ) async throws(CircuitBreakerError) -> GuardedResult<T> {
        try await call(fallback: AsyncFunctionFallback(fallback), policy: policy, operation)
    }

    /// Caches every successful result under `key` and falls back to the cached value
    /// (the design's `call_with_cache`).
    /// - Throws: As ``call(fallback:policy:_:)``; a cache miss is a failed fallback.
    public func callWithCache<Key, T>(
        _ cache: CacheFallback<Key, T>,
        key: Key,
        policy: FallbackPolicy = .onCircuitOpen,
        _ operation: @Sendable () async throws -> T
    ) async throws(CircuitBreakerError) -> GuardedResult<T> {
        let result = try await call(fallback: cache.strategy(for: key), policy: policy, operation)
        if !result.isFallback { cache.insert(result.value, for: key) }
        return result
    }

    /// Stores every successful result in `cache` and falls back to it, fresh or stale
    /// (the design's `call_with_stale_cache`). A primary result is fresh with age zero.
    /// - Throws: As ``call(fallback:policy:_:)``; a miss or expired entry is a failed fallback.
    public func callWithStaleCache<Key, V>(
        _ cache: StaleCache<Key, V>,
        key: Key,
        policy: FallbackPolicy = .onCircuitOpen,
        _ operation: @Sendable () async throws -> V
    ) async throws(CircuitBreakerError) -> GuardedResult<StaleValue<V>> {
        let result = try await call(fallback: cache.strategy(for: key), policy: policy) {
            StaleValue(value: try await operation(), age: .zero, isStale: false)
        }
        if !result.isFallback { cache.insert(result.value.value, for: key) }
        return result
    }

    /// Serves a call this breaker rejects right now from `chain`, without suspending: the
    /// path of ``call(fallback:policy:_:)`` for an open breaker, for callers that handle
    /// many records and only wait when they must. The rejection and every fallback
    /// attempt are counted and reported as that call would.
    /// - Returns: `nil`, with nothing counted, when the breaker might admit a call (closed,
    ///   half-open, due for a probe), when `policy` does not fall back on an open breaker,
    ///   or when `chain` reaches a strategy that must wait: then use ``call(fallback:policy:_:)``.
    /// - Throws: ``CircuitBreakerError/fallbackFailed(_:)`` when no strategy served.
    public func fallBackIfOpen<T: Sendable>(
        to chain: FallbackChain<T>,
        policy: FallbackPolicy = .onCircuitOpen
    ) throws(CircuitBreakerError) -> GuardedResult<T>? {
        guard policy.contains(.circuitOpen), let rejection = rejectionWithoutLock() else { return nil }
        let trigger = CircuitBreakerError.open(breaker: name, reason: rejection)
        guard let outcome = chain.executeWithoutWaiting(FallbackContext(breaker: name, reason: .circuitOpen, error: trigger)) else {
            return nil
        }
        // Counted only now that the chain answered: a chain that must wait leaves the
        // call, and its rejection, to `call(fallback:)`.
        countRejection(rejection)
        return try finishFallback(outcome, reason: .circuitOpen, trigger: trigger)
    }

    /// Runs `chain` for a call that could not be served, reporting each attempt (event,
    /// metrics, ``fallbackMetrics``). Public so permit-API users can fall back too.
    /// - Throws: ``CircuitBreakerError/fallbackFailed(_:)`` when no strategy served.
    public func runFallback<T: Sendable>(
        _ chain: FallbackChain<T>,
        reason: FallbackReason,
        trigger: CircuitBreakerError
    ) async throws(CircuitBreakerError) -> GuardedResult<T> {
        let triggerError: (any Error)? =
            switch trigger {
            case .operationFailed(_, let underlying, _): underlying
            default: trigger
            }
        let outcome = await chain.execute(FallbackContext(breaker: name, reason: reason, error: triggerError))
        return try finishFallback(outcome, reason: reason, trigger: trigger)
    }

    /// Reports every attempt of a chain run and turns it into the call's result.
    private func finishFallback<T: Sendable>(
        _ outcome: FallbackChainResult<T>, reason: FallbackReason, trigger: CircuitBreakerError
    ) throws(CircuitBreakerError) -> GuardedResult<T> {
        // One reading of the clock for the whole chain: its strategies answered together.
        let at = clock.now()
        let executions = outcome.attempts.map { reportFallback($0, reason: reason, at: at) }
        guard let served = outcome.value else {
            throw .fallbackFailed(FallbackFailure(trigger: trigger, reason: reason, attempts: outcome.attempts, executions: executions))
        }
        return GuardedResult(value: served.value, servedBy: outcome.servedBy, reason: reason, fallbackExecutions: executions)
    }

    /// Records one fallback attempt: metrics, ``fallbackMetrics`` and an event.
    func reportFallback(_ attempt: FallbackAttempt, reason: FallbackReason, at: Duration) -> FallbackExecution {
        let execution: FallbackExecution
        switch attempt.outcome {
        case .served(let age, let isStale):
            execution = FallbackExecution(
                breaker: name, strategy: attempt.strategy, reason: reason, result: .success,
                dataAge: age, staleAge: isStale ? age : nil, at: at
            )
        case .noValue:
            execution = FallbackExecution(breaker: name, strategy: attempt.strategy, reason: reason, result: .noValue, at: at)
        case .failed(let error):
            execution = FallbackExecution(
                breaker: name, strategy: attempt.strategy, reason: reason, result: .failure,
                errorDescription: String(describing: error), at: at
            )
        }
        report(execution)
        return execution
    }

    /// Publishes a fallback execution that happened outside ``runFallback(_:reason:trigger:)``
    /// (read-only mode, feature switches): metrics, ``fallbackMetrics`` and an event.
    public func report(_ execution: FallbackExecution) {
        fallbackMetrics.recordFallbackExecution(success: execution.succeeded, at: execution.at)
        metrics.fallback(strategy: execution.strategy, reason: execution.reason, success: execution.succeeded)
        logger.debug(
            "fallback executed",
            metadata: [
                "strategy": "\(execution.strategy)", "reason": "\(execution.reason.rawValue)",
                "result": "\(execution.result.rawValue)",
            ]
        )
        eventHub.emit(.fallbackExecuted(execution))
    }

    /// The current time on this breaker's clock (offset since the breaker was created).
    public var now: Duration { clock.now() }
}

extension FallbackReason {
    var policy: FallbackPolicy {
        switch self {
        case .circuitOpen, .throttled, .limited, .budgetExhausted, .fleetOpen: .circuitOpen
        case .failure: .failure
        case .timeout: .timeout
        case .featureOff, .readOnly: []
        }
    }
}
