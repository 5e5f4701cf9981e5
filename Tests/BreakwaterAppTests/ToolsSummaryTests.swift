import BreakwaterApp
import Foundation
import Testing
import Triage

@Suite("tail: output records and the summary")
struct ToolsSummaryTests {
    static let now = Date(timeIntervalSince1970: 1_795_947_330)

    static func incident(_ fingerprint: String, _ severity: Severity, _ category: Triage.Category, _ classifier: ClassifierKind,
                         startsAt: Date = now) -> IncidentRecord {
        IncidentRecord(
            alert: Alert(fingerprint: fingerprint, status: .firing, source: .pagerduty, labels: ["alertname": "A"], startsAt: startsAt),
            enrichment: nil,
            classification: Classification(severity: severity, category: category, confidence: 0.5, classifier: classifier),
            provenance: IncidentProvenance(
                enrichment: StepProvenance(source: .primary, fallbackUsed: false),
                classification: StepProvenance(source: .primary, fallbackUsed: false),
                dedup: StepProvenance(source: .primary, fallbackUsed: false)),
            dedup: .unavailable, workerID: "w", receivedAt: now, processedAt: now)
    }

    static func fallback(_ breaker: String, _ strategy: String, _ reason: FallbackEventReason) -> FallbackEventRecord {
        FallbackEventRecord(incidentID: "inc-x", breaker: breaker, strategy: strategy, reason: reason, workerID: "w", timestamp: now)
    }

    static func deadLetterHeaders(_ reason: String) -> [RecordHeader] {
        DeadLetter(reason: reason, detail: "d", sourceTopic: "alerts", sourcePartition: 0, sourceOffset: 1, time: now, workerID: "w")
            .headers(appendingTo: [])
    }

    @Test func recordsDecodeByTheirTopicsRole() throws {
        let incident = Self.incident("f1", .high, .latency, .rules)
        #expect(PublishedRecord(kind: .incident, value: try incident.jsonBytes(), headers: []) == .incident(incident))
        let event = Self.fallback("classifier.ml", "rules", .timeout)
        #expect(PublishedRecord(kind: .fallbackEvent, value: try event.jsonBytes(), headers: []) == .fallbackEvent(event))
        let headers = Self.deadLetterHeaders("invalid_json")
        #expect(PublishedRecord(kind: .deadLetter, value: Array("{".utf8), headers: headers)
                == .deadLetter(reason: "invalid_json", DeadLetter(headers: headers)))
    }

    @Test func recordsInTheWrongFormatAreUnreadableNotFatal() throws {
        #expect(PublishedRecord(kind: .incident, value: nil, headers: []) == .unreadable(kind: .incident, problem: "tombstone (no value)"))
        guard case .unreadable(.incident, let missing) = PublishedRecord(kind: .incident, value: Array("{}".utf8), headers: []) else {
            Issue.record("an empty object must be unreadable")
            return
        }
        #expect(missing == "missing key schema_version")
        let event = try Self.fallback("b", "s", .timeout).jsonBytes()
        guard case .unreadable(.incident, _) = PublishedRecord(kind: .incident, value: event, headers: []) else {
            Issue.record("a fallback event on the incidents topic must be unreadable")
            return
        }
        guard case .unreadable(.fallbackEvent, _) = PublishedRecord(kind: .fallbackEvent, value: Array("not json".utf8), headers: []) else {
            Issue.record("garbage must be unreadable")
            return
        }
    }

    @Test func aDeadLetterWithoutHeadersStillCountsWithAnUnknownReason() {
        #expect(PublishedRecord(kind: .deadLetter, value: nil, headers: []) == .deadLetter(reason: "unknown", nil))
        let partial = [RecordHeader(DeadLetter.Header.reason, "too_large")]
        #expect(PublishedRecord(kind: .deadLetter, value: nil, headers: partial) == .deadLetter(reason: "too_large", nil))
    }

    @Test func topicNamesMapToOutputKinds() {
        var settings = TopicSettings()
        settings.classified = "c"
        let topics = settings.pipelineTopics
        #expect(topics.kind(of: "c") == .incident)
        #expect(topics.kind(of: topics.fallbackEvents) == .fallbackEvent)
        #expect(topics.kind(of: topics.deadLetter) == .deadLetter)
        #expect(topics.kind(of: topics.alerts) == nil)
        #expect(topics.kind(of: topics.repair) == .repair)
        #expect(OutputKind.allCases.map(topics.topic(for:)) == ["c", settings.fallbackEvents, settings.deadLetter, settings.repair])
        #expect(topics.all == [settings.alerts, "c", settings.fallbackEvents, settings.deadLetter, settings.repair])
    }

    static func sampleSummary() -> OutputSummary {
        var summary = OutputSummary()
        let first = Self.incident("f1", .critical, .errors, .ml)
        for record: PublishedRecord in [
            .incident(first), .incident(first),  // a re-delivery: same incident id
            .incident(Self.incident("f2", .critical, .errors, .rules)),
            .incident(Self.incident("f3", .low, .capacity, .rules)),
            .incident(Self.incident("f1", .critical, .errors, .ml, startsAt: now.addingTimeInterval(60))),  // a new firing
            .fallbackEvent(Self.fallback("classifier.ml", "rules", .circuitOpen)),
            .fallbackEvent(Self.fallback("classifier.ml", "rules", .circuitOpen)),
            .fallbackEvent(Self.fallback("classifier.ml", "rules", .timeout)),
            .fallbackEvent(Self.fallback("catalog.postgres", "stale", .error)),
            .deadLetter(reason: "invalid_json", nil), .deadLetter(reason: "invalid_json", nil), .deadLetter(reason: "too_large", nil),
            .unreadable(kind: .incident, problem: "x"),
        ] {
            summary.add(record)
        }
        return summary
    }

    @Test func healedRevisionsAreCountedApartSoEachAlertCountsOnce() throws {
        var summary = OutputSummary()
        var provisional = Self.incident("h1", .critical, .errors, .rules)
        provisional.healableSteps = [.classification]
        var healed = Self.incident("h1", .high, .errors, .ml)
        healed.revision = 2
        healed.supersedes = 1
        summary.add(.incident(provisional))
        summary.add(.incident(healed))
        summary.add(.repair(RepairRecord(
            incident: provisional, steps: [.init(step: .classification, breaker: "ml", strategy: "rules", reason: .circuitOpen)],
            workerID: "w", recordedAt: Self.now)))
        #expect(summary.incidents == 1 && summary.provisionalIncidents == 1 && summary.healedIncidents == 1 && summary.repairs == 1)
        #expect(summary.incidentsByClassifier == ["rules": ["critical": 1]] && summary.healedByClassifier == ["ml": 1])
        #expect(summary.incidentsByRevision == ["1": 1, "2": 1])
        #expect(summary.text.contains("healed revisions: 1"))
    }

    @Test func theSummaryCountsEveryOutputByItsDimensions() {
        let summary = Self.sampleSummary()
        #expect(summary.incidents == 5)
        #expect(summary.distinctIncidents == 4)
        #expect(summary.incidentsByClassifier == ["ml": ["critical": 3], "rules": ["critical": 1, "low": 1]])
        #expect(summary.incidentsBySeverity == ["critical": 4, "low": 1])
        #expect(summary.incidentsByCategory == ["errors": 4, "capacity": 1])
        #expect(summary.fallbackEvents == 4)
        #expect(summary.fallbackEventsByBreaker == [
            "classifier.ml": ["rules": [FallbackEventReason.circuitOpen.rawValue: 2, FallbackEventReason.timeout.rawValue: 1]],
            "catalog.postgres": ["stale": [FallbackEventReason.error.rawValue: 1]],
        ])
        #expect(summary.deadLetters == 3)
        #expect(summary.deadLettersByReason == ["invalid_json": 2, "too_large": 1])
        #expect(summary.unreadable == ["incident": 1])
    }

    @Test func theSummaryTextIsAlignedAndOrdered() {
        let text = Self.sampleSummary().text
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.first == "incidents: 5 (4 distinct)")
        #expect(lines.contains("  ml: 3"))
        #expect(lines.contains("  rules: 2"))
        #expect(lines.contains("    critical  1"))
        #expect(lines.contains("    low       1"))
        #expect(lines.contains("fallback events: 4"))
        #expect(lines.contains("  classifier.ml: 3"))
        #expect(lines.contains("    rules: 3"))
        #expect(lines.contains("dead letters: 3"))
        #expect(lines.contains("  invalid_json  2"))
        #expect(lines.contains("  too_large     1"))
        #expect(lines.contains("unreadable records: 1"))
        // Severities in severity order, not alphabetically.
        let rules = lines.firstIndex(of: "  rules: 2") ?? 0
        #expect(Array(lines[(rules + 1)...].prefix(2)) == ["    critical  1", "    low       1"])
    }

    @Test func anEmptySummarySaysZero() {
        #expect(OutputSummary().text == "incidents: 0 (0 distinct)\nfallback events: 0\ndead letters: 0")
    }

    @Test func theSummaryJSONHasTheDocumentedKeys() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("summary-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Self.sampleSummary().write(to: path)
        let data = try #require(FileManager.default.contents(atPath: path))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(Set(object.keys) == [
            "incidents", "distinct_incidents", "incidents_by_classifier", "incidents_by_severity", "incidents_by_category",
            "fallback_events", "fallback_events_by_breaker", "dead_letters", "dead_letters_by_reason", "decodable_dead_letters",
            "dead_lettered_alerts", "unreadable", "provisional_incidents", "healed_incidents", "healed_by_classifier",
            "healed_by_enrichment", "incidents_by_revision", "repairs",
        ])
        #expect(object["distinct_incidents"] as? Int == 4)
        let decoded = try JSONDecoder().decode(OutputSummary.self, from: data)
        #expect(decoded.deadLettersByReason == ["invalid_json": 2, "too_large": 1])
    }

    @Test func writingToAnUnwritablePathNamesIt() {
        #expect(throws: ToolError.self) { try OutputSummary().write(to: "/nonexistent-dir/summary.json") }
    }

    @Test func aDeadLetteredValidRecordCountsTheAlertsItCarries() throws {
        var generator = SampleAlerts(seed: 3)
        let webhook = generator.next(format: .alertmanagerWebhook)
        let headers = DeadLetter(reason: DeadLetter.processingFailedReason, detail: "d", sourceTopic: "alerts", sourcePartition: 0,
                                 sourceOffset: 1, time: Self.now, workerID: "w").headers(appendingTo: webhook.headers)
        let record = PublishedRecord(kind: .deadLetter, value: webhook.value, headers: headers)
        #expect(record == .deadLetter(reason: DeadLetter.processingFailedReason, DeadLetter(headers: headers),
                                      carriedAlerts: webhook.expectedAlertCount))
        var summary = OutputSummary()
        summary.add(record)
        summary.add(.deadLetter(reason: "invalid_json", nil))
        #expect(summary.deadLetteredAlerts == webhook.expectedAlertCount)
        #expect(summary.decodableDeadLetters == 1)
        #expect(summary.text.contains("dead letters: 2 (carrying \(webhook.expectedAlertCount) valid alerts)"))
    }

    static func expectation(alerts: Int, malformed: Int) -> ProduceExpectation {
        ProduceExpectation(ProduceSummary(topic: "alerts", records: alerts + malformed, delivered: alerts + malformed, failed: 0,
                                          alerts: alerts, malformed: malformed, byFormat: [:], errors: [:], elapsed: .seconds(1)))
    }

    @Test func theCheckPassesWhenEveryAlertAndMalformedRecordIsAccountedFor() {
        var summary = OutputSummary()
        for fingerprint in ["a", "b", "c", "c"] { summary.add(.incident(Self.incident(fingerprint, .low, .other, .rules))) }
        summary.add(.deadLetter(reason: "invalid_json", nil))
        summary.add(.deadLetter(reason: DeadLetter.processingFailedReason, nil, carriedAlerts: 2))
        let check = DeliveryCheck(expectation: Self.expectation(alerts: 6, malformed: 1), summary: summary)
        #expect(check.nothingLost)
        #expect(check.text == "alerts sent: 6 → incidents: 4 + 2 dead-lettered\nmalformed records sent: 1 → dead letters: 2\nnothing lost")
        // Duplicates from at-least-once redelivery are not a loss.
        #expect(DeliveryCheck(expectation: Self.expectation(alerts: 3, malformed: 0), summary: summary).nothingLost)
    }

    @Test func theCheckNamesWhatIsMissing() {
        var summary = OutputSummary()
        summary.add(.incident(Self.incident("a", .low, .other, .rules)))
        // A dead-lettered valid record does not stand in for a malformed one.
        summary.add(.deadLetter(reason: DeadLetter.processingFailedReason, nil, carriedAlerts: 1))
        let check = DeliveryCheck(expectation: Self.expectation(alerts: 5, malformed: 2), summary: summary)
        #expect(!check.nothingLost)
        #expect(check.missingAlerts == 3)
        #expect(check.missingDeadLetters == 2)
        #expect(check.text.hasSuffix("MISSING: 3 alerts, 2 dead letters"))
    }

    @Test func anExpectationFileIsReadBackOrRejectedByName() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("expect-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Self.expectation(alerts: 4, malformed: 1).write(to: path)
        #expect(try ProduceExpectation(path: path) == Self.expectation(alerts: 4, malformed: 1))
        #expect(throws: ToolError("/nonexistent/e.json: cannot read the expectation file")) { try ProduceExpectation(path: "/nonexistent/e.json") }
        try Data("{}".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: ToolError.self) { try ProduceExpectation(path: path) }
    }
}
