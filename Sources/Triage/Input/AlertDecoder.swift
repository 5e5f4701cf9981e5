import Foundation

/// The input formats the decoder recognizes.
public enum InputFormat: String, Sendable, Codable, CaseIterable {
    /// Alertmanager webhook payload, version 4 (`{"receiver":…,"alerts":[…]}`).
    case alertmanagerWebhook = "alertmanager_webhook"
    /// One Alertmanager alert object (`{"labels":…,"annotations":…}`).
    case alertmanagerAlert = "alertmanager_alert"
    /// Grafana alerting webhook (Alertmanager fields plus `orgId`, `title`, `state`, `message`).
    case grafanaWebhook = "grafana_webhook"
    /// PagerDuty Events API v2 event.
    case pagerduty
    /// CloudEvents 1.0 structured mode (`application/cloudevents+json`) around another format.
    case cloudEventStructured = "cloudevent_structured"
    /// CloudEvents 1.0 binary mode (`ce_*` headers) around another format.
    case cloudEventBinary = "cloudevent_binary"
}

/// One decoded record: which format it was in and the alerts it carried (at least one).
public struct DecodedRecord: Sendable, Equatable {
    /// The record's own format (for CloudEvents, the envelope's mode).
    public var format: InputFormat
    /// For CloudEvents, the format of the event's `data`; otherwise equal to ``format``.
    public var innerFormat: InputFormat
    /// The normalized alerts, in payload order.
    public var alerts: [Alert]
}

/// Decodes one Kafka record into normalized ``Alert``s, recognizing the format by the
/// record's content (and its `ce_*`/`content-type` headers). Pure: no I/O, no clock except
/// the `receivedAt` the caller passes.
///
/// Checks run in this order, each failing with its own ``AlertDecodingError/Reason``:
/// empty → size (`too_large`) → content type → CloudEvents binary headers → UTF-8 →
/// JSON (with depth/string/collection limits) → format detection → fields.
///
/// A single Alertmanager alert of strings and string maps only, the commonest record in a
/// storm, is read straight from its bytes instead of through a ``JSONValue`` tree (0.9x
/// the worker's per-record processing time); any other record, or any such record the
/// direct reader is not sure of, takes the tree, so the outcome never depends on the path.
///
/// Normalization rules:
/// - A payload with `alerts` is Grafana's when it has `orgId`, `title`, `state` or `message`,
///   or any alert has `silenceURL`, `dashboardURL`, `panelURL`, `values` or `valueString`.
/// - Alertmanager/Grafana webhooks: N alerts → N ``Alert``s; labels are `groupLabels`, then
///   `commonLabels`, then the alert's own labels (later wins); annotations likewise from
///   `commonAnnotations`. `startsAt`/`endsAt` of `0001-01-01T00:00:00Z` → `nil`. A missing
///   alert `status` is the payload's `status`, else `resolved` when `endsAt` is set and not
///   after `receivedAt`, else `firing`. Only `alerts` (and each alert's `labels`, which must
///   not be empty) are required; every other field is optional but type-checked.
/// - A missing or empty `fingerprint` is ``Fingerprint/derive(labels:)`` of the merged
///   labels (PagerDuty: ``Fingerprint/derive(dedupKey:)`` when a dedup key is present).
/// - PagerDuty: `routing_key` is type-checked and then dropped (it is a secret);
///   `event_action` trigger/acknowledge → `firing`, resolve → `resolved`; labels
///   `alertname` (= `class`, else `summary`), `severity`, `service` (= `component`, else
///   `source`), `source`, `component`, `group`, `class`, `dedup_key`; annotations `summary`
///   and `custom_details` (compact JSON, or the string itself); `timestamp` → `startsAt`
///   (`endsAt` for resolve); `client_url` → `generatorURL`.
/// - CloudEvents: the `data` is decoded as any non-CloudEvents format; the alerts get
///   source ``AlertSource/cloudevents`` and `extra` `ce_id`, `ce_source`, `ce_type`,
///   `ce_mode`, `ce_data_format` (and `ce_subject`, `ce_time` when set).
///
/// `extra` keys: webhooks `receiver`, `group_key`, `external_url`, `truncated_alerts`,
/// `group_labels` (compact JSON), `version`; Grafana also `org_id`, `title`, `state`,
/// `message`, and per alert `silence_url`, `dashboard_url`, `panel_url`, `image_url`,
/// `values` (compact JSON), `value_string`; PagerDuty `event_action`, `dedup_key`,
/// `client`, `links`/`images` (compact JSON).
public struct AlertDecoder: Sendable {
    /// The limits every record is checked against.
    public var limits: DecodingLimits

    /// Creates a decoder with `limits` (default: ``DecodingLimits/default``).
    public init(limits: DecodingLimits = .default) {
        self.limits = limits
    }

    /// Decodes `record` into its alerts (at least one).
    ///
    /// - Parameter receivedAt: when the record was received; only used to infer the status
    ///   of an Alertmanager alert that names none.
    /// - Throws: ``AlertDecodingError`` for anything that is not a valid alert record; never
    ///   traps, whatever the bytes.
    public func decode(_ record: InputRecord, receivedAt: Date = Date()) throws(AlertDecodingError) -> [Alert] {
        try decodeRecord(record, receivedAt: receivedAt).alerts
    }

    /// Convenience for ``decode(_:receivedAt:)`` taking the record's parts.
    /// - Throws: ``AlertDecodingError`` as ``decode(_:receivedAt:)``.
    public func decode(
        value: [UInt8], headers: [RecordHeader] = [], contentType: String? = nil, receivedAt: Date = Date()
    ) throws(AlertDecodingError) -> [Alert] {
        try decode(InputRecord(value: value, headers: headers, contentType: contentType), receivedAt: receivedAt)
    }

    /// Like ``decode(_:receivedAt:)``, also saying which format the record was in.
    /// - Throws: ``AlertDecodingError`` as ``decode(_:receivedAt:)``.
    public func decodeRecord(_ record: InputRecord, receivedAt: Date = Date()) throws(AlertDecodingError) -> DecodedRecord {
        try decodeRecord(record, receivedAt: receivedAt, direct: true)
    }

    /// ``decodeRecord(_:receivedAt:)``; `direct: false` never takes the direct reader of
    /// plain Alertmanager alerts, so tests can hold the two paths equal.
    func decodeRecord(_ record: InputRecord, receivedAt: Date, direct: Bool) throws(AlertDecodingError) -> DecodedRecord {
        let bytes = record.value
        guard bytes.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }) else {
            throw AlertDecodingError(.emptyRecord, "the record value is empty")
        }
        guard bytes.count <= limits.maxRecordBytes else {
            throw AlertDecodingError(.tooLarge, "the record value is \(bytes.count) bytes, more than \(limits.maxRecordBytes)")
        }
        let mediaType = try Self.mediaType(record.effectiveContentType)
        // Kafka protocol binding: the structured content type wins over stray `ce_*` headers.
        if mediaType != "application/cloudevents+json", let binary = try binaryCloudEvent(record.headers) {
            let data = try parse(bytes)
            guard case .object(let members) = data else {
                throw AlertDecodingError(.unknownFormat, "CloudEvent data must be a JSON object, got \(data.typeName)")
            }
            let inner = try decodePayload(JSONFields(members, path: "data", limits: limits), receivedAt: receivedAt)
            return DecodedRecord(format: .cloudEventBinary, innerFormat: inner.format,
                                 alerts: binary.wrap(inner, mode: "binary"))
        }
        if direct, mediaType != "application/cloudevents+json",
           let alert = JSONParser.plainAlertmanagerAlert(bytes, limits: limits, receivedAt: receivedAt) {
            return DecodedRecord(format: .alertmanagerAlert, innerFormat: .alertmanagerAlert, alerts: [alert])
        }
        let document = try parse(bytes)
        guard case .object(let members) = document else {
            throw AlertDecodingError(.unknownFormat, "top-level JSON \(document.typeName) is not an alert payload")
        }
        let fields = JSONFields(members, path: "", limits: limits)
        if mediaType == "application/cloudevents+json" || fields.has("specversion") {
            return try decodeStructuredCloudEvent(fields, receivedAt: receivedAt)
        }
        let inner = try decodePayload(fields, receivedAt: receivedAt)
        return DecodedRecord(format: inner.format, innerFormat: inner.format, alerts: inner.alerts)
    }

    // MARK: - Bytes and content type

    /// The lowercased media type without parameters; `nil` when absent.
    /// - Throws: `unsupported_content_type` for a type that is not JSON.
    static func mediaType(_ contentType: String?) throws(AlertDecodingError) -> String? {
        guard let contentType else { return nil }
        let media = contentType.split(separator: ";", maxSplits: 1).first.map(String.init) ?? ""
        let type = media.trimmingCharacters(in: .whitespaces).lowercased()
        if type.isEmpty { return nil }
        let isJSON = type == "application/json" || type == "text/json"
            || (type.hasPrefix("application/") && type.hasSuffix("+json") && type != "application/cloudevents-batch+json")
        guard isJSON else {
            throw AlertDecodingError(.unsupportedContentType, "content type \(contentType.prefix(100)) is not JSON")
        }
        return type
    }

    /// Parses the JSON of a record. Invalid UTF-8 anywhere is `invalid_utf8`, whatever
    /// else is wrong.
    ///
    /// The whole record is validated only when parsing fails: the parser validates every
    /// string, and any other non-ASCII byte is a syntax error, so a record that parses is
    /// valid UTF-8 (validating it up front cost a second pass over every record).
    func parse(_ bytes: [UInt8]) throws(AlertDecodingError) -> JSONValue {
        do {
            return try JSONValue.parse(bytes, limits: limits.json)
        } catch {
            guard String(validating: bytes, as: UTF8.self) != nil else {
                throw AlertDecodingError(.invalidUTF8, "the record value is not valid UTF-8")
            }
            switch error.kind {
            case .syntax: throw AlertDecodingError(.invalidJSON, error.description)
            case .tooDeep: throw AlertDecodingError(.tooDeep, error.description)
            case .stringTooLong, .collectionTooLarge: throw AlertDecodingError(.tooLarge, error.description)
            }
        }
    }

    // MARK: - Format detection

    struct Payload {
        var format: InputFormat
        var alerts: [Alert]
    }

    /// Decodes any non-CloudEvents format, recognized by its keys.
    func decodePayload(_ fields: JSONFields, receivedAt: Date) throws(AlertDecodingError) -> Payload {
        if fields.has("specversion") {
            throw AlertDecodingError(.invalidCloudEvent, "\(fields.pathOf("specversion")): a CloudEvent inside a CloudEvent is not supported")
        }
        if fields.has("event_action") || fields.has("routing_key") {
            return Payload(format: .pagerduty, alerts: [try PagerDutyDecoding.decode(fields)])
        }
        if fields.has("alerts") {
            let isGrafana = ["orgId", "title", "state", "message"].contains { fields.has($0) }
                || (fields.members["alerts"]?.arrayValue ?? []).contains { alert in
                    WebhookDecoding.grafanaAlertKeys.contains { alert.objectValue?[$0] != nil }
                }
            let alerts = try WebhookDecoding(fields: fields, grafana: isGrafana, receivedAt: receivedAt).decode()
            return Payload(format: isGrafana ? .grafanaWebhook : .alertmanagerWebhook, alerts: alerts)
        }
        if fields.has("labels") {
            let alert = try WebhookDecoding.decodeAlert(fields, group: .none, receivedAt: receivedAt)
            return Payload(format: .alertmanagerAlert, alerts: [alert])
        }
        let keys = fields.members.keys.sorted().prefix(8).map { String($0.prefix(40)) }.joined(separator: ", ")
        let place = fields.path.isEmpty ? "the object" : fields.path
        throw AlertDecodingError(.unknownFormat, "\(place) (keys: \(keys)) is none of Alertmanager, Grafana, PagerDuty, CloudEvents")
    }
}
