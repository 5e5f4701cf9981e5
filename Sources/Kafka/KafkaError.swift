import CRdKafka

/// The one error type of this module: librdkafka's error code, its symbolic name and a
/// human-readable text, plus the flags librdkafka attaches to an error.
///
/// Configuration problems carry the offending property in ``property`` (its value is
/// never included when the property holds a secret).
public struct KafkaError: Error, Sendable, Hashable, CustomStringConvertible {
    /// librdkafka's numeric error code (`rd_kafka_resp_err_t`; negative codes are local).
    public let code: Int32
    /// librdkafka's symbolic name of the code, e.g. `_MSG_TIMED_OUT`, `TOPIC_ALREADY_EXISTS`.
    public let name: String
    /// What went wrong, in words.
    public let text: String
    /// The client instance is unusable after this error and must be closed and recreated
    /// (e.g. a fenced transactional producer, a fatal idempotence error).
    public let isFatal: Bool
    /// Retrying the same operation may succeed.
    public let isRetriable: Bool
    /// The current transaction must be aborted before the producer can continue.
    public let requiresTransactionAbort: Bool
    /// The configuration property this error is about, when it is a configuration error.
    public let property: String?

    init(
        code: rd_kafka_resp_err_t,
        text: String? = nil,
        isFatal: Bool = false,
        isRetriable: Bool = false,
        requiresTransactionAbort: Bool = false,
        property: String? = nil
    ) {
        self.code = Int32(code.rawValue)
        self.name = rd_kafka_err2name(code).map { String(cString: $0) } ?? "UNKNOWN"
        let defaultText = rd_kafka_err2str(code).map { String(cString: $0) } ?? "unknown error"
        self.text = text.flatMap { $0.isEmpty ? nil : $0 } ?? defaultText
        self.isFatal = isFatal
        self.isRetriable = isRetriable
        self.requiresTransactionAbort = requiresTransactionAbort
        self.property = property
    }

    /// Takes over an `rd_kafka_error_t` (destroying it).
    init(consuming error: OpaquePointer) {
        defer { rd_kafka_error_destroy(error) }
        self.init(
            code: rd_kafka_error_code(error),
            text: rd_kafka_error_string(error).map { String(cString: $0) },
            isFatal: rd_kafka_error_is_fatal(error) != 0,
            isRetriable: rd_kafka_error_is_retriable(error) != 0,
            requiresTransactionAbort: rd_kafka_error_txn_requires_abort(error) != 0
        )
    }

    /// The client's fatal error, if it has one.
    static func fatal(of handle: OpaquePointer) -> KafkaError? {
        var buffer = ErrorBuffer()
        let code = rd_kafka_fatal_error(handle, &buffer.bytes, buffer.bytes.count)
        guard code != RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        return KafkaError(code: code, text: buffer.text, isFatal: true)
    }

    /// A producer or transaction was fenced by a newer instance with the same
    /// `transactional.id`; the instance must be closed.
    public var isFenced: Bool {
        [RD_KAFKA_RESP_ERR__FENCED, RD_KAFKA_RESP_ERR_PRODUCER_FENCED, RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH]
            .contains { Int32($0.rawValue) == code }
    }

    /// An operation did not finish within its deadline.
    public var isTimeout: Bool {
        [RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT]
            .contains { Int32($0.rawValue) == code }
    }

    /// Builds an error from a librdkafka error code.
    static func code(_ code: rd_kafka_resp_err_t, _ text: String? = nil) -> KafkaError {
        KafkaError(code: code, text: text)
    }

    /// The client was already closed.
    static let closed = KafkaError(code: RD_KAFKA_RESP_ERR__DESTROY, text: "the Kafka client is closed")

    public var description: String {
        var result = "KafkaError \(name) (\(code)): \(text)"
        if isFatal { result += " [fatal]" }
        if requiresTransactionAbort { result += " [transaction must be aborted]" }
        return result
    }
}

/// Throws the `rd_kafka_error_t` when non-nil.
func check(_ error: OpaquePointer?) throws(KafkaError) {
    if let error { throw KafkaError(consuming: error) }
}

/// Throws when `code` is not `NO_ERROR`.
func check(_ code: rd_kafka_resp_err_t, _ context: @autoclosure () -> String? = nil) throws(KafkaError) {
    guard code != RD_KAFKA_RESP_ERR_NO_ERROR else { return }
    let base = rd_kafka_err2str(code).map { String(cString: $0) } ?? ""
    throw KafkaError(code: code, text: context().map { "\($0): \(base)" })
}

/// A librdkafka error-text buffer.
struct ErrorBuffer {
    var bytes = [CChar](repeating: 0, count: 512)

    var text: String {
        bytes.withUnsafeBufferPointer { buffer in buffer.baseAddress.map { String(cString: $0) } ?? "" }
    }
}
