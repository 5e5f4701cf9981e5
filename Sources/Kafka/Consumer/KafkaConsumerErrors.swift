/// The non-fatal errors a consumer has polled; see ``KafkaConsumer/errors``.
public struct KafkaConsumerErrors: Sendable, Hashable {
    /// Errors polled since the consumer was created.
    public var total = 0
    /// Errors polled since the last message (or end of partition) arrived: 0 while the
    /// consumer makes progress.
    public var consecutive = 0
    /// The most recent error, if any.
    public var last: KafkaError?

    public init(total: Int = 0, consecutive: Int = 0, last: KafkaError? = nil) {
        self.total = total
        self.consecutive = consecutive
        self.last = last
    }
}
