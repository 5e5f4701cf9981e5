/// Serves one predefined value (the design's `StaticFallback` and `DefaultValueStrategy`).
public struct StaticFallback<Value: Sendable>: SynchronousFallbackStrategy {
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
