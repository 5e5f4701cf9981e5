import MetricsTestKit
import Resilience
import Testing
import TriageTestSupport

@Suite("Events, metrics and concurrency")
struct ObservabilityTests {
    let clock = ManualClock()

    @Test func eventsArriveAsAnAsyncSequenceAndThroughListeners() async throws {
        let breaker = try makeBreaker(CircuitBreaker.Configuration(failureThreshold: 1), clock: clock)
        let stream = breaker.events()
        let heard = Collected<CircuitBreakerEvent>()
        let token = breaker.addListener { heard.append($0) }
        await fail(breaker)
        await succeed(breaker)
        breaker.removeListener(token)
        await succeed(breaker)

        var received: [CircuitBreakerEvent] = []
        for await event in stream {
            received.append(event)
            if received.count == 3 { break }
        }
        guard case .stateChanged(let name, let from, let to, let at) = received[0] else {
            Issue.record("expected a transition first, got \(received[0])")
            return
        }
        #expect(name == "test" && from == .closed && to == .open && at == .zero)
        guard case .rejected(_, let reason, _) = received[1] else {
            Issue.record("expected a rejection, got \(received[1])")
            return
        }
        #expect(reason == .open)
        #expect(heard.all.count == 2)  // the listener was removed before the third event
    }

    @Test func metricsCountOutcomesStatesTransitionsAndRejections() async throws {
        let metrics = TestMetrics()
        let configuration = CircuitBreaker.Configuration(failureThreshold: 2, slowCallDuration: .seconds(1)) { !($0 is IgnoredError) }
        let breaker = try CircuitBreaker(name: "db", configuration: configuration, clock: clock, metricsFactory: metrics)
        await succeed(breaker)
        await fail(breaker, IgnoredError())
        await fail(breaker)
        await fail(breaker)
        await succeed(breaker)
        let dims = { (outcome: String) in [("breaker", "db"), ("outcome", outcome)] }
        #expect(metrics.counterTotal(label: "circuit_breaker_calls_total", dimensions: dims("success")) == 1)
        #expect(metrics.counterTotal(label: "circuit_breaker_calls_total", dimensions: dims("failure")) == 2)
        #expect(metrics.counterTotal(label: "circuit_breaker_calls_total", dimensions: dims("ignored_error")) == 1)
        #expect(metrics.counterTotal(label: "circuit_breaker_calls_total", dimensions: dims("rejected")) == 1)
        #expect(metrics.counterTotal(label: "circuit_breaker_rejections_total", dimensions: [("breaker", "db")]) == 1)
        #expect(
            metrics.counterTotal(
                label: "circuit_breaker_transitions_total",
                dimensions: [("breaker", "db"), ("from", "closed"), ("to", "open")]
            ) == 1
        )
        let gauge = try metrics.expectGauge("circuit_breaker_state", [("breaker", "db")])
        #expect(gauge.lastValue == 2)
        breaker.forceOpen(reason: "test")
        #expect(gauge.lastValue == 3)
        breaker.disable()
        #expect(gauge.lastValue == 4)
        let slow = try #require(breaker.acquirePermit().permit)
        clock.advance(by: .seconds(1))
        breaker.recordSuccess(slow)
        #expect(metrics.counterTotal(label: "circuit_breaker_slow_calls_total", dimensions: [("breaker", "db")]) == 1)
    }

    @Test func halfOpenAdmitsExactlyTheConfiguredProbesUnderConcurrentLoad() async throws {
        let breaker = try makeBreaker(CircuitBreaker.Configuration(failureThreshold: 1, halfOpenProbes: 3), clock: clock)
        await fail(breaker)
        clock.advance(by: .seconds(60))
        let granted = Counter()
        let rejected = Counter()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<200 {
                group.addTask {
                    switch breaker.acquirePermit() {
                    case .granted: granted.increment()
                    case .rejected: rejected.increment()
                    }
                }
            }
        }
        #expect(granted.count == 3)
        #expect(rejected.count == 197)
        #expect(breaker.snapshot().halfOpenProbesAdmitted == 3)
        #expect(breaker.snapshot().totals.rejections == 197)
    }

    @Test func countsAddUpWhenManyTasksHammerOneBreaker() async throws {
        let breaker = try makeBreaker(CircuitBreaker.Configuration(failureThreshold: nil), clock: clock)
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<2_000 {
                group.addTask {
                    if index % 4 == 0 { await fail(breaker) } else { await succeed(breaker) }
                }
            }
        }
        let totals = breaker.snapshot().totals
        #expect(totals.failures == 500)
        #expect(totals.successes == 1_500)
        #expect(breaker.state == .closed)
    }

    @Test func concurrentFailuresTripOnceAndRejectTheRest() async throws {
        let breaker = try makeBreaker(CircuitBreaker.Configuration(failureThreshold: 10), clock: clock)
        let transitions = Collected<CircuitBreakerState>()
        breaker.addListener { event in
            if case .stateChanged(_, _, let to, _) = event { transitions.append(to) }
        }
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<1_000 {
                group.addTask { await fail(breaker) }
            }
        }
        let totals = breaker.snapshot().totals
        #expect(totals.failures + totals.rejections == 1_000)
        #expect(totals.failures >= 10)
        #expect(transitions.all == [.open])
    }
}
