import Resilience
import Triage

extension ProtectionSettings {
    /// How alerts rank when a part turns some away, as `severityOrder` says (the default
    /// order when it does not name every severity once: validation reports that first).
    public var severityAdmission: SeverityAdmission {
        SeverityAdmission(order: severityOrder.compactMap(Severity.init(rawValue:))) ?? .default
    }

    /// The wait budgets by priority (as ``severityAdmission`` ranks the severities), for
    /// the micro-batcher.
    public var waitBudgets: [Int: Duration] {
        let admission = severityAdmission
        return Dictionary(uniqueKeysWithValues: waitBudget.all.map { (admission.priority(of: $0.severity), $0.wait.duration) })
    }

    /// `breaker` with the throttle, when these settings switch it on, ranking alerts by
    /// ``severityAdmission``.
    /// - Parameter placement: where `breaker` sits (below the call when the calls are
    ///   batched into requests that go through it).
    /// - Throws: ``Resilience/CircuitBreaker/ConfigurationError`` naming the field when a
    ///   setting is out of range.
    public func adaptivePolicy<C: Clock>(
        around breaker: CircuitBreaker, placement: AdaptivePolicy.BreakerPlacement = .aroundEachCall, clock: C
    ) throws(CircuitBreaker.ConfigurationError) -> AdaptivePolicy
    where C.Duration == Duration {
        guard throttle.enabled else { return AdaptivePolicy(breaker: breaker, placement: placement) }
        var configuration = AdaptiveThrottle.Configuration()
        configuration.window = throttle.window.duration
        configuration.multiplier = throttle.multiplier
        configuration.maxRejectionProbability = throttle.maxRejectionProbability
        configuration.priorityLevels = severityAdmission.levels
        configuration.shadow = throttle.shadow
        return AdaptivePolicy(breaker: breaker, placement: placement, throttle: try AdaptiveThrottle(configuration, clock: clock))
    }

    /// The concurrency limit of the dependency's requests, when these settings switch it
    /// on; each severity's `reserved` share is kept for it and the ones ranked above it.
    /// - Parameter breaker: labels its `adaptive_concurrency_limit` gauge.
    /// - Throws: ``Resilience/CircuitBreaker/ConfigurationError`` naming the field when a
    ///   setting is out of range.
    public func concurrencyLimit<C: Clock>(breaker: String, clock: C) throws(CircuitBreaker.ConfigurationError) -> ConcurrencyLimit?
    where C.Duration == Duration {
        let settings = concurrencyLimit
        guard settings.enabled else { return nil }
        let admission = severityAdmission
        var configuration = ConcurrencyLimit.Configuration()
        configuration.initialLimit = settings.initial
        configuration.minLimit = settings.min
        configuration.maxLimit = settings.max
        configuration.maxHealthyLatency = settings.maxHealthyLatency?.duration
        configuration.baselineWindow = settings.baselineWindow.duration
        configuration.holdAfterBackoff = settings.holdAfterBackoff.duration
        // One request queued already doubles a request's latency at a model server that
        // serves one at a time: Vegas's usual 3 and 6 kept 4-7 in flight, near the timeout.
        configuration.alpha = settings.alpha ?? 1
        configuration.beta = settings.beta ?? 2
        configuration.reservedShares = Dictionary(
            uniqueKeysWithValues: settings.reserved.all.filter { $0.share > 0 }.map { (admission.priority(of: $0.severity), $0.share) })
        configuration.shadow = settings.shadow
        return try ConcurrencyLimit(configuration, clock: clock, breaker: breaker)
    }
}
