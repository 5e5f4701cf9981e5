import Foundation
import Triage

/// The output records as Foundation's `JSONEncoder` writes them with the options the
/// worker used before `JSONByteWriter` (`[.sortedKeys, .withoutEscapingSlashes]`): the
/// reference the records' `jsonBytes()` must equal byte for byte in tests, and the
/// baseline of the encode benchmark.
///
/// The records' `Encodable` conformances were dropped when the worker stopped using
/// them; these wrappers keep the same keyed-container encoding (so the same `JSONEncoder`
/// work per record), apart from the code they check.
public enum JSONEncoderReference {
    /// `record` encoded by `JSONEncoder`.
    /// - Throws: `EncodingError.invalidValue` when a number is not finite.
    public static func bytes(_ record: IncidentRecord) throws -> [UInt8] {
        try encode(Incident(record: record))
    }

    /// `record` encoded by `JSONEncoder`.
    /// - Throws: `EncodingError.invalidValue` when the stale age is not finite.
    public static func bytes(_ record: FallbackEventRecord) throws -> [UInt8] {
        try encode(FallbackEvent(record: record))
    }

    private static func encode(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }
}

/// A key by its wire name, so each wrapper below names its fields in one place.
private struct Key: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ name: String) { stringValue = name }
    init?(stringValue: String) { self.init(stringValue) }
    init?(intValue: Int) { nil }
}

extension KeyedEncodingContainer<Key> {
    /// Encodes `value`, or an explicit `null` when it is `nil`: records carry every key.
    fileprivate mutating func field(_ name: String, _ value: (some Encodable)?) throws {
        if let value { try encode(value, forKey: Key(name)) } else { try encodeNil(forKey: Key(name)) }
    }
}

private struct Incident: Encodable {
    var record: IncidentRecord

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.field("schema_version", IncidentRecord.schemaVersion)
        try c.field("incident_id", record.incidentID)
        try c.field("alert", WireAlert(alert: record.alert))
        try c.field("enrichment", record.enrichment.map(WireServiceInfo.init))
        try c.field("classification", WireClassification(classification: record.classification))
        var p = c.nestedContainer(keyedBy: Key.self, forKey: Key("provenance"))
        try p.field("enrichment", WireStep(step: record.provenance.enrichment))
        try p.field("classification", WireStep(step: record.provenance.classification, model: .some(record.provenance.model)))
        try p.field("dedup", WireStep(step: record.provenance.dedup))
        var d = c.nestedContainer(keyedBy: Key.self, forKey: Key("dedup"))
        switch record.dedup {
        case .seen(let occurrences, let firstSeen, let lastSeen):
            try d.field("available", true)
            try d.field("occurrences", occurrences)
            try d.field("first_seen", Timestamp.format(firstSeen))
            try d.field("last_seen", Timestamp.format(lastSeen))
        case .unavailable:
            try d.field("available", false)
        }
        try c.field("worker_id", record.workerID)
        try c.field("received_at", Timestamp.format(record.receivedAt))
        try c.field("processed_at", Timestamp.format(record.processedAt))
        try c.field("revision", record.revision)
        try c.field("provisional", record.isProvisional)
        try c.field("healable_steps", record.healableSteps.map(\.rawValue))
        try c.field("supersedes", record.supersedes)
        try c.field("healed_at", record.healedAt.map(Timestamp.format))
    }
}

private struct WireAlert: Encodable {
    var alert: Alert

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.field("fingerprint", alert.fingerprint)
        try c.field("status", alert.status)
        try c.field("source", alert.source)
        try c.field("labels", alert.labels)
        try c.field("annotations", alert.annotations)
        try c.field("starts_at", alert.startsAt.map(Timestamp.format))
        try c.field("ends_at", alert.endsAt.map(Timestamp.format))
        try c.field("generator_url", alert.generatorURL)
        try c.field("extra", alert.extra)
    }
}

private struct WireServiceInfo: Encodable {
    var info: ServiceInfo

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.field("name", info.name)
        try c.field("owner_team", info.ownerTeam)
        try c.field("tier", info.tier)
        try c.field("runbook_url", info.runbookURL)
        try c.field("on_call", info.onCall)
        try c.field("chat_channel", info.chatChannel)
        try c.field("tags", info.tags)
    }
}

private struct WireClassification: Encodable {
    var classification: Classification

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.field("severity", classification.severity)
        try c.field("category", classification.category)
        try c.field("confidence", classification.confidence)
        try c.field("classifier", classification.classifier)
        try c.field("rule", classification.rule)
    }
}

private struct WireStep: Encodable {
    var step: StepProvenance
    /// Only the classification step has `model`; `.some(nil)` is an explicit `null`.
    var model: Classification?? = nil

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.field("source", step.source)
        try c.field("fallback_used", step.fallbackUsed)
        try c.field("stale_age_seconds", step.staleAgeSeconds)
        if let model { try c.field("model", model.map(WireModelVerdict.init)) }
    }
}

private struct WireModelVerdict: Encodable {
    var model: Classification

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.field("severity", model.severity)
        try c.field("category", model.category)
        try c.field("confidence", model.confidence)
    }
}

private struct FallbackEvent: Encodable {
    var record: FallbackEventRecord

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.field("schema_version", FallbackEventRecord.schemaVersion)
        try c.field("event_id", record.eventID.uuidString.lowercased())
        try c.field("incident_id", record.incidentID)
        try c.field("breaker", record.breaker)
        try c.field("strategy", record.strategy)
        try c.field("reason", record.reason)
        try c.field("stale_age_seconds", record.staleAgeSeconds)
        try c.field("worker_id", record.workerID)
        try c.field("timestamp", Timestamp.format(record.timestamp))
    }
}
