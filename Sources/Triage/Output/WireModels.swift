import Foundation

// The wire (snake_case, `null` written explicitly) shapes of the domain types inside
// output records. The domain types' own `Codable` conformances are left untouched; output
// records always go through these, so the wire format is defined in exactly one place:
// each shape reads through `Decodable` and writes through `JSONByteWriter` (the hot path:
// `JSONEncoder` cost more than the rest of an incident's processing) by the same keys.
// Writers list keys in UTF-8 byte order, as `JSONEncoder`'s `.sortedKeys` did.

/// A timestamp on the wire: ``Timestamp/format(_:)`` text.
struct WireDate: Decodable, Equatable {
    var date: Date

    init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let date = Timestamp.parse(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an RFC 3339 timestamp: \(text)"))
        }
        self.date = date
    }
}

extension JSONByteWriter {
    /// Writes `date` as ``Timestamp/format(_:)`` text.
    mutating func timestamp(_ date: Date) {
        unescapedString(byteCount: Timestamp.formattedLength) { Timestamp.write(date, into: $0) }
    }

    /// Writes `date` as ``Timestamp/format(_:)`` text, or `null` when it is `nil`.
    mutating func timestampOrNull(_ date: Date?) {
        if let date { timestamp(date) } else { null() }
    }
}

struct WireAlert: Decodable {
    var alert: Alert

    enum CodingKeys: String, CodingKey {
        case fingerprint, status, source, labels, annotations
        case startsAt = "starts_at", endsAt = "ends_at", generatorURL = "generator_url", extra
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        alert = Alert(
            fingerprint: try c.decode(String.self, forKey: .fingerprint),
            status: try c.decode(AlertStatus.self, forKey: .status),
            source: try c.decode(AlertSource.self, forKey: .source),
            labels: try c.decode([String: String].self, forKey: .labels),
            annotations: try c.decode([String: String].self, forKey: .annotations),
            startsAt: try c.decodeIfPresent(WireDate.self, forKey: .startsAt)?.date,
            endsAt: try c.decodeIfPresent(WireDate.self, forKey: .endsAt)?.date,
            generatorURL: try c.decodeIfPresent(String.self, forKey: .generatorURL),
            extra: try c.decode([String: String].self, forKey: .extra))
    }

    static func write(_ alert: Alert, to w: inout JSONByteWriter) {
        w.beginObject()
        w.key(CodingKeys.annotations)
        w.stringObject(alert.annotations)
        w.key(CodingKeys.endsAt)
        w.timestampOrNull(alert.endsAt)
        w.key(CodingKeys.extra)
        w.stringObject(alert.extra)
        w.key(CodingKeys.fingerprint)
        w.string(alert.fingerprint)
        w.key(CodingKeys.generatorURL)
        w.stringOrNull(alert.generatorURL)
        w.key(CodingKeys.labels)
        w.stringObject(alert.labels)
        w.key(CodingKeys.source)
        w.string(alert.source.rawValue)
        w.key(CodingKeys.startsAt)
        w.timestampOrNull(alert.startsAt)
        w.key(CodingKeys.status)
        w.string(alert.status.rawValue)
        w.endObject()
    }
}

struct WireServiceInfo: Decodable {
    var info: ServiceInfo

    enum CodingKeys: String, CodingKey {
        case name, ownerTeam = "owner_team", tier, runbookURL = "runbook_url", onCall = "on_call"
        case chatChannel = "chat_channel", tags
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        info = ServiceInfo(
            name: try c.decode(String.self, forKey: .name),
            ownerTeam: try c.decode(String.self, forKey: .ownerTeam),
            tier: try c.decodeIfPresent(Int.self, forKey: .tier),
            runbookURL: try c.decodeIfPresent(String.self, forKey: .runbookURL),
            onCall: try c.decodeIfPresent(String.self, forKey: .onCall),
            chatChannel: try c.decodeIfPresent(String.self, forKey: .chatChannel),
            tags: try c.decode([String].self, forKey: .tags))
    }

    static func write(_ info: ServiceInfo, to w: inout JSONByteWriter) {
        w.beginObject()
        w.key(CodingKeys.chatChannel)
        w.stringOrNull(info.chatChannel)
        w.key(CodingKeys.name)
        w.string(info.name)
        w.key(CodingKeys.onCall)
        w.stringOrNull(info.onCall)
        w.key(CodingKeys.ownerTeam)
        w.string(info.ownerTeam)
        w.key(CodingKeys.runbookURL)
        w.stringOrNull(info.runbookURL)
        w.key(CodingKeys.tags)
        w.stringArray(info.tags)
        w.key(CodingKeys.tier)
        w.intOrNull(info.tier)
        w.endObject()
    }
}

struct WireClassification: Decodable {
    var classification: Classification

    enum CodingKeys: String, CodingKey { case severity, category, confidence, classifier, rule }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        classification = Classification(
            severity: try c.decode(Severity.self, forKey: .severity),
            category: try c.decode(Category.self, forKey: .category),
            confidence: try c.decode(Double.self, forKey: .confidence),
            classifier: try c.decode(ClassifierKind.self, forKey: .classifier),
            rule: try c.decodeIfPresent(String.self, forKey: .rule))
    }

    /// - Throws: `EncodingError.invalidValue` when the confidence is not finite.
    static func write(_ classification: Classification, to w: inout JSONByteWriter) throws(EncodingError) {
        w.beginObject()
        w.key(CodingKeys.category)
        w.string(classification.category.rawValue)
        w.key(CodingKeys.classifier)
        w.string(classification.classifier.rawValue)
        w.key(CodingKeys.confidence)
        try w.double(classification.confidence, field: "classification.confidence")
        w.key(CodingKeys.rule)
        w.stringOrNull(classification.rule)
        w.key(CodingKeys.severity)
        w.string(classification.severity.rawValue)
        w.endObject()
    }
}

struct WireStepProvenance: Decodable {
    var step: StepProvenance
    /// `model` of the classification step (absent in records written before it existed).
    var model: Classification?

    enum CodingKeys: String, CodingKey { case source, fallbackUsed = "fallback_used", staleAgeSeconds = "stale_age_seconds", model }

    enum ModelKeys: String, CodingKey { case severity, category, confidence }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        step = StepProvenance(
            source: try c.decode(ProvenanceSource.self, forKey: .source),
            fallbackUsed: try c.decode(Bool.self, forKey: .fallbackUsed),
            staleAgeSeconds: try c.decodeIfPresent(Double.self, forKey: .staleAgeSeconds))
        if c.contains(.model), try !c.decodeNil(forKey: .model) {
            let m = try c.nestedContainer(keyedBy: ModelKeys.self, forKey: .model)
            model = Classification(
                severity: try m.decode(Severity.self, forKey: .severity),
                category: try m.decode(Category.self, forKey: .category),
                confidence: try m.decode(Double.self, forKey: .confidence),
                classifier: .ml)
        }
    }

    /// - Parameters:
    ///   - model: `nil` for a step without the `model` key (enrichment, dedup);
    ///     `.some(nil)` writes `"model": null`.
    ///   - staleAgeField: where the step sits, named in the error.
    /// - Throws: `EncodingError.invalidValue` when the stale age or the model's confidence is not finite.
    static func write(
        _ step: StepProvenance, model: Classification?? = nil, staleAgeField: StaticString, to w: inout JSONByteWriter
    ) throws(EncodingError) {
        w.beginObject()
        w.key(CodingKeys.fallbackUsed)
        w.bool(step.fallbackUsed)
        if let model {
            w.key(CodingKeys.model)
            if let model {
                w.beginObject()
                w.key(ModelKeys.category)
                w.string(model.category.rawValue)
                w.key(ModelKeys.confidence)
                try w.double(model.confidence, field: "provenance.classification.model.confidence")
                w.key(ModelKeys.severity)
                w.string(model.severity.rawValue)
                w.endObject()
            } else {
                w.null()
            }
        }
        w.key(CodingKeys.source)
        w.string(step.source.rawValue)
        w.key(CodingKeys.staleAgeSeconds)
        try w.doubleOrNull(step.staleAgeSeconds, field: staleAgeField)
        w.endObject()
    }
}
