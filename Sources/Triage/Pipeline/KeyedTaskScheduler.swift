import DequeModule
import Synchronization

/// Runs work concurrently across keys and strictly in submission order within a key,
/// with at most `maxInFlight` items admitted at once.
///
/// This is how a worker processes one partition's records in parallel without
/// reordering one alert's updates: the key is the record key. Admission is the
/// backpressure point: ``submit(key:_:)`` suspends while the bound is hit, and
/// ``isSaturated`` tells the consumer loop when to pause its partitions.
///
/// The scheduler runs its work inside ``run()``, a structured task group: start
/// `run()` in the owner's task group before submitting, and cancel it (or call
/// ``finish()``) to stop. Work that has not started when `run()` returns is dropped
/// without running; work already running sees the cancellation. After that, ``submit(key:_:)``
/// refuses new work and every waiter is released.
public final class KeyedTaskScheduler: Sendable {
    /// A unit of work and the key it is ordered by.
    private struct Job: Sendable {
        let key: String
        let work: @Sendable () async -> Void
    }

    private struct State {
        var admitted = 0
        /// Keys with a job running; the deque holds that key's jobs waiting behind it.
        var busyKeys: [String: Deque<Job>] = [:]
        var capacityWaiters: Deque<CheckedContinuation<Void, Never>> = []
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
        /// Waiters of ``waitUntilInFlight(atMost:)``, by id (so cancellation can find them).
        var roomWaiters: [UInt64: (limit: Int, continuation: CheckedContinuation<Void, Never>)] = [:]
        var nextWaiterID: UInt64 = 0
        var isStopped = false
    }

    /// The most items admitted (queued behind their key or running) at once.
    public let maxInFlight: Int
    private let state: Mutex<State>
    private let ready: AsyncStream<Job>
    private let readyContinuation: AsyncStream<Job>.Continuation

    /// Creates a scheduler.
    /// - Parameter maxInFlight: the admission bound; values below 1 are raised to 1.
    public init(maxInFlight: Int) {
        self.maxInFlight = max(1, maxInFlight)
        self.state = Mutex(State())
        (self.ready, self.readyContinuation) = AsyncStream.makeStream(of: Job.self)
    }

    /// How many items are admitted and not yet finished.
    public var inFlight: Int { state.withLock { $0.admitted } }

    /// Whether the admission bound is reached, so a submit would wait.
    public var isSaturated: Bool { state.withLock { $0.admitted >= maxInFlight } }

    /// Runs admitted work until cancelled. Returns once cancelled and every started
    /// item has returned.
    public func run() async {
        await withDiscardingTaskGroup { group in
            for await job in ready {
                group.addTask {
                    await job.work()
                    self.finished(key: job.key)
                }
            }
        }
        stop()
    }

    /// Called once every started job has returned: whatever is still admitted never
    /// started, so it is dropped and everyone waiting is released.
    private func stop() {
        readyContinuation.finish()
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { state in
            state.isStopped = true
            state.admitted = 0
            state.busyKeys = [:]
            let waiters = Array(state.capacityWaiters) + state.idleWaiters + state.roomWaiters.values.map(\.continuation)
            state.capacityWaiters = []
            state.idleWaiters = []
            state.roomWaiters = [:]
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Waits for room under the bound, then admits `work` behind any earlier work of
    /// the same key. Returns once admitted, not once the work has run.
    ///
    /// If the calling task is cancelled while waiting for room, the work is admitted
    /// anyway when room frees up; callers stop submitting instead of cancelling.
    ///
    /// - Returns: `false`, without running `work`, once the scheduler has stopped.
    @discardableResult
    public func submit(key: String, _ work: @escaping @Sendable () async -> Void) async -> Bool {
        while true {
            let admission: Bool? = state.withLock { state in
                if state.isStopped { return nil }
                guard state.admitted < maxInFlight else { return false }
                state.admitted += 1
                return true
            }
            guard let admission else { return false }
            if admission { break }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow: Bool = state.withLock { state in
                    if state.isStopped || state.admitted < maxInFlight { return true }
                    state.capacityWaiters.append(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
        let job = Job(key: key, work: work)
        let startNow: Bool? = state.withLock { state in
            if state.isStopped { return nil }
            if state.busyKeys[key] != nil {
                state.busyKeys[key, default: []].append(job)
                return false
            }
            state.busyKeys[key] = []
            return true
        }
        guard let startNow else { return false }
        if startNow { readyContinuation.yield(job) }
        return true
    }

    /// Suspends until nothing is admitted.
    public func waitUntilIdle() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle: Bool = state.withLock { state in
                if state.admitted == 0 || state.isStopped { return true }
                state.idleWaiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }

    /// Suspends until at most `limit` items are admitted, the scheduler has stopped, or
    /// the calling task is cancelled (it returns at once then).
    ///
    /// The consumer loop waits here, with its partitions paused, while the bound is hit:
    /// unlike waiting inside ``submit(key:_:)``, it wakes when enough work finished even
    /// if no further record ever arrives, so it can resume the partitions.
    public func waitUntilInFlight(atMost limit: Int) async {
        let id: UInt64 = state.withLock { state in
            defer { state.nextWaiterID += 1 }
            return state.nextWaiterID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow: Bool = state.withLock { state in
                    if state.isStopped || state.admitted <= limit || Task.isCancelled { return true }
                    state.roomWaiters[id] = (limit, continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.roomWaiters.removeValue(forKey: id) }?.continuation.resume()
        }
    }

    /// Lets ``run()`` return once the work it has started is done; work not yet
    /// started is dropped.
    public func finish() {
        readyContinuation.finish()
    }

    private func finished(key: String) {
        let (next, capacityWaiter, idleWaiters): (Job?, CheckedContinuation<Void, Never>?, [CheckedContinuation<Void, Never>]) = state.withLock { state in
            state.admitted -= 1
            var next: Job?
            if var waiting = state.busyKeys[key], !waiting.isEmpty {
                next = waiting.removeFirst()
                state.busyKeys[key] = waiting
            } else {
                state.busyKeys[key] = nil
            }
            let waiter = state.capacityWaiters.popFirst()
            var idle: [CheckedContinuation<Void, Never>] = []
            for (id, room) in state.roomWaiters where state.admitted <= room.limit {
                state.roomWaiters[id] = nil
                idle.append(room.continuation)
            }
            if state.admitted == 0 {
                idle += state.idleWaiters
                state.idleWaiters = []
            }
            return (next, waiter, idle)
        }
        if let next { readyContinuation.yield(next) }
        capacityWaiter?.resume()
        for waiter in idleWaiters { waiter.resume() }
    }
}
