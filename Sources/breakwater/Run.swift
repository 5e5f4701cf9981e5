import ArgumentParser
import BreakwaterApp
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

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
        let loaded = try options.load()
        let configuration = loaded.configuration
        _ = BreakwaterLogging.bootstrap(configuration.logging)
        let metrics = BreakwaterMetrics.bootstrap()
        let logger = Logger(label: "breakwater")
        logger.info("starting worker", metadata: [
            "worker_id": "\(configuration.pipeline.workerId)", "kafka": "\(configuration.kafka.bootstrapServers)",
        ])
        logger.debug("effective configuration", metadata: ["configuration": "\(loaded.maskedDescription)"])

        let application = WorkerApplication(configuration: configuration, logger: logger)
        let shutdown = ShutdownSignals()
        let task = Task {
            try await application.run(metrics: metrics) { built in shutdown.serviceGroup = built }
        }
        // First SIGTERM/SIGINT: graceful shutdown. Second: cancel, committing nothing unfinished.
        var sources: [any DispatchSourceSignal] = []
        for signalNumber in [SIGTERM, SIGINT] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler {
                if shutdown.receive() == 1 {
                    logger.notice("signal received: shutting down gracefully (send again to stop at once)")
                    if let running = shutdown.serviceGroup {
                        Task { await running.triggerGracefulShutdown() }
                    } else {
                        task.cancel()
                    }
                } else {
                    logger.warning("second signal: stopping at once; unfinished work will be redelivered")
                    task.cancel()
                }
            }
            source.resume()
            sources.append(source)
        }
        defer { sources.forEach { $0.cancel() } }
        do {
            try await task.value
        } catch let error as WorkerApplication.StartError {
            printError("breakwater run: \(error.description)")
            throw configurationExitCode
        }
    }
}

/// What the signal handlers share: the running service group and how many signals came.
private final class ShutdownSignals: Sendable {
    private let state = Mutex<(group: ServiceGroup?, signals: Int)>((nil, 0))

    var serviceGroup: ServiceGroup? {
        get { state.withLock { $0.group } }
        set { state.withLock { $0.group = newValue } }
    }

    /// Counts one more signal; returns how many have arrived.
    func receive() -> Int {
        state.withLock { state in
            state.signals += 1
            return state.signals
        }
    }
}
