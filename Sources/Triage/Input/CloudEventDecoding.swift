import Foundation

/// The CloudEvents 1.0 context attributes Breakwater keeps.
struct CloudEventAttributes {
    var id: String
    var source: String
    var type: String
    var subject: String?
    var time: String?

    /// Validates the attributes read by `read` (`specversion`, `id`, `source`, `type`
    /// required; `time` must be RFC 3339 when present).
    static func validate(
        where place: String, _ read: (String) throws(AlertDecodingError) -> String?
    ) throws(AlertDecodingError) -> CloudEventAttributes {
        func required(_ name: String) throws(AlertDecodingError) -> String {
            guard let value = try read(name), !value.isEmpty else {
                throw AlertDecodingError(.invalidCloudEvent, "\(place) lacks the required attribute \(name)")
            }
            return value
        }
        let version = try required("specversion")
        guard version == "1.0" else {
            throw AlertDecodingError(.invalidCloudEvent, "\(place) has specversion \(version.prefix(16)), only 1.0 is supported")
        }
        let time = try read("time")
        if let time, Timestamp.parse(time) == nil {
            throw AlertDecodingError(.invalidCloudEvent, "\(place) time is not an RFC 3339 timestamp: \(time.prefix(64))")
        }
        return CloudEventAttributes(
            id: try required("id"), source: try required("source"), type: try required("type"),
            subject: try read("subject"), time: time)
    }

    /// The inner alerts, re-labelled as CloudEvents alerts carrying the event's attributes.
    func wrap(_ inner: AlertDecoder.Payload, mode: String) -> [Alert] {
        inner.alerts.map { alert in
            var alert = alert
            alert.source = .cloudevents
            alert.extra["ce_id"] = id
            alert.extra["ce_source"] = source
            alert.extra["ce_type"] = type
            alert.extra["ce_mode"] = mode
            alert.extra["ce_data_format"] = inner.format.rawValue
            if let subject { alert.extra["ce_subject"] = subject }
            if let time { alert.extra["ce_time"] = time }
            return alert
        }
    }
}

extension AlertDecoder {
    /// The binary-mode attributes from `ce_*` headers; `nil` when there are none.
    /// - Throws: `invalid_cloudevent` when `ce_*` headers are present but incomplete.
    func binaryCloudEvent(_ headers: [RecordHeader]) throws(AlertDecodingError) -> CloudEventAttributes? {
        guard headers.contains(where: { $0.key.lowercased().hasPrefix("ce_") }) else { return nil }
        return try CloudEventAttributes.validate(where: "binary-mode CloudEvent (ce_* headers)") { (name: String) throws(AlertDecodingError) -> String? in
            guard let header = headers.last(named: "ce_" + name), header.value != nil else { return nil }
            guard let text = header.stringValue else {
                throw AlertDecodingError(.invalidCloudEvent, "header ce_\(name) is not valid UTF-8")
            }
            return text
        }
    }

    /// Decodes a structured-mode CloudEvent whose `data` (or `data_base64`) is an alert payload.
    func decodeStructuredCloudEvent(_ event: JSONFields, receivedAt: Date) throws(AlertDecodingError) -> DecodedRecord {
        let attributes = try CloudEventAttributes.validate(where: "structured CloudEvent") { (name: String) throws(AlertDecodingError) -> String? in
            guard let value = event.value(name) else { return nil }
            guard case .string(let text) = value else {
                throw AlertDecodingError(.invalidCloudEvent, "attribute \(name) must be a string, got \(value.typeName)")
            }
            return text
        }
        _ = try Self.mediaType(try event.optionalString("datacontenttype"))
        let data: JSONFields
        if let value = event.value("data") {
            guard case .object(let members) = value else { throw event.wrongType("data", expected: "an object", got: value) }
            data = JSONFields(members, path: "data", limits: limits)
        } else if let base64 = try event.optionalString("data_base64") {
            guard let raw = Data(base64Encoded: base64) else {
                throw AlertDecodingError(.invalidCloudEvent, "data_base64 is not valid base64")
            }
            let parsed = try parse(Array(raw))
            guard case .object(let members) = parsed else {
                throw AlertDecodingError(.wrongType, "data_base64 must hold a JSON object, got \(parsed.typeName)")
            }
            data = JSONFields(members, path: "data_base64", limits: limits)
        } else {
            throw AlertDecodingError(.invalidCloudEvent, "structured CloudEvent has neither data nor data_base64")
        }
        let inner = try decodePayload(data, receivedAt: receivedAt)
        return DecodedRecord(format: .cloudEventStructured, innerFormat: inner.format,
                             alerts: attributes.wrap(inner, mode: "structured"))
    }
}
