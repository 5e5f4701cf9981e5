import Resilience
import Testing

@Suite("CacheFallback and StaleCache")
struct CacheTests {
    let clock = ManualClock()

    @Test func invalidCacheSettingsNameTheField() {
        #expect(throws: CircuitBreaker.ConfigurationError(field: "capacity", reason: "must be at least 1, got 0")) {
            try CacheFallback<Int, Int>(capacity: 0, ttl: .seconds(1), clock: clock)
        }
        let ttl = #expect(throws: CircuitBreaker.ConfigurationError.self) { try CacheFallback<Int, Int>(capacity: 1, ttl: .zero, clock: clock) }
        #expect(ttl?.field == "ttl")
        let fresh = #expect(throws: CircuitBreaker.ConfigurationError.self) { try StaleCache<Int, Int>(freshFor: .zero, staleFor: .seconds(1), clock: clock) }
        #expect(fresh?.field == "freshFor")
        let stale = #expect(throws: CircuitBreaker.ConfigurationError.self) {
            try StaleCache<Int, Int>(freshFor: .seconds(2), staleFor: .seconds(1), clock: clock)
        }
        #expect(stale?.field == "staleFor")
    }

    @Test func lruEvictsTheLeastRecentlyUsedEntry() throws {
        let cache = try CacheFallback<String, Int>(capacity: 2, ttl: .seconds(60), clock: clock)
        cache.insert(1, for: "a")
        cache.insert(2, for: "b")
        #expect(cache.get("a") == 1)  // "a" becomes most recently used
        cache.insert(3, for: "c")  // evicts "b"
        #expect(cache.get("b") == nil)
        #expect(cache.get("a") == 1)
        #expect(cache.get("c") == 3)
        #expect(cache.count == 2)
        #expect(cache.statistics.evictions == 1)
        cache.invalidate("a")
        #expect(cache.get("a") == nil)
    }

    @Test func entriesExpireExactlyAtTheTTL() throws {
        let cache = try CacheFallback<String, Int>(capacity: 2, ttl: .seconds(60), clock: clock)
        cache.insert(1, for: "a")
        clock.advance(by: .seconds(60) - .nanoseconds(1))
        #expect(cache.get("a") == 1)
        clock.advance(by: .nanoseconds(1))
        #expect(cache.get("a") == nil)
        #expect(cache.count == 0)  // the expired entry was removed
    }

    @Test func getOrFetchServesFromCacheAndCachesFetches() async throws {
        let cache = try CacheFallback<String, Int>(capacity: 2, ttl: .seconds(60), clock: clock)
        let fetched = try await cache.getOrFetch("a") { 1 }
        let cached = try await cache.getOrFetch("a") { 2 }
        #expect(fetched == 1 && cached == 1)
        #expect(cache.statistics.fetches == 1)
        await #expect(throws: TestError.self) { try await cache.getOrFetch("b") { throw TestError() } }
        #expect(cache.get("b") == nil)
    }

    @Test func concurrentFetchesOfOneKeyAreCoalesced() async throws {
        let cache = try CacheFallback<String, Int>(capacity: 2, ttl: .seconds(60), clock: clock)
        let calls = Counter()
        let (gate, open) = AsyncStream<Void>.makeStream()
        let fetch: @Sendable () async throws -> Int = {
            calls.increment()
            for await _ in gate { break }
            return 42
        }
        let results = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<20 {
                group.addTask { try await cache.getOrFetch("k", fetch: fetch) }
            }
            while cache.statistics.fetches + cache.statistics.coalesced < 20 {
                await Task.yield()
            }
            open.yield()
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(results == Array(repeating: 42, count: 20))
        #expect(calls.count == 1)
        #expect(cache.statistics.fetches == 1)
        #expect(cache.statistics.coalesced == 19)
        #expect(cache.get("k") == 42)
    }

    @Test func staleCacheBoundariesAreExact() throws {
        let cache = try StaleCache<String, Int>(freshFor: .seconds(60), staleFor: .seconds(3600), clock: clock)
        cache.insert(1, for: "k")
        clock.advance(by: .seconds(60) - .nanoseconds(1))
        #expect(cache.get("k") == StaleValue(value: 1, age: .seconds(60) - .nanoseconds(1), isStale: false))
        clock.advance(by: .nanoseconds(1))
        #expect(cache.get("k") == StaleValue(value: 1, age: .seconds(60), isStale: true))
        clock.advance(by: .seconds(3540) - .nanoseconds(1))
        #expect(cache.get("k")?.isStale == true)
        clock.advance(by: .nanoseconds(1))
        #expect(cache.get("k") == nil)  // exactly at the stale limit: expired
        #expect(cache.count == 0)  // and removed
    }

    @Test func removeExpiredPurgesOnlyExpiredEntries() throws {
        let cache = try StaleCache<String, Int>(freshFor: .seconds(1), staleFor: .seconds(10), clock: clock)
        cache.insert(1, for: "old")
        clock.advance(by: .seconds(5))
        cache.insert(2, for: "new")
        clock.advance(by: .seconds(5))
        #expect(cache.removeExpired() == 1)
        #expect(cache.get("new")?.value == 2)
    }

    @Test func manualClockCancelsASleeper() async throws {
        let clock = self.clock
        let sleeper = Task { try await clock.sleep(for: .seconds(5)) }
        await clock.waitForSleepers(count: 1)
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        #expect(clock.sleeperCount == 0)
        try await clock.sleep(until: clock.now)  // a deadline already reached returns at once
        #expect(clock.now.offset == .zero)
    }
}
