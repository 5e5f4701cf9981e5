import Triage

/// One HTTP ingest route: where a kind of sender posts, and which input formats it takes.
public enum IngestRoute: String, Sendable, Hashable, CaseIterable {
    /// `POST /ingest/alertmanager`: an Alertmanager `webhook_configs` receiver.
    case alertmanager
    /// `POST /ingest/grafana`: Grafana's webhook contact point.
    case grafana
    /// `POST /v2/enqueue`: PagerDuty Events API v2 (same path and answers as PagerDuty's).
    case pagerduty
    /// `POST /ingest/cloudevents`: CloudEvents HTTP binding, structured or binary mode.
    case cloudevents

    /// The request path.
    public var path: String {
        switch self {
        case .alertmanager: HTTPRoutes.ingestAlertmanager
        case .grafana: HTTPRoutes.ingestGrafana
        case .pagerduty: HTTPRoutes.ingestPagerDuty
        case .cloudevents: HTTPRoutes.ingestCloudEvents
        }
    }

    /// The formats this route accepts; anything else the decoder recognizes is a 400 that
    /// names the route to post it to.
    var acceptedFormats: Set<InputFormat> {
        switch self {
        // Grafana's webhook is Alertmanager's with more fields; a minimal one decodes as either.
        case .alertmanager: [.alertmanagerWebhook]
        case .grafana: [.grafanaWebhook, .alertmanagerWebhook]
        case .pagerduty: [.pagerduty]
        case .cloudevents: [.cloudEventStructured, .cloudEventBinary]
        }
    }

    /// What the route takes, for error messages.
    var expected: String {
        switch self {
        case .alertmanager: "an Alertmanager webhook payload"
        case .grafana: "a Grafana webhook payload"
        case .pagerduty: "a PagerDuty Events API v2 event"
        case .cloudevents: "a CloudEvent (structured mode, or binary mode with ce-* headers)"
        }
    }

    /// The route for records of `format`, to point a sender that posted to the wrong one.
    static func route(for format: InputFormat) -> IngestRoute? {
        allCases.first { $0.acceptedFormats.contains(format) }
    }
}

extension IngestSettings {
    /// The settings of `route`.
    public func settings(for route: IngestRoute) -> IngestRouteSettings {
        switch route {
        case .alertmanager: alertmanager
        case .grafana: grafana
        case .pagerduty: pagerduty
        case .cloudevents: cloudevents
        }
    }
}
