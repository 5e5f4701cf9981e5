import CRdKafka
import Dispatch
import Logging
import Locking

/// A topic to create.
public struct KafkaTopicSpecification: Sendable, Hashable {
    /// Topic name.
    public var name: String
    /// Number of partitions.
    public var partitions: Int32
    /// Copies of each partition.
    public var replicationFactor: Int32
    /// Topic configs, e.g. `["cleanup.policy": "compact", "retention.ms": "86400000"]`.
    public var configs: [String: String]

    /// Creates a topic specification.
    public init(name: String, partitions: Int32, replicationFactor: Int32 = 1, configs: [String: String] = [:]) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.configs = configs
    }
}

/// A partition as the cluster's metadata describes it.
public struct KafkaPartitionDescription: Sendable, Hashable {
    /// Partition number.
    public let id: Int32
    /// Broker id of the leader (`-1` when leaderless).
    public let leader: Int32
    /// Broker ids holding a copy.
    public let replicas: [Int32]
    /// Broker ids in sync with the leader.
    public let inSyncReplicas: [Int32]
}

/// A topic as the cluster describes it.
public struct KafkaTopicDescription: Sendable, Hashable {
    /// Topic name.
    public let name: String
    /// Its partitions, by id.
    public let partitions: [KafkaPartitionDescription]
    /// Its configs that differ from the broker defaults (sensitive values omitted).
    public let configs: [String: String]
}

/// Topic administration: create, delete, list, describe.
///
/// Each call waits for the cluster's answer on a Dispatch queue, never on the
/// cooperative pool.
public final class KafkaAdmin: Sendable {
    private let handle: RdKafkaHandle
    private let context: CallbackContext
    /// Runs every request, then the release. Serial: Dispatch's concurrent queues share
    /// a pool as wide as the machine's cores, which a few slow answers would fill; and the
    /// handle stays valid while a request on it runs.
    private let queue = DispatchQueue(label: "kafka-admin")
    private let isOpen = LockedValue(true)

    /// Creates an admin client.
    /// - Throws: ``KafkaError`` naming a property librdkafka rejects.
    public init(configuration: KafkaConfiguration, logger: Logger) throws(KafkaError) {
        context = CallbackContext(logger: logger)
        handle = try ClientFactory.make(
            type: RD_KAFKA_PRODUCER,
            properties: configuration.librdkafkaProperties() + configuration.properties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
            context: context
        )
    }

    deinit { close() }

    /// Releases the client once the requests already made are answered, without waiting
    /// for it; calls made afterwards fail with `_DESTROY`. Calling it again does nothing.
    public func close() {
        let wasOpen = isOpen.withLock { open in
            defer { open = false }
            return open
        }
        guard wasOpen else { return }
        let (handle, context) = (handle, context)
        // On the request queue: after the requests already queued, never during one.
        queue.async {
            rd_kafka_destroy(handle.pointer)
            // The callbacks reach the context through librdkafka until destroy returns.
            withExtendedLifetime(context) {}
        }
    }

    /// Creates topics.
    /// - Parameter ignoreExisting: treat `TOPIC_ALREADY_EXISTS` as success.
    /// - Throws: the first per-topic ``KafkaError`` (its text names the topic), or the
    ///   request error (e.g. `_TIMED_OUT` when no broker answers within `timeout`).
    public func createTopics(
        _ topics: [KafkaTopicSpecification],
        ignoreExisting: Bool = false,
        timeout: Duration = .seconds(30)
    ) async throws(KafkaError) {
        try await request(RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout: timeout) { rk, options, resultQueue throws(KafkaError) in
            var errorText = ErrorBuffer()
            var newTopics: [OpaquePointer?] = []
            defer { newTopics.forEach { rd_kafka_NewTopic_destroy($0) } }
            for topic in topics {
                guard let newTopic = rd_kafka_NewTopic_new(
                    topic.name, topic.partitions, topic.replicationFactor, &errorText.bytes, errorText.bytes.count
                ) else {
                    throw KafkaError(code: RD_KAFKA_RESP_ERR__INVALID_ARG, text: "topic \(topic.name): \(errorText.text)")
                }
                newTopics.append(newTopic)
                for (name, value) in topic.configs.sorted(by: { $0.key < $1.key }) {
                    try check(rd_kafka_NewTopic_set_config(newTopic, name, value), "topic \(topic.name) config \(name)")
                }
            }
            rd_kafka_CreateTopics(rk, &newTopics, newTopics.count, options, resultQueue)
        } result: { event throws(KafkaError) in
            var count = 0
            let results = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event), &count)
            try Self.checkTopicResults(results, count: count, ignoring: ignoreExisting ? RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS : nil)
        }
    }

    /// Deletes topics.
    /// - Parameter ignoreMissing: treat `UNKNOWN_TOPIC_OR_PART` as success.
    /// - Throws: the first per-topic ``KafkaError``, or the request error.
    public func deleteTopics(_ names: [String], ignoreMissing: Bool = false, timeout: Duration = .seconds(30)) async throws(KafkaError) {
        try await request(RD_KAFKA_ADMIN_OP_DELETETOPICS, timeout: timeout) { rk, options, resultQueue throws(KafkaError) in
            var deletions: [OpaquePointer?] = names.map { rd_kafka_DeleteTopic_new($0) }
            defer { deletions.forEach { rd_kafka_DeleteTopic_destroy($0) } }
            rd_kafka_DeleteTopics(rk, &deletions, deletions.count, options, resultQueue)
        } result: { event throws(KafkaError) in
            var count = 0
            let results = rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(event), &count)
            try Self.checkTopicResults(results, count: count, ignoring: ignoreMissing ? RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART : nil)
        }
    }

    private static func checkTopicResults(_ results: UnsafeMutablePointer<OpaquePointer?>?, count: Int, ignoring ignored: rd_kafka_resp_err_t?) throws(KafkaError) {
        guard let results else { return }
        for index in 0..<count {
            guard let result = results[index] else { continue }
            let code = rd_kafka_topic_result_error(result)
            guard code != RD_KAFKA_RESP_ERR_NO_ERROR, code != ignored else { continue }
            let name = rd_kafka_topic_result_name(result).map { String(cString: $0) } ?? "?"
            let text = rd_kafka_topic_result_error_string(result).map { String(cString: $0) } ?? KafkaError(code: code).text
            throw KafkaError(code: code, text: "topic \(name): \(text)")
        }
    }

    /// Names of all topics in the cluster (internal topics excluded), sorted.
    /// - Throws: ``KafkaError`` (e.g. `_TRANSPORT`/`_TIMED_OUT` when no broker answers).
    public func listTopics(timeout: Duration = .seconds(30)) async throws(KafkaError) -> [String] {
        try await metadata(timeout: timeout).map(\.name).filter { !$0.hasPrefix("__") }.sorted()
    }

    /// Describes topics: partitions with leaders and replicas, and non-default configs.
    /// - Throws: ``KafkaError`` `UNKNOWN_TOPIC_OR_PART` naming a topic that does not exist,
    ///   or the request error.
    public func describeTopics(_ names: [String], timeout: Duration = .seconds(30)) async throws(KafkaError) -> [KafkaTopicDescription] {
        let known = try await metadata(timeout: timeout)
        var result: [KafkaTopicDescription] = []
        for name in names {
            guard let topic = known.first(where: { $0.name == name }) else {
                throw KafkaError(code: RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, text: "topic \(name) does not exist")
            }
            let configs = try await describeConfigs(topic: name, timeout: timeout)
            result.append(KafkaTopicDescription(name: name, partitions: topic.partitions, configs: configs))
        }
        return result
    }

    /// The low and high watermark of every partition of `topic`, asked from the partition
    /// leaders: `low` is the oldest retained offset, `high` the offset the next record will
    /// get, so `high - low` records are retained (control records of transactions included).
    /// - Throws: ``KafkaError`` `UNKNOWN_TOPIC_OR_PART` when the topic does not exist, or the
    ///   request error (e.g. `_TIMED_OUT`).
    public func watermarks(of topic: String, timeout: Duration = .seconds(30)) async throws(KafkaError) -> [KafkaTopicPartition: (low: Int64, high: Int64)] {
        guard let partitions = try await metadata(timeout: timeout).first(where: { $0.name == topic })?.partitions else {
            throw KafkaError(code: RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, text: "topic \(topic) does not exist")
        }
        return try await runBlocking(on: queue) { [self] () throws(KafkaError) -> [KafkaTopicPartition: (low: Int64, high: Int64)] in
            guard isOpen.withLock({ $0 }) else { throw KafkaError.closed }
            var result: [KafkaTopicPartition: (low: Int64, high: Int64)] = [:]
            for partition in partitions {
                var low: Int64 = 0
                var high: Int64 = 0
                try check(
                    rd_kafka_query_watermark_offsets(handle.pointer, topic, partition.id, &low, &high, timeout.wholeMilliseconds),
                    "watermarks of \(topic)[\(partition.id)]")
                result[KafkaTopicPartition(topic: topic, partition: partition.id)] = (low, high)
            }
            return result
        }
    }

    private struct TopicMetadata: Sendable {
        let name: String
        let partitions: [KafkaPartitionDescription]
    }

    private func metadata(timeout: Duration) async throws(KafkaError) -> [TopicMetadata] {
        try await runBlocking(on: queue) { [self] () throws(KafkaError) -> [TopicMetadata] in
            guard isOpen.withLock({ $0 }) else { throw KafkaError.closed }
            var pointer: UnsafePointer<rd_kafka_metadata>?
            let code = rd_kafka_metadata(handle.pointer, 1, nil, &pointer, timeout.wholeMilliseconds)
            guard code == RD_KAFKA_RESP_ERR_NO_ERROR, let pointer else {
                throw KafkaError(code: code, text: "metadata request failed: \(KafkaError(code: code).text)")
            }
            defer { rd_kafka_metadata_destroy(pointer) }
            let metadata = pointer.pointee
            return (0..<Int(metadata.topic_cnt)).compactMap { index -> TopicMetadata? in
                guard let topic = metadata.topics?[index], topic.err == RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
                let partitions = (0..<Int(topic.partition_cnt)).compactMap { index -> KafkaPartitionDescription? in
                    guard let partition = topic.partitions?[index] else { return nil }
                    return KafkaPartitionDescription(
                        id: partition.id,
                        leader: partition.leader,
                        replicas: (0..<Int(partition.replica_cnt)).compactMap { partition.replicas?[$0] },
                        inSyncReplicas: (0..<Int(partition.isr_cnt)).compactMap { partition.isrs?[$0] }
                    )
                }.sorted { $0.id < $1.id }
                return TopicMetadata(name: String(cString: topic.topic), partitions: partitions)
            }
        }
    }

    private func describeConfigs(topic: String, timeout: Duration) async throws(KafkaError) -> [String: String] {
        try await request(RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeout: timeout) { rk, options, resultQueue throws(KafkaError) in
            var resources: [OpaquePointer?] = [rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic)]
            defer { resources.forEach { rd_kafka_ConfigResource_destroy($0) } }
            rd_kafka_DescribeConfigs(rk, &resources, resources.count, options, resultQueue)
        } result: { event throws(KafkaError) -> [String: String] in
            var count = 0
            guard let resources = rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(event), &count) else { return [:] }
            var configs: [String: String] = [:]
            for index in 0..<count {
                guard let resource = resources[index] else { continue }
                let code = rd_kafka_ConfigResource_error(resource)
                if code != RD_KAFKA_RESP_ERR_NO_ERROR {
                    let text = rd_kafka_ConfigResource_error_string(resource).map { String(cString: $0) }
                    throw KafkaError(code: code, text: "describing configs of \(topic): \(text ?? KafkaError(code: code).text)")
                }
                var entryCount = 0
                guard let entries = rd_kafka_ConfigResource_configs(resource, &entryCount) else { continue }
                for entryIndex in 0..<entryCount {
                    guard let entry = entries[entryIndex],
                          rd_kafka_ConfigEntry_is_default(entry) == 0,
                          rd_kafka_ConfigEntry_is_sensitive(entry) == 0,
                          let name = rd_kafka_ConfigEntry_name(entry),
                          let value = rd_kafka_ConfigEntry_value(entry)
                    else { continue }
                    configs[String(cString: name)] = String(cString: value)
                }
            }
            return configs
        }
    }

    /// Runs one admin request: `start` issues it on a fresh result queue, `result` reads
    /// the result event.
    func request<T: Sendable>(
        _ operation: rd_kafka_admin_op_t,
        timeout: Duration,
        start: @escaping @Sendable (OpaquePointer, OpaquePointer?, OpaquePointer?) throws(KafkaError) -> Void,
        result: @escaping @Sendable (OpaquePointer) throws(KafkaError) -> T
    ) async throws(KafkaError) -> T {
        try await runBlocking(on: queue) { [self] () throws(KafkaError) -> T in
            guard isOpen.withLock({ $0 }) else { throw KafkaError.closed }
            let rk = handle.pointer
            let resultQueue = rd_kafka_queue_new(rk)
            defer { rd_kafka_queue_destroy(resultQueue) }
            let options = rd_kafka_AdminOptions_new(rk, operation)
            defer { rd_kafka_AdminOptions_destroy(options) }
            var errorText = ErrorBuffer()
            _ = rd_kafka_AdminOptions_set_request_timeout(options, timeout.wholeMilliseconds, &errorText.bytes, errorText.bytes.count)
            _ = rd_kafka_AdminOptions_set_operation_timeout(options, timeout.wholeMilliseconds, &errorText.bytes, errorText.bytes.count)
            try start(rk, options, resultQueue)
            // librdkafka answers with a (timed-out) result itself; the margin is a safety net.
            guard let event = rd_kafka_queue_poll(resultQueue, timeout.wholeMilliseconds &+ 5_000) else {
                throw KafkaError(code: RD_KAFKA_RESP_ERR__TIMED_OUT, text: "admin request got no answer within \(timeout)")
            }
            defer { rd_kafka_event_destroy(event) }
            let code = rd_kafka_event_error(event)
            guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
                let text = rd_kafka_event_error_string(event).map { String(cString: $0) }
                throw KafkaError(code: code, text: text)
            }
            return try result(event)
        }
    }
}
