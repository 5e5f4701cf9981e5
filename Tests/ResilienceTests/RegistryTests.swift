import MetricsTestKit
import Resilience
import Testing

@Suite("Registry and keyed breakers")
struct RegistryTests {
    let clock = ManualClock()

    @Test func getOrCreateReturnsOneBreakerPerName() throws {
        let registry = try CircuitBreakerRegistry(clock: clock)
        let first = registry.breaker(named: "postgres")
        let again = registry.breaker(named: "postgres")
        #expect(first === again)
        let custom = try registry.breaker(named: "ml", configuration: CircuitBreaker.Configuration(failureThreshold: 1))
        #expect(custom.configuration.failureThreshold == 1)
        #expect(first.configuration.failureThreshold == 5)
        #expect(registry.snapshots().map(\.name) == ["ml", "postgres"])
        #expect(throws: CircuitBreaker.ConfigurationError.self) {
            try registry.breaker(named: "bad", configuration: CircuitBreaker.Configuration(minimumCalls: 0))
        }
    }

    @Test func invalidDefaultConfigurationIsRejected() {
        let error = #expect(throws: CircuitBreaker.ConfigurationError.self) {
            try CircuitBreakerRegistry(defaultConfiguration: CircuitBreaker.Configuration(halfOpenProbes: 0), clock: clock)
        }
        #expect(error?.field == "halfOpenProbes")
    }

    @Test func adminOperationsWorkByName() async throws {
        let registry = try CircuitBreakerRegistry(clock: clock)
        let breaker = registry.breaker(named: "kafka")
        try registry.forceOpen(named: "kafka", reason: "broker upgrade")
        #expect(try registry.snapshot(named: "kafka").forcedReason == "broker upgrade")
        #expect(registry.health == .unhealthy)
        try registry.forceClosed(named: "kafka")
        #expect(breaker.state == .disabled)
        try registry.reset(named: "kafka")
        #expect(breaker.state == .closed)
        #expect(registry.health == .healthy)
        #expect(throws: CircuitBreakerRegistryError.unknownBreaker("nope")) { try registry.reset(named: "nope") }
    }

    @Test func keyedBreakersAreIndependentPerKey() async throws {
        let registry = try CircuitBreakerRegistry(defaultConfiguration: CircuitBreaker.Configuration(failureThreshold: 1), clock: clock)
        let tenants = try registry.keyedBreakers(named: "tenant", keyType: String.self, idleTimeout: .seconds(600))
        await fail(tenants.breaker(for: "a"))
        #expect(tenants.breaker(for: "a").state == .open)
        #expect(tenants.breaker(for: "b").state == .closed)
        #expect(tenants.breaker(for: "a").name == "tenant[a]")
        try registry.reset(named: "tenant[a]")
        #expect(tenants.breaker(for: "a").state == .closed)
        #expect(registry.snapshots().map(\.name) == ["tenant[a]", "tenant[b]"])
        let again = try registry.keyedBreakers(named: "tenant", keyType: String.self, idleTimeout: .seconds(1))
        #expect(again === tenants)
        #expect(throws: CircuitBreaker.ConfigurationError.self) {
            try registry.keyedBreakers(named: "tenant", keyType: Int.self, idleTimeout: .seconds(1))
        }
    }

    @Test func idleKeysAreEvictedAfterTheIdleTimeout() async throws {
        let tenants = try KeyedCircuitBreakers<Int>(name: "t", idleTimeout: .seconds(100), clock: clock)
        _ = tenants.breaker(for: 1)
        clock.advance(by: .seconds(50))
        _ = tenants.breaker(for: 2)
        clock.advance(by: .seconds(50))  // key 1 idle exactly 100 s: kept
        #expect(tenants.evictIdle() == 0)
        clock.advance(by: .nanoseconds(1))  // key 1 idle longer than 100 s
        #expect(tenants.evictIdle() == 1)
        #expect(tenants.keys == [2])
        clock.advance(by: .seconds(200))
        _ = tenants.breaker(for: 3)  // the lazy sweep runs on access
        #expect(tenants.keys == [3])
        #expect(tenants.count == 1)
    }

    @Test func anEvictedKeyStartsClosed() async throws {
        let tenants = try KeyedCircuitBreakers<Int>(
            name: "t", configuration: CircuitBreaker.Configuration(failureThreshold: 1, openDuration: .fixed(.seconds(1000))),
            idleTimeout: .seconds(10), clock: clock
        )
        await fail(tenants.breaker(for: 1))
        #expect(tenants.breaker(for: 1).state == .open)
        clock.advance(by: .seconds(11))
        #expect(tenants.breaker(for: 1).state == .closed)
        #expect(throws: CircuitBreaker.ConfigurationError.self) { try KeyedCircuitBreakers<Int>(name: "x", idleTimeout: .zero, clock: clock) }
    }

    @Test func keyedMembersReportMetricsUnderTheSetName() async throws {
        let metrics = TestMetrics()
        let tenants = try KeyedCircuitBreakers<String>(name: "tenant", idleTimeout: .seconds(10), clock: clock, metricsFactory: metrics)
        await succeed(tenants.breaker(for: "a"))
        await succeed(tenants.breaker(for: "b"))
        #expect(
            metrics.counterTotal(label: "circuit_breaker_calls_total", dimensions: [("breaker", "tenant"), ("outcome", "success")]) == 2
        )
        #expect(metrics.counters(label: "circuit_breaker_calls_total").allSatisfy { $0.dimensions.first?.1 == "tenant" })
    }
}
