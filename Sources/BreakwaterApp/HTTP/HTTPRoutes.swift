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
    /// `GET`: the healer's status (what it waits on, pending, healed, skipped).
    public static let adminHeal = "/admin/heal"
    /// `PUT`: read-only mode.
    public static let adminReadOnly = "/admin/read-only"
    /// `POST`: an Alertmanager webhook (ingest).
    public static let ingestAlertmanager = "/ingest/alertmanager"
    /// `POST`: a Grafana webhook (ingest).
    public static let ingestGrafana = "/ingest/grafana"
    /// `POST`: a PagerDuty Events API v2 event (ingest), PagerDuty's own path.
    public static let ingestPagerDuty = "/v2/enqueue"
    /// `POST`: a CloudEvent, structured or binary mode (ingest).
    public static let ingestCloudEvents = "/ingest/cloudevents"
}

extension HTTPRoutes {
    /// The operator actions on one breaker, the last path component of
    /// `POST /admin/breakers/{name}/<action>`.
    public enum BreakerAction: String, Sendable, CaseIterable {
        /// Reject every call until reset, with an optional reason.
        case forceOpen = "force-open"
        /// Let every call through and stop tripping until reset.
        case forceClose = "force-close"
        /// Back to closed (also from a forced state), its window and backoff cleared.
        case reset
    }

    /// The path of `action` on the breaker named `name` (percent-encoded, so keyed
    /// member names like `catalog[svc]` are valid path components).
    public static func adminBreaker(_ name: String, _ action: BreakerAction) -> String {
        "\(adminBreakers)/\(pathComponent(name))/\(action.rawValue)"
    }

    /// The path of the feature flag named `name` (percent-encoded).
    public static func adminFeature(_ name: String) -> String {
        "\(adminFeatures)/\(pathComponent(name))"
    }

    /// `name` percent-encoded as one path component (unreserved characters stay as they are).
    static func pathComponent(_ name: String) -> String {
        var result = ""
        for byte in name.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                UInt8(ascii: "_"), UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                result += byte < 16 ? "%0\(hex)" : "%\(hex)"
            }
        }
        return result
    }
}
