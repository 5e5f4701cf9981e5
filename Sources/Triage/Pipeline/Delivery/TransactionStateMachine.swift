import Kafka

/// The exactly-once delivery's transaction bookkeeping, without I/O: every input
/// (a record admitted, a publish failed, a rebalance, the deadline, a commit's result…)
/// changes the state and returns the action the caller must carry out next, in the
/// style of postgres-nio's `PoolStateMachine`. ``TransactionalDelivery`` owns one behind
/// a lock and does the I/O; the unit tests drive it through every path without a broker.
///
/// Finishing a transaction goes idle-wait → commit (or abort), one step per input:
///
///     open ──finish──▶ awaitingIdle ──idleReached──▶ committing ──committed──▶ idle
///                          │  ╲deadlinePassed / doomed      │ commitFailed
///                          ▼                                ▼
///                       aborting ──aborted──▶ idle (records rewound) / failed (fatal)
///
/// A fatal error (the producer fenced, an abort that cannot be carried out, a begin
/// refused, in-flight work stalled past a rebalance's deadline) moves to `failed` for
/// good: from then on every admission answers `.fail` with that error.
struct TransactionStateMachine: Sendable {
    /// Why an open transaction is being finished.
    enum Trigger: String, Sendable, Hashable {
        case interval
        case recordCount = "record_count"
        case rebalance
        case shutdown
        /// An admission found the open transaction doomed: it is aborted first.
        case failure
    }

    /// Where the machine is.
    enum Phase: Sendable, Hashable {
        /// No transaction open; the next admission begins one.
        case idle
        /// `beginTransaction` was asked for and has not answered yet.
        case beginning
        /// Admitting records.
        case open
        /// Admission stopped; waiting for in-flight work, maybe against a deadline.
        case awaitingIdle(Trigger)
        /// Sending the offsets and committing (`attempt` counts commit calls).
        case committing(Trigger, attempt: Int)
        /// Aborting (`attempt` counts abort calls).
        case aborting(attempt: Int)
        /// A fatal error happened: the worker must stop.
        case failed
    }

    /// What an admission asks the caller to do.
    enum AdmitAction: Sendable {
        /// Stop: the worker hit a fatal error earlier.
        case fail(any Error)
        /// The open transaction can no longer commit: finish it (it aborts) and admit again.
        case finishFirst(Trigger)
        /// Call `beginTransaction`, report ``begun()`` or ``beginFailed(_:)``, admit again.
        case begin
        /// The record is stale (its partition awaits a rewind, or it was rewound or revoked
        /// since it was fetched): it will be delivered again, so drop it.
        case drop
        /// Schedule the record's processing as part of `transaction`; when `finish` is set
        /// the transaction is full and must be finished right after.
        case submit(transaction: UInt64, finish: Trigger?)
    }

    /// What finishing a transaction asks the caller to do next.
    enum FinishAction: Sendable {
        /// Nothing is open (or the worker failed): nothing to do.
        case none
        /// Wait until nothing is in flight, then report ``idleReached()``; with a deadline,
        /// report ``deadlinePassed()`` if it passes first.
        case waitForIdle
        /// Run the commit hook, send `records`' consumed offsets, commit; report
        /// ``committed()`` or ``commitFailed(_:)``.
        case commit(records: Int)
        /// Call `commitTransaction` once more (a retriable failure); report as above.
        case retryCommit
        /// Call `abortTransaction`; report ``aborted()`` or ``abortFailed(_:)``.
        case abort(reason: String)
        /// Done: the transaction committed (`committed` true) or aborted.
        case done(committed: Bool)
        /// Stop the worker with this error.
        case fail(any Error)
    }

    /// A failure reported by the producer, with the flags that decide what follows.
    struct Failure: Sendable {
        var error: any Error
        var isFatal: Bool
        var isRetriable: Bool
        var requiresAbort: Bool

        init(_ error: any Error, isFatal: Bool, isRetriable: Bool = false, requiresAbort: Bool = false) {
            self.error = error
            self.isFatal = isFatal
            self.isRetriable = isRetriable
            self.requiresAbort = requiresAbort
        }

        /// Reads the flags off a ``Kafka/KafkaError``; any other error is neither fatal
        /// nor retriable (it aborts the transaction).
        init(_ error: any Error) {
            if let kafka = error as? KafkaError {
                self.init(kafka, isFatal: kafka.isFatal, isRetriable: kafka.isRetriable, requiresAbort: kafka.requiresTransactionAbort)
            } else {
                self.init(error, isFatal: false)
            }
        }
    }

    /// Calls of `commitTransaction` (and of `abortTransaction`) made for one transaction
    /// before a retriable failure is given up on.
    static let maxAttempts = 3

    let maxRecordsPerTransaction: Int
    private(set) var phase: Phase = .idle
    /// Incremented per transaction begun: work admitted into one never publishes into a
    /// later one.
    private(set) var transaction: UInt64 = 0
    /// Input records admitted into the open transaction.
    private(set) var records = 0
    /// Per partition, the first offset consumed in the open transaction.
    private(set) var firstOffsets: [KafkaTopicPartition: Int64] = [:]
    /// Set when the open transaction can no longer commit.
    private(set) var doomed: String?
    /// Positions to rewind to after aborts, not yet applied.
    private(set) var pendingRewind: [KafkaTopicPartition: Int64] = [:]
    /// The error that stopped the worker.
    private(set) var fatal: (any Error)?
    private(set) var statistics = PipelineWorker.TransactionStatistics()
    /// Whether the transaction being finished must stop the worker once aborted.
    private var stallsWorker: String?

    init(maxRecordsPerTransaction: Int) {
        self.maxRecordsPerTransaction = max(1, maxRecordsPerTransaction)
    }

    /// Whether a transaction is open (begun and not yet committed or aborted).
    var isOpen: Bool {
        switch phase {
        case .open, .awaitingIdle, .committing, .aborting: true
        case .idle, .beginning, .failed: false
        }
    }

    /// Whether work admitted into `transaction` may still publish into it.
    func isLive(_ transaction: UInt64) -> Bool {
        switch phase {
        case .open, .awaitingIdle: self.transaction == transaction && doomed == nil
        case .idle, .beginning, .committing, .aborting, .failed: false
        }
    }

    // MARK: Admission

    /// A record at `offset` of `partition` asks to join the open transaction.
    /// `isCurrent`: the consumer still considers it current (not rewound or revoked).
    mutating func admit(_ partition: KafkaTopicPartition, offset: Int64, isCurrent: Bool) -> AdmitAction {
        if let fatal { return .fail(fatal) }
        switch phase {
        case .failed:
            return .fail(fatal ?? StalledWork(description: "the worker failed"))
        case .open where doomed != nil:
            return .finishFirst(.failure)
        case .beginning, .awaitingIdle, .committing, .aborting:
            // The caller serialises admissions and finishing; reaching here is a bug.
            preconditionFailure("admit while \(phase)")
        case .idle, .open:
            break
        }
        guard pendingRewind[partition] == nil, isCurrent else { return .drop }
        guard phase == .open else {
            phase = .beginning
            return .begin
        }
        records += 1
        firstOffsets[partition] = min(firstOffsets[partition] ?? offset, offset)
        return .submit(transaction: transaction, finish: records >= maxRecordsPerTransaction ? .recordCount : nil)
    }

    /// Whether ``admit(_:offset:isCurrent:)`` would only count a record of `partition` into
    /// the open transaction (no begin, no finish, no drop, no rewind pending).
    func admitsIntoOpen(_ partition: KafkaTopicPartition, isCurrent: Bool) -> Bool {
        fatal == nil && phase == .open && doomed == nil && pendingRewind.isEmpty && isCurrent
            && records + 1 < maxRecordsPerTransaction
    }

    /// ``admit(_:offset:isCurrent:)`` when ``admitsIntoOpen(_:isCurrent:)``; otherwise `nil`
    /// and nothing changes.
    mutating func admitIntoOpen(_ partition: KafkaTopicPartition, offset: Int64, isCurrent: Bool) -> UInt64? {
        guard admitsIntoOpen(partition, isCurrent: isCurrent),
            case .submit(let transaction, nil) = admit(partition, offset: offset, isCurrent: isCurrent)
        else { return nil }
        return transaction
    }

    /// `beginTransaction` succeeded: a new transaction is open.
    mutating func begun() {
        precondition(phase == .beginning, "begun while \(phase)")
        phase = .open
        transaction += 1
        records = 0
        firstOffsets = [:]
        doomed = nil
    }

    /// `beginTransaction` failed: only a broken producer refuses to begin, so it is fatal.
    mutating func beginFailed(_ error: any Error) -> any Error {
        fail(error)
    }

    /// Work of `transaction` failed (a publish failed, or it was stopped before
    /// publishing): the transaction must abort. Returns whether this is the first reason
    /// (so the caller logs it once); a transaction already over is left alone.
    mutating func doom(_ transaction: UInt64, reason: String) -> Bool {
        guard isOpen, self.transaction == transaction, doomed == nil else { return false }
        doomed = reason
        return true
    }

    // MARK: Finishing

    /// The open transaction must end (`trigger` says why).
    mutating func finish(_ trigger: Trigger) -> FinishAction {
        guard phase == .open else { return .none }
        phase = .awaitingIdle(trigger)
        return .waitForIdle
    }

    /// Nothing of the transaction is in flight any more.
    mutating func idleReached() -> FinishAction {
        guard case .awaitingIdle(let trigger) = phase else { return .none }
        if let doomed { return startAbort(reason: doomed) }
        phase = .committing(trigger, attempt: 1)
        return .commit(records: records)
    }

    /// The deadline for in-flight work passed. While waiting for it the transaction is
    /// aborted — and, unless the worker is shutting down anyway, the worker must stop,
    /// since that work could still publish. Once the commit has begun the deadline no
    /// longer applies (the commit is bounded by its own operation timeout).
    mutating func deadlinePassed(_ limit: Duration) -> FinishAction {
        guard case .awaitingIdle(let trigger) = phase else { return .none }
        let reason = "in-flight work did not finish within \(limit)"
        if trigger != .shutdown { stallsWorker = reason }
        return startAbort(reason: reason)
    }

    /// The offsets were sent and the transaction committed.
    mutating func committed() -> FinishAction {
        guard case .committing = phase else { return .none }
        statistics.committed += 1
        statistics.committedRecords += records
        closeTransaction()
        return .done(committed: true)
    }

    /// The commit hook, sending the offsets or the commit failed. A fatal error stops
    /// the worker; a retriable commit error that does not require an abort is retried up
    /// to ``maxAttempts`` calls; anything else aborts the transaction.
    mutating func commitFailed(_ failure: Failure) -> FinishAction {
        guard case .committing(let trigger, let attempt) = phase else { return .none }
        if failure.isFatal { return .fail(fail(failure.error)) }
        if failure.isRetriable, !failure.requiresAbort, attempt < Self.maxAttempts {
            phase = .committing(trigger, attempt: attempt + 1)
            return .retryCommit
        }
        return startAbort(reason: "committing failed: \(failure.error)")
    }

    /// The transaction was aborted: its records are rewound to be processed again.
    mutating func aborted() -> FinishAction {
        guard case .aborting = phase else { return .none }
        pendingRewind.merge(firstOffsets) { min($0, $1) }
        statistics.aborted += 1
        closeTransaction()
        if let stalled = stallsWorker {
            stallsWorker = nil
            return .fail(fail(StalledWork(description: stalled)))
        }
        return .done(committed: false)
    }

    /// Aborting failed: retried while retriable (up to ``maxAttempts`` calls); past that
    /// the transaction's state is unknown and only a restart is safe.
    mutating func abortFailed(_ failure: Failure) -> FinishAction {
        guard case .aborting(let attempt) = phase else { return .none }
        if !failure.isFatal, failure.isRetriable, attempt < Self.maxAttempts {
            phase = .aborting(attempt: attempt + 1)
            return .abort(reason: "retrying the abort after: \(failure.error)")
        }
        return .fail(fail(failure.error))
    }

    // MARK: Rebalance, rewind, close

    /// Partitions are about to be revoked (`lost`: the member was evicted, the group has
    /// moved on and offsets can no longer be committed). The open transaction is
    /// finished now, while the partitions are still owned: committed, or aborted when lost.
    mutating func revoking(lost: Bool, partitions: [KafkaTopicPartition]) -> FinishAction {
        guard phase == .open else { return .none }
        if lost, doomed == nil { doomed = "partitions \(partitions) were lost" }
        return finish(.rebalance)
    }

    /// Partitions were revoked: their new owner starts from the committed offsets, so
    /// nothing of them is rewound here.
    mutating func revoked(_ partitions: [KafkaTopicPartition]) {
        for partition in partitions { pendingRewind[partition] = nil }
    }

    /// The consumer was rewound to `offsets`: those rewinds are done (a position merged
    /// lower meanwhile stays pending).
    mutating func rewound(_ offsets: [KafkaTopicPartition: Int64]) {
        for (partition, offset) in offsets where pendingRewind[partition] == offset {
            pendingRewind[partition] = nil
        }
    }

    /// Rewinding failed: the positions are unknown, so it is fatal.
    mutating func rewindFailed(_ error: any Error) -> any Error {
        fail(error)
    }

    /// The worker is closing: whether a transaction is still open and must be aborted
    /// (never after a fatal error: the producer cannot abort then).
    mutating func closing() -> Bool {
        guard isOpen, fatal == nil else { return false }
        phase = .aborting(attempt: 1)
        return true
    }

    /// The abort at close went through.
    mutating func abortedAtClose() {
        guard case .aborting = phase else { return }
        statistics.aborted += 1
        closeTransaction()
    }

    private mutating func startAbort(reason: String) -> FinishAction {
        phase = .aborting(attempt: 1)
        return .abort(reason: reason)
    }

    private mutating func closeTransaction() {
        phase = .idle
        records = 0
        firstOffsets = [:]
        doomed = nil
    }

    /// Remembers the first fatal error and moves to `failed`; returns the error to throw.
    private mutating func fail(_ error: any Error) -> any Error {
        if fatal == nil { fatal = error }
        phase = .failed
        return fatal ?? error
    }
}

/// In-flight work did not finish within the deadline while a transaction had to end.
struct StalledWork: Error, CustomStringConvertible {
    let description: String
}
