import Foundation
import Kafka
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
    private let logger: Logger

    init(
        worker: PipelineWorker, gate: HealGate, metrics: HealMetrics, steps: Set<HealableStep>, breakers: [HealableStep: CircuitBreaker],
        logger: Logger, pendingInterval: Duration = .seconds(2)
    ) {
        self.logger = logger
        self.worker = worker
        self.gate = gate
        self.metrics = metrics
        self.steps = steps
        self.breakers = steps.sorted().compactMap { breakers[$0] }
        self.pendingInterval = pendingInterval
        pendingGauge = Gauge(label: MetricNames.healPending)
    }

    /// Repair records the healer group has not healed or skipped yet (not committed: in
    /// flight or not yet read), on every partition of the repair log, asked from the
    /// broker: the same on every worker, also while this one has no partitions. Waits its
    /// turn on the consumer's queue, up to seconds on a loaded machine: the loop in
    /// ``run()`` reads it and ``lastPendingReading`` answers at once.
    /// - Throws: ``Kafka/KafkaError`` when no broker answered in time.
    private func pending() async throws(KafkaError) -> Int {
        Int(try await worker.uncommittedRecords())
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
                    var failing = false
                    while !Task.isCancelled {
                        do {
                            let pending = try await self.pending()
                            self.pendingGauge.record(pending)
                            self.lastPending.withLock { $0 = pending }
                            if failing { self.logger.info("pending repairs read again", metadata: ["pending": "\(pending)"]) }
                            failing = false
                        } catch {
                            // Once per streak: a broker outage fails every reading.
                            if !failing, !Task.isCancelled {
                                self.logger.warning(
                                    "reading the pending repairs failed; the gauge and /admin/heal keep the last reading",
                                    metadata: ["error": "\(error)"])
                            }
                            failing = true
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
