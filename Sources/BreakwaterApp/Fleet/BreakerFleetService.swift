import Foundation
import Kafka
import Logging
import Metrics
import Resilience
import ServiceLifecycle
import Triage

/// Carries a worker's ``Resilience/BreakerFleet`` over Kafka: publishes its reports to
/// `topics.breakerState` (on every transition and every `fleet.heartbeat`), reads the
/// whole topic (outside any consumer group, from its first record, so every worker sees
/// every report), and on graceful shutdown writes a tombstone for each of its breakers.
///
/// It never stops the worker: while the broker or the topic cannot be used it logs, keeps
/// retrying, and the fleet, not reading this worker's own reports back, is local-only
/// (every breaker decides alone). List it before the pipeline worker in a
/// `ServiceGroup`, so it stops after the worker drained.
///
/// Metrics: `breakwater_fleet_workers` (live workers, this one included),
/// `breakwater_fleet_reporting_open{breaker}` (live workers reporting it open by their
/// own rules), `breakwater_fleet_opened{breaker}` (1 while the fleet opened or holds this
/// worker's breaker), `breakwater_fleet_local_only` (1 while the fleet is ignored).
public final class BreakerFleetService: Service, Sendable {
    /// The fleet this service carries.
    public let fleet: BreakerFleet
    private let groupID: String
    private let topic: String
    private let kafka: KafkaConfiguration
    private let producer: KafkaProducer
    private let transitions: AsyncStream<[BreakerReport]>
    private let heartbeat: Duration
    private let idleFetchBackoff: Duration?
    private let logger: Logger
    private let metrics: Metrics

    /// The longest the reader rests at the end of the topic (see `kafka.idleFetchBackoff`).
    static let longestRest = Duration.milliseconds(50)

    private struct Metrics: Sendable {
        let workers: Gauge
        let localOnly: Gauge
        let reportingOpen: [String: Gauge]
        let opened: [String: Gauge]

        init(breakers: [String], factory: any MetricsFactory) {
            workers = Gauge(label: MetricNames.fleetWorkers, factory: factory)
            localOnly = Gauge(label: MetricNames.fleetLocalOnly, factory: factory)
            reportingOpen = Dictionary(uniqueKeysWithValues: breakers.map {
                ($0, Gauge(label: MetricNames.fleetReportingOpen, dimensions: [("breaker", $0)], factory: factory))
            })
            opened = Dictionary(uniqueKeysWithValues: breakers.map {
                ($0, Gauge(label: MetricNames.fleetOpened, dimensions: [("breaker", $0)], factory: factory))
            })
        }
    }

    /// The fleet over the worker's breakers whose `breakers.<name>.fleet.enabled` is on,
    /// for the worker `pipeline.workerId` of the group `kafka.groupId`.
    /// - Parameters:
    ///   - breakers: the worker's breakers.
    ///   - metricsFactory: where the fleet gauges go (`nil`: the global factory).
    /// - Throws: ``WorkerAssembly/StartError`` for a fleet setting that cannot be used;
    ///   ``Kafka/KafkaError`` for a Kafka setting librdkafka refuses.
    public init(
        configuration: BreakwaterConfiguration, breakers: CircuitBreakerRegistry, logger: Logger,
        metricsFactory: (any MetricsFactory)? = nil
    ) throws {
        var rules: [String: BreakerFleet.Rule] = [:]
        var shared: [CircuitBreaker] = []
        for (name, settings) in configuration.breakers.byBreakerName where settings.fleet.enabled {
            guard let breaker = breakers.existingBreaker(named: name) else { continue }
            shared.append(breaker)
            rules[name] = BreakerFleet.Rule(
                quorum: settings.fleet.quorum, minimumQuorum: settings.fleet.minimumQuorum, probers: settings.fleet.probers,
                poolFailures: settings.fleet.poolFailures)
        }
        groupID = configuration.kafka.groupId
        topic = configuration.topics.breakerState
        heartbeat = configuration.fleet.heartbeat.duration
        idleFetchBackoff = configuration.kafka.idleFetchBackoff?.duration
        kafka = configuration.kafka.workerClientConfiguration()
        var logger = logger
        logger[metadataKey: "topic"] = "\(topic)"
        self.logger = logger
        // A plain producer: the worker's own may be transactional, and a report must go
        // out whatever the worker's transactions do. No retries beyond a heartbeat: a
        // newer report follows anyway.
        producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(
                common: kafka, idempotent: false, linger: .milliseconds(1), messageTimeout: configuration.fleet.heartbeat.duration),
            logger: logger)
        let (transitions, continuation) = AsyncStream.makeStream(of: [BreakerReport].self, bufferingPolicy: .bufferingNewest(1_024))
        self.transitions = transitions
        do {
            fleet = try BreakerFleet(
                configuration: .init(
                    workerID: configuration.pipeline.workerId, heartbeat: configuration.fleet.heartbeat.duration,
                    liveness: configuration.fleet.liveness.duration, rules: rules),
                breakers: shared,
                wallClockMilliseconds: { Int64((Date().timeIntervalSince1970 * 1000).rounded()) },
                logger: logger,
                publish: { continuation.yield($0) })
        } catch {
            throw WorkerAssembly.StartError(description: "fleet: \(error)")
        }
        metrics = Metrics(breakers: rules.keys.sorted(), factory: metricsFactory ?? MetricsSystem.factory)
        updateMetrics()
    }

    /// Publishes, reads and heartbeats until graceful shutdown or cancellation, then
    /// writes this worker's tombstones and closes its clients. Never throws: Kafka
    /// failures are logged and retried.
    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.read() }
            group.addTask { await self.beat() }
            group.addTask { await self.forwardTransitions() }
            try? await gracefulShutdown()
            group.cancelAll()
        }
        fleet.detach()
        let tombstones = fleet.breakerNames.map {
            KafkaProducerRecord(
                topic: topic, key: BreakerStateRecord.Key(breaker: $0, groupID: groupID, workerID: fleet.configuration.workerID).bytes,
                value: nil)
        }
        for case .failure(let error) in await producer.send(tombstones) {
            logger.warning("the fleet may count this worker until its liveness passes: a tombstone was not written", metadata: ["error": "\(error)"])
        }
        _ = await producer.close(flushTimeout: heartbeat)
    }

    private func send(_ reports: [BreakerReport]) async {
        let records = reports.map {
            let record = BreakerStateRecord(groupID: groupID, report: $0)
            return KafkaProducerRecord(topic: topic, key: record.key.bytes, value: record.value())
        }
        for case .failure(let error) in await producer.send(records) {
            // The next heartbeat sends the state again; the fleet turns local-only if
            // none arrives within its liveness.
            logger.debug("a breaker report was not written", metadata: ["error": "\(error)"])
        }
    }

    private func forwardTransitions() async {
        for await reports in transitions {
            await send(reports)
        }
    }

    private func beat() async {
        while !Task.isCancelled {
            await send(fleet.heartbeat())
            updateMetrics()
            try? await Task.sleep(for: heartbeat)
        }
    }

    /// Reads the topic from its start, retrying a heartbeat apart while it cannot.
    private func read() async {
        var lastError: String?
        while !Task.isCancelled {
            do {
                try await readOnce()
            } catch is CancellationError {
                return
            } catch {
                // Once per distinct error, not every heartbeat while the broker is away.
                let text = "\(error)"
                logger.log(
                    level: text == lastError ? .debug : .warning, "reading the breaker fleet failed; breakers decide alone meanwhile",
                    metadata: ["error": "\(text)"])
                lastError = text
            }
            try? await Task.sleep(for: heartbeat)
        }
    }

    private func readOnce() async throws {
        // Records below the high watermarks were written before this worker started: they
        // show the workers' last states but do not make them live.
        let history: [KafkaTopicPartition: Int64]
        do {
            let admin = try KafkaAdmin(configuration: kafka, logger: logger)
            defer { admin.close() }
            history = try await admin.watermarks(of: topic, timeout: heartbeat * 5).mapValues(\.high)
        }
        var common = kafka
        // Reports should reach the fleet within a fraction of the heartbeat.
        common.properties["fetch.wait.max.ms"] = common.properties["fetch.wait.max.ms"] ?? "100"
        var configuration = KafkaConsumerConfiguration(
            common: common, groupID: "\(groupID)-fleet-reader", isolationLevel: .readUncommitted, offsetCommits: .manual)
        // Like the worker's own consumer: a broker that answers an empty fetch at once (the
        // local one) would otherwise be asked again in a loop (half a core per idle
        // worker). At most 50 ms, though: a failure report that rests longer reaches the
        // fleet after the others paid more failed calls of their own (bench-fleet, 9
        // workers: 15 failed calls at 200 ms against 10 without a rest).
        configuration.idleFetchBackoff = idleFetchBackoff.map { min($0, Self.longestRest) }
        let consumer = try KafkaConsumer(
            configuration: configuration,
            readingFromTheStart: history.keys.sorted { $0.partition < $1.partition },
            logger: logger)
        logger.info("reading the breaker fleet", metadata: ["partitions": "\(history.count)"])
        do {
            for try await events in consumer.eventBatches {
                for case .message(let message) in events {
                    take(message, fresh: message.offset >= history[message.topicPartition] ?? 0)
                }
                updateMetrics()
            }
        } catch {
            _ = await consumer.close()
            throw error
        }
        _ = await consumer.close()
    }

    private func take(_ message: KafkaMessage, fresh: Bool) {
        guard let keyBytes = message.key, let key = BreakerStateRecord.Key(bytes: keyBytes) else {
            logger.debug("skipping a breaker-state record without a readable key", metadata: ["offset": "\(message.offset)"])
            return
        }
        guard key.groupID == groupID else { return }
        guard let value = message.value else {
            fleet.departed(worker: key.workerID, breaker: key.breaker)
            return
        }
        do {
            let record = try BreakerStateRecord(value: value)
            fleet.receive(record.report, fresh: fresh)
        } catch {
            logger.warning("skipping an unreadable breaker-state record", metadata: ["offset": "\(message.offset)", "error": "\(error)"])
        }
    }

    private func updateMetrics() {
        let snapshot = fleet.snapshot()
        metrics.workers.record(snapshot.liveWorkers)
        metrics.localOnly.record(snapshot.localOnly ? 1 : 0)
        for view in snapshot.breakers {
            metrics.reportingOpen[view.name]?.record(view.reportingOpen)
            metrics.opened[view.name]?.record(view.fleetOpen || view.openedByFleet ? 1 : 0)
        }
    }
}
