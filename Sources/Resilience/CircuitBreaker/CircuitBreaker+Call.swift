extension CircuitBreaker {
    /// Runs `operation` if the breaker admits it.
    ///
    /// - Returns: The operation's value.
    /// - Throws: ``CircuitBreakerError/open(breaker:reason:)`` when rejected (the
    ///   operation does not run); ``CircuitBreakerError/timeout(breaker:after:)`` when it
    ///   exceeded ``Configuration/callTimeout`` (it is cancelled and counted as a failure)
    ///   or threw a ``TimeoutReportingError`` that says it timed out;
    ///   ``CircuitBreakerError/operationFailed(breaker:underlying:counted:)`` with the
    ///   operation's own error otherwise (`counted: false` when the predicate ignores it).
    @inlinable
    public func call<T: Sendable>(_ operation: @Sendable () async throws -> T) async throws(CircuitBreakerError) -> T {
        switch await execute(operation) {
        case .success(let value):
            return value
        case .rejected(let reason):
            throw .open(breaker: name, reason: reason)
        case .timedOut(let after):
            throw .timeout(breaker: name, after: after)
        case .failure(let error):
            throw .operationFailed(breaker: name, underlying: error, counted: true)
        case .ignoredFailure(let error):
            throw .operationFailed(breaker: name, underlying: error, counted: false)
        }
    }

    /// Runs `operation` if the breaker admits it and returns what happened instead of
    /// throwing. A rejection returns ``CallOutcome/rejected(_:)`` without allocating.
    /// With ``Configuration/callTimeout`` set, the operation runs in a child task that is
    /// cancelled at the deadline (cooperatively: this call returns once it stops).
    @inlinable
    public func execute<T: Sendable>(_ operation: @Sendable () async throws -> T) async -> CallOutcome<T> {
        let permit: Permit
        switch acquirePermit() {
        case .granted(let granted):
            permit = granted
        case .rejected(let reason):
            return .rejected(reason)
        }
        if let timeout = configuration.callTimeout {
            return await execute(operation, permit: permit, timeout: timeout)
        }
        do {
            let value = try await operation()
            complete(permit, .success)
            return .success(value)
        } catch {
            return classify(error, permit: permit)
        }
    }

    @usableFromInline
    func classify<T>(_ error: any Error, permit: Permit) -> CallOutcome<T> {
        if let refused = error as? AdmissionRefused {
            // Refused below the breaker before reaching the dependency: not its failure.
            complete(permit, .ignored)
            return .rejected(refused.reason)
        }
        if let after = (error as? any TimeoutReportingError)?.timedOutAfter, configuration.isFailure(error) {
            complete(permit, .timeout)
            return .timedOut(after: after)
        }
        if configuration.isFailure(error) {
            complete(permit, .failure)
            return .failure(error)
        }
        complete(permit, .ignored)
        return .ignoredFailure(error)
    }

    @usableFromInline
    func execute<T: Sendable>(
        _ operation: @Sendable () async throws -> T,
        permit: Permit,
        timeout: Duration
    ) async -> CallOutcome<T> {
        let clock = self.clock
        let deadline = clock.now() + timeout
        let first: Result<T?, any Error> = await withoutActuallyEscaping(operation) { operation in
            await withTaskGroup(of: Result<T?, any Error>.self) { group in
                group.addTask {
                    do {
                        return .success(try await operation())
                    } catch {
                        return .failure(error)
                    }
                }
                group.addTask {
                    do {
                        try await clock.sleep(until: deadline)
                        return .success(nil)
                    } catch {
                        return .failure(error)
                    }
                }
                let first = await group.next() ?? .failure(CancellationError())
                group.cancelAll()
                return first
            }
        }
        switch first {
        case .success(.some(let value)):
            complete(permit, .success)
            return .success(value)
        case .success(.none):
            complete(permit, .timeout)
            return .timedOut(after: timeout)
        case .failure(let error):
            return classify(error, permit: permit)
        }
    }
}
