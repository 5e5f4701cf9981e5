/// Fallback strategies tried in order until one serves a value.
public struct FallbackChain<Value: Sendable>: Sendable {
    /// The strategies, in the order they are tried.
    public private(set) var strategies: [any FallbackStrategy<Value>]

    /// Creates a chain of `strategies` (tried first to last).
    public init(_ strategies: [any FallbackStrategy<Value>] = []) {
        self.strategies = strategies
    }

    /// A copy with `strategy` appended (the design's `add_strategy` builder).
    public func adding(_ strategy: some FallbackStrategy<Value>) -> FallbackChain {
        var copy = self
        copy.strategies.append(strategy)
        return copy
    }

    /// The strategies' names, in order.
    public var names: [String] { strategies.map(\.name) }

    /// Tries each strategy in order. A strategy that returns `nil` or throws is recorded
    /// and the next one is tried; never throws itself.
    /// - Returns: The first value served (or `nil` when none did), its strategy's name,
    ///   and every attempt made.
    public func execute(_ context: FallbackContext) async -> FallbackChainResult<Value> {
        var attempts: [FallbackAttempt] = []
        for strategy in strategies {
            do {
                if let served = try await strategy.execute(context) {
                    attempts.append(FallbackAttempt(strategy: strategy.name, outcome: .served(age: served.age, isStale: served.isStale)))
                    return FallbackChainResult(value: served, servedBy: strategy.name, attempts: attempts)
                }
                attempts.append(FallbackAttempt(strategy: strategy.name, outcome: .noValue))
            } catch {
                attempts.append(FallbackAttempt(strategy: strategy.name, outcome: .failed(error)))
            }
        }
        return FallbackChainResult(value: nil, servedBy: nil, attempts: attempts)
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
