import Foundation
import Locking
import Logging
import Resilience
import Testing
import TriageTestSupport
@testable import Triage

/// Revisions, the repair log, and the healer's processor on a manual clock, with a real
/// breaker and scripted dependencies.
@Suite struct HealingTests {
    static let now = Date(timeIntervalSince1970: 1_796_000_000)
    static let modelVerdict = Classification(severity: .critical, category: .availability, confidence: 0.93, classifier: .ml)
    static let rulesVerdict = Classification(severity: .medium, category: .errors, confidence: 1, classifier: .rules, rule: "errors")

    /// An incident the rules classified because the ML breaker was open.
    static func provisional(occurrences: Int = 1, recordedAt: Date = now) -> RepairRecord {
        let incident = IncidentRecord(
            alert: stepAlert(), enrichment: ServiceInfo(name: "checkout", ownerTeam: "payments"), classification: rulesVerdict,
            provenance: IncidentProvenance(
                enrichment: StepProvenance(source: .primary, fallbackUsed: false),
                classification: StepProvenance(source: .secondary, fallbackUsed: true),
                dedup: StepProvenance(source: .primary, fallbackUsed: false)),
            dedup: .seen(occurrences: occurrences, firstSeen: recordedAt, lastSeen: recordedAt), workerID: "live-1",
            receivedAt: recordedAt, processedAt: recordedAt, healableSteps: [.classification])
        return RepairRecord(
            incident: incident, steps: [RepairRecord.Step(step: .classification, breaker: "ml", strategy: "rules", reason: .circuitOpen)],
            workerID: "live-1", recordedAt: recordedAt)
    }

    static func input(_ repair: RepairRecord) throws -> InputRecord { InputRecord(value: try repair.jsonBytes()) }
    static let origin = RecordOrigin(topic: "incidents.repair", partition: 0, offset: 7)

    /// A healer over a scripted model behind `breaker`.
    final class Healer: Sendable {
        let clock = ManualClock()
        let breaker: CircuitBreaker
        let model = Script()
        let live = Locked(0)
        let superseded = Locked(false)
        let gate: HealGate
        let metrics = HealMetrics()
        let processor: HealProcessor

        init(maxAge: Duration = .seconds(3600), rate: Double = 1_000, steps: Set<HealableStep> = Set(HealableStep.allCases)) throws {
            breaker = try makeBreaker(.tripping(after: 1, open: .seconds(30)), clock: clock, name: BreakerName.ml)
            let (model, live, superseded, breaker) = (model, live, superseded, breaker)
            gate = HealGate(settings: HealGate.Settings(ratePerSecond: rate, yieldAbove: 10), liveInFlight: { live.withLock { $0 } }, clock: clock)
            let classify: @Sendable (Alert) async throws(StepUnavailable) -> StepOutcome<ClassificationDecision> = { _ throws(StepUnavailable) in
                let outcome = await breaker.execute { try await model.perform() }
                guard case .success = outcome else { throw StepUnavailable(.classification, outcome) }
                return StepOutcome(
                    value: ClassificationDecision(published: HealingTests.modelVerdict, model: HealingTests.modelVerdict),
                    provenance: StepProvenance(source: .primary, fallbackUsed: false))
            }
            let enrich: @Sendable (Alert) async throws(StepUnavailable) -> StepOutcome<ServiceInfo?> = { _ throws(StepUnavailable) in
                throw StepUnavailable(.enrichment, reason: "not in this test")
            }
            processor = HealProcessor(
                workerID: "healer-1", configuration: HealProcessor.Configuration(steps: steps, maxAge: maxAge, retryAfter: .seconds(1)),
                dependencies: HealProcessor.Dependencies(
                    enrich: enrich, classify: classify, breakers: [.classification: breaker],
                    isSuperseded: { _ in superseded.withLock { $0 } }),
                gate: gate, metrics: metrics, logger: Logger(label: "heal-tests"), clock: clock, now: { HealingTests.now })
        }

        func pending(_ repair: RepairRecord) throws -> HealProcessor.PendingRepair {
            guard case .waiting(let pending) = processor.prepare(try HealingTests.input(repair), key: repair.key, origin: HealingTests.origin, receivedAt: HealingTests.now) else {
                throw ScriptedFailure()
            }
            return pending
        }

        /// Redos `finish` handed back so far (``heal(_:)``).
        let redos = Locked(0)

        /// What an at-least-once worker does with a repair: waits until it can start,
        /// processes it, and does it again from the start while it is handed back.
        func heal(_ repair: RepairRecord) async throws -> ProcessingOutcome {
            let input = try HealingTests.input(repair)
            while true {
                await processor.waitUntilStartable(input)
                let outcome = await processor.process(input, key: repair.key, origin: HealingTests.origin, receivedAt: HealingTests.now)
                guard outcome.isRedo else { return outcome }
                redos.withLock { $0 += 1 }
            }
        }

        func openBreaker() async {
            _ = await breaker.execute { () async throws -> Int in throw ScriptedFailure() }
        }
    }

    // MARK: - Revisions and the repair log

    @Test func aHealedRevisionRoundTripsAndARecordWithoutRevisionKeysIsRevisionOne() throws {
        var healed = Self.provisional().incident
        healed.revision = 2
        healed.supersedes = 1
        healed.healedAt = Self.now.addingTimeInterval(5)
        healed.healableSteps = []
        #expect(try IncidentRecord.decode(healed.jsonBytes()) == healed)
        let provisional = Self.provisional().incident
        let decoded = try IncidentRecord.decode(provisional.jsonBytes())
        #expect(decoded == provisional && decoded.isProvisional && decoded.revision == 1)

        // A record from before revisions: none of the five keys.
        var object = try #require(try JSONSerialization.jsonObject(with: Data(provisional.jsonBytes())) as? [String: Any])
        for key in ["revision", "provisional", "healable_steps", "supersedes", "healed_at"] { object[key] = nil }
        let old = try IncidentRecord.decode(Array(try JSONSerialization.data(withJSONObject: object)))
        #expect(old.revision == 1 && !old.isProvisional && old.supersedes == nil && old.healedAt == nil)
    }

    @Test func aRepairRecordRoundTripsAndRefusesAnIncidentOfAnotherRevision() throws {
        let repair = Self.provisional()
        #expect(try RepairRecord.decode(repair.jsonBytes()) == repair)
        #expect(repair.key == Array(repair.incident.incidentID.utf8))
        var object = try #require(try JSONSerialization.jsonObject(with: Data(repair.jsonBytes())) as? [String: Any])
        object["revision"] = 2
        #expect(throws: DecodingError.self) { try RepairRecord.decode(Array(try JSONSerialization.data(withJSONObject: object))) }
    }

    /// Steps with fixed answers: the rules served the classification (breaker open), the
    /// catalog answered.
    private struct RulesWhileOpen: ClassificationStep {
        var reason: FallbackEventReason = .circuitOpen
        var model: Classification?
        func classify(_ alert: Alert) async -> StepOutcome<ClassificationDecision> {
            StepOutcome(
                value: ClassificationDecision(published: HealingTests.rulesVerdict, model: model),
                provenance: StepProvenance(source: .secondary, fallbackUsed: true),
                fallbacks: [FallbackNote(breaker: "ml", strategy: "rules", reason: reason)])
        }
    }

    private struct StaticEnrichment: EnrichmentStep {
        var fellBack: Bool
        func enrich(_ alert: Alert) async -> StepOutcome<ServiceInfo?> {
            StepOutcome(
                value: ServiceInfo(name: "checkout", ownerTeam: "payments"),
                provenance: StepProvenance(source: fellBack ? .static : .primary, fallbackUsed: fellBack),
                fallbacks: fellBack ? [FallbackNote(breaker: "catalog", strategy: "static_catalog", reason: .circuitOpen)] : [])
        }
    }

    private struct Counted: DedupStep {
        func record(_ alert: Alert, at time: Date) async -> StepOutcome<DedupInfo> {
            StepOutcome(value: .seen(occurrences: 1, firstSeen: time, lastSeen: time), provenance: StepProvenance(source: .primary, fallbackUsed: false))
        }
    }

    private func process(
        enrichment: StaticEnrichment, classification: RulesWhileOpen, healing: Set<HealableStep>
    ) async throws -> ProcessingOutcome {
        var processor = AlertProcessor(enrichment: enrichment, classification: classification, dedup: Counted(), workerID: "live-1", now: { HealingTests.now })
        processor.healing = healing
        let webhook = #"{"alerts":[{"fingerprint":"fp-heal","labels":{"alertname":"HighErrorRate","service":"checkout"},"startsAt":"2026-12-01T00:00:00Z"}]}"#
        return await processor.process(InputRecord(value: Array(webhook.utf8)), key: nil, origin: Self.origin, receivedAt: Self.now)
    }

    @Test func aFallbackServedIncidentIsProvisionalWithOneRepairRecordOfItsSteps() async throws {
        let outcome = try await process(enrichment: StaticEnrichment(fellBack: true), classification: RulesWhileOpen(), healing: Set(HealableStep.allCases))
        #expect(outcome.outputs.map(\.kind) == [.incident, .fallbackEvent, .fallbackEvent, .repair])
        let incident = try IncidentRecord.decode(outcome.outputs[0].value)
        #expect(incident.isProvisional && incident.healableSteps == [.enrichment, .classification] && incident.revision == 1)
        let repair = try RepairRecord.decode(outcome.outputs[3].value)
        #expect(repair.incident == incident)
        #expect(outcome.outputs[3].key == Array(incident.incidentID.utf8))
        #expect(repair.steps == [
            RepairRecord.Step(step: .enrichment, breaker: "catalog", strategy: "static_catalog", reason: .circuitOpen),
            RepairRecord.Step(step: .classification, breaker: "ml", strategy: "rules", reason: .circuitOpen),
        ])

        // Only the steps switched on; none at all without healing.
        let classificationOnly = try await process(enrichment: StaticEnrichment(fellBack: true), classification: RulesWhileOpen(), healing: [.classification])
        #expect(try IncidentRecord.decode(classificationOnly.outputs[0].value).healableSteps == [.classification])
        let off = try await process(enrichment: StaticEnrichment(fellBack: true), classification: RulesWhileOpen(), healing: [])
        #expect(!off.outputs.contains { $0.kind == .repair })
        #expect(try !IncidentRecord.decode(off.outputs[0].value).isProvisional)
    }

    @Test func theModelsOwnAnswerIsFinalEvenWhenThePolicyPublishedTheRules() async throws {
        let unsure = RulesWhileOpen(reason: .lowConfidence, model: Classification(severity: .low, category: .other, confidence: 0.2, classifier: .ml))
        let outcome = try await process(enrichment: StaticEnrichment(fellBack: false), classification: unsure, healing: Set(HealableStep.allCases))
        #expect(!outcome.outputs.contains { $0.kind == .repair })
        #expect(try !IncidentRecord.decode(outcome.outputs[0].value).isProvisional)
    }

    // MARK: - The healer's processor

    @Test func aHealWaitsWhileTheBreakerIsOpenWithoutCallingThenPublishesRevisionTwo() async throws {
        let healer = try Healer()
        await healer.openBreaker()
        let calls = healer.model.calls
        let repair = Self.provisional()
        #expect(!healer.processor.isStartable(try Self.input(repair)), "not admitted while the breaker is open")
        let task = Task { try await healer.heal(repair) }
        #expect(await eventually { healer.gate.status.waitingOnBreakers == [BreakerName.ml: 1] })
        #expect(healer.model.calls == calls, "nothing is called while the breaker is open")
        await healer.clock.waitForSleepers(count: 1)  // its recheck
        healer.clock.advance(by: .seconds(30))
        let outcome = try await task.value
        #expect(healer.breaker.state == .closed, "the heal was the probe that closed it")
        #expect(healer.redos.withLock { $0 } == 0)
        let healed = try #require(outcome.incidents.first)
        #expect(healed.revision == 2 && healed.supersedes == 1 && healed.healedAt == Self.now && !healed.isProvisional)
        #expect(healed.incidentID == repair.incident.incidentID && healed.key == repair.incident.key)
        #expect(healed.classification == Self.modelVerdict && healed.provenance.classification == StepProvenance(source: .primary, fallbackUsed: false))
        #expect(healed.provenance.model == Self.modelVerdict && healed.enrichment == repair.incident.enrichment)
        #expect(healed.workerID == "healer-1" && healed.receivedAt == repair.incident.receivedAt)
        #expect(outcome.fallbackEvents.map(\.reason) == [.healed] && outcome.fallbackEvents.map(\.strategy) == ["rules"])
        #expect(outcome.outputs.map(\.kind) == [.incident, .fallbackEvent])
        #expect(healer.metrics.counts.healed == [.classification: 1] && healer.gate.status == HealGate.Status())

        // Processed again (a crash before the commit): the same revision and event ids.
        healer.clock.advance(by: .seconds(1))  // past the rate limit's next slot
        let again = await healer.processor.process(try Self.input(repair), key: repair.key, origin: Self.origin, receivedAt: Self.now)
        #expect(again.incidents.map(\.revision) == [2])
        #expect(again.fallbackEvents.map(\.eventID) == outcome.fallbackEvents.map(\.eventID))
        #expect(again.outputs.map(\.value) == outcome.outputs.map(\.value))
    }

    @Test func aStepThatStillFailsStaysPendingAndIsTriedAgainThroughTheBreaker() async throws {
        let healer = try Healer()
        healer.model.set(.fail)
        let repair = Self.provisional()
        // Admitted with the breaker closed, the failed call opens it (a relapse): the heal
        // is handed back, not held while admitted.
        #expect(await healer.processor.finish(try healer.pending(repair)).isRedo)
        #expect(healer.breaker.state == .open && healer.metrics.counts.stillDegraded == [.classification: 1])
        #expect(!healer.processor.isStartable(try Self.input(repair)))
        let task = Task { try await healer.heal(repair) }
        #expect(await eventually { healer.gate.status.waitingOnBreakers[BreakerName.ml] == 1 })
        #expect(healer.gate.pausedOn([healer.breaker]) == [BreakerName.ml])

        // The heal is the probe, and the model hangs: nothing waits at the gate, yet
        // healing is still paused on the breaker.
        healer.model.set(.hang(healer.clock))
        await healer.clock.waitForSleepers(count: 1)
        healer.clock.advance(by: .seconds(30))
        #expect(await eventually { healer.model.calls == 2 })
        #expect(healer.breaker.state == .halfOpen && healer.gate.status.waitingOnBreakers.isEmpty)
        #expect(healer.gate.pausedOn([healer.breaker]) == [BreakerName.ml])

        // The probe fails (a relapse): the heal is handed back and waits again; then the
        // model is back.
        healer.model.set(.answer)
        await healer.clock.waitForSleepers(count: 1)
        healer.clock.advance(by: .seconds(3600))
        #expect(await eventually { healer.gate.status.waitingOnBreakers[BreakerName.ml] == 1 })
        #expect(healer.metrics.counts.stillDegraded == [.classification: 2] && healer.redos.withLock { $0 } == 1)
        await healer.clock.waitForSleepers(count: 1)
        healer.clock.advance(by: .seconds(30))
        let outcome = try await task.value
        #expect(outcome.incidents.map(\.revision) == [2])
        #expect(healer.breaker.state == .closed && healer.gate.pausedOn([healer.breaker]).isEmpty)
    }

    @Test func tooOldSwitchedOffAndSupersededRepairsAreSkippedAndCounted() async throws {
        let healer = try Healer(maxAge: .seconds(60))
        let old = Self.provisional(recordedAt: Self.now.addingTimeInterval(-61))
        let tooOld = healer.processor.prepare(try Self.input(old), key: nil, origin: Self.origin, receivedAt: Self.now)
        guard case .done(let skipped) = tooOld else { Issue.record("a too old repair waited"); return }
        #expect(skipped.outputs.isEmpty)
        // What is skipped or dead-lettered at once is not held before admission.
        await healer.openBreaker()
        #expect(healer.processor.isStartable(try Self.input(old)) && healer.processor.isStartable(InputRecord(value: Array("{}".utf8))))
        #expect(!healer.processor.isStartable(try Self.input(Self.provisional())))
        healer.clock.advance(by: .seconds(30))

        let enrichmentOnly = try Healer(steps: [.enrichment])
        guard case .done(let off) = enrichmentOnly.processor.prepare(try Self.input(Self.provisional()), key: nil, origin: Self.origin, receivedAt: Self.now) else {
            Issue.record("a repair of a step switched off waited")
            return
        }
        #expect(off.outputs.isEmpty)

        healer.superseded.withLock { $0 = true }
        let superseded = await healer.processor.finish(try healer.pending(Self.provisional()))
        #expect(superseded.outputs.isEmpty && healer.model.calls == 0)
        #expect(healer.metrics.counts.skipped == [.tooOld: 1, .superseded: 1])
        #expect(enrichmentOnly.metrics.counts.skipped == [.stepOff: 1])
    }

    @Test func notARepairRecordIsDeadLetteredWithItsReason() throws {
        let healer = try Healer()
        guard case .done(let outcome) = healer.processor.prepare(InputRecord(value: Array("{}".utf8)), key: nil, origin: Self.origin, receivedAt: Self.now) else {
            Issue.record("a malformed repair waited")
            return
        }
        #expect(outcome.deadLetter?.reason == DeadLetter.invalidRepairReason && outcome.outputs.map(\.kind) == [.deadLetter])
    }

    @Test func healsWaitForLiveTrafficToDropAndKeepToTheirRate() async throws {
        let healer = try Healer(rate: 1)
        healer.live.withLock { $0 = 11 }
        #expect(!healer.processor.isStartable(try Self.input(Self.provisional())), "not admitted while live traffic is high")
        let first = Task { try await healer.heal(Self.provisional()) }
        #expect(await eventually { healer.gate.status.yieldingToLive == 1 })
        #expect(healer.model.calls == 0)
        healer.live.withLock { $0 = 10 }
        healer.clock.advance(by: .milliseconds(50))
        #expect(try await first.value.incidents.count == 1)
        // The second heal within the same second waits for its slot.
        let secondPending = try healer.pending(Self.provisional())
        let second = Task { await healer.processor.finish(secondPending) }
        #expect(await eventually { healer.gate.status.rateLimited == 1 })
        #expect(healer.model.calls == 1)
        healer.clock.advance(by: .seconds(1))
        #expect(await second.value.incidents.count == 1)
    }
}
