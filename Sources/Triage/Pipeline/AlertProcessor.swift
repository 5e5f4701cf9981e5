import Foundation
import Logging

/// Where a consumed record came from; carried into dead letters.
public struct RecordOrigin: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64

    public init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }
}

/// Which output a produced record belongs to; the worker maps each to its topic.
public enum OutputKind: String, Sendable, Hashable, CaseIterable {
    case incident
    case fallbackEvent
    case deadLetter
    /// A ``RepairRecord`` for the healer.
    case repair
}

/// One record to publish, not yet bound to a topic.
public struct OutputRecord: Sendable, Equatable {
    public var kind: OutputKind
    public var key: [UInt8]?
    public var value: [UInt8]
    public var headers: [RecordHeader]

    public init(kind: OutputKind, key: [UInt8]?, value: [UInt8], headers: [RecordHeader] = []) {
        self.kind = kind
        self.key = key
        self.value = value
        self.headers = headers
    }
}

/// What a ``PipelineWorker`` runs every consumed record through: the alert processor
/// on the alerts topic, the healer (``HealProcessor``) on the repair log.
///
/// A processor never throws and never drops a record: what it cannot handle becomes a
/// dead letter in its outcome.
public protocol RecordProcessor: Sendable {
    /// What ``prepare(_:key:origin:receivedAt:)`` leaves for ``finish(_:)``.
    associatedtype Pending: Sendable

    /// Written into every output record.
    var workerID: String { get }

    /// Does what needs no waiting. Never suspends, so a worker can take a whole poll of
    /// records in one go and only start a task for those that must wait.
    /// - Returns: the outcome, or what ``finish(_:)`` completes.
    func prepare(_ record: InputRecord, key: [UInt8]?, origin: RecordOrigin, receivedAt: Date) -> RecordPreparation<Pending>

    /// Completes what ``prepare(_:key:origin:receivedAt:)`` left waiting. Returns
    /// ``ProcessingOutcome/redo`` when it cannot finish now without waiting on a dependency
    /// (see ``waitUntilStartable(_:)``): the worker then does the record again.
    func finish(_ pending: Pending) async -> ProcessingOutcome

    /// Whether the worker asks ``isStartable(_:)`` before admitting each record. `false`
    /// (the default) skips the question on the hot path.
    var waitsBeforeStarting: Bool { get }

    /// Whether `record` can be processed now without waiting on a dependency that is down
    /// (the healer: the breakers of its steps admit calls, live traffic is low). Never
    /// suspends. Default `true`.
    func isStartable(_ record: InputRecord) -> Bool

    /// Waits until ``isStartable(_:)`` would say yes; returns at once when cancelled. The
    /// worker waits here before admitting the record, so nothing is held meanwhile: no
    /// in-flight place, no open transaction. Default: returns at once.
    func waitUntilStartable(_ record: InputRecord) async
}

extension RecordProcessor {
    public var waitsBeforeStarting: Bool { false }
    public func isStartable(_ record: InputRecord) -> Bool { true }
    public func waitUntilStartable(_ record: InputRecord) async {}
}

/// A record after ``RecordProcessor/prepare(_:key:origin:receivedAt:)``.
public enum RecordPreparation<Pending: Sendable>: Sendable {
    /// Done without waiting (or dead-lettered).
    case done(ProcessingOutcome)
    /// Something must wait: ``RecordProcessor/finish(_:)`` completes it.
    case waiting(Pending)
}

/// A record after ``AlertProcessor/prepare(_:key:origin:receivedAt:)``.
public typealias PreparedRecord = RecordPreparation<PendingRecord>

extension RecordProcessor {
    /// Processes one record: ``prepare(_:key:origin:receivedAt:)``, then ``finish(_:)``
    /// when it has to wait.
    /// - Parameters:
    ///   - record: the consumed value and headers.
    ///   - key: the consumed record key, kept on a dead letter.
    ///   - origin: topic, partition and offset, written into a dead letter.
    ///   - receivedAt: when the worker received the record.
    public func process(_ record: InputRecord, key: [UInt8]?, origin: RecordOrigin, receivedAt: Date) async -> ProcessingOutcome {
        switch prepare(record, key: key, origin: origin, receivedAt: receivedAt) {
        case .done(let outcome): outcome
        case .waiting(let pending): await finish(pending)
        }
    }
}

/// A decoded record whose steps have not all answered yet.
public struct PendingRecord: Sendable {
    let record: InputRecord
    let key: [UInt8]?
    let origin: RecordOrigin
    let receivedAt: Date
    /// What the alerts before the first that must wait turned into.
    let done: ProcessedAlerts
    /// The alerts from the first that must wait on, in order.
    let alerts: [PartialAlert]
}

/// The incidents of a record's alerts and their fallback events, each in alert order.
struct ProcessedAlerts: Sendable {
    var incidents: [IncidentRecord] = []
    var events: [FallbackEventRecord] = []
    /// The repair of each provisional incident: its index in ``incidents`` and the
    /// fallbacks of its healable steps.
    var repairs: [(incident: Int, steps: [RepairRecord.Step])] = []

    init(capacity: Int) {
        incidents.reserveCapacity(capacity)
    }

    mutating func append(contentsOf other: ProcessedAlerts) {
        let offset = incidents.count
        incidents += other.incidents
        events += other.events
        repairs += other.repairs.map { (offset + $0.incident, $0.steps) }
    }
}

/// One alert and the outcomes of the steps that answered without waiting.
struct PartialAlert: Sendable {
    var alert: Alert
    var enrichment: StepOutcome<ServiceInfo?>?
    var classification: StepOutcome<ClassificationDecision>?
    var dedup: StepOutcome<DedupInfo>?
}

/// Everything one input record turned into.
public struct ProcessingOutcome: Sendable {
    /// One incident per alert the record carried (empty when dead-lettered).
    public var incidents: [IncidentRecord]
    /// One event per fallback that ran for those incidents.
    public var fallbackEvents: [FallbackEventRecord]
    /// Set when the record went to the dead-letter topic instead.
    public var deadLetter: DeadLetter?
    /// The records to publish, in order: every incident, then every fallback event, then
    /// every repair record, or the single dead letter. The input is handled once all of
    /// them are acknowledged.
    public var outputs: [OutputRecord]
    /// Whether this is ``redo``: not done, nothing to publish.
    public let isRedo: Bool

    /// An outcome of `incidents` and `fallbackEvents` only, published in that order.
    /// - Throws: what encoding a record throws (a number that is not finite).
    public init(incidents: [IncidentRecord], fallbackEvents: [FallbackEventRecord], headers: [RecordHeader] = []) throws {
        try self.init(incidents: incidents, fallbackEvents: fallbackEvents, headers: headers, roomForMore: 0)
    }

    /// The public initializer, with room for `roomForMore` outputs appended after.
    init(incidents: [IncidentRecord], fallbackEvents: [FallbackEventRecord], headers: [RecordHeader], roomForMore: Int) throws {
        var outputs: [OutputRecord] = []
        outputs.reserveCapacity(incidents.count + fallbackEvents.count + roomForMore)
        for incident in incidents {
            outputs.append(OutputRecord(kind: .incident, key: incident.key, value: try incident.jsonBytes(), headers: headers))
        }
        for event in fallbackEvents {
            outputs.append(OutputRecord(kind: .fallbackEvent, key: event.key, value: try event.jsonBytes(), headers: headers))
        }
        self.init(incidents: incidents, fallbackEvents: fallbackEvents, deadLetter: nil, outputs: outputs)
    }

    init(incidents: [IncidentRecord], fallbackEvents: [FallbackEventRecord], deadLetter: DeadLetter?, outputs: [OutputRecord], isRedo: Bool = false) {
        self.incidents = incidents
        self.fallbackEvents = fallbackEvents
        self.deadLetter = deadLetter
        self.outputs = outputs
        self.isRedo = isRedo
    }

    /// Nothing to publish: the input is done as it is (a repair the healer skips).
    public static let nothing = ProcessingOutcome(incidents: [], fallbackEvents: [], deadLetter: nil, outputs: [])

    /// Not done: the record must be processed again once
    /// ``RecordProcessor/waitUntilStartable(_:)`` returns (a heal whose dependency went
    /// down again after the record was admitted). An exactly-once worker aborts the
    /// record's transaction and reads the record again, so no transaction stays open
    /// through an outage; an at-least-once worker waits and does it again in place.
    /// Nothing of it is ever published.
    public static let redo = ProcessingOutcome(incidents: [], fallbackEvents: [], deadLetter: nil, outputs: [], isRedo: true)
}

/// Turns one consumed record into its output records: decode, then for every alert
/// enrich, classify and count it (the three steps run concurrently), then encode.
///
/// It never throws and never drops a record: anything that cannot be decoded or
/// encoded becomes a dead letter carrying the original bytes, headers and the reason.
public struct AlertProcessor: RecordProcessor {
    public var decoder: AlertDecoder
    public var enrichment: any EnrichmentStep
    public var classification: any ClassificationStep
    public var dedup: any DedupStep
    /// Written into every output record.
    public var workerID: String
    /// How many alerts of one record are worked on at once (a webhook may carry many).
    public var alertConcurrency: Int
    /// The steps a heal may replace when a fallback served them: their incidents are
    /// published provisional, each with a ``RepairRecord`` (output ``OutputKind/repair``).
    /// Empty (the default): no repair log, and no incident is provisional.
    public var healing: Set<HealableStep> = []
    private let now: @Sendable () -> Date

    /// Creates a processor.
    /// - Parameters:
    ///   - now: the wall clock for `processed_at` and event times; tests pin it.
    public init(
        decoder: AlertDecoder = AlertDecoder(),
        enrichment: any EnrichmentStep,
        classification: any ClassificationStep,
        dedup: any DedupStep,
        workerID: String,
        alertConcurrency: Int = 64,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.decoder = decoder
        self.enrichment = enrichment
        self.classification = classification
        self.dedup = dedup
        self.workerID = workerID
        self.alertConcurrency = max(1, alertConcurrency)
        self.now = now
    }

    /// Decodes a record and runs every step that can answer without waiting (see
    /// ``EnrichmentStep/enrichWithoutWaiting(_:)``). Never suspends, so a worker can take
    /// a whole poll of records in one go and only start a task for those that must wait.
    /// - Returns: the outcome when no step had to wait (always for a dead letter), else
    ///   what ``finish(_:)`` completes.
    public func prepare(_ record: InputRecord, key: [UInt8]?, origin: RecordOrigin, receivedAt: Date) -> PreparedRecord {
        let alerts: [Alert]
        do {
            alerts = try decoder.decode(record, receivedAt: receivedAt)
        } catch {
            let letter = DeadLetter(
                error: error, sourceTopic: origin.topic, sourcePartition: origin.partition,
                sourceOffset: origin.offset, time: now(), workerID: workerID
            )
            return .done(deadLettered(letter, record: record, key: key))
        }
        var processed = ProcessedAlerts(capacity: alerts.count)
        // Once one alert must wait, the record finishes in a task: it and the alerts
        // after it only collect what answered.
        var waiting: [PartialAlert] = []
        for alert in alerts {
            let answered = PartialAlert(
                alert: alert,
                enrichment: enrichment.enrichWithoutWaiting(alert),
                classification: classification.classifyWithoutWaiting(alert),
                dedup: dedup.recordWithoutWaiting(alert, at: receivedAt)
            )
            if waiting.isEmpty, let service = answered.enrichment, let verdict = answered.classification, let seen = answered.dedup {
                addIncident(for: alert, enrichment: service, classification: verdict, dedup: seen, receivedAt: receivedAt, to: &processed)
            } else {
                waiting.append(answered)
            }
        }
        let pending = PendingRecord(record: record, key: key, origin: origin, receivedAt: receivedAt, done: processed, alerts: waiting)
        guard waiting.isEmpty else { return .waiting(pending) }
        return .done(encode(pending, processed))
    }

    /// Runs the steps ``prepare(_:key:origin:receivedAt:)`` left waiting (concurrently
    /// for each alert, and across the alerts of a record up to ``alertConcurrency``), then
    /// encodes the outputs.
    public func finish(_ pending: PendingRecord) async -> ProcessingOutcome {
        let alerts = pending.alerts
        var processed = pending.done
        // Most records carry one alert: a task group for it would cost more than the work.
        if alerts.count == 1 {
            await complete(alerts[0], receivedAt: pending.receivedAt, into: &processed)
        } else {
            var start = 0
            while start < alerts.count {
                let chunk = Array(alerts[start..<min(start + alertConcurrency, alerts.count)])
                let completed = await withTaskGroup(of: (Int, ProcessedAlerts).self) { group in
                    for (index, alert) in chunk.enumerated() {
                        group.addTask {
                            var one = ProcessedAlerts(capacity: 1)
                            await self.complete(alert, receivedAt: pending.receivedAt, into: &one)
                            return (index, one)
                        }
                    }
                    var results = [ProcessedAlerts?](repeating: nil, count: chunk.count)
                    for await (index, result) in group { results[index] = result }
                    return results
                }
                for case let one? in completed { processed.append(contentsOf: one) }
                start += alertConcurrency
            }
        }
        return encode(pending, processed)
    }

    /// The outputs of processed alerts (every incident, then every fallback event), or a
    /// dead letter when one cannot be encoded.
    private func encode(_ pending: PendingRecord, _ processed: ProcessedAlerts) -> ProcessingOutcome {
        let trace = pending.record.headers.traceparent.map { [$0] } ?? []
        do {
            var outcome = try ProcessingOutcome(
                incidents: processed.incidents, fallbackEvents: processed.events, headers: trace, roomForMore: processed.repairs.count)
            for (index, steps) in processed.repairs {
                let incident = processed.incidents[index]
                let repair = RepairRecord(incident: incident, steps: steps, workerID: workerID, recordedAt: incident.processedAt)
                // The incident's own bytes, written above, rather than encoding it again.
                outcome.outputs.append(OutputRecord(
                    kind: .repair, key: repair.key, value: repair.jsonBytes(incident: outcome.outputs[index].value), headers: trace))
            }
            return outcome
        } catch {
            let origin = pending.origin
            let letter = DeadLetter(
                reason: DeadLetter.processingFailedReason, detail: "encoding an output record failed: \(error)",
                sourceTopic: origin.topic, sourcePartition: origin.partition, sourceOffset: origin.offset,
                time: now(), workerID: workerID
            )
            return deadLettered(letter, record: pending.record, key: pending.key)
        }
    }

    /// Runs the steps `prepare` left open, concurrently, and builds the incident. A child
    /// task only for an open step beside another one, none for the last: on the full path
    /// the catalog usually answered from its cache already, and a task for each of the
    /// three steps of every waiting alert was a visible share of the worker's scheduling.
    private func complete(_ partial: PartialAlert, receivedAt: Date, into processed: inout ProcessedAlerts) async {
        let alert = partial.alert
        let enrich = { @Sendable in await enrichment.enrich(alert) }
        let classify = { @Sendable in await classification.classify(alert) }
        let count = { @Sendable in await dedup.record(alert, at: receivedAt) }
        let service: StepOutcome<ServiceInfo?>
        let verdict: StepOutcome<ClassificationDecision>
        let seen: StepOutcome<DedupInfo>
        switch (partial.enrichment, partial.classification, partial.dedup) {
        case let (known?, decided?, counted?):
            (service, verdict, seen) = (known, decided, counted)
        case let (known?, decided?, nil):
            (service, verdict, seen) = (known, decided, await count())
        case let (known?, nil, counted?):
            (service, verdict, seen) = (known, await classify(), counted)
        case let (nil, decided?, counted?):
            (service, verdict, seen) = (await enrich(), decided, counted)
        case let (known?, nil, nil):
            async let counted = count()
            (service, verdict) = (known, await classify())
            seen = await counted
        case let (nil, decided?, nil):
            async let counted = count()
            (service, verdict) = (await enrich(), decided)
            seen = await counted
        case let (nil, nil, counted?):
            async let enriched = enrich()
            (verdict, seen) = (await classify(), counted)
            service = await enriched
        case (nil, nil, nil):
            async let enriched = enrich()
            async let counted = count()
            verdict = await classify()
            (service, seen) = (await enriched, await counted)
        }
        addIncident(for: alert, enrichment: service, classification: verdict, dedup: seen, receivedAt: receivedAt, to: &processed)
    }

    /// Builds the alert's incident and a fallback event per fallback its steps used.
    private func addIncident(
        for alert: Alert, enrichment service: StepOutcome<ServiceInfo?>,
        classification verdict: StepOutcome<ClassificationDecision>, dedup seen: StepOutcome<DedupInfo>, receivedAt: Date,
        to processed: inout ProcessedAlerts
    ) {
        let processedAt = now()
        var repairSteps: [RepairRecord.Step] = []
        if !healing.isEmpty {
            if healing.contains(.enrichment), service.provenance.fallbackUsed {
                repairSteps += Self.repairSteps(.enrichment, service.fallbacks, source: service.provenance.source)
            }
            // The model's answer (even one the policy set aside for the rules') is final.
            if healing.contains(.classification), verdict.provenance.fallbackUsed, verdict.value.model == nil {
                repairSteps += Self.repairSteps(.classification, verdict.fallbacks, source: verdict.provenance.source)
            }
        }
        let incident = IncidentRecord(
            alert: alert,
            enrichment: service.value,
            classification: verdict.value.published,
            provenance: IncidentProvenance(
                enrichment: service.provenance, classification: verdict.provenance, dedup: seen.provenance,
                model: verdict.value.model
            ),
            dedup: seen.value,
            workerID: workerID,
            receivedAt: receivedAt,
            processedAt: processedAt,
            // Most incidents have none: no set and no array for them on this path.
            healableSteps: repairSteps.isEmpty ? [] : RepairRecord.healableSteps(of: repairSteps)
        )
        if !repairSteps.isEmpty { processed.repairs.append((processed.incidents.count, repairSteps)) }
        // Step by step, not concatenated first: each `+` was an array of its own.
        func addEvents(for notes: [FallbackNote]) {
            for note in notes {
                processed.events.append(
                    FallbackEventRecord(
                        incidentID: incident.incidentID, breaker: note.breaker, strategy: note.strategy,
                        reason: note.reason, staleAgeSeconds: note.staleAgeSeconds, workerID: workerID, timestamp: processedAt
                    )
                )
            }
        }
        addEvents(for: service.fallbacks)
        addEvents(for: verdict.fallbacks)
        addEvents(for: seen.fallbacks)
        processed.incidents.append(incident)
    }

    /// The repair steps of `step` from the fallbacks that served it; one without notes
    /// (a fallback the breaker did not report, such as the default entry after an
    /// uncounted error) still needs a heal.
    private static func repairSteps(_ step: HealableStep, _ notes: [FallbackNote], source: ProvenanceSource) -> [RepairRecord.Step] {
        guard !notes.isEmpty else { return [RepairRecord.Step(step: step, breaker: step.breaker, strategy: source.rawValue, reason: .error)] }
        return notes.map { RepairRecord.Step(step: step, breaker: $0.breaker, strategy: $0.strategy, reason: $0.reason) }
    }

    private func deadLettered(_ letter: DeadLetter, record: InputRecord, key: [UInt8]?) -> ProcessingOutcome {
        let output = OutputRecord(kind: .deadLetter, key: key, value: record.value, headers: letter.headers(appendingTo: record.headers))
        return ProcessingOutcome(incidents: [], fallbackEvents: [], deadLetter: letter, outputs: [output])
    }
}
