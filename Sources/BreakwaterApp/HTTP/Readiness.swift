import Locking

/// Whether this worker should receive traffic, as `GET /health/ready` reports it.
///
/// The worker updates it as its Kafka clients come and go; the HTTP server only reads it.
/// The worker is ready only while its consumer has joined the group and is not failing
/// (polling errors and no records), its producer is connected, and it is not shutting down. Starting to shut down is final: once
/// ``markShuttingDown()`` is called the worker never reports ready again.
///
/// Thread-safe; every method is cheap (one lock).
public final class Readiness: Sendable {
    /// One condition of readiness.
    public enum Check: String, Sendable, Hashable, CaseIterable, Codable {
        /// The consumer has joined its consumer group (partitions may be assigned).
        case consumerJoinedGroup
        /// The consumer is not stuck polling errors (a fetch response it refuses, a broker
        /// it cannot reach) without receiving records.
        case consumerMakingProgress
        /// The producer is connected to the cluster.
        case producerConnected
        /// The worker is not shutting down.
        case notShuttingDown
    }

    /// A point-in-time readiness verdict.
    public struct Status: Sendable, Hashable {
        /// Every check that applies with whether it passes, in ``Check/allCases`` order.
        public var checks: [(check: Check, passing: Bool)] {
            applicable.map { ($0, !failing.contains($0)) }
        }
        /// The checks that do not pass, in ``Check/allCases`` order.
        public var failing: [Check]
        /// The checks that apply to this process, in ``Check/allCases`` order.
        public var applicable: [Check]
        /// Whether every check passes.
        public var isReady: Bool { failing.isEmpty }

        /// A verdict with `failing` checks out of `applicable` ones (default: all).
        public init(failing: [Check], applicable: [Check] = Check.allCases) {
            self.failing = failing
            self.applicable = applicable
        }
    }

    private struct State {
        var consumerJoinedGroup = false
        var consumerFailure: String?
        var producerConnected = false
        var shuttingDown = false
    }

    private let state = LockedValue(State())
    private let applicable: [Check]

    /// A fresh worker: not ready (consumer not joined, producer not connected).
    public init() {
        applicable = Check.allCases
    }

    /// Readiness of a process that checks only `checks` (`breakwater ingest` has no
    /// consumer); the others always pass and are not reported.
    public init(checks: Set<Check>) {
        applicable = Check.allCases.filter(checks.contains)
    }

    /// Records whether the consumer is a member of its group (call with `false` on a
    /// rebalance that removes it or when it leaves).
    public func setConsumerJoinedGroup(_ joined: Bool) {
        state.withLock { $0.consumerJoinedGroup = joined }
    }

    /// Records that the consumer keeps failing (`reason`: its last error), or, with `nil`,
    /// that it makes progress again.
    public func setConsumerFailure(_ reason: String?) {
        state.withLock { $0.consumerFailure = reason }
    }

    /// The consumer's last error while it is failing, else `nil`.
    public var consumerFailure: String? { state.withLock { $0.consumerFailure } }

    /// Records whether the producer is connected.
    public func setProducerConnected(_ connected: Bool) {
        state.withLock { $0.producerConnected = connected }
    }

    /// Records that the worker has begun shutting down: readiness fails from now on.
    public func markShuttingDown() {
        state.withLock { $0.shuttingDown = true }
    }

    /// The current verdict.
    public var status: Status {
        let current = state.withLock { $0 }
        var failing: [Check] = []
        if !current.consumerJoinedGroup { failing.append(.consumerJoinedGroup) }
        if current.consumerFailure != nil { failing.append(.consumerMakingProgress) }
        if !current.producerConnected { failing.append(.producerConnected) }
        if current.shuttingDown { failing.append(.notShuttingDown) }
        return Status(failing: failing.filter(applicable.contains), applicable: applicable)
    }

    /// Whether the worker is ready now.
    public var isReady: Bool { status.isReady }
}
