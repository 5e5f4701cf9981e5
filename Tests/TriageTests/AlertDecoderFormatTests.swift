import Foundation
import Testing
import Triage

@Suite struct AlertDecoderFormatTests {
    let decoder = AlertDecoder()

    func decode(_ name: String, headers: [RecordHeader] = [], contentType: String? = nil) throws -> DecodedRecord {
        try decoder.decodeRecord(InputRecord(value: try Fixture.bytes(name), headers: headers, contentType: contentType), receivedAt: fixtureReceivedAt)
    }

    @Test func alertmanagerWebhookWithEveryField() throws {
        let record = try decode("alertmanager-webhook-full.json")
        #expect(record.format == .alertmanagerWebhook)
        #expect(record.innerFormat == .alertmanagerWebhook)
        try #require(record.alerts.count == 2)
        let first = record.alerts[0]
        #expect(first.fingerprint == "a1b2c3d4e5f60718")
        #expect(first.status == .firing)
        #expect(first.source == .alertmanager)
        // commonLabels merged under the alert's own labels (the alert's severity wins).
        #expect(first.labels == ["alertname": "HighErrorRate", "service": "checkout", "instance": "checkout-7d9f:8080",
                                 "severity": "critical", "team": "payments"])
        #expect(first.annotations["summary"] == "5xx error rate above 5% on checkout")
        #expect(first.annotations["runbook_url"] == "https://runbooks.example.com/high-error-rate")
        #expect(first.annotations["description"] == "checkout returns 7.2% HTTP 500 errors over 5m")
        let start = try #require(first.startsAt)
        #expect(abs(start.timeIntervalSince1970 - (try date("2026-11-29T10:15:30Z")).timeIntervalSince1970 - 0.123456789) < 0.000001)
        #expect(first.endsAt == nil)
        #expect(first.generatorURL?.hasPrefix("http://prometheus.example.com:9090/graph") == true)
        #expect(first.extra == [
            "receiver": "breakwater", "group_key": "{}/{severity=\"critical\"}:{alertname=\"HighErrorRate\"}",
            "external_url": "http://alertmanager.example.com:9093", "version": "4", "truncated_alerts": "0",
            "group_labels": "{\"alertname\":\"HighErrorRate\"}",
        ])
        let second = record.alerts[1]
        #expect(second.status == .resolved)
        #expect(second.labels["severity"] == "warning")
        #expect(second.labels["team"] == "payments")
        #expect(second.endsAt == (try date("2026-11-29T09:00:00Z")))
        #expect(second.fingerprint == "0f1e2d3c4b5a6978")
    }

    @Test func alertmanagerWebhookWithoutOptionalFields() throws {
        let record = try decode("alertmanager-webhook-minimal.json")
        #expect(record.format == .alertmanagerWebhook)
        try #require(record.alerts.count == 2)
        let (firing, resolved) = (record.alerts[0], record.alerts[1])
        // No status anywhere: firing while endsAt is the zero time, resolved once endsAt has passed.
        #expect(firing.status == .firing)
        #expect(firing.endsAt == nil)
        #expect(resolved.status == .resolved)
        #expect(firing.generatorURL == nil)
        #expect(firing.extra.isEmpty)
        #expect(firing.fingerprint == Fingerprint.derive(labels: firing.labels))
        #expect(firing.fingerprint != resolved.fingerprint)
        #expect(firing.annotations.isEmpty)
    }

    @Test func missingStatusWithFutureEndsAtIsFiring() throws {
        let json = #"{"labels":{"alertname":"X"},"endsAt":"2026-11-29T13:00:00Z"}"#
        let alerts = try decoder.decode(value: Array(json.utf8), receivedAt: fixtureReceivedAt)
        #expect(alerts.map(\.status) == [.firing])
    }

    @Test func singleAlertmanagerAlert() throws {
        let full = try decode("alertmanager-alert-full.json")
        #expect(full.format == .alertmanagerAlert)
        let alert = try #require(full.alerts.first)
        #expect(full.alerts.count == 1)
        #expect(alert.fingerprint == "5e4d3c2b1a090807")
        #expect(alert.status == .firing)
        #expect(alert.labels["mountpoint"] == "/var/lib/elasticsearch")
        #expect(alert.annotations.count == 2)
        #expect(alert.startsAt == (try date("2026-11-29T10:30:00.500Z")))
        #expect(alert.endsAt == nil)
        #expect(alert.generatorURL != nil)

        let minimal = try #require(try decode("alertmanager-alert-minimal.json").alerts.first)
        #expect(minimal.status == .firing)
        #expect(minimal.startsAt == nil)
        #expect(minimal.fingerprint == Fingerprint.derive(labels: ["alertname": "HighLatency", "service": "search"]))
    }

    @Test func grafanaWebhookWithEveryField() throws {
        let record = try decode("grafana-webhook-full.json")
        #expect(record.format == .grafanaWebhook)
        let alert = try #require(record.alerts.first)
        #expect(alert.source == .grafana)
        #expect(alert.fingerprint == "9f8e7d6c5b4a3921")
        #expect(alert.labels["service"] == "inventory")
        #expect(alert.extra["org_id"] == "1")
        #expect(alert.extra["title"] == "[FIRING:1] HighCPUUsage Infrastructure (inventory high)")
        #expect(alert.extra["state"] == "alerting")
        #expect(alert.extra["message"]?.hasPrefix("**Firing**") == true)
        #expect(alert.extra["silence_url"]?.contains("/alerting/silence/new") == true)
        #expect(alert.extra["dashboard_url"] == "https://grafana.example.com/d/infra-cpu?orgId=1")
        #expect(alert.extra["panel_url"] == "https://grafana.example.com/d/infra-cpu?orgId=1&viewPanel=4")
        #expect(alert.extra["image_url"] == "https://grafana.example.com/render/cpu.png")
        #expect(alert.extra["values"] == #"{"B":97.25,"C":1}"#)
        #expect(alert.extra["value_string"]?.hasPrefix("[ var='B'") == true)
        #expect(alert.extra["version"] == "1")
        #expect(alert.extra["group_labels"] == #"{"alertname":"HighCPUUsage","grafana_folder":"Infrastructure"}"#)
    }

    @Test func grafanaWebhookWithoutOptionalFields() throws {
        let record = try decode("grafana-webhook-minimal.json")
        #expect(record.format == .grafanaWebhook)
        let alert = try #require(record.alerts.first)
        #expect(alert.extra == ["org_id": "2"])
        #expect(alert.status == .firing)
    }

    @Test func structuredCloudEventAroundAlertmanager() throws {
        let record = try decode("cloudevent-structured-full.json", contentType: "application/cloudevents+json; charset=UTF-8")
        #expect(record.format == .cloudEventStructured)
        #expect(record.innerFormat == .alertmanagerWebhook)
        let alert = try #require(record.alerts.first)
        #expect(alert.source == .cloudevents)
        #expect(alert.labels["service"] == "auth")
        #expect(alert.extra["ce_id"] == "7f1c2a3e-0b6d-4c1e-9a0a-3f2b1c0d9e8f")
        #expect(alert.extra["ce_source"] == "//alertmanager.example.com")
        #expect(alert.extra["ce_type"] == "com.example.alert.alertmanager")
        #expect(alert.extra["ce_subject"] == "HighErrorRate")
        #expect(alert.extra["ce_time"] == "2026-11-29T10:45:00Z")
        #expect(alert.extra["ce_mode"] == "structured")
        #expect(alert.extra["ce_data_format"] == "alertmanager_webhook")
        #expect(alert.extra["receiver"] == "breakwater")
        // Recognized by its specversion member even without the content type.
        #expect(try decode("cloudevent-structured-full.json").format == .cloudEventStructured)
    }

    @Test func structuredCloudEventWithBase64PagerDutyData() throws {
        let record = try decode("cloudevent-structured-base64.json")
        #expect(record.innerFormat == .pagerduty)
        let alert = try #require(record.alerts.first)
        #expect(alert.labels["severity"] == "error")
        #expect(alert.extra["ce_subject"] == nil)
        #expect(alert.extra["ce_id"] == "evt-42")
        #expect(!alert.extra.values.contains { $0.contains("R0UT1NGKEYSECRET") })
    }

    @Test func binaryCloudEventAroundGrafana() throws {
        let headers = try Fixture.headers("cloudevent-binary-grafana.headers.json")
        let record = try decode("cloudevent-binary-grafana.json", headers: headers)
        #expect(record.format == .cloudEventBinary)
        #expect(record.innerFormat == .grafanaWebhook)
        let alert = try #require(record.alerts.first)
        #expect(alert.source == .cloudevents)
        #expect(alert.extra["ce_id"] == "grafana-evt-1001")
        #expect(alert.extra["ce_time"] == "2026-11-29T06:00:05.250Z")
        #expect(alert.extra["ce_mode"] == "binary")
        #expect(alert.extra["dashboard_url"] == "https://grafana.example.com/d/certs")
        #expect(alert.extra["values"] == #"{"A":6}"#)
        #expect(headers.traceparent?.stringValue == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    }

    @Test func pagerDutyTriggerWithEveryField() throws {
        let bytes = try Fixture.bytes("pagerduty-trigger-full.json")
        let record = try decoder.decodeRecord(InputRecord(value: bytes), receivedAt: fixtureReceivedAt)
        #expect(record.format == .pagerduty)
        let alert = try #require(record.alerts.first)
        #expect(alert.source == .pagerduty)
        #expect(alert.status == .firing)
        #expect(alert.fingerprint == Fingerprint.derive(dedupKey: "srv01/HTTP"))
        #expect(alert.labels == [
            "alertname": "disk", "severity": "critical", "service": "mysql", "source": "prod-datapipe03.example.com",
            "component": "mysql", "group": "prod-datapipe", "class": "disk", "dedup_key": "srv01/HTTP",
        ])
        #expect(alert.annotations["summary"] == "DISK at 99% on machine prod-datapipe03.example.com")
        #expect(alert.annotations["custom_details"] == #"{"free space":"1%","load avg":0.75,"ping time":"1500ms"}"#)
        #expect(alert.startsAt == (try date("2026-11-29T08:42:58.315Z")))
        #expect(alert.generatorURL == "https://monitoring.example.com")
        #expect(alert.extra["client"] == "Sample Monitoring Service")
        #expect(alert.extra["event_action"] == "trigger")
        #expect(alert.extra["dedup_key"] == "srv01/HTTP")
        #expect(alert.extra["links"] == #"[{"href":"https://example.com/","text":"Link text"}]"#)
        #expect(alert.extra["images"]?.contains("pagerduty-logo-green.png") == true)
        // The routing key is a secret: it appears nowhere in the normalized alert.
        let everything = Array(alert.labels.values) + Array(alert.annotations.values) + Array(alert.extra.values)
        #expect(!everything.contains { $0.contains("e93facc04764012d7bfb002500d5d1a6") })
        #expect(!String(decoding: try JSONEncoder().encode(alert), as: UTF8.self).contains("e93facc0"))
    }

    @Test func pagerDutyTriggerWithoutOptionalFields() throws {
        let alert = try #require(try decode("pagerduty-trigger-minimal.json").alerts.first)
        #expect(alert.labels == ["alertname": "queue depth on email-worker above 10000", "severity": "warning",
                                 "service": "email-worker", "source": "email-worker"])
        #expect(alert.fingerprint == Fingerprint.derive(labels: alert.labels))
        #expect(alert.startsAt == nil)
        #expect(alert.generatorURL == nil)
        #expect(alert.extra == ["event_action": "trigger"])
    }

    @Test func pagerDutyAcknowledgeAndResolveShareTheTriggerFingerprint() throws {
        let trigger = try #require(try decode("pagerduty-trigger-full.json").alerts.first)
        let ack = try #require(try decode("pagerduty-acknowledge.json").alerts.first)
        let resolve = try #require(try decode("pagerduty-resolve.json").alerts.first)
        #expect(ack.status == .firing)
        #expect(ack.extra["event_action"] == "acknowledge")
        #expect(resolve.status == .resolved)
        #expect(resolve.labels == ["dedup_key": "srv01/HTTP"])
        #expect(Set([trigger.fingerprint, ack.fingerprint, resolve.fingerprint]).count == 1)
        #expect(IncidentID.derive(for: trigger) == IncidentID.derive(for: resolve))
    }

    @Test func contentTypeHeaderIsHonoured() throws {
        let bytes = try Fixture.bytes("alertmanager-alert-minimal.json")
        let ok = try decoder.decode(value: bytes, headers: [RecordHeader("Content-Type", "application/json")])
        #expect(ok.count == 1)
        #expect(throws: AlertDecodingError.self) {
            try decoder.decode(value: bytes, headers: [RecordHeader("content-type", "application/x-protobuf")])
        }
    }
}

@Suite struct RecordHeaderTests {
    @Test func pairsAndLookup() throws {
        let pairs: [(key: String, value: [UInt8]?)] = [("Content-Type", Array("application/json".utf8)), ("x-null", nil), ("content-type", Array("text/json".utf8))]
        let record = InputRecord(value: Array(#"{"labels":{"a":"b"}}"#.utf8), headerPairs: pairs)
        #expect(record.headers.count == 3)
        #expect(record.headers[1].value == nil && record.headers[1].stringValue == nil)
        #expect(record.effectiveContentType == "text/json")  // the last one wins
        #expect(InputRecord(value: [], headers: record.headers, contentType: "application/json").effectiveContentType == "application/json")
        #expect(record.headers[0].pair.key == "Content-Type")
        #expect(RecordHeader(key: "k", value: [0xFF]).stringValue == nil)
        #expect(try AlertDecoder().decode(record).count == 1)
        #expect(record.headers.traceparent == nil)
    }
}

@Suite struct GrafanaDetectionTests {
    @Test func perAlertGrafanaFieldsAloneMarkGrafana() throws {
        let json = #"{"alerts":[{"labels":{"alertname":"A"},"panelURL":"https://grafana.example.com/d/x?viewPanel=2"}]}"#
        let record = try AlertDecoder().decodeRecord(InputRecord(value: Array(json.utf8)))
        #expect(record.format == .grafanaWebhook)
        #expect(record.alerts.first?.extra["panel_url"] == "https://grafana.example.com/d/x?viewPanel=2")
        #expect(record.alerts.first?.source == .grafana)
    }
}
