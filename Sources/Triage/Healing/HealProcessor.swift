import Foundation
import Logging
import Resilience

/// The healer's processor: takes a ``RepairRecord`` of the repair log and, once the
/// dependency of each degraded step is back, re-runs those steps through it (never a
/// fallback) and publishes the incident's next revision.
///
/// - A record older than ``Configuration/maxAge``, or whose steps are all switched off,
///   is skipped (counted, nothing published).
/// - The worker admits a repair only once the breaker of each of its steps admits calls
///   and live traffic is low (``waitUntilStartable(_:)``, at the ``HealGate``); an
///   admitted heal waits for live traffic and the rate limit, then calls the dependency
///   through the same breaker. A relapse opens it again: the heal is handed back
///   (``ProcessingOutcome/redo``) and waits before admission again, so no heal holds the
///   worker's transaction through an outage. A step whose call fails while the breaker
///   still admits calls stays pending: the heal retries after ``Configuration/retryAfter``.
///   It never gives up on its own; its age is checked each time it is prepared (when
///   admitted, and again when a relapse handed it back).
/// - Revision `r` heals into `r + 1`, always: a record processed again after a crash or
///   a rebalance publishes the same revision again (and the same event ids), never a
///   higher one. Healed revisions are final, so they have no repair record of their own.
/// - When ``Dependencies/isSuperseded`` says a newer update of the alert was counted
///   since (the dedup store saw more occurrences), the heal is skipped: publishing the
///   old update's revision after the newer record would replace the newer one for
///   consumers that keep the latest per key.
///
/// It publishes the healed incident and one `healed` event per step on the fallback-event
/// topic (`reason: healed`, the strategy it replaced). A record that is not a repair
/// record is dead-lettered (`invalid_repair`).
public struct HealProcessor: RecordProcessor {
    /// What to heal and how long to keep trying.
    public struct Configuration: Sendable, Hashable {
        /// The steps healed; repairs of only other steps are skipped.
        public var steps: Set<HealableStep>
        /// Records older than this (since their incident was published) are skipped. Default 1 h.
        public var maxAge: Duration
        /// The wait after a heal's call failed before trying again (the breaker may
        /// still admit calls, e.g. a throttle refused it). Default 1 s.
        public var retryAfter: Duration

        /// Settings; the defaults heal both steps, skip repairs older than an hour and retry after a second.
        public init(steps: Set<HealableStep> = Set(HealableStep.allCases), maxAge: Duration = .seconds(3600), retryAfter: Duration = .seconds(1)) {
            self.steps = steps
            self.maxAge = maxAge
            self.retryAfter = retryAfter
        }
    }

    /// The calls a heal makes: each step's dependency without a fallback, and its breaker.
    public struct Dependencies: Sendable {
        /// The primary catalog (``CatalogEnrichment/enrichFromPrimary(_:)``).
        public var enrich: @Sendable (Alert) async throws(StepUnavailable) -> StepOutcome<ServiceInfo?>
        /// The model (``GuardedClassification/classifyByModel(_:priority:)``).
        public var classify: @Sendable (Alert) async throws(StepUnavailable) -> StepOutcome<ClassificationDecision>
        /// The breaker of each step's dependency; a step without one does not wait.
        public var breakers: [HealableStep: CircuitBreaker]
        /// Whether a newer update of the incident's alert has been published since;
        /// `nil`: never skip.
        public var isSuperseded: (@Sendable (IncidentRecord) async -> Bool)?

        /// The calls of each step, their breakers, and the optional supersession check.
        public init(
            enrich: @escaping @Sendable (Alert) async throws(StepUnavailable) -> StepOutcome<ServiceInfo?>,
            classify: @escaping @Sendable (Alert) async throws(StepUnavailable) -> StepOutcome<ClassificationDecision>,
            breakers: [HealableStep: CircuitBreaker],
            isSuperseded: (@Sendable (IncidentRecord) async -> Bool)? = nil
        ) {
            self.enrich = enrich
            self.classify = classify
            self.breakers = breakers
            self.isSuperseded = isSuperseded
        }
    }

    /// A repair whose steps must wait.
    public struct PendingRepair: Sendable {
        let repair: RepairRecord
        let steps: [HealableStep]
        let headers: [RecordHeader]
    }

    /// Written into every healed incident and `healed` event.
    public let workerID: String
    private let configuration: Configuration
    private let dependencies: Dependencies
    private let gate: HealGate
    private let metrics: HealMetrics
    private let logger: Logger
    private let clock: ResilienceClock
    private let now: @Sendable () -> Date

    /// A processor.
    /// - Parameters:
    ///   - gate: what heals wait for (shared with `/admin/heal`).
    ///   - metrics: where heals and skips are counted.
    ///   - clock: times ``Configuration/retryAfter``.
    ///   - now: the wall clock for `healed_at`, the age and the lag; tests pin it.
    public init<C: Clock>(
        workerID: String, configuration: Configuration, dependencies: Dependencies, gate: HealGate, metrics: HealMetrics = HealMetrics(),
        logger: Logger, clock: C = ContinuousClock(), now: @escaping @Sendable () -> Date = { Date() }
    ) where C.Duration == Duration {
        self.workerID = workerID
        self.configuration = configuration
        self.dependencies = dependencies
        self.gate = gate
        self.metrics = metrics
        self.logger = logger
        self.clock = ResilienceClock(clock)
        self.now = now
    }

    /// Decodes the repair, skips it when too old or of no healed step, else leaves it
    /// waiting for ``finish(_:)``.
    public func prepare(_ record: InputRecord, key: [UInt8]?, origin: RecordOrigin, receivedAt: Date) -> RecordPreparation<PendingRepair> {
        let repair: RepairRecord
        do {
            repair = try RepairRecord.decode(record.value)
        } catch {
            let letter = DeadLetter(
                reason: DeadLetter.invalidRepairReason, detail: "not a repair record: \(error)", sourceTopic: origin.topic,
                sourcePartition: origin.partition, sourceOffset: origin.offset, time: now(), workerID: workerID)
            let output = OutputRecord(kind: .deadLetter, key: key, value: record.value, headers: letter.headers(appendingTo: record.headers))
            return .done(ProcessingOutcome(incidents: [], fallbackEvents: [], deadLetter: letter, outputs: [output]))
        }
        let age = age(of: repair)
        guard age <= configuration.maxAge.seconds else {
            metrics.skipped(.tooOld)
            logger.debug("repair too old to heal", metadata: ["incident_id": "\(repair.incident.incidentID)", "age_seconds": "\(Int(age))"])
            return .done(.nothing)
        }
        let steps = stepsToHeal(repair)
        guard !steps.isEmpty else {
            metrics.skipped(.stepOff)
            return .done(.nothing)
        }
        return .waiting(PendingRepair(repair: repair, steps: steps, headers: record.headers.traceparent.map { [$0] } ?? []))
    }

    /// The repair's degraded steps that this healer heals, in order.
    private func stepsToHeal(_ repair: RepairRecord) -> [HealableStep] {
        repair.healableSteps.filter(configuration.steps.contains)
    }

    /// Seconds since the repair's incident was published.
    private func age(of repair: RepairRecord) -> Double {
        now().timeIntervalSince(repair.recordedAt)
    }

    /// Whether the breaker of each of `steps` admits calls (a step without one always does).
    private func breakersAdmit(_ steps: some Sequence<HealableStep>) -> Bool {
        steps.allSatisfy { dependencies.breakers[$0].map(HealGate.admits) ?? true }
    }

    /// The steps a record would make the heal wait for; empty when it waits for nothing
    /// (not a repair, too old, no step healed here: ``prepare(_:key:origin:receivedAt:)``
    /// settles it at once).
    private func stepsToWaitFor(_ record: InputRecord) -> [HealableStep] {
        guard let repair = try? RepairRecord.decode(record.value), age(of: repair) <= configuration.maxAge.seconds else { return [] }
        return stepsToHeal(repair)
    }

    /// Yes: the worker asks before admitting each repair.
    public var waitsBeforeStarting: Bool { true }

    /// Whether the breakers of the record's steps admit calls and live traffic is at or
    /// below `heal.yieldAboveInFlight`. A record that is not a repair, is too old or has no
    /// step healed here can always start.
    public func isStartable(_ record: InputRecord) -> Bool {
        // While nothing holds healing back, any repair can start: no need to decode it
        // here as well as in prepare.
        if !gate.yieldsToLive, breakersAdmit(configuration.steps) { return true }
        let steps = stepsToWaitFor(record)
        return steps.isEmpty || (breakersAdmit(steps) && !gate.yieldsToLive)
    }

    /// Waits at the gate until the breakers of the record's steps admit calls and live
    /// traffic is low (``isStartable(_:)``); returns at once when cancelled.
    public func waitUntilStartable(_ record: InputRecord) async {
        let steps = stepsToWaitFor(record)
        guard !steps.isEmpty else { return }
        while !Task.isCancelled {
            for step in steps {
                if let breaker = dependencies.breakers[step] { await gate.waitUntilAdmitting(breaker) }
            }
            await gate.waitForLiveTraffic()
            if breakersAdmit(steps) { return }
        }
    }

    /// Heals the repair's steps (see the type's documentation). Returns nothing to
    /// publish when cancelled or superseded, and ``ProcessingOutcome/redo`` when a step's
    /// breaker does not admit calls (it opened again since the record was admitted, or a
    /// heal's own failure opened it): the heal does not wait for it while admitted.
    public func finish(_ pending: PendingRepair) async -> ProcessingOutcome {
        let incident = pending.repair.incident
        while !Task.isCancelled {
            guard breakersAdmit(pending.steps) else { return .redo }
            await gate.waitForTurn()
            guard !Task.isCancelled else { break }
            if let isSuperseded = dependencies.isSuperseded, await isSuperseded(incident) {
                metrics.skipped(.superseded)
                logger.debug("a newer update of the incident was published; not healing", metadata: ["incident_id": "\(incident.incidentID)"])
                return .nothing
            }
            do {
                return try await heal(pending)
            } catch {
                metrics.stillDegraded(error.step)
                logger.debug("heal failed; the step stays pending", metadata: ["incident_id": "\(incident.incidentID)", "error": "\(error)"])
                // A relapse opened the breaker: the next turn of the loop hands the record
                // back. Else (a throttle refused, or a failure below the trip rules) pause
                // before trying again.
                if breakersAdmit(pending.steps) {
                    try? await clock.sleep(for: configuration.retryAfter)
                }
            }
        }
        return .nothing
    }

    /// Runs the steps and builds the next revision.
    private func heal(_ pending: PendingRepair) async throws(StepUnavailable) -> ProcessingOutcome {
        let previous = pending.repair.incident
        var healed = previous
        let alert = previous.alert
        for step in pending.steps {
            switch step {
            case .enrichment:
                let outcome = try await dependencies.enrich(alert)
                healed.enrichment = outcome.value
                healed.provenance.enrichment = outcome.provenance
            case .classification:
                let outcome = try await dependencies.classify(alert)
                healed.classification = outcome.value.published
                healed.provenance.classification = outcome.provenance
                healed.provenance.model = outcome.value.model
            }
        }
        let healedAt = now()
        healed.revision = previous.revision + 1
        healed.supersedes = previous.revision
        healed.healedAt = healedAt
        healed.processedAt = healedAt
        healed.healableSteps = []
        healed.workerID = workerID
        let events = pending.steps.map { step in
            let replaced = pending.repair.steps.first { $0.step == step }
            return FallbackEventRecord(
                eventID: Self.eventID(incident: previous.incidentID, revision: healed.revision, step: step),
                incidentID: previous.incidentID, breaker: step.breaker, strategy: replaced?.strategy ?? step.rawValue,
                reason: .healed, workerID: workerID, timestamp: healedAt)
        }
        do {
            let outcome = try ProcessingOutcome(incidents: [healed], fallbackEvents: events, headers: pending.headers)
            for step in pending.steps { metrics.healed(step) }
            metrics.lag(healedAt.timeIntervalSince(pending.repair.recordedAt))
            return outcome
        } catch {
            // A number that is not finite in what the dependency answered: the heal is
            // skipped rather than the repair dead-lettered (the revision 1 stands).
            metrics.skipped(.unencodable)
            logger.warning("the healed incident cannot be encoded; not healing", metadata: ["incident_id": "\(previous.incidentID)", "error": "\(error)"])
            return .nothing
        }
    }

    /// The id of the `healed` event of `step` in `revision`: the same every time that
    /// revision is healed again (a replay after a crash), so consumers can drop repeats.
    static func eventID(incident: String, revision: Int, step: HealableStep) -> UUID {
        var high = FNV1a64()
        high.add("heal\n\(incident)\n\(revision)\n\(step.rawValue)")
        var low = FNV1a64()
        low.add("\(step.rawValue)\n\(revision)\n\(incident)\nheal")
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<8 {
            bytes[index] = UInt8(truncatingIfNeeded: high.value >> (8 * UInt64(index)))
            bytes[8 + index] = UInt8(truncatingIfNeeded: low.value >> (8 * UInt64(index)))
        }
        // Version 8 (custom) and the RFC 4122 variant, so it reads as a valid UUID.
        bytes[6] = (bytes[6] & 0x0F) | 0x80
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        return UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                           bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }
}
