import Resilience

/// A breaker named `name` on `clock` (the tests' one way to make a breaker).
public func makeBreaker(
    _ configuration: CircuitBreaker.Configuration = CircuitBreaker.Configuration(),
    clock: ManualClock,
    name: String = "test"
) throws -> CircuitBreaker {
    try CircuitBreaker(name: name, configuration: configuration, clock: clock)
}

extension CircuitBreaker.Configuration {
    /// Opens after `failures` consecutive failures, stays open `open`, and closes after
    /// one successful probe; `callTimeout` as given.
    public static func tripping(after failures: Int = 3, open: Duration = .seconds(30), callTimeout: Duration? = nil) -> Self {
        .init(failureThreshold: failures, openDuration: .fixed(open), halfOpenProbes: 1, successThreshold: 1, callTimeout: callTimeout)
    }
}
