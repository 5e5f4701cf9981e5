import Locking

/// A value behind a lock, shareable with escaping closures and child tasks.
public final class Locked<Value: Sendable>: Sendable {
    private let mutex: LockedValue<Value>

    public init(_ value: Value) {
        mutex = LockedValue(value)
    }

    /// Runs `body` with the value, exclusively.
    public func withLock<Result: Sendable>(_ body: (inout Value) -> Result) -> Result {
        mutex.withLock { body(&$0) }
    }
}
