import Logging
import Prometheus
import ServiceLifecycle
import UnixSignals

/// `breakwater run`: assembles a worker from its configuration (``WorkerAssembly``) and
/// runs it as one service group — the HTTP server, the PostgreSQL pools, the schema
/// migrator and the pipeline worker.
///
/// Only Kafka must be reachable at start. The ML server and PostgreSQL may be down from
/// the first second: their breakers open, alerts are classified by the rules and enriched
/// from the static catalog, and the worker starts using them once they answer.
public struct WorkerApplication: Sendable {
    /// What builds the parts.
    public let assembly: WorkerAssembly

    /// An application for `configuration`, logging through `logger`.
    public init(configuration: BreakwaterConfiguration, logger: Logger) {
        assembly = WorkerAssembly(configuration: configuration, logger: logger)
    }

    /// A setting that stops the start, with what to fix.
    public typealias StartError = WorkerAssembly.StartError

    /// Runs until graceful shutdown (one of `gracefulShutdownSignals`, or
    /// ``ServiceGroup/triggerGracefulShutdown()``) or cancellation.
    /// - Parameters:
    ///   - metrics: the registry `/metrics` serves (the one the process bootstrapped).
    ///   - gracefulShutdownSignals: signals that start a graceful shutdown.
    ///   - onServiceGroup: receives the group once built (e.g. to trigger a shutdown).
    /// - Throws: ``StartError`` for a rule file, static catalog, DSN or other setting that
    ///   cannot be used; a Kafka error when topics cannot be created; a service's error.
    public func run(
        metrics: PrometheusCollectorRegistry,
        gracefulShutdownSignals: [UnixSignal] = [],
        onServiceGroup: @Sendable (ServiceGroup) -> Void = { _ in }
    ) async throws {
        let assembled = try await assembly.makeServiceGroup(metrics: metrics, gracefulShutdownSignals: gracefulShutdownSignals)
        onServiceGroup(assembled.serviceGroup)
        defer { assembly.logger.info("worker application stopped") }
        do {
            try await assembled.serviceGroup.run()
        } catch {
            await assembled.shutdown()
            throw error
        }
        await assembled.shutdown()
    }
}
