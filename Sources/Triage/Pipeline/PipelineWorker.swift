import Foundation
import Kafka
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// The topics a worker reads and writes.
public struct PipelineTopics: Sendable, Hashable {
    public var alerts: String
    public var classified: String
    public var fallbackEvents: String
    public var deadLetter: String

    public init(
        alerts: String = "alerts",
        classified: String = "incidents.classified",
        fallbackEvents: String = "incidents.fallback-events",
        deadLetter: String = "alerts.dlq"
    ) {
        self.alerts = alerts
        self.classified = classified
        self.fallbackEvents = fallbackEvents
        self.deadLetter = deadLetter
    }

    /// The topic an output of `kind` goes to.
    public func topic(for kind: OutputKind) -> String {
        switch kind {
        case .incident: classified
        case .fallbackEvent: fallbackEvents
        case .deadLetter: deadLetter
        }
    }
}

/// What a worker tells its owner about itself (for readiness and logs).
public enum PipelineWorkerState: Sendable, Hashable {
    /// The consumer received its first assignment: it is a member of the group.
    case joinedGroup
    /// Stopped fetching; finishing in-flight work.
    case draining
    /// Done: offsets committed, producer flushed, group left.
    case stopped
}

/// Consumes alert records, processes each through an ``AlertProcessor`` and publishes
/// its outputs, with at-least-once delivery: an input offset is marked done (and so
/// committed) only after every record it produced is acknowledged by the broker.
///
/// Records are processed concurrently across keys and in order within a key (the
/// record key; records without one are independent). At most
/// ``Configuration/maxInFlight`` records are in flight; while the bound is hit the
/// assigned partitions are paused, so librdkafka stops fetching instead of buffering.
///
/// Run it as a swift-service-lifecycle `Service`. On graceful shutdown it stops
/// fetching, finishes in-flight work within ``Configuration/shutdownDeadline``,
/// commits, flushes the producer and leaves the group. Cancellation (a second signal)
/// stops at once: nothing unfinished is marked done, so it is redelivered.
public final class PipelineWorker: Service, Sendable {
    /// How a worker runs.
    public struct Configuration: Sendable {
        public var topics: PipelineTopics
        /// The most records in flight at once. Default 256.
        public var maxInFlight: Int
        /// How long a graceful shutdown waits for in-flight work. Default 30 s.
        public var shutdownDeadline: Duration
        /// How often consumer lag is read into `breakwater_consumer_lag`. Default 10 s.
        public var lagInterval: Duration
        /// First wait before re-publishing outputs whose delivery failed; doubles up to
        /// ``maxPublishBackoff``. Default 100 ms.
        public var publishBackoff: Duration
        /// Longest wait between publish attempts. Default 10 s.
        public var maxPublishBackoff: Duration

        public init(
            topics: PipelineTopics = PipelineTopics(),
            maxInFlight: Int = 256,
            shutdownDeadline: Duration = .seconds(30),
            lagInterval: Duration = .seconds(10),
            publishBackoff: Duration = .milliseconds(100),
            maxPublishBackoff: Duration = .seconds(10)
        ) {
            self.topics = topics
            self.maxInFlight = maxInFlight
            self.shutdownDeadline = shutdownDeadline
            self.lagInterval = lagInterval
            self.publishBackoff = publishBackoff
            self.maxPublishBackoff = maxPublishBackoff
        }
    }

    private let configuration: Configuration
    private let consumer: KafkaConsumer
    private let producer: KafkaProducer
    private let processor: AlertProcessor
    private let scheduler: KeyedTaskScheduler
    private let logger: Logger
    private let onStateChange: @Sendable (PipelineWorkerState) -> Void
    private let metrics: PipelineMetrics
    /// Per assigned partition, a generation bumped on every assignment change, so work
    /// fetched before a revoke is recognised and abandoned.
    private let assignment = Mutex<[KafkaTopicPartition: UInt64]>([:])
    private let generation = Atomic<UInt64>(0)

    /// Creates a worker over a consumer already subscribed to the alerts topic and a
    /// producer for the outputs. The worker owns both from now on and closes them.
    public init(
        configuration: Configuration,
        consumer: KafkaConsumer,
        producer: KafkaProducer,
        processor: AlertProcessor,
        logger: Logger,
        onStateChange: @escaping @Sendable (PipelineWorkerState) -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.consumer = consumer
        self.producer = producer
        self.processor = processor
        self.scheduler = KeyedTaskScheduler(maxInFlight: configuration.maxInFlight)
        self.logger = logger
        self.onStateChange = onStateChange
        self.metrics = PipelineMetrics()
    }

    /// Runs until graceful shutdown or cancellation (see the type's documentation).
    /// - Throws: the consumer's fatal ``KafkaError``, after shutting down the same way.
    public func run() async throws {
        var failure: (any Error)?
        await withDiscardingTaskGroup { group in
            group.addTask { await self.scheduler.run() }
            group.addTask { await self.reportLag() }
            do {
                try await cancelWhenGracefulShutdown { try await self.consume() }
            } catch {
                failure = error
                logger.error("consumer failed; shutting down", metadata: ["error": "\(error)"])
            }
            if !Task.isCancelled {
                await drain()
            }
            group.cancelAll()
        }
        await close()
        if let failure { throw failure }
    }

    private func consume() async throws {
        var joined = false
        var paused: [KafkaTopicPartition] = []
        for try await event in consumer.events {
            switch event {
            case .partitionsAssigned(let partitions):
                let next = generation.add(1, ordering: .relaxed).newValue
                assignment.withLock { for partition in partitions { $0[partition] = next } }
                logger.info("partitions assigned", metadata: ["partitions": "\(partitions)"])
                if !joined {
                    joined = true
                    onStateChange(.joinedGroup)
                }
            case .partitionsRevoked(let partitions, let lost):
                assignment.withLock { for partition in partitions { $0[partition] = nil } }
                paused.removeAll { partitions.contains($0) }
                logger.info("partitions revoked", metadata: ["partitions": "\(partitions)", "lost": "\(lost)"])
            case .message(let message):
                metrics.consumed(topic: message.topic)
                if scheduler.isSaturated && paused.isEmpty {
                    paused = assignment.withLock { Array($0.keys) }
                    try? consumer.pause(paused)
                    logger.debug("in-flight bound reached; partitions paused", metadata: ["in_flight": "\(scheduler.inFlight)"])
                }
                let epoch = assignment.withLock { $0[message.topicPartition] }
                let key = message.key.map { String(decoding: $0, as: UTF8.self) } ?? "\(message.topicPartition)@\(message.offset)"
                await scheduler.submit(key: key) { await self.handle(message, epoch: epoch) }
                if !paused.isEmpty && !scheduler.isSaturated {
                    try? consumer.resume(paused)
                    paused = []
                }
            }
        }
    }

    /// Processes one message and publishes its outputs; marks it done only once all
    /// are acknowledged. Abandons it if its partition was revoked in the meantime.
    private func handle(_ message: KafkaMessage, epoch: UInt64?) async {
        guard isStillAssigned(message, epoch: epoch) else {
            logger.debug("abandoning work of a revoked partition", metadata: ["message": "\(message.reference)"])
            return
        }
        metrics.inFlight(+1)
        defer { metrics.inFlight(-1) }
        let started = ContinuousClock.now
        let record = InputRecord(
            value: message.value ?? [],
            headers: message.headers.map { RecordHeader(key: $0.name, value: $0.value) }
        )
        let origin = RecordOrigin(topic: message.topic, partition: message.partition, offset: message.offset)
        let outcome = await processor.process(record, key: message.key, origin: origin, receivedAt: Date())
        guard await publish(outcome.outputs, for: message, epoch: epoch) else { return }
        consumer.markDone(message)
        metrics.processed(outcome, duration: ContinuousClock.now - started)
        if let letter = outcome.deadLetter {
            logger.warning("record dead-lettered", metadata: [
                "reason": "\(letter.reason)", "detail": "\(letter.detail)", "source": "\(message.reference)",
            ])
        }
    }

    /// Publishes every output and waits for the acknowledgements, retrying with backoff
    /// while delivery fails. Returns `false` (nothing marked done) when cancelled or
    /// when the partition was revoked meanwhile.
    private func publish(_ outputs: [OutputRecord], for message: KafkaMessage, epoch: UInt64?) async -> Bool {
        var pending = outputs
        var backoff = configuration.publishBackoff
        while !pending.isEmpty {
            let failed: [OutputRecord] = await withTaskGroup(of: OutputRecord?.self) { group in
                for output in pending {
                    group.addTask {
                        let record = KafkaProducerRecord(
                            topic: self.configuration.topics.topic(for: output.kind),
                            key: output.key,
                            value: output.value,
                            headers: output.headers.map { KafkaHeader(name: $0.key, value: $0.value) }
                        )
                        do {
                            _ = try await self.producer.send(record)
                            return nil
                        } catch {
                            self.logger.error("publishing an output failed; will retry", metadata: [
                                "topic": "\(record.topic)", "error": "\(error)", "source": "\(message.reference)",
                            ])
                            return output
                        }
                    }
                }
                var failed: [OutputRecord] = []
                for await result in group { if let result { failed.append(result) } }
                return failed
            }
            pending = failed
            guard !pending.isEmpty else { break }
            guard !Task.isCancelled, isStillAssigned(message, epoch: epoch) else { return false }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, configuration.maxPublishBackoff)
        }
        return true
    }

    private func isStillAssigned(_ message: KafkaMessage, epoch: UInt64?) -> Bool {
        guard let epoch else { return false }
        return assignment.withLock { $0[message.topicPartition] } == epoch
    }

    /// Graceful part of shutdown: no more fetching; wait for in-flight work, bounded.
    private func drain() async {
        onStateChange(.draining)
        logger.info("draining in-flight work", metadata: ["in_flight": "\(scheduler.inFlight)"])
        let finished = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await self.scheduler.waitUntilIdle()
                return true
            }
            group.addTask {
                try? await Task.sleep(for: self.configuration.shutdownDeadline)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        if !finished {
            logger.warning("shutdown deadline passed with work in flight; it will be redelivered", metadata: [
                "in_flight": "\(scheduler.inFlight)",
            ])
        }
        scheduler.finish()
    }

    /// Commits what is done, flushes the producer and leaves the group.
    private func close() async {
        let unsent = await producer.close(flushTimeout: configuration.shutdownDeadline)
        if unsent > 0 {
            logger.error("producer closed with unacknowledged records", metadata: ["count": "\(unsent)"])
        }
        if let error = await consumer.close() {
            logger.error("consumer close reported an error", metadata: ["error": "\(error)"])
        }
        onStateChange(.stopped)
        logger.info("worker stopped")
    }

    private func reportLag() async {
        while !Task.isCancelled {
            if let lags = try? consumer.lag() {
                for lag in lags { if let value = lag.lag { metrics.lag(lag.topicPartition, value) } }
            }
            try? await Task.sleep(for: configuration.lagInterval)
        }
    }
}

/// The worker's own metrics, created once (never per record).
struct PipelineMetrics: Sendable {
    private let inFlightGauge = Meter(label: MetricNames.inFlight)
    private let duration = Timer(label: MetricNames.processingDuration)

    func consumed(topic: String) {
        Counter(label: MetricNames.recordsConsumed, dimensions: [("topic", topic)]).increment()
    }

    func inFlight(_ delta: Double) {
        if delta > 0 { inFlightGauge.increment(by: delta) } else { inFlightGauge.decrement(by: -delta) }
    }

    func processed(_ outcome: ProcessingOutcome, duration elapsed: Duration) {
        duration.recordNanoseconds(Int64(elapsed.components.seconds) * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        for incident in outcome.incidents {
            Counter(label: MetricNames.incidents, dimensions: [
                ("classifier", incident.classification.classifier.rawValue),
                ("severity", incident.classification.severity.rawValue),
            ]).increment()
        }
        for event in outcome.fallbackEvents {
            Counter(label: MetricNames.fallbacks, dimensions: [
                ("breaker", event.breaker), ("strategy", event.strategy), ("reason", event.reason.rawValue),
            ]).increment()
        }
        if let letter = outcome.deadLetter {
            Counter(label: MetricNames.dlqRecords, dimensions: [("reason", letter.reason)]).increment()
        }
    }

    func lag(_ partition: KafkaTopicPartition, _ value: Int64) {
        Gauge(label: MetricNames.consumerLag, dimensions: [("topic", partition.topic), ("partition", "\(partition.partition)")])
            .record(value)
    }
}
