import Resilience
import Triage

extension ProtectionSettings {
    /// How alerts rank when a part turns some away, as `severityOrder` says (the default
    /// order when it does not name every severity once: validation reports that first).
    public var severityAdmission: SeverityAdmission {
        SeverityAdmission(order: severityOrder.compactMap(Severity.init(rawValue:))) ?? .default
    }

    /// `breaker` with the parts these settings switch on: the throttle ranks alerts by
    /// ``severityAdmission``, and the concurrency limit keeps each severity's `reserved`
    /// share for that severity and the ones ranked above it.
    /// - Parameter callsPerRequest: how many calls one request to the dependency carries
    ///   (for ML, `ml.maxBatchSize`): the limit counts calls, and one more request in
    ///   flight queues that many, so unset `alpha`/`beta` are one and two requests' worth.
    /// - Throws: ``Resilience/CircuitBreaker/ConfigurationError`` naming the part's field
    ///   when a setting is out of range.
    public func adaptivePolicy<C: Clock>(
        around breaker: CircuitBreaker, callsPerRequest: Int = 1, clock: C
    ) throws(CircuitBreaker.ConfigurationError) -> AdaptivePolicy where C.Duration == Duration {
        let admission = severityAdmission
        var throttlePart: AdaptiveThrottle?
        if throttle.enabled {
            var configuration = AdaptiveThrottle.Configuration()
            configuration.window = throttle.window.duration
            configuration.multiplier = throttle.multiplier
            configuration.maxRejectionProbability = throttle.maxRejectionProbability
            configuration.priorityLevels = admission.levels
            configuration.shadow = throttle.shadow
            throttlePart = try AdaptiveThrottle(configuration, clock: clock)
        }
        var limitPart: ConcurrencyLimit?
        if concurrencyLimit.enabled {
            var configuration = ConcurrencyLimit.Configuration()
            configuration.initialLimit = concurrencyLimit.initial
            configuration.minLimit = concurrencyLimit.min
            configuration.maxLimit = concurrencyLimit.max
            configuration.maxHealthyLatency = concurrencyLimit.maxHealthyLatency?.duration
            configuration.baselineWindow = concurrencyLimit.baselineWindow.duration
            configuration.alpha = concurrencyLimit.alpha ?? max(configuration.alpha, Double(callsPerRequest))
            configuration.beta = concurrencyLimit.beta ?? max(configuration.beta, 2 * Double(callsPerRequest))
            configuration.reservedShares = Dictionary(
                uniqueKeysWithValues: concurrencyLimit.reserved.all.filter { $0.share > 0 }.map { (admission.priority(of: $0.severity), $0.share) })
            configuration.shadow = concurrencyLimit.shadow
            limitPart = try ConcurrencyLimit(configuration, clock: clock)
        }
        return AdaptivePolicy(breaker: breaker, throttle: throttlePart, concurrencyLimit: limitPart)
    }
}
