import Resilience

extension FallbackEventReason {
    /// The wire reason for a resilience-library fallback reason.
    public init(_ reason: FallbackReason) {
        switch reason {
        case .circuitOpen: self = .circuitOpen
        case .failure: self = .error
        case .timeout: self = .timeout
        case .featureOff: self = .featureOff
        case .readOnly: self = .readOnly
        case .throttled: self = .throttled
        case .limited: self = .limited
        case .budgetExhausted: self = .budgetExhausted
        case .fleetOpen: self = .fleetOpen
        }
    }
}

extension FallbackNote {
    /// The note for one fallback execution of a guarded call.
    /// - Parameter strategy: overrides the execution's strategy name (e.g. to name what
    ///   served rather than the switch that routed to it).
    public init(_ execution: FallbackExecution, strategy: String? = nil) {
        self.init(
            breaker: execution.breaker,
            strategy: strategy ?? execution.strategy,
            reason: FallbackEventReason(execution.reason),
            staleAgeSeconds: execution.staleAge.map(\.seconds)
        )
    }

    /// One note per fallback that served in `result` (strategies that had nothing to
    /// offer are not fallbacks that were used).
    static func served<T>(in result: GuardedResult<T>, strategy: String? = nil) -> [FallbackNote] {
        // One pass, one array: a filter then a map allocated twice per fallback served.
        var notes: [FallbackNote] = []
        for execution in result.fallbackExecutions where execution.succeeded {
            notes.append(FallbackNote(execution, strategy: strategy))
        }
        return notes
    }
}

extension Duration {
    /// This duration in (fractional) seconds.
    var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
