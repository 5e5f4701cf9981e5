import CoreMetrics
import Logging
import Locking
import Synchronization

/// A circuit breaker: closed → open → half-open → closed, plus operator-forced
/// `forcedOpen` and `disabled` (forced closed).
///
/// It trips on any configured rule (consecutive failures, failure rate or slow-call rate
/// over a sliding window), stays open for a fixed or exponentially growing duration,
/// then admits a limited number of probes; enough successful probes close it, a failed
/// probe reopens it.
///
/// Three ways in:
/// - ``call(_:)`` throws ``CircuitBreakerError``;
/// - ``execute(_:)`` returns a ``CallOutcome`` (a rejection neither allocates nor throws);
/// - ``acquirePermit()`` then ``recordSuccess(_:)`` / ``recordFailure(_:error:)`` /
///   ``recordTimeout(_:)`` for code that cannot be wrapped in a closure.
///
/// The breaker is a `final class` guarded by a `LockedValue`; its state is also published in
/// an atomic word so closed-state admission and open-state rejection take no lock.
/// Time comes from the injected clock, so tests drive it with ``ManualClock``.
public final class CircuitBreaker: Sendable {
    /// Grants one call the right to run; report its result exactly once.
    public struct Permit: Sendable {
        enum Kind: UInt8, Sendable {
            case normal
            case probe
            case bypass
        }

        let generation: UInt64
        let kind: Kind
        let start: Duration

        /// Whether this permit is one of the half-open probes.
        public var isProbe: Bool { kind == .probe }
    }

    /// The answer of ``acquirePermit()``.
    public enum PermitDecision: Sendable {
        /// The call may run; report its result with the permit.
        case granted(Permit)
        /// The call must not run.
        case rejected(RejectionReason)
    }

    @usableFromInline
    enum RecordKind: Sendable {
        case success
        case failure
        case timeout
        case ignored
    }

    struct Transition: Sendable {
        var from: CircuitBreakerState
        var to: CircuitBreakerState
        var at: Duration
    }

    struct Core: Sendable {
        var state: CircuitBreakerState = .closed
        var generation: UInt64 = 0
        var stateSince: Duration = .zero
        var consecutiveFailures = 0
        var window: OutcomeWindow
        var openUntil: Duration = .zero
        var openCount = 0
        var backoffStreak = 0
        var lastOpenedAt: Duration?
        var forcedReason: String?
        /// Opened by ``openOnPeerAdvice()`` rather than by its own rules.
        var openedByPeers = false
        var probesAdmitted = 0
        var probeSuccesses = 0
        var totals = CallTotals()
    }

    /// The breaker's name (metric dimension `breaker`, event and error field).
    public let name: String
    /// The validated configuration.
    public let configuration: Configuration
    /// Counts of fallback executions for calls guarded by this breaker.
    public let fallbackMetrics: FallbackMetrics

    let clock: ResilienceClock
    let metrics: CircuitBreakerMetrics
    let eventHub: EventHub
    let logger: Logger
    private let core: LockedValue<Core>
    /// Low 8 bits: state raw value; the rest: generation.
    private let published = Atomic<UInt64>(0)
    private let openUntilNanos = Atomic<Int64>(0)
    /// The open deadline on the coarse clock (see ``ResilienceClock/coarseNanoseconds()``).
    private let openUntilCoarseNanos = Atomic<Int64>(0)
    private let rejectionCount = Atomic<Int>(0)
    private let successCount = Atomic<Int>(0)
    /// Mirrors `Core.consecutiveFailures > 0`, written under the lock.
    private let failureStreak = Atomic<Bool>(false)
    /// Mirrors `Core.openedByPeers`, written under the lock.
    private let openedByPeers = Atomic<Bool>(false)
    /// Whether ``coordinator`` is set, so an uncoordinated breaker reads no lock for it.
    private let isCoordinated = Atomic<Bool>(false)
    private let coordinator = LockedValue<(any CircuitBreakerCoordinator)?>(nil)
    private let tracksDuration: Bool
    /// Successes need the lock only to reset a failure streak, feed the window or close
    /// a half-open breaker; otherwise they are one atomic increment.
    private let lockFreeSuccess: Bool

    /// Creates a closed breaker.
    ///
    /// - Parameters:
    ///   - name: Names the breaker in metrics, events, logs and errors.
    ///   - configuration: Trip rules, open duration, probes, timeout, error predicate.
    ///   - clock: The time source (`ContinuousClock` by default; ``ManualClock`` in tests).
    ///   - metricsFactory: Where metrics go; `nil` means the bootstrapped `MetricsSystem`.
    ///   - logger: Receives state transitions.
    ///   - eventBufferSize: How many undelivered events each ``events()`` stream keeps
    ///     (the newest win).
    /// - Throws: ``CircuitBreaker/ConfigurationError`` naming the invalid field.
    public convenience init<C: Clock>(
        name: String,
        configuration: Configuration = Configuration(),
        clock: C = ContinuousClock(),
        metricsFactory: (any MetricsFactory)? = nil,
        logger: Logger = Logger(label: "breakwater.resilience"),
        eventBufferSize: Int = 256
    ) throws(ConfigurationError) where C.Duration == Duration {
        try self.init(
            name: name,
            configuration: configuration,
            resilienceClock: ResilienceClock(clock),
            metricsFactory: metricsFactory,
            logger: logger,
            eventBufferSize: eventBufferSize
        )
    }

    init(
        name: String,
        configuration: Configuration,
        resilienceClock: ResilienceClock,
        metricsFactory: (any MetricsFactory)?,
        logger: Logger,
        eventBufferSize: Int = 256,
        sharedMetrics: CircuitBreakerMetrics? = nil
    ) throws(ConfigurationError) {
        try configuration.validate()
        if eventBufferSize < 1 {
            throw ConfigurationError(field: "eventBufferSize", reason: "must be at least 1, got \(eventBufferSize)")
        }
        self.name = name
        self.configuration = configuration
        self.clock = resilienceClock
        self.metrics = sharedMetrics ?? CircuitBreakerMetrics(breaker: name, factory: metricsFactory ?? MetricsSystem.factory)
        self.eventHub = EventHub(bufferSize: eventBufferSize)
        self.fallbackMetrics = FallbackMetrics()
        var logger = logger
        logger[metadataKey: "breaker"] = "\(name)"
        self.logger = logger
        self.tracksDuration = configuration.slowCallDuration != nil
        self.lockFreeSuccess = configuration.slowCallDuration == nil && !configuration.usesWindow
        let now = resilienceClock.now()
        self.core = LockedValue(Core(stateSince: now, window: OutcomeWindow(configuration.slidingWindow, enabled: configuration.usesWindow)))
        metrics.state.record(CircuitBreakerState.closed.gaugeValue)
    }

    deinit {
        eventHub.finish()
    }

    // MARK: - Observing

    /// The current state (lock-free read). An open breaker whose open duration has
    /// passed still reads `open` until the next call moves it to half-open.
    public var state: CircuitBreakerState {
        Self.state(of: published.load(ordering: .acquiring))
    }

    /// Whether calls are being rejected right now: forced open, or open and the open
    /// duration has not yet passed.
    public var isOpen: Bool {
        switch state {
        case .forcedOpen:
            return true
        case .open:
            return clock.now().nanosecondsClamped < openUntilNanos.load(ordering: .relaxed) || heldForPeers() != nil
        case .closed, .halfOpen, .disabled:
            return false
        }
    }

    /// Whether the breaker is open because its peers opened it (``openOnPeerAdvice()``)
    /// rather than by its own rules; `false` in every other state.
    public var isOpenedByPeers: Bool {
        state == .open && openedByPeers.load(ordering: .relaxed)
    }

    // MARK: - Peers

    /// Lets `coordinator` decide when this breaker may probe after an opening (see
    /// ``CircuitBreakerCoordinator``); `nil` removes it. The breaker holds it strongly.
    public func coordinate(with coordinator: (any CircuitBreakerCoordinator)?) {
        self.coordinator.withLock { $0 = coordinator }
        isCoordinated.store(coordinator != nil, ordering: .releasing)
    }

    /// Opens a closed breaker because its peers report the dependency failing. It stays
    /// open for its open duration like an opening of its own; rejections read
    /// ``RejectionReason/fleetOpen``.
    /// - Returns: whether it opened (`false` unless it was closed).
    @discardableResult
    public func openOnPeerAdvice() -> Bool {
        let transition = core.withLock { core -> Transition? in
            guard core.state == .closed else { return nil }
            return move(&core, to: .open, at: clock.now(), byPeers: true)
        }
        guard let transition else { return false }
        didTransition(transition)
        return true
    }

    /// Closes an open or half-open breaker because a peer's probe found the dependency
    /// healthy again. Forced states are left alone (an operator set them).
    /// - Returns: whether it closed.
    @discardableResult
    public func closeOnPeerAdvice() -> Bool {
        let transition = core.withLock { core -> Transition? in
            guard core.state == .open || core.state == .halfOpen else { return nil }
            return move(&core, to: .closed, at: clock.now())
        }
        guard let transition else { return false }
        didTransition(transition)
        return true
    }

    /// The rejection of an open breaker whose open duration is over but whose
    /// coordinator does not let it probe yet; `nil` when it may probe.
    private func heldForPeers() -> RejectionReason? {
        guard isCoordinated.load(ordering: .acquiring), let coordinator = coordinator.withLock({ $0 }) else { return nil }
        return coordinator.mayProbe(name) ? nil : .fleetOpen
    }

    /// ``RejectionReason/open``, or ``RejectionReason/fleetOpen`` for an opening by peers.
    private var openRejection: RejectionReason {
        openedByPeers.load(ordering: .relaxed) ? .fleetOpen : .open
    }

    /// A consistent point-in-time view of the breaker.
    public func snapshot() -> CircuitBreakerSnapshot {
        let rejections = rejectionCount.load(ordering: .relaxed)
        let successes = successCount.load(ordering: .relaxed)
        return core.withLock { core in
            let now = clock.now()
            let window = core.window.counts(now: now)
            var totals = core.totals
            totals.rejections = rejections
            totals.successes = successes
            return CircuitBreakerSnapshot(
                name: name,
                state: core.state,
                health: Self.health(of: core.state),
                stateSince: core.stateSince,
                timeInState: now - core.stateSince,
                window: window,
                failureRate: window.failureRate,
                slowCallRate: window.slowCallRate,
                consecutiveFailures: core.consecutiveFailures,
                openCount: core.openCount,
                lastOpenedAt: core.lastOpenedAt,
                lastOpenedAge: core.lastOpenedAt.map { now - $0 },
                retryAfter: core.state == .open ? max(.zero, core.openUntil - now) : nil,
                forcedReason: core.state == .forcedOpen ? core.forcedReason : nil,
                openedByPeers: core.state == .open && core.openedByPeers,
                halfOpenProbesAdmitted: core.state == .halfOpen ? core.probesAdmitted : 0,
                halfOpenSuccesses: core.state == .halfOpen ? core.probeSuccesses : 0,
                totals: totals
            )
        }
    }

    /// healthy (closed, disabled), degraded (half-open) or unhealthy (open, forced open).
    public var health: CircuitBreakerHealth { Self.health(of: state) }

    /// A new stream of this breaker's events (transitions, rejections, fallbacks) from now
    /// on. The stream ends when the breaker is deallocated; cancelling its iteration
    /// unsubscribes. If the consumer falls behind, the oldest undelivered events are dropped.
    public func events() -> AsyncStream<CircuitBreakerEvent> {
        eventHub.stream()
    }

    /// Calls `listener` synchronously for every event, outside the breaker's lock, on
    /// the thread that caused it. Keep it short and non-blocking.
    @discardableResult
    public func addListener(_ listener: @escaping @Sendable (CircuitBreakerEvent) -> Void) -> ListenerToken {
        eventHub.addListener(listener)
    }

    /// Stops calling the listener registered under `token` (no-op if already removed).
    public func removeListener(_ token: ListenerToken) {
        eventHub.remove(token.id)
    }

    // MARK: - Permits

    /// Asks to run one call.
    ///
    /// Lock-free while closed, disabled or forced open, and while open before the open
    /// duration has passed; otherwise it takes the lock (moving open → half-open when
    /// due and handing out probe permits). A rejection neither allocates nor throws.
    public func acquirePermit() -> PermitDecision {
        let word = published.load(ordering: .acquiring)
        switch Self.state(of: word) {
        case .closed:
            return .granted(Permit(generation: word >> 8, kind: .normal, start: tracksDuration ? clock.now() : .zero))
        case .disabled:
            return .granted(Permit(generation: word >> 8, kind: .bypass, start: tracksDuration ? clock.now() : .zero))
        case .forcedOpen:
            return reject(.forcedOpen)
        case .open:
            // The coarse reading may lag real time by one tick, so a "not yet" from it can
            // only delay half-open by that much; a "due" is re-checked precisely under the lock.
            if clock.hasCoarseTime {
                if clock.coarseNanoseconds() < openUntilCoarseNanos.load(ordering: .relaxed) {
                    return reject(openRejection)
                }
            } else if clock.now().nanosecondsClamped < openUntilNanos.load(ordering: .relaxed) {
                return reject(openRejection)
            }
            if let held = heldForPeers() { return reject(held) }
            return acquireLocked()
        case .halfOpen:
            return acquireLocked()
        }
    }

    /// Rejects a call only if ``acquirePermit()`` would reject it without taking the lock
    /// (forced open, or open before the open duration has passed), counting the rejection
    /// as it would.
    /// - Returns: the rejection's reason, or `nil` when a call might be admitted (closed,
    ///   disabled, half-open, or open and due for a probe): then nothing was recorded and
    ///   the caller asks ``acquirePermit()`` (or calls through) as usual.
    public func rejectIfOpen() -> RejectionReason? {
        guard let reason = rejectionWithoutLock() else { return nil }
        countRejection(reason)
        return reason
    }

    /// The reason ``acquirePermit()`` would reject a call now without taking the lock;
    /// counts nothing.
    func rejectionWithoutLock() -> RejectionReason? {
        switch Self.state(of: published.load(ordering: .acquiring)) {
        case .forcedOpen:
            return .forcedOpen
        case .open:
            let due =
                clock.hasCoarseTime
                ? clock.coarseNanoseconds() >= openUntilCoarseNanos.load(ordering: .relaxed)
                : clock.now().nanosecondsClamped >= openUntilNanos.load(ordering: .relaxed)
            return due ? heldForPeers() : openRejection
        case .closed, .disabled, .halfOpen:
            return nil
        }
    }

    /// Counts a rejection decided by ``rejectionWithoutLock()``.
    func countRejection(_ reason: RejectionReason) {
        _ = reject(reason)
    }

    /// Reports that the call behind `permit` succeeded.
    public func recordSuccess(_ permit: Permit) {
        complete(permit, .success)
    }

    /// Reports that the call behind `permit` failed. With an `error`, the configured
    /// predicate decides whether it counts (an uncounted error leaves the state alone);
    /// without one, the failure counts.
    public func recordFailure(_ permit: Permit, error: (any Error)? = nil) {
        if let error, !configuration.isFailure(error) {
            complete(permit, .ignored)
        } else {
            complete(permit, .failure)
        }
    }

    /// Reports that the call behind `permit` timed out (counts as a failure).
    public func recordTimeout(_ permit: Permit) {
        complete(permit, .timeout)
    }

    // MARK: - Admin

    /// Forces the breaker open until ``reset()``; every call is rejected. `reason` is kept
    /// for snapshots.
    public func forceOpen(reason: String) {
        let transition = core.withLock { core -> Transition? in
            core.forcedReason = reason
            guard core.state != .forcedOpen else { return nil }
            return move(&core, to: .forcedOpen, at: clock.now())
        }
        if let transition { didTransition(transition) }
    }

    /// Forces the breaker closed (state `disabled`) until ``reset()``: every call passes
    /// and nothing trips it.
    public func forceClosed() {
        let transition = core.withLock { core -> Transition? in
            guard core.state != .disabled else { return nil }
            return move(&core, to: .disabled, at: clock.now())
        }
        if let transition { didTransition(transition) }
    }

    /// Same as ``forceClosed()``.
    public func disable() {
        forceClosed()
    }

    /// Returns to closed with an empty window, no consecutive failures and the backoff
    /// restarted; lifetime totals and the open count are kept.
    public func reset() {
        let transition = core.withLock { core -> Transition? in
            core.forcedReason = nil
            if core.state == .closed {
                core.consecutiveFailures = 0
                failureStreak.store(false, ordering: .relaxed)
                core.window.clear()
                core.backoffStreak = 0
                return nil
            }
            return move(&core, to: .closed, at: clock.now())
        }
        if let transition { didTransition(transition) }
    }

    // MARK: - Internals

    @inline(__always)
    static func state(of word: UInt64) -> CircuitBreakerState {
        CircuitBreakerState(rawValue: UInt8(truncatingIfNeeded: word)) ?? .closed
    }

    static func health(of state: CircuitBreakerState) -> CircuitBreakerHealth {
        switch state {
        case .closed, .disabled: .healthy
        case .halfOpen: .degraded
        case .open, .forcedOpen: .unhealthy
        }
    }

    private func reject(_ reason: RejectionReason) -> PermitDecision {
        rejectionCount.add(1, ordering: .relaxed)
        metrics.rejections.increment()
        metrics.rejectedCalls.increment()
        if eventHub.hasObservers {
            eventHub.emit(.rejected(breaker: name, reason: reason, at: clock.now()))
        }
        return .rejected(reason)
    }

    private func acquireLocked() -> PermitDecision {
        let (decision, transition) = core.withLock { core -> (PermitDecision?, Transition?) in
            let now = clock.now()
            var transition: Transition?
            switch core.state {
            case .closed:
                return (.granted(Permit(generation: core.generation, kind: .normal, start: now)), nil)
            case .disabled:
                return (.granted(Permit(generation: core.generation, kind: .bypass, start: now)), nil)
            case .forcedOpen:
                return (nil, nil)
            case .open:
                if now < core.openUntil { return (.rejected(core.openedByPeers ? .fleetOpen : .open), nil) }
                transition = move(&core, to: .halfOpen, at: now)
            case .halfOpen:
                break
            }
            guard core.probesAdmitted < configuration.halfOpenProbes else {
                if let maxWait = configuration.halfOpenMaxWait, now - core.stateSince >= maxWait {
                    core.backoffStreak += 1
                    return (.rejected(.open), move(&core, to: .open, at: now))
                }
                return (.rejected(.halfOpenProbesExhausted), transition)
            }
            core.probesAdmitted += 1
            return (.granted(Permit(generation: core.generation, kind: .probe, start: now)), transition)
        }
        if let transition { didTransition(transition) }
        switch decision {
        case .granted(let permit):
            return .granted(permit)
        case .rejected(let reason):
            return reject(reason)
        case nil:
            return reject(.forcedOpen)
        }
    }

    @usableFromInline
    func complete(_ permit: Permit, _ kind: RecordKind) {
        if kind == .success {
            successCount.add(1, ordering: .relaxed)
            if lockFreeSuccess, permit.kind != .probe, !failureStreak.load(ordering: .relaxed),
                published.load(ordering: .acquiring) >> 8 == permit.generation
            {
                // Same state episode as at admission and no streak to reset: nothing to
                // change. (A failure racing this success is ordered after it.)
                metrics.successes.increment()
                return
            }
        }
        var end: Duration?
        var slow = false
        if let slowCallDuration = configuration.slowCallDuration {
            let now = clock.now()
            end = now
            slow = now - permit.start >= slowCallDuration
        }
        switch kind {
        case .success: metrics.successes.increment()
        case .failure: metrics.failures.increment()
        case .timeout: metrics.timeouts.increment()
        case .ignored: metrics.ignoredErrors.increment()
        }
        if slow { metrics.slowCalls.increment() }
        let (transition, streak) = core.withLock { core -> (Transition?, Int?) in
            switch kind {
            case .success: break  // counted in successCount
            case .failure: core.totals.failures += 1
            case .timeout: core.totals.timeouts += 1
            case .ignored: core.totals.ignoredErrors += 1
            }
            if slow { core.totals.slowCalls += 1 }
            guard permit.generation == core.generation else { return (nil, nil) }
            switch core.state {
            case .closed:
                let transition = recordClosed(&core, kind: kind, slow: slow, end: end)
                let counted = transition == nil && (kind == .failure || kind == .timeout)
                return (transition, counted ? core.consecutiveFailures : nil)
            case .halfOpen:
                return (recordProbe(&core, permit: permit, kind: kind), nil)
            case .open, .forcedOpen, .disabled:
                return (nil, nil)
            }
        }
        if let transition { didTransition(transition) }
        if let streak, eventHub.hasObservers {
            eventHub.emit(.failureCounted(breaker: name, consecutiveFailures: streak, at: end ?? clock.now()))
        }
    }

    private func recordClosed(_ core: inout Core, kind: RecordKind, slow: Bool, end: Duration?) -> Transition? {
        if kind == .ignored { return nil }
        let failed = kind != .success
        var now = end
        if failed {
            core.consecutiveFailures += 1
        } else {
            core.consecutiveFailures = 0
        }
        failureStreak.store(core.consecutiveFailures > 0, ordering: .relaxed)
        if configuration.usesWindow {
            if now == nil, core.window.needsTime { now = clock.now() }
            core.window.record(failure: failed, slow: slow, now: now ?? .zero)
        }
        var trip = false
        if let threshold = configuration.failureThreshold, core.consecutiveFailures >= threshold {
            trip = true
        }
        if !trip, configuration.usesWindow {
            let counts = core.window.counts(now: now ?? .zero)
            if counts.calls >= configuration.minimumCalls {
                if let rate = configuration.failureRateThreshold, counts.failureRate >= rate { trip = true }
                if let rate = configuration.slowCallRateThreshold, counts.slowCallRate >= rate { trip = true }
            }
        }
        guard trip else { return nil }
        return move(&core, to: .open, at: now ?? clock.now())
    }

    private func recordProbe(_ core: inout Core, permit: Permit, kind: RecordKind) -> Transition? {
        guard permit.kind == .probe else { return nil }
        switch kind {
        case .ignored:
            core.probesAdmitted -= 1
            return nil
        case .success:
            core.probeSuccesses += 1
            guard core.probeSuccesses >= configuration.successThreshold else { return nil }
            return move(&core, to: .closed, at: clock.now())
        case .failure, .timeout:
            core.backoffStreak += 1
            return move(&core, to: .open, at: clock.now())
        }
    }

    /// Moves to `state` under the lock, resets what the new state starts from, and
    /// publishes the new word. Returns the transition to report after unlocking.
    private func move(_ core: inout Core, to state: CircuitBreakerState, at now: Duration, byPeers: Bool = false) -> Transition {
        let from = core.state
        core.state = state
        core.openedByPeers = byPeers && state == .open
        openedByPeers.store(core.openedByPeers, ordering: .relaxed)
        core.stateSince = now
        core.generation &+= 1
        switch state {
        case .closed:
            core.consecutiveFailures = 0
            failureStreak.store(false, ordering: .relaxed)
            core.window.clear()
            core.backoffStreak = 0
        case .open:
            core.openCount += 1
            core.lastOpenedAt = now
            core.openUntil = now + openDuration(streak: core.backoffStreak)
            openUntilNanos.store(core.openUntil.nanosecondsClamped, ordering: .relaxed)
            if clock.hasCoarseTime {
                let remaining = (core.openUntil - clock.now()).nanosecondsClamped
                let (deadline, overflow) = clock.coarseNanoseconds().addingReportingOverflow(remaining)
                openUntilCoarseNanos.store(overflow ? .max : deadline, ordering: .relaxed)
            }
        case .halfOpen:
            core.probesAdmitted = 0
            core.probeSuccesses = 0
        case .forcedOpen, .disabled:
            break
        }
        if state != .forcedOpen { core.forcedReason = nil }
        published.store((core.generation << 8) | UInt64(state.rawValue), ordering: .releasing)
        return Transition(from: from, to: state, at: now)
    }

    /// The open duration for the `streak`-th successive opening (0 when opening from
    /// closed), jitter included: a fresh draw on every call when jitter is configured.
    public func openDuration(streak: Int) -> Duration {
        switch configuration.openDuration {
        case .fixed(let duration):
            return duration
        case .exponential(let initial, let multiplier, let maximum, let jitter):
            let cap = maximum.secondsDouble
            var seconds = initial.secondsDouble
            for _ in 0..<streak where seconds < cap {
                seconds *= multiplier
            }
            seconds = min(seconds, cap)
            if jitter > 0 {
                seconds *= 1 + Double.random(in: -jitter...jitter)
            }
            seconds = min(max(seconds, 0), cap)
            let nanoseconds = seconds * 1e9
            guard nanoseconds < 9.2e18 else { return maximum }
            return .nanoseconds(Int64(nanoseconds))
        }
    }

    private func didTransition(_ transition: Transition) {
        metrics.transition(from: transition.from, to: transition.to)
        let level: Logger.Level = transition.to == .open || transition.to == .forcedOpen ? .warning : .notice
        logger.log(
            level: level,
            "circuit breaker state changed",
            metadata: ["from": "\(transition.from)", "to": "\(transition.to)"]
        )
        eventHub.emit(.stateChanged(breaker: name, from: transition.from, to: transition.to, at: transition.at))
    }
}
