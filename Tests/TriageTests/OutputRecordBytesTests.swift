import Foundation
import Testing
import Triage
import TriageTestSupport

/// The records' `jsonBytes()` (``JSONByteWriter``) against `JSONEncoder`'s bytes for the same
/// record (``JSONEncoderReference``): the wire format must not move by a byte.
@Suite struct OutputRecordBytesTests {
    func expectJSONEncoderBytes(_ record: IncidentRecord, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let written = String(decoding: try record.jsonBytes(), as: UTF8.self)
        #expect(written == String(decoding: try JSONEncoderReference.bytes(record), as: UTF8.self), sourceLocation: sourceLocation)
    }

    func expectJSONEncoderBytes(_ record: FallbackEventRecord, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let written = String(decoding: try record.jsonBytes(), as: UTF8.self)
        #expect(written == String(decoding: try JSONEncoderReference.bytes(record), as: UTF8.self), sourceLocation: sourceLocation)
    }

    @Test func examples() throws {
        try expectJSONEncoderBytes(ExampleRecords.incident)
        try expectJSONEncoderBytes(ExampleRecords.fallback)
    }

    /// Every alert the input fixtures decode to, as an incident.
    @Test func fixtureAlerts() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Fixture.directory.path)
            .filter { $0.hasSuffix(".json") && !$0.hasSuffix(".headers.json") }.sorted()
        #expect(names.count >= 10)
        for name in names {
            let headersName = name.replacingOccurrences(of: ".json", with: ".headers.json")
            let hasHeaders = FileManager.default.fileExists(atPath: Fixture.directory.appendingPathComponent(headersName).path)
            let headers = hasHeaders ? try Fixture.headers(headersName) : []
            let alerts = try AlertDecoder().decode(InputRecord(value: try Fixture.bytes(name), headers: headers), receivedAt: fixtureReceivedAt)
            for alert in alerts {
                var record = ExampleRecords.incident
                record.alert = alert
                record.incidentID = IncidentID.derive(for: alert)
                try expectJSONEncoderBytes(record)
            }
        }
    }

    @Test func everyEnumCase() throws {
        func eachCase<Value: CaseIterable>(_ field: WritableKeyPath<IncidentRecord, Value>) throws {
            var record = ExampleRecords.incident
            for value in Value.allCases {
                record[keyPath: field] = value
                try expectJSONEncoderBytes(record)
            }
        }
        try eachCase(\.classification.severity)
        try eachCase(\.classification.category)
        try eachCase(\.classification.classifier)
        try eachCase(\.alert.source)
        try eachCase(\.alert.status)
        try eachCase(\.provenance.enrichment.source)
        try eachCase(\.provenance.classification.source)
        try eachCase(\.provenance.dedup.source)
        var event = ExampleRecords.fallback
        for reason in FallbackEventReason.allCases {
            event.reason = reason
            try expectJSONEncoderBytes(event)
        }
    }

    @Test func unsetAndSetOptionalsAndBothDedupShapes() throws {
        var record = ExampleRecords.incident
        try expectJSONEncoderBytes(record)
        record.enrichment = ServiceInfo(name: "checkout", ownerTeam: "payments")
        try expectJSONEncoderBytes(record)
        record.enrichment = nil
        record.dedup = .unavailable
        record.alert.startsAt = nil
        record.alert.generatorURL = nil
        record.alert.labels = [:]
        record.alert.annotations = [:]
        record.alert.extra = [:]
        record.classification.rule = nil
        record.provenance.enrichment.staleAgeSeconds = nil
        try expectJSONEncoderBytes(record)
        record.alert.endsAt = ExampleRecords.processed
        record.dedup = .seen(occurrences: 1, firstSeen: ExampleRecords.received, lastSeen: ExampleRecords.received)
        record.provenance.dedup.staleAgeSeconds = 0
        try expectJSONEncoderBytes(record)

        var event = ExampleRecords.fallback
        event.staleAgeSeconds = nil
        try expectJSONEncoderBytes(event)
    }

    /// Each awkward string in every string field and as a key of every string map.
    @Test(arguments: awkwardStrings)
    func awkwardStringsInEveryField(text: String) throws {
        var record = ExampleRecords.incident
        record.incidentID = text
        record.workerID = text
        record.alert.fingerprint = text
        record.alert.generatorURL = text
        record.alert.labels[text] = text
        record.alert.annotations = [text: text + text]
        record.alert.extra[text] = ""
        record.classification.rule = text
        record.enrichment = ServiceInfo(name: text, ownerTeam: text, runbookURL: text, onCall: text, chatChannel: text, tags: [text, text])
        try expectJSONEncoderBytes(record)
        var event = ExampleRecords.fallback
        event.incidentID = text
        event.breaker = text
        event.strategy = text
        event.workerID = text
        try expectJSONEncoderBytes(event)
    }

    @Test(arguments: awkwardDoubles)
    func awkwardDoublesInEveryNumber(number: Double) throws {
        var record = ExampleRecords.incident
        record.classification.confidence = number
        record.provenance.classification.staleAgeSeconds = number
        record.enrichment?.tier = Int(exactly: number.rounded()) ?? -1
        try expectJSONEncoderBytes(record)
        var event = ExampleRecords.fallback
        event.staleAgeSeconds = number
        try expectJSONEncoderBytes(event)
    }

    @Test func seededRandomRecords() throws {
        var random = RandomRecords(seed: 20_261_129)
        for _ in 0..<300 {
            try expectJSONEncoderBytes(random.incident())
            try expectJSONEncoderBytes(random.fallbackEvent())
        }
    }

    /// Like `JSONEncoder`, the writer refuses numbers JSON cannot spell, wherever they sit.
    @Test(arguments: [Double.nan, .infinity, -.infinity])
    func nonFiniteNumbersThrow(number: Double) {
        let mutations: [(inout IncidentRecord) -> Void] = [
            { $0.classification.confidence = number },
            { $0.provenance.enrichment.staleAgeSeconds = number },
            { $0.provenance.classification.staleAgeSeconds = number },
            { $0.provenance.dedup.staleAgeSeconds = number },
        ]
        for mutate in mutations {
            var record = ExampleRecords.incident
            mutate(&record)
            #expect(throws: EncodingError.self) { try record.jsonBytes() }
            #expect(throws: EncodingError.self) { try JSONEncoderReference.bytes(record) }
        }
        var event = ExampleRecords.fallback
        event.staleAgeSeconds = number
        #expect(throws: EncodingError.self) { try event.jsonBytes() }
    }
}

/// Records with every field drawn at random: awkward and random Unicode text, doubles of any
/// magnitude, dates outside the years the timestamp format can hold, and unset optionals.
struct RandomRecords {
    var random: SeededRandom

    init(seed: UInt64) { random = SeededRandom(seed: seed) }

    mutating func text() -> String {
        var text = ""
        for _ in 0..<Int.random(in: 0...6, using: &random) {
            switch Int.random(in: 0..<4, using: &random) {
            case 0: text += random.pick(awkwardStrings)
            case 1: text.unicodeScalars.append(Unicode.Scalar(UInt8.random(in: 0...0x7F, using: &random)))
            case 2:
                // Surrogate code points are not scalars; those draws add nothing.
                if let scalar = Unicode.Scalar(UInt32.random(in: 0x80...0x10FFFF, using: &random)) { text.unicodeScalars.append(scalar) }
            default: text += random.hex(Int.random(in: 1...12, using: &random))
            }
        }
        return text
    }

    mutating func maybeText() -> String? { random.chance(0.3) ? nil : text() }

    mutating func strings() -> [String: String] {
        var members: [String: String] = [:]
        for _ in 0..<Int.random(in: 0...8, using: &random) { members[text()] = text() }
        return members
    }

    mutating func number() -> Double {
        switch Int.random(in: 0..<3, using: &random) {
        case 0: return random.pick(awkwardDoubles)
        case 1: return Double.random(in: 0...1, using: &random)
        default:
            while true {
                let number = Double(bitPattern: random.next())
                if number.isFinite { return number }
            }
        }
    }

    mutating func maybeNumber() -> Double? { random.chance(0.5) ? nil : number() }

    mutating func date() -> Date {
        Date(timeIntervalSince1970: random.chance(0.05)
            ? random.pick([-1e15, 1e15, -62_135_596_800.0005, 253_402_300_799.9995])
            : Double.random(in: -70_000_000_000...260_000_000_000, using: &random))
    }

    mutating func maybeDate() -> Date? { random.chance(0.3) ? nil : date() }

    mutating func int() -> Int {
        random.chance(0.1) ? random.pick([0, -1, .max, .min]) : Int(truncatingIfNeeded: random.next()) >> Int.random(in: 0..<64, using: &random)
    }

    mutating func step() -> StepProvenance {
        StepProvenance(source: random.pick(ProvenanceSource.allCases), fallbackUsed: random.chance(0.5), staleAgeSeconds: maybeNumber())
    }

    mutating func incident() -> IncidentRecord {
        let alert = Alert(
            fingerprint: text(), status: random.pick(AlertStatus.allCases), source: random.pick(AlertSource.allCases),
            labels: strings(), annotations: strings(), startsAt: maybeDate(), endsAt: maybeDate(), generatorURL: maybeText(),
            extra: strings())
        let enrichment = random.chance(0.2) ? nil : ServiceInfo(
            name: text(), ownerTeam: text(), tier: random.chance(0.3) ? nil : int(), runbookURL: maybeText(), onCall: maybeText(),
            chatChannel: maybeText(), tags: (0..<Int.random(in: 0...4, using: &random)).map { _ in text() })
        let classification = Classification(
            severity: random.pick(Severity.allCases), category: random.pick(Category.allCases), confidence: number(),
            classifier: random.pick(ClassifierKind.allCases), rule: maybeText())
        let dedup: DedupInfo = random.chance(0.3) ? .unavailable : .seen(occurrences: int(), firstSeen: date(), lastSeen: date())
        return IncidentRecord(
            incidentID: random.chance(0.5) ? nil : text(), alert: alert, enrichment: enrichment, classification: classification,
            provenance: IncidentProvenance(enrichment: step(), classification: step(), dedup: step()), dedup: dedup,
            workerID: text(), receivedAt: date(), processedAt: date())
    }

    mutating func fallbackEvent() -> FallbackEventRecord {
        var uuid: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &uuid) { raw in
            for index in raw.indices { raw[index] = UInt8.random(in: 0...255, using: &random) }
        }
        return FallbackEventRecord(
            eventID: UUID(uuid: uuid), incidentID: text(), breaker: text(), strategy: text(),
            reason: random.pick(FallbackEventReason.allCases), staleAgeSeconds: maybeNumber(), workerID: text(), timestamp: date())
    }
}
