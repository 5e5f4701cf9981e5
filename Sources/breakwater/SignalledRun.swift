import BreakwaterApp
import Foundation
import Logging
import ServiceLifecycle
import Locking
import UnixSignals

/// Exit status when a stop did not end by its bound and the process ended itself.
let stopOverranExitCode: Int32 = 70  // sysexits EX_SOFTWARE

/// How long a stop at once (the second signal) may take before the process exits anyway.
let immediateStopBound: Duration = .seconds(5)

/// Runs the service group `start` builds and runs, with the shutdown every long-running
/// command shares: the first SIGTERM or SIGINT is the group's graceful shutdown (`start`
/// passes `signals` to the group and calls `groupStarted` once it runs); a second one, or
/// one that comes before the group runs, cancels at once.
///
/// Whatever a library does (librdkafka can block in its close), a stop always ends: a
/// graceful one that has not ended `gracefulBound` after the signal, or a stop at once
/// that has not ended ``immediateStopBound`` after it, logs what happened and exits with
/// ``stopOverranExitCode``; uncommitted work is redelivered to the next owner.
func runUntilSignalled(
    logger: Logger,
    gracefulBound: Duration,
    _ start: @escaping @Sendable (_ signals: [UnixSignal], _ groupStarted: @escaping @Sendable () -> Void) async throws -> Void
) async throws {
    let shutdown = ShutdownSignals()
    // The handlers are in place before `start` runs, so a signal at any moment after it
    // began (e.g. after it logged that it starts) is handled, never ignored: libdispatch
    // installs them after `resume()` returns, so this waits until they are there.
    var sources: [any DispatchSourceSignal] = []
    for signalNumber in [SIGTERM, SIGINT] {
        signal(signalNumber, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
        source.setEventHandler {
            switch shutdown.receive() {
            case .graceful:
                logger.notice("signal received: shutting down gracefully (send again to stop at once)")
                shutdown.exitUnlessEnded(after: gracefulBound, logger: logger, stop: "graceful shutdown")
            case .immediate:
                logger.warning("stopping at once; unfinished work will be redelivered")
                shutdown.cancelRun()
                shutdown.exitUnlessEnded(after: immediateStopBound, logger: logger, stop: "stop at once")
            }
        }
        source.resume()
        sources.append(source)
    }
    defer { sources.forEach { $0.cancel() } }
    if await !SignalHandlers.waitUntilHandled([SIGTERM, SIGINT], within: .seconds(5)) {
        logger.warning("the signal handlers were not in place after 5 s; a stop sent now may be lost")
    }
    let task = Task {
        try await start([.sigterm, .sigint]) { shutdown.groupStarted() }
    }
    shutdown.setRun(task)
    defer { shutdown.ended() }
    try await task.value
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

    private let state = LockedValue<(groupRuns: Bool, signals: Int, run: Task<Void, any Error>?, cancelled: Bool, ended: Bool)>(
        (false, 0, nil, false, false)
    )

    /// The run ended: no bound applies any more.
    func ended() {
        state.withLock { $0.ended = true }
    }

    /// Exits the process with ``stopOverranExitCode`` unless the run ended within `bound`.
    func exitUnlessEnded(after bound: Duration, logger: Logger, stop: String) {
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(bound / .milliseconds(1)))) { [self] in
            guard !state.withLock({ $0.ended }) else { return }
            logger.critical("the \(stop) did not end within \(bound); exiting now (unfinished work will be redelivered)")
            exit(stopOverranExitCode)
        }
    }

    /// The task to cancel on an immediate stop (cancelled at once if one came already).
    func setRun(_ task: Task<Void, any Error>) {
        let cancelled = state.withLock { state in
            state.run = task
            return state.cancelled
        }
        if cancelled { task.cancel() }
    }

    /// Cancels the run, or marks it to be cancelled as soon as it exists.
    func cancelRun() {
        let task = state.withLock { state in
            state.cancelled = true
            return state.run
        }
        task?.cancel()
    }

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
