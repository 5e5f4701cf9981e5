import CRdKafka

extension KafkaError {
    /// The cluster (or the client, before sending) refused this record for what it is or
    /// where it goes, so sending the same record to the same topic again fails the same
    /// way: it is too large, invalid, its topic or partition does not exist, or writing
    /// to the topic is not allowed. Transport errors and timeouts are not rejections.
    public var isRecordRejection: Bool {
        [
            RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE, RD_KAFKA_RESP_ERR_INVALID_RECORD,
            RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR_POLICY_VIOLATION,
            RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION,
            RD_KAFKA_RESP_ERR__INVALID_ARG,
        ].contains { Int32($0.rawValue) == code }
    }
}
