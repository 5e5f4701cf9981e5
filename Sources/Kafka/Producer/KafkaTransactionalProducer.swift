import CRdKafka
import Dispatch
import Logging
import Locking

/// A producer for exactly-once read-process-write: records sent between
/// ``beginTransaction()`` and ``commitTransaction(timeout:)`` become visible to
/// `read_committed` consumers together with the consumer offsets sent through
/// ``sendOffsetsToTransaction(_:groupMetadata:timeout:)``, or not at all.
///
/// Errors: a ``KafkaError`` with ``KafkaError/requiresTransactionAbort`` means: call
/// ``abortTransaction(timeout:)`` and retry the batch. A fatal error (e.g. fencing by a
/// newer instance with the same `transactional.id`) makes every later call throw it;
/// close this instance and create a new one.
public final class KafkaTransactionalProducer: Sendable {
    /// The underlying producer, for ``KafkaProducer/send(_:)`` inside a transaction.
    public let producer: KafkaProducer
    private let queue = DispatchQueue(label: "kafka-transactions")
    private let fatalError = LockedValue<KafkaError?>(nil)

    /// Creates a transactional (and therefore idempotent) producer.
    /// - Parameters:
    ///   - transactionalID: identifies this producer across restarts; a new instance
    ///     with the same id fences the old one.
    ///   - transactionTimeout: the broker aborts a transaction open longer than this.
    /// - Throws: ``KafkaError`` naming a property librdkafka rejects.
    public init(
        configuration: KafkaProducerConfiguration,
        transactionalID: String,
        transactionTimeout: Duration = .seconds(60),
        logger: Logger
    ) throws(KafkaError) {
        producer = try KafkaProducer(
            configuration: configuration,
            properties: configuration.librdkafkaProperties(transactionalID: transactionalID, transactionTimeout: transactionTimeout),
            logger: logger
        )
    }

    /// Registers with the transaction coordinator, fencing older instances and finishing
    /// their open transactions. Call once before the first transaction.
    /// - Throws: ``KafkaError`` (fatal ones are remembered).
    public func initTransactions(timeout: Duration = .seconds(30)) async throws(KafkaError) {
        try await call { rk in rd_kafka_init_transactions(rk, timeout.wholeMilliseconds) }
    }

    /// Starts a transaction.
    /// - Throws: ``KafkaError`` (e.g. `_STATE` when one is already open).
    public func beginTransaction() async throws(KafkaError) {
        try await call { rk in rd_kafka_begin_transaction(rk) }
    }

    /// Adds consumer offsets (next offset to read, per partition) to the open transaction,
    /// so they commit if and only if the transaction does.
    /// - Parameter groupMetadata: from ``KafkaConsumer/groupMetadata()``.
    /// - Throws: ``KafkaError``; with `requiresTransactionAbort` abort and retry.
    public func sendOffsetsToTransaction(
        _ offsets: [KafkaTopicPartition: Int64],
        groupMetadata: KafkaConsumerGroupMetadata,
        timeout: Duration = .seconds(30)
    ) async throws(KafkaError) {
        let entries = offsets.sorted { $0.key < $1.key }.map { ($0.key, Optional($0.value)) }
        try await call { rk in
            let list = PartitionList(entries)
            return rd_kafka_send_offsets_to_transaction(rk, list.pointer, groupMetadata.pointer, timeout.wholeMilliseconds)
        }
    }

    /// Flushes the transaction's records and commits it.
    /// - Throws: ``KafkaError``; with `requiresTransactionAbort` abort and retry, if
    ///   retriable call commit again.
    public func commitTransaction(timeout: Duration = .seconds(30)) async throws(KafkaError) {
        try await call { rk in rd_kafka_commit_transaction(rk, timeout.wholeMilliseconds) }
    }

    /// Aborts the open transaction: its records are never visible to `read_committed`
    /// consumers and its offsets are not committed.
    /// - Throws: ``KafkaError``.
    public func abortTransaction(timeout: Duration = .seconds(30)) async throws(KafkaError) {
        try await call { rk in rd_kafka_abort_transaction(rk, timeout.wholeMilliseconds) }
    }

    /// Closes the producer; see ``KafkaProducer/close(flushTimeout:)``.
    @discardableResult
    public func close(flushTimeout: Duration = .seconds(10)) async -> Int {
        await producer.close(flushTimeout: flushTimeout)
    }

    private func call(_ body: @escaping @Sendable (OpaquePointer) -> OpaquePointer?) async throws(KafkaError) {
        let handle = producer.handle
        try await runBlocking(on: queue) { [self] () throws(KafkaError) in
            if let fatal = fatalError.withLock({ $0 }) { throw fatal }
            guard let error = body(handle.pointer) else { return }
            var failure = KafkaError(consuming: error)
            if failure.isFenced, !failure.isFatal {
                failure = KafkaError(code: rd_kafka_resp_err_t(rawValue: failure.code), text: failure.text, isFatal: true)
            }
            if failure.isFatal {
                let fatal = failure
                fatalError.withLock { $0 = fatal }
                producer.logger.critical("transactional producer failed fatally", metadata: ["error": "\(fatal)"])
            }
            throw failure
        }
    }
}
