import CRdKafka
import Logging
import Locking

/// The consumer's shared state, reachable from librdkafka's rebalance and commit
/// callbacks (which run on the polling queue) and from callers on any task.
final class ConsumerCore: Sendable {
    struct State {
        /// Events polled but not yet handed out, oldest first from `head`.
        var buffer: [KafkaConsumerEvent] = []
        var head = 0
        /// Bookkeeping of every assigned partition.
        var progress: [KafkaTopicPartition: PartitionProgress] = [:]
        var nextEpoch: UInt64 = 1
        var fatal: KafkaError?
        var closed = false
        /// Non-fatal consumer errors polled so far, and since the last message.
        var errors = KafkaConsumerErrors()
        /// The topic of the last message buffered: a poll's messages nearly all share it,
        /// and a name of more than 15 bytes made a `String` allocation per message.
        var lastTopic = ""

        /// The name behind `cName`, reusing ``lastTopic`` when it is the same.
        mutating func topic(named cName: UnsafePointer<CChar>) -> String {
            let bytes = UnsafeRawPointer(cName).assumingMemoryBound(to: UInt8.self)
            var index = 0
            for byte in lastTopic.utf8 {
                // A shorter C name ends in NUL, which no topic name holds: a mismatch.
                guard bytes[index] == byte else { return renamed(cName) }
                index += 1
            }
            return bytes[index] == 0 ? lastTopic : renamed(cName)
        }

        /// Applies `change` to the progress of `partition` when it is assigned in `epoch`;
        /// `false` when it is not.
        ///
        /// Through the dictionary's index, not `progress[partition]?.…`: that optional
        /// subscript's modify accessor is a coroutine whose frames the runtime allocated on
        /// the heap, three allocations per call, and this runs twice per record.
        mutating func updateProgress(of partition: KafkaTopicPartition, epoch: UInt64, _ change: (inout PartitionProgress) -> Void) -> Bool {
            guard let index = progress.index(forKey: partition), progress.values[index].epoch == epoch else { return false }
            change(&progress.values[index])
            return true
        }

        private mutating func renamed(_ cName: UnsafePointer<CChar>) -> String {
            lastTopic = String(cString: cName)
            return lastTopic
        }

        mutating func append(_ event: KafkaConsumerEvent) {
            buffer.append(event)
        }

        mutating func popFirst() -> KafkaConsumerEvent? {
            guard head < buffer.count else { return nil }
            let event = buffer[head]
            head += 1
            if head == buffer.count {
                buffer.removeAll(keepingCapacity: true)
                head = 0
            }
            return event
        }
    }

    let state = LockedValue(State())
    let logger: Logger
    let commitsAutomatically: Bool
    /// Runs on the polling queue before revoked partitions are given up.
    let revocationHandler = LockedValue<(@Sendable ([KafkaTopicPartition], Bool) -> Void)?>(nil)

    init(logger: Logger, commitsAutomatically: Bool) {
        self.logger = logger
        self.commitsAutomatically = commitsAutomatically
    }

    /// Starts the bookkeeping of newly assigned partitions and tells the owner.
    func assigned(_ partitions: [KafkaTopicPartition]) {
        state.withLock { state in
            for partition in partitions {
                state.progress[partition] = PartitionProgress(epoch: state.nextEpoch)
                state.nextEpoch += 1
            }
            state.append(.partitionsAssigned(partitions))
        }
    }

    /// Handles a rebalance inside `rd_kafka_consumer_poll`/`rd_kafka_consumer_close`.
    func rebalance(_ rk: OpaquePointer, _ code: rd_kafka_resp_err_t, _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        let partitions = PartitionList.entries(of: list).map(\.topicPartition)
        let cooperative = rd_kafka_rebalance_protocol(rk).map { String(cString: $0) } == "COOPERATIVE"
        switch code {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            assigned(partitions)
            logger.info("partitions assigned", metadata: ["partitions": "\(partitions)", "cooperative": "\(cooperative)"])
            let error: KafkaError?
            if cooperative {
                error = rd_kafka_incremental_assign(rk, list).map { KafkaError(consuming: $0) }
            } else {
                let code = rd_kafka_assign(rk, list)
                error = code == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError(code: code)
            }
            if let error { logger.error("assigning partitions failed", metadata: ["error": "\(error)"]) }
            // Bookkeeping starts afresh for these partitions (not resting, not held back);
            // so must librdkafka, which may keep an application pause from an earlier
            // assignment of the same partition (a rest cut short by a rebalance).
            let resumed = rd_kafka_resume_partitions(rk, list)
            if resumed != RD_KAFKA_RESP_ERR_NO_ERROR {
                logger.warning("resuming newly assigned partitions failed", metadata: ["error": "\(KafkaError(code: resumed))"])
            }
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            let lost = rd_kafka_assignment_lost(rk) != 0
            // The owner's hook (e.g. finishing a transaction) runs while the
            // partitions are still ours; it is called outside every lock.
            if let handler = revocationHandler.withLock({ $0 }) { handler(partitions, lost) }
            if !lost, commitsAutomatically {
                // Commit done work before the partitions go to another member.
                if let error = commit(rk, only: Set(partitions), asynchronously: false) {
                    logger.warning("commit on revoke failed", metadata: ["error": "\(error)"])
                }
            }
            let revoked = Set(partitions)
            state.withLock { state in
                for partition in partitions { state.progress[partition] = nil }
                // Messages of revoked partitions not yet handed out are dropped.
                let pending = state.buffer[state.head...].filter { event in
                    if case .message(let message) = event { return !revoked.contains(message.topicPartition) }
                    return true
                }
                state.buffer = Array(pending)
                state.head = 0
                state.append(.partitionsRevoked(partitions, lost: lost))
            }
            logger.info("partitions revoked", metadata: ["partitions": "\(partitions)", "lost": "\(lost)"])
            let error: KafkaError?
            if cooperative {
                error = rd_kafka_incremental_unassign(rk, list).map { KafkaError(consuming: $0) }
            } else {
                let code = rd_kafka_assign(rk, nil)
                error = code == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError(code: code)
            }
            if let error { logger.error("unassigning partitions failed", metadata: ["error": "\(error)"]) }
        default:
            logger.error("rebalance error", metadata: ["error": "\(KafkaError(code: code))"])
            _ = rd_kafka_assign(rk, nil)
        }
    }

    /// Commits the done prefix of every (or the given) assigned partition that moved
    /// since the last commit.
    /// - Returns: the commit error, or `nil` (also when there was nothing to commit).
    func commit(_ rk: OpaquePointer, only partitions: Set<KafkaTopicPartition>? = nil, asynchronously: Bool) -> KafkaError? {
        let offsets = committableOffsets(only: partitions)
        guard !offsets.isEmpty else { return nil }
        let list = PartitionList(offsets.map { ($0.key, $0.value) })
        let code = rd_kafka_commit(rk, list.pointer, asynchronously ? 1 : 0)
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
            return KafkaError(code: code, text: "committing \(offsets.count) partition offsets failed: \(KafkaError(code: code).text)")
        }
        if !asynchronously { recordCommitted(list.entries) }
        logger.trace("committed offsets", metadata: ["offsets": "\(offsets)", "async": "\(asynchronously)"])
        return nil
    }

    /// The next offset to commit per partition whose done prefix moved since the last commit.
    func committableOffsets(only partitions: Set<KafkaTopicPartition>? = nil) -> [KafkaTopicPartition: Int64] {
        state.withLock { state in
            var result: [KafkaTopicPartition: Int64] = [:]
            for (partition, progress) in state.progress where partitions?.contains(partition) ?? true {
                if let offset = progress.pendingCommit { result[partition] = offset }
            }
            return result
        }
    }

    /// Records offsets the group accepted.
    func recordCommitted(_ entries: [PartitionListEntry]) {
        state.withLock { state in
            for entry in entries where entry.error == RD_KAFKA_RESP_ERR_NO_ERROR && entry.offset >= 0 {
                state.progress[entry.topicPartition]?.didCommit(entry.offset)
            }
        }
    }

    /// Result of an asynchronous commit.
    func commitFinished(_ code: rd_kafka_resp_err_t, _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) {
        // _NO_OFFSET: nothing to commit; not a failure.
        if code != RD_KAFKA_RESP_ERR_NO_ERROR, code != RD_KAFKA_RESP_ERR__NO_OFFSET {
            logger.warning("offset commit failed", metadata: ["error": "\(KafkaError(code: code))"])
        }
        if let list { recordCommitted(PartitionList.entries(of: list)) }
    }

    /// Starts new bookkeeping (a new epoch) for the given assigned partitions, sought to
    /// the given offsets, and drops their buffered messages: after a seek, everything
    /// delivered before is stale. A seek leaves librdkafka's pauses as they were, so the
    /// owner's hold and a rest are kept; a resting partition is fetched from its new
    /// offset when the rest ends. Partitions not assigned are ignored.
    /// - Returns: the partitions that were reset.
    func restart(_ offsets: [KafkaTopicPartition: Int64]) -> Set<KafkaTopicPartition> {
        state.withLock { state in
            var reset: Set<KafkaTopicPartition> = []
            for (partition, offset) in offsets {
                guard let previous = state.progress[partition] else { continue }
                var progress = PartitionProgress(epoch: state.nextEpoch)
                progress.heldBack = previous.heldBack
                if previous.resting { progress.restingAt = offset }
                state.progress[partition] = progress
                state.nextEpoch += 1
                reset.insert(partition)
            }
            let pending = state.buffer[state.head...].filter { event in
                if case .message(let message) = event { return !reset.contains(message.topicPartition) }
                return true
            }
            state.buffer = Array(pending)
            state.head = 0
            return reset
        }
    }

    /// Whether a handed-out message belongs to its partition's current assignment and
    /// bookkeeping (not revoked or rewound since).
    func isCurrent(_ reference: KafkaMessageReference) -> Bool {
        state.withLock { $0.progress[reference.topicPartition]?.epoch == reference.assignmentEpoch }
    }

    /// Marks a handed-out message done. Ignored for partitions no longer assigned, or
    /// assigned again since (another epoch).
    func markDone(_ reference: KafkaMessageReference) {
        state.withLock { state in
            // Mutated in place: copying the progress out would copy its arrays per call.
            _ = state.updateProgress(of: reference.topicPartition, epoch: reference.assignmentEpoch) { $0.markDone(reference.offset) }
        }
    }

    /// Appends a polled message; drops it if its partition is no longer assigned.
    func buffer(_ message: UnsafeMutablePointer<rd_kafka_message_t>) {
        let cName = message.pointee.rkt.flatMap { rd_kafka_topic_name($0) }
        state.withLock { state in
            let topic = cName.map { state.topic(named: $0) } ?? ""
            let partition = KafkaTopicPartition(topic: topic, partition: message.pointee.partition)
            state.errors.consecutive = 0
            guard let epoch = state.progress[partition]?.epoch else { return }
            state.append(.message(KafkaMessage(copying: message, topic: topic, epoch: epoch)))
        }
    }

    /// The topic and partition a polled message (or partition event) is about.
    static func topicPartition(of message: UnsafeMutablePointer<rd_kafka_message_t>) -> KafkaTopicPartition {
        let topic = message.pointee.rkt.flatMap { rd_kafka_topic_name($0) }.map { String(cString: $0) } ?? ""
        return KafkaTopicPartition(topic: topic, partition: message.pointee.partition)
    }

    /// A non-fatal consumer error was polled.
    func recordError(_ error: KafkaError) {
        state.withLock { state in
            state.errors.total += 1
            state.errors.consecutive += 1
            state.errors.last = error
        }
    }

    /// A poll reached the end of a partition: the consumer is fetching fine.
    func recordProgress() {
        state.withLock { $0.errors.consecutive = 0 }
    }

    /// Marks `partition` resting at its end, `offset` (the next offset to fetch); `false`
    /// when it is not assigned or rests already.
    func startRest(_ partition: KafkaTopicPartition, at offset: Int64) -> Bool {
        state.withLock { state in
            guard let progress = state.progress[partition], !progress.resting else { return false }
            state.progress[partition]?.restingAt = offset
            return true
        }
    }

    /// Ends the rest of `partition`; the offset to fetch it from when it should be
    /// resumed (it was resting, is still assigned and its owner does not hold it back),
    /// else `nil`.
    func endRest(_ partition: KafkaTopicPartition) -> Int64? {
        state.withLock { state in
            guard let progress = state.progress[partition], let offset = progress.restingAt else { return nil }
            state.progress[partition]?.restingAt = nil
            return progress.heldBack ? nil : offset
        }
    }

    /// Where `partition` rests (the next offset to fetch), if it does.
    func restingOffset(_ partition: KafkaTopicPartition) -> Int64? {
        state.withLock { $0.progress[partition]?.restingAt }
    }

    /// Records the owner's pause (`true`) or resume of `partitions`; returns those a
    /// resume may let fetch now (not resting).
    func holdBack(_ partitions: [KafkaTopicPartition], _ held: Bool) -> [KafkaTopicPartition] {
        state.withLock { state in
            partitions.filter { partition in
                state.progress[partition]?.heldBack = held
                return state.progress[partition]?.resting != true
            }
        }
    }

    /// The assigned partitions resting at their end now.
    var restingPartitions: Set<KafkaTopicPartition> {
        state.withLock { state in Set(state.progress.filter { $0.value.resting }.keys) }
    }

    enum NextBatch {
        case events([KafkaConsumerEvent])
        case empty
        case finished
        case failed(KafkaError)
    }

    /// Hands out up to `limit` buffered events at once, in order, registering messages as
    /// in flight.
    func take(atMost limit: Int) -> NextBatch {
        state.withLock { state in
            if let fatal = state.fatal { return .failed(fatal) }
            if state.closed { return .finished }
            var events: [KafkaConsumerEvent] = []
            while events.count < limit, let event = state.popFirst() {
                if case .message(let message) = event {
                    // Stale: its partition was revoked (and maybe reassigned) after polling.
                    guard state.updateProgress(of: message.topicPartition, epoch: message.assignmentEpoch, { $0.delivered(message.offset) })
                    else { continue }
                }
                if events.isEmpty { events.reserveCapacity(min(limit, state.buffer.count - state.head + 1)) }
                events.append(event)
            }
            return events.isEmpty ? .empty : .events(events)
        }
    }
}
