/// The HTTP paths Breakwater serves, in one place: the server registers these, and the
/// Dockerfile health check and Kubernetes probes (checked by tests) use them.
public enum HTTPRoutes {
    /// `GET`: Prometheus text exposition.
    public static let metrics = "/metrics"
    /// `GET`: liveness (the process is serving).
    public static let live = "/health/live"
    /// `GET`: readiness (consumer joined its group, producer connected, not shutting down).
    public static let ready = "/health/ready"
    /// `GET`: breaker snapshots. `POST {breakers}/{name}/force-open|force-close|reset`.
    public static let adminBreakers = "/admin/breakers"
    /// `GET`/`PUT {features}/{name}`: feature flags.
    public static let adminFeatures = "/admin/features"
    /// `PUT`: read-only mode.
    public static let adminReadOnly = "/admin/read-only"
}
