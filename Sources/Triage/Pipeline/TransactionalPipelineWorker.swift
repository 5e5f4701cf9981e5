import DequeModule
import Dispatch
import Foundation
import Kafka
import Logging
import ServiceLifecycle
import Synchronization

/// Consumes alert records and publishes their outputs with exactly-once
/// read-process-write: the outputs of a batch of input records and the batch's consumed
/// offsets are committed in one Kafka transaction, so `read_committed` readers see every
/// output exactly once, or not at all, and the group's offsets move with them.
///
/// A transaction is opened for the first record admitted after the previous one ended.
/// Records are processed as in ``PipelineWorker``: concurrently across keys, in order
/// within a key, at most ``Configuration/maxInFlight`` at once (partitions are paused
/// while the bound is hit). The transaction is finished every
/// ``Configuration/commitInterval`` or after ``Configuration/maxRecordsPerTransaction``
/// records, whichever comes first: admission stops, in-flight work finishes, the
/// consumed offsets are sent to the transaction and it is committed.
///
/// Failures never lose or duplicate records:
/// - A failed publish, a failed offset send or an abortable commit error aborts the
///   transaction (none of its outputs become visible, its offsets are not committed)
///   and rewinds the consumer to the first offset of each partition the transaction
///   consumed, so those records are processed again in a later transaction.
/// - A fatal error (the producer was fenced by another instance with the same
///   `transactional.id`, a fatal consumer error, a rewind that failed) stops the worker
///   and ``run()`` throws it; a restart resumes from the committed offsets.
/// - Rebalance: the consumer calls the worker before revoked partitions are given up;
///   the open transaction (with the revoked partitions' offsets) is committed then, so
///   the new owner starts after it. When the assignment was lost (the member was
///   evicted) the transaction is aborted instead and the new owner redoes it.
///
/// Graceful shutdown stops fetching, lets in-flight work finish within
/// ``Configuration/shutdownDeadline`` and commits the open transaction (or aborts it
/// when work is still unfinished at the deadline). Cancellation (a second signal) aborts
/// the open transaction without waiting.
public final class TransactionalPipelineWorker<C: Clock>: Service, Sendable where C.Duration == Duration {
    /// How a transactional worker runs.
    public struct Configuration: Sendable {
        /// The input and output topics.
        public var topics: PipelineTopics
        /// The most records in flight at once. Default 256.
        public var maxInFlight: Int
        /// How long a transaction stays open at most before it is committed. Default 1 s.
        public var commitInterval: Duration
        /// A transaction is committed once it holds this many input records. Default 1000.
        public var maxRecordsPerTransaction: Int
        /// How long a graceful shutdown (and the commit on revoke) waits for in-flight
        /// work before aborting the transaction. Default 30 s.
        public var shutdownDeadline: Duration
        /// Timeout of each transaction call (send offsets, commit, abort). Default 30 s.
        public var transactionOperationTimeout: Duration
        /// How often consumer lag is read into `breakwater_consumer_lag`. Default 10 s.
        public var lagInterval: Duration

        public init(
            topics: PipelineTopics = PipelineTopics(),
            maxInFlight: Int = 256,
            commitInterval: Duration = .seconds(1),
            maxRecordsPerTransaction: Int = 1_000,
            shutdownDeadline: Duration = .seconds(30),
            transactionOperationTimeout: Duration = .seconds(30),
            lagInterval: Duration = .seconds(10)
        ) {
            // Each parameter is the property of the same name (documented above).
            self.topics = topics
            self.maxInFlight = maxInFlight
            self.commitInterval = commitInterval
            self.maxRecordsPerTransaction = max(1, maxRecordsPerTransaction)
            self.shutdownDeadline = shutdownDeadline
            self.transactionOperationTimeout = transactionOperationTimeout
            self.lagInterval = lagInterval
        }
    }

    /// Counts of finished transactions, for logs and tests.
    public struct Statistics: Sendable, Hashable {
        /// Transactions committed (with their offsets).
        public var committed = 0
        /// Transactions aborted (their records were or will be processed again).
        public var aborted = 0
        /// Input records whose outputs were committed.
        public var committedRecords = 0
    }

    /// Why an open transaction is being finished.
    private enum Trigger: String {
        case interval, recordCount = "record_count", rebalance, shutdown, failure
    }

    private struct State {
        var isOpen = false
        /// Incremented per transaction begun: work admitted into one never publishes
        /// into a later one.
        var transaction: UInt64 = 0
        var records = 0
        /// Per partition, the first offset consumed in the open transaction.
        var firstOffsets: [KafkaTopicPartition: Int64] = [:]
        /// Set when the open transaction can no longer commit.
        var doomed: String?
        /// Positions to rewind to after aborts, not yet applied.
        var pendingRewind: [KafkaTopicPartition: Int64] = [:]
        var fatal: (any Error)?
        var statistics = Statistics()
    }

    private let configuration: Configuration
    private let consumer: KafkaConsumer
    private let producer: KafkaTransactionalProducer
    private let processor: AlertProcessor
    private let scheduler: KeyedTaskScheduler
    private let logger: Logger
    private let clock: C
    private let onStateChange: @Sendable (PipelineWorkerState) -> Void
    /// Test seam: runs right before the offsets are sent; throwing aborts the transaction.
    private let beforeCommit: @Sendable (_ records: Int) async throws -> Void
    private let metrics = PipelineMetrics()
    private let state = Mutex(State())
    /// Serializes everything that opens, fills or finishes a transaction. Holders never
    /// call the consumer's queue-bound methods (the revoke hook waits for this lock on
    /// that queue).
    private let transactionLock = AsyncSerialLock()
    /// Serializes rewinds, so one position is never rewound twice.
    private let rewindLock = AsyncSerialLock()

    /// Creates a worker over a consumer subscribed to the alerts topic with
    /// ``KafkaConsumerConfiguration/OffsetCommits/manual`` commits (and `read_committed`
    /// isolation) and a transactional producer whose `transactional.id` is stable for
    /// this worker across restarts. The worker owns both from now on and closes them.
    /// - Parameter clock: drives the commit interval and the drain deadlines.
    public convenience init(
        configuration: Configuration,
        consumer: KafkaConsumer,
        producer: KafkaTransactionalProducer,
        processor: AlertProcessor,
        logger: Logger,
        clock: C,
        onStateChange: @escaping @Sendable (PipelineWorkerState) -> Void = { _ in }
    ) {
        self.init(
            configuration: configuration, consumer: consumer, producer: producer, processor: processor,
            logger: logger, clock: clock, onStateChange: onStateChange, beforeCommit: { _ in }
        )
    }

    init(
        configuration: Configuration,
        consumer: KafkaConsumer,
        producer: KafkaTransactionalProducer,
        processor: AlertProcessor,
        logger: Logger,
        clock: C,
        onStateChange: @escaping @Sendable (PipelineWorkerState) -> Void = { _ in },
        beforeCommit: @escaping @Sendable (_ records: Int) async throws -> Void
    ) {
        self.configuration = configuration
        self.consumer = consumer
        self.producer = producer
        self.processor = processor
        self.scheduler = KeyedTaskScheduler(maxInFlight: configuration.maxInFlight)
        self.logger = logger
        self.clock = clock
        self.onStateChange = onStateChange
        self.beforeCommit = beforeCommit
    }

    /// Counts of committed and aborted transactions so far.
    public var statistics: Statistics { state.withLock { $0.statistics } }

    /// Runs until graceful shutdown, cancellation or a fatal error (see the type's
    /// documentation).
    /// - Throws: the fatal error (e.g. a fenced producer's ``KafkaError``, or the error of
    ///   `initTransactions`), after closing the consumer and the producer.
    public func run() async throws {
        var failure: (any Error)?
        do {
            try await producer.initTransactions(timeout: configuration.transactionOperationTimeout)
        } catch {
            logger.error("initializing transactions failed", metadata: ["error": "\(error)"])
            await close()
            throw error
        }
        consumer.onPartitionsRevoking { [self] partitions, lost in revoking(partitions, lost: lost) }
        await withDiscardingTaskGroup { group in
            group.addTask { await self.scheduler.run() }
            group.addTask { await self.reportLag() }
            do {
                try await cancelWhenGracefulShutdown {
                    try await withThrowingTaskGroup(of: Void.self) { loops in
                        loops.addTask { try await self.consume() }
                        loops.addTask { try await self.commitPeriodically() }
                        _ = try await loops.next()
                        loops.cancelAll()
                    }
                }
            } catch {
                failure = error
                logger.error("transactional worker failed; shutting down", metadata: ["error": "\(error)"])
            }
            if failure == nil, !Task.isCancelled {
                failure = await drain()
            }
            group.cancelAll()
        }
        await close()
        if let failure { throw failure }
    }

    // MARK: Consuming

    private func consume() async throws {
        var joined = false
        for try await event in consumer.events {
            switch event {
            case .partitionsAssigned(let partitions):
                logger.info("partitions assigned", metadata: ["partitions": "\(partitions)"])
                if !joined {
                    joined = true
                    onStateChange(.joinedGroup)
                }
            case .partitionsRevoked(let partitions, let lost):
                // The new owner starts from the committed offsets; nothing to rewind.
                state.withLock { state in for partition in partitions { state.pendingRewind[partition] = nil } }
                logger.info("partitions revoked", metadata: ["partitions": "\(partitions)", "lost": "\(lost)"])
            case .message(let message):
                metrics.consumed(topic: message.topic)
                try await rewindIfNeeded()
                // Fetching pauses only while admission waits for room, and resumes right
                // after: partitions left paused while this loop sits in a poll would
                // never deliver the event that resumes them.
                let paused = scheduler.isSaturated ? (try? consumer.assignment()) ?? [] : []
                if !paused.isEmpty { try? consumer.pause(paused) }
                try await admit(message)
                if !paused.isEmpty { try? consumer.resume(paused) }
            }
        }
    }

    /// Adds a message to the open transaction (opening one if needed) and schedules its
    /// processing; finishes the transaction when it is full. Drops the message when its
    /// partition awaits a rewind or it is stale: it will be delivered again.
    private func admit(_ message: KafkaMessage) async throws {
        try await transactionLock.withLock {
            try throwIfFatal()
            if state.withLock({ $0.isOpen && $0.doomed != nil }) {
                try await finishTransaction(.failure)
            }
            let stale = state.withLock { $0.pendingRewind[message.topicPartition] != nil }
            guard !stale, consumer.isCurrent(message) else {
                logger.trace("dropping a record delivered before a rewind", metadata: ["message": "\(message.reference)"])
                return
            }
            try await beginIfNeeded()
            let (full, transaction) = state.withLock { state in
                state.records += 1
                state.firstOffsets[message.topicPartition] = min(state.firstOffsets[message.topicPartition] ?? message.offset, message.offset)
                return (state.records >= configuration.maxRecordsPerTransaction, state.transaction)
            }
            let key = message.key.map { String(decoding: $0, as: UTF8.self) } ?? "\(message.topicPartition)@\(message.offset)"
            await scheduler.submit(key: key) { await self.handle(message, in: transaction) }
            if full { try await finishTransaction(.recordCount) }
        }
    }

    private func beginIfNeeded() async throws {
        guard !state.withLock({ $0.isOpen }) else { return }
        do {
            try await producer.beginTransaction()
        } catch {
            // Only a broken producer refuses to begin; a restart is the way out.
            throw remember(fatal: error)
        }
        state.withLock { state in
            state.isOpen = true
            state.transaction += 1
            state.records = 0
            state.firstOffsets = [:]
            state.doomed = nil
        }
    }

    /// Processes one message and publishes its outputs into the open transaction; marks
    /// it done once all are acknowledged. Any failure dooms the transaction.
    private func handle(_ message: KafkaMessage, in transaction: UInt64) async {
        guard consumer.isCurrent(message), isLive(transaction) else { return }
        metrics.inFlight(+1)
        defer { metrics.inFlight(-1) }
        let started = ContinuousClock.now
        let record = InputRecord(
            value: message.value ?? [],
            headers: message.headers.map { RecordHeader(key: $0.name, value: $0.value) }
        )
        let origin = RecordOrigin(topic: message.topic, partition: message.partition, offset: message.offset)
        let outcome = await processor.process(record, key: message.key, origin: origin, receivedAt: Date())
        // A hard stop (cancellation) must not commit: the open transaction is aborted.
        guard !Task.isCancelled else {
            doom("the worker was stopped before \(message.reference) was published")
            return
        }
        // Its transaction ended meanwhile (aborted at a deadline): publish nothing.
        guard isLive(transaction) else { return }
        let failure: String? = await withTaskGroup(of: String?.self) { group in
            for output in outcome.outputs {
                group.addTask {
                    let record = KafkaProducerRecord(
                        topic: self.configuration.topics.topic(for: output.kind),
                        key: output.key,
                        value: output.value,
                        headers: output.headers.map { KafkaHeader(name: $0.key, value: $0.value) }
                    )
                    do {
                        _ = try await self.producer.producer.send(record)
                        return nil
                    } catch {
                        return "publishing to \(record.topic) for \(message.reference) failed: \(error)"
                    }
                }
            }
            var first: String?
            for await result in group where first == nil { first = result }
            return first
        }
        if let failure {
            doom(failure)
            return
        }
        consumer.markDone(message)
        metrics.processed(outcome, duration: ContinuousClock.now - started)
        if let letter = outcome.deadLetter {
            logger.warning("record dead-lettered", metadata: [
                "reason": "\(letter.reason)", "detail": "\(letter.detail)", "source": "\(message.reference)",
            ])
        }
    }

    private func isLive(_ transaction: UInt64) -> Bool {
        state.withLock { $0.isOpen && $0.transaction == transaction && $0.doomed == nil }
    }

    private func doom(_ reason: String) {
        let first = state.withLock { state -> Bool in
            guard state.doomed == nil else { return false }
            state.doomed = reason
            return true
        }
        if first { logger.error("transaction must abort", metadata: ["reason": "\(reason)"]) }
    }

    // MARK: Finishing transactions

    private func commitPeriodically() async throws {
        while true {
            do {
                try await clock.sleep(for: configuration.commitInterval)
            } catch {
                return
            }
            try await transactionLock.withLock {
                try throwIfFatal()
                try await finishTransaction(.interval)
            }
            try await rewindIfNeeded()
        }
    }

    /// Finishes the open transaction: waits for in-flight work (admission is stopped
    /// since the caller holds ``transactionLock``), then sends the consumed offsets and
    /// commits, or aborts when anything failed. Caller holds ``transactionLock``.
    /// - Throws: a fatal error (the worker must stop).
    private func finishTransaction(_ trigger: Trigger, idleDeadline: Duration? = nil) async throws {
        guard state.withLock({ $0.isOpen }) else { return }
        if !(await waitForIdle(within: idleDeadline)) {
            let reason = "in-flight work did not finish within \(idleDeadline ?? .zero)"
            try await abort(reason: reason)
            // Work still running could publish after this point; only when the worker is
            // stopping anyway is it safe to carry on (its outputs cannot join a later
            // transaction, see isLive, but a restart is the clean way out).
            if trigger != .shutdown { throw remember(fatal: StalledWork(description: reason)) }
            return
        }
        if let reason = state.withLock({ $0.doomed }) {
            try await abort(reason: reason)
            return
        }
        let records = state.withLock { $0.records }
        let offsets = consumer.committableOffsets()
        do {
            try await beforeCommit(records)
            if !offsets.isEmpty {
                try await producer.sendOffsetsToTransaction(
                    offsets, groupMetadata: try consumer.groupMetadata(), timeout: configuration.transactionOperationTimeout
                )
            }
            try await commit()
        } catch let error as KafkaError where error.isFatal {
            throw remember(fatal: error)
        } catch {
            try await abort(reason: "committing failed: \(error)")
            return
        }
        consumer.offsetsCommitted(offsets)
        state.withLock { state in
            state.isOpen = false
            state.firstOffsets = [:]
            state.statistics.committed += 1
            state.statistics.committedRecords += records
        }
        logger.debug("transaction committed", metadata: [
            "trigger": "\(trigger.rawValue)", "records": "\(records)", "offsets": "\(offsets.count)",
        ])
    }

    /// Commits, calling commit again while librdkafka says the error is retriable.
    private func commit() async throws(KafkaError) {
        var attempt = 1
        while true {
            do {
                try await producer.commitTransaction(timeout: configuration.transactionOperationTimeout)
                return
            } catch {
                guard error.isRetriable, !error.requiresTransactionAbort, attempt < 3 else { throw error }
                attempt += 1
                logger.warning("transaction commit failed; retrying", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Aborts the open transaction and schedules the rewind of every partition it
    /// consumed to that transaction's first offset. Caller holds ``transactionLock``.
    /// - Throws: a fatal error when the abort itself fails.
    private func abort(reason: String) async throws {
        logger.warning("aborting transaction", metadata: ["reason": "\(reason)"])
        var attempt = 1
        while true {
            do {
                try await producer.abortTransaction(timeout: configuration.transactionOperationTimeout)
                break
            } catch {
                // Past the retries the transaction's state is unknown: only a restart is safe.
                guard !error.isFatal, error.isRetriable, attempt < 3 else { throw remember(fatal: error) }
                attempt += 1
            }
        }
        state.withLock { state in
            state.pendingRewind.merge(state.firstOffsets) { min($0, $1) }
            state.isOpen = false
            state.firstOffsets = [:]
            state.doomed = nil
            state.statistics.aborted += 1
        }
    }

    /// Applies rewinds scheduled by aborts. Never called with ``transactionLock`` held.
    /// - Throws: the rewind's error as fatal (positions unknown: restart).
    private func rewindIfNeeded() async throws {
        try await rewindLock.withLock {
            let pending = state.withLock { $0.pendingRewind }
            guard !pending.isEmpty else { return }
            do {
                try await consumer.rewind(to: pending, timeout: configuration.transactionOperationTimeout)
            } catch {
                throw remember(fatal: error)
            }
            state.withLock { state in
                for (partition, offset) in pending where state.pendingRewind[partition] == offset {
                    state.pendingRewind[partition] = nil
                }
            }
        }
    }

    /// Waits until nothing is in flight, at most `limit` (by the worker's clock).
    /// `KeyedTaskScheduler.waitUntilIdle()` ignores cancellation, so it is raced in
    /// unstructured tasks: a structured group would wait for it past the deadline.
    private func waitForIdle(within limit: Duration?) async -> Bool {
        guard let limit else {
            await scheduler.waitUntilIdle()
            return true
        }
        let idle = FirstOffer<Bool>()
        Task {
            await scheduler.waitUntilIdle()
            idle.offer(true)
        }
        let deadline = Task {
            try? await clock.sleep(for: limit)
            idle.offer(false)
        }
        let result = await idle.value()
        deadline.cancel()
        return result
    }

    /// The consumer's revoke hook, on its polling queue: commits the open transaction
    /// (with the revoked partitions' offsets) before they are given up, or aborts it when
    /// the assignment was lost. Blocks polling until done.
    private func revoking(_ partitions: [KafkaTopicPartition], lost: Bool) {
        let finished = DispatchSemaphore(value: 0)
        Task {
            defer { finished.signal() }
            await transactionLock.withLock {
                guard state.withLock({ $0.isOpen }) else { return }
                // Lost: the group has moved on, offsets can no longer be committed; the
                // transaction is aborted once its in-flight work is done.
                if lost { doom("partitions \(partitions) were lost") }
                do {
                    try await finishTransaction(.rebalance, idleDeadline: configuration.shutdownDeadline)
                } catch {
                    logger.error("finishing the transaction on revoke failed", metadata: ["error": "\(error)"])
                }
            }
        }
        finished.wait()
    }

    /// Graceful part of shutdown: no more fetching; finish in-flight work and commit.
    private func drain() async -> (any Error)? {
        onStateChange(.draining)
        logger.info("draining in-flight work", metadata: ["in_flight": "\(scheduler.inFlight)"])
        defer { scheduler.finish() }
        do {
            try await transactionLock.withLock {
                try await finishTransaction(.shutdown, idleDeadline: configuration.shutdownDeadline)
            }
            return nil
        } catch {
            return error
        }
    }

    /// Aborts a transaction still open (cancellation or failure), closes the producer,
    /// then leaves the group. Nothing uncommitted becomes visible.
    private func close() async {
        consumer.onPartitionsRevoking(nil)
        if state.withLock({ $0.isOpen && $0.fatal == nil }) {
            do {
                try await producer.abortTransaction(timeout: configuration.transactionOperationTimeout)
                state.withLock { state in
                    state.isOpen = false
                    state.statistics.aborted += 1
                }
            } catch {
                logger.error("aborting the open transaction at close failed", metadata: ["error": "\(error)"])
            }
        }
        let unsent = await producer.close(flushTimeout: configuration.shutdownDeadline)
        if unsent > 0 {
            logger.error("producer closed with unacknowledged records", metadata: ["count": "\(unsent)"])
        }
        if let error = await consumer.close() {
            logger.error("consumer close reported an error", metadata: ["error": "\(error)"])
        }
        onStateChange(.stopped)
        logger.info("transactional worker stopped", metadata: ["statistics": "\(statistics)"])
    }

    private func remember(fatal error: any Error) -> any Error {
        state.withLock { state in
            if state.fatal == nil { state.fatal = error }
        }
        return error
    }

    private func throwIfFatal() throws {
        if let fatal = state.withLock({ $0.fatal }) { throw fatal }
    }

    private func reportLag() async {
        while !Task.isCancelled {
            for lag in (try? consumer.lag()) ?? [] {
                if let value = lag.lag { metrics.lag(lag.topicPartition, value) }
            }
            try? await clock.sleep(for: configuration.lagInterval)
        }
    }
}

extension TransactionalPipelineWorker where C == ContinuousClock {
    /// Creates a worker on the continuous clock; see
    /// ``init(configuration:consumer:producer:processor:logger:clock:onStateChange:)``.
    public convenience init(
        configuration: Configuration,
        consumer: KafkaConsumer,
        producer: KafkaTransactionalProducer,
        processor: AlertProcessor,
        logger: Logger,
        onStateChange: @escaping @Sendable (PipelineWorkerState) -> Void = { _ in }
    ) {
        self.init(
            configuration: configuration, consumer: consumer, producer: producer, processor: processor,
            logger: logger, clock: ContinuousClock(), onStateChange: onStateChange
        )
    }
}

/// In-flight work did not finish within the deadline while a transaction had to end.
struct StalledWork: Error, CustomStringConvertible {
    let description: String
}

/// A lock for async critical sections: ``withLock(_:)`` runs one body at a time, in
/// arrival order, across suspension points. Not reentrant; waiting is not cancellable.
final class AsyncSerialLock: Sendable {
    private struct State {
        var locked = false
        var waiters: Deque<CheckedContinuation<Void, Never>> = []
    }

    private let state = Mutex(State())

    /// Runs `body` once every earlier holder has finished; releases even when it throws.
    func withLock<T: Sendable>(_ body: () async throws -> T) async rethrows -> T {
        await acquire()
        defer { release() }
        return try await body()
    }

    private func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquired = state.withLock { state in
                if state.locked {
                    state.waiters.append(continuation)
                    return false
                }
                state.locked = true
                return true
            }
            if acquired { continuation.resume() }
        }
    }

    private func release() {
        let next = state.withLock { state in
            if let next = state.waiters.popFirst() { return Optional(next) }
            state.locked = false
            return nil
        }
        // Ownership passes straight to the next waiter.
        next?.resume()
    }
}
