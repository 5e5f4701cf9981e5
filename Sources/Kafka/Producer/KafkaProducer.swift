import CRdKafka
import Dispatch
import Logging
import Locking

/// A record to produce.
public struct KafkaProducerRecord: Sendable, Hashable {
    /// Destination topic.
    public var topic: String
    /// Destination partition; `nil` lets the partitioner choose (by key hash when keyed).
    public var partition: Int32?
    /// Key bytes, or `nil`.
    public var key: [UInt8]?
    /// Value bytes, or `nil` for a tombstone.
    public var value: [UInt8]?
    /// Headers (binary values allowed).
    public var headers: [KafkaHeader]

    /// Creates a record.
    public init(topic: String, partition: Int32? = nil, key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader] = []) {
        self.topic = topic
        self.partition = partition
        self.key = key
        self.value = value
        self.headers = headers
    }
}

/// Where the broker stored an acknowledged record.
public struct KafkaDeliveryReport: Sendable, Hashable {
    /// Topic.
    public let topic: String
    /// Partition the record went to.
    public let partition: Int32
    /// Offset the broker assigned (`-1` if the broker did not return one).
    public let offset: Int64
}

/// Waits for one record's delivery report; carried through librdkafka as the
/// per-message opaque (retained while the record is in flight).
private final class DeliveryWaiter: Sendable {
    /// Who hears of the delivery.
    enum Target: Sendable {
        case callback(@Sendable (Result<KafkaDeliveryReport, KafkaError>) -> Void)
        /// Record `index` of a ``KafkaProducer/send(_:)-([KafkaProducerRecord])`` batch:
        /// no closure (an allocation of its own) per record.
        case batch(DeliveryBatch, index: Int)
    }

    let target: Target
    let permits: AsyncPermits
    /// The record's topic (saves reading it back from librdkafka per report).
    let topic: String

    init(topic: String, permits: AsyncPermits, target: Target) {
        self.topic = topic
        self.permits = permits
        self.target = target
    }

    func finish(_ result: Result<KafkaDeliveryReport, KafkaError>) {
        permits.release()
        switch target {
        case .callback(let completion): completion(result)
        case .batch(let batch, let index): batch.complete(index, result.mapError { $0 })
        }
    }
}

/// Collects the delivery results of one ``KafkaProducer/send(_:)-([KafkaProducerRecord])``
/// batch and wakes its caller once the last one arrived.
private final class DeliveryBatch: Sendable {
    private struct State {
        var results: [Result<KafkaDeliveryReport, any Error>?]
        var remaining: Int
        var waiter: CheckedContinuation<[Result<KafkaDeliveryReport, any Error>], Never>?
    }

    private let state: LockedValue<State>

    init(count: Int) {
        state = LockedValue(State(results: Array(repeating: nil, count: count), remaining: count))
    }

    /// Records the result of record `index`; called once per record, from any thread.
    func complete(_ index: Int, _ result: Result<KafkaDeliveryReport, any Error>) {
        let finished: (CheckedContinuation<[Result<KafkaDeliveryReport, any Error>], Never>, [Result<KafkaDeliveryReport, any Error>])? =
            state.withLock { state in
                state.results[index] = result
                state.remaining -= 1
                guard state.remaining == 0, let waiter = state.waiter else { return nil }
                state.waiter = nil
                return (waiter, state.results.compactMap { $0 })
            }
        if let (waiter, results) = finished { waiter.resume(returning: results) }
    }

    /// Waits until every record has its result.
    func results() async -> [Result<KafkaDeliveryReport, any Error>] {
        await withCheckedContinuation { continuation in
            let ready: [Result<KafkaDeliveryReport, any Error>]? = state.withLock { state in
                if state.remaining == 0 { return state.results.compactMap { $0 } }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

/// A Kafka producer: idempotent by default, `send` returns after the broker
/// acknowledged the record, in-flight records are bounded (callers wait instead of
/// growing a queue), and ``close(flushTimeout:)`` flushes with a deadline.
///
/// Delivery reports are served by a dedicated thread, never the cooperative pool.
public final class KafkaProducer: Sendable {
    let handle: RdKafkaHandle
    private let context: CallbackContext
    private let permits: AsyncPermits
    private let poller: PollingThread
    private let blockingQueue: DispatchQueue
    private let isOpen = LockedValue(true)
    let logger: Logger

    /// Creates a producer.
    /// - Throws: ``KafkaError`` naming a property librdkafka rejects.
    public convenience init(configuration: KafkaProducerConfiguration, logger: Logger) throws(KafkaError) {
        try self.init(configuration: configuration, properties: configuration.librdkafkaProperties(), logger: logger)
    }

    init(configuration: KafkaProducerConfiguration, properties: [(String, String)], logger: Logger) throws(KafkaError) {
        self.logger = logger
        context = CallbackContext(logger: logger)
        permits = AsyncPermits(capacity: configuration.maxInFlight)
        handle = try ClientFactory.make(type: RD_KAFKA_PRODUCER, properties: properties, context: context) { conf in
            rd_kafka_conf_set_dr_msg_cb(conf) { _, message, _ in
                guard let message, let opaque = message.pointee._private else { return }
                let waiter = Unmanaged<DeliveryWaiter>.fromOpaque(opaque).takeRetainedValue()
                let raw = message.pointee
                if raw.err == RD_KAFKA_RESP_ERR_NO_ERROR {
                    waiter.finish(.success(KafkaDeliveryReport(topic: waiter.topic, partition: raw.partition, offset: raw.offset)))
                } else {
                    // Not rd_kafka_message_errstr: for a failed delivery it returns the
                    // record's own payload, which is not NUL-terminated.
                    waiter.finish(.failure(KafkaError(code: raw.err, text: String(cString: rd_kafka_err2str(raw.err)))))
                }
            }
        }
        let pointer = handle
        poller = PollingThread(name: "kafka-producer-poll") { _ = rd_kafka_poll(pointer.pointer, 100) }
        blockingQueue = DispatchQueue(label: "kafka-producer-blocking")
        logger.debug("producer created", metadata: ["configuration": .string(configuration.description)])
    }

    deinit {
        guard isOpen.withLock({ $0 }) else { return }
        // Destroying blocks until librdkafka's threads end; the releasing thread may be
        // one of the cooperative pool's few, so it happens on the producer's own queue.
        let (handle, poller, context, logger) = (handle, poller, context, logger)
        blockingQueue.async {
            Self.release(handle.pointer, poller: poller, logger: logger, flushMilliseconds: 0)
            withExtendedLifetime(context) {}
        }
    }

    /// Sends a record and returns once the broker acknowledged it. Waits first while
    /// `maxInFlight` records are unacknowledged.
    /// - Throws: the delivery error (e.g. `_MSG_TIMED_OUT` when no broker took it within
    ///   `messageTimeout`), an enqueue error (unknown partition, record too large),
    ///   ``KafkaError`` `_DESTROY` after close, or `CancellationError` while waiting for a slot.
    public func send(_ record: KafkaProducerRecord) async throws -> KafkaDeliveryReport {
        // A batch of one (one way to wait for delivery reports); it always has one result.
        try await send([record])[0].get()
    }

    /// Sends every record, in order, and returns once each was acknowledged or failed:
    /// one suspension for the whole batch instead of one task and one continuation per
    /// record. Waits first for an in-flight slot per record, as ``send(_:)`` does.
    /// - Returns: one result per record, in order: its delivery report, or its error — the
    ///   delivery error, the enqueue error, ``KafkaError`` `_DESTROY` after close, or
    ///   `CancellationError` when the task was cancelled while waiting for a slot (that
    ///   record and every later one are then not sent).
    public func send(_ records: [KafkaProducerRecord]) async -> [Result<KafkaDeliveryReport, any Error>] {
        let batch = DeliveryBatch(count: records.count)
        for (index, record) in records.enumerated() {
            do {
                try await permits.acquire()
            } catch {
                for unsent in index..<records.count { batch.complete(unsent, .failure(error)) }
                break
            }
            do throws(KafkaError) {
                try enqueueAcquired(record, target: .batch(batch, index: index))
            } catch {
                batch.complete(index, .failure(error))
            }
        }
        return await batch.results()
    }

    /// Sends a record and returns once the broker acknowledged it.
    /// - Throws: as ``send(_:)``.
    public func send(
        topic: String,
        key: [UInt8]?,
        value: [UInt8]?,
        headers: [KafkaHeader] = [],
        partition: Int32? = nil
    ) async throws -> KafkaDeliveryReport {
        try await send(KafkaProducerRecord(topic: topic, partition: partition, key: key, value: value, headers: headers))
    }

    /// Hands a record to the producer and returns as soon as it is queued (after waiting
    /// for an in-flight slot); `onDelivery` runs on the delivery thread with the
    /// acknowledgement or the delivery error. For high-throughput pipelines that must
    /// not await each acknowledgement.
    /// - Throws: an enqueue error (then `onDelivery` is not called), ``KafkaError``
    ///   `_DESTROY` after close, or `CancellationError` while waiting for a slot.
    public func enqueue(
        _ record: KafkaProducerRecord,
        onDelivery: @escaping @Sendable (Result<KafkaDeliveryReport, KafkaError>) -> Void
    ) async throws {
        try await permits.acquire()
        try enqueueAcquired(record, target: .callback(onDelivery))
    }

    /// Produces with an in-flight slot already taken; releases it on enqueue failure.
    private func enqueueAcquired(_ record: KafkaProducerRecord, target: DeliveryWaiter.Target) throws(KafkaError) {
        let waiter = DeliveryWaiter(topic: record.topic, permits: permits, target: target)
        let opaque = Unmanaged.passRetained(waiter).toOpaque()
        let code: rd_kafka_resp_err_t = isOpen.withLock { open in
            guard open else { return RD_KAFKA_RESP_ERR__DESTROY }
            let headers = Self.makeHeaders(record.headers)
            // `withCString` lends a native string's own NUL-terminated bytes; passing the
            // String itself made a C copy of the topic name per record.
            let code = record.topic.withCString { topic in
                Self.withOptionalBytes(record.key) { key, keyLength in
                    Self.withOptionalBytes(record.value) { value, valueLength in
                        bw_produce(
                            handle.pointer, topic, record.partition ?? bw_partition_unassigned(),
                            key, keyLength, value, valueLength, headers, opaque
                        )
                    }
                }
            }
            if code != RD_KAFKA_RESP_ERR_NO_ERROR, let headers { rd_kafka_headers_destroy(headers) }
            return code
        }
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
            Unmanaged<DeliveryWaiter>.fromOpaque(opaque).release()
            permits.release()
            if code == RD_KAFKA_RESP_ERR__DESTROY { throw KafkaError.closed }
            if code == RD_KAFKA_RESP_ERR__FATAL, let fatal = KafkaError.fatal(of: handle.pointer) { throw fatal }
            throw KafkaError(code: code, text: "cannot produce to \(record.topic): \(KafkaError(code: code).text)")
        }
    }

    private static func makeHeaders(_ headers: [KafkaHeader]) -> OpaquePointer? {
        guard !headers.isEmpty, let list = rd_kafka_headers_new(headers.count) else { return nil }
        for header in headers {
            if let value = header.value {
                _ = value.withUnsafeBytes { rd_kafka_header_add(list, header.name, -1, $0.baseAddress, $0.count) }
            } else {
                _ = rd_kafka_header_add(list, header.name, -1, nil, 0)
            }
        }
        return list
    }

    private static func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawPointer?, Int) -> R) -> R {
        guard let bytes else { return body(nil, 0) }
        return bytes.withUnsafeBytes { buffer in
            // An empty array still needs a non-NULL pointer: empty is not absent.
            body(buffer.baseAddress ?? UnsafeRawPointer(bitPattern: 1), buffer.count)
        }
    }

    /// The fatal error this producer hit, if any: it can never send again and must be
    /// closed and replaced (e.g. an idempotent producer whose sequence numbers a broker
    /// no longer knows). `nil` while it is healthy or once closed.
    public var fatalError: KafkaError? {
        isOpen.withLock { open in open ? KafkaError.fatal(of: handle.pointer) : nil }
    }

    /// Number of records handed to librdkafka and not yet acknowledged or failed.
    ///
    /// Counted by this layer's in-flight slots, not `rd_kafka_outq_len`, which also
    /// counts librdkafka's own queued requests and events.
    public var outstandingCount: Int {
        isOpen.withLock { open in open ? permits.inUse : 0 }
    }

    /// Waits until every queued record is acknowledged or failed, at most `timeout`.
    /// - Throws: ``KafkaError`` `_TIMED_OUT` naming how many records are still
    ///   outstanding, or `_DESTROY` after close.
    public func flush(timeout: Duration) async throws(KafkaError) {
        try await runBlocking(on: blockingQueue) { [self] () throws(KafkaError) in
            guard isOpen.withLock({ $0 }) else { throw KafkaError.closed }
            let code = rd_kafka_flush(handle.pointer, timeout.wholeMilliseconds)
            guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError(code: code, text: "flush timed out with \(rd_kafka_outq_len(handle.pointer)) records outstanding")
            }
        }
    }

    /// Flushes for at most `flushTimeout`, fails whatever is still unacknowledged with
    /// `_PURGE_QUEUE`/`_PURGE_INFLIGHT` (so no `send` waits forever), and releases the
    /// client. Calling it again does nothing.
    /// - Returns: the number of records that were still unacknowledged at the deadline.
    @discardableResult
    public func close(flushTimeout: Duration = .seconds(10)) async -> Int {
        let milliseconds = flushTimeout.wholeMilliseconds
        let result: Result<Int, KafkaError> = await withCheckedContinuation { continuation in
            blockingQueue.async { [self] in
                continuation.resume(returning: .success(shutDown(flushMilliseconds: milliseconds)))
            }
        }
        return (try? result.get()) ?? 0
    }

    /// Blocking shutdown; returns how many records were purged.
    @discardableResult
    private func shutDown(flushMilliseconds: Int32) -> Int {
        guard isOpen.withLock({ open in
            defer { open = false }
            return open
        }) else { return 0 }
        return Self.release(handle.pointer, poller: poller, logger: logger, flushMilliseconds: flushMilliseconds)
    }

    /// Flushes, fails what is left, stops the poller and destroys the client. Blocking.
    @discardableResult
    private static func release(_ rk: OpaquePointer, poller: PollingThread, logger: Logger, flushMilliseconds: Int32) -> Int {
        _ = rd_kafka_flush(rk, flushMilliseconds)
        let remaining = Int(rd_kafka_outq_len(rk))
        if remaining > 0 {
            logger.warning("producer closing with unacknowledged records; failing them", metadata: ["records": "\(remaining)"])
            _ = rd_kafka_purge(rk, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
            // Purged records get their (failed) delivery reports here.
            _ = rd_kafka_flush(rk, 1_000)
        }
        poller.stop()
        _ = rd_kafka_poll(rk, 0)
        rd_kafka_destroy(rk)
        return remaining
    }
}
