import Locking

/// A cached value with how old it is (the design's `StaleValue`).
public struct StaleValue<Value: Sendable>: Sendable {
    /// The value.
    public var value: Value
    /// How old the value was when read.
    public var age: Duration
    /// Whether it is past the fresh period (but still within the stale limit).
    public var isStale: Bool

    /// Creates a value of `age`.
    public init(value: Value, age: Duration, isStale: Bool) {
        self.value = value
        self.age = age
        self.isStale = isStale
    }
}

extension StaleValue: Equatable where Value: Equatable {}

/// A cache that keeps serving values past their fresh period, marked stale with their
/// age, until a hard limit (the design's `StaleCache`).
///
/// Ages: `age < freshFor` → fresh; `freshFor ≤ age < staleFor` → stale; `age ≥ staleFor`
/// → expired: removed and not returned.
public final class StaleCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Entry: Sendable {
        var value: Value
        var cachedAt: Duration
    }

    /// How long a value is fresh.
    public let freshFor: Duration
    /// The age at which a value expires.
    public let staleFor: Duration
    private let clock: ResilienceClock
    private let entries = LockedValue<[Key: Entry]>([:])

    /// Creates an empty cache.
    /// - Throws: ``CircuitBreaker/ConfigurationError`` for a non-positive `freshFor` or a `staleFor`
    ///   shorter than `freshFor`.
    public init<C: Clock>(freshFor: Duration, staleFor: Duration, clock: C = ContinuousClock()) throws(CircuitBreaker.ConfigurationError)
    where C.Duration == Duration {
        if freshFor <= .zero {
            throw CircuitBreaker.ConfigurationError(field: "freshFor", reason: "must be positive, got \(freshFor)")
        }
        if staleFor < freshFor {
            throw CircuitBreaker.ConfigurationError(field: "staleFor", reason: "must be at least freshFor (\(freshFor)), got \(staleFor)")
        }
        self.freshFor = freshFor
        self.staleFor = staleFor
        self.clock = ResilienceClock(clock)
    }

    /// Stores `value` under `key`, fresh from now.
    public func insert(_ value: Value, for key: Key) {
        let now = clock.now()
        entries.withLock { $0[key] = Entry(value: value, cachedAt: now) }
    }

    /// The value with its age and staleness, or `nil` when absent or expired (an expired
    /// entry is removed).
    public func get(_ key: Key) -> StaleValue<Value>? {
        entries.withLock { entries in
            guard let entry = entries[key] else { return nil }
            // Read only for an entry: a miss (every call while nothing is cached) needs no time.
            let age = clock.now() - entry.cachedAt
            if age >= staleFor {
                entries[key] = nil
                return nil
            }
            return StaleValue(value: entry.value, age: age, isStale: age >= freshFor)
        }
    }

    /// Removes every expired entry; returns how many.
    @discardableResult
    public func removeExpired() -> Int {
        let now = clock.now()
        return entries.withLock { entries in
            let before = entries.count
            entries = entries.filter { now - $0.value.cachedAt < staleFor }
            return before - entries.count
        }
    }

    /// Entries held (expired ones included until read or ``removeExpired()``).
    public var count: Int { entries.withLock { $0.count } }

    /// A strategy serving `key`'s value as a ``StaleValue`` (reporting its age).
    public func strategy(for key: Key, name: String = "stale_cache") -> Strategy {
        Strategy(cache: self, key: key, name: name)
    }

    /// Serves one key of a ``StaleCache``, fresh or stale.
    public struct Strategy: SynchronousFallbackStrategy {
        let cache: StaleCache
        let key: Key
        /// The strategy name, `"stale_cache"` by default.
        public let name: String

        /// The value with its age, or `nil` when absent or expired.
        public func execute(_ context: FallbackContext) -> FallbackValue<StaleValue<Value>>? {
            cache.get(key).map { FallbackValue($0, age: $0.age, isStale: $0.isStale) }
        }

        /// This strategy serving plain values (for chains of `Value`), still reporting age.
        public var values: ValueStrategy { ValueStrategy(base: self) }
    }

    /// ``Strategy`` serving the bare `Value`, for a ``FallbackChain`` of `Value`.
    public struct ValueStrategy: SynchronousFallbackStrategy {
        let base: Strategy
        /// The base strategy's name.
        public var name: String { base.name }

        /// The value with its age, or `nil` when absent or expired.
        public func execute(_ context: FallbackContext) -> FallbackValue<Value>? {
            base.cache.get(base.key).map { FallbackValue($0.value, age: $0.age, isStale: $0.isStale) }
        }
    }
}
