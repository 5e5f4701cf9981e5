import Foundation

/// Which input format an alert arrived in.
public enum AlertSource: String, Sendable, Codable, CaseIterable {
    case alertmanager
    case grafana
    case cloudevents
    case pagerduty
}

/// Whether the condition behind an alert is still present.
public enum AlertStatus: String, Sendable, Codable, CaseIterable {
    case firing
    case resolved
}

/// One alert, normalized from whichever input format carried it.
///
/// Every decoder produces this shape; enrichment, classification and the output
/// records read only this, never the input formats.
public struct Alert: Sendable, Codable, Equatable {
    /// Stable identity of the alert: the source's fingerprint, or one derived from the
    /// sorted labels (or PagerDuty's dedup key) when the source sent none.
    public var fingerprint: String
    public var status: AlertStatus
    public var source: AlertSource
    public var labels: [String: String]
    public var annotations: [String: String]
    /// When the condition started; `nil` when the source did not say.
    public var startsAt: Date?
    /// When the condition ended; `nil` while firing (Alertmanager's `0001-01-01T00:00:00Z`).
    public var endsAt: Date?
    public var generatorURL: String?
    /// Format-specific fields worth keeping (Grafana's dashboard URL, PagerDuty's
    /// routing key is deliberately *not* kept: it is a secret).
    public var extra: [String: String]

    public init(
        fingerprint: String,
        status: AlertStatus,
        source: AlertSource,
        labels: [String: String],
        annotations: [String: String] = [:],
        startsAt: Date? = nil,
        endsAt: Date? = nil,
        generatorURL: String? = nil,
        extra: [String: String] = [:]
    ) {
        self.fingerprint = fingerprint
        self.status = status
        self.source = source
        self.labels = labels
        self.annotations = annotations
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.generatorURL = generatorURL
        self.extra = extra
    }

    /// The `alertname` label, if any.
    public var alertName: String? { labels["alertname"] }

    /// The `summary` annotation, if any.
    public var summary: String? { annotations["summary"] }

    /// The `description` annotation, if any.
    public var description: String? { annotations["description"] }

    /// The severity the source itself gave, as it spelled it (`labels["severity"]`).
    public var sourceSeverity: String? { labels["severity"] }

    /// The labels that name the owning service, in the order they are tried.
    public static let serviceLabelKeys = ["service", "app", "job", "component"]

    /// The service this alert is about: the first of `service`, `app`, `job`, `component`
    /// that is present and not empty; `nil` when none is.
    public var serviceName: String? {
        for key in Self.serviceLabelKeys {
            if let value = labels[key], !value.isEmpty { return value }
        }
        return nil
    }
}
