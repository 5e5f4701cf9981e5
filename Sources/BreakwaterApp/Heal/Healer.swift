import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Triage

/// The healer a worker runs beside its live pipeline (`heal.enabled`): a
/// ``Triage/PipelineWorker`` over the repair log in its own consumer group, running each
/// record through a ``Triage/HealProcessor``, in the live worker's delivery mode. As a
/// service it runs that worker and, every ``pendingInterval``, sets
/// `breakwater_heal_pending` (repair records not yet fetched plus heals in flight).
public final class Healer: Service, Sendable {
    /// The healer's worker.
    public let worker: PipelineWorker
    /// What heals wait for now.
    public let gate: HealGate
    /// What was healed and skipped.
    public let metrics: HealMetrics
    /// The steps healed.
    public let steps: Set<HealableStep>
    /// How often `breakwater_heal_pending` is set.
    public let pendingInterval: Duration
    private let pendingGauge: Gauge

    init(worker: PipelineWorker, gate: HealGate, metrics: HealMetrics, steps: Set<HealableStep>, pendingInterval: Duration = .seconds(2)) {
        self.worker = worker
        self.gate = gate
        self.metrics = metrics
        self.steps = steps
        self.pendingInterval = pendingInterval
        pendingGauge = Gauge(label: MetricNames.healPending)
    }

    /// Repair records not healed or skipped yet that this worker holds: fetched and in
    /// flight, or not yet fetched from its partitions of the repair log.
    public var pending: Int { Int(worker.unfetchedRecords ?? 0) + worker.inFlight }

    /// Runs the healer's worker until graceful shutdown (see ``Triage/PipelineWorker/run()``).
    /// - Throws: what the worker's run throws.
    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                defer { self.pendingGauge.record(0) }
                while !Task.isCancelled {
                    self.pendingGauge.record(self.pending)
                    try? await Task.sleep(for: self.pendingInterval)
                }
            }
            try await worker.run()
            group.cancelAll()
        }
    }
}
