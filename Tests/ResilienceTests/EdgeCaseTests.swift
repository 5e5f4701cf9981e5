import Resilience
import Testing
import TriageTestSupport

@Suite("Edge cases and failure modes")
struct EdgeCaseTests {
    let clock = ManualClock()

    @Test func continuousClockRejectsUntilDueAndAdmitsAProbeOnceDue() async throws {
        // Exercises the coarse-clock rejection path (ContinuousClock on Linux) with
        // deadlines far from "now" in both directions, so nothing depends on timing.
        let longOpen = try CircuitBreaker(name: "long", configuration: CircuitBreaker.Configuration(failureThreshold: 1, openDuration: .fixed(.seconds(3600))))
        await fail(longOpen)
        #expect(await succeed(longOpen).rejection == .open)
        #expect(longOpen.isOpen)
        let zeroOpen = try CircuitBreaker(name: "zero", configuration: CircuitBreaker.Configuration(failureThreshold: 1, openDuration: .fixed(.zero)))
        await fail(zeroOpen)
        let permit = try #require(zeroOpen.acquirePermit().permit)
        #expect(permit.isProbe)
        #expect(zeroOpen.state == .halfOpen)
    }

    @Test func aZeroEventBufferIsRejected() {
        let error = #expect(throws: CircuitBreaker.ConfigurationError.self) {
            try CircuitBreaker(name: "x", clock: clock, eventBufferSize: 0)
        }
        #expect(error?.field == "eventBufferSize")
    }

    @Test func theEventStreamEndsWhenTheBreakerGoesAway() async throws {
        var breaker: CircuitBreaker? = try makeBreaker(clock: clock)
        let stream = try #require(breaker).events()
        breaker = nil
        var count = 0
        for await _ in stream { count += 1 }
        #expect(count == 0)
        #expect(breaker == nil)
    }

    @Test func callThrowsTimeoutWithTheConfiguredDuration() async throws {
        let breaker = try makeBreaker(CircuitBreaker.Configuration(callTimeout: .seconds(5)), clock: clock)
        let clock = self.clock
        async let result: Int = breaker.call {
            try await clock.sleep(for: .seconds(60))
            return 1
        }
        await clock.waitForSleepers(count: 2)
        clock.advance(by: .seconds(5))
        do {
            _ = try await result
            Issue.record("the call should have timed out")
        } catch {
            guard case .timeout(let name, let after) = error as? CircuitBreakerError else {
                Issue.record("expected timeout, got \(error)")
                return
            }
            #expect(name == "test" && after == .seconds(5))
        }
    }

    @Test func anUncountedErrorSkipsTheFallbackEvenUnderAnyFailurePolicy() async throws {
        let breaker = try makeBreaker(CircuitBreaker.Configuration { !($0 is IgnoredError) }, clock: clock)
        let error = await #expect(throws: CircuitBreakerError.self) {
            try await breaker.callWithStaticFallback(1, policy: .onAnyFailure) { () async throws -> Int in throw IgnoredError() }
        }
        guard case .operationFailed(_, _, let counted) = error else {
            Issue.record("expected operationFailed")
            return
        }
        #expect(!counted)
        #expect(breaker.fallbackMetrics.snapshot.executions == 0)
    }

    @Test func aFailingFeatureOperationIsRethrown() async throws {
        let features = FeatureFallback(clock: clock)
        features.register("f")
        await #expect(throws: TestError.self) {
            try await features.executeIfEnabled("f", operation: { () throws -> Int in throw TestError() }, fallback: { 0 })
        }
        #expect(features.metrics.snapshot.executions == 0)
    }

    @Test func coalescedWaitersAllReceiveTheFetchError() async throws {
        let cache = try CacheFallback<Int, Int>(capacity: 1, ttl: .seconds(1), clock: clock)
        let (gate, open) = AsyncStream<Void>.makeStream()
        let fetch: @Sendable () async throws -> Int = {
            for await _ in gate { break }
            throw TestError(id: 5)
        }
        let failures = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<5 {
                group.addTask { (try? await cache.getOrFetch(1, fetch: fetch)) == nil }
            }
            while cache.statistics.fetches + cache.statistics.coalesced < 5 { await Task.yield() }
            open.yield()
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(failures == 5)
        #expect(cache.statistics.fetches == 1)
        #expect(cache.count == 0)
    }
}
