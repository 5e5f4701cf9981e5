import struct Foundation.Date

/// A fallback that ran while one step served one alert. The pipeline turns each into
/// one `incidents.fallback-events` record.
public struct FallbackNote: Sendable, Equatable {
    /// The circuit breaker guarding the dependency (e.g. `ml`, `catalog`).
    public var breaker: String
    /// The fallback strategy that ran (e.g. `stale_cache`, `rules`).
    public var strategy: String
    /// Why it ran.
    public var reason: FallbackEventReason
    /// For stale data, how old the served value was.
    public var staleAgeSeconds: Double?

    public init(breaker: String, strategy: String, reason: FallbackEventReason, staleAgeSeconds: Double? = nil) {
        self.breaker = breaker
        self.strategy = strategy
        self.reason = reason
        self.staleAgeSeconds = staleAgeSeconds
    }
}

/// What one step produced for one alert, where it came from, and which fallbacks ran.
public struct StepOutcome<Value: Sendable>: Sendable {
    public var value: Value
    public var provenance: StepProvenance
    public var fallbacks: [FallbackNote]

    public init(value: Value, provenance: StepProvenance, fallbacks: [FallbackNote] = []) {
        self.value = value
        self.provenance = provenance
        self.fallbacks = fallbacks
    }
}

/// Looks up the service an alert is about. Never fails: an implementation falls back
/// (cache, stale data, a secondary source, a static file, a default entry) and says so
/// in the outcome. `nil` means the alert names no service at all.
///
/// Each step has a second, synchronous entry point: the worker asks it first, and only
/// suspends (a task per record) for the alerts a step cannot answer at once.
public protocol EnrichmentStep: Sendable {
    func enrich(_ alert: Alert) async -> StepOutcome<ServiceInfo?>
    /// What ``enrich(_:)`` would return, when that needs no waiting (a cached entry, an
    /// open breaker served by local fallbacks); `nil`, with nothing recorded, otherwise.
    /// The default answers `nil`.
    func enrichWithoutWaiting(_ alert: Alert) -> StepOutcome<ServiceInfo?>?
}

/// Classifies an alert. Never fails: an implementation falls back to the rules.
public protocol ClassificationStep: Sendable {
    func classify(_ alert: Alert) async -> StepOutcome<ClassificationDecision>
    /// What ``classify(_:)`` would return, when that needs no waiting (the rules are the
    /// classifier); `nil`, with nothing recorded, otherwise. The default answers `nil`.
    func classifyWithoutWaiting(_ alert: Alert) -> StepOutcome<ClassificationDecision>?
}

/// Counts deliveries of an alert. Never fails: while the store is unavailable or
/// read-only the outcome is ``DedupInfo/unavailable``.
public protocol DedupStep: Sendable {
    func record(_ alert: Alert, at time: Date) async -> StepOutcome<DedupInfo>
    /// What ``record(_:at:)`` would return, when that needs no waiting (deduplication is
    /// off); `nil`, with nothing recorded, otherwise. The default answers `nil`.
    func recordWithoutWaiting(_ alert: Alert, at time: Date) -> StepOutcome<DedupInfo>?
}

extension EnrichmentStep {
    public func enrichWithoutWaiting(_ alert: Alert) -> StepOutcome<ServiceInfo?>? { nil }
}

extension ClassificationStep {
    public func classifyWithoutWaiting(_ alert: Alert) -> StepOutcome<ClassificationDecision>? { nil }
}

extension DedupStep {
    public func recordWithoutWaiting(_ alert: Alert, at time: Date) -> StepOutcome<DedupInfo>? { nil }
}

