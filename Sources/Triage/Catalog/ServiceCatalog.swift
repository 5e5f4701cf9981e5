/// A source of service-catalog entries: the PostgreSQL catalog, a read replica, the
/// static YAML file, an in-memory cache.
///
/// Each conforming type is one *step* of the enrichment fallback chain: it answers
/// for itself only and never falls back on its own, so the chain (and its breaker)
/// decides what runs next.
public protocol ServiceCatalog: Sendable {
    /// Looks up the entry for the service called `service` (exact, case-sensitive match).
    ///
    /// - Returns: the entry, or `nil` when this source answered and does not know the
    ///   service (a definite "unknown", not a failure).
    /// - Throws: when the source could not answer (unreachable, timed out, bad data);
    ///   a fallback chain treats that as a failure of this step.
    func lookup(service: String) async throws -> ServiceInfo?
}
