import CRdKafka

extension KafkaAdmin {
    /// The offsets a consumer group has committed (the next offset each member would
    /// read) for `partitions`, asked from the group's coordinator. Read-only: it does not
    /// join the group, so it can watch a group while its members work, or after they left.
    ///
    /// - Returns: committed offset per partition; partitions the group never committed
    ///   for are left out.
    /// - Throws: ``KafkaError`` for the group (e.g. `GROUP_AUTHORIZATION_FAILED`), or the
    ///   request error (e.g. `_TIMED_OUT` when no coordinator answers within `timeout`),
    ///   or `_DESTROY` after ``close()``.
    public func committedOffsets(
        group: String,
        partitions: [KafkaTopicPartition],
        timeout: Duration = .seconds(10)
    ) async throws(KafkaError) -> [KafkaTopicPartition: Int64] {
        try await request(RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS, timeout: timeout) { rk, options, resultQueue throws(KafkaError) in
            let list = PartitionList(partitions)
            var requests: [OpaquePointer?] = [rd_kafka_ListConsumerGroupOffsets_new(group, list.pointer)]
            defer { rd_kafka_ListConsumerGroupOffsets_destroy_array(&requests, requests.count) }
            rd_kafka_ListConsumerGroupOffsets(rk, &requests, requests.count, options, resultQueue)
        } result: { event throws(KafkaError) -> [KafkaTopicPartition: Int64] in
            var count = 0
            guard let groups = rd_kafka_ListConsumerGroupOffsets_result_groups(
                rd_kafka_event_ListConsumerGroupOffsets_result(event), &count
            ) else { return [:] }
            var offsets: [KafkaTopicPartition: Int64] = [:]
            for index in 0..<count {
                guard let result = groups[index] else { continue }
                if let error = rd_kafka_group_result_error(result) {
                    let code = rd_kafka_error_code(error)
                    let text = rd_kafka_error_string(error).map { String(cString: $0) }
                    throw KafkaError(code: code, text: "committed offsets of group \(group): \(text ?? KafkaError(code: code).text)")
                }
                guard let partitions = rd_kafka_group_result_partitions(result) else { continue }
                for entry in PartitionList.entries(of: UnsafeMutablePointer(mutating: partitions))
                where entry.error == RD_KAFKA_RESP_ERR_NO_ERROR && entry.offset >= 0 {
                    offsets[entry.topicPartition] = entry.offset
                }
            }
            return offsets
        }
    }
}
