import Foundation
import ServiceTestSupport
import Testing
import Triage
import TriageTestSupport

/// The records used as the documented examples in `deploy/schemas/examples/`.
enum ExampleRecords {
    static let received = Date(timeIntervalSince1970: 1_795_947_330.123)  // 2026-11-29T10:15:30.123Z
    static let processed = Date(timeIntervalSince1970: 1_795_947_330.187)

    static let alert = Alert(
        fingerprint: "a1b2c3d4e5f60718", status: .firing, source: .alertmanager,
        labels: ["alertname": "HighErrorRate", "service": "checkout", "severity": "critical"],
        annotations: ["summary": "5xx error rate above 5% on checkout"],
        startsAt: Date(timeIntervalSince1970: 1_795_947_000), endsAt: nil,
        generatorURL: "http://prometheus.example.com:9090/graph?g0.expr=up", extra: ["receiver": "breakwater"])

    static let incident = IncidentRecord(
        alert: alert,
        enrichment: ServiceInfo(name: "checkout", ownerTeam: "payments", tier: 1, runbookURL: "https://runbooks.example.com/checkout",
                                onCall: "payments-primary", chatChannel: "#payments-oncall", tags: ["pci", "customer-facing"]),
        classification: Classification(severity: .critical, category: .errors, confidence: 0.92, classifier: .rules, rule: "http-5xx"),
        provenance: IncidentProvenance(
            enrichment: StepProvenance(source: .stale, fallbackUsed: true, staleAgeSeconds: 42.5),
            classification: StepProvenance(source: .secondary, fallbackUsed: true),
            dedup: StepProvenance(source: .primary, fallbackUsed: false),
            model: Classification(severity: .high, category: .errors, confidence: 0.38, classifier: .ml)),
        dedup: .seen(occurrences: 3, firstSeen: Date(timeIntervalSince1970: 1_795_947_010), lastSeen: received),
        workerID: "worker-1", receivedAt: received, processedAt: processed, healableSteps: [.enrichment])

    static let repair = RepairRecord(
        incident: incident, steps: [RepairRecord.Step(step: .enrichment, breaker: "catalog", strategy: "stale_cache", reason: .circuitOpen)],
        workerID: "worker-1", recordedAt: processed)

    static let fallback = FallbackEventRecord(
        eventID: UUID(uuid: (0x5f, 0x0c, 0x9a, 0x4e, 0x1b, 0x2d, 0x4c, 0x3e, 0x8f, 0x6a, 0x7b, 0x8c, 0x9d, 0x0e, 0x1f, 0x2a)),
        incidentID: incident.incidentID, breaker: "catalog", strategy: "stale_cache", reason: .circuitOpen,
        staleAgeSeconds: 42.5, workerID: "worker-1", timestamp: processed)

    static let deadLetter = DeadLetter(
        error: AlertDecodingError(.missingField, "alerts[0].labels is required"), sourceTopic: "alerts", sourcePartition: 3,
        sourceOffset: 1842, time: processed, workerID: "worker-1")
}

func schemaValidator(_ name: String) throws -> JSONSchemaValidator {
    try JSONSchemaValidator(schemaBytes: try Fixture.repositoryFile("deploy/schemas/\(name)"))
}

func headerObject(_ fields: [String: String]) -> JSONValue { .object(fields.mapValues(JSONValue.string)) }

@Suite struct OutputRecordTests {
    @Test func incidentIDIsStablePerFiring() {
        var alert = ExampleRecords.alert
        let id = IncidentID.derive(for: alert)
        #expect(id.hasPrefix("inc-") && id.count == 20)
        alert.status = .resolved
        alert.endsAt = Date(timeIntervalSince1970: 1_795_948_000)
        alert.annotations["summary"] = "changed"
        #expect(IncidentID.derive(for: alert) == id)
        alert.startsAt = Date(timeIntervalSince1970: 1_795_990_000.5)
        #expect(IncidentID.derive(for: alert) != id)
        // The documented text, hashed whole: the fingerprint, a newline, startsAt as formatted.
        #expect(IncidentID.derive(for: alert) == "inc-" + Fingerprint.hex(Fingerprint.fnv1a64("a1b2c3d4e5f60718\n2026-11-29T22:06:40.500Z")))
        alert.extra["dedup_key"] = "pd-1"
        #expect(IncidentID.derive(for: alert) == "inc-" + Fingerprint.hex(Fingerprint.fnv1a64("a1b2c3d4e5f60718\n")))
        alert.extra["dedup_key"] = nil
        alert.startsAt = nil
        #expect(IncidentID.derive(for: alert) == "inc-" + Fingerprint.hex(Fingerprint.fnv1a64("a1b2c3d4e5f60718\n")))
    }

    @Test func incidentWireFormat() throws {
        let record = ExampleRecords.incident
        let bytes = try record.jsonBytes()
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix(#"{"alert":{"annotations":"#))  // keys sorted
        #expect(text.contains(#""received_at":"2026-11-29T10:15:30.123Z""#))
        #expect(text.contains(#""ends_at":null"#))
        #expect(text.contains(#""stale_age_seconds":42.5"#))
        #expect(text.contains(#""http://prometheus.example.com:9090/graph?g0.expr=up""#))  // slashes unescaped
        #expect(record.key == Array("a1b2c3d4e5f60718".utf8))
        #expect(try IncidentRecord.decode(bytes) == record)
    }

    @Test func incidentWithoutEnrichmentAndDedup() throws {
        var record = ExampleRecords.incident
        record.enrichment = nil
        record.dedup = .unavailable
        record.alert.startsAt = nil
        record.alert.generatorURL = nil
        let bytes = try record.jsonBytes()
        let object = try #require(try JSONValue.parse(bytes).objectValue)
        #expect(object["enrichment"] == .null)
        #expect(object["dedup"] == .object(["available": .bool(false)]))
        #expect(try IncidentRecord.decode(bytes) == record)
        #expect(try schemaValidator("incident.schema.json").validate(bytes: bytes).isEmpty)
    }

    @Test func nonFiniteNumbersFailToEncode() {
        var record = ExampleRecords.incident
        record.classification.confidence = .nan
        #expect(throws: EncodingError.self) { try record.jsonBytes() }
        var event = ExampleRecords.fallback
        event.staleAgeSeconds = .infinity
        #expect(throws: EncodingError.self) { try event.jsonBytes() }
    }

    @Test func wrongSchemaVersionIsRejected() throws {
        var text = String(decoding: try ExampleRecords.incident.jsonBytes(), as: UTF8.self)
        text = text.replacingOccurrences(of: #""schema_version":1"#, with: #""schema_version":2"#)
        #expect(throws: DecodingError.self) { try IncidentRecord.decode(Array(text.utf8)) }
        var event = String(decoding: try ExampleRecords.fallback.jsonBytes(), as: UTF8.self)
        event = event.replacingOccurrences(of: #""schema_version":1"#, with: #""schema_version":9"#)
        #expect(throws: DecodingError.self) { try FallbackEventRecord.decode(Array(event.utf8)) }
        #expect(throws: DecodingError.self) { try IncidentRecord.decode(Array(#"{"schema_version":1,"received_at":"now"}"#.utf8)) }
    }

    @Test func fallbackEventWireFormat() throws {
        let event = ExampleRecords.fallback
        let bytes = try event.jsonBytes()
        let object = try #require(try JSONValue.parse(bytes).objectValue)
        #expect(object["event_id"] == .string("5f0c9a4e-1b2d-4c3e-8f6a-7b8c9d0e1f2a"))
        #expect(object["reason"] == .string("circuit_open"))
        #expect(object["timestamp"] == .string("2026-11-29T10:15:30.187Z"))
        #expect(event.key == Array(event.incidentID.utf8))
        #expect(try FallbackEventRecord.decode(bytes) == event)
        var noStale = event
        noStale.staleAgeSeconds = nil
        noStale.reason = .featureOff
        let noStaleBytes = try noStale.jsonBytes()
        #expect(try JSONValue.parse(noStaleBytes).objectValue?["stale_age_seconds"] == .null)
        #expect(try schemaValidator("fallback-event.schema.json").validate(bytes: noStaleBytes).isEmpty)
    }

    @Test func deadLetterHeaders() throws {
        let letter = ExampleRecords.deadLetter
        let original = [RecordHeader("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
                        RecordHeader("breakwater-dlq-reason", "stale-from-an-earlier-pass"), RecordHeader(key: "null", value: nil)]
        let headers = letter.headers(appendingTo: original)
        #expect(headers.map(\.key) == ["traceparent", "null", DeadLetter.Header.reason, DeadLetter.Header.detail,
                                       DeadLetter.Header.sourceTopic, DeadLetter.Header.sourcePartition,
                                       DeadLetter.Header.sourceOffset, DeadLetter.Header.time, DeadLetter.Header.workerID])
        #expect(headers.last(named: DeadLetter.Header.reason)?.stringValue == "missing_field")
        #expect(headers.last(named: DeadLetter.Header.sourceOffset)?.stringValue == "1842")
        #expect(headers.last(named: DeadLetter.Header.time)?.stringValue == "2026-11-29T10:15:30.187Z")
        #expect(DeadLetter(headers: headers) == letter)
        #expect(DeadLetter(headers: Array(headers.dropLast())) == nil)
        var badOffset = headers
        badOffset[6] = RecordHeader(DeadLetter.Header.sourceOffset, "x")
        #expect(DeadLetter(headers: badOffset) == nil)
    }

    @Test func aLetterWithoutItsOriginalSaysSoAndOthersCarryNoSuchHeader() throws {
        var dropped = ExampleRecords.deadLetter
        #expect(!dropped.originalDropped)
        #expect(dropped.headerFields[DeadLetter.Header.originalDropped] == nil)
        dropped.originalDropped = true
        let headers = dropped.headers(appendingTo: [])
        #expect(headers.last?.key == DeadLetter.Header.originalDropped)
        #expect(headers.last?.stringValue == "true")
        #expect(DeadLetter(headers: headers) == dropped)
        #expect(try schemaValidator("dlq-headers.schema.json").validate(headerObject(dropped.headerFields)).isEmpty)
        // A redrive count among the original headers is kept; earlier letters' headers are not.
        let redriven = ExampleRecords.deadLetter.headers(appendingTo: [RecordHeader(DeadLetter.redriveCountHeader, "2")] + headers)
        #expect(redriven.first == RecordHeader(DeadLetter.redriveCountHeader, "2"))
        #expect(DeadLetter(headers: redriven)?.originalDropped == false)
    }

    @Test func deadLetterDetailIsCapped() throws {
        let long = DeadLetter(reason: DeadLetter.processingFailedReason, detail: String(repeating: "é", count: 2000), sourceTopic: "alerts",
                              sourcePartition: 0, sourceOffset: 0, time: ExampleRecords.processed, workerID: "w")
        #expect(long.detail.utf8.count <= DeadLetter.maxDetailBytes)
        #expect(long.detail.hasSuffix("..."))
        #expect(try schemaValidator("dlq-headers.schema.json").validate(headerObject(long.headerFields)).isEmpty)
    }

    @Test func dlqSchemaListsEveryReasonCode() throws {
        let schema = try JSONValue.parse(try Fixture.repositoryFile("deploy/schemas/dlq-headers.schema.json"))
        let listed = schema.objectValue?["properties"]?.objectValue?[DeadLetter.Header.reason]?.objectValue?["enum"]?.arrayValue?.compactMap(\.stringValue)
        #expect(listed == DeadLetter.reasonCodes)
    }

    /// The documented examples are exactly what the encoders produce, and validate.
    @Test(arguments: [
        ("incident.example.json", "incident.schema.json"),
        ("fallback-event.example.json", "fallback-event.schema.json"),
        ("dlq-headers.example.json", "dlq-headers.schema.json"),
        ("repair.example.json", "repair.schema.json"),
    ])
    func examplesMatchEncoderAndSchema(example: String, schema: String) throws {
        let encoded: JSONValue = switch example {
        case "incident.example.json": try JSONValue.parse(try ExampleRecords.incident.jsonBytes())
        case "fallback-event.example.json": try JSONValue.parse(try ExampleRecords.fallback.jsonBytes())
        case "repair.example.json": try JSONValue.parse(try ExampleRecords.repair.jsonBytes())
        default: headerObject(ExampleRecords.deadLetter.headerFields)
        }
        let file = try JSONValue.parse(try Fixture.repositoryFile("deploy/schemas/examples/\(example)"))
        #expect(file == encoded, "encoder now writes: \(encoded.canonicalText)")
        let violations = try schemaValidator(schema).validate(encoded)
        #expect(violations.isEmpty, "\(violations)")
        if example == "repair.example.json", case .object(let members) = encoded, let incident = members["incident"] {
            let nested = try schemaValidator("incident.schema.json").validate(incident)
            #expect(nested.isEmpty, "the repair's incident: \(nested)")
        }
    }
}
