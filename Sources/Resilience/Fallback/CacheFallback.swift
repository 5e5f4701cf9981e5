import OrderedCollections
import Locking

/// A bounded cache of last-good values (the design's `CacheFallback`): LRU eviction at
/// ``capacity``, entries expire ``ttl`` after insertion, and ``getOrFetch(_:fetch:)``
/// coalesces concurrent fetches of one key into one call.
public final class CacheFallback<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Entry: Sendable {
        var value: Value
        var insertedAt: Duration
    }

    private enum Source: Sendable {
        case cached(Value)
        case fetching(Task<Value, any Error>)
    }

    private struct State: Sendable {
        /// Least recently used first.
        var entries: OrderedDictionary<Key, Entry> = [:]
        var inFlight: [Key: Task<Value, any Error>] = [:]
        var fetches = 0
        var coalesced = 0
        var evictions = 0
    }

    /// Statistics for tests and monitoring.
    public struct Statistics: Sendable, Hashable {
        /// Fetches started by ``getOrFetch(_:fetch:)``.
        public var fetches: Int
        /// Calls of ``getOrFetch(_:fetch:)`` that joined a fetch already in flight.
        public var coalesced: Int
        /// Entries dropped to respect the capacity.
        public var evictions: Int
    }

    /// The most entries kept.
    public let capacity: Int
    /// How long an entry is served after insertion.
    public let ttl: Duration
    private let clock: ResilienceClock
    private let state = LockedValue(State())

    /// Creates an empty cache.
    /// - Throws: ``CircuitBreaker/ConfigurationError`` for `capacity` below 1 or a non-positive `ttl`.
    public init<C: Clock>(capacity: Int, ttl: Duration, clock: C = ContinuousClock()) throws(CircuitBreaker.ConfigurationError)
    where C.Duration == Duration {
        if capacity < 1 {
            throw CircuitBreaker.ConfigurationError(field: "capacity", reason: "must be at least 1, got \(capacity)")
        }
        if ttl <= .zero {
            throw CircuitBreaker.ConfigurationError(field: "ttl", reason: "must be positive, got \(ttl)")
        }
        self.capacity = capacity
        self.ttl = ttl
        self.clock = ResilienceClock(clock)
    }

    /// The cached value for `key` if present and younger than ``ttl`` (the design's
    /// `get_cached`); marks it recently used. An expired entry is removed.
    public func get(_ key: Key) -> Value? {
        let now = clock.now()
        return state.withLock { state in lookup(key, now: now, in: &state)?.value }
    }

    /// Stores `value` under `key` as most recently used, evicting the least recently used
    /// entry when over ``capacity``.
    public func insert(_ value: Value, for key: Key) {
        let now = clock.now()
        state.withLock { state in store(value, for: key, now: now, in: &state) }
    }

    /// Removes `key`'s entry.
    public func invalidate(_ key: Key) {
        _ = state.withLock { $0.entries.removeValue(forKey: key) }
    }

    /// Entries currently held (expired ones included until touched).
    public var count: Int { state.withLock { $0.entries.count } }

    /// Fetch counters.
    public var statistics: Statistics {
        state.withLock { Statistics(fetches: $0.fetches, coalesced: $0.coalesced, evictions: $0.evictions) }
    }

    /// The cached value, or the result of `fetch` stored on success. Concurrent callers
    /// for one key share a single fetch.
    /// - Throws: `fetch`'s error (to every caller sharing it); nothing is cached then.
    public func getOrFetch(_ key: Key, fetch: @escaping @Sendable () async throws -> Value) async throws -> Value {
        let now = clock.now()
        let source = state.withLock { state -> Source in
            if let hit = lookup(key, now: now, in: &state) { return .cached(hit.value) }
            if let running = state.inFlight[key] {
                state.coalesced += 1
                return .fetching(running)
            }
            state.fetches += 1
            let task = Task<Value, any Error> {
                do {
                    let value = try await fetch()
                    self.finishFetch(key, value: value)
                    return value
                } catch {
                    self.finishFetch(key, value: nil)
                    throw error
                }
            }
            state.inFlight[key] = task
            return .fetching(task)
        }
        switch source {
        case .cached(let value):
            return value
        case .fetching(let task):
            return try await task.value
        }
    }

    /// A strategy serving this cache's entry for `key`; a miss is "no value".
    public func strategy(for key: Key, name: String = "cache") -> Strategy {
        Strategy(cache: self, key: key, name: name)
    }

    /// Serves one key of a ``CacheFallback`` (the design's `CacheStrategy`).
    public struct Strategy: SynchronousFallbackStrategy {
        let cache: CacheFallback
        let key: Key
        /// The strategy name, `"cache"` by default.
        public let name: String

        /// The cached value with its age, or `nil` on a miss or expiry.
        public func execute(_ context: FallbackContext) -> FallbackValue<Value>? {
            let now = cache.clock.now()
            return cache.state.withLock { state in
                cache.lookup(key, now: now, in: &state).map { FallbackValue($0.value, age: now - $0.insertedAt) }
            }
        }
    }

    private func finishFetch(_ key: Key, value: Value?) {
        let now = clock.now()
        state.withLock { state in
            state.inFlight[key] = nil
            if let value { store(value, for: key, now: now, in: &state) }
        }
    }

    private func lookup(_ key: Key, now: Duration, in state: inout State) -> Entry? {
        guard let index = state.entries.index(forKey: key) else { return nil }
        let entry = state.entries.remove(at: index).value
        guard now - entry.insertedAt < ttl else { return nil }
        state.entries[key] = entry
        return entry
    }

    private func store(_ value: Value, for key: Key, now: Duration, in state: inout State) {
        state.entries.removeValue(forKey: key)
        state.entries[key] = Entry(value: value, insertedAt: now)
        while state.entries.count > capacity {
            state.entries.removeFirst()
            state.evictions += 1
        }
    }
}
