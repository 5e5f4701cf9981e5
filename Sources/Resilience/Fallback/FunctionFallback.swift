/// Serves the result of a synchronous function (the design's `FallbackFn`).
public struct FunctionFallback<Value: Sendable>: SynchronousFallbackStrategy {
    /// The strategy name, `"function"` by default.
    public let name: String
    private let function: @Sendable (FallbackContext) throws -> Value?

    /// Creates a fallback that calls `function` with the call's context.
    public init(name: String = "function", _ function: @escaping @Sendable (FallbackContext) throws -> Value) {
        self.name = name
        self.function = function
    }

    /// Creates a fallback that calls `function`, which may have nothing to offer (`nil`,
    /// a lookup that missed): the chain then moves on, as after a cache miss.
    public init(name: String = "function", orNothing function: @escaping @Sendable (FallbackContext) throws -> Value?) {
        self.name = name
        self.function = function
    }

    /// Calls the function.
    /// - Throws: The function's error.
    public func execute(_ context: FallbackContext) throws -> FallbackValue<Value>? {
        try function(context).map { FallbackValue($0) }
    }
}
