import Foundation
import Kafka
import Logging
import Metrics
import Resilience
import ServiceLifecycle

/// Consumes alert records, processes each through an ``AlertProcessor`` and publishes
/// its outputs, in one of two delivery modes (``Delivery``):
///
/// - **At-least-once**: an input offset is marked done (and so committed) only after
///   every record it produced is acknowledged by the broker. Transient publish failures
///   are retried with backoff; an output the cluster rejects for good
///   ``Configuration/AtLeastOnce/maxRejectedAttempts`` times dead-letters the input with
///   reason `publish_failed`.
/// - **Exactly-once**: inputs, their outputs and their consumed offsets commit together
///   in Kafka transactions; a failed transaction is aborted and its records processed
///   again; a fenced producer stops the worker.
///
/// Both modes share this loop: records are processed concurrently across keys and in
/// order within a key (the record key; records without one are independent). At most
/// ``Configuration/maxInFlight`` records are in flight; when the bound is hit the
/// assigned partitions are paused until half of it is free, so librdkafka stops
/// fetching instead of buffering. Work of a partition revoked (or rewound) since it was
/// fetched is dropped, never published, and redone by whoever owns it next.
///
/// Run it as a swift-service-lifecycle `Service`. On graceful shutdown it stops
/// fetching, finishes in-flight work within ``Configuration/shutdownDeadline``, makes
/// what is done durable (commit / commit the open transaction), flushes the producer and
/// leaves the group. Cancellation (a second signal) stops at once: nothing unfinished is
/// committed, so it is redelivered.
///
/// `onEvent` hears what the worker does (``PipelineWorkerEvent``); it is the one test
/// hook. What it throws is ignored, except for ``PipelineWorkerEvent/transactionCommitting(records:)``,
/// where it makes that commit fail.
public final class PipelineWorker: Service, Sendable {
    /// How a worker runs: what both modes share, and one nested part per mode (only the
    /// part of the mode in use is read).
    public struct Configuration: Sendable {
        /// At-least-once publishing.
        public struct AtLeastOnce: Sendable, Hashable {
            /// First wait before re-publishing outputs whose delivery failed; doubles up
            /// to ``maxPublishBackoff``. Default 100 ms.
            public var publishBackoff: Duration
            /// Longest wait between publish attempts. Default 10 s.
            public var maxPublishBackoff: Duration
            /// Attempts whose failure was a permanent rejection of a record before the
            /// input is dead-lettered with reason `publish_failed`. Default 5 (at least 1).
            public var maxRejectedAttempts: Int

            public init(publishBackoff: Duration = .milliseconds(100), maxPublishBackoff: Duration = .seconds(10), maxRejectedAttempts: Int = 5) {
                self.publishBackoff = publishBackoff
                self.maxPublishBackoff = maxPublishBackoff
                self.maxRejectedAttempts = max(1, maxRejectedAttempts)
            }
        }

        /// Exactly-once transactions.
        public struct ExactlyOnce: Sendable, Hashable {
            /// How long a transaction stays open at most before it is committed. Default 1 s.
            public var commitInterval: Duration
            /// A transaction is committed once it holds this many input records. Default 1000 (at least 1).
            public var maxRecordsPerTransaction: Int
            /// Timeout of each transaction call (init, send offsets, commit, abort). Default 30 s.
            public var operationTimeout: Duration

            public init(commitInterval: Duration = .seconds(1), maxRecordsPerTransaction: Int = 1_000, operationTimeout: Duration = .seconds(30)) {
                self.commitInterval = commitInterval
                self.maxRecordsPerTransaction = max(1, maxRecordsPerTransaction)
                self.operationTimeout = operationTimeout
            }
        }

        /// The input and output topics.
        public var topics: PipelineTopics
        /// The most records in flight at once. Default 2048: a poll's records are published
        /// as one batch, and the bound must cover the records processed while earlier
        /// batches wait for their acknowledgements. A bound over 256 starts at a quarter
        /// (at least 256) and opens by one per finished record (``startWindow``).
        public var maxInFlight: Int

        /// The in-flight bound while nothing has finished yet: a quarter of
        /// ``maxInFlight``, at least 256 (or `maxInFlight` when smaller).
        ///
        /// A worker starting on a backlog admits records before anything can finish: the
        /// catalog's first lookups and the producer's first acknowledgements are still
        /// out, and each admitted record waits in a task of its own (~33 KB each). With the
        /// whole bound admitted at once that was the worker's peak memory: RSS 192 MB
        /// (2,048) and 259 MB (4,096) 3.5-3.9 s after the start, against 85-115 MB for the
        /// rest of a 1,000,000-record drain. Opening the window as records finish bounds
        /// that transient and costs nothing once the first few thousand records are out.
        public var startWindow: Int { min(maxInFlight, max(256, maxInFlight / 4)) }

        /// How long a graceful shutdown (and, exactly-once, the commit on revoke) waits for
        /// in-flight work. Default 30 s.
        public var shutdownDeadline: Duration
        /// How often consumer lag is read into `breakwater_consumer_lag`. Default 10 s.
        public var lagInterval: Duration
        /// How long the in-flight bound may stay hit before the assigned partitions are
        /// paused. Until then the worker only stops polling, so what librdkafka prefetched
        /// (bounded by its `queued.max.messages.kbytes`) is kept; pausing discards it and
        /// every resume pays a new fetch. Default 1 s.
        public var pauseWhenFullFor: Duration
        /// Settings of at-least-once delivery.
        public var atLeastOnce: AtLeastOnce
        /// Settings of exactly-once delivery.
        public var exactlyOnce: ExactlyOnce
        /// How long no broker may answer (probed every ``lagInterval``) before the worker
        /// reports ``PipelineWorkerState/consumerFailing(error:)`` (readiness fails). Default 30 s.
        public var brokerUnreachableGrace: Duration
        /// Longest the final commit and leaving the group may take once the work is done;
        /// past it the consumer is abandoned and the worker stops anyway (what was not
        /// committed is redelivered). Default 15 s.
        public var consumerCloseTimeout: Duration

        public init(
            topics: PipelineTopics = PipelineTopics(),
            maxInFlight: Int = 2_048,
            shutdownDeadline: Duration = .seconds(30),
            lagInterval: Duration = .seconds(10),
            pauseWhenFullFor: Duration = .seconds(1),
            atLeastOnce: AtLeastOnce = AtLeastOnce(),
            exactlyOnce: ExactlyOnce = ExactlyOnce(),
            consumerCloseTimeout: Duration = .seconds(15),
            brokerUnreachableGrace: Duration = .seconds(30)
        ) {
            self.topics = topics
            self.maxInFlight = max(1, maxInFlight)
            self.shutdownDeadline = shutdownDeadline
            self.lagInterval = lagInterval
            self.pauseWhenFullFor = pauseWhenFullFor
            self.atLeastOnce = atLeastOnce
            self.exactlyOnce = exactlyOnce
            self.consumerCloseTimeout = consumerCloseTimeout
            self.brokerUnreachableGrace = brokerUnreachableGrace
        }
    }

    /// The delivery mode, with the producer it publishes through.
    public enum Delivery: Sendable {
        /// At-least-once through an (idempotent) producer; the consumer commits the done
        /// prefix itself (``Kafka/KafkaConsumerConfiguration/OffsetCommits/automatic``).
        /// `replacement` makes a new producer when this one hits a fatal error (a broker
        /// that lost the idempotent producer's state answers every send with a sequence
        /// error); without it, publishing keeps failing and retrying.
        case atLeastOnce(KafkaProducer, replacement: (@Sendable () throws -> KafkaProducer)? = nil)
        /// Exactly-once through a transactional producer whose `transactional.id` is
        /// stable for this worker across restarts; the consumer must use
        /// ``Kafka/KafkaConsumerConfiguration/OffsetCommits/manual`` commits (and
        /// `read_committed` isolation).
        case exactlyOnce(KafkaTransactionalProducer)
    }

    /// Counts of finished transactions (exactly-once; all zero at-least-once).
    public struct TransactionStatistics: Sendable, Hashable {
        /// Transactions committed (with their offsets).
        public var committed = 0
        /// Transactions aborted (their records were or will be processed again).
        public var aborted = 0
        /// Input records whose outputs were committed.
        public var committedRecords = 0

        public init(committed: Int = 0, aborted: Int = 0, committedRecords: Int = 0) {
            self.committed = committed
            self.aborted = aborted
            self.committedRecords = committedRecords
        }
    }

    private let configuration: Configuration
    private let context: WorkerContext
    private let delivery: any DeliveryMode
    private let transactional: TransactionalDelivery?
    private let processor: any RecordProcessor
    private let onStateChange: @Sendable (PipelineWorkerState) -> Void
    fileprivate let restoreTopics: (@Sendable () async throws -> Void)?

    private var consumer: KafkaConsumer { context.consumer }
    private var scheduler: KeyedTaskScheduler<RecordKey> { context.scheduler }
    private var logger: Logger { context.logger }

    /// Creates a worker over a consumer already subscribed to the input topic
    /// (``PipelineTopics/alerts``), running every record through `processor`. The worker
    /// owns the consumer and the delivery's producer from now on and closes them.
    /// - Parameters:
    ///   - clock: times the publish backoff, the commit interval, the deadlines, the lag
    ///     period and the processing-duration metric.
    ///   - metricsFactory: where the worker's own metrics go (the healer's worker drops
    ///     them, so they do not add to the live worker's).
    ///   - restoreTopics: creates the pipeline's topics when the input topic has gone
    ///     missing (checked every ``Configuration/lagInterval``); `nil`: only log it.
    ///   - onStateChange: hears when the worker joined the group, drains and stops.
    ///   - onEvent: the test hook (see the type's documentation).
    public init<C: Clock>(
        configuration: Configuration,
        consumer: KafkaConsumer,
        delivery: Delivery,
        processor: some RecordProcessor,
        logger: Logger,
        clock: C = ContinuousClock(),
        metricsFactory: any MetricsFactory = MetricsSystem.factory,
        restoreTopics: (@Sendable () async throws -> Void)? = nil,
        onStateChange: @escaping @Sendable (PipelineWorkerState) -> Void = { _ in },
        onEvent: @escaping @Sendable (PipelineWorkerEvent) async throws -> Void = { _ in }
    ) where C.Duration == Duration {
        self.configuration = configuration
        self.processor = processor
        self.restoreTopics = restoreTopics
        self.onStateChange = onStateChange
        let context = WorkerContext(
            topics: configuration.topics, shutdownDeadline: configuration.shutdownDeadline, consumer: consumer,
            scheduler: KeyedTaskScheduler(maxInFlight: configuration.maxInFlight, startWindow: configuration.startWindow),
            logger: logger,
            clock: ResilienceClock(clock), metricsFactory: metricsFactory, hook: onEvent
        )
        self.context = context
        switch delivery {
        case .atLeastOnce(let producer, let replacement):
            self.delivery = AtLeastOnceDelivery(
                settings: configuration.atLeastOnce, producer: producer, replacement: replacement, context: context,
                workerID: processor.workerID
            )
            transactional = nil
        case .exactlyOnce(let producer):
            let transactional = TransactionalDelivery(settings: configuration.exactlyOnce, producer: producer, context: context)
            self.delivery = transactional
            self.transactional = transactional
        }
    }

    /// Records admitted and not yet finished (at most ``Configuration/maxInFlight``).
    public var inFlight: Int { scheduler.inFlight }

    /// Records finished (published, or dropped with a revoked partition) since the worker
    /// was made; never decreases.
    public var recordsFinished: Int { scheduler.completedTotal }

    /// Records of the input topic the worker's group has not committed yet, on every
    /// partition, in flight included (see ``Kafka/KafkaConsumer/uncommittedRecords(timeout:)``).
    /// - Throws: ``Kafka/KafkaError`` while the broker cannot tell (no answer in time, or
    ///   the consumer is closed).
    public func uncommittedRecords() async throws(KafkaError) -> Int64 {
        try await consumer.uncommittedRecords()
    }

    /// Counts of committed and aborted transactions so far (exactly-once).
    public var transactionStatistics: TransactionStatistics { transactional?.statistics ?? TransactionStatistics() }

    /// Runs until graceful shutdown, cancellation or a fatal error (see the type's
    /// documentation).
    /// - Throws: the consumer's fatal ``Kafka/KafkaError``; exactly-once, also a fenced
    ///   producer's error or the error of `initTransactions` — after closing the consumer
    ///   and the producer.
    public func run() async throws {
        do {
            try await delivery.start()
        } catch {
            await close()
            throw error
        }
        var failure: (any Error)?
        await withDiscardingTaskGroup { group in
            group.addTask { await self.scheduler.run() }
            group.addTask { await self.watchConsumer() }
            do {
                try await cancelWhenGracefulShutdown {
                    // The consume loop ends the run (graceful shutdown, or the events
                    // ended); the delivery's loop only ends it by throwing.
                    try await withThrowingTaskGroup(of: Bool.self) { loops in
                        loops.addTask {
                            try await self.consume()
                            return true
                        }
                        loops.addTask {
                            try await self.delivery.runBeside()
                            return false
                        }
                        while let consumeEnded = try await loops.next() {
                            if consumeEnded { loops.cancelAll() }
                        }
                    }
                }
            } catch {
                failure = error
                logger.error("worker failed; shutting down", metadata: ["error": "\(error)"])
            }
            if !Task.isCancelled {
                onStateChange(.draining)
                logger.info("draining in-flight work", metadata: ["in_flight": "\(scheduler.inFlight)"])
                if let error = await delivery.drain(afterFailure: failure != nil), failure == nil { failure = error }
                scheduler.finish()
            }
            group.cancelAll()
        }
        await close()
        if let failure { throw failure }
    }

    /// Takes the consumer's events a poll at a time. A record whose key is free and whose
    /// steps all answer without waiting (``AlertProcessor/prepare(_:key:origin:receivedAt:)``)
    /// is processed right here and joins the poll's publish batch: one task, one producer
    /// batch and one wake-up for all of them. Any other record gets a task of its own,
    /// queued behind earlier work of its key.
    private func consume() async throws {
        var joined = false
        var ready = ReadyBatch()
        defer { startPublishing(&ready) }
        for try await events in consumer.eventBatches {
            context.metrics.consumed(events)
            for event in events {
                switch event {
                case .partitionsAssigned(let partitions):
                    logger.info("partitions assigned", metadata: ["partitions": "\(partitions)"])
                    if !joined {
                        joined = true
                        onStateChange(.joinedGroup)
                    }
                case .partitionsRevoked(let partitions, let lost):
                    startPublishing(&ready)
                    delivery.revoked(partitions)
                    logger.info("partitions revoked", metadata: ["partitions": "\(partitions)", "lost": "\(lost)"])
                case .message(let message):
                    if scheduler.isSaturated {
                        startPublishing(&ready)
                        await waitForRoom()
                    }
                    if processor.waitsBeforeStarting, !processor.isStartable(InputRecord(message)) {
                        startPublishing(&ready)
                        await waitUntilStartable(message)
                    }
                    // Graceful shutdown: take nothing more. This message is not marked done,
                    // so the commit stops before it and the next owner gets it.
                    guard !Task.isCancelled else { return }
                    let key = RecordKey(message)
                    var refused: KeyedTaskScheduler<RecordKey>.Admission?
                    let admitted = delivery.admitWithoutWaiting(message) {
                        let admission = scheduler.admitNow(key: key)
                        if admission != .admitted { refused = admission }
                        return admission == .admitted
                    }
                    if let batch = admitted {
                        processNow(message, key: key, batch: batch, into: &ready)
                    } else if refused == .stopped {
                        return
                    } else {
                        // The key is busy, or admission may wait for in-flight work (a
                        // transaction finishing): what is ready must be on its way first.
                        startPublishing(&ready)
                        try await delivery.admit(message) { batch in
                            await scheduler.submit(key: key) {
                                await self.handle(message, input: InputRecord(message), batch: batch, started: self.context.clock.now()) { input in
                                    await self.processor.process(input, key: message.key, origin: RecordOrigin(message), receivedAt: Date())
                                }
                            }
                        }
                    }
                }
            }
            startPublishing(&ready)
        }
    }

    /// Records processed in the consume loop, waiting to be published together.
    private struct ReadyBatch {
        var items: [PublishItem] = []
        var keys: [RecordKey] = []
    }

    /// Processes a message admitted to its delivery batch and to the scheduler: into
    /// `ready` when no step must wait, else in a task of its own that finishes it.
    private func processNow(_ message: KafkaMessage, key: RecordKey, batch: UInt64, into ready: inout ReadyBatch) {
        processNow(with: processor, message, key: key, batch: batch, into: &ready)
    }

    private func processNow<P: RecordProcessor>(
        with processor: P, _ message: KafkaMessage, key: RecordKey, batch: UInt64, into ready: inout ReadyBatch
    ) {
        let started = context.clock.now()
        let input = InputRecord(message)
        switch processor.prepare(input, key: message.key, origin: RecordOrigin(message), receivedAt: Date()) {
        case .done(let outcome):
            ready.items.append(PublishItem(outcome: outcome, input: input, message: message, batch: batch, started: started))
            ready.keys.append(key)
        case .waiting(let pending):
            scheduler.start(admitted: [key]) {
                await self.handle(message, input: input, batch: batch, started: started) { _ in await processor.finish(pending) }
            }
        }
    }

    /// Starts one task publishing everything in `ready`, and empties it.
    private func startPublishing(_ ready: inout ReadyBatch) {
        guard !ready.items.isEmpty else { return }
        let batch = ready
        ready = ReadyBatch()
        scheduler.start(admitted: batch.keys) {
            // Processed already; in flight (the gauge) until published, as a task's record is.
            self.context.metrics.inFlight(Double(batch.items.count))
            defer { self.context.metrics.inFlight(-Double(batch.items.count)) }
            await self.publish(batch.items)
        }
    }

    /// The in-flight bound is hit: waits, without polling, for one record to finish. When
    /// none does within ``Configuration/pauseWhenFullFor`` (work is stuck: a slow
    /// dependency, a publish retrying), pauses every assigned partition, waits until half
    /// the bound is free and resumes them.
    ///
    /// Waiting here rather than inside `submit` matters: the loop must resume the
    /// partitions when work drains even if no further record ever arrives, or a worker
    /// that happened to fill the bound with its last buffered record stays paused forever.
    /// No poll happens while waiting, so the assignment cannot change meanwhile.
    private func waitForRoom() async {
        let window = scheduler.window
        if await context.waitForRoom(atMost: window - 1, within: configuration.pauseWhenFullFor) { return }
        guard !Task.isCancelled else { return }
        await withPartitionsPaused(because: "in-flight bound reached", ["in_flight": "\(scheduler.inFlight)"]) {
            await scheduler.waitUntilInFlight(atMost: window / 2)
        }
    }

    /// Pauses every assigned partition while `wait` runs, then resumes them.
    private func withPartitionsPaused(because reason: String, _ metadata: Logger.Metadata, _ wait: () async -> Void) async {
        let partitions = (try? consumer.assignment()) ?? []
        do { try consumer.pause(partitions) } catch {
            logger.warning("pausing partitions failed", metadata: ["error": "\(error)"])
        }
        logger.debug("\(reason); partitions paused", metadata: metadata)
        await context.report(.partitionsPaused(partitions))
        await wait()
        do { try consumer.resume(partitions) } catch {
            logger.warning("resuming partitions failed", metadata: ["error": "\(error)"])
        }
        await context.report(.partitionsResumed(partitions))
    }

    /// The processor cannot start `message` now (a dependency it needs is down): pauses
    /// every assigned partition and waits, before admitting it, until it can. Nothing is
    /// admitted meanwhile, so no in-flight place and no transaction is held through an
    /// outage, and a graceful shutdown (cancellation) ends the wait at once. As in
    /// ``waitForRoom()``, no poll happens while waiting.
    private func waitUntilStartable(_ message: KafkaMessage) async {
        await withPartitionsPaused(because: "the record cannot start yet", ["message": "\(message.reference)"]) {
            await processor.waitUntilStartable(InputRecord(message))
        }
    }

    /// Processes one message with `process` and publishes its outputs. Abandons it when
    /// its partition was revoked or rewound, or its batch ended, in the meantime. An
    /// outcome of ``ProcessingOutcome/redo`` is done again from the start: by the delivery
    /// (exactly-once: its transaction aborts and the record is read again), else here once
    /// the processor can start it.
    private func handle(
        _ message: KafkaMessage, input: InputRecord, batch: UInt64, started: Duration,
        process: (InputRecord) async -> ProcessingOutcome
    ) async {
        guard consumer.isCurrent(message), delivery.isLive(batch) else {
            logger.debug("abandoning work of a revoked partition or an ended batch", metadata: ["message": "\(message.reference)"])
            return
        }
        context.metrics.inFlight(+1)
        defer { context.metrics.inFlight(-1) }
        var outcome = await process(input)
        while outcome.isRedo, !Task.isCancelled, !delivery.redo(message, batch: batch) {
            await processor.waitUntilStartable(input)
            outcome = await processor.process(input, key: message.key, origin: RecordOrigin(message), receivedAt: Date())
        }
        // Cancelled (the shutdown deadline passed, or a hard stop): the steps may have cut
        // corners on cancellation, and the record is redone anyway.
        guard !Task.isCancelled, !outcome.isRedo else {
            delivery.stoppedBeforePublishing(message, batch: batch)
            return
        }
        await publish([PublishItem(outcome: outcome, input: input, message: message, batch: batch, started: started)])
    }

    /// Has the delivery publish processed inputs, then marks each done once its outputs
    /// are delivered. Inputs whose partition was revoked or rewound, or whose batch ended,
    /// since they were processed are abandoned (redone by whoever owns them next).
    private func publish(_ items: [PublishItem]) async {
        let live = items.filter { consumer.isCurrent($0.message) && delivery.isLive($0.batch) }
        if live.count < items.count {
            logger.debug("abandoning work revoked while processing", metadata: ["records": "\(items.count - live.count)"])
        }
        guard !live.isEmpty else { return }
        // The counters are incremented once the batch is through (retried inputs included).
        var tally = ProcessedTally()
        await delivery.publish(live) { item, publication in
            switch publication {
            case .published:
                consumer.markDone(item.message)
                context.metrics.processingTook(context.clock.now() - item.started)
                tally.add(item.labels)
                context.logDeadLetter(item.deadLetter, source: item.message.reference)
            case .deadLettered:
                consumer.markDone(item.message)
                tally.addDeadLetter(reason: DeadLetter.publishFailedReason)
            case .abandoned:
                break
            }
        }
        context.metrics.processed(tally)
    }

    /// Ends the delivery (aborting what is open, closing the producer), then leaves the
    /// group: the consumer's close commits what is done.
    private func close() async {
        await delivery.close()
        if let error = await consumer.close(timeout: configuration.consumerCloseTimeout) {
            logger.error("consumer close reported an error", metadata: ["error": "\(error)"])
        }
        onStateChange(.stopped)
        logger.info("worker stopped")
    }

    /// Every ``Configuration/lagInterval``: reads the consumer lag into its metric, counts
    /// the consumer's errors, and reports ``PipelineWorkerState/consumerFailing(error:)``
    /// when it keeps failing without progress, ``PipelineWorkerState/consumerRecovered``
    /// once it stopped.
    private func watchConsumer() async {
        var health = ConsumerHealth(unreachableGrace: configuration.brokerUnreachableGrace)
        var lagReport = LagReport()
        while !Task.isCancelled {
            if let lags = try? consumer.lag() {
                for (partition, value) in lagReport.values(for: lags) { context.metrics.lag(partition, value) }
            }
            let probe: ConsumerHealth.Probe
            do {
                let missing = try await consumer.probeBroker(timeout: min(configuration.lagInterval, .seconds(5)))
                probe = .answered
                if !missing.isEmpty { await restore(missing) }
            } catch {
                probe = .unanswered("\(error)")
            }
            let (newErrors, change) = health.check(consumer.errors, probe: probe, at: context.clock.now())
            if newErrors > 0 { context.metrics.consumerErrors(newErrors) }
            switch change {
            case .failing(let error):
                logger.error("the consumer keeps failing and makes no progress", metadata: ["error": "\(error)"])
                onStateChange(.consumerFailing(error: error))
            case .recovered:
                logger.notice("the consumer makes progress again")
                onStateChange(.consumerRecovered)
            case nil:
                break
            }
            try? await context.clock.sleep(for: configuration.lagInterval)
        }
    }
}

extension PipelineWorker {
    /// The broker does not know the input topic (deleted, or a broker that came back
    /// empty): nothing can be assigned until it exists again. Recreates the topics when
    /// the owner allows it (``init(configuration:consumer:delivery:processor:logger:clock:restoreTopics:onStateChange:onEvent:)``);
    /// the consumer picks the topic up at its next metadata refresh.
    func restore(_ missing: [String]) async {
        guard let restoreTopics else {
            logger.error("the input topic is missing and topic creation is off; waiting for it to be created", metadata: ["topics": "\(missing)"])
            return
        }
        logger.warning("the input topic is missing; creating the topics again", metadata: ["topics": "\(missing)"])
        do {
            try await restoreTopics()
            await context.report(.topicsRestored(missing))
        } catch {
            logger.error("creating the missing topics failed; will retry", metadata: ["error": "\(error)"])
        }
    }
}

/// What to record into `breakwater_consumer_lag` at each check: the lag of every assigned
/// partition whose lag is known, and 0 for a partition reported before and no longer
/// assigned (given up in a rebalance), so its series does not keep the last lag this
/// worker saw as if it still owned it.
struct LagReport: Sendable {
    private var reported: Set<KafkaTopicPartition> = []

    /// The values to record for this check's `lags`.
    mutating func values(for lags: [KafkaPartitionLag]) -> [(KafkaTopicPartition, Int64)] {
        var values: [(KafkaTopicPartition, Int64)] = []
        var known: Set<KafkaTopicPartition> = []
        for lag in lags {
            guard let value = lag.lag else { continue }
            values.append((lag.topicPartition, value))
            known.insert(lag.topicPartition)
        }
        let assigned = Set(lags.map(\.topicPartition))
        for partition in reported.subtracting(assigned).sorted() { values.append((partition, 0)) }
        reported = known.union(reported.intersection(assigned))
        return values
    }
}

/// Decides, from the consumer's error counts read at each check, whether the consumer is
/// failing: at least ``failingAfter`` errors within the last ``window`` and no record (or
/// end of partition) polled since the last ``failingAfter`` of them. A record arriving, or
/// the errors thinning out below that rate, ends it. Sporadic errors (an idle connection
/// the broker closed, a broker restarting) stay below it. No I/O: the worker feeds it
/// ``Kafka/KafkaConsumer/errors`` and the time on its clock.
struct ConsumerHealth: Sendable {
    enum Change: Sendable, Hashable {
        case failing(error: String)
        case recovered
    }

    /// What the broker probe found.
    enum Probe: Sendable, Hashable {
        /// A broker answered.
        case answered
        /// None did; the error, for the failing reason.
        case unanswered(String)
    }

    /// Errors within ``window`` that count as failing.
    static let failingAfter = 3
    /// How far back errors count.
    static let window: Duration = .seconds(60)

    /// How long no broker may answer the probe before the consumer counts as failing.
    let unreachableGrace: Duration
    private var seenTotal = 0
    /// New errors per check, oldest first: (time of the check, count).
    private var recent: [(at: Duration, count: Int)] = []
    /// Since when the broker probe has failed without a success in between, and its last error.
    private var unreachable: (since: Duration, error: String)?
    private(set) var isFailing = false

    init(unreachableGrace: Duration = .seconds(30)) {
        self.unreachableGrace = unreachableGrace
    }

    /// Takes the consumer's error counts and, when one was made, the broker probe's result
    /// (`nil` error: a broker answered) at `now`; returns how many errors are new and the
    /// change of verdict, if any. Failing: errors keep coming without progress, or no
    /// broker has answered the probe for ``unreachableGrace`` (librdkafka reports a broker
    /// that stays down only now and then, too rarely for the first rule).
    mutating func check(
        _ errors: KafkaConsumerErrors, probe: Probe? = nil, at now: Duration
    ) -> (newErrors: Int, change: Change?) {
        let new = errors.total - seenTotal
        seenTotal = errors.total
        if new > 0 { recent.append((now, new)) }
        recent.removeAll { now - $0.at > Self.window }
        switch probe {
        case .answered: unreachable = nil
        case .unanswered(let error): unreachable = (unreachable?.since ?? now, error)
        case nil: break
        }
        let inWindow = recent.reduce(0) { $0 + $1.count }
        let erring = inWindow >= Self.failingAfter && errors.consecutive >= Self.failingAfter
        let cutOff = unreachable.map { now - $0.since >= unreachableGrace } ?? false
        let failing = erring || cutOff
        defer { isFailing = failing }
        if failing, !isFailing {
            let reason = cutOff ? unreachable.map { "no broker reachable: \($0.error)" } : errors.last.map { "\($0)" }
            return (new, .failing(error: reason ?? "unknown"))
        }
        if !failing, isFailing { return (new, .recovered) }
        return (new, nil)
    }
}

extension InputRecord {
    /// The value and headers of a consumed message.
    init(_ message: KafkaMessage) {
        self.init(value: message.value ?? [], headers: message.headers.map { RecordHeader(key: $0.name, value: $0.value) })
    }
}

extension RecordOrigin {
    /// Where a consumed message came from.
    init(_ message: KafkaMessage) {
        self.init(topic: message.topic, partition: message.partition, offset: message.offset)
    }
}

/// What the worker's scheduler keeps records in order by: the record key's 64-bit FNV-1a
/// digest, or for a record without a key (nothing to keep it in order with) its partition
/// and offset. Two keys with one digest are kept in one order between them, which costs
/// a little parallelism and never reorders a key; the digest spares the consume loop a
/// `String` per record (an allocation for keys over 15 bytes, such as fingerprints) and
/// hashing it three times.
struct RecordKey: Hashable, Sendable {
    private let digest: UInt64
    /// The partition of a record without a key; -1 for a keyed record.
    private let partition: Int32

    init(_ message: KafkaMessage) {
        self.init(key: message.key, partition: message.partition, offset: message.offset)
    }

    init(key: [UInt8]?, partition: Int32, offset: Int64) {
        if let key {
            var hash = FNV1a64()
            hash.add(key)
            digest = hash.value
            self.partition = -1
        } else {
            digest = UInt64(bitPattern: offset)
            self.partition = partition
        }
    }
}
