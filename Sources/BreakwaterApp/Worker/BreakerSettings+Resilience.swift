import Resilience

extension BreakerSettings {
    /// The resilience library's configuration for these settings.
    ///
    /// Every rule the settings describe is switched on: consecutive failures, the
    /// failure rate and the slow-call rate over the configured window. A backoff
    /// multiplier above 1 makes the open duration grow across successive openings.
    /// - Throws: ``Resilience/CircuitBreaker/ConfigurationError`` naming the field when the combination is invalid.
    public func circuitBreakerConfiguration() throws(CircuitBreaker.ConfigurationError) -> CircuitBreaker.Configuration {
        var configuration = CircuitBreaker.Configuration()
        configuration.failureThreshold = failureThreshold
        configuration.failureRateThreshold = failureRateThreshold
        configuration.slowCallDuration = slowCallDuration.duration
        configuration.slowCallRateThreshold = slowCallRateThreshold
        configuration.slidingWindow = switch windowType {
        case .count: .count(windowSize)
        case .time: .time(windowDuration.duration)
        }
        configuration.minimumCalls = minimumCalls
        configuration.openDuration = backoff.multiplier > 1
            ? .exponential(initial: openDuration.duration, multiplier: backoff.multiplier, maximum: backoff.max.duration, jitter: backoff.jitter)
            : .fixed(openDuration.duration)
        configuration.halfOpenProbes = halfOpenMaxCalls
        configuration.successThreshold = successThreshold
        configuration.callTimeout = callTimeout?.duration
        try configuration.validate()
        return configuration
    }
}
