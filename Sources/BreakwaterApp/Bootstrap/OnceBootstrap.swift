import Locking

/// Runs a process-wide installation (swift-log's or swift-metrics' bootstrap, which crash
/// when called twice) at most once, and hands every caller the first result.
final class OnceBootstrap<Value: Sendable>: Sendable {
    private let state = LockedValue<Value?>(nil)

    init() {}

    /// The value `install` produced on the first call; later calls return it without
    /// running `install`. `installed` tells whether this call ran it.
    func run(_ install: () -> Value) -> (value: Value, installed: Bool) {
        state.withLock { existing in
            if let existing { return (existing, false) }
            let value = install()
            existing = value
            return (value, true)
        }
    }
}
