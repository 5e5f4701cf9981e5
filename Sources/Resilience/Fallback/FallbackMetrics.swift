import Synchronization

/// Counts of fallback executions (the design's `FallbackMetrics`): executions,
/// successes, failures and when the last fallback ran. Lock-free.
public final class FallbackMetrics: Sendable {
    /// A point-in-time copy of the counts.
    public struct Snapshot: Sendable, Hashable {
        /// Fallback executions.
        public var executions: Int
        /// Executions that served a value.
        public var successes: Int
        /// Executions that did not (failed, no value, or rejected a write).
        public var failures: Int
        /// When the last one ran (clock offset of the owner's clock), if ever.
        public var lastFallbackAt: Duration?

        /// Creates a snapshot.
        public init(executions: Int, successes: Int, failures: Int, lastFallbackAt: Duration?) {
            self.executions = executions
            self.successes = successes
            self.failures = failures
            self.lastFallbackAt = lastFallbackAt
        }
    }

    private let executions = Atomic<Int>(0)
    private let successes = Atomic<Int>(0)
    private let failures = Atomic<Int>(0)
    private let lastFallbackNanos = Atomic<Int64>(.min)

    /// Creates zeroed counts.
    public init() {}

    /// Counts one execution that ran at `at`.
    public func recordFallbackExecution(success: Bool, at: Duration) {
        executions.add(1, ordering: .relaxed)
        if success {
            successes.add(1, ordering: .relaxed)
        } else {
            failures.add(1, ordering: .relaxed)
        }
        lastFallbackNanos.store(at.nanosecondsClamped, ordering: .relaxed)
    }

    /// The current counts.
    public var snapshot: Snapshot {
        let last = lastFallbackNanos.load(ordering: .relaxed)
        return Snapshot(
            executions: executions.load(ordering: .relaxed),
            successes: successes.load(ordering: .relaxed),
            failures: failures.load(ordering: .relaxed),
            lastFallbackAt: last == .min ? nil : .nanoseconds(last)
        )
    }
}
