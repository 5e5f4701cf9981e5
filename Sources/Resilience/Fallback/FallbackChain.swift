/// Fallback strategies tried in order until one serves a value.
public struct FallbackChain<Value: Sendable>: Sendable {
    /// The strategies, in the order they are tried.
    public private(set) var strategies: [any FallbackStrategy<Value>]
    /// The same strategies as the chain runs them: closures made where each strategy's
    /// type is known. A call through the existential runs the strategy's generic code,
    /// which looks its types' metadata up at run time on every call (~30% of a catalog
    /// fallback's cost per alert in scripts/bench-processor); a closure made in
    /// ``adding(_:)``, specialized for the caller's strategy type, does not.
    private var steps: [Step]

    private struct Step: Sendable {
        let name: String
        let runWithoutWaiting: @Sendable (FallbackContext) -> Result<FallbackValue<Value>?, any Error>?
        let run: @Sendable (FallbackContext) async throws -> FallbackValue<Value>?

        init(_ strategy: some FallbackStrategy<Value>) {
            name = strategy.name
            runWithoutWaiting = { strategy.executeWithoutWaiting($0) }
            run = { try await strategy.execute($0) }
        }
    }

    /// Creates a chain of `strategies` (tried first to last). ``adding(_:)`` runs faster
    /// for a strategy of a type the caller knows.
    public init(_ strategies: [any FallbackStrategy<Value>] = []) {
        self.strategies = strategies
        self.steps = strategies.map { Step($0) }
    }

    /// A copy with `strategy` appended (the design's `add_strategy` builder).
    public func adding(_ strategy: some FallbackStrategy<Value>) -> FallbackChain {
        var copy = self
        copy.strategies.append(strategy)
        copy.steps.append(Step(strategy))
        return copy
    }

    /// The strategies' names, in order.
    public var names: [String] { strategies.map(\.name) }

    /// Tries each strategy in order. A strategy that returns `nil` or throws is recorded
    /// and the next one is tried; never throws itself.
    /// - Returns: The first value served (or `nil` when none did), its strategy's name,
    ///   and every attempt made.
    public func execute(_ context: FallbackContext) async -> FallbackChainResult<Value> {
        var attempts = Self.attemptsBuffer(for: steps.count)
        for step in steps {
            let result: Result<FallbackValue<Value>?, any Error>
            if let immediate = step.runWithoutWaiting(context) {
                result = immediate
            } else {
                do { result = .success(try await step.run(context)) } catch { result = .failure(error) }
            }
            if let served = Self.record(result, of: step.name, in: &attempts) { return served }
        }
        return FallbackChainResult(value: nil, servedBy: nil, attempts: attempts)
    }

    /// ``execute(_:)`` without suspending, as far as the strategies tried answer without
    /// waiting (``FallbackStrategy/executeWithoutWaiting(_:)``).
    /// - Returns: what ``execute(_:)`` returns, or `nil` when a strategy reached before one
    ///   served must wait. Nothing is reported then, but the synchronous strategies before
    ///   it did run (and will again in ``execute(_:)``): they are reads and constants.
    public func executeWithoutWaiting(_ context: FallbackContext) -> FallbackChainResult<Value>? {
        var attempts = Self.attemptsBuffer(for: steps.count)
        for step in steps {
            guard let result = step.runWithoutWaiting(context) else { return nil }
            if let served = Self.record(result, of: step.name, in: &attempts) { return served }
        }
        return FallbackChainResult(value: nil, servedBy: nil, attempts: attempts)
    }

    /// Room for an attempt per strategy at once: grown one append at a time, a chain that
    /// served from its second strategy allocated twice, on every call of an open breaker.
    private static func attemptsBuffer(for strategies: Int) -> [FallbackAttempt] {
        var attempts: [FallbackAttempt] = []
        attempts.reserveCapacity(strategies)
        return attempts
    }

    /// Records one strategy's attempt; returns the chain's result when it served.
    private static func record(
        _ result: Result<FallbackValue<Value>?, any Error>, of strategy: String, in attempts: inout [FallbackAttempt]
    ) -> FallbackChainResult<Value>? {
        switch result {
        case .success(let served?):
            attempts.append(FallbackAttempt(strategy: strategy, outcome: .served(age: served.age, isStale: served.isStale)))
            return FallbackChainResult(value: served, servedBy: strategy, attempts: attempts)
        case .success(nil):
            attempts.append(FallbackAttempt(strategy: strategy, outcome: .noValue))
        case .failure(let error):
            attempts.append(FallbackAttempt(strategy: strategy, outcome: .failed(error)))
        }
        return nil
    }
}

/// What a ``FallbackChain`` run produced.
public struct FallbackChainResult<Value: Sendable>: Sendable {
    /// The value served, or `nil` when every strategy came up empty or failed.
    public var value: FallbackValue<Value>?
    /// The name of the strategy that served.
    public var servedBy: String?
    /// Every strategy tried, in order.
    public var attempts: [FallbackAttempt]
}
