import Locking

/// Why a feature is off.
public enum FeatureOffCause: String, Sendable, Hashable {
    /// The feature was never registered.
    case unknownFeature = "unknown_feature"
    /// Its flag is off.
    case flagOff = "flag_off"
    /// Its breaker is open or forced open.
    case circuitOpen = "circuit_open"
    /// Its breaker's fleet opened it, or holds it open for the fleet's prober.
    case fleetOpen = "fleet_open"
}

/// Feature switches tied to breakers (the design's `FeatureFallback`): a feature is off
/// while its flag is off or its breaker is open, and ``executeIfEnabled(_:operation:fallback:)``
/// then runs the fallback instead.
public final class FeatureFallback: Sendable {
    private struct Feature: Sendable {
        var enabled: Bool
        var breaker: CircuitBreaker?
    }

    private let features = LockedValue<[String: Feature]>([:])
    private let clock: ResilienceClock
    /// Counts of fallbacks run because a feature was off.
    public let metrics = FallbackMetrics()

    /// Creates an empty set of features. `clock` stamps the fallback records of features
    /// registered without a breaker.
    public init<C: Clock>(clock: C = ContinuousClock()) where C.Duration == Duration {
        self.clock = ResilienceClock(clock)
    }

    /// Registers `feature` (replacing a previous registration), on by default, guarded
    /// by `breaker` when given.
    public func register(_ feature: String, breaker: CircuitBreaker? = nil, enabled: Bool = true) {
        features.withLock { $0[feature] = Feature(enabled: enabled, breaker: breaker) }
    }

    /// Sets `feature`'s flag. Registers it (without a breaker) if unknown.
    public func setEnabled(_ feature: String, _ enabled: Bool) {
        features.withLock { features in
            features[feature, default: Feature(enabled: enabled, breaker: nil)].enabled = enabled
        }
    }

    /// Why `feature` is off, or `nil` when it is on.
    public func offCause(_ feature: String) -> FeatureOffCause? {
        guard let entry = features.withLock({ $0[feature] }) else { return .unknownFeature }
        if let breaker = entry.breaker, let rejection = breaker.rejectionWithoutLock() {
            return rejection == .fleetOpen ? .fleetOpen : .circuitOpen
        }
        return entry.enabled ? nil : .flagOff
    }

    /// Whether `feature` is on: registered, flag on, and its breaker (if any) not open.
    public func isEnabled(_ feature: String) -> Bool { offCause(feature) == nil }

    /// Runs `operation` when `feature` is on, else `fallback`.
    ///
    /// When the fallback runs, the result carries one ``FallbackExecution`` (strategy
    /// `"feature:<feature>"`, reason `featureOff`, or `fleetOpen` while the breaker's fleet
    /// opened or holds it), which is also emitted through the feature's breaker (metrics
    /// and event) when it has one, and counted in ``metrics``.
    /// - Throws: The operation's error when the feature is on; when the fallback fails,
    ///   ``FeatureFallbackError`` carrying the fallback's error and its record.
    public func executeIfEnabled<T: Sendable>(
        _ feature: String,
        operation: () async throws -> T,
        fallback: () async throws -> T
    ) async throws -> GuardedResult<T> {
        guard let cause = offCause(feature) else {
            return GuardedResult(value: try await operation())
        }
        let breaker = features.withLock { $0[feature]?.breaker }
        let strategy = "feature:\(feature)"
        let reason: FallbackReason = cause == .fleetOpen ? .fleetOpen : .featureOff
        let at = breaker?.now ?? clock.now()
        do {
            let value = try await fallback()
            let execution = FallbackExecution(
                breaker: breaker?.name ?? feature, strategy: strategy, reason: reason, result: .success, at: at
            )
            record(execution, breaker: breaker)
            return GuardedResult(value: value, servedBy: strategy, reason: reason, fallbackExecutions: [execution])
        } catch {
            let execution = FallbackExecution(
                breaker: breaker?.name ?? feature, strategy: strategy, reason: reason, result: .failure,
                errorDescription: String(describing: error), at: at
            )
            record(execution, breaker: breaker)
            throw FeatureFallbackError(feature: feature, cause: cause, fallbackError: error, execution: execution)
        }
    }

    private func record(_ execution: FallbackExecution, breaker: CircuitBreaker?) {
        metrics.recordFallbackExecution(success: execution.succeeded, at: execution.at)
        breaker?.report(execution)
    }
}

/// A feature was off and its fallback failed.
public struct FeatureFallbackError: Error, Sendable, CustomStringConvertible {
    /// The feature.
    public var feature: String
    /// Why it was off.
    public var cause: FeatureOffCause
    /// The fallback's error.
    public var fallbackError: any Error
    /// The per-call record.
    public var execution: FallbackExecution

    /// A one-line description.
    public var description: String {
        "feature '\(feature)' is off (\(cause.rawValue)) and its fallback failed: \(fallbackError)"
    }
}
