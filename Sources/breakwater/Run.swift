import ArgumentParser
import BreakwaterApp
import Foundation
import Logging

/// `breakwater run`: the worker.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a worker: consume alerts, enrich, classify, publish incidents and fallback events.",
        discussion: """
            Needs only BREAKWATER_KAFKA_BOOTSTRAP_SERVERS; everything else has a default. \
            SIGTERM or SIGINT stops it gracefully (finish in-flight work, commit, flush, leave the group); \
            a second signal stops it at once without committing unfinished work.
            """
    )

    @OptionGroup var options: ConfigOptions

    mutating func run() async throws {
        MemoryTuning.fixMmapThreshold()
        let loaded = try options.load()
        let configuration = loaded.configuration
        _ = BreakwaterLogging.bootstrap(configuration.logging)
        let metrics = BreakwaterMetrics.bootstrap()
        let logger = Logger(label: "breakwater")
        let application = WorkerApplication(configuration: configuration, logger: logger)
        let masked = loaded.maskedDescription
        do {
            // Draining may take the shutdown deadline; closing the producer and the consumer
            // have bounds of their own (10 s and 15 s); what is left is margin.
            let bound = configuration.pipeline.shutdownDeadline.duration + .seconds(45)
            try await runUntilSignalled(logger: logger, gracefulBound: bound) { signals, groupStarted in
                logger.info("starting worker", metadata: [
                    "worker_id": "\(configuration.pipeline.workerId)", "kafka": "\(configuration.kafka.bootstrapServers)",
                    "allocator": "\(MemoryTuning.allocator.rawValue)",
                    "allocator_decay": "\(MemoryTuning.dirtyPageDecay.map { "\($0)" } ?? "-")",
                ])
                logger.debug("effective configuration", metadata: ["configuration": "\(masked)"])
                try await application.run(metrics: metrics, gracefulShutdownSignals: signals) { _ in groupStarted() }
            }
        } catch let error as WorkerApplication.StartError {
            printError("breakwater run: \(error.description)")
            throw configurationExitCode
        }
    }
}
