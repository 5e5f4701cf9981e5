import ArgumentParser
import BreakwaterApp
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals
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
        // The service group turns the first SIGTERM/SIGINT into a graceful shutdown.
        let task = Task {
            try await application.run(metrics: metrics, gracefulShutdownSignals: [.sigterm, .sigint]) { _ in
                shutdown.groupStarted()
            }
        }
        // swift-service-lifecycle ignores a graceful-shutdown signal that comes again
        // while the group drains; a second signal here stops at once (and one that comes
        // before the group runs ends the start).
        var sources: [any DispatchSourceSignal] = []
        for signalNumber in [SIGTERM, SIGINT] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler {
                switch shutdown.receive() {
                case .graceful:
                    logger.notice("signal received: shutting down gracefully (send again to stop at once)")
                case .immediate:
                    logger.warning("stopping at once; unfinished work will be redelivered")
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

/// What the signal handlers share: whether the service group runs (and so handles the
/// first signal itself) and how many signals came.
private final class ShutdownSignals: Sendable {
    enum Response {
        /// The service group shuts down gracefully on this signal.
        case graceful
        /// Stop at once: a second signal, or one before the group runs.
        case immediate
    }

    private let state = Mutex<(groupRuns: Bool, signals: Int)>((false, 0))

    func groupStarted() {
        state.withLock { $0.groupRuns = true }
    }

    /// Counts one more signal and says what it means.
    func receive() -> Response {
        state.withLock { state in
            state.signals += 1
            return state.groupRuns && state.signals == 1 ? .graceful : .immediate
        }
    }
}
