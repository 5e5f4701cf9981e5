import CRdKafka
import Logging
import Synchronization

/// librdkafka's version, e.g. `2.0.2`.
public let librdkafkaVersion: String = rd_kafka_version_str().map { String(cString: $0) } ?? "unknown"

/// Versions older than this mis-parse ApiVersions tagged fields from some brokers.
let recommendedMinimumVersion: Int32 = 0x0202_00FF

private let versionLogged = Atomic<Bool>(false)

/// Per-client state reachable from librdkafka's C callbacks through the instance opaque.
final class CallbackContext: Sendable {
    let logger: Logger
    /// Called for `RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS` / `__ASSIGN_PARTITIONS` (consumers).
    let rebalance: (@Sendable (OpaquePointer, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> Void)?
    /// Called with the result of an asynchronous offset commit (consumers).
    let offsetCommit: (@Sendable (rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) -> Void)?
    /// Called with every error librdkafka reports through its error callback (after it
    /// is logged): a broker that cannot be reached, a response that cannot be read.
    let error: (@Sendable (KafkaError) -> Void)?

    init(
        logger: Logger,
        rebalance: (@Sendable (OpaquePointer, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> Void)? = nil,
        offsetCommit: (@Sendable (rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) -> Void)? = nil,
        error: (@Sendable (KafkaError) -> Void)? = nil
    ) {
        self.logger = logger
        self.rebalance = rebalance
        self.offsetCommit = offsetCommit
        self.error = error
    }

    static func from(_ handle: OpaquePointer?) -> CallbackContext? {
        guard let handle, let opaque = rd_kafka_opaque(handle) else { return nil }
        return Unmanaged<CallbackContext>.fromOpaque(opaque).takeUnretainedValue()
    }
}

/// An `rd_kafka_t` pointer that may cross threads (librdkafka's API is thread-safe).
struct RdKafkaHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}

/// Creates `rd_kafka_t` instances: applies properties (naming any that librdkafka
/// rejects), routes logs and errors to swift-log, and logs librdkafka's version once.
enum ClientFactory {
    /// Creates a client.
    /// - Throws: ``KafkaError`` naming the property librdkafka rejects, or the creation error.
    static func make(
        type: rd_kafka_type_t,
        properties: [(String, String)],
        context: CallbackContext,
        configure: (OpaquePointer) -> Void = { _ in }
    ) throws(KafkaError) -> RdKafkaHandle {
        logVersionOnce(context.logger)
        guard let conf = rd_kafka_conf_new() else {
            throw KafkaError(code: RD_KAFKA_RESP_ERR__CRIT_SYS_RESOURCE, text: "rd_kafka_conf_new failed")
        }
        var errorText = ErrorBuffer()
        for (key, value) in properties {
            let result = rd_kafka_conf_set(conf, key, value, &errorText.bytes, errorText.bytes.count)
            guard result == RD_KAFKA_CONF_OK else {
                rd_kafka_conf_destroy(conf)
                let reason = errorText.text
                let kind = result == RD_KAFKA_CONF_UNKNOWN ? "unknown configuration property" : "invalid value for configuration property"
                throw KafkaError(
                    code: RD_KAFKA_RESP_ERR__INVALID_ARG,
                    text: "\(kind) '\(key)' (value \(KafkaConfiguration.displayValue(key, value))): \(reason)",
                    property: key
                )
            }
        }
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(context).toOpaque())
        rd_kafka_conf_set_log_cb(conf) { handle, level, facility, message in
            guard let context = CallbackContext.from(handle) else { return }
            let text = message.map { String(cString: $0) } ?? ""
            let facilityText = facility.map { String(cString: $0) } ?? ""
            context.logger.log(
                level: logLevel(syslog: level),
                "\(text)",
                metadata: ["librdkafka.facility": .string(facilityText)],
                source: "librdkafka"
            )
        }
        rd_kafka_conf_set_error_cb(conf) { handle, code, reason, _ in
            guard let context = CallbackContext.from(handle) else { return }
            let error = KafkaError(code: rd_kafka_resp_err_t(rawValue: code), text: reason.map { String(cString: $0) })
            let level: Logger.Level = Int32(RD_KAFKA_RESP_ERR__FATAL.rawValue) == code ? .critical : .warning
            context.logger.log(level: level, "librdkafka error", metadata: ["error": .string(error.description)])
            context.error?(error)
        }
        configure(conf)
        guard let handle = rd_kafka_new(type, conf, &errorText.bytes, errorText.bytes.count) else {
            rd_kafka_conf_destroy(conf)
            throw KafkaError(code: RD_KAFKA_RESP_ERR__INVALID_ARG, text: "cannot create Kafka client: \(errorText.text)")
        }
        return RdKafkaHandle(pointer: handle)
    }

    static func logVersionOnce(_ logger: Logger) {
        guard versionLogged.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
        if rd_kafka_version() < recommendedMinimumVersion {
            logger.warning(
                "librdkafka \(librdkafkaVersion) is older than 2.2 and mis-parses ApiVersions tagged fields from some brokers; upgrade if metadata requests fail",
                metadata: ["librdkafka.version": .string(librdkafkaVersion)]
            )
        } else {
            logger.info("using librdkafka \(librdkafkaVersion)", metadata: ["librdkafka.version": .string(librdkafkaVersion)])
        }
    }
}

/// syslog level (0 emergency ... 7 debug) to swift-log.
func logLevel(syslog: Int32) -> Logger.Level {
    switch syslog {
    case ...2: .critical
    case 3: .error
    case 4: .warning
    case 5: .notice
    case 6: .info
    default: .debug
    }
}
