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
