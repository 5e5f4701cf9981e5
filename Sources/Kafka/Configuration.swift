/// Settings every Kafka client shares: where the cluster is, who we are, and any
/// librdkafka property passed through verbatim (e.g. `security.protocol`, `sasl.*`,
/// `ssl.*`), so TLS/SASL clusters work without a typed field for each.
///
/// `description` masks the values of secret properties (passwords, keys, tokens).
public struct KafkaConfiguration: Sendable, CustomStringConvertible {
    /// `host:port` of one or more brokers (`bootstrap.servers`).
    public var bootstrapServers: [String]
    /// `client.id`, shown in broker logs and metrics. Default `breakwater`.
    public var clientID: String
    /// Any librdkafka property, applied after the typed fields (so it can override them).
    /// A property librdkafka does not know, or a value it rejects, makes client creation
    /// throw a ``KafkaError`` naming the property.
    public var properties: [String: String]

    /// Creates a configuration for the given brokers.
    public init(bootstrapServers: [String], clientID: String = "breakwater", properties: [String: String] = [:]) {
        self.bootstrapServers = bootstrapServers
        self.clientID = clientID
        self.properties = properties
    }

    /// Whether a property's value is secret and must never be logged or described.
    public static func isSecret(_ property: String) -> Bool {
        let lower = property.lowercased()
        return ["password", "secret", "ssl.key.pem", "ssl_key", "ssl.keystore", "token", "oauthbearer.config", "sasl.jaas"]
            .contains { lower.contains($0) }
    }

    /// The value to show in logs and descriptions.
    static func displayValue(_ property: String, _ value: String) -> String {
        isSecret(property) ? "*****" : value
    }

    func librdkafkaProperties() -> [(String, String)] {
        [("bootstrap.servers", bootstrapServers.joined(separator: ",")), ("client.id", clientID)]
    }

    public var description: String {
        let shown = properties.keys.sorted().map { "\($0)=\(Self.displayValue($0, properties[$0] ?? ""))" }
        return "KafkaConfiguration(bootstrap: \(bootstrapServers.joined(separator: ",")), client.id: \(clientID), properties: [\(shown.joined(separator: ", "))])"
    }
}

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
    /// `partition.assignment.strategy`. Default cooperative-sticky.
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

    /// Creates a consumer configuration with the documented defaults.
    public init(
        common: KafkaConfiguration,
        groupID: String,
        groupInstanceID: String? = nil,
        assignmentStrategy: AssignmentStrategy = .cooperativeSticky,
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
        ]
        if let groupInstanceID { result.append(("group.instance.id", groupInstanceID)) }
        return result + common.properties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    public var description: String {
        "KafkaConsumerConfiguration(group: \(groupID), strategy: \(assignmentStrategy.rawValue), commits: \(offsetCommits), \(common))"
    }
}

/// Producer settings.
public struct KafkaProducerConfiguration: Sendable, CustomStringConvertible {
    /// Shared client settings (brokers, client id, pass-through properties).
    public var common: KafkaConfiguration
    /// `enable.idempotence`: no duplicates or reordering from retries. Default `true`.
    public var idempotent: Bool
    /// Most records sent but not yet acknowledged; `send` waits (backpressure) when this
    /// many are in flight instead of growing a queue. Default 10 000.
    public var maxInFlight: Int
    /// `linger.ms`: how long to wait to fill a batch. Default 5 ms.
    public var linger: Duration
    /// `message.timeout.ms`: a record not acknowledged by then fails with
    /// `_MSG_TIMED_OUT`. Default 30 s.
    public var messageTimeout: Duration
    /// `compression.type`, e.g. `lz4`, `zstd`. Default `nil` (librdkafka's default, none).
    public var compression: String?

    /// Creates a producer configuration with the documented defaults.
    public init(
        common: KafkaConfiguration,
        idempotent: Bool = true,
        maxInFlight: Int = 10_000,
        linger: Duration = .milliseconds(5),
        messageTimeout: Duration = .seconds(30),
        compression: String? = nil
    ) {
        self.common = common
        self.idempotent = idempotent
        self.maxInFlight = maxInFlight
        self.linger = linger
        self.messageTimeout = messageTimeout
        self.compression = compression
    }

    func librdkafkaProperties(transactionalID: String? = nil, transactionTimeout: Duration? = nil) -> [(String, String)] {
        var result = common.librdkafkaProperties()
        result += [
            ("enable.idempotence", String(idempotent || transactionalID != nil)),
            ("linger.ms", String(linger.wholeMilliseconds)),
            ("message.timeout.ms", String(messageTimeout.wholeMilliseconds)),
            // librdkafka's own queue must hold everything we allow in flight.
            ("queue.buffering.max.messages", String(max(maxInFlight, 1) + 1_000)),
        ]
        if let compression { result.append(("compression.type", compression)) }
        if let transactionalID { result.append(("transactional.id", transactionalID)) }
        if let transactionTimeout {
            result.append(("transaction.timeout.ms", String(transactionTimeout.wholeMilliseconds)))
        }
        return result + common.properties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    public var description: String {
        "KafkaProducerConfiguration(idempotent: \(idempotent), maxInFlight: \(maxInFlight), \(common))"
    }
}

extension Duration {
    /// Whole milliseconds, rounded down, clamped to `Int32.max` (librdkafka's limit).
    var wholeMilliseconds: Int32 {
        let (seconds, attoseconds) = components
        let millis = seconds * 1_000 + attoseconds / 1_000_000_000_000_000
        return Int32(clamping: max(millis, 0))
    }
}
