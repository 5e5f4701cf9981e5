import Logging
import ServiceLifecycle
import Triage

/// When to give free heap memory back to the system: once a burst of work has ended
/// (records finished since the last trim, none finished since the previous check, none in
/// flight), and during sustained work at most every `busyInterval`. Never while nothing
/// happens, and not in the short pauses of a backlog drain (between a poll's batch being
/// acknowledged and the next poll nothing is in flight): a trim there would hand back
/// pages the next poll faults in again.
///
/// Pure logic on a caller-supplied time, so it is tested without a clock.
struct MemoryTrimPolicy: Sendable {
    /// Longest time between two trims while records keep finishing without a pause.
    let busyInterval: Duration
    private var finishedAtLastTrim = 0
    private var finishedAtLastCheck = 0
    private var lastTrim: Duration = .zero

    init(busyInterval: Duration) {
        self.busyInterval = busyInterval
    }

    /// Whether to trim now, given the worker's records in flight and finished so far and
    /// the time since start; call it once per check interval. A `true` answer counts as a
    /// trim done.
    mutating func shouldTrim(inFlight: Int, finished: Int, now: Duration) -> Bool {
        let quiet = finished == finishedAtLastCheck && inFlight == 0
        finishedAtLastCheck = finished
        guard finished != finishedAtLastTrim else { return false }
        guard quiet || now - lastTrim >= busyInterval else { return false }
        finishedAtLastTrim = finished
        lastTrim = now
        return true
    }
}

/// Gives the heap's free memory back to the system after bursts of work
/// (`pipeline.trimMemoryWhenIdle`), within two check intervals of the worker going quiet.
///
/// glibc keeps freed heap memory mapped: after an alert storm a worker's resident memory
/// stays at the storm's high-water mark although its live data is a fraction of it (seen
/// in `scripts/soak`: 174 MB resident, 55 MB after one `malloc_trim`). jemalloc gives it
/// back by itself after its decay (1 s as `breakwater` sets it), but only on its next
/// allocations: a worker that went quiet would keep it. Checking once a
/// second costs two lock reads; a trim walks the heap's free chunks (milliseconds) and
/// only runs when records finished since the last one.
struct MemoryTrimmer: Service {
    let worker: PipelineWorker
    let logger: Logger
    var checkInterval: Duration = .seconds(1)
    var busyInterval: Duration = .seconds(60)

    func run() async throws {
        var policy = MemoryTrimPolicy(busyInterval: busyInterval)
        let clock = ContinuousClock()
        let start = clock.now
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: checkInterval, clock: clock) }
            } catch {
                return  // cancelled or shutting down: nothing left to trim for
            }
            guard policy.shouldTrim(inFlight: worker.inFlight, finished: worker.recordsFinished, now: clock.now - start) else {
                continue
            }
            let released = MemoryTuning.releaseFreeMemory()
            logger.trace("free heap memory given back to the system", metadata: ["released": "\(released)"])
        }
    }
}
