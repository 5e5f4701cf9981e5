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

/// What a worker does moment to moment: for tests, logs and debugging, never needed for
/// correct operation.
public enum PipelineWorkerEvent: Sendable, Hashable {
    /// The in-flight bound was hit: these partitions were paused.
    case partitionsPaused([KafkaTopicPartition])
    /// Enough in-flight work finished: these partitions were resumed.
    case partitionsResumed([KafkaTopicPartition])
    /// Publishing the outputs of `source` failed (attempt `attempt`); it is retried
    /// after a backoff and the input is not marked done meanwhile.
    case publishFailed(source: KafkaMessageReference, attempt: Int, error: String)
    /// The cluster rejected an output of `source` for good (e.g. too large for `topic`):
    /// the input is dead-lettered with reason `publish_failed` instead.
    case publishRejected(source: KafkaMessageReference, topic: String, error: String)
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
/// Publishing retries with exponential backoff for as long as it fails transiently (the
/// broker is away, a request timed out): nothing is lost and nothing is committed past it.
/// When the cluster rejects an output for good (``Kafka/KafkaError/isRecordRejection``:
/// too large for its topic, unknown topic, not allowed) ``Configuration/maxRejectedAttempts``
/// times, retrying cannot help and would stall the partition's commits forever, so the
/// input is dead-lettered with reason `publish_failed` (its outputs that did get through
/// stay published). Should the dead-letter topic reject that record too, it is sent once
/// more without the original value and headers (the source topic, partition and offset
/// still point at it); after that the worker retries without end.
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
        /// Attempts whose failure was a permanent rejection of a record before the input is
        /// dead-lettered with reason `publish_failed`. Default 5.
        public var maxRejectedAttempts: Int

        public init(
            topics: PipelineTopics = PipelineTopics(),
            maxInFlight: Int = 256,
            shutdownDeadline: Duration = .seconds(30),
            lagInterval: Duration = .seconds(10),
            publishBackoff: Duration = .milliseconds(100),
            maxPublishBackoff: Duration = .seconds(10),
            maxRejectedAttempts: Int = 5
        ) {
            self.topics = topics
            self.maxInFlight = maxInFlight
            self.shutdownDeadline = shutdownDeadline
            self.lagInterval = lagInterval
            self.publishBackoff = publishBackoff
            self.maxPublishBackoff = maxPublishBackoff
            self.maxRejectedAttempts = max(1, maxRejectedAttempts)
        }
    }

    private let configuration: Configuration
    private let consumer: KafkaConsumer
    private let producer: KafkaProducer
    private let processor: AlertProcessor
    private let scheduler: KeyedTaskScheduler
    private let logger: Logger
    private let onStateChange: @Sendable (PipelineWorkerState) -> Void
    private let onEvent: @Sendable (PipelineWorkerEvent) -> Void
    /// Sleeps on the injected clock: publish backoff, the shutdown deadline, the lag period.
    private let sleep: @Sendable (Duration) async throws -> Void
    private let metrics: PipelineMetrics
    /// Per assigned partition, a generation bumped on every assignment change, so work
    /// fetched before a revoke is recognised and abandoned.
    private let assignment = Mutex<[KafkaTopicPartition: UInt64]>([:])
    private let generation = Atomic<UInt64>(0)

    /// Creates a worker over a consumer already subscribed to the alerts topic and a
    /// producer for the outputs. The worker owns both from now on and closes them.
    /// `onEvent` hears about pauses, resumes and publish failures (see ``PipelineWorkerEvent``).
    /// `clock` times the publish backoff, the shutdown deadline and the lag period.
    public init<C: Clock>(
        configuration: Configuration,
        consumer: KafkaConsumer,
        producer: KafkaProducer,
        processor: AlertProcessor,
        logger: Logger,
        onStateChange: @escaping @Sendable (PipelineWorkerState) -> Void = { _ in },
        onEvent: @escaping @Sendable (PipelineWorkerEvent) -> Void = { _ in },
        clock: C = ContinuousClock()
    ) where C.Duration == Duration {
        self.configuration = configuration
        self.consumer = consumer
        self.producer = producer
        self.processor = processor
        self.scheduler = KeyedTaskScheduler(maxInFlight: configuration.maxInFlight)
        self.logger = logger
        self.onStateChange = onStateChange
        self.onEvent = onEvent
        self.sleep = { try await clock.sleep(for: $0) }
        self.metrics = PipelineMetrics()
    }

    /// Records admitted and not yet finished (at most ``Configuration/maxInFlight``).
    public var inFlight: Int { scheduler.inFlight }

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
                logger.info("partitions revoked", metadata: ["partitions": "\(partitions)", "lost": "\(lost)"])
            case .message(let message):
                metrics.consumed(topic: message.topic)
                if scheduler.isSaturated { await waitForRoomWithPartitionsPaused() }
                // Graceful shutdown: take nothing more. This message is not marked done,
                // so the commit stops before it and the next owner gets it.
                guard !Task.isCancelled else { return }
                let epoch = assignment.withLock { $0[message.topicPartition] }
                let key = message.key.map { String(decoding: $0, as: UTF8.self) } ?? "\(message.topicPartition)@\(message.offset)"
                await scheduler.submit(key: key) { await self.handle(message, epoch: epoch) }
            }
        }
    }

    /// The in-flight bound is hit: pauses every assigned partition (so librdkafka stops
    /// prefetching), waits until half the bound is free, and resumes them.
    ///
    /// Waiting here rather than inside `submit` matters: the loop must resume the
    /// partitions when work drains even if no further record ever arrives, or a worker
    /// that happened to fill the bound with its last buffered record stays paused forever.
    /// No poll happens while waiting, so the assignment cannot change meanwhile.
    private func waitForRoomWithPartitionsPaused() async {
        let partitions = assignment.withLock { Array($0.keys) }.sorted()
        do { try consumer.pause(partitions) } catch {
            logger.warning("pausing partitions failed", metadata: ["error": "\(error)"])
        }
        logger.debug("in-flight bound reached; partitions paused", metadata: ["in_flight": "\(scheduler.inFlight)"])
        onEvent(.partitionsPaused(partitions))
        await scheduler.waitUntilInFlight(atMost: configuration.maxInFlight / 2)
        do { try consumer.resume(partitions) } catch {
            logger.warning("resuming partitions failed", metadata: ["error": "\(error)"])
        }
        onEvent(.partitionsResumed(partitions))
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
        // Cancelled (the shutdown deadline passed) or revoked while processing: the stages
        // may have cut corners on cancellation, and the next owner redoes the record anyway.
        guard !Task.isCancelled, isStillAssigned(message, epoch: epoch) else {
            logger.debug("abandoning work cancelled or revoked while processing", metadata: ["message": "\(message.reference)"])
            return
        }
        var outputs = outcome.outputs
        var rejections = 0
        while true {
            switch await publish(outputs, for: message, epoch: epoch, giveUp: rejections < 2) {
            case .published:
                consumer.markDone(message)
                if rejections == 0 {
                    metrics.processed(outcome, duration: ContinuousClock.now - started)
                    if let letter = outcome.deadLetter {
                        logger.warning("record dead-lettered", metadata: [
                            "reason": "\(letter.reason)", "detail": "\(letter.detail)", "source": "\(message.reference)",
                        ])
                    }
                } else {
                    metrics.deadLettered(reason: DeadLetter.publishFailedReason)
                }
                return
            case .abandoned:
                return
            case .rejected(let topic, let error):
                rejections += 1
                logger.error("an output was rejected for good; dead-lettering the input", metadata: [
                    "topic": "\(topic)", "error": "\(error)", "source": "\(message.reference)",
                    "original_kept": "\(rejections == 1)",
                ])
                onEvent(.publishRejected(source: message.reference, topic: topic, error: "\(error)"))
                let letter = DeadLetter(
                    reason: DeadLetter.publishFailedReason,
                    detail: "publishing to \(topic) was rejected \(configuration.maxRejectedAttempts) times: \(error)"
                        + (rejections == 1 ? "" : "; the original value and headers were dropped, read them at the source offset"),
                    sourceTopic: origin.topic, sourcePartition: origin.partition, sourceOffset: origin.offset,
                    time: Date(), workerID: processor.workerID
                )
                // First the original record, as any dead letter; if the dead-letter topic
                // rejects that too, only the headers saying where the original is.
                outputs = [rejections == 1
                    ? OutputRecord(kind: .deadLetter, key: message.key, value: record.value, headers: letter.headers(appendingTo: record.headers))
                    : OutputRecord(kind: .deadLetter, key: nil, value: [], headers: letter.headers(appendingTo: []))]
            }
        }
    }

    private enum PublishResult {
        /// Every output was acknowledged.
        case published
        /// Cancelled, or the partition was revoked: nothing may be marked done.
        case abandoned
        /// An output to `topic` was rejected for good ``Configuration/maxRejectedAttempts`` times.
        case rejected(topic: String, error: KafkaError)
    }

    /// Publishes every output and waits for the acknowledgements, retrying what failed
    /// with backoff. With `giveUp`, returns `.rejected` once rejections (not transient
    /// failures) reached ``Configuration/maxRejectedAttempts``.
    private func publish(_ outputs: [OutputRecord], for message: KafkaMessage, epoch: UInt64?, giveUp: Bool) async -> PublishResult {
        var pending = outputs
        var backoff = configuration.publishBackoff
        var attempt = 0
        var rejectedAttempts = 0
        while !pending.isEmpty {
            attempt += 1
            let failed: [(output: OutputRecord, error: any Error)] = await withTaskGroup(of: (OutputRecord, (any Error)?).self) { group in
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
                            return (output, nil)
                        } catch {
                            self.logger.error("publishing an output failed; will retry", metadata: [
                                "topic": "\(record.topic)", "error": "\(error)", "source": "\(message.reference)",
                            ])
                            return (output, error)
                        }
                    }
                }
                var failed: [(output: OutputRecord, error: any Error)] = []
                for await (output, error) in group { if let error { failed.append((output, error)) } }
                return failed
            }
            pending = failed.map(\.output)
            guard let first = failed.first else { break }
            onEvent(.publishFailed(source: message.reference, attempt: attempt, error: "\(first.error)"))
            if let rejected = failed.first(where: { ($0.error as? KafkaError)?.isRecordRejection == true }),
               let error = rejected.error as? KafkaError {
                rejectedAttempts += 1
                if giveUp, rejectedAttempts >= configuration.maxRejectedAttempts {
                    return .rejected(topic: configuration.topics.topic(for: rejected.output.kind), error: error)
                }
            }
            guard !Task.isCancelled, isStillAssigned(message, epoch: epoch) else { return .abandoned }
            try? await sleep(backoff)
            backoff = min(backoff * 2, configuration.maxPublishBackoff)
        }
        return .published
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
                // Cancellable (unlike waitUntilIdle): when the deadline wins, this task
                // must end too, or the group waits for the stuck work it is giving up on.
                await self.scheduler.waitUntilInFlight(atMost: 0)
                return !Task.isCancelled
            }
            group.addTask {
                try? await self.sleep(self.configuration.shutdownDeadline)
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
            try? await sleep(configuration.lagInterval)
        }
    }
}
