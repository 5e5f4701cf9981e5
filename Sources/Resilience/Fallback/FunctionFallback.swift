/// Serves the result of a synchronous function (the design's `FallbackFn`).
public struct FunctionFallback<Value: Sendable>: FallbackStrategy {
    /// The strategy name, `"function"` by default.
    public let name: String
    private let function: @Sendable (FallbackContext) throws -> Value

    /// Creates a fallback that calls `function` with the call's context.
    public init(name: String = "function", _ function: @escaping @Sendable (FallbackContext) throws -> Value) {
        self.name = name
        self.function = function
    }

    /// Calls the function.
    /// - Throws: The function's error.
    public func execute(_ context: FallbackContext) throws -> FallbackValue<Value>? {
        FallbackValue(try function(context))
    }
}
