import Dispatch
import Kafka
import Logging
import Locking

/// Exactly-once read-process-write: the outputs of a batch of input records and the
/// batch's consumed offsets are committed in one Kafka transaction, so `read_committed`
/// readers see every output exactly once, or not at all, and the group's offsets move
/// with them. What to do when is decided by a ``TransactionStateMachine``; this type
/// carries its actions out.
///
/// A transaction is opened for the first record admitted after the previous one ended,
/// and finished every ``PipelineWorker/Configuration/ExactlyOnce/commitInterval`` or after
/// ``PipelineWorker/Configuration/ExactlyOnce/maxRecordsPerTransaction`` records,
/// whichever comes first: admission stops, in-flight work finishes, the consumed offsets
/// are sent to the transaction and it is committed.
///
/// Failures never lose or duplicate records:
/// - A failed publish, a failed offset send or an abortable commit error aborts the
///   transaction (none of its outputs become visible, its offsets are not committed)
///   and rewinds the consumer to the first offset of each partition the transaction
///   consumed, so those records are processed again in a later transaction.
/// - A fatal error (the producer was fenced by another instance with the same
///   `transactional.id`, a fatal consumer error, a rewind that failed) stops the worker
///   and ``PipelineWorker/run()`` throws it; a restart resumes from the committed offsets.
/// - Rebalance: the consumer calls this before revoked partitions are given up; the open
///   transaction (with the revoked partitions' offsets) is committed then, so the new
///   owner starts after it. When the assignment was lost (the member was evicted) the
///   transaction is aborted instead and the new owner redoes it.
///
/// Graceful shutdown lets in-flight work finish within the shutdown deadline and commits
/// the open transaction (or aborts it when work is still unfinished at the deadline).
/// Cancellation (a second signal) aborts the open transaction without waiting.
final class TransactionalDelivery: DeliveryMode {
    private let settings: PipelineWorker.Configuration.ExactlyOnce
    private let producer: KafkaTransactionalProducer
    private let context: WorkerContext
    private let machine: LockedValue<TransactionStateMachine>
    /// Serializes everything that opens, fills or finishes a transaction (the machine
    /// answers one input at a time; this keeps admission stopped while a finish awaits
    /// I/O). Holders never call the consumer's queue-bound methods: the revoke hook waits
    /// for this lock on that queue.
    private let transactionLock = AsyncSerialLock()
    /// Serializes rewinds, so one position is never rewound twice.
    private let rewindLock = AsyncSerialLock()

    init(settings: PipelineWorker.Configuration.ExactlyOnce, producer: KafkaTransactionalProducer, context: WorkerContext) {
        self.settings = settings
        self.producer = producer
        self.context = context
        self.machine = LockedValue(TransactionStateMachine(maxRecordsPerTransaction: settings.maxRecordsPerTransaction))
    }

    var statistics: PipelineWorker.TransactionStatistics { machine.withLock { $0.statistics } }

    func start() async throws {
        do {
            try await producer.initTransactions(timeout: settings.operationTimeout)
        } catch {
            context.logger.error("initializing transactions failed", metadata: ["error": "\(error)"])
            throw error
        }
        context.consumer.onPartitionsRevoking { [self] partitions, lost in revoking(partitions, lost: lost) }
    }

    // MARK: Admission and publishing

    func admit(_ message: KafkaMessage, schedule: (UInt64) async -> Void) async throws {
        try await rewindIfNeeded()
        let isCurrent = context.consumer.isCurrent(message)
        try await transactionLock.withLock {
            while true {
                switch machine.withLock({ $0.admit(message.topicPartition, offset: message.offset, isCurrent: isCurrent) }) {
                case .fail(let error):
                    throw error
                case .finishFirst(let trigger):
                    try await finish(trigger)
                case .begin:
                    do {
                        try await producer.beginTransaction()
                        machine.withLock { $0.begun() }
                    } catch {
                        throw machine.withLock { $0.beginFailed(error) }
                    }
                case .drop:
                    context.logger.trace("dropping a record delivered before a rewind", metadata: ["message": "\(message.reference)"])
                    return
                case .submit(let transaction, let full):
                    await schedule(transaction)
                    if let full { try await finish(full) }
                    return
                }
            }
        }
    }

    /// Admits into the open transaction when nothing else holds it and the record neither
    /// begins, fills nor follows a rewind; those wait in ``admit(_:schedule:)``.
    func admitWithoutWaiting(_ message: KafkaMessage, reserve: () -> Bool) -> UInt64? {
        let isCurrent = context.consumer.isCurrent(message)
        // Under the transaction lock, so no finish can start between the machine counting
        // the record and the worker reserving its slot; and in one machine lock, so nothing
        // (a doom from a failed publish) can change the answer once the slot is reserved.
        return transactionLock.withLockIfAvailable { () -> UInt64? in
            machine.withLock { machine in
                let partition = message.topicPartition
                guard machine.admitsIntoOpen(partition, isCurrent: isCurrent), reserve() else { return nil }
                return machine.admitIntoOpen(partition, offset: message.offset, isCurrent: isCurrent)
            }
        } ?? nil
    }

    func isLive(_ batch: UInt64) -> Bool {
        machine.withLock { $0.isLive(batch) }
    }

    func stoppedBeforePublishing(_ message: KafkaMessage, batch: UInt64) {
        doom(batch, "the worker was stopped before \(message.reference) was published")
    }

    /// Aborts the record's transaction, so that it is not held open while the record
    /// waits: the abort rewinds the record, and the worker waits before admitting it again.
    func redo(_ message: KafkaMessage, batch: UInt64) -> Bool {
        let reason = "\(message.reference) must wait for a dependency; it is read again after the abort"
        if machine.withLock({ $0.doom(batch, reason: reason) }) {
            context.logger.warning("transaction must abort", metadata: ["reason": "\(reason)"])
        }
        return true
    }

    func publish(_ items: [PublishItem], finished: (PublishItem, Publication) -> Void) async {
        let failures = await context.send(groups: items.map(\.outputs), via: producer.producer)
        for (item, failed) in zip(items, failures) {
            guard let first = failed.first else {
                finished(item, .published)
                continue
            }
            doom(item.batch, "publishing to \(context.topics.topic(for: first.output.kind)) for \(item.message.reference) failed: \(first.error)")
            finished(item, .abandoned)
        }
    }

    private func doom(_ transaction: UInt64, _ reason: String) {
        if machine.withLock({ $0.doom(transaction, reason: reason) }) {
            context.logger.error("transaction must abort", metadata: ["reason": "\(reason)"])
        }
    }

    // MARK: Finishing transactions

    func runBeside() async throws {
        while true {
            do {
                try await context.clock.sleep(for: settings.commitInterval)
            } catch {
                return
            }
            try await transactionLock.withLock {
                if let fatal = machine.withLock({ $0.fatal }) { throw fatal }
                try await finish(.interval)
            }
            try await rewindIfNeeded()
        }
    }

    /// Finishes the open transaction for `trigger`; caller holds ``transactionLock``.
    /// - Parameter deadline: how long in-flight work may take (none: as long as it takes).
    /// - Throws: a fatal error (the worker must stop).
    private func finish(_ trigger: TransactionStateMachine.Trigger, deadline: Duration? = nil) async throws {
        try await carryOut(machine.withLock { $0.finish(trigger) }, trigger: trigger, deadline: deadline)
    }

    /// Carries out `first` and every action the machine answers after it, until done.
    private func carryOut(
        _ first: TransactionStateMachine.FinishAction, trigger: TransactionStateMachine.Trigger, deadline: Duration?
    ) async throws {
        var action = first
        var offsets: [KafkaTopicPartition: Int64] = [:]
        var records = 0
        while true {
            switch action {
            case .none:
                return
            case .waitForIdle:
                let idle = await context.waitForIdle(within: deadline)
                action = machine.withLock { idle ? $0.idleReached() : $0.deadlinePassed(deadline ?? .zero) }
            case .commit(let count):
                records = count
                offsets = context.consumer.committableOffsets()
                action = await commit(offsets, records: records, sendingOffsets: true)
            case .retryCommit:
                context.logger.warning("transaction commit failed; retrying")
                action = await commit(offsets, records: records, sendingOffsets: false)
            case .abort(let reason):
                context.logger.warning("aborting transaction", metadata: ["reason": "\(reason)"])
                do {
                    try await producer.abortTransaction(timeout: settings.operationTimeout)
                    action = machine.withLock { $0.aborted() }
                    await context.report(.transactionAborted(reason: reason))
                } catch {
                    action = machine.withLock { $0.abortFailed(.init(error)) }
                }
            case .done(let committed):
                if committed {
                    context.logger.debug("transaction committed", metadata: [
                        "trigger": "\(trigger.rawValue)", "records": "\(records)", "offsets": "\(offsets.count)",
                    ])
                    await context.report(.transactionCommitted(records: records))
                }
                return
            case .fail(let error):
                throw error
            }
        }
    }

    /// Announces the commit (the hook may fail it), sends the offsets (first attempt
    /// only) and commits; returns the machine's answer.
    private func commit(
        _ offsets: [KafkaTopicPartition: Int64], records: Int, sendingOffsets: Bool
    ) async -> TransactionStateMachine.FinishAction {
        do {
            if sendingOffsets {
                try await context.announce(.transactionCommitting(records: records))
                if !offsets.isEmpty {
                    try await producer.sendOffsetsToTransaction(
                        offsets, groupMetadata: try context.consumer.groupMetadata(), timeout: settings.operationTimeout
                    )
                }
            }
            try await producer.commitTransaction(timeout: settings.operationTimeout)
        } catch {
            return machine.withLock { $0.commitFailed(.init(error)) }
        }
        context.consumer.offsetsCommitted(offsets)
        return machine.withLock { $0.committed() }
    }

    /// Applies rewinds scheduled by aborts. Never called with ``transactionLock`` held.
    /// - Throws: the rewind's error as fatal (positions unknown: restart).
    private func rewindIfNeeded() async throws {
        try await rewindLock.withLock {
            let pending = machine.withLock { $0.pendingRewind }
            guard !pending.isEmpty else { return }
            do {
                try await context.consumer.rewind(to: pending, timeout: settings.operationTimeout)
            } catch {
                throw machine.withLock { $0.rewindFailed(error) }
            }
            machine.withLock { $0.rewound(pending) }
        }
    }

    // MARK: Rebalance and shutdown

    /// The consumer's revoke hook, on its polling queue: commits the open transaction
    /// (with the revoked partitions' offsets) before they are given up, or aborts it when
    /// the assignment was lost. Blocks polling until done.
    private func revoking(_ partitions: [KafkaTopicPartition], lost: Bool) {
        let finished = DispatchSemaphore(value: 0)
        Task {
            defer { finished.signal() }
            await transactionLock.withLock {
                let action = machine.withLock { $0.revoking(lost: lost, partitions: partitions) }
                if lost, case .waitForIdle = action {
                    context.logger.error("transaction must abort", metadata: ["reason": "partitions \(partitions) were lost"])
                }
                do {
                    try await carryOut(action, trigger: .rebalance, deadline: context.shutdownDeadline)
                } catch {
                    context.logger.error("finishing the transaction on revoke failed", metadata: ["error": "\(error)"])
                }
            }
        }
        finished.wait()
    }

    func revoked(_ partitions: [KafkaTopicPartition]) {
        machine.withLock { $0.revoked(partitions) }
    }

    /// Commits the open transaction once in-flight work is done (aborts it past the
    /// deadline). After a failure nothing is committed: ``close()`` aborts what is open.
    func drain(afterFailure: Bool) async -> (any Error)? {
        guard !afterFailure else { return nil }
        do {
            try await transactionLock.withLock {
                try await finish(.shutdown, deadline: context.shutdownDeadline)
            }
            return nil
        } catch {
            return error
        }
    }

    /// Aborts a transaction still open (cancellation or failure) and closes the producer:
    /// nothing uncommitted becomes visible.
    func close() async {
        context.consumer.onPartitionsRevoking(nil)
        if machine.withLock({ $0.closing() }) {
            do {
                try await producer.abortTransaction(timeout: settings.operationTimeout)
                machine.withLock { $0.abortedAtClose() }
            } catch {
                context.logger.error("aborting the open transaction at close failed", metadata: ["error": "\(error)"])
            }
        }
        let unsent = await producer.close(flushTimeout: context.shutdownDeadline)
        if unsent > 0 {
            context.logger.error("producer closed with unacknowledged records", metadata: ["count": "\(unsent)"])
        }
        context.logger.info("transactional delivery closed", metadata: ["statistics": "\(statistics)"])
    }
}
