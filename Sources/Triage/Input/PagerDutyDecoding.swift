import Foundation

/// PagerDuty Events API v2 (`https://events.pagerduty.com/v2/enqueue` bodies).
enum PagerDutyDecoding {
    /// The severities PagerDuty accepts.
    static let severities: Set<String> = ["critical", "error", "warning", "info"]

    static func decode(_ event: JSONFields) throws(AlertDecodingError) -> Alert {
        _ = try event.optionalString("routing_key")  // type-checked, then dropped: it is a secret
        let action = try event.string("event_action")
        let status: AlertStatus
        switch action {
        case "trigger", "acknowledge": status = .firing
        case "resolve": status = .resolved
        default:
            throw AlertDecodingError(.invalidValue, "event_action must be trigger, acknowledge or resolve, got \(action.prefix(32))")
        }
        let dedupKey = try event.optionalString("dedup_key").flatMap { $0.isEmpty ? nil : $0 }
        if action != "trigger", dedupKey == nil { throw event.missing("dedup_key") }
        var labels: [String: String] = [:]
        var annotations: [String: String] = [:]
        var extra: [String: String] = ["event_action": action]
        var timestamp: Date?
        if let dedupKey {
            labels["dedup_key"] = dedupKey
            extra["dedup_key"] = dedupKey
        }
        if let payload = try event.optionalObject("payload") {
            let summary = try payload.nonEmptyString("summary")
            let source = try payload.nonEmptyString("source")
            let severity = try payload.string("severity")
            guard severities.contains(severity) else {
                throw AlertDecodingError(.invalidValue, "payload.severity must be critical, error, warning or info, got \(severity.prefix(32))")
            }
            let pdClass = try payload.optionalString("class")
            let component = try payload.optionalString("component")
            let group = try payload.optionalString("group")
            timestamp = try payload.optionalTimestamp("timestamp")
            labels["alertname"] = pdClass ?? summary
            labels["severity"] = severity
            labels["service"] = component ?? source
            labels["source"] = source
            if let component { labels["component"] = component }
            if let group { labels["group"] = group }
            if let pdClass { labels["class"] = pdClass }
            annotations["summary"] = summary
            if let details = payload.value("custom_details") {
                annotations["custom_details"] = details.stringValue ?? details.canonicalText
            }
        } else if action == "trigger" {
            throw event.missing("payload")
        }
        if let client = try event.optionalString("client") { extra["client"] = client }
        for key in ["links", "images"] {
            if let value = event.value(key) {
                guard case .array = value else { throw event.wrongType(key, expected: "an array", got: value) }
                extra[key] = value.canonicalText
            }
        }
        return Alert(
            fingerprint: dedupKey.map(Fingerprint.derive(dedupKey:)) ?? Fingerprint.derive(labels: labels),
            status: status,
            source: .pagerduty,
            labels: labels,
            annotations: annotations,
            startsAt: status == .firing ? timestamp : nil,
            endsAt: status == .resolved ? timestamp : nil,
            generatorURL: try event.optionalString("client_url"),
            extra: extra)
    }
}
