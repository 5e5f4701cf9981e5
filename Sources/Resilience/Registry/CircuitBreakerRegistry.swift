import CoreMetrics
import Logging
import Locking

/// The error of the registry's by-name admin operations.
public enum CircuitBreakerRegistryError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No breaker (plain or keyed member) has this name.
    case unknownBreaker(String)

    /// `"no circuit breaker named '<name>'"`.
    public var description: String {
        switch self {
        case .unknownBreaker(let name): "no circuit breaker named '\(name)'"
        }
    }
}

/// Every breaker of a process by name: get-or-create with a default configuration,
/// keyed sets, snapshots for health checks, and admin operations by name.
public final class CircuitBreakerRegistry: Sendable {
    /// The configuration of breakers created without one.
    public let defaultConfiguration: CircuitBreaker.Configuration
    private let clock: ResilienceClock
    private let metricsFactory: (any MetricsFactory)?
    private let logger: Logger
    private let breakers = LockedValue<[String: CircuitBreaker]>([:])
    private let keyedSets = LockedValue<[String: any KeyedBreakerSet]>([:])

    /// Creates an empty registry.
    /// - Throws: ``CircuitBreaker/ConfigurationError`` when `defaultConfiguration` is invalid.
    public init<C: Clock>(
        defaultConfiguration: CircuitBreaker.Configuration = CircuitBreaker.Configuration(),
        clock: C = ContinuousClock(),
        metricsFactory: (any MetricsFactory)? = nil,
        logger: Logger = Logger(label: "breakwater.resilience")
    ) throws(CircuitBreaker.ConfigurationError) where C.Duration == Duration {
        try defaultConfiguration.validate()
        self.defaultConfiguration = defaultConfiguration
        self.clock = ResilienceClock(clock)
        self.metricsFactory = metricsFactory
        self.logger = logger
    }

    /// The breaker named `name`, created with the default configuration if absent.
    public func breaker(named name: String) -> CircuitBreaker {
        breakers.withLock { breakers in
            if let existing = breakers[name] { return existing }
            let created = makeBreaker(name: name, configuration: nil)
            breakers[name] = created
            return created
        }
    }

    /// The breaker named `name`, created with `configuration` if absent (an existing
    /// breaker keeps its configuration).
    /// - Throws: ``CircuitBreaker/ConfigurationError`` when a new breaker's configuration is invalid.
    public func breaker(named name: String, configuration: CircuitBreaker.Configuration) throws(CircuitBreaker.ConfigurationError) -> CircuitBreaker {
        try configuration.validate()
        return breakers.withLock { breakers in
            if let existing = breakers[name] { return existing }
            let created = makeBreaker(name: name, configuration: configuration)
            breakers[name] = created
            return created
        }
    }

    /// The keyed set named `name`, created if absent (an existing set keeps its settings).
    /// - Throws: ``CircuitBreaker/ConfigurationError`` for an invalid configuration or non-positive
    ///   `idleTimeout`, or when `name` is already used by a set of another key type.
    public func keyedBreakers<Key: Hashable & Sendable>(
        named name: String,
        keyType: Key.Type = Key.self,
        idleTimeout: Duration,
        configuration: CircuitBreaker.Configuration? = nil
    ) throws(CircuitBreaker.ConfigurationError) -> KeyedCircuitBreakers<Key> {
        let configuration = configuration ?? defaultConfiguration
        let created = try KeyedCircuitBreakers<Key>(
            name: name,
            configuration: configuration,
            idleTimeout: idleTimeout,
            resilienceClock: clock,
            metricsFactory: metricsFactory,
            logger: logger
        )
        let result = keyedSets.withLock { sets -> KeyedCircuitBreakers<Key>? in
            if let existing = sets[name] { return existing as? KeyedCircuitBreakers<Key> }
            sets[name] = created
            return created
        }
        guard let result else {
            throw CircuitBreaker.ConfigurationError(field: "name", reason: "'\(name)' is a keyed set of another key type")
        }
        return result
    }

    /// The breaker named `name` if it exists: a plain breaker, or a keyed member by its
    /// full name `set[key]`.
    public func existingBreaker(named name: String) -> CircuitBreaker? {
        if let plain = breakers.withLock({ $0[name] }) { return plain }
        let sets = keyedSets.withLock { Array($0.values) }
        for set in sets {
            if let member = set.member(named: name) { return member }
        }
        return nil
    }

    /// Every breaker, plain and keyed members, sorted by name.
    public var allBreakers: [CircuitBreaker] {
        let plain = breakers.withLock { Array($0.values) }
        let sets = keyedSets.withLock { Array($0.values) }
        return (plain + sets.flatMap { $0.members }).sorted { $0.name < $1.name }
    }

    /// A snapshot of every breaker, sorted by name.
    public func snapshots() -> [CircuitBreakerSnapshot] {
        allBreakers.map { $0.snapshot() }
    }

    /// The worst health of all breakers (healthy when there are none).
    public var health: CircuitBreakerHealth {
        allBreakers.map(\.health).max() ?? .healthy
    }

    /// The snapshot of the breaker named `name`.
    /// - Throws: ``CircuitBreakerRegistryError/unknownBreaker(_:)``.
    public func snapshot(named name: String) throws(CircuitBreakerRegistryError) -> CircuitBreakerSnapshot {
        try require(name).snapshot()
    }

    /// ``CircuitBreaker/forceOpen(reason:)`` by name.
    /// - Throws: ``CircuitBreakerRegistryError/unknownBreaker(_:)``.
    public func forceOpen(named name: String, reason: String) throws(CircuitBreakerRegistryError) {
        try require(name).forceOpen(reason: reason)
    }

    /// ``CircuitBreaker/forceClosed()`` by name.
    /// - Throws: ``CircuitBreakerRegistryError/unknownBreaker(_:)``.
    public func forceClosed(named name: String) throws(CircuitBreakerRegistryError) {
        try require(name).forceClosed()
    }

    /// ``CircuitBreaker/reset()`` by name.
    /// - Throws: ``CircuitBreakerRegistryError/unknownBreaker(_:)``.
    public func reset(named name: String) throws(CircuitBreakerRegistryError) {
        try require(name).reset()
    }

    private func require(_ name: String) throws(CircuitBreakerRegistryError) -> CircuitBreaker {
        guard let breaker = existingBreaker(named: name) else { throw .unknownBreaker(name) }
        return breaker
    }

    private func makeBreaker(name: String, configuration: CircuitBreaker.Configuration?) -> CircuitBreaker {
        do {
            return try CircuitBreaker(
                name: name,
                configuration: configuration ?? defaultConfiguration,
                resilienceClock: clock,
                metricsFactory: metricsFactory,
                logger: logger
            )
        } catch {
            // Both configurations were validated before this point.
            preconditionFailure("validated configuration rejected: \(error)")
        }
    }
}

/// Type-erased view of a keyed set for the registry.
protocol KeyedBreakerSet: Sendable {
    var members: [CircuitBreaker] { get }
    func member(named name: String) -> CircuitBreaker?
}
