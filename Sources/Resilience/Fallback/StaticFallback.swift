/// Serves one predefined value (the design's `StaticFallback` and `DefaultValueStrategy`).
public struct StaticFallback<Value: Sendable>: FallbackStrategy {
    /// The value served.
    public let value: Value
    /// The strategy name, `"static"` by default.
    public let name: String

    /// Creates a fallback that always serves `value`.
    public init(_ value: Value, name: String = "static") {
        self.value = value
        self.name = name
    }

    /// The value.
    public func get() -> Value { value }

    /// Serves ``value``; never fails.
    public func execute(_ context: FallbackContext) -> FallbackValue<Value>? {
        FallbackValue(value)
    }
}

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

/// Serves the result of an async function, such as a secondary source (the design's
/// `AsyncFallbackFn` and `SecondaryServiceStrategy`).
public struct AsyncFunctionFallback<Value: Sendable>: FallbackStrategy {
    /// The strategy name, `"async_function"` by default.
    public let name: String
    private let function: @Sendable (FallbackContext) async throws -> Value?

    /// Creates a fallback that awaits `function`; returning `nil` means "nothing to offer".
    public init(name: String = "async_function", _ function: @escaping @Sendable (FallbackContext) async throws -> Value?) {
        self.name = name
        self.function = function
    }

    /// Awaits the function.
    /// - Throws: The function's error.
    public func execute(_ context: FallbackContext) async throws -> FallbackValue<Value>? {
        try await function(context).map { FallbackValue($0) }
    }
}
