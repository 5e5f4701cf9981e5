import Foundation

/// Alertmanager webhook v4, Grafana webhook and single Alertmanager alert objects.
struct WebhookDecoding {
    let fields: JSONFields
    let grafana: Bool
    let receivedAt: Date

    /// Per-alert keys only Grafana sends.
    static let grafanaAlertKeys = ["silenceURL", "dashboardURL", "panelURL", "values", "valueString"]

    /// What the payload level contributes to each alert.
    struct Group {
        var status: AlertStatus?
        var labels: [String: String] = [:]
        var annotations: [String: String] = [:]
        var extra: [String: String] = [:]
        var grafana = false

        static let none = Group()
    }

    func decode() throws(AlertDecodingError) -> [Alert] {
        let elements = try fields.array("alerts")
        let limits = fields.limits
        guard elements.count <= limits.maxAlertsPerRecord else {
            throw AlertDecodingError(.tooManyAlerts, "alerts has \(elements.count) alerts, more than \(limits.maxAlertsPerRecord)")
        }
        guard !elements.isEmpty else { throw AlertDecodingError(.invalidValue, "\(fields.pathOf("alerts")) is empty") }
        let group = try readGroup()
        var alerts: [Alert] = []
        alerts.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            let path = "\(fields.pathOf("alerts"))[\(index)]"
            guard case .object(let members) = element else {
                throw AlertDecodingError(.wrongType, "\(path) must be an object, got \(element.typeName)")
            }
            alerts.append(try Self.decodeAlert(JSONFields(members, path: path, limits: limits), group: group, receivedAt: receivedAt))
        }
        return alerts
    }

    func readGroup() throws(AlertDecodingError) -> Group {
        var group = Group(status: try fields.optionalStatus("status"), grafana: grafana)
        let groupLabels = try fields.optionalStringMap("groupLabels") ?? [:]
        group.labels = groupLabels.merging(try fields.optionalStringMap("commonLabels") ?? [:]) { _, common in common }
        group.annotations = try fields.optionalStringMap("commonAnnotations") ?? [:]
        let strings = [("receiver", "receiver"), ("groupKey", "group_key"), ("externalURL", "external_url"), ("version", "version")]
            + (grafana ? [("title", "title"), ("state", "state"), ("message", "message")] : [])
        for (key, extraKey) in strings {
            if let value = try fields.optionalString(key) { group.extra[extraKey] = value }
        }
        if let truncated = try fields.optionalInteger("truncatedAlerts") { group.extra["truncated_alerts"] = String(truncated) }
        if grafana, let orgID = try fields.optionalInteger("orgId") { group.extra["org_id"] = String(orgID) }
        if !groupLabels.isEmpty { group.extra["group_labels"] = JSONValue.object(groupLabels.mapValues(JSONValue.string)).canonicalText }
        return group
    }

    /// Decodes one Alertmanager (or Grafana) alert object, merging in the payload level.
    static func decodeAlert(_ alert: JSONFields, group: Group, receivedAt: Date) throws(AlertDecodingError) -> Alert {
        guard let own = try alert.optionalStringMap("labels") else { throw alert.missing("labels") }
        // A single alert has no payload level to merge: its own maps are the result.
        let labels = group.labels.isEmpty ? own : group.labels.merging(own) { _, mine in mine }
        guard !labels.isEmpty else { throw AlertDecodingError(.invalidValue, "\(alert.pathOf("labels")) is empty") }
        guard labels.count <= alert.limits.maxLabels else {
            throw AlertDecodingError(.tooLarge, "\(alert.pathOf("labels")) merged with commonLabels has more than \(alert.limits.maxLabels) entries")
        }
        let ownAnnotations = try alert.optionalStringMap("annotations") ?? [:]
        let annotations = group.annotations.isEmpty ? ownAnnotations : group.annotations.merging(ownAnnotations) { _, mine in mine }
        guard annotations.count <= alert.limits.maxLabels else {
            throw AlertDecodingError(.tooLarge, "\(alert.pathOf("annotations")) merged with commonAnnotations has more than \(alert.limits.maxLabels) entries")
        }
        let startsAt = try alert.optionalTimestamp("startsAt")
        let endsAt = try alert.optionalTimestamp("endsAt")
        let status = try alert.optionalStatus("status") ?? group.status
        let given = try alert.optionalString("fingerprint") ?? ""
        var extra = group.extra
        if group.grafana {
            for (key, extraKey) in [("silenceURL", "silence_url"), ("dashboardURL", "dashboard_url"), ("panelURL", "panel_url"),
                                    ("imageURL", "image_url"), ("valueString", "value_string")] {
                if let value = try alert.optionalString(key) { extra[extraKey] = value }
            }
            if let values = alert.value("values") {
                guard case .object = values else { throw alert.wrongType("values", expected: "an object", got: values) }
                extra["values"] = values.canonicalText
            }
        }
        let generatorURL = try alert.optionalString("generatorURL")
        return makeAlert(
            fingerprint: given, status: status, source: group.grafana ? .grafana : .alertmanager, labels: labels,
            annotations: annotations, startsAt: startsAt, endsAt: endsAt, generatorURL: generatorURL, extra: extra,
            receivedAt: receivedAt
        )
    }

    /// The alert of the fields read, for every Alertmanager-shaped alert (this decoder's
    /// and ``JSONParser/plainAlertmanagerAlert(_:limits:receivedAt:)``'s): an empty
    /// `fingerprint` is derived from the labels; without a `status`, an alert whose
    /// `endsAt` is not after `receivedAt` is resolved, any other firing.
    static func makeAlert(
        fingerprint: String, status: AlertStatus?, source: AlertSource, labels: [String: String],
        annotations: [String: String], startsAt: Date?, endsAt: Date?, generatorURL: String?, extra: [String: String],
        receivedAt: Date
    ) -> Alert {
        Alert(
            fingerprint: fingerprint.isEmpty ? Fingerprint.derive(labels: labels) : fingerprint,
            status: status ?? ((endsAt.map { $0 <= receivedAt } ?? false) ? .resolved : .firing),
            source: source,
            labels: labels,
            annotations: annotations,
            startsAt: startsAt,
            endsAt: endsAt,
            generatorURL: generatorURL,
            extra: extra)
    }
}
