import Locking
import Logging

/// Breakers shared by a fleet of workers: each worker tells the others what its breakers
/// see (``BreakerReport``), opens its own when a quorum of live workers report one open,
/// and, while the fleet holds a breaker open, lets only the chosen prober(s) probe the
/// dependency; the others close when the probe's success reaches them.
///
/// Transport-free: the owner carries reports between workers (Breakwater: a compacted
/// Kafka topic). It publishes what ``heartbeat()`` returns every
/// ``Configuration/heartbeat`` and what `publish` is given on every transition, and hands
/// every report it reads to ``receive(_:fresh:)`` (its own included: reading its own
/// reports back is how a worker knows the transport works) and every departure (a
/// worker that stopped gracefully) to ``departed(worker:breaker:)``.
///
/// Rules, per breaker in ``Configuration/rules``:
/// - A worker is live while a fresh report of it arrived within ``Configuration/liveness``
///   (judged by arrival on this worker's clock, so workers' clocks may disagree).
/// - The fleet opens a worker's closed breaker when at least
///   `max(minimumQuorum, ⌊live × quorum⌋ + 1)` live workers (itself included) report it
///   open by their own rules. Openings by the fleet do not count, nor reports of an
///   opening from before the last recovery this worker saw, so the fleet cannot keep
///   itself open. One worker with a broken path never reaches the quorum alone.
/// - With ``Rule/poolFailures``, it also opens when that quorum of live workers is
///   *failing* (open by their own rules, or closed with failures in a row reported within
///   the last heartbeat) and their failures in a row add up to the breaker's
///   `failureThreshold`, each worker counting for at most `⌈failureThreshold / quorum⌉`
///   (an opening counts as that much): the fleet trips on the failures it sees anywhere,
///   so a dead dependency costs the fleet about one worker's worth of failed calls rather
///   than each worker's, while one broken worker plus a stray failure elsewhere does not
///   add up. Workers report a failure at most every ``Configuration/failureReportInterval``.
/// - While the fleet holds a breaker open, when its open duration is over only the
///   `probers` live workers that rank first for that breaker (a hash of breaker and worker
///   id, the same on every worker) turn half-open; the others stay open (rejections read
///   ``RejectionReason/fleetOpen``). A prober that stops reporting falls out of the live
///   set and the next in rank takes over. A worker held for longer than the breaker's
///   longest open duration plus the liveness period without any prober moving probes
///   itself: a live prober with no calls to make never would.
/// - A live worker's report of a recovery (closed by its probes, or by the fleet relaying
///   one) closes this worker's breaker if the fleet held it open.
/// - Until this worker reads its own reports back within the liveness period (at start,
///   or when the transport fails), the fleet is *local-only*: nothing is opened, every
///   breaker probes on its own. The fleet only adds protection, never removes it.
public final class BreakerFleet: CircuitBreakerCoordinator, Sendable {
    /// How one breaker is shared.
    public struct Rule: Sendable, Hashable {
        /// The share of the live workers that must report the breaker open, exclusive:
        /// 0.5 means more than half.
        public var quorum: Double
        /// The fewest workers that must report it open, whatever the share (at least 1;
        /// 2 keeps one worker from opening the rest).
        public var minimumQuorum: Int
        /// How many workers probe a dependency the fleet holds open.
        public var probers: Int
        /// Also open when the quorum is failing and their failures in a row add up to the
        /// breaker's `failureThreshold` (see ``BreakerFleet``).
        public var poolFailures: Bool

        /// A majority, at least 2, one prober, failures pooled by default.
        public init(quorum: Double = 0.5, minimumQuorum: Int = 2, probers: Int = 1, poolFailures: Bool = true) {
            self.quorum = quorum
            self.minimumQuorum = minimumQuorum
            self.probers = probers
            self.poolFailures = poolFailures
        }
    }

    /// The fleet's settings.
    public struct Configuration: Sendable {
        /// This worker's id, unique in the fleet.
        public var workerID: String
        /// How often every breaker's report is sent again.
        public var heartbeat: Duration
        /// A worker whose last fresh report is older than this is no longer live; also how
        /// long this worker may go without reading its own reports back before it turns
        /// local-only. Longer than ``heartbeat``.
        public var liveness: Duration
        /// The breakers shared with the fleet, by name.
        public var rules: [String: Rule]
        /// The shortest time between two reports of failures of one breaker (a failure
        /// within it is told by the next report or heartbeat).
        public var failureReportInterval: Duration

        /// Heartbeat 2 s, liveness 6 s, failures reported at most every 100 ms.
        public init(
            workerID: String, heartbeat: Duration = .seconds(2), liveness: Duration = .seconds(6), rules: [String: Rule],
            failureReportInterval: Duration = .milliseconds(100)
        ) {
            self.workerID = workerID
            self.heartbeat = heartbeat
            self.liveness = liveness
            self.rules = rules
            self.failureReportInterval = failureReportInterval
        }

        /// Throws the first invalid field.
        public func validate() throws(CircuitBreaker.ConfigurationError) {
            if workerID.isEmpty { throw CircuitBreaker.ConfigurationError(field: "workerID", reason: "must not be empty") }
            if heartbeat <= .zero { throw CircuitBreaker.ConfigurationError(field: "heartbeat", reason: "must be positive, got \(heartbeat)") }
            if failureReportInterval < .zero {
                throw CircuitBreaker.ConfigurationError(field: "failureReportInterval", reason: "must not be negative, got \(failureReportInterval)")
            }
            if liveness <= heartbeat {
                throw CircuitBreaker.ConfigurationError(field: "liveness", reason: "must be longer than the heartbeat (\(heartbeat)), got \(liveness)")
            }
            for (name, rule) in rules.sorted(by: { $0.key < $1.key }) {
                if !(rule.quorum >= 0 && rule.quorum < 1) {
                    throw CircuitBreaker.ConfigurationError(field: "\(name).quorum", reason: "must be in 0..<1, got \(rule.quorum)")
                }
                if rule.minimumQuorum < 1 {
                    throw CircuitBreaker.ConfigurationError(field: "\(name).minimumQuorum", reason: "must be at least 1, got \(rule.minimumQuorum)")
                }
                if rule.probers < 1 {
                    throw CircuitBreaker.ConfigurationError(field: "\(name).probers", reason: "must be at least 1, got \(rule.probers)")
                }
            }
        }
    }

    /// What one worker last reported of one breaker, as this worker saw it.
    public struct PeerView: Sendable, Hashable {
        /// The latest report.
        public var report: BreakerReport
        /// Whether the worker is live (a fresh report within the liveness period).
        public var live: Bool
        /// How long ago its last fresh report arrived; `nil` if only reports written
        /// before this worker started were read.
        public var lastHeardAgo: Duration?
        /// How long ago this worker saw it enter its current state and cause.
        public var inStateFor: Duration
    }

    /// The fleet's view of one breaker.
    public struct BreakerView: Sendable, Hashable {
        /// The breaker's name.
        public var name: String
        /// Live workers reporting it (this one included).
        public var liveWorkers: Int
        /// Live workers that report it open by their own rules and count towards the
        /// quorum (this one included).
        public var reportingOpen: Int
        /// Live workers that are failing: open by their own rules, or with failures in a
        /// row reported within the last heartbeat (this one included).
        public var failing: Int
        /// Their failures in a row, added up, each worker's capped at
        /// `⌈failureThreshold / quorum⌉` (an opening counts as that much).
        public var pooledFailures: Int
        /// How many must, now.
        public var quorum: Int
        /// Whether the quorum is met: the fleet holds the breaker open.
        public var fleetOpen: Bool
        /// Whether this worker's breaker is open because the fleet opened it.
        public var openedByFleet: Bool
        /// The workers that would probe now (in rank order), among the live ones that
        /// report it open or half-open.
        public var probers: [String]
        /// Every other worker's latest report, sorted by worker id.
        public var peers: [PeerView]
    }

    /// The fleet as this worker sees it.
    public struct Snapshot: Sendable, Hashable {
        /// This worker's id.
        public var workerID: String
        /// Whether the fleet is ignored for now (see ``localOnlyReason``).
        public var localOnly: Bool
        /// Why: this worker has not read its own reports back yet, or not for a while.
        public var localOnlyReason: String?
        /// Live workers (this one included).
        public var liveWorkers: Int
        /// Every shared breaker, sorted by name.
        public var breakers: [BreakerView]
    }

    private struct Peer {
        var report: BreakerReport
        /// When the last fresh report arrived; `nil` for reports written before this
        /// worker started.
        var lastHeard: Duration?
        var stateSeenAt: Duration
    }

    private struct State {
        var peers: [String: [String: Peer]] = [:]
        var lastOwnEcho: Duration?
        var lastRecovery: [String: Duration] = [:]
        /// The breakers the fleet holds open: from the quorum being met until a recovery.
        var fleetOpen: Set<String> = []
        /// The last report's number; starts from the wall clock so that a restarted
        /// worker's reports follow its earlier ones.
        var sequence: UInt64
        /// Breakers whose transition this fleet is causing right now (closing on a peer's
        /// recovery), so the report names the fleet as its cause.
        var closing: Set<String> = []
        /// The cause of each breaker's last transition, repeated by heartbeats.
        var lastCause: [String: BreakerReport.Cause] = [:]
        /// This worker's failures in a row per breaker, and when it last knew them.
        var ownStreak: [String: (failures: Int, at: Duration)] = [:]
        /// When a failure of each breaker was last reported.
        var lastFailureReport: [String: Duration] = [:]
        /// Since when each breaker has been held for the probers without one moving.
        var heldSince: [String: Duration] = [:]
        /// Breakers this worker takes over probing for (logged once per hold).
        var takingOver: Set<String> = []
        var wasLocalOnly = true
    }

    private enum Action {
        case open(CircuitBreaker)
        case close(CircuitBreaker, after: String)
    }

    /// The settings.
    public let configuration: Configuration
    private let breakers: [String: CircuitBreaker]
    private let clock: ResilienceClock
    private let wallClockMilliseconds: @Sendable () -> Int64
    private let publish: @Sendable ([BreakerReport]) -> Void
    private let logger: Logger
    private let state: LockedValue<State>
    private let listeners = LockedValue<[(CircuitBreaker, ListenerToken)]>([])

    /// A fleet over `breakers` (those named in `configuration.rules`; others are left
    /// alone). It becomes each one's coordinator and hears its transitions; call
    /// ``detach()`` to undo both.
    /// - Parameters:
    ///   - clock: judges liveness and the time in state (``ManualClock`` in tests).
    ///   - wallClockMilliseconds: stamps reports for operators.
    ///   - publish: sends a transition's report to the fleet; called on the thread of the
    ///     call that moved the breaker, so it must not block (enqueue).
    /// - Throws: ``CircuitBreaker/ConfigurationError`` naming the invalid field, or a rule
    ///   for a breaker that is not given.
    public init<C: Clock>(
        configuration: Configuration,
        breakers: [CircuitBreaker],
        clock: C = ContinuousClock(),
        wallClockMilliseconds: @escaping @Sendable () -> Int64,
        logger: Logger = Logger(label: "breakwater.resilience"),
        publish: @escaping @Sendable ([BreakerReport]) -> Void
    ) throws(CircuitBreaker.ConfigurationError) where C.Duration == Duration {
        try configuration.validate()
        var shared: [String: CircuitBreaker] = [:]
        for breaker in breakers where configuration.rules[breaker.name] != nil {
            shared[breaker.name] = breaker
        }
        if let missing = configuration.rules.keys.sorted().first(where: { shared[$0] == nil }) {
            throw CircuitBreaker.ConfigurationError(field: missing, reason: "no breaker of that name to share")
        }
        self.configuration = configuration
        self.breakers = shared
        self.clock = ResilienceClock(clock)
        self.wallClockMilliseconds = wallClockMilliseconds
        state = LockedValue(State(sequence: UInt64(max(0, wallClockMilliseconds())) << 20))
        self.publish = publish
        var logger = logger
        logger[metadataKey: "worker"] = "\(configuration.workerID)"
        self.logger = logger
        for breaker in shared.values {
            breaker.coordinate(with: self)
            let token = breaker.addListener { [weak self] event in
                guard let self else { return }
                switch event {
                case .stateChanged(_, let from, let to, _): self.breakerMoved(breaker, from: from, to: to)
                case .failureCounted(_, let streak, _): self.failureCounted(breaker, streak: streak)
                case .rejected, .fallbackExecuted: break
                }
            }
            listeners.withLock { $0.append((breaker, token)) }
        }
    }

    /// Stops coordinating the breakers and hearing their transitions.
    public func detach() {
        for (breaker, token) in listeners.withLock({ list in defer { list = [] }; return list }) {
            breaker.removeListener(token)
            breaker.coordinate(with: nil)
        }
    }

    /// The names of the shared breakers, sorted.
    public var breakerNames: [String] { breakers.keys.sorted() }

    // MARK: - Transport in

    /// Takes a report read from the fleet.
    /// - Parameters:
    ///   - report: a worker's report; this worker's own tell it that the transport works.
    ///   - fresh: `false` for a report written before this worker started reading (a
    ///     replay of the topic): it shows the worker's last state but does not make it
    ///     live.
    public func receive(_ report: BreakerReport, fresh: Bool) {
        let now = clock.now()
        let actions = state.withLock { state -> [Action] in
            if report.worker == configuration.workerID {
                if fresh { state.lastOwnEcho = now }
                return evaluateAll(&state, now: now)
            }
            guard let breaker = breakers[report.breaker] else { return [] }
            let previous = state.peers[report.breaker]?[report.worker]
            // A restarted worker numbers its reports from its start time; one whose clock
            // went back is heard again once its old entry is no longer live.
            if let previous, previous.report.sequence >= report.sequence, isLive(previous, now: now) { return [] }
            let changed = previous.map { $0.report.state != report.state || $0.report.cause != report.cause } ?? true
            state.peers[report.breaker, default: [:]][report.worker] = Peer(
                report: report,
                lastHeard: fresh ? now : previous?.lastHeard,
                stateSeenAt: changed ? now : previous?.stateSeenAt ?? now
            )
            var actions: [Action] = []
            if fresh, changed, state.heldSince[report.breaker] != nil,
                probers(state, report.breaker, now: now).contains(report.worker)
            {
                // A prober moved (it probed, or its probe failed and it reopened): wait for it again.
                state.heldSince[report.breaker] = now
            }
            if fresh, changed, report.isRecovery, let previous, previous.report.state != .closed {
                let heldOpen = state.fleetOpen.remove(report.breaker) != nil || breaker.isOpenedByPeers
                state.lastRecovery[report.breaker] = now
                if heldOpen, !isLocalOnly(state, now: now), breaker.state == .open || breaker.state == .halfOpen {
                    state.closing.insert(report.breaker)
                    actions.append(.close(breaker, after: report.worker))
                }
            }
            if let action = evaluate(&state, breaker, now: now) { actions.append(action) }
            return actions
        }
        perform(actions)
    }

    /// Takes a departure read from the fleet: `worker` stopped gracefully and forgets its
    /// report of `breaker`.
    public func departed(worker: String, breaker: String) {
        guard worker != configuration.workerID else { return }
        let now = clock.now()
        let actions = state.withLock { state -> [Action] in
            guard state.peers[breaker]?.removeValue(forKey: worker) != nil, let shared = breakers[breaker] else { return [] }
            return evaluate(&state, shared, now: now).map { [$0] } ?? []
        }
        perform(actions)
    }

    // MARK: - Transport out

    /// Re-evaluates the fleet (workers that stopped reporting drop out) and returns this
    /// worker's report of every shared breaker, to publish. Call every
    /// ``Configuration/heartbeat``.
    public func heartbeat() -> [BreakerReport] {
        let now = clock.now()
        let actions = state.withLock { evaluateAll(&$0, now: now) }
        perform(actions)
        return breakers.keys.sorted().compactMap { name in breakers[name].map { report(of: $0, cause: nil) } }
    }

    // MARK: - CircuitBreakerCoordinator

    /// Whether `breaker` may probe now: always while local-only or while the fleet does
    /// not hold it open; otherwise only on the chosen prober(s), or on a worker held
    /// longer than the breaker's longest open duration plus the liveness period without a
    /// prober moving (a live prober that has no calls to make never probes).
    public func mayProbe(_ breaker: String) -> Bool {
        guard let shared = breakers[breaker] else { return true }
        let now = clock.now()
        let (allowed, tookOver) = state.withLock { state -> (Bool, Bool) in
            if isLocalOnly(state, now: now) { return (true, false) }
            guard state.fleetOpen.contains(breaker) || shared.isOpenedByPeers else {
                state.heldSince[breaker] = nil
                return (true, false)
            }
            if probers(state, breaker, now: now).contains(configuration.workerID) { return (true, false) }
            let since = state.heldSince[breaker] ?? now
            state.heldSince[breaker] = since
            guard now - since >= takeOverAfter(shared) else { return (false, false) }
            // The answer stays yes until the breaker moves (breakerMoved clears the hold):
            // a feature check may ask before the call's own permit does.
            return (true, state.takingOver.insert(breaker).inserted)
        }
        if tookOver {
            logger.warning(
                "probing for the fleet: its prober has not probed within the breaker's open duration and the liveness period",
                metadata: ["breaker": "\(breaker)"])
        }
        return allowed
    }

    /// How long a worker the fleet holds waits for the probers before it probes itself.
    private func takeOverAfter(_ breaker: CircuitBreaker) -> Duration {
        let longest: Duration = switch breaker.configuration.openDuration {
        case .fixed(let duration): duration
        case .exponential(_, _, let maximum, _): maximum
        }
        return longest + configuration.liveness
    }

    // MARK: - Observing

    /// Whether the fleet is ignored for now: this worker has not read its own reports
    /// back within the liveness period.
    public var isLocalOnly: Bool {
        let now = clock.now()
        return state.withLock { isLocalOnly($0, now: now) }
    }

    /// The fleet as this worker sees it now.
    public func snapshot() -> Snapshot {
        let now = clock.now()
        return state.withLock { state in
            let localOnly = isLocalOnly(state, now: now)
            var live: Set<String> = [configuration.workerID]
            let views = breakers.keys.sorted().compactMap { name -> BreakerView? in
                guard let breaker = breakers[name], let rule = configuration.rules[name] else { return nil }
                let count = counts(state, breaker, rule: rule, now: now)
                let peers = (state.peers[name] ?? [:]).values.sorted { $0.report.worker < $1.report.worker }.map { peer in
                    let isLive = self.isLive(peer, now: now)
                    if isLive { live.insert(peer.report.worker) }
                    return PeerView(
                        report: peer.report, live: isLive, lastHeardAgo: peer.lastHeard.map { now - $0 },
                        inStateFor: now - peer.stateSeenAt)
                }
                return BreakerView(
                    name: name, liveWorkers: count.live, reportingOpen: count.open, failing: count.failing,
                    pooledFailures: count.pooled, quorum: count.quorum,
                    fleetOpen: state.fleetOpen.contains(name), openedByFleet: breaker.isOpenedByPeers,
                    probers: probers(state, name, now: now), peers: peers)
            }
            let reason: String? = !localOnly ? nil : state.lastOwnEcho.map {
                "none of this worker's own reports read back for \(now - $0) (liveness \(configuration.liveness))"
            } ?? "this worker's own reports not read back yet"
            return Snapshot(
                workerID: configuration.workerID, localOnly: localOnly, localOnlyReason: reason, liveWorkers: live.count,
                breakers: views)
        }
    }

    // MARK: - Internals

    private func isLocalOnly(_ state: State, now: Duration) -> Bool {
        guard let echo = state.lastOwnEcho else { return true }
        return now - echo > configuration.liveness
    }

    private func isLive(_ peer: Peer, now: Duration) -> Bool {
        guard let heard = peer.lastHeard else { return false }
        return now - heard <= configuration.liveness
    }

    private struct Counts {
        var live = 1
        var open = 0
        var failing = 0
        var pooled = 0
        var quorum = 0

        /// Whether the fleet should hold the breaker open.
        func trips(rule: Rule, threshold: Int?) -> Bool {
            if open >= quorum { return true }
            guard rule.poolFailures, let threshold else { return false }
            return failing >= quorum && pooled >= threshold
        }
    }

    private func counts(_ state: State, _ breaker: CircuitBreaker, rule: Rule, now: Duration) -> Counts {
        var counts = Counts()
        let threshold = breaker.configuration.failureThreshold ?? 1
        let livePeers = (state.peers[breaker.name] ?? [:]).values.filter { isLive($0, now: now) }
        counts.live = 1 + livePeers.count
        counts.quorum = quorum(rule, live: counts.live)
        // One worker's share of the pooled failures is capped, so no worker (a broken
        // path) makes up most of the threshold alone.
        let share = max(1, (threshold + counts.quorum - 1) / counts.quorum)
        let recovered = state.lastRecovery[breaker.name]
        let afterRecovery = { (time: Duration) in recovered.map { time > $0 } ?? true }
        // Failures in a row are counted while their report is at most a heartbeat old: a
        // success resets them without a report.
        let recent = { (time: Duration) in now - time <= self.configuration.heartbeat }
        if breaker.state == .open && !breaker.isOpenedByPeers {
            counts.open += 1
            counts.failing += 1
            counts.pooled += share
        } else if breaker.state == .closed, let own = state.ownStreak[breaker.name], own.failures > 0, recent(own.at) {
            counts.failing += 1
            counts.pooled += min(own.failures, share)
        }
        for peer in livePeers {
            let report = peer.report
            if report.opensTheFleet, afterRecovery(peer.stateSeenAt) {
                counts.open += 1
                counts.failing += 1
                counts.pooled += share
            } else if report.state == .closed, report.consecutiveFailures > 0, let heard = peer.lastHeard, recent(heard), afterRecovery(heard) {
                counts.failing += 1
                counts.pooled += min(report.consecutiveFailures, share)
            } else if report.state == .open, report.cause == .fleet, report.consecutiveFailures > 0,
                recent(peer.stateSeenAt), afterRecovery(peer.stateSeenAt)
            {
                // A worker the pooled failures just opened carries its streak: it may not
                // have been reported yet (see failureReportInterval), and the others need it
                // to reach the same verdict.
                counts.failing += 1
                counts.pooled += min(report.consecutiveFailures, share)
            }
        }
        return counts
    }

    /// `max(minimumQuorum, ⌊live × quorum⌋ + 1)`.
    private func quorum(_ rule: Rule, live: Int) -> Int {
        max(rule.minimumQuorum, Int((Double(live) * rule.quorum).rounded(.down)) + 1)
    }

    /// The live workers that probe `breaker` while the fleet holds it open: among those
    /// reporting it open or half-open, the first `probers` by rank.
    private func probers(_ state: State, _ breaker: String, now: Duration) -> [String] {
        guard let rule = configuration.rules[breaker] else { return [] }
        var candidates: [String] = []
        if let mine = breakers[breaker], mine.state == .open || mine.state == .halfOpen {
            candidates.append(configuration.workerID)
        }
        for peer in (state.peers[breaker] ?? [:]).values where isLive(peer, now: now) {
            if peer.report.state == .open || peer.report.state == .halfOpen { candidates.append(peer.report.worker) }
        }
        let ranked = candidates.map { (rank: Self.rank(breaker: breaker, worker: $0), worker: $0) }.sorted { $0 < $1 }
        return ranked.prefix(rule.probers).map(\.worker)
    }

    /// FNV-1a over the breaker and worker names: the same on every worker (Swift's
    /// `Hasher` is seeded per process).
    static func rank(breaker: String, worker: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in breaker.utf8 + [0] + worker.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        return hash
    }

    private func evaluateAll(_ state: inout State, now: Duration) -> [Action] {
        let localOnly = isLocalOnly(state, now: now)
        if localOnly != state.wasLocalOnly {
            state.wasLocalOnly = localOnly
            if localOnly {
                logger.warning("breaker fleet unreachable: each breaker decides alone until this worker reads its own reports back")
            } else {
                logger.notice("breaker fleet reachable: breakers are shared with the fleet")
            }
        }
        return breakers.keys.sorted().compactMap { name in breakers[name].flatMap { evaluate(&state, $0, now: now) } }
    }

    private func evaluate(_ state: inout State, _ breaker: CircuitBreaker, now: Duration) -> Action? {
        guard let rule = configuration.rules[breaker.name] else { return nil }
        if isLocalOnly(state, now: now) {
            state.fleetOpen.remove(breaker.name)
            return nil
        }
        let count = counts(state, breaker, rule: rule, now: now)
        guard count.trips(rule: rule, threshold: breaker.configuration.failureThreshold) else {
            // The hold lasts until a recovery, though the quorum thins as the prober turns
            // half-open or workers die, so that nobody but the prober probes; a worker
            // whose breaker is closed holds nothing.
            if breaker.state == .closed { state.fleetOpen.remove(breaker.name) }
            return nil
        }
        state.fleetOpen.insert(breaker.name)
        return breaker.state == .closed ? .open(breaker) : nil
    }

    private func perform(_ actions: [Action]) {
        for action in actions {
            switch action {
            case .open(let breaker):
                if breaker.openOnPeerAdvice() {
                    logger.warning("the fleet opened a breaker: a quorum of workers report it open", metadata: ["breaker": "\(breaker.name)"])
                }
            case .close(let breaker, let worker):
                if breaker.closeOnPeerAdvice() {
                    logger.notice(
                        "the fleet closed a breaker: a worker's probe found the dependency healthy",
                        metadata: ["breaker": "\(breaker.name)", "after": "\(worker)"])
                }
                state.withLock { _ = $0.closing.remove(breaker.name) }
            }
        }
    }

    /// A failure that did not open `breaker`: counts towards the pooled failures here at
    /// once, and is reported unless a report of one went out within the interval.
    private func failureCounted(_ breaker: CircuitBreaker, streak: Int) {
        let now = clock.now()
        let (actions, report) = state.withLock { state -> ([Action], Bool) in
            state.ownStreak[breaker.name] = (streak, now)
            let last = state.lastFailureReport[breaker.name]
            let due = last.map { now - $0 >= configuration.failureReportInterval } ?? true
            if due { state.lastFailureReport[breaker.name] = now }
            return (evaluate(&state, breaker, now: now).map { [$0] } ?? [], due)
        }
        perform(actions)
        if report { publish([self.report(of: breaker, cause: nil)]) }
    }

    private func breakerMoved(_ breaker: CircuitBreaker, from: CircuitBreakerState, to: CircuitBreakerState) {
        let now = clock.now()
        state.withLock { state in
            state.heldSince[breaker.name] = nil
            state.takingOver.remove(breaker.name)
        }
        let cause: BreakerReport.Cause
        switch to {
        case .open: cause = breaker.isOpenedByPeers ? .fleet : .own
        case .halfOpen: cause = .own
        case .forcedOpen, .disabled: cause = .operator
        case .closed:
            let byFleet = state.withLock { state in
                if from == .halfOpen || state.closing.contains(breaker.name) {
                    state.lastRecovery[breaker.name] = now
                    state.fleetOpen.remove(breaker.name)
                }
                return state.closing.contains(breaker.name)
            }
            cause = byFleet ? .fleet : from == .halfOpen ? .probe : .own
        }
        publish([report(of: breaker, cause: cause)])
    }

    /// This worker's report of `breaker`; `cause` as known from its last transition when
    /// `nil`.
    private func report(of breaker: CircuitBreaker, cause: BreakerReport.Cause?) -> BreakerReport {
        let snapshot = breaker.snapshot()
        let cause = cause ?? {
            switch snapshot.state {
            case .open: snapshot.openedByPeers ? .fleet : .own
            case .forcedOpen, .disabled: .operator
            case .closed, .halfOpen: state.withLock { $0.lastCause[breaker.name] } ?? .own
            }
        }()
        let now = clock.now()
        let sequence = state.withLock { state -> UInt64 in
            state.sequence += 1
            state.lastCause[breaker.name] = cause
            state.ownStreak[breaker.name] = (snapshot.consecutiveFailures, now)
            return state.sequence
        }
        return BreakerReport(
            worker: configuration.workerID, breaker: breaker.name, state: snapshot.state, cause: cause,
            failureRate: snapshot.failureRate, slowCallRate: snapshot.slowCallRate, callsInWindow: snapshot.window.calls,
            consecutiveFailures: snapshot.consecutiveFailures, openCount: snapshot.openCount,
            reportedAtMilliseconds: wallClockMilliseconds(), sequence: sequence)
    }
}
