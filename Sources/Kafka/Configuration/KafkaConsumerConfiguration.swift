/// Consumer settings: the group, how partitions are assigned, and how this layer
/// commits offsets.
public struct KafkaConsumerConfiguration: Sendable, CustomStringConvertible {
    /// How the group assigns partitions.
    public enum AssignmentStrategy: String, Sendable {
        /// Incremental (cooperative) rebalancing: only moved partitions are revoked.
        case cooperativeSticky = "cooperative-sticky"
        /// Eager `range`: every rebalance revokes everything, then reassigns.
        case range
        /// Eager `roundrobin`.
        case roundRobin = "roundrobin"
    }

    /// Where to start when the group has no committed offset for a partition.
    public enum OffsetReset: String, Sendable {
        /// The oldest retained record.
        case earliest
        /// Only records produced after the assignment.
        case latest
        /// Fail the partition with an error.
        case error
    }

    /// Who commits the offsets of done messages.
    public enum OffsetCommits: Sendable, Equatable {
        /// This layer commits the contiguous done prefix every ``commitInterval``, for
        /// revoked partitions before giving them up, and on ``KafkaConsumer/close()``.
        case automatic
        /// Never commits; the caller reads ``KafkaConsumer/committableOffsets()`` and
        /// commits them (e.g. inside a transaction with
        /// ``KafkaTransactionalProducer/sendOffsetsToTransaction(_:groupMetadata:timeout:)``).
        case manual
    }

    /// How far librdkafka reads ahead of the application.
    ///
    /// librdkafka (2.0.2, Debian's) compares both bounds with the length and size of the
    /// consumer's one queue, into which every partition's fetch queue is forwarded: the
    /// message bound is not per partition. A partition that is not fetched because a bound
    /// is reached is looked at again only on the broker thread's next wake-up, up to a
    /// second later (`fetch.queue.backoff.ms`, which makes that wait configurable, came in
    /// librdkafka 2.2). A bound the application empties faster than that stalls it: against
    /// a broker that honours fetch limits (librdkafka's mock cluster), one worker drained a
    /// backlog at ~5,100-7,000 alerts/s with a bound of 1,000 messages and at ~47,000-58,000
    /// with 100,000; kcat drained one at ~24,000 msgs/s with 5,000 and at ~68,000 with
    /// 20,000 or more, and with a size bound of 4 MB or more (2 MB: ~8,000).
    public struct Prefetch: Sendable, Equatable {
        /// `queued.min.messages`: librdkafka fetches while fewer than this many messages
        /// (of all assigned partitions) wait in the local queue. Default 100,000
        /// (librdkafka's own): in practice ``kilobytes`` is the bound that holds.
        public var messages: Int
        /// `queued.max.messages.kbytes`: librdkafka fetches while fewer than this many
        /// kilobytes wait in the local queue (one fetch response may overshoot it).
        /// Default 16,384 (16 MB; librdkafka's is 64 MB).
        public var kilobytes: Int

        /// Creates a prefetch bound; values below 1 become 1.
        public init(messages: Int = 100_000, kilobytes: Int = 16_384) {
            self.messages = max(messages, 1)
            self.kilobytes = max(kilobytes, 1)
        }
    }

    /// Transaction visibility.
    public enum IsolationLevel: String, Sendable {
        /// Only records of committed transactions (and non-transactional records).
        case readCommitted = "read_committed"
        /// Everything, including records of open and aborted transactions.
        case readUncommitted = "read_uncommitted"
    }

    /// Shared client settings (brokers, client id, pass-through properties).
    public var common: KafkaConfiguration
    /// `group.id`.
    public var groupID: String
    /// `group.instance.id` for static membership (a restart within the session timeout
    /// keeps the assignment). Default `nil` (dynamic membership).
    public var groupInstanceID: String?
    /// `partition.assignment.strategy`. Default range: librdkafka releases before the fix
    /// of its issue #4059 (pull request #4908, 2025; Debian ships 2.0.2) lose the
    /// assignment when a commit meets a cooperative rebalance.
    public var assignmentStrategy: AssignmentStrategy
    /// `auto.offset.reset`. Default earliest.
    public var offsetReset: OffsetReset
    /// `isolation.level`. Default read_committed.
    public var isolationLevel: IsolationLevel
    /// `session.timeout.ms`: a member silent for this long is evicted. Default 45 s.
    public var sessionTimeout: Duration
    /// `heartbeat.interval.ms`. Default 3 s.
    public var heartbeatInterval: Duration
    /// Who commits. Default ``OffsetCommits/automatic``.
    public var offsetCommits: OffsetCommits
    /// Period of the automatic commit of done offsets. Default 5 s.
    public var commitInterval: Duration
    /// At most this many messages are fetched from librdkafka per hop to the polling
    /// thread. Default 500.
    public var pollBatchSize: Int
    /// How far librdkafka reads ahead. Default ``Prefetch/init(messages:kilobytes:)``
    /// (100,000 messages, 16 MB). `queued.min.messages` or
    /// `queued.max.messages.kbytes` among the pass-through properties take precedence.
    public var prefetch: Prefetch = Prefetch()
    /// When set, a partition whose end the consumer reached is not fetched for this long,
    /// then fetched again (and rested again while it stays empty). Default `nil`: off.
    ///
    /// Only for brokers that answer a fetch with no data at once instead of holding it up
    /// to `fetch.wait.max.ms` (the local test broker, noida-db, does): against them an idle
    /// consumer fetches in a loop, about half a core for the consumer's broker thread and
    /// as much for the broker. A record that arrives at a resting partition waits up to
    /// this long. A Kafka broker holds empty fetches itself: leave it off there.
    public var idleFetchBackoff: Duration?

    /// Creates a consumer configuration with the documented defaults.
    public init(
        common: KafkaConfiguration,
        groupID: String,
        groupInstanceID: String? = nil,
        assignmentStrategy: AssignmentStrategy = .range,
        offsetReset: OffsetReset = .earliest,
        isolationLevel: IsolationLevel = .readCommitted,
        sessionTimeout: Duration = .seconds(45),
        heartbeatInterval: Duration = .seconds(3),
        offsetCommits: OffsetCommits = .automatic,
        commitInterval: Duration = .seconds(5),
        pollBatchSize: Int = 500
    ) {
        self.common = common
        self.groupID = groupID
        self.groupInstanceID = groupInstanceID
        self.assignmentStrategy = assignmentStrategy
        self.offsetReset = offsetReset
        self.isolationLevel = isolationLevel
        self.sessionTimeout = sessionTimeout
        self.heartbeatInterval = heartbeatInterval
        self.offsetCommits = offsetCommits
        self.commitInterval = commitInterval
        self.pollBatchSize = pollBatchSize
    }

    func librdkafkaProperties() -> [(String, String)] {
        var result = common.librdkafkaProperties()
        result += [
            ("group.id", groupID),
            ("partition.assignment.strategy", assignmentStrategy.rawValue),
            ("auto.offset.reset", offsetReset.rawValue),
            ("isolation.level", isolationLevel.rawValue),
            ("session.timeout.ms", String(sessionTimeout.wholeMilliseconds)),
            ("heartbeat.interval.ms", String(heartbeatInterval.wholeMilliseconds)),
            // This layer tracks done messages and commits itself.
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("queued.min.messages", String(prefetch.messages)),
            ("queued.max.messages.kbytes", String(prefetch.kilobytes)),
            // A subscribed topic that appears (created late, or recreated after a broker
            // came back empty) is assigned within seconds, not librdkafka's 5 minutes.
            ("topic.metadata.refresh.interval.ms", "10000"),
        ]
        if let groupInstanceID { result.append(("group.instance.id", groupInstanceID)) }
        // The end of a partition is what starts its rest.
        if idleFetchBackoff != nil { result.append(("enable.partition.eof", "true")) }
        return result + common.properties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    public var description: String {
        "KafkaConsumerConfiguration(group: \(groupID), strategy: \(assignmentStrategy.rawValue), commits: \(offsetCommits), \(common))"
    }
}
