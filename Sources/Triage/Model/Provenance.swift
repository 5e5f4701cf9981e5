/// Which source served one step (enrichment, classification, dedup) of an incident.
/// The raw values are the wire format.
public enum ProvenanceSource: String, Sendable, Codable, CaseIterable {
    case primary
    case cache
    case stale
    case secondary
    case `static`
    case `default`
    /// The step was not attempted or its dependency was unavailable with no fallback
    /// (e.g. dedup while the store is read-only).
    case unavailable
}

/// How one step of an incident was served.
public struct StepProvenance: Sendable, Codable, Equatable {
    public var source: ProvenanceSource
    /// Whether a fallback ran for this step.
    public var fallbackUsed: Bool
    /// For `stale`, how old the served value was, in seconds.
    public var staleAgeSeconds: Double?

    public init(source: ProvenanceSource, fallbackUsed: Bool, staleAgeSeconds: Double? = nil) {
        self.source = source
        self.fallbackUsed = fallbackUsed
        self.staleAgeSeconds = staleAgeSeconds
    }
}
