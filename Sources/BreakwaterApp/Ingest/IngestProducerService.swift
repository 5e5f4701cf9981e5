import Kafka
import Logging
import ServiceLifecycle

/// Keeps the ingest's producer open while the HTTP server serves, and closes it (flushing
/// what is in flight) once graceful shutdown reaches it. List it before the HTTP server in
/// a `ServiceGroup`: services stop in reverse order, so the server stops taking requests
/// first and every request it accepted has been acknowledged or answered 503 before the
/// producer goes.
public struct IngestProducerService: Service {
    private let producer: KafkaProducer
    private let flushTimeout: Duration
    private let logger: Logger

    /// A service owning `producer`; on shutdown it waits up to `flushTimeout` for records
    /// still in flight.
    public init(producer: KafkaProducer, flushTimeout: Duration, logger: Logger) {
        self.producer = producer
        self.flushTimeout = flushTimeout
        self.logger = logger
    }

    /// Waits for graceful shutdown (or cancellation), then closes the producer.
    public func run() async throws {
        try? await gracefulShutdown()
        let unacknowledged = await producer.close(flushTimeout: flushTimeout)
        if unacknowledged > 0 {
            // Their requests are answered 503, so the senders retry them.
            logger.warning("ingest producer closed with unacknowledged records", metadata: ["records": "\(unacknowledged)"])
        }
    }
}
