/// The names of the pipeline's circuit breakers, as they appear in metrics, fallback
/// events, logs and the admin API. Defined once: the worker, the configuration, the tools
/// and the tests use these.
public enum BreakerName {
    /// The ML inference service.
    public static let ml = "ml"
    /// The primary catalog database.
    public static let catalog = "catalog"
    /// The secondary (replica) catalog database.
    public static let catalogSecondary = "catalog_secondary"
    /// The dedup store.
    public static let dedup = "dedup"
}

/// The names of the fallback strategies, as they appear in fallback events, provenance
/// and metrics.
public enum StrategyName {
    /// Enrichment: a catalog entry from the cache past its freshness, with its age.
    public static let staleCache = "stale_cache"
    /// Enrichment: the secondary (replica) catalog.
    public static let secondary = "secondary"
    /// Enrichment: the static catalog file.
    public static let staticCatalog = "static_catalog"
    /// Enrichment: the default "unowned" entry.
    public static let defaultEntry = "default"
    /// Classification: the rule-based classifier.
    public static let rules = "rules"
    /// Dedup: the store is read-only, the delivery was not counted.
    public static let readOnly = "read_only"
}

/// The names of the feature flags, as they appear in the configuration
/// (`features.<name>`) and the admin API.
public enum FeatureName {
    /// ML classification; off, the rules classify.
    public static let mlClassification = "ml_classification"
}
