import BreakwaterApp
import Foundation
import Testing
import Triage

@Suite("tail: table and rows")
struct ToolsTableTests {
    let table = TextTable(columns: [.init("NAME", width: 6), .init("N", width: 4, alignment: .right), .init("NOTE", width: 5)])

    @Test func valuesArePaddedToTheirColumns() {
        #expect(table.header == "NAME       N  NOTE")
        #expect(table.row(["ab", "7", "x"]) == "ab" + String(repeating: " ", count: 9) + "7  x")
        #expect(table.row(["abcdef", "1234", "hello"]) == "abcdef  1234  hello")
    }

    @Test func everyRowStartsEachColumnAtTheSameOffset() {
        let rows = [table.header, table.row(["a", "1", "z"]), table.row(["a much longer name", "123456", "overflowing note"])]
        for row in rows {
            let characters = Array(row)
            #expect(characters.count >= 15)
            #expect(characters[6] == " " && characters[7] == " ")  // separator after NAME
            #expect(characters[12] == " " && characters[13] == " ")  // separator after N
        }
        #expect(rows[2] == "a muc…  123…  over…")
    }

    @Test func longValuesAreCutWithAnEllipsis() {
        #expect(TextTable.fit("abcdefghij", width: 5) == "abcd…")
        #expect(TextTable.fit("abcde", width: 5) == "abcde")
        #expect(TextTable.fit("abcdef", width: 1) == "…")
        #expect(TextTable.fit("12345678", width: 4, alignment: .right) == "123…")
        #expect(TextTable.fit("äöü€😀xyz", width: 5) == "äöü€…")
    }

    @Test func controlCharactersCannotBreakTheLayout() {
        #expect(TextTable.fit("a\nb\tc\u{7}", width: 6) == "a b c ")
    }

    @Test func missingValuesAreBlankAndExtraOnesDropped() {
        #expect(table.row(["a"]) == "a")
        #expect(table.row(["a", "1", "n", "ignored"]) == "a" + String(repeating: " ", count: 10) + "1  n")
    }

    static let processed = Date(timeIntervalSince1970: 1_795_947_330.187)  // 2026-11-29T10:15:30.187Z

    static let incident = IncidentRecord(
        alert: Alert(fingerprint: "f00d", status: .firing, source: .alertmanager,
                     labels: ["alertname": "HighErrorRate", "service": "checkout"], startsAt: processed),
        enrichment: nil,
        classification: Classification(severity: .critical, category: .errors, confidence: 0.9, classifier: .ml),
        provenance: IncidentProvenance(
            enrichment: StepProvenance(source: .primary, fallbackUsed: false),
            classification: StepProvenance(source: .primary, fallbackUsed: false),
            dedup: StepProvenance(source: .primary, fallbackUsed: false)),
        dedup: .unavailable, workerID: "w1", receivedAt: processed, processedAt: processed)

    @Test func anIncidentRowShowsTheVerdictAndTheAlert() {
        let row = TailRow(.incident(Self.incident))
        #expect(row.cells == ["10:15:30.187", "incident", "critical", "errors", "ml", "checkout", "HighErrorRate", Self.incident.incidentID])
        let line = row.tableLine
        #expect(line.hasPrefix("10:15:30.187  incident    critical  errors        ml          checkout        HighErrorRate"))
        #expect(line.hasSuffix(Self.incident.incidentID))
        #expect(Array(line).count == Array(TailRow.table.header).count - "INCIDENT".count + Self.incident.incidentID.count)
    }

    @Test func aFallbackRowShowsBreakerStrategyAndReason() {
        let event = FallbackEventRecord(incidentID: "inc-1", breaker: "classifier.ml", strategy: "rules", reason: .circuitOpen,
                                        workerID: "w1", timestamp: Self.processed)
        let row = TailRow(.fallbackEvent(event))
        #expect(row.kind == "fallback")
        #expect(row.what == "classifier.ml → rules (\(FallbackEventReason.circuitOpen.rawValue))")
        #expect(row.incidentID == "inc-1")
        #expect(row.cells[2...5] == ["-", "-", "-", "-"])
    }

    @Test func aDeadLetterRowShowsItsReasonAndAnUnreadableOneItsProblem() {
        let letter = DeadLetter(reason: "invalid_json", detail: "unexpected end at byte 3", sourceTopic: "alerts", sourcePartition: 1,
                                sourceOffset: 9, time: Self.processed, workerID: "w1")
        #expect(TailRow(.deadLetter(reason: "invalid_json", letter)).what == "invalid_json: unexpected end at byte 3")
        let bare = TailRow(.deadLetter(reason: "unknown", nil), recordTime: Self.processed)
        #expect(bare.what == "unknown")
        #expect(bare.cells[0] == "10:15:30.187")
        let unreadable = TailRow(.unreadable(kind: .incident, problem: "missing key schema_version"))
        #expect(unreadable.kind == "unreadable")
        #expect(unreadable.cells[0] == "-")
        #expect(unreadable.what == "incident: missing key schema_version")
    }

    @Test func aJSONLineCarriesTheRowAndTheRecord() throws {
        let value = try Self.incident.jsonBytes()
        let line = TailRow(.incident(Self.incident)).jsonLine(
            topic: "incidents.classified", partition: 2, offset: 17, key: Self.incident.key, value: value, headers: [])
        #expect(!line.contains("\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["kind"] as? String == "incident")
        #expect(object["time"] as? String == "2026-11-29T10:15:30.187Z")
        #expect(object["offset"] as? Int == 17)
        #expect(object["partition"] as? Int == 2)
        #expect(object["incident_id"] as? String == Self.incident.incidentID)
        let record = try #require(object["record"] as? [String: Any])
        #expect(record["worker_id"] as? String == "w1")
    }

    @Test func aDeadLetterJSONLineCarriesItsHeadersAndKey() throws {
        let letter = DeadLetter(reason: "too_large", detail: "big", sourceTopic: "alerts", sourcePartition: 0, sourceOffset: 1,
                                time: Self.processed, workerID: "w1")
        let headers = letter.headers(appendingTo: [RecordHeader("traceparent", "00-abc")])
        let line = TailRow(.deadLetter(reason: "too_large", letter)).jsonLine(
            topic: "alerts.dlq", partition: 0, offset: 5, key: Array("k1".utf8), value: Array("{".utf8), headers: headers)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let fields = try #require(object["dead_letter"] as? [String: String])
        #expect(fields[DeadLetter.Header.reason] == "too_large")
        #expect(fields["traceparent"] == nil)
        #expect(object["key"] as? String == "k1")
        #expect(object["record"] == nil)
    }
}
