import Locking
import Foundation
import ServiceTestSupport
import Testing
@testable import Triage

/// Steps with fixed answers: these tests are about what the processor does with them.
private struct FixedEnrichment: EnrichmentStep {
    var notes: [FallbackNote] = []
    func enrich(_ alert: Alert) async -> StepOutcome<ServiceInfo?> {
        let info = alert.serviceName.map { ServiceInfo(name: $0, ownerTeam: "team-\($0)", tier: 1) }
        let source: ProvenanceSource = notes.isEmpty ? .primary : .stale
        return StepOutcome(value: info, provenance: StepProvenance(source: source, fallbackUsed: !notes.isEmpty, staleAgeSeconds: notes.first?.staleAgeSeconds), fallbacks: notes)
    }
}

private struct FixedClassification: ClassificationStep {
    var notes: [FallbackNote] = []
    func classify(_ alert: Alert) async -> StepOutcome<ClassificationDecision> {
        let verdict = Classification(severity: .high, category: .latency, confidence: 0.75, classifier: notes.isEmpty ? .ml : .rules)
        return StepOutcome(value: ClassificationDecision(published: verdict, model: notes.isEmpty ? verdict : nil), provenance: StepProvenance(source: notes.isEmpty ? .primary : .default, fallbackUsed: !notes.isEmpty), fallbacks: notes)
    }
}

private struct CountingDedup: DedupStep {
    var available = true
    func record(_ alert: Alert, at time: Date) async -> StepOutcome<DedupInfo> {
        guard available else {
            return StepOutcome(
                value: .unavailable, provenance: StepProvenance(source: .unavailable, fallbackUsed: true),
                fallbacks: [FallbackNote(breaker: "dedup", strategy: "read_only", reason: .readOnly)]
            )
        }
        return StepOutcome(value: .seen(occurrences: 1, firstSeen: time, lastSeen: time), provenance: StepProvenance(source: .primary, fallbackUsed: false))
    }
}

/// Answers the first alert it sees without waiting, every later one only when awaited.
private final class FirstAnswersAtOnce: EnrichmentStep, Sendable {
    let notes: [FallbackNote]
    let calls = LockedValue((immediate: 0, awaited: 0))
    init(notes: [FallbackNote]) { self.notes = notes }

    func enrichWithoutWaiting(_ alert: Alert) -> StepOutcome<ServiceInfo?>? {
        let first = calls.withLock { calls in
            guard calls.immediate == 0 else { return false }
            calls.immediate += 1
            return true
        }
        return first ? outcome(for: alert) : nil
    }
    func enrich(_ alert: Alert) async -> StepOutcome<ServiceInfo?> {
        calls.withLock { $0.awaited += 1 }
        return outcome(for: alert)
    }
    private func outcome(for alert: Alert) -> StepOutcome<ServiceInfo?> {
        StepOutcome(value: .unowned(alert.serviceName ?? "none"), provenance: StepProvenance(source: .default, fallbackUsed: true), fallbacks: notes)
    }
}

/// Answers without waiting, or only when awaited, and counts both.
private final class ImmediateOrNot: EnrichmentStep, ClassificationStep, DedupStep, Sendable {
    let immediate: Bool
    let calls = LockedValue((immediate: 0, awaited: 0))
    init(immediate: Bool) { self.immediate = immediate }

    func enrichWithoutWaiting(_ alert: Alert) -> StepOutcome<ServiceInfo?>? {
        guard immediate else { return nil }
        calls.withLock { $0.immediate += 1 }
        return StepOutcome(value: ServiceInfo(name: "svc", ownerTeam: "team"), provenance: StepProvenance(source: .cache, fallbackUsed: false))
    }
    func enrich(_ alert: Alert) async -> StepOutcome<ServiceInfo?> {
        calls.withLock { $0.awaited += 1 }
        return StepOutcome(value: ServiceInfo(name: "svc", ownerTeam: "team"), provenance: StepProvenance(source: .cache, fallbackUsed: false))
    }
    func classifyWithoutWaiting(_ alert: Alert) -> StepOutcome<ClassificationDecision>? {
        guard immediate else { return nil }
        calls.withLock { $0.immediate += 1 }
        return Self.verdict
    }
    func classify(_ alert: Alert) async -> StepOutcome<ClassificationDecision> {
        calls.withLock { $0.awaited += 1 }
        return Self.verdict
    }
    func recordWithoutWaiting(_ alert: Alert, at time: Date) -> StepOutcome<DedupInfo>? {
        guard immediate else { return nil }
        calls.withLock { $0.immediate += 1 }
        return StepOutcome(value: .unavailable, provenance: StepProvenance(source: .unavailable, fallbackUsed: false))
    }
    func record(_ alert: Alert, at time: Date) async -> StepOutcome<DedupInfo> {
        calls.withLock { $0.awaited += 1 }
        return StepOutcome(value: .unavailable, provenance: StepProvenance(source: .unavailable, fallbackUsed: false))
    }

    static let verdict = StepOutcome(
        value: ClassificationDecision(published: Classification(severity: .low, category: .other, confidence: 1, classifier: .rules), model: nil),
        provenance: StepProvenance(source: .primary, fallbackUsed: false)
    )
}

@Suite struct AlertProcessorTests {
    static let fixedNow = Date(timeIntervalSince1970: 1_790_000_000)
    static let origin = RecordOrigin(topic: "alerts", partition: 3, offset: 42)

    func processor(enrichmentNotes: [FallbackNote] = [], classificationNotes: [FallbackNote] = [], dedupAvailable: Bool = true) -> AlertProcessor {
        AlertProcessor(
            enrichment: FixedEnrichment(notes: enrichmentNotes),
            classification: FixedClassification(notes: classificationNotes),
            dedup: CountingDedup(available: dedupAvailable),
            workerID: "worker-1",
            alertConcurrency: 2,
            now: { Self.fixedNow }
        )
    }

    @Test func prepareFinishesWhatNeedsNoWaitingAndLeavesTheRestWithoutAskingTwice() async throws {
        let bytes = try Fixture.bytes("alertmanager-webhook-full.json")
        let count = try AlertDecoder().decode(InputRecord(value: bytes), receivedAt: Self.fixedNow).count
        func processor(_ immediate: ImmediateOrNot, waiting: ImmediateOrNot) -> AlertProcessor {
            AlertProcessor(enrichment: immediate, classification: waiting, dedup: immediate, workerID: "w", now: { Self.fixedNow })
        }

        let quick = ImmediateOrNot(immediate: true)
        let done = processor(quick, waiting: quick).prepare(InputRecord(value: bytes), key: nil, origin: Self.origin, receivedAt: Self.fixedNow)
        guard case .done(let outcome) = done else {
            Issue.record("every step answered, yet the record waits")
            return
        }
        #expect(outcome.incidents.count == count)
        #expect(quick.calls.withLock { $0 } == (immediate: 3 * count, awaited: 0))

        let answering = ImmediateOrNot(immediate: true)
        let slow = ImmediateOrNot(immediate: false)
        let mixed = processor(answering, waiting: slow)
        let prepared = mixed.prepare(InputRecord(value: bytes), key: nil, origin: Self.origin, receivedAt: Self.fixedNow)
        guard case .waiting(let pending) = prepared else {
            Issue.record("classification must wait, yet the record is done")
            return
        }
        let finished = await mixed.finish(pending)
        let direct = await processor(ImmediateOrNot(immediate: true), waiting: ImmediateOrNot(immediate: false))
            .process(InputRecord(value: bytes), key: nil, origin: Self.origin, receivedAt: Self.fixedNow)
        #expect(finished.outputs.map(\.key) == direct.outputs.map(\.key))
        #expect(try finished.incidents.map { try $0.jsonBytes() } == direct.incidents.map { try $0.jsonBytes() })
        // Enrichment and dedup answered in prepare and were not asked again; only
        // classification was awaited, once per alert.
        #expect(answering.calls.withLock { $0 } == (immediate: 2 * count, awaited: 0))
        #expect(slow.calls.withLock { $0 } == (immediate: 0, awaited: count))
    }

    /// The first alert answers at once and the next ones must wait: the record still
    /// comes out whole and in alert order, each step asked once per alert.
    @Test func alertsAfterTheFirstThatWaitsFinishInOrderBehindTheOnesDone() async throws {
        let bytes = try Fixture.bytes("alertmanager-webhook-full.json")
        let alerts = try AlertDecoder().decode(InputRecord(value: bytes), receivedAt: Self.fixedNow)
        try #require(alerts.count >= 2)
        let note = FallbackNote(breaker: "catalog", strategy: "static_default", reason: .circuitOpen)
        let enrichment = FirstAnswersAtOnce(notes: [note])
        let processor = AlertProcessor(
            enrichment: enrichment, classification: FixedClassification(), dedup: CountingDedup(), workerID: "worker-1",
            now: { Self.fixedNow }
        )
        guard case .waiting(let pending) = processor.prepare(InputRecord(value: bytes), key: nil, origin: Self.origin, receivedAt: Self.fixedNow) else {
            Issue.record("the alerts after the first must wait")
            return
        }
        let outcome = await processor.finish(pending)

        #expect(outcome.incidents.map(\.alert.fingerprint) == alerts.map(\.fingerprint))
        #expect(outcome.fallbackEvents.map(\.incidentID) == outcome.incidents.map(\.incidentID))
        #expect(outcome.outputs.map(\.kind) == Array(repeating: .incident, count: alerts.count) + Array(repeating: .fallbackEvent, count: alerts.count))
        #expect(outcome.outputs.map(\.key) == outcome.incidents.map(\.key) + outcome.fallbackEvents.map(\.key))
        #expect(enrichment.calls.withLock { $0 } == (immediate: 1, awaited: alerts.count - 1))
    }

    @Test func webhookBecomesOneIncidentPerAlertInOrder() async throws {
        let bytes = try Fixture.bytes("alertmanager-webhook-full.json")
        let expected = try AlertDecoder().decode(InputRecord(value: bytes), receivedAt: Self.fixedNow)
        let outcome = await processor().process(InputRecord(value: bytes), key: nil, origin: Self.origin, receivedAt: Self.fixedNow)

        #expect(outcome.deadLetter == nil)
        #expect(outcome.incidents.map(\.alert.fingerprint) == expected.map(\.fingerprint))
        #expect(outcome.fallbackEvents.isEmpty)
        #expect(outcome.outputs.map(\.kind) == Array(repeating: .incident, count: expected.count))
        for (output, incident) in zip(outcome.outputs, outcome.incidents) {
            #expect(output.key == Array(incident.alert.fingerprint.utf8))
            // The wire keeps milliseconds, so compare what the record says, not the Dates.
            #expect(try IncidentRecord.decode(output.value).jsonBytes() == incident.jsonBytes())
            #expect(try IncidentRecord.decode(output.value).incidentID == incident.incidentID)
            #expect(incident.workerID == "worker-1")
            #expect(incident.processedAt == Self.fixedNow)
        }
    }

    @Test func everyFallbackNoteBecomesAnEventOfItsIncident() async throws {
        let stale = FallbackNote(breaker: "catalog", strategy: "stale_cache", reason: .circuitOpen, staleAgeSeconds: 90)
        let rules = FallbackNote(breaker: "ml", strategy: "rules", reason: .featureOff)
        let bytes = try Fixture.bytes("alertmanager-webhook-full.json")
        let outcome = await processor(enrichmentNotes: [stale], classificationNotes: [rules], dedupAvailable: false)
            .process(InputRecord(value: bytes), key: nil, origin: Self.origin, receivedAt: Self.fixedNow)

        #expect(outcome.fallbackEvents.count == outcome.incidents.count * 3)
        for incident in outcome.incidents {
            let events = outcome.fallbackEvents.filter { $0.incidentID == incident.incidentID }
            #expect(events.map(\.breaker) == ["catalog", "ml", "dedup"])
            #expect(events.map(\.reason) == [.circuitOpen, .featureOff, .readOnly])
            #expect(events.first?.staleAgeSeconds == 90)
            #expect(incident.dedup == .unavailable)
            #expect(incident.provenance.enrichment == StepProvenance(source: .stale, fallbackUsed: true, staleAgeSeconds: 90))
        }
        let kinds = outcome.outputs.map(\.kind)
        #expect(kinds == Array(repeating: .incident, count: outcome.incidents.count) + Array(repeating: .fallbackEvent, count: outcome.fallbackEvents.count))
    }

    @Test func traceparentIsCarriedToEveryOutput() async throws {
        let trace = RecordHeader("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        let bytes = try Fixture.bytes("alertmanager-alert-full.json")
        let record = InputRecord(value: bytes, headers: [RecordHeader("other", "x"), trace])
        let outcome = await processor(classificationNotes: [FallbackNote(breaker: "ml", strategy: "rules", reason: .timeout)])
            .process(record, key: nil, origin: Self.origin, receivedAt: Self.fixedNow)
        #expect(outcome.outputs.count == 2)
        for output in outcome.outputs { #expect(output.headers == [trace]) }
    }

    @Test func undecodableRecordIsDeadLetteredWithItsOriginalBytesAndHeaders() async throws {
        let original = InputRecord(value: Array("{\"alerts\": [".utf8), headers: [RecordHeader("traceparent", "t"), RecordHeader("x", "y")])
        let outcome = await processor().process(original, key: Array("k1".utf8), origin: Self.origin, receivedAt: Self.fixedNow)

        let letter = try #require(outcome.deadLetter)
        #expect(letter.reason == "invalid_json")
        #expect(outcome.incidents.isEmpty && outcome.fallbackEvents.isEmpty)
        let output = try #require(outcome.outputs.first)
        #expect(outcome.outputs.count == 1)
        #expect(output.kind == .deadLetter)
        #expect(output.key == Array("k1".utf8))
        #expect(output.value == original.value)
        #expect(Array(output.headers.prefix(2)) == original.headers)
        let parsed = try #require(DeadLetter(headers: output.headers))
        #expect(parsed.sourceTopic == "alerts" && parsed.sourcePartition == 3 && parsed.sourceOffset == 42)
        #expect(parsed.workerID == "worker-1")
    }

    @Test func unencodableConfidenceIsDeadLetteredNotDropped() async throws {
        struct NaNClassification: ClassificationStep {
            func classify(_ alert: Alert) async -> StepOutcome<ClassificationDecision> {
                StepOutcome(value: ClassificationDecision(published: Classification(severity: .low, category: .other, confidence: .nan, classifier: .rules)), provenance: StepProvenance(source: .primary, fallbackUsed: false))
            }
        }
        var processor = processor()
        processor.classification = NaNClassification()
        let bytes = try Fixture.bytes("alertmanager-alert-full.json")
        let outcome = await processor.process(InputRecord(value: bytes), key: nil, origin: Self.origin, receivedAt: Self.fixedNow)
        #expect(outcome.deadLetter?.reason == DeadLetter.processingFailedReason)
        #expect(outcome.outputs.map(\.kind) == [.deadLetter])
        #expect(outcome.outputs.first?.value == bytes)
    }

    @Test func outputsValidateAgainstTheirSchemas() async throws {
        let incidentSchema = try schemaValidator("incident.schema.json")
        let eventSchema = try schemaValidator("fallback-event.schema.json")
        var samples = SampleAlerts(seed: 7, now: Self.fixedNow)
        let processor = processor(enrichmentNotes: [FallbackNote(breaker: "catalog", strategy: "static", reason: .error)])
        for sample in samples.records(count: 40) {
            let outcome = await processor.process(sample.inputRecord, key: sample.key, origin: Self.origin, receivedAt: Self.fixedNow)
            #expect(outcome.deadLetter == nil, "\(sample.name): \(String(describing: outcome.deadLetter))")
            for output in outcome.outputs {
                let schema = output.kind == .incident ? incidentSchema : eventSchema
                #expect(try schema.validate(bytes: output.value).isEmpty, "\(sample.name)")
            }
        }
    }
}
