import ArgumentParser
import BreakwaterApp
import Foundation
import Logging

/// `breakwater ingest`: the HTTP ingest on its own, for a deployment that keeps it apart
/// from the workers.
struct Ingest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve HTTP ingest only: put alerts posted by Alertmanager, Grafana, PagerDuty and CloudEvents senders on the alerts topic.",
        discussion: """
            Serves POST /ingest/alertmanager, /ingest/grafana, /ingest/cloudevents and /v2/enqueue (whatever \
            ingest.enabled says; each route can be turned off with ingest.<route>.enabled), /metrics and /health/*, \
            on http.host:http.port. A request is answered 202 only once the broker acknowledged its record, 503 with \
            Retry-After when it did not within ingest.deliveryTimeout. SIGTERM or SIGINT stops it gracefully (stop \
            taking requests, answer those in flight); a second signal stops it at once.
            """
    )

    @OptionGroup var options: ConfigOptions

    mutating func run() async throws {
        MemoryTuning.fixMmapThreshold()
        let configuration = try options.load().configuration
        _ = BreakwaterLogging.bootstrap(configuration.logging)
        let metrics = BreakwaterMetrics.bootstrap()
        let logger = Logger(label: "breakwater")
        let assembly = WorkerAssembly(configuration: configuration, logger: logger)
        do {
            // The server stops taking requests, those in flight wait at most the delivery
            // timeout, then the producer flushes for as long again.
            let bound = configuration.ingest.deliveryTimeout.duration * 2 + .seconds(15)
            try await runUntilSignalled(logger: logger, gracefulBound: bound) { signals, groupStarted in
                logger.info("starting ingest", metadata: [
                    "kafka": "\(configuration.kafka.bootstrapServers)", "topic": "\(configuration.topics.alerts)",
                    "address": "\(configuration.http.host):\(configuration.http.port)",
                ])
                let built = try await assembly.makeIngestServiceGroup(metrics: metrics, gracefulShutdownSignals: signals)
                groupStarted()
                try await built.serviceGroup.run()
            }
        } catch let error as WorkerAssembly.StartError {
            printError("breakwater ingest: \(error.description)")
            throw configurationExitCode
        }
        logger.info("ingest stopped")
    }
}
