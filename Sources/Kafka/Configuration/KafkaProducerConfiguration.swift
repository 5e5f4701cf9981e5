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
