import CRdKafka
import Logging

/// librdkafka's in-process mock Kafka cluster, for tests of behaviour a local broker
/// cannot show (e.g. evicting a member that died without leaving its group after the
/// session timeout). It has no CreateTopics: use ``createTopic(_:partitions:replicationFactor:)``.
/// It keeps only a few MB per partition; keep test data small.
public final class KafkaMockCluster: @unchecked Sendable {
    // Immutable after init; librdkafka's mock API is thread-safe.
    private let handle: RdKafkaHandle
    private let context: CallbackContext
    private let cluster: OpaquePointer
    /// Bootstrap servers of the mock brokers, `host:port,...`.
    public let bootstrapServers: String

    /// Starts a mock cluster with `brokers` brokers on 127.0.0.1.
    /// - Throws: ``KafkaError`` when librdkafka cannot start it.
    public init(brokers: Int32 = 1, logger: Logger) throws(KafkaError) {
        context = CallbackContext(logger: logger)
        handle = try ClientFactory.make(type: RD_KAFKA_PRODUCER, properties: [], context: context)
        guard let cluster = rd_kafka_mock_cluster_new(handle.pointer, brokers) else {
            rd_kafka_destroy(handle.pointer)
            throw KafkaError(code: RD_KAFKA_RESP_ERR__FAIL, text: "cannot start a mock cluster")
        }
        self.cluster = cluster
        bootstrapServers = rd_kafka_mock_cluster_bootstraps(cluster).map { String(cString: $0) } ?? ""
    }

    deinit {
        rd_kafka_mock_cluster_destroy(cluster)
        rd_kafka_destroy(handle.pointer)
    }

    /// Creates a topic.
    /// - Throws: ``KafkaError`` from the mock cluster.
    public func createTopic(_ name: String, partitions: Int32, replicationFactor: Int32 = 1) throws(KafkaError) {
        try check(rd_kafka_mock_topic_create(cluster, name, partitions, replicationFactor), "creating mock topic \(name)")
    }

    /// Takes broker `id` (every broker with `nil`) down: its connections are closed and
    /// new ones refused, until ``setBrokerUp(_:)``. Leaders do not move.
    /// - Throws: ``KafkaError`` from the mock cluster (e.g. an unknown broker id).
    public func setBrokerDown(_ id: Int32? = nil) throws(KafkaError) {
        try check(rd_kafka_mock_broker_set_down(cluster, id ?? -1), "taking mock broker \(id.map(String.init) ?? "all") down")
    }

    /// Lets broker `id` (every broker with `nil`) accept connections again.
    /// - Throws: ``KafkaError`` from the mock cluster.
    public func setBrokerUp(_ id: Int32? = nil) throws(KafkaError) {
        try check(rd_kafka_mock_broker_set_up(cluster, id ?? -1), "bringing mock broker \(id.map(String.init) ?? "all") up")
    }
}
