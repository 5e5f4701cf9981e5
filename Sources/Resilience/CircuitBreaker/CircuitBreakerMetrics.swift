import CoreMetrics
import Locking

/// The swift-metrics instruments of one breaker, created once at construction (the
/// per-call path only increments). Names and dimensions:
/// - `circuit_breaker_calls_total{breaker,outcome}` outcome ∈ success, failure, timeout,
///   rejected, ignored_error
/// - `circuit_breaker_state{breaker}` gauge: 0 closed, 1 half_open, 2 open, 3 forced_open, 4 disabled
/// - `circuit_breaker_transitions_total{breaker,from,to}`
/// - `circuit_breaker_rejections_total{breaker}`
/// - `circuit_breaker_slow_calls_total{breaker}`
/// - `fallback_executions_total{breaker,strategy,reason,result}` result ∈ success, failure
final class CircuitBreakerMetrics: Sendable {
    let successes: Counter
    let failures: Counter
    let timeouts: Counter
    let rejectedCalls: Counter
    let ignoredErrors: Counter
    let rejections: Counter
    let slowCalls: Counter
    let state: Gauge
    private let transitions: [Counter]
    private let fallbackCounters = LockedValue<[FallbackCounterKey: Counter]>([:])
    private let breaker: String
    private let factory: any MetricsFactory

    private struct FallbackCounterKey: Hashable, Sendable {
        var strategy: String
        var reason: FallbackReason
        var success: Bool
    }

    init(breaker: String, factory: any MetricsFactory) {
        self.breaker = breaker
        self.factory = factory
        func calls(_ outcome: String) -> Counter {
            Counter(label: "circuit_breaker_calls_total", dimensions: [("breaker", breaker), ("outcome", outcome)], factory: factory)
        }
        successes = calls("success")
        failures = calls("failure")
        timeouts = calls("timeout")
        rejectedCalls = calls("rejected")
        ignoredErrors = calls("ignored_error")
        rejections = Counter(label: "circuit_breaker_rejections_total", dimensions: [("breaker", breaker)], factory: factory)
        slowCalls = Counter(label: "circuit_breaker_slow_calls_total", dimensions: [("breaker", breaker)], factory: factory)
        state = Gauge(label: "circuit_breaker_state", dimensions: [("breaker", breaker)], factory: factory)
        var transitions: [Counter] = []
        for from in CircuitBreakerState.allCases {
            for to in CircuitBreakerState.allCases {
                transitions.append(
                    Counter(
                        label: "circuit_breaker_transitions_total",
                        dimensions: [("breaker", breaker), ("from", from.description), ("to", to.description)],
                        factory: factory
                    )
                )
            }
        }
        self.transitions = transitions
    }

    func transition(from: CircuitBreakerState, to: CircuitBreakerState) {
        transitions[Int(from.rawValue) * CircuitBreakerState.allCases.count + Int(to.rawValue)].increment()
        state.record(to.gaugeValue)
    }

    /// Fallback counters are created on first use per (strategy, reason, result) and
    /// cached: the fallback path is not the hot path, and strategy names are open-ended.
    func fallback(strategy: String, reason: FallbackReason, success: Bool) {
        let key = FallbackCounterKey(strategy: strategy, reason: reason, success: success)
        let counter = fallbackCounters.withLock { counters in
            if let existing = counters[key] { return existing }
            let created = Counter(
                label: "fallback_executions_total",
                dimensions: [
                    ("breaker", breaker), ("strategy", strategy), ("reason", reason.rawValue),
                    ("result", success ? "success" : "failure"),
                ],
                factory: factory
            )
            counters[key] = created
            return created
        }
        counter.increment()
    }
}
