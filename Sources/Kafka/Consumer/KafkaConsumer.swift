import CRdKafka
import Dispatch
import Logging
import Locking

/// A consumer-group member that delivers messages and assignment changes as one
/// ordered `AsyncSequence` (``events``) and commits offsets for at-least-once
/// processing: the caller marks messages done in any order, from any task, and only
/// the contiguous done prefix of each partition is committed (on a timer, for revoked
/// partitions before they are given up, and on ``close()``).
///
/// Eager and cooperative-sticky rebalancing are both handled. Every blocking
/// librdkafka call runs on the consumer's own serial Dispatch queue, never on the
/// cooperative thread pool. Call ``close()`` when done; dropping an open consumer
/// closes it synchronously on the releasing thread.
public final class KafkaConsumer: Sendable {
    private let handle: RdKafkaHandle
    private let context: CallbackContext
    private let core: ConsumerCore
    /// Serial queue for polls, synchronous commits and close.
    private let queue: DispatchQueue
    /// Guards the handle's life: non-blocking calls hold it while using the handle.
    private let isOpen = LockedValue(true)
    private let commitTimer = LockedValue<Task<Void, Never>?>(nil)
    /// Set by the first ``close(timeout:)``; later calls return at once.
    private let closeRequested = LockedValue(false)
    private let batchSize: Int
    /// The topics this consumer subscribed to, or whose partitions it was given.
    private let subscription: [String]
    /// Whether the consumer is a group member by subscription (else it was given its partitions).
    private let isSubscribed: Bool
    /// ``KafkaConsumerConfiguration/idleFetchBackoff``, and the clock's sleep that times it.
    private let idleFetchBackoff: Duration?
    private let sleep: @Sendable (Duration) async throws -> Void
    private let logger: Logger

    /// Creates a group member and subscribes it to `topics`; the group assigns
    /// partitions once ``events`` is iterated.
    /// - Parameters:
    ///   - clock: drives the automatic commit timer and the idle partitions' rest.
    /// - Throws: ``KafkaError`` naming a property librdkafka rejects, or the subscribe error.
    public convenience init<C: Clock>(
        configuration: KafkaConsumerConfiguration,
        topics: [String],
        logger: Logger,
        clock: C = ContinuousClock()
    ) throws(KafkaError) where C.Duration == Duration {
        try self.init(configuration: configuration, membership: .subscribed(topics), logger: logger, clock: clock)
    }

    /// Creates a consumer outside any group that reads `partitions` from their first
    /// record, for a reader that must see every record of a topic (every worker reads
    /// the whole of a compacted topic). ``events`` starts with one
    /// ``KafkaConsumerEvent/partitionsAssigned(_:)`` of them; nothing is ever revoked.
    /// It never joins the group `configuration.groupID` names; set
    /// `configuration.offsetCommits` to `.manual` and commit nothing.
    /// - Throws: ``KafkaError`` naming a property librdkafka rejects, or the assign error.
    public convenience init<C: Clock>(
        configuration: KafkaConsumerConfiguration,
        readingFromTheStart partitions: [KafkaTopicPartition],
        logger: Logger,
        clock: C = ContinuousClock()
    ) throws(KafkaError) where C.Duration == Duration {
        try self.init(configuration: configuration, membership: .assigned(partitions), logger: logger, clock: clock)
    }

    private enum Membership {
        case subscribed([String])
        case assigned([KafkaTopicPartition])
    }

    private init<C: Clock>(
        configuration: KafkaConsumerConfiguration,
        membership: Membership,
        logger: Logger,
        clock: C
    ) throws(KafkaError) where C.Duration == Duration {
        let topics = switch membership {
        case .subscribed(let topics): topics
        case .assigned(let partitions): Array(Set(partitions.map(\.topic))).sorted()
        }
        let core = ConsumerCore(logger: logger, commitsAutomatically: configuration.offsetCommits == .automatic)
        self.core = core
        self.logger = logger
        batchSize = max(configuration.pollBatchSize, 1)
        subscription = topics
        if case .subscribed = membership { isSubscribed = true } else { isSubscribed = false }
        idleFetchBackoff = configuration.idleFetchBackoff
        sleep = { try await clock.sleep(for: $0) }
        context = CallbackContext(
            logger: logger,
            rebalance: { rk, code, list in core.rebalance(rk, code, list) },
            offsetCommit: { code, list in core.commitFinished(code, list) },
            error: { error in core.recordError(error) }
        )
        handle = try ClientFactory.make(
            type: RD_KAFKA_CONSUMER, properties: configuration.librdkafkaProperties(), context: context
        ) { conf in
            rd_kafka_conf_set_rebalance_cb(conf) { rk, code, list, _ in
                guard let rk, let list, let rebalance = CallbackContext.from(rk)?.rebalance else { return }
                rebalance(rk, code, list)
            }
            rd_kafka_conf_set_offset_commit_cb(conf) { rk, code, list, _ in
                CallbackContext.from(rk)?.offsetCommit?(code, list)
            }
        }
        queue = DispatchQueue(label: "kafka-consumer-\(configuration.groupID)")
        // Everything (logs, errors, rebalances) is served by rd_kafka_consumer_poll.
        _ = rd_kafka_poll_set_consumer(handle.pointer)
        switch membership {
        case .subscribed:
            let subscription = PartitionList(topics.map { KafkaTopicPartition(topic: $0, partition: bw_partition_unassigned()) })
            let code = rd_kafka_subscribe(handle.pointer, subscription.pointer)
            guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
                rd_kafka_destroy(handle.pointer)
                throw KafkaError(code: code, text: "subscribing to \(topics) failed: \(KafkaError(code: code).text)")
            }
            logger.info("consumer subscribed", metadata: ["topics": "\(topics)", "configuration": "\(configuration)"])
        case .assigned(let partitions):
            core.assigned(partitions)
            let list = PartitionList(partitions.map { ($0, bw_offset_beginning()) })
            let code = rd_kafka_assign(handle.pointer, list.pointer)
            guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
                rd_kafka_destroy(handle.pointer)
                throw KafkaError(code: code, text: "assigning \(partitions) failed: \(KafkaError(code: code).text)")
            }
            logger.info("consumer reading partitions from the start", metadata: ["partitions": "\(partitions)", "configuration": "\(configuration)"])
        }
        if configuration.offsetCommits == .automatic {
            let interval = configuration.commitInterval
            commitTimer.withLock {
                $0 = Task { [weak self] in
                    while (try? await clock.sleep(for: interval)) != nil {
                        guard let self else { return }
                        self.commitInBackground()
                    }
                }
            }
        }
    }

    deinit {
        commitTimer.withLock { $0?.cancel() }
        guard isOpen.withLock({ $0 }) else { return }
        // Leaving the group blocks for seconds; the releasing thread may be one of the
        // cooperative pool's few, so it happens on the consumer's own queue.
        let (handle, core, context, logger) = (handle, core, context, logger)
        queue.async {
            Self.leaveGroupAndRelease(handle.pointer, core: core, logger: logger)
            withExtendedLifetime(context) {}
        }
    }

    /// Messages and assignment changes, in the order librdkafka produced them. Iteration
    /// ends after ``close()``; it throws the consumer's fatal error if it gets one.
    /// Iterate from one task at a time. Cancelling the iterating task ends the iteration.
    public var events: Events { Events(consumer: self) }

    /// The sequence behind ``events``.
    public struct Events: AsyncSequence, Sendable {
        public typealias Element = KafkaConsumerEvent
        let consumer: KafkaConsumer

        public func makeAsyncIterator() -> Iterator { Iterator(consumer: consumer) }

        /// Pulls events, polling librdkafka on the consumer's queue when none is buffered.
        public struct Iterator: AsyncIteratorProtocol {
            let consumer: KafkaConsumer

            /// The next event, `nil` after close or cancellation.
            /// - Throws: the consumer's fatal ``KafkaError``.
            public mutating func next() async throws -> KafkaConsumerEvent? {
                try await consumer.nextEvent()
            }
        }
    }

    /// The same events as ``events``, handed out in runs: every event buffered by one poll
    /// (up to the configuration's `pollBatchSize`) at once, so a caller can work through a
    /// poll without a suspension per record. Same rules as ``events``.
    public var eventBatches: EventBatches { EventBatches(consumer: self) }

    /// The sequence behind ``eventBatches``.
    public struct EventBatches: AsyncSequence, Sendable {
        public typealias Element = [KafkaConsumerEvent]
        let consumer: KafkaConsumer

        public func makeAsyncIterator() -> Iterator { Iterator(consumer: consumer) }

        /// Pulls runs of events, polling librdkafka on the consumer's queue when none is buffered.
        public struct Iterator: AsyncIteratorProtocol {
            let consumer: KafkaConsumer

            /// The next run (never empty), `nil` after close or cancellation.
            /// - Throws: the consumer's fatal ``KafkaError``.
            public mutating func next() async throws -> [KafkaConsumerEvent]? {
                try await consumer.nextEvents()
            }
        }
    }

    func nextEvents(atMost limit: Int? = nil) async throws(KafkaError) -> [KafkaConsumerEvent]? {
        while true {
            switch core.take(atMost: limit ?? batchSize) {
            case .events(let events): return events
            case .finished: return nil
            case .failed(let error): throw error
            case .empty: break
            }
            if Task.isCancelled { return nil }
            await fill()
        }
    }

    func nextEvent() async throws(KafkaError) -> KafkaConsumerEvent? {
        try await nextEvents(atMost: 1)?.first
    }

    /// Polls up to one batch into the buffer (waits at most 100 ms for the first message).
    private func fill() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async { [self] in
                defer { continuation.resume() }
                guard isOpen.withLock({ $0 }) else { return }
                var timeout: Int32 = 100
                for _ in 0..<batchSize {
                    guard let message = rd_kafka_consumer_poll(handle.pointer, timeout) else { return }
                    timeout = 0
                    defer { rd_kafka_message_destroy(message) }
                    handlePolled(message)
                }
            }
        }
    }

    private func handlePolled(_ message: UnsafeMutablePointer<rd_kafka_message_t>) {
        let code = message.pointee.err
        switch code {
        case RD_KAFKA_RESP_ERR_NO_ERROR:
            core.buffer(message)
        case RD_KAFKA_RESP_ERR__PARTITION_EOF:
            core.recordProgress()
            if let idleFetchBackoff { rest(ConsumerCore.topicPartition(of: message), at: message.pointee.offset, for: idleFetchBackoff) }
        case RD_KAFKA_RESP_ERR__FATAL:
            let error = KafkaError.fatal(of: handle.pointer) ?? KafkaError(code: code, isFatal: true)
            logger.critical("consumer fatal error", metadata: ["error": "\(error)"])
            core.state.withLock { $0.fatal = error }
        default:
            // A consumer error event carries its text as the payload, with a length and
            // no guaranteed NUL terminator: read exactly `len` bytes.
            let raw = message.pointee
            let text = raw.payload.map {
                String(decoding: UnsafeRawBufferPointer(start: $0, count: raw.len), as: UTF8.self)
            }
            let error = KafkaError(code: code, text: text)
            core.recordError(error)
            logger.warning("consumer error", metadata: ["error": "\(error)"])
        }
    }

    /// The non-fatal errors this consumer has polled (a broker it cannot reach, a fetch
    /// response it refuses…). librdkafka retries them itself; an owner that sees
    /// ``KafkaConsumerErrors/consecutive`` grow with no message in between knows the
    /// consumer is not making progress.
    public var errors: KafkaConsumerErrors {
        core.state.withLock { $0.errors }
    }

    /// Marks a delivered message done (processing finished, successfully or not). Any
    /// order, any task. Harmless for messages whose partition was revoked since.
    public func markDone(_ message: KafkaMessage) {
        core.markDone(message.reference)
    }

    /// Marks the message behind `reference` done; see ``markDone(_:)-(KafkaMessage)``.
    public func markDone(_ reference: KafkaMessageReference) {
        core.markDone(reference)
    }

    /// Per assigned partition, the offset that would be committed now (the contiguous
    /// done prefix, plus one) when it moved since the last commit. With
    /// ``KafkaConsumerConfiguration/OffsetCommits/manual`` commits, pass these to
    /// ``KafkaTransactionalProducer/sendOffsetsToTransaction(_:groupMetadata:timeout:)``
    /// and then to ``offsetsCommitted(_:)``.
    public func committableOffsets() -> [KafkaTopicPartition: Int64] {
        core.committableOffsets()
    }

    /// Tells the consumer that offsets were committed elsewhere (e.g. in a transaction),
    /// so ``committableOffsets()`` stops returning them.
    public func offsetsCommitted(_ offsets: [KafkaTopicPartition: Int64]) {
        core.recordCommitted(offsets.map { PartitionListEntry(topicPartition: $0.key, offset: $0.value, error: RD_KAFKA_RESP_ERR_NO_ERROR) })
    }

    /// The group's committed offsets (next offset to read) for the assigned partitions,
    /// asked from the broker; partitions without a committed offset are left out.
    /// - Throws: ``KafkaError`` from the broker (e.g. `_TIMED_OUT`), or `_DESTROY` after close.
    public func committedOffsets(timeout: Duration = .seconds(10)) async throws(KafkaError) -> [KafkaTopicPartition: Int64] {
        try await runBlocking(on: queue) { [self] () throws(KafkaError) -> [KafkaTopicPartition: Int64] in
            guard isOpen.withLock({ $0 }) else { throw KafkaError.closed }
            let list = try currentAssignment(handle.pointer)
            try check(rd_kafka_committed(handle.pointer, list.pointer, timeout.wholeMilliseconds), "reading committed offsets")
            var result: [KafkaTopicPartition: Int64] = [:]
            for entry in list.entries where entry.offset >= 0 { result[entry.topicPartition] = entry.offset }
            return result
        }
    }

    /// Records of the subscribed topics the group has not committed past, on every
    /// partition whoever owns it (a consumer given partitions: on those): each partition's
    /// high watermark, asked from its leader, minus the group's committed offset there
    /// (its low watermark when the group committed none). The same answer on every
    /// member, and while this one has no partitions (before its first assignment, or
    /// evicted and not yet rejoined). Records fetched and in flight count until
    /// committed; in a transactional topic each commit marker counts as one record. Runs
    /// on the consumer's queue between polls, a request per topic and per partition: for
    /// a periodic gauge, not for every record.
    /// - Throws: ``KafkaError`` from the broker (e.g. `_TIMED_OUT`), or `_DESTROY` after close.
    public func uncommittedRecords(timeout: Duration = .seconds(5)) async throws(KafkaError) -> Int64 {
        // Not queued behind a close: an abandoned close never frees the queue.
        guard !closeRequested.withLock({ $0 }) else { throw KafkaError.closed }
        return try await runBlocking(on: queue) { [self] () throws(KafkaError) -> Int64 in
            guard isOpen.withLock({ $0 }) else { throw KafkaError.closed }
            var partitions: [KafkaTopicPartition] = []
            for topic in subscription where isSubscribed { partitions += try self.partitions(of: topic, timeout: timeout) ?? [] }
            let list = isSubscribed ? PartitionList(partitions) : try currentAssignment(handle.pointer)
            guard !list.entries.isEmpty else { return 0 }
            try check(rd_kafka_committed(handle.pointer, list.pointer, timeout.wholeMilliseconds), "reading committed offsets")
            var total: Int64 = 0
            for entry in list.entries {
                var low: Int64 = 0
                var high: Int64 = 0
                let partition = entry.topicPartition
                try check(
                    rd_kafka_query_watermark_offsets(handle.pointer, partition.topic, partition.partition, &low, &high, timeout.wholeMilliseconds),
                    "watermarks of \(partition.topic)[\(partition.partition)]")
                total += max(0, high - (entry.offset >= 0 ? entry.offset : low))
            }
            return total
        }
    }

    /// Asks the cluster for the metadata of each subscribed topic and waits at most
    /// `timeout` for each: whether a broker answers right now, whatever the consumer's own
    /// error reports say (librdkafka reports a broker that stays down only now and then).
    /// Runs on the consumer's queue between polls.
    /// - Throws: ``KafkaError`` when no broker answered in time (e.g. `_TRANSPORT`,
    ///   `_TIMED_OUT`), or `_DESTROY` after close.
    /// - Returns: the subscribed topics the broker does not know (deleted, or lost with a
    ///   broker that came back empty), so the owner can recreate them; empty otherwise.
    @discardableResult
    public func probeBroker(timeout: Duration = .seconds(5)) async throws(KafkaError) -> [String] {
        try await runBlocking(on: queue) { [self] () throws(KafkaError) -> [String] in
            guard isOpen.withLock({ $0 }) else { throw KafkaError.closed }
            var missing: [String] = []
            // One request per subscribed topic, for that topic only: cheap on a cluster
            // with many topics, and it names each missing one.
            for topic in subscription where try partitions(of: topic, timeout: timeout) == nil {
                missing.append(topic)
            }
            return missing
        }
    }

    /// The partitions of `topic` per a metadata request for it alone; `nil` when the
    /// broker does not know the topic. Call on the consumer's queue.
    /// - Throws: ``KafkaError`` when no broker answered within `timeout`.
    private func partitions(of topic: String, timeout: Duration) throws(KafkaError) -> [KafkaTopicPartition]? {
        let handleOfTopic = rd_kafka_topic_new(handle.pointer, topic, nil)
        defer { if let handleOfTopic { rd_kafka_topic_destroy(handleOfTopic) } }
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let code = rd_kafka_metadata(handle.pointer, 0, handleOfTopic, &metadata, timeout.wholeMilliseconds)
        defer { if let metadata { rd_kafka_metadata_destroy(metadata) } }
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(code: code, text: "no broker answered a metadata request within \(timeout)")
        }
        guard let metadata else { return nil }
        for index in 0..<Int(metadata.pointee.topic_cnt) {
            guard let entry = metadata.pointee.topics?[index], entry.err == RD_KAFKA_RESP_ERR_NO_ERROR, String(cString: entry.topic) == topic else {
                continue
            }
            return (0..<Int(entry.partition_cnt)).compactMap { entry.partitions?[$0].id }.map { KafkaTopicPartition(topic: topic, partition: $0) }
        }
        return nil
    }

    /// Commits the done prefix of every assigned partition now and waits for the answer.
    /// - Throws: the commit ``KafkaError``, or `_DESTROY` after close.
    public func commit() async throws(KafkaError) {
        try await runBlocking(on: queue) { [self] () throws(KafkaError) in
            guard isOpen.withLock({ $0 }) else { throw KafkaError.closed }
            if let error = core.commit(handle.pointer, asynchronously: false) { throw error }
        }
    }

    private func commitInBackground() {
        isOpen.withLock { open in
            guard open else { return }
            if let error = core.commit(handle.pointer, asynchronously: true) {
                logger.warning("periodic commit failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Installs a hook run synchronously on the consumer's polling queue when partitions
    /// are about to be revoked (`lost` when the member was evicted), before they are
    /// given up and before this layer's own commit-on-revoke. Use it to finish work that
    /// must be committed while the partitions are still owned, e.g. the open transaction
    /// of an exactly-once worker. The hook blocks polling while it runs; it must not
    /// call back into this consumer's queue-bound methods (``commit()``,
    /// ``committedOffsets(timeout:)``, ``rewind(to:timeout:)``, ``close()``) or it
    /// deadlocks. Replaces any earlier hook; `nil` removes it.
    public func onPartitionsRevoking(_ hook: (@Sendable (_ partitions: [KafkaTopicPartition], _ lost: Bool) -> Void)?) {
        core.revocationHandler.withLock { $0 = hook }
    }

    /// Moves the fetch position of assigned partitions back (or forward) to the given
    /// offsets (next offset to read), e.g. to the last committed offsets after an aborted
    /// transaction, so the records after them are delivered again. Messages of these
    /// partitions delivered before the rewind become stale (see ``isCurrent(_:)``), their
    /// marks are ignored, and buffered ones are dropped. Partitions not assigned are
    /// ignored. Runs on the polling queue, so no message fetched from the old position
    /// is delivered afterwards.
    /// - Throws: ``KafkaError`` when a seek fails or times out (the positions are then
    ///   unknown: stop consuming and restart from the committed offsets), or `_DESTROY`
    ///   after close.
    public func rewind(to offsets: [KafkaTopicPartition: Int64], timeout: Duration = .seconds(10)) async throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        try await runBlocking(on: queue) { [self] () throws(KafkaError) in
            guard isOpen.withLock({ $0 }) else { throw KafkaError.closed }
            let assigned = Set(try currentAssignment(handle.pointer).entries.map(\.topicPartition))
            let assignedOffsets = offsets.filter { assigned.contains($0.key) }
            guard !assignedOffsets.isEmpty else { return }
            let targets = assignedOffsets.sorted { $0.key < $1.key }
            let list = PartitionList(targets.map { ($0.key, Optional($0.value)) })
            try check(rd_kafka_seek_partitions(handle.pointer, list.pointer, Self.seekTimeoutArgument(timeout)))
            if let failed = list.entries.first(where: { $0.error != RD_KAFKA_RESP_ERR_NO_ERROR }) {
                throw KafkaError(code: failed.error, text: "seeking \(failed.topicPartition) to \(failed.offset) failed: \(KafkaError(code: failed.error).text)")
            }
            _ = core.restart(assignedOffsets)
            logger.info("consumer rewound", metadata: ["offsets": "\(targets.map { "\($0.key)@\($0.value)" })"])
        }
    }

    /// The `timeout_ms` to hand `rd_kafka_seek_partitions` for `timeout`. librdkafka
    /// before 2.1 waited a thousandth of it (it passed the remaining milliseconds where
    /// microseconds were expected; confluentinc/librdkafka#4230): 10 s became 10 ms, and
    /// a seek on a loaded machine failed with `_TIMED_OUT` at once, which the
    /// exactly-once delivery treats as fatal after an abort. Those versions get it
    /// scaled up to make up for it.
    static func seekTimeoutArgument(_ timeout: Duration, librdkafkaVersion: Int32 = rd_kafka_version()) -> Int32 {
        let milliseconds = timeout.wholeMilliseconds
        guard librdkafkaVersion < 0x0201_0000 else { return milliseconds }
        let (scaled, overflow) = milliseconds.multipliedReportingOverflow(by: 1_000)
        return overflow ? Int32.max : scaled
    }

    /// Whether a delivered message still belongs to its partition's current assignment:
    /// `false` once the partition was revoked or rewound after the message was delivered.
    public func isCurrent(_ message: KafkaMessage) -> Bool {
        core.isCurrent(message.reference)
    }

    /// Stops fetching from these partitions (backpressure) until ``resume(_:)``; their
    /// assignment is kept. Messages already buffered may still be delivered.
    /// - Throws: ``KafkaError`` from librdkafka, or `_DESTROY` after close.
    public func pause(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        _ = core.holdBack(partitions, true)
        try pauseFetching(partitions)
    }

    /// Resumes fetching from paused partitions (one resting at its end, see
    /// ``KafkaConsumerConfiguration/idleFetchBackoff``, when its rest ends).
    /// - Throws: ``KafkaError`` from librdkafka, or `_DESTROY` after close.
    public func resume(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        try resumeFetching(core.holdBack(partitions, false))
    }

    /// The assigned partitions not being fetched now because they rest at their end
    /// (``KafkaConsumerConfiguration/idleFetchBackoff``).
    public var restingPartitions: Set<KafkaTopicPartition> { core.restingPartitions }

    private func pauseFetching(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        try withOpenHandle { rk throws(KafkaError) in
            let list = PartitionList(partitions)
            try check(rd_kafka_pause_partitions(rk, list.pointer), "pausing \(partitions)")
        }
    }

    private func resumeFetching(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        guard !partitions.isEmpty else { return }
        try withOpenHandle { rk throws(KafkaError) in
            let list = PartitionList(partitions)
            try check(rd_kafka_resume_partitions(rk, list.pointer), "resuming \(partitions)")
        }
    }

    /// The consumer reached the end of `partition`, `offset`: stops fetching it for
    /// `backoff`, then fetches again from there (an end reached again starts the next rest).
    private func rest(_ partition: KafkaTopicPartition, at offset: Int64, for backoff: Duration) {
        guard core.startRest(partition, at: offset) else { return }
        do {
            try pauseFetching([partition])
        } catch {
            _ = core.endRest(partition)
            logger.debug("resting an idle partition failed", metadata: ["partition": "\(partition)", "error": "\(error)"])
            return
        }
        let sleep = self.sleep
        Task { [weak self] in
            // Woken early (cancelled) or not, the partition must be fetched again.
            try? await sleep(backoff)
            self?.endRest(partition)
        }
    }

    /// Resumes a partition whose rest ended and seeks it to where it rested (or to where a
    /// rewind moved it meanwhile). The seek is what gets it fetched now: librdkafka 2.0.2
    /// does not wake its broker thread on a resume, so a partition resumed while that
    /// thread idles (every partition resting) was fetched only when it next woke on its
    /// own, up to a second later; a seek wakes it. Without the seek a worker at 1,000
    /// alerts/s took them in one burst a second (`scripts/bench-adaptive`). On the polling
    /// queue, so no poll delivers a record of the partition between the resume and the
    /// seek (it would be delivered twice) and no rewind interleaves with it.
    private func endRest(_ partition: KafkaTopicPartition) {
        queue.async { [self] in
            // Revoked meanwhile, or held back by the owner: nothing to resume (yet).
            guard let offset = core.endRest(partition) else { return }
            do {
                try resumeFetching([partition])
                let target = PartitionList([(partition, Optional(offset))])
                try withOpenHandle { rk throws(KafkaError) in
                    // Timeout 0: asynchronous; a failure comes back as a consumer error.
                    try check(rd_kafka_seek_partitions(rk, target.pointer, 0))
                }
            } catch {
                logger.debug("ending an idle partition's rest failed", metadata: ["partition": "\(partition)", "error": "\(error)"])
            }
        }
        // The queue may be in a poll waiting up to 100 ms for a first message (every
        // partition resting): end that wait, so the block above runs now.
        try? withOpenHandle { rk throws(KafkaError) in
            guard let consumerQueue = rd_kafka_queue_get_consumer(rk) else { return }
            rd_kafka_queue_yield(consumerQueue)
            rd_kafka_queue_destroy(consumerQueue)
        }
    }

    /// The partitions currently assigned to this member.
    /// - Throws: ``KafkaError`` from librdkafka, or `_DESTROY` after close.
    public func assignment() throws(KafkaError) -> [KafkaTopicPartition] {
        try withOpenHandle { rk throws(KafkaError) in
            try currentAssignment(rk).entries.map(\.topicPartition).sorted()
        }
    }

    private func currentAssignment(_ rk: OpaquePointer) throws(KafkaError) -> PartitionList {
        var pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
        let code = rd_kafka_assignment(rk, &pointer)
        // The returned list must always be destroyed, or rd_kafka_destroy hangs.
        let list = pointer.map { PartitionList(owning: $0) }
        try check(code, "reading the assignment")
        return list ?? PartitionList([KafkaTopicPartition]())
    }

    /// Lag of every assigned partition (high watermark minus position), for metrics.
    /// Uses the watermarks of the latest fetch; never blocks on the network.
    /// - Throws: ``KafkaError`` from librdkafka, or `_DESTROY` after close.
    public func lag() throws(KafkaError) -> [KafkaPartitionLag] {
        try withOpenHandle { rk throws(KafkaError) in
            let list = try currentAssignment(rk)
            try check(rd_kafka_position(rk, list.pointer), "reading positions")
            return list.entries.map { entry in
                var low: Int64 = 0
                var high: Int64 = 0
                let code = rd_kafka_get_watermark_offsets(rk, entry.topicPartition.topic, entry.topicPartition.partition, &low, &high)
                return KafkaPartitionLag(
                    topicPartition: entry.topicPartition,
                    // A seek (ending a rest, a rewind) makes librdkafka forget the
                    // position until the next record; a resting partition's is known here.
                    position: entry.offset >= 0 ? entry.offset : core.restingOffset(entry.topicPartition),
                    highWatermark: code == RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0 ? high : nil
                )
            }.sorted { $0.topicPartition < $1.topicPartition }
        }
    }

    /// This member's group metadata, for sending offsets inside a transaction.
    /// - Throws: ``KafkaError`` when librdkafka has none, or `_DESTROY` after close.
    public func groupMetadata() throws(KafkaError) -> KafkaConsumerGroupMetadata {
        try withOpenHandle { rk throws(KafkaError) in
            guard let pointer = rd_kafka_consumer_group_metadata(rk) else {
                throw KafkaError(code: RD_KAFKA_RESP_ERR__STATE, text: "consumer has no group metadata")
            }
            return KafkaConsumerGroupMetadata(pointer: pointer)
        }
    }

    private func withOpenHandle<T>(_ body: (OpaquePointer) throws(KafkaError) -> T) throws(KafkaError) -> T {
        try isOpen.withLock { open throws(KafkaError) -> T in
            guard open else { throw KafkaError.closed }
            return try body(handle.pointer)
        }
    }

    /// Commits done work (automatic mode), leaves the group (its partitions go to the
    /// other members at once) and releases the client. Iteration of ``events`` ends.
    /// Calling it again does nothing.
    ///
    /// - Parameter timeout: the longest to wait. librdkafka's close can block without end
    ///   (a rebalance hook that never returns, or joining its threads after the broker
    ///   went away and came back); past the timeout the client is abandoned to finish
    ///   (or not) on its own queue, so a process that is stopping is never held by it.
    ///   `nil`: wait however long it takes.
    /// - Returns: the final commit's or the leave's error, if any (also logged); the
    ///   client is released anyway, and uncommitted work is redelivered to the next owner.
    ///   `_TIMED_OUT` when the timeout passed first.
    @discardableResult
    public func close(timeout: Duration? = nil) async -> KafkaError? {
        commitTimer.withLock { $0?.cancel() }
        let first = closeRequested.withLock { requested in
            defer { requested = true }
            return !requested
        }
        guard first else { return nil }
        let logger = logger
        return await withCheckedContinuation { continuation in
            let answer = FirstAnswer(continuation)
            queue.async { [self] in answer.give(closeBlocking()) }
            if let timeout {
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(timeout.wholeMilliseconds))) {
                    let error = KafkaError(
                        code: RD_KAFKA_RESP_ERR__TIMED_OUT,
                        text: "closing the consumer did not finish within \(timeout); the client was abandoned"
                    )
                    if answer.give(error) {
                        logger.error("consumer close timed out; abandoning the client", metadata: ["timeout": "\(timeout)"])
                    }
                }
            }
        }
    }

    private func closeBlocking() -> KafkaError? {
        guard isOpen.withLock({ $0 }) else { return nil }
        // Rebalance hooks run inside the leave and may still use the handle; after it,
        // nothing may.
        return Self.leaveGroupAndRelease(handle.pointer, core: core, logger: logger) { isOpen.withLock { $0 = false } }
    }

    /// Commits (automatic mode), leaves the group, calls `left`, and destroys the client. Blocking.
    @discardableResult
    private static func leaveGroupAndRelease(
        _ rk: OpaquePointer, core: ConsumerCore, logger: Logger, left: () -> Void = {}
    ) -> KafkaError? {
        var failure: KafkaError?
        if core.commitsAutomatically { failure = core.commit(rk, asynchronously: false) }
        let code = rd_kafka_consumer_close(rk)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR { failure = failure ?? KafkaError(code: code, text: "leaving the group failed") }
        left()
        core.state.withLock { $0.closed = true }
        rd_kafka_destroy(rk)
        if let failure {
            logger.warning("consumer closed; final commit or leave failed", metadata: ["error": "\(failure)"])
        } else {
            logger.info("consumer closed")
        }
        return failure
    }

    /// Test hook: destroys the client without leaving the group or committing, as if
    /// the process had been killed. The group only notices after the session timeout.
    func terminateWithoutLeavingGroup() async {
        commitTimer.withLock { $0?.cancel() }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async { [self] in
                defer { continuation.resume() }
                guard isOpen.withLock({ open in
                    defer { open = false }
                    return open
                }) else { return }
                core.state.withLock { $0.closed = true }
                rd_kafka_destroy_flags(handle.pointer, Int32(RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE))
            }
        }
    }
}

/// Resumes a continuation with the first answer given; later answers are dropped.
private final class FirstAnswer<Value: Sendable>: Sendable {
    private let continuation: LockedValue<CheckedContinuation<Value, Never>?>

    init(_ continuation: CheckedContinuation<Value, Never>) {
        self.continuation = LockedValue(continuation)
    }

    /// Resumes with `value` if nothing did yet; returns whether this call did.
    @discardableResult
    func give(_ value: Value) -> Bool {
        guard let continuation = continuation.withLock({ $0.take() }) else { return false }
        continuation.resume(returning: value)
        return true
    }
}
