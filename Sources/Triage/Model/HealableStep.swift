/// A step of an incident whose fallback answer a heal can replace with the dependency's
/// own: the catalog lookup (`static_catalog`, `stale_cache`, `secondary` or `default`
/// served it) and the classification (the rules served it instead of the model). The raw
/// values are the wire format of `healable_steps` and of the repair log.
///
/// Dedup is not one: a delivery the store did not count cannot be counted later in its
/// place, so `dedup.available: false` stays.
public enum HealableStep: String, Sendable, Codable, CaseIterable, Comparable {
    /// The service-catalog lookup.
    case enrichment
    /// The classification (the model's, when the rules stood in for it).
    case classification

    /// The breaker guarding the dependency a heal of this step calls.
    public var breaker: String {
        switch self {
        case .enrichment: BreakerName.catalog
        case .classification: BreakerName.ml
        }
    }

    /// Pipeline order: enrichment before classification.
    public static func < (lhs: Self, rhs: Self) -> Bool {
        allCases.firstIndex(of: lhs) ?? 0 < allCases.firstIndex(of: rhs) ?? 0
    }
}
