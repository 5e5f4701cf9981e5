// JSON-friendly encodings for the admin API and fallback-event records: durations and
// clock offsets are encoded as seconds (Double), enums by their metric names.

extension CircuitBreakerState: Encodable {
    /// Encodes the metric name (`closed`, `half_open`, `open`, `forced_open`, `disabled`).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension CircuitBreakerHealth: Encodable {}
extension FallbackReason: Encodable {}
extension FallbackExecution.Result: Encodable {}

extension CircuitBreakerSnapshot: Encodable {
    private enum CodingKeys: String, CodingKey {
        case name, state, health, stateSinceSeconds, timeInStateSeconds, window, failureRate, slowCallRate
        case consecutiveFailures, openCount, lastOpenedAtSeconds, lastOpenedAgeSeconds, retryAfterSeconds
        case forcedReason, halfOpenProbesAdmitted, halfOpenSuccesses, totals
    }

    /// Encodes every field; durations as seconds, absent optionals omitted.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(state, forKey: .state)
        try container.encode(health, forKey: .health)
        try container.encode(stateSince.secondsDouble, forKey: .stateSinceSeconds)
        try container.encode(timeInState.secondsDouble, forKey: .timeInStateSeconds)
        try container.encode(window, forKey: .window)
        try container.encode(failureRate, forKey: .failureRate)
        try container.encode(slowCallRate, forKey: .slowCallRate)
        try container.encode(consecutiveFailures, forKey: .consecutiveFailures)
        try container.encode(openCount, forKey: .openCount)
        try container.encodeIfPresent(lastOpenedAt?.secondsDouble, forKey: .lastOpenedAtSeconds)
        try container.encodeIfPresent(lastOpenedAge?.secondsDouble, forKey: .lastOpenedAgeSeconds)
        try container.encodeIfPresent(retryAfter?.secondsDouble, forKey: .retryAfterSeconds)
        try container.encodeIfPresent(forcedReason, forKey: .forcedReason)
        try container.encode(halfOpenProbesAdmitted, forKey: .halfOpenProbesAdmitted)
        try container.encode(halfOpenSuccesses, forKey: .halfOpenSuccesses)
        try container.encode(totals, forKey: .totals)
    }
}

extension FallbackExecution: Encodable {
    private enum CodingKeys: String, CodingKey {
        case breaker, strategy, reason, result, dataAgeSeconds, staleAgeSeconds, error, atSeconds
    }

    /// Encodes every field; ages and the clock offset as seconds, absent optionals omitted.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(breaker, forKey: .breaker)
        try container.encode(strategy, forKey: .strategy)
        try container.encode(reason, forKey: .reason)
        try container.encode(result, forKey: .result)
        try container.encodeIfPresent(dataAge?.secondsDouble, forKey: .dataAgeSeconds)
        try container.encodeIfPresent(staleAge?.secondsDouble, forKey: .staleAgeSeconds)
        try container.encodeIfPresent(errorDescription, forKey: .error)
        try container.encode(at.secondsDouble, forKey: .atSeconds)
    }
}
