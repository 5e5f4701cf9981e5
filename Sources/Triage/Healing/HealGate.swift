import Locking
import Resilience

/// What a heal waits for before it calls a dependency, and what the healer is waiting on
/// now (for `/admin/heal`):
///
/// - the breaker of the step: while it is open (its open duration not yet over) or
///   half-open, the heal waits for its next transition, checking again at least every
///   ``Settings/breakerRecheck`` (an open breaker whose open duration is over reads
///   `open` until a call moves it; with no live traffic that call is the heal's, which
///   then is the probe);
/// - live traffic: while the live worker has more than ``Settings/yieldAbove`` records
///   in flight, the heal waits (checked every ``Settings/yieldRecheck``);
/// - the rate limit: at most ``Settings/ratePerSecond`` heals start per second.
///
/// The healer's worker waits for a record's breakers and for live traffic before it
/// admits the record (``HealProcessor/waitUntilStartable(_:)``), with its partitions
/// paused: nothing more is read, nothing is called and no transaction is open while a
/// dependency is down. An admitted heal waits here only for live traffic and its rate
/// slot; one whose breaker stops admitting calls is done again.
public final class HealGate: Sendable {
    /// How the gate waits.
    public struct Settings: Sendable, Hashable {
        /// Most heals started per second; at least 0.001.
        public var ratePerSecond: Double
        /// The live worker's in-flight records above which heals wait.
        public var yieldAbove: Int
        /// How often a heal waiting for live traffic looks again. Default 50 ms.
        public var yieldRecheck: Duration
        /// Longest a heal waits for a breaker's transition before looking again. Default 1 s.
        public var breakerRecheck: Duration

        /// Settings (see each property); out-of-range values are clamped.
        public init(ratePerSecond: Double = 200, yieldAbove: Int = 256, yieldRecheck: Duration = .milliseconds(50), breakerRecheck: Duration = .seconds(1)) {
            self.ratePerSecond = max(0.001, ratePerSecond)
            self.yieldAbove = max(0, yieldAbove)
            self.yieldRecheck = yieldRecheck
            self.breakerRecheck = breakerRecheck
        }
    }

    /// What the gate holds heals for now.
    public struct Status: Sendable, Equatable {
        /// Breakers repairs wait on before admission (open or half-open), by name, with how many wait.
        public var waitingOnBreakers: [String: Int] = [:]
        /// Repairs (before admission) and heals waiting for live traffic to drop below the threshold.
        public var yieldingToLive = 0
        /// Heals waiting for the rate limit.
        public var rateLimited = 0

        /// Nothing waiting.
        public init() {}
    }

    private let settings: Settings
    private let clock: ResilienceClock
    private let liveInFlight: @Sendable () -> Int
    private let state = LockedValue(State())
    private let changes = LockedValue<[String: BreakerChanges]>([:])

    private struct State {
        var status = Status()
        /// When the next heal may start (clock offset).
        var nextSlot: Duration = .zero
    }

    /// A gate.
    /// - Parameters:
    ///   - liveInFlight: the live worker's records in flight now.
    ///   - clock: times the rate limit and the rechecks.
    public init<C: Clock>(settings: Settings, liveInFlight: @escaping @Sendable () -> Int, clock: C = ContinuousClock()) where C.Duration == Duration {
        self.settings = settings
        self.liveInFlight = liveInFlight
        self.clock = ResilienceClock(clock)
    }

    /// What heals wait for now.
    public var status: Status { state.withLock { $0.status } }

    /// Waits until `breaker` admits calls: closed or disabled, or open with its open
    /// duration over. Returns at once when cancelled.
    func waitUntilAdmitting(_ breaker: CircuitBreaker) async {
        guard !Self.admits(breaker) else { return }
        let changes = self.changes(of: breaker)
        state.withLock { $0.status.waitingOnBreakers[breaker.name, default: 0] += 1 }
        defer {
            state.withLock { state in
                let left = (state.status.waitingOnBreakers[breaker.name] ?? 1) - 1
                state.status.waitingOnBreakers[breaker.name] = left > 0 ? left : nil
            }
        }
        while !Task.isCancelled, !Self.admits(breaker) {
            await changes.next(orAfter: settings.breakerRecheck, on: clock)
        }
    }

    /// Whether heals give way to live traffic now (it is above the threshold).
    var yieldsToLive: Bool { liveInFlight() > settings.yieldAbove }

    /// Waits while live traffic is above the threshold. Returns at once when cancelled.
    func waitForLiveTraffic() async {
        guard yieldsToLive else { return }
        state.withLock { $0.status.yieldingToLive += 1 }
        while !Task.isCancelled, yieldsToLive {
            try? await clock.sleep(for: settings.yieldRecheck)
        }
        state.withLock { $0.status.yieldingToLive -= 1 }
    }

    /// Waits while live traffic is above the threshold, then for the rate limit's slot.
    /// Returns at once when cancelled.
    func waitForTurn() async {
        await waitForLiveTraffic()
        let interval = Duration.seconds(1 / settings.ratePerSecond)
        let now = clock.now()
        let slot = state.withLock { state in
            let slot = max(now, state.nextSlot)
            state.nextSlot = slot + interval
            return slot
        }
        guard slot > now else { return }
        state.withLock { $0.status.rateLimited += 1 }
        try? await clock.sleep(until: slot)
        state.withLock { $0.status.rateLimited -= 1 }
    }

    /// The names of those of `breakers` the healer is paused on now, sorted: each one
    /// that is not closed (open, also once its open duration is over until a call moves
    /// it; half-open; forced open), and each one heals wait on.
    ///
    /// Read from the breakers rather than from the waiting heals alone: while a heal is
    /// the probe of a half-open breaker, or every heal has just woken to make it, no
    /// heal waits at the gate, yet healing is still held by that breaker.
    public func pausedOn(_ breakers: some Sequence<CircuitBreaker>) -> [String] {
        var names = Set(status.waitingOnBreakers.keys)
        for breaker in breakers {
            switch breaker.state {
            case .closed, .disabled: continue
            case .open, .halfOpen, .forcedOpen: names.insert(breaker.name)
            }
        }
        return names.sorted()
    }

    /// Whether `breaker` admits calls now (see ``waitUntilAdmitting(_:)``).
    static func admits(_ breaker: CircuitBreaker) -> Bool {
        switch breaker.state {
        case .closed, .disabled: true
        case .open: !breaker.isOpen
        case .halfOpen, .forcedOpen: false
        }
    }

    private func changes(of breaker: CircuitBreaker) -> BreakerChanges {
        changes.withLock { all in
            if let known = all[breaker.name] { return known }
            let made = BreakerChanges(breaker)
            all[breaker.name] = made
            return made
        }
    }
}

/// Wakes everyone waiting on a breaker when it changes state. One listener per breaker;
/// rejections and other events (thousands a second while it is open) wake nobody.
private final class BreakerChanges: Sendable {
    private struct Waiters {
        var next = 0
        var waiting: [Int: CheckedContinuation<Void, Never>] = [:]
        /// Ids handed out whose continuation is not stored yet.
        var registering: Set<Int> = []
        /// Of those, the ones cancelled meanwhile.
        var cancelled: Set<Int> = []
    }

    private let waiters = LockedValue(Waiters())

    init(_ breaker: CircuitBreaker) {
        _ = breaker.addListener { [weak self] event in
            guard case .stateChanged = event, let self else { return }
            let woken = self.waiters.withLock { state in
                defer { state.waiting = [:] }
                return Array(state.waiting.values)
            }
            for continuation in woken { continuation.resume() }
        }
    }

    /// Returns at the breaker's next state change, after `timeout`, or when cancelled.
    func next(orAfter timeout: Duration, on clock: ResilienceClock) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.nextChange() }
            group.addTask { try? await clock.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }

    private func nextChange() async {
        let id = waiters.withLock { state in
            defer { state.next += 1 }
            state.registering.insert(state.next)
            return state.next
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = waiters.withLock { state in
                    state.registering.remove(id)
                    if state.cancelled.remove(id) != nil { return true }
                    state.waiting[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let continuation = waiters.withLock { state in
                if let waiting = state.waiting.removeValue(forKey: id) { return Optional(waiting) }
                // Not stored yet: it resumes as soon as it is. Already resumed: nothing to do.
                if state.registering.contains(id) { state.cancelled.insert(id) }
                return nil
            }
            continuation?.resume()
        }
    }
}
