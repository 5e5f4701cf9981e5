import CoreMetrics
import Logging
import Locking

/// One breaker per key (per tenant, per host…), each named `name[key]`, with eviction
/// of keys idle longer than ``idleTimeout`` so the set cannot grow without bound.
///
/// A key's breaker is created on first use. Every ``breaker(for:)`` marks its key used;
/// at most once per ``idleTimeout`` it also sweeps out keys idle longer than that (also
/// available as ``evictIdle()``). An evicted key starts afresh (closed) on its next use.
/// Members share one set of metric instruments with dimension `breaker` = `name`, so
/// tenant keys never become metric labels (the state gauge shows the latest transition
/// of any member; per-key state is in ``snapshots()``).
public final class KeyedCircuitBreakers<Key: Hashable & Sendable>: Sendable, KeyedBreakerSet {
    private struct Member: Sendable {
        var breaker: CircuitBreaker
        var lastUsed: Duration
    }

    private struct State: Sendable {
        var members: [Key: Member] = [:]
        var lastSweep: Duration
    }

    /// The set's name.
    public let name: String
    /// The configuration of every member.
    public let configuration: CircuitBreaker.Configuration
    /// Keys unused for longer than this are evicted.
    public let idleTimeout: Duration
    private let clock: ResilienceClock
    private let metrics: CircuitBreakerMetrics
    private let logger: Logger
    private let state: LockedValue<State>

    /// Creates an empty set.
    /// - Throws: ``CircuitBreaker/ConfigurationError`` for an invalid configuration or a non-positive
    ///   `idleTimeout`.
    public convenience init<C: Clock>(
        name: String,
        configuration: CircuitBreaker.Configuration = CircuitBreaker.Configuration(),
        idleTimeout: Duration,
        clock: C = ContinuousClock(),
        metricsFactory: (any MetricsFactory)? = nil,
        logger: Logger = Logger(label: "breakwater.resilience")
    ) throws(CircuitBreaker.ConfigurationError) where C.Duration == Duration {
        try self.init(
            name: name,
            configuration: configuration,
            idleTimeout: idleTimeout,
            resilienceClock: ResilienceClock(clock),
            metricsFactory: metricsFactory,
            logger: logger
        )
    }

    init(
        name: String,
        configuration: CircuitBreaker.Configuration,
        idleTimeout: Duration,
        resilienceClock: ResilienceClock,
        metricsFactory: (any MetricsFactory)?,
        logger: Logger
    ) throws(CircuitBreaker.ConfigurationError) {
        try configuration.validate()
        if idleTimeout <= .zero {
            throw CircuitBreaker.ConfigurationError(field: "idleTimeout", reason: "must be positive, got \(idleTimeout)")
        }
        self.name = name
        self.configuration = configuration
        self.idleTimeout = idleTimeout
        self.clock = resilienceClock
        self.metrics = CircuitBreakerMetrics(breaker: name, factory: metricsFactory ?? MetricsSystem.factory)
        self.logger = logger
        self.state = LockedValue(State(lastSweep: resilienceClock.now()))
    }

    /// The breaker for `key`, created closed if absent; marks the key used.
    public func breaker(for key: Key) -> CircuitBreaker {
        let now = clock.now()
        return state.withLock { state in
            if now - state.lastSweep >= idleTimeout {
                sweep(&state, now: now)
            }
            if var member = state.members[key] {
                member.lastUsed = now
                state.members[key] = member
                return member.breaker
            }
            let created = makeBreaker(key: key)
            state.members[key] = Member(breaker: created, lastUsed: now)
            return created
        }
    }

    /// Removes every key idle longer than ``idleTimeout``.
    /// - Returns: How many keys were evicted.
    @discardableResult
    public func evictIdle() -> Int {
        let now = clock.now()
        return state.withLock { sweep(&$0, now: now) }
    }

    /// The keys currently held.
    public var keys: [Key] { state.withLock { Array($0.members.keys) } }

    /// How many keys are held.
    public var count: Int { state.withLock { $0.members.count } }

    /// Every member's snapshot, sorted by name.
    public func snapshots() -> [CircuitBreakerSnapshot] {
        members.map { $0.snapshot() }.sorted { $0.name < $1.name }
    }

    var members: [CircuitBreaker] { state.withLock { $0.members.values.map(\.breaker) } }

    func member(named memberName: String) -> CircuitBreaker? {
        state.withLock { state in state.members.values.first { $0.breaker.name == memberName }?.breaker }
    }

    /// The member name of `key`: `name[key]`.
    public func memberName(for key: Key) -> String { "\(name)[\(key)]" }

    @discardableResult
    private func sweep(_ state: inout State, now: Duration) -> Int {
        state.lastSweep = now
        let before = state.members.count
        state.members = state.members.filter { now - $0.value.lastUsed <= idleTimeout }
        return before - state.members.count
    }

    private func makeBreaker(key: Key) -> CircuitBreaker {
        do {
            return try CircuitBreaker(
                name: memberName(for: key),
                configuration: configuration,
                resilienceClock: clock,
                metricsFactory: nil,
                logger: logger,
                sharedMetrics: metrics
            )
        } catch {
            // The configuration was validated by this set's initializer.
            preconditionFailure("validated configuration rejected: \(error)")
        }
    }
}
