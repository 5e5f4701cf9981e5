import DequeModule
import Locking
import Synchronization

/// Runs work concurrently across keys and strictly in submission order within a key,
/// with at most `maxInFlight` items admitted at once.
///
/// This is how a worker processes one partition's records in parallel without
/// reordering one alert's updates: the key is the record key. Admission is the
/// backpressure point: ``submit(key:_:)`` suspends while the bound is hit, and
/// ``isSaturated`` tells the consumer loop when to pause its partitions.
///
/// The scheduler runs its work inside ``run()``, in structured task groups: start
/// `run()` in the owner's task group before submitting, and cancel it (or call
/// ``finish()``) to stop. Work that has not started when `run()` returns is dropped
/// without running; work already running sees the cancellation. After that, ``submit(key:_:)``
/// refuses new work and every waiter is released.
public final class KeyedTaskScheduler<Key: Hashable & Sendable>: Sendable {
    /// A unit of work and the keys it holds (one item per key) until it returns.
    private struct Job: Sendable {
        let keys: [Key]
        let work: @Sendable () async -> Void
    }

    /// The answer of ``admitNow(key:)``.
    public enum Admission: Sendable, Hashable {
        /// Admitted: hand it to ``start(admitted:_:)``.
        case admitted
        /// Earlier work of the key is admitted: ``submit(key:_:)`` queues it behind.
        case keyBusy
        /// The bound is hit.
        case full
        /// The scheduler has stopped.
        case stopped
    }

    private struct State {
        var admitted = 0
        var completed = 0
        /// Keys with a job running; the deque holds that key's jobs waiting behind it.
        var busyKeys: [Key: Deque<Job>] = [:]
        var capacityWaiters: Deque<CheckedContinuation<Void, Never>> = []
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
        /// Waiters of ``waitUntilInFlight(atMost:)``, by id (so cancellation can find them).
        var roomWaiters: [UInt64: (limit: Int, continuation: CheckedContinuation<Void, Never>)] = [:]
        var nextWaiterID: UInt64 = 0
        var isStopped = false
    }

    /// Jobs ready to run, and the task group that runs them (inside ``run()``).
    private struct Lane: Sendable {
        let ready: AsyncStream<Job>
        let continuation: AsyncStream<Job>.Continuation
    }

    /// Children per lane's task group at the admission bound. The Swift runtime unlinks a
    /// finished child by walking its group's list of children (`TaskGroup::removeChildTask`):
    /// with one group for 2,048 items in flight that walk was ~9% of the worker's CPU on
    /// the full path of `scripts/bench-worker`, where items wait for the model together
    /// and finish oldest first, the far end of the list.
    static var childrenPerLane: Int { 16 }

    /// Jobs handed to one lane before the next lane's turn. A lane's task sleeps when its
    /// stream is empty and each job sent to a sleeping lane wakes it: one job per lane in
    /// turn would wake a task per job; a turn of several lets a woken lane take them all.
    static var jobsPerTurn: UInt { 16 }

    /// The most items admitted (queued behind their key or running) at once.
    public let maxInFlight: Int
    /// The bound before anything has finished; it grows by one with each item that
    /// finishes, up to ``maxInFlight``. See ``init(maxInFlight:startWindow:)``.
    public let startWindow: Int
    private let state: LockedValue<State>
    /// Started jobs go round the lanes, each run by a task group of its own.
    private let lanes: [Lane]
    private let nextTicket = Atomic<UInt>(0)

    /// Creates a scheduler.
    /// - Parameters:
    ///   - maxInFlight: the admission bound; values below 1 are raised to 1.
    ///   - startWindow: the bound until items finish (a slow start, as TCP's): it opens
    ///     by one per finished item up to `maxInFlight`. Default `nil`: `maxInFlight`
    ///     from the start. Clamped to `1...maxInFlight`.
    public init(maxInFlight: Int, startWindow: Int? = nil) {
        self.maxInFlight = max(1, maxInFlight)
        self.startWindow = min(max(1, startWindow ?? maxInFlight), self.maxInFlight)
        self.state = LockedValue(State())
        let laneCount = (self.maxInFlight + Self.childrenPerLane - 1) / Self.childrenPerLane
        self.lanes = (0..<laneCount).map { _ in
            let (ready, continuation) = AsyncStream.makeStream(of: Job.self)
            return Lane(ready: ready, continuation: continuation)
        }
    }

    /// How many items are admitted and not yet finished.
    public var inFlight: Int { state.withLock { $0.admitted } }

    /// How many items have finished since the scheduler was made (never decreases).
    public var completedTotal: Int { state.withLock { $0.completed } }

    /// Whether the admission bound is reached, so a submit would wait.
    public var isSaturated: Bool { state.withLock { $0.admitted >= window(of: $0) } }

    /// The admission bound now: ``startWindow`` plus the items finished so far, at most
    /// ``maxInFlight``.
    public var window: Int { state.withLock { window(of: $0) } }

    private func window(of state: State) -> Int {
        min(maxInFlight, startWindow + state.completed)
    }

    /// Runs admitted work until cancelled. Returns once cancelled and every started
    /// item has returned.
    public func run() async {
        await withDiscardingTaskGroup { lanes in
            for lane in self.lanes {
                lanes.addTask {
                    await withDiscardingTaskGroup { group in
                        for await job in lane.ready {
                            group.addTask {
                                await job.work()
                                self.finished(keys: job.keys)
                            }
                        }
                    }
                }
            }
        }
        stop()
    }

    /// Hands `job` to the task group of the lane whose turn it is.
    private func launch(_ job: Job) {
        let ticket = nextTicket.wrappingAdd(1, ordering: .relaxed).oldValue
        lanes[Int(ticket / Self.jobsPerTurn % UInt(lanes.count))].continuation.yield(job)
    }

    private func finishLanes() {
        for lane in lanes { lane.continuation.finish() }
    }

    /// Called once every started job has returned: whatever is still admitted never
    /// started, so it is dropped and everyone waiting is released.
    private func stop() {
        finishLanes()
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
    public func submit(key: Key, _ work: @escaping @Sendable () async -> Void) async -> Bool {
        while true {
            let admission: Bool? = state.withLock { state in
                if state.isStopped { return nil }
                guard state.admitted < window(of: state) else { return false }
                state.admitted += 1
                return true
            }
            guard let admission else { return false }
            if admission { break }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow: Bool = state.withLock { state in
                    if state.isStopped || state.admitted < window(of: state) { return true }
                    state.capacityWaiters.append(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
        let job = Job(keys: [key], work: work)
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
        if startNow { launch(job) }
        return true
    }

    /// Admits one item of `key` at once, without waiting: only when there is room and no
    /// earlier work of `key` is admitted, so the item may run now without breaking the
    /// key's order. The caller then owes one ``start(admitted:_:)`` that includes the key.
    public func admitNow(key: Key) -> Admission {
        state.withLock { state in
            if state.isStopped { return .stopped }
            guard state.admitted < window(of: state) else { return .full }
            guard state.busyKeys[key] == nil else { return .keyBusy }
            state.admitted += 1
            state.busyKeys[key] = []
            return .admitted
        }
    }

    /// Runs `work` for items admitted by ``admitNow(key:)`` (one per key in `keys`); when it
    /// returns, each key is free again and work queued behind it starts. One task for all
    /// of them: how a worker publishes a whole poll at once.
    public func start(admitted keys: [Key], _ work: @escaping @Sendable () async -> Void) {
        launch(Job(keys: keys, work: work))
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
        finishLanes()
    }

    private func finished(keys: [Key]) {
        let (next, capacityWaiters, idleWaiters): ([Job], [CheckedContinuation<Void, Never>], [CheckedContinuation<Void, Never>]) = state.withLock { state in
            // Stopped meanwhile: everything was reset and released already.
            guard !state.isStopped else { return ([], [], []) }
            state.admitted -= keys.count
            state.completed += keys.count
            var next: [Job] = []
            for key in keys {
                // One lookup, and the deque moved out rather than copied by popping it.
                if var waiting = state.busyKeys.removeValue(forKey: key), let job = waiting.popFirst() {
                    next.append(job)
                    state.busyKeys[key] = waiting  // the key stays busy while `job` runs
                }
            }
            // Each finished item frees its place and, while the window opens, one more.
            let openPlaces = window(of: state) - state.admitted
            var waiters: [CheckedContinuation<Void, Never>] = []
            while waiters.count < openPlaces, let waiter = state.capacityWaiters.popFirst() { waiters.append(waiter) }
            var idle: [CheckedContinuation<Void, Never>] = []
            for (id, room) in state.roomWaiters where state.admitted <= room.limit {
                state.roomWaiters[id] = nil
                idle.append(room.continuation)
            }
            if state.admitted == 0 {
                idle += state.idleWaiters
                state.idleWaiters = []
            }
            return (next, waiters, idle)
        }
        for job in next { launch(job) }
        for waiter in capacityWaiters { waiter.resume() }
        for waiter in idleWaiters { waiter.resume() }
    }
}
