import MetricsTestKit
import Resilience
import Testing
import TriageTestSupport

struct FailingFallback: FallbackStrategy {
    var name = "broken"
    func execute(_ context: FallbackContext) async throws -> FallbackValue<Int>? { throw TestError(id: 99) }
}

struct EmptyFallback: FallbackStrategy {
    var name = "empty"
    func execute(_ context: FallbackContext) async throws -> FallbackValue<Int>? { nil }
}

@Suite("Fallbacks through the breaker")
struct FallbackTests {
    let clock = ManualClock()

    func openBreaker(_ metrics: TestMetrics? = nil) async throws -> CircuitBreaker {
        let breaker = try CircuitBreaker(
            name: "svc", configuration: CircuitBreaker.Configuration(failureThreshold: 1, openDuration: .fixed(.seconds(7200))), clock: clock, metricsFactory: metrics
        )
        await fail(breaker)
        #expect(breaker.state == .open)
        return breaker
    }

    @Test func staticFallbackServesOnOpenAndReportsPerCall() async throws {
        let metrics = TestMetrics()
        let breaker = try await openBreaker(metrics)
        clock.advance(by: .seconds(3))
        let result = try await breaker.callWithStaticFallback(7) { 1 }
        #expect(result.value == 7)
        #expect(result.servedBy == "static")
        #expect(result.reason == .circuitOpen)
        #expect(
            result.fallbackExecutions == [
                FallbackExecution(breaker: "svc", strategy: "static", reason: .circuitOpen, result: .success, at: .seconds(3))
            ])
        #expect(breaker.fallbackMetrics.snapshot == FallbackMetrics.Snapshot(executions: 1, successes: 1, failures: 0, lastFallbackAt: .seconds(3)))
        #expect(
            metrics.counterTotal(
                label: "fallback_executions_total",
                dimensions: [("breaker", "svc"), ("strategy", "static"), ("reason", "circuit_open"), ("result", "success")]
            ) == 1
        )
    }

    @Test func thePrimaryServesWhenClosedAndNoRecordIsMade() async throws {
        let breaker = try makeBreaker(clock: clock)
        let result = try await breaker.callWithStaticFallback(7) { 1 }
        #expect(result.value == 1)
        #expect(!result.isFallback)
        #expect(result.fallbackExecutions.isEmpty)
    }

    @Test func onOpenOnlyPolicyLetsFailuresThrough() async throws {
        let breaker = try makeBreaker(clock: clock)
        let error = await #expect(throws: CircuitBreakerError.self) {
            try await breaker.callWithStaticFallback(7) { () async throws -> Int in throw TestError() }
        }
        guard case .operationFailed = error else {
            Issue.record("expected the failure itself")
            return
        }
    }

    @Test func anyFailurePolicyCoversFailureAndTimeout() async throws {
        let breaker = try makeBreaker(CircuitBreaker.Configuration(callTimeout: .seconds(1)), clock: clock)
        let failed = try await breaker.callWithStaticFallback(7, policy: .onAnyFailure) { () async throws -> Int in throw TestError() }
        #expect(failed.value == 7 && failed.reason == .failure)
        let clock = self.clock
        async let timedOut = breaker.callWithStaticFallback(8, policy: .onAnyFailure) { () async throws -> Int in
            try await clock.sleep(for: .seconds(10))
            return 1
        }
        await clock.waitForSleepers(count: 2)
        clock.advance(by: .seconds(1))
        let result = try await timedOut
        #expect(result.value == 8 && result.reason == .timeout)
        #expect(result.fallbackExecutions.first?.reason == .timeout)
    }

    @Test func syncAndAsyncFunctionFallbacksRun() async throws {
        let breaker = try await openBreaker()
        let sync = try await breaker.callWithFallback({ 1 }, fallback: { context in context.reason == .circuitOpen ? 10 : 0 })
        #expect(sync.value == 10 && sync.servedBy == "function")
        let async = try await breaker.callWithAsyncFallback({ 1 }, fallback: { _ in 20 })
        #expect(async.value == 20 && async.servedBy == "async_function")
    }

    @Test func aLoneFallbackFailureSurfacesWithBothErrors() async throws {
        let breaker = try await openBreaker()
        let error = await #expect(throws: CircuitBreakerError.self) {
            try await breaker.call(fallback: FailingFallback()) { 1 }
        }
        guard case .fallbackFailed(let failure) = error else {
            Issue.record("expected fallbackFailed, got \(String(describing: error))")
            return
        }
        guard case .open(let name, .open) = failure.trigger else {
            Issue.record("the trigger should be the rejection")
            return
        }
        #expect(name == "svc")
        #expect(failure.fallbackErrors.count == 1)
        #expect(failure.fallbackErrors.first as? TestError == TestError(id: 99))
        #expect(failure.executions.map(\.result) == [.failure])
        #expect(failure.executions.first?.errorDescription == "TestError(99)")
        #expect(breaker.fallbackMetrics.snapshot.failures == 1)
        #expect(failure.description.contains("broken: failed"))
    }

    @Test func theChainTriesInOrderAndReportsWhatWasTried() async throws {
        let breaker = try await openBreaker()
        let events = Collected<FallbackExecution>()
        breaker.addListener { event in
            if case .fallbackExecuted(let execution) = event { events.append(execution) }
        }
        let chain = FallbackChain<Int>()
            .adding(EmptyFallback())
            .adding(FailingFallback())
            .adding(StaticFallback(3, name: "default_value"))
            .adding(StaticFallback(4, name: "never"))
        #expect(chain.names == ["empty", "broken", "default_value", "never"])
        let result = try await breaker.call(fallback: chain) { 1 }
        #expect(result.value == 3)
        #expect(result.servedBy == "default_value")
        #expect(result.fallbackExecutions.map(\.strategy) == ["empty", "broken", "default_value"])
        #expect(result.fallbackExecutions.map(\.result) == [.noValue, .failure, .success])
        #expect(events.all == result.fallbackExecutions)
    }

    @Test func anExhaustedChainThrowsWithEveryAttempt() async throws {
        let breaker = try await openBreaker()
        let chain = FallbackChain<Int>([EmptyFallback(), FailingFallback()])
        let error = await #expect(throws: CircuitBreakerError.self) {
            try await breaker.call(fallback: chain) { 1 }
        }
        guard case .fallbackFailed(let failure) = error else {
            Issue.record("expected fallbackFailed")
            return
        }
        #expect(failure.attempts.map(\.strategy) == ["empty", "broken"])
        #expect(failure.reason == .circuitOpen)
    }

    @Test func cacheFallbackServesTheLastGoodValue() async throws {
        let breaker = try makeBreaker(CircuitBreaker.Configuration(failureThreshold: 1), clock: clock)
        let cache = try CacheFallback<String, Int>(capacity: 10, ttl: .seconds(300), clock: clock)
        let first = try await breaker.callWithCache(cache, key: "k") { 5 }
        #expect(first.value == 5 && !first.isFallback)
        await fail(breaker)
        clock.advance(by: .seconds(30))
        let second = try await breaker.callWithCache(cache, key: "k") { 6 }
        #expect(second.value == 5)
        #expect(second.servedBy == "cache")
        #expect(second.fallbackExecutions.first?.dataAge == .seconds(30))
        let miss = await #expect(throws: CircuitBreakerError.self) {
            try await breaker.callWithCache(cache, key: "other") { 6 }
        }
        guard case .fallbackFailed(let failure) = miss else {
            Issue.record("a cache miss should fail the fallback")
            return
        }
        #expect(failure.executions.map(\.result) == [.noValue])
    }

    @Test func staleCacheFallbackReportsTheStaleAge() async throws {
        let configuration = CircuitBreaker.Configuration(failureThreshold: 1, openDuration: .fixed(.seconds(7200)))
        let breaker = try makeBreaker(configuration, clock: clock)
        let cache = try StaleCache<String, Int>(freshFor: .seconds(60), staleFor: .seconds(3600), clock: clock)
        let fresh = try await breaker.callWithStaleCache(cache, key: "k") { 5 }
        #expect(fresh.value == StaleValue(value: 5, age: .zero, isStale: false))
        await fail(breaker)
        clock.advance(by: .seconds(90))
        let stale = try await breaker.callWithStaleCache(cache, key: "k") { 6 }
        #expect(stale.value == StaleValue(value: 5, age: .seconds(90), isStale: true))
        #expect(stale.staleAge == .seconds(90))
        #expect(stale.fallbackExecutions.first?.staleAge == .seconds(90))
        #expect(stale.fallbackExecutions.first?.strategy == "stale_cache")
    }

    @Test func staleValuesWorkInAChainOfPlainValues() async throws {
        let breaker = try await openBreaker()
        let cache = try StaleCache<String, Int>(freshFor: .seconds(60), staleFor: .seconds(3600), clock: clock)
        cache.insert(11, for: "k")
        clock.advance(by: .seconds(61))
        let chain = FallbackChain<Int>().adding(cache.strategy(for: "k").values).adding(StaticFallback(0))
        let result = try await breaker.call(fallback: chain) { 1 }
        #expect(result.value == 11)
        #expect(result.staleAge == .seconds(61))
    }

    @Test func readOnlyModeRejectsWritesButServesReads() async throws {
        let breaker = try makeBreaker(CircuitBreaker.Configuration(failureThreshold: 1), clock: clock)
        let service = DegradedService(service: "database", breaker: breaker)
        #expect(!service.isReadOnly)
        #expect(try await service.write { $0.count } == 8)
        service.enableReadOnly()
        #expect(service.readOnlyCause == .switchedOn)
        let error = await #expect(throws: DegradedServiceError.self) {
            try await service.write { $0.count }
        }
        guard case .readOnly(_, let cause, let execution) = error else {
            Issue.record("expected readOnly")
            return
        }
        #expect(cause == .switchedOn)
        #expect(execution.reason == .readOnly && execution.strategy == "read_only")
        #expect(await service.read { $0.uppercased() } == "DATABASE")
        service.disableReadOnly()
        await fail(breaker)
        #expect(service.readOnlyCause == .circuitOpen)
        await #expect(throws: DegradedServiceError.self) { try await service.write { $0.count } }
        #expect(await service.read { $0.count } == 8)
        clock.advance(by: .seconds(60))
        #expect(!service.isReadOnly)  // open duration passed: writes may probe again
        #expect(try await service.write { $0.count } == 8)
        #expect(breaker.fallbackMetrics.snapshot.executions == 2)
    }

    @Test func aFailingWriteSurfacesTheBreakerError() async throws {
        let breaker = try makeBreaker(clock: clock)
        let service = DegradedService(service: 1, breaker: breaker)
        let error = await #expect(throws: DegradedServiceError.self) {
            try await service.write { _ -> Int in throw TestError() }
        }
        guard case .breaker(.operationFailed) = error else {
            Issue.record("expected the breaker's error")
            return
        }
    }

    @Test func aFeatureWhoseBreakerTheFleetOpenedSaysSo() async throws {
        let breaker = try makeBreaker(CircuitBreaker.Configuration(failureThreshold: 1), clock: clock, name: "ml")
        let features = FeatureFallback(clock: clock)
        features.register("ml_classification", breaker: breaker)
        #expect(breaker.openOnPeerAdvice())
        #expect(features.offCause("ml_classification") == .fleetOpen)
        let off = try await features.executeIfEnabled("ml_classification", operation: { "ml" }, fallback: { "rules" })
        #expect(off.value == "rules")
        #expect(off.fallbackExecutions.first?.reason == .fleetOpen)
        #expect(breaker.closeOnPeerAdvice())
        await fail(breaker)
        #expect(features.offCause("ml_classification") == .circuitOpen, "its own opening")
    }

    @Test func featureFallbackFollowsFlagsAndBreakers() async throws {
        let breaker = try makeBreaker(CircuitBreaker.Configuration(failureThreshold: 1), clock: clock, name: "ml")
        let features = FeatureFallback(clock: clock)
        features.register("ml_classification", breaker: breaker)
        #expect(features.isEnabled("ml_classification"))
        #expect(features.offCause("unknown") == .unknownFeature)
        let on = try await features.executeIfEnabled("ml_classification", operation: { "ml" }, fallback: { "rules" })
        #expect(on.value == "ml" && !on.isFallback)

        await fail(breaker)
        #expect(features.offCause("ml_classification") == .circuitOpen)
        let off = try await features.executeIfEnabled("ml_classification", operation: { "ml" }, fallback: { "rules" })
        #expect(off.value == "rules")
        #expect(off.fallbackExecutions.first?.reason == .featureOff)
        #expect(off.fallbackExecutions.first?.breaker == "ml")
        #expect(off.servedBy == "feature:ml_classification")

        breaker.reset()
        features.setEnabled("ml_classification", false)
        #expect(features.offCause("ml_classification") == .flagOff)
        let error = await #expect(throws: FeatureFallbackError.self) {
            try await features.executeIfEnabled("ml_classification", operation: { "ml" }, fallback: { throw TestError() })
        }
        #expect(error?.cause == .flagOff)
        #expect(error?.fallbackError is TestError)
        #expect(features.metrics.snapshot.executions == 2)
        #expect(features.metrics.snapshot.failures == 1)
        #expect(breaker.fallbackMetrics.snapshot.executions == 2)
    }
}

@Suite("Fallbacks without waiting")
struct SynchronousFallbackTests {
    let clock = ManualClock()

    func breaker(_ metrics: TestMetrics? = nil) throws -> CircuitBreaker {
        try CircuitBreaker(
            name: "svc", configuration: CircuitBreaker.Configuration(failureThreshold: 1, openDuration: .fixed(.seconds(60))),
            clock: clock, metricsFactory: metrics
        )
    }

    @Test func anOpenBreakerIsServedByASynchronousChainAndCountedLikeACall() async throws {
        let metrics = TestMetrics()
        let breaker = try breaker(metrics)
        let chain = FallbackChain<Int>([EmptyFallback()]).adding(StaticFallback(7))
        // Closed: nothing is served and nothing counted; the caller must call through.
        #expect(try breaker.fallBackIfOpen(to: FallbackChain([StaticFallback(7)])) == nil)
        await fail(breaker)
        clock.advance(by: .seconds(1))

        // EmptyFallback must be awaited: the whole call must wait, and nothing is counted.
        #expect(try breaker.fallBackIfOpen(to: chain) == nil)
        #expect(breaker.snapshot().totals.rejections == 0)

        let synchronous = FallbackChain<Int>([FunctionFallback(name: "miss") { _ in throw TestError(id: 1) }]).adding(StaticFallback(7))
        let served = try #require(try breaker.fallBackIfOpen(to: synchronous))
        #expect(served.value == 7)
        #expect(served.servedBy == "static")
        #expect(served.reason == .circuitOpen)
        #expect(served.fallbackExecutions.map(\.result) == [.failure, .success])
        #expect(breaker.snapshot().totals.rejections == 1)
        #expect(breaker.fallbackMetrics.snapshot.executions == 2)

        // The same call through `call(fallback:)` records the same.
        let called = try await breaker.call(fallback: synchronous) { 1 }
        #expect(called.value == served.value)
        #expect(called.fallbackExecutions == served.fallbackExecutions)
        #expect(breaker.snapshot().totals.rejections == 2)
    }

    @Test func aBreakerDueForAProbeIsLeftToTheCall() async throws {
        let breaker = try breaker()
        await fail(breaker)
        clock.advance(by: .seconds(61))
        #expect(try breaker.fallBackIfOpen(to: FallbackChain([StaticFallback(7)])) == nil)
        #expect(breaker.snapshot().totals.rejections == 0)
        // The call that follows is a probe: the primary answers.
        let probe = try await breaker.call(fallback: FallbackChain([StaticFallback(7)])) { 1 }
        #expect(probe.value == 1)
        #expect(!probe.isFallback)
        #expect(breaker.state == .halfOpen)
    }

    @Test func forcedOpenIsRejectedWithoutWaitingAndAnEmptyChainThrows() throws {
        let breaker = try breaker()
        breaker.forceOpen(reason: "maintenance")
        #expect(breaker.rejectIfOpen() == .forcedOpen)
        #expect(throws: CircuitBreakerError.self) {
            _ = try breaker.fallBackIfOpen(to: FallbackChain<Int>([FunctionFallback(name: "miss") { _ in throw TestError(id: 2) }]))
        }
        #expect(breaker.snapshot().totals.rejections == 2)
    }
}
