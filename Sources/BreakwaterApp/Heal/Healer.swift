import Foundation
import Locking
import Logging
import Metrics
import Resilience
import ServiceLifecycle
import Triage

/// The healer a worker runs beside its live pipeline (`heal.enabled`): a
/// ``Triage/PipelineWorker`` over the repair log in its own consumer group, running each
/// record through a ``Triage/HealProcessor``, in the live worker's delivery mode. As a
/// service it runs that worker and, every ``pendingInterval``, sets
/// `breakwater_heal_pending` (``lastPendingReading``).
public final class Healer: Service, Sendable {
    /// The healer's worker.
    public let worker: PipelineWorker
    /// What heals wait for now.
    public let gate: HealGate
    /// What was healed and skipped.
    public let metrics: HealMetrics
    /// The steps healed.
    public let steps: Set<HealableStep>
    /// The breakers of those steps.
    private let breakers: [CircuitBreaker]
    /// How often `breakwater_heal_pending` is set.
    public let pendingInterval: Duration
    private let pendingGauge: Gauge
    private let lastPending = LockedValue<Int?>(nil)

    init(
        worker: PipelineWorker, gate: HealGate, metrics: HealMetrics, steps: Set<HealableStep>, breakers: [HealableStep: CircuitBreaker],
        pendingInterval: Duration = .seconds(2)
    ) {
        self.worker = worker
        self.gate = gate
        self.metrics = metrics
        self.steps = steps
        self.breakers = steps.sorted().compactMap { breakers[$0] }
        self.pendingInterval = pendingInterval
        pendingGauge = Gauge(label: MetricNames.healPending)
    }

    /// Repair records of this worker's partitions of the repair log not healed or skipped
    /// yet (not committed: in flight or not yet read), asked from the broker; `nil` while
    /// it cannot tell (no partitions yet, or no broker answered). Waits its turn on the
    /// consumer's queue, up to seconds on a loaded machine: the loop in ``run()`` reads it
    /// and ``lastPendingReading`` answers at once.
    private func pending() async -> Int? {
        await worker.uncommittedRecords().map(Int.init)
    }

    /// The breakers of the healed steps that hold healing now (``Triage/HealGate/pausedOn(_:)``).
    public var pausedOn: [String] { gate.pausedOn(breakers) }

    /// The latest reading of the gauge's loop (every ``pendingInterval``);
    /// `nil` before the first.
    public var lastPendingReading: Int? { lastPending.withLock { $0 } }

    /// Runs the healer's worker until graceful shutdown (see ``Triage/PipelineWorker/run()``).
    /// - Throws: what the worker's run throws.
    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                defer { self.pendingGauge.record(0) }
                // Stops as the shutdown begins: each reading waits its turn on the
                // consumer's queue, and the worker's close must not wait behind one.
                await cancelWhenGracefulShutdown {
                    while !Task.isCancelled {
                        if let pending = await self.pending() {
                            self.pendingGauge.record(pending)
                            self.lastPending.withLock { $0 = pending }
                        }
                        try? await Task.sleep(for: self.pendingInterval)
                    }
                }
            }
            try await worker.run()
            group.cancelAll()
        }
    }
}
