import Kafka
import Testing
@testable import Triage

// The exactly-once delivery's decisions, without a broker: every input of the state
// machine in every phase it can arrive in. The broker tests (ExactlyOnceWorkerTests)
// check that the actions are carried out against a real cluster.

private let p0 = KafkaTopicPartition(topic: "alerts", partition: 0)
private let p1 = KafkaTopicPartition(topic: "alerts", partition: 1)

private struct Boom: Error, CustomStringConvertible {
    var description: String { "boom" }
}

private typealias Machine = TransactionStateMachine
private typealias Failure = TransactionStateMachine.Failure

/// Drives a machine by reference, so each input can be sent inside `#expect` (which
/// cannot call mutating methods); reads its properties through dynamic members.
@dynamicMemberLookup
private final class Driver {
    private var machine: Machine

    init(maxRecordsPerTransaction: Int = 10) {
        machine = Machine(maxRecordsPerTransaction: maxRecordsPerTransaction)
    }

    subscript<T>(dynamicMember keyPath: KeyPath<Machine, T>) -> T { machine[keyPath: keyPath] }

    func isLive(_ transaction: UInt64) -> Bool { machine.isLive(transaction) }
    func admit(_ partition: KafkaTopicPartition, offset: Int64, isCurrent: Bool) -> Machine.AdmitAction {
        machine.admit(partition, offset: offset, isCurrent: isCurrent)
    }
    func begun() { machine.begun() }
    func beginFailed(_ error: any Error) -> any Error { machine.beginFailed(error) }
    func doom(_ transaction: UInt64, reason: String) -> Bool { machine.doom(transaction, reason: reason) }
    func finish(_ trigger: Machine.Trigger) -> Machine.FinishAction { machine.finish(trigger) }
    func idleReached() -> Machine.FinishAction { machine.idleReached() }
    func deadlinePassed(_ limit: Duration) -> Machine.FinishAction { machine.deadlinePassed(limit) }
    func committed() -> Machine.FinishAction { machine.committed() }
    func commitFailed(_ failure: Failure) -> Machine.FinishAction { machine.commitFailed(failure) }
    func aborted() -> Machine.FinishAction { machine.aborted() }
    func abortFailed(_ failure: Failure) -> Machine.FinishAction { machine.abortFailed(failure) }
    func revoking(lost: Bool, partitions: [KafkaTopicPartition]) -> Machine.FinishAction {
        machine.revoking(lost: lost, partitions: partitions)
    }
    func revoked(_ partitions: [KafkaTopicPartition]) { machine.revoked(partitions) }
    func rewound(_ offsets: [KafkaTopicPartition: Int64]) { machine.rewound(offsets) }
    func rewindFailed(_ error: any Error) -> any Error { machine.rewindFailed(error) }
    func closing() -> Bool { machine.closing() }
    func abortedAtClose() { machine.abortedAtClose() }

    /// Admits a record, beginning a transaction when the machine asks for one.
    @discardableResult
    func admitBeginning(_ partition: KafkaTopicPartition, _ offset: Int64) -> Machine.AdmitAction {
        var action = admit(partition, offset: offset, isCurrent: true)
        if case .begin = action {
            begun()
            action = admit(partition, offset: offset, isCurrent: true)
        }
        return action
    }
}

/// A machine with one open transaction (number 1) holding `offsets`.
private func openMachine(max: Int = 10, holding offsets: [(KafkaTopicPartition, Int64)] = [(p0, 5), (p0, 6)]) -> Driver {
    let driver = Driver(maxRecordsPerTransaction: max)
    for (partition, offset) in offsets { driver.admitBeginning(partition, offset) }
    return driver
}

extension TransactionStateMachine.AdmitAction {
    var submitted: (transaction: UInt64, finish: TransactionStateMachine.Trigger?)? {
        if case .submit(let transaction, let finish) = self { return (transaction, finish) }
        return nil
    }
    var isBegin: Bool { if case .begin = self { true } else { false } }
    var isDrop: Bool { if case .drop = self { true } else { false } }
    var failure: (any Error)? { if case .fail(let error) = self { error } else { nil } }
}

extension TransactionStateMachine.FinishAction {
    var isNone: Bool { if case .none = self { true } else { false } }
    var isWaitForIdle: Bool { if case .waitForIdle = self { true } else { false } }
    var isRetryCommit: Bool { if case .retryCommit = self { true } else { false } }
    var commitRecords: Int? { if case .commit(let records) = self { records } else { nil } }
    var abortReason: String? { if case .abort(let reason) = self { reason } else { nil } }
    var done: Bool? { if case .done(let committed) = self { committed } else { nil } }
    var failure: (any Error)? { if case .fail(let error) = self { error } else { nil } }
}

@Suite("Transaction state machine")
struct TransactionStateMachineTests {
    // MARK: Admission

    @Test func theFirstRecordBeginsATransactionAndLaterOnesJoinIt() {
        let machine = Driver(maxRecordsPerTransaction: 10)
        #expect(!machine.isOpen)
        #expect(machine.admit(p0, offset: 3, isCurrent: true).isBegin)
        #expect(machine.phase == .beginning)
        #expect(!machine.isOpen)
        machine.begun()
        #expect(machine.phase == .open)
        #expect(machine.admit(p0, offset: 3, isCurrent: true).submitted! == (1, nil))
        #expect(machine.admit(p1, offset: 9, isCurrent: true).submitted! == (1, nil))
        #expect(machine.admit(p0, offset: 4, isCurrent: true).submitted! == (1, nil))
        #expect(machine.records == 3)
        #expect(machine.firstOffsets == [p0: 3, p1: 9])
        #expect(machine.isLive(1))
        #expect(!machine.isLive(0))
    }

    @Test func theRecordThatFillsTheTransactionAsksToFinishIt() {
        let machine = Driver(maxRecordsPerTransaction: 2)
        #expect(machine.admitBeginning(p0, 0).submitted! == (1, nil))
        #expect(machine.admit(p0, offset: 1, isCurrent: true).submitted! == (1, .recordCount))
        #expect(machine.finish(.recordCount).isWaitForIdle)
        #expect(machine.phase == .awaitingIdle(.recordCount))
    }

    @Test func aRecordOfAPartitionAwaitingARewindOrNoLongerCurrentIsDropped() {
        let machine = openMachine()
        _ = machine.doom(1, reason: "publish failed")
        _ = machine.finish(.failure)
        _ = machine.idleReached()
        _ = machine.aborted()
        #expect(machine.pendingRewind == [p0: 5])
        #expect(machine.admit(p0, offset: 7, isCurrent: true).isDrop)
        #expect(machine.records == 0)
        // Another partition is unaffected, but a stale record of it is dropped too.
        #expect(machine.admit(p1, offset: 0, isCurrent: false).isDrop)
        #expect(machine.admit(p1, offset: 0, isCurrent: true).isBegin)
    }

    @Test func aRefusedBeginIsFatalAndEveryLaterAdmissionFails() {
        let machine = Driver(maxRecordsPerTransaction: 10)
        #expect(machine.admit(p0, offset: 0, isCurrent: true).isBegin)
        let error = machine.beginFailed(Boom())
        #expect(error is Boom)
        #expect(machine.phase == .failed)
        #expect(machine.admit(p0, offset: 0, isCurrent: true).failure is Boom)
        #expect(machine.finish(.interval).isNone)
        #expect(!machine.closing())
    }

    // MARK: Dooming

    @Test func onlyTheFirstFailureOfTheLiveTransactionDoomsIt() {
        let machine = openMachine()
        #expect(machine.doom(1, reason: "first"))
        #expect(!machine.doom(1, reason: "second"))
        #expect(machine.doomed == "first")
        #expect(!machine.isLive(1))
        // A failure reported for an earlier transaction does not touch the open one.
        let other = openMachine()
        #expect(!other.doom(0, reason: "late"))
        #expect(other.isLive(1))
    }

    @Test func admittingIntoADoomedTransactionFinishesItFirstAndItAborts() {
        let machine = openMachine()
        _ = machine.doom(1, reason: "publishing failed")
        guard case .finishFirst(let trigger) = machine.admit(p0, offset: 7, isCurrent: true) else {
            Issue.record("expected finishFirst")
            return
        }
        #expect(trigger == .failure)
        #expect(machine.finish(trigger).isWaitForIdle)
        #expect(machine.idleReached().abortReason == "publishing failed")
        #expect(machine.phase == .aborting(attempt: 1))
        #expect(!machine.isLive(1))
        #expect(machine.aborted().done == false)
        #expect(machine.statistics == .init(committed: 0, aborted: 1, committedRecords: 0))
        #expect(machine.pendingRewind == [p0: 5])
        // The next record begins transaction 2 once its partition is rewound.
        machine.rewound([p0: 5])
        #expect(machine.admitBeginning(p0, 5).submitted! == (2, nil))
    }

    // MARK: Committing

    @Test func finishingWithNothingOpenDoesNothing() {
        let machine = Driver(maxRecordsPerTransaction: 10)
        #expect(machine.finish(.interval).isNone)
        #expect(machine.finish(.shutdown).isNone)
        #expect(machine.idleReached().isNone)
        #expect(machine.committed().isNone)
    }

    @Test func aFinishWaitsForIdleThenCommitsTheRecordsAndCounts() {
        let machine = openMachine(holding: [(p0, 5), (p1, 2), (p0, 6)])
        #expect(machine.finish(.interval).isWaitForIdle)
        // Admission is stopped meanwhile, but work already admitted may still publish.
        #expect(machine.isLive(1))
        #expect(machine.idleReached().commitRecords == 3)
        #expect(machine.phase == .committing(.interval, attempt: 1))
        #expect(!machine.isLive(1))
        #expect(machine.committed().done == true)
        #expect(machine.phase == .idle)
        #expect(machine.statistics == .init(committed: 1, aborted: 0, committedRecords: 3))
        #expect(machine.pendingRewind.isEmpty)
        #expect(machine.firstOffsets.isEmpty)
        // A late idle or deadline report for the finished transaction changes nothing.
        #expect(machine.idleReached().isNone)
        #expect(machine.deadlinePassed(.seconds(1)).isNone)
    }

    @Test func aRetriableCommitErrorIsRetriedUpToTheAttemptLimitThenAborted() {
        let machine = openMachine()
        _ = machine.finish(.interval)
        _ = machine.idleReached()
        let retriable = Failure(Boom(), isFatal: false, isRetriable: true)
        for attempt in 2...Machine.maxAttempts {
            #expect(machine.commitFailed(retriable).isRetryCommit)
            #expect(machine.phase == .committing(.interval, attempt: attempt))
        }
        #expect(machine.commitFailed(retriable).abortReason == "committing failed: boom")
        #expect(machine.aborted().done == false)
        #expect(machine.statistics.aborted == 1)
    }

    @Test func aRetriedCommitThatSucceedsCommits() {
        let machine = openMachine()
        _ = machine.finish(.interval)
        _ = machine.idleReached()
        #expect(machine.commitFailed(Failure(Boom(), isFatal: false, isRetriable: true)).isRetryCommit)
        #expect(machine.committed().done == true)
        #expect(machine.statistics == .init(committed: 1, aborted: 0, committedRecords: 2))
    }

    @Test func aCommitErrorThatRequiresAnAbortOrIsNotRetriableAborts() {
        for failure in [Failure(Boom(), isFatal: false, isRetriable: true, requiresAbort: true), Failure(Boom())] {
            let machine = openMachine()
            _ = machine.finish(.recordCount)
            _ = machine.idleReached()
            #expect(machine.commitFailed(failure).abortReason != nil)
            #expect(machine.aborted().done == false)
            #expect(machine.pendingRewind == [p0: 5])
        }
    }

    @Test func aFatalCommitErrorStopsTheWorkerWithoutAnAbort() {
        let machine = openMachine()
        _ = machine.finish(.interval)
        _ = machine.idleReached()
        #expect(machine.commitFailed(Failure(Boom(), isFatal: true)).failure is Boom)
        #expect(machine.phase == .failed)
        #expect(machine.fatal is Boom)
        #expect(machine.admit(p0, offset: 7, isCurrent: true).failure is Boom)
        // The producer cannot abort after a fatal error: close leaves it alone.
        #expect(!machine.closing())
    }

    // MARK: Deadlines

    @Test func theShutdownDeadlineWhileWaitingAbortsWithoutStoppingTheWorker() {
        let machine = openMachine()
        _ = machine.finish(.shutdown)
        #expect(machine.deadlinePassed(.seconds(30)).abortReason == "in-flight work did not finish within 30.0 seconds")
        #expect(machine.aborted().done == false)
        #expect(machine.fatal == nil)
        #expect(machine.phase == .idle)
        // Idle arriving after the deadline won is ignored.
        #expect(machine.idleReached().isNone)
    }

    @Test func aDeadlineAtARebalanceOrCommitAbortsAndThenStopsTheWorker() {
        for trigger in [Machine.Trigger.rebalance, .interval, .recordCount] {
            let machine = openMachine()
            _ = machine.finish(trigger)
            #expect(machine.deadlinePassed(.seconds(5)).abortReason != nil)
            let error = machine.aborted().failure
            #expect(error is StalledWork)
            #expect(machine.phase == .failed)
            #expect(machine.statistics.aborted == 1)
            #expect(machine.pendingRewind == [p0: 5])
        }
    }

    @Test func aDeadlineArrivingMidCommitIsIgnoredAndTheCommitGoesOn() {
        let machine = openMachine()
        _ = machine.finish(.shutdown)
        #expect(machine.idleReached().commitRecords == 2)
        #expect(machine.deadlinePassed(.seconds(30)).isNone)
        #expect(machine.phase == .committing(.shutdown, attempt: 1))
        #expect(machine.committed().done == true)
        #expect(machine.statistics == .init(committed: 1, aborted: 0, committedRecords: 2))
    }

    @Test func aDeadlineArrivingMidRetriedCommitIsIgnoredToo() {
        let machine = openMachine()
        _ = machine.finish(.rebalance)
        _ = machine.idleReached()
        #expect(machine.commitFailed(Failure(Boom(), isFatal: false, isRetriable: true)).isRetryCommit)
        #expect(machine.deadlinePassed(.seconds(30)).isNone)
        #expect(machine.committed().done == true)
        #expect(machine.fatal == nil)
    }

    // MARK: Aborting

    @Test func aRetriableAbortErrorIsRetriedThenFatal() {
        let machine = openMachine()
        _ = machine.doom(1, reason: "x")
        _ = machine.finish(.failure)
        _ = machine.idleReached()
        let retriable = Failure(Boom(), isFatal: false, isRetriable: true)
        for attempt in 2...Machine.maxAttempts {
            #expect(machine.abortFailed(retriable).abortReason != nil)
            #expect(machine.phase == .aborting(attempt: attempt))
        }
        #expect(machine.abortFailed(retriable).failure is Boom)
        #expect(machine.phase == .failed)
    }

    @Test func aFatalOrNonRetriableAbortErrorIsFatalAtOnce() {
        for failure in [Failure(Boom(), isFatal: true, isRetriable: true), Failure(Boom())] {
            let machine = openMachine()
            _ = machine.doom(1, reason: "x")
            _ = machine.finish(.failure)
            _ = machine.idleReached()
            #expect(machine.abortFailed(failure).failure is Boom)
            #expect(machine.statistics.aborted == 0)
        }
    }

    @Test func abortsMergeTheLowestFirstOffsetPerPartition() {
        let machine = openMachine(holding: [(p0, 8), (p1, 3)])
        _ = machine.doom(1, reason: "x")
        _ = machine.finish(.failure)
        _ = machine.idleReached()
        _ = machine.aborted()
        #expect(machine.pendingRewind == [p0: 8, p1: 3])
        // Before the rewind is applied, a second transaction on partition 1 only aborts.
        machine.rewound([p1: 3])
        machine.admitBeginning(p1, 3)
        _ = machine.doom(2, reason: "y")
        _ = machine.finish(.failure)
        _ = machine.idleReached()
        _ = machine.aborted()
        #expect(machine.pendingRewind == [p0: 8, p1: 3])
        // A rewind applied to an older position leaves the lower pending one in place.
        machine.rewound([p0: 9])
        #expect(machine.pendingRewind[p0] == 8)
        machine.rewound([p0: 8, p1: 3])
        #expect(machine.pendingRewind.isEmpty)
    }

    @Test func aFailedRewindIsFatal() {
        let machine = openMachine()
        #expect(machine.rewindFailed(Boom()) is Boom)
        #expect(machine.phase == .failed)
        #expect(machine.admit(p0, offset: 0, isCurrent: true).failure is Boom)
    }

    // MARK: Rebalance

    @Test func aRevokeWithNothingOpenDoesNothing() {
        let machine = Driver(maxRecordsPerTransaction: 10)
        #expect(machine.revoking(lost: false, partitions: [p0]).isNone)
        #expect(machine.revoking(lost: true, partitions: [p0]).isNone)
    }

    @Test func aRevokeCommitsTheOpenTransactionBeforeThePartitionsGo() {
        let machine = openMachine()
        #expect(machine.revoking(lost: false, partitions: [p0]).isWaitForIdle)
        #expect(machine.phase == .awaitingIdle(.rebalance))
        #expect(machine.idleReached().commitRecords == 2)
        #expect(machine.committed().done == true)
        machine.revoked([p0])
        #expect(machine.pendingRewind.isEmpty)
    }

    @Test func aLostAssignmentAbortsTheOpenTransaction() {
        let machine = openMachine()
        #expect(machine.revoking(lost: true, partitions: [p0]).isWaitForIdle)
        #expect(machine.doomed?.hasPrefix("partitions") == true)
        #expect(!machine.isLive(1))
        #expect(machine.idleReached().abortReason?.hasPrefix("partitions") == true)
        #expect(machine.aborted().done == false)
        // The new owner starts from the committed offsets: nothing is rewound here.
        machine.revoked([p0])
        #expect(machine.pendingRewind.isEmpty)
    }

    @Test func aCommitFailingAfterARevokeBeganAbortsAndTheRevokedPartitionsAreNotRewound() {
        let machine = openMachine(holding: [(p0, 5), (p1, 7)])
        #expect(machine.revoking(lost: false, partitions: [p0]).isWaitForIdle)
        #expect(machine.idleReached().commitRecords == 2)
        #expect(machine.commitFailed(Failure(Boom())).abortReason == "committing failed: boom")
        #expect(machine.aborted().done == false)
        #expect(machine.fatal == nil)
        #expect(machine.pendingRewind == [p0: 5, p1: 7])
        // Partition 0 goes to its new owner (it starts at the last committed offset);
        // partition 1 stays here and is rewound.
        machine.revoked([p0])
        #expect(machine.pendingRewind == [p1: 7])
        #expect(machine.admit(p1, offset: 8, isCurrent: true).isDrop)
    }

    @Test func aFatalCommitErrorAfterARevokeBeganStopsTheWorker() {
        let machine = openMachine()
        _ = machine.revoking(lost: false, partitions: [p0])
        _ = machine.idleReached()
        #expect(machine.commitFailed(Failure(Boom(), isFatal: true)).failure is Boom)
        #expect(machine.phase == .failed)
        #expect(machine.revoking(lost: false, partitions: [p0]).isNone)
    }

    // MARK: Close

    @Test func closingAbortsAnOpenTransactionOnly() {
        let idle = Driver()
        #expect(!idle.closing())

        let open = openMachine()
        #expect(open.closing())
        #expect(open.phase == .aborting(attempt: 1))
        open.abortedAtClose()
        #expect(open.phase == .idle)
        #expect(open.statistics.aborted == 1)
        #expect(!open.isLive(1))

        // Closing mid-finish (a hard stop while waiting for idle) aborts too.
        let finishing = openMachine()
        _ = finishing.finish(.interval)
        #expect(finishing.closing())
    }
}

@Suite("At-least-once publish attempts")
struct PublishAttemptsTests {
    private let settings = PipelineWorker.Configuration.AtLeastOnce(
        publishBackoff: .milliseconds(100), maxPublishBackoff: .milliseconds(700), maxRejectedAttempts: 3
    )

    @Test func transientFailuresRetryForeverWithADoublingCappedBackoff() {
        var attempts = PublishAttempts(settings: settings, mayGiveUp: true)
        let waits = (0..<6).map { _ in attempts.failed(rejected: false) }
        #expect(waits == [100, 200, 400, 700, 700, 700].map { .retry(after: .milliseconds($0)) })
        #expect(attempts.count == 6)
        #expect(attempts.rejectedCount == 0)
    }

    @Test func rejectionsGiveUpAtTheLimitCountingOnlyRejectedAttempts() {
        var attempts = PublishAttempts(settings: settings, mayGiveUp: true)
        #expect(attempts.failed(rejected: true) == .retry(after: .milliseconds(100)))
        #expect(attempts.failed(rejected: false) == .retry(after: .milliseconds(200)))
        #expect(attempts.failed(rejected: true) == .retry(after: .milliseconds(400)))
        #expect(attempts.failed(rejected: true) == .giveUp)
        #expect(attempts.rejectedCount == 3)
    }

    @Test func whenNotAllowedToGiveUpRejectionsRetryForever() {
        var attempts = PublishAttempts(settings: settings, mayGiveUp: false)
        for _ in 0..<10 {
            guard case .retry = attempts.failed(rejected: true) else {
                Issue.record("gave up although not allowed to")
                return
            }
        }
    }

    @Test func atLeastOneRejectedAttemptIsAlwaysMade() {
        let settings = PipelineWorker.Configuration.AtLeastOnce(maxRejectedAttempts: 0)
        #expect(settings.maxRejectedAttempts == 1)
        var attempts = PublishAttempts(settings: settings, mayGiveUp: true)
        #expect(attempts.failed(rejected: true) == .giveUp)
    }
}
