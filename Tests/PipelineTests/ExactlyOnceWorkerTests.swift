import Foundation
import Kafka
import Logging
import ServiceLifecycle
import ServiceTestSupport
import Locking
import Testing
import Triage
import TriageTestSupport

// Exactly-once worker against the real broker (scripts/kafka-up). Every test reads the
// outputs back with a read_committed consumer and counts them per alert.

/// Serves every alert from a "stale cache" (so each alert also yields one fallback
/// event), counts the alerts it saw, and can hold chosen alerts until released.
private final class TestEnrichment: EnrichmentStep, Sendable {
    private let seen = LockedValue<Int>(0)
    private let held: Set<String>
    /// Alerts whose first enrichment is too large to publish (a failed send).
    private let oversizedOnce: LockedValue<Set<String>>
    private let reached = AsyncStream<String>.makeStream()

    init(holding fingerprints: Set<String> = [], oversizedOnce: Set<String> = []) {
        held = fingerprints
        self.oversizedOnce = LockedValue(oversizedOnce)
    }

    /// Alerts enriched so far.
    var count: Int { seen.withLock { $0 } }

    /// Fingerprints of held alerts, as they arrive.
    var heldAlerts: AsyncStream<String> { reached.stream }

    func enrich(_ alert: Alert) async -> StepOutcome<ServiceInfo?> {
        if held.contains(alert.fingerprint) {
            reached.continuation.yield(alert.fingerprint)
            // Held until the task is cancelled (a hard stop of the worker).
            let (wait, continuation) = AsyncStream<Void>.makeStream()
            for await _ in wait {}
            continuation.finish()
        }
        seen.withLock { $0 += 1 }
        let oversized = oversizedOnce.withLock { $0.remove(alert.fingerprint) != nil }
        // Over the producer's 1 MB message.max.bytes: the send fails.
        let team = oversized ? String(repeating: "x", count: 1_200_000) : "payments"
        return StepOutcome(
            value: ServiceInfo(name: "checkout", ownerTeam: team),
            provenance: StepProvenance(source: .stale, fallbackUsed: true, staleAgeSeconds: 12),
            fallbacks: [FallbackNote(breaker: "catalog", strategy: "stale_cache", reason: .circuitOpen, staleAgeSeconds: 12)]
        )
    }
}

/// The same verdict for every alert, with no fallback (only enrichment's stale cache
/// makes fallback events here).
private struct SteadyClassification: ClassificationStep {
    func classify(_ alert: Alert) async -> StepOutcome<ClassificationDecision> {
        StepOutcome(
            value: ClassificationDecision(published: Classification(severity: .high, category: .availability, confidence: 0.9, classifier: .rules)),
            provenance: StepProvenance(source: .primary, fallbackUsed: false)
        )
    }
}

/// The alert processor behind a dependency that goes down once: the first time it
/// finishes `target` it hands the record back (``ProcessingOutcome/redo``) and the
/// dependency stays down until ``restore()``; meanwhile no record can start.
private final class HandBackOnce: RecordProcessor, Sendable {
    struct Pending: Sendable {
        let record: InputRecord
        let key: [UInt8]?
        let origin: RecordOrigin
        let receivedAt: Date
    }

    let processor: AlertProcessor
    private let target: [UInt8]
    private let state = LockedValue((down: false, handedBack: 0, finishedTarget: 0, waits: 0))

    init(processor: AlertProcessor, target: String) {
        self.processor = processor
        self.target = Array(target.utf8)
    }

    var workerID: String { processor.workerID }
    var handedBack: Int { state.withLock { $0.handedBack } }
    var finishedTarget: Int { state.withLock { $0.finishedTarget } }
    /// Records the worker held before admission while the dependency was down.
    var waits: Int { state.withLock { $0.waits } }
    func restore() { state.withLock { $0.down = false } }

    func prepare(_ record: InputRecord, key: [UInt8]?, origin: RecordOrigin, receivedAt: Date) -> RecordPreparation<Pending> {
        .waiting(Pending(record: record, key: key, origin: origin, receivedAt: receivedAt))
    }

    func finish(_ pending: Pending) async -> ProcessingOutcome {
        let handBack = state.withLock { state in
            guard pending.key == target else { return false }
            if state.handedBack == 0 {
                state.handedBack = 1
                state.down = true
                return true
            }
            state.finishedTarget += 1
            return false
        }
        if handBack { return .redo }
        return await processor.process(pending.record, key: pending.key, origin: pending.origin, receivedAt: pending.receivedAt)
    }

    var waitsBeforeStarting: Bool { true }

    func isStartable(_ record: InputRecord) -> Bool { !state.withLock { $0.down } }

    func waitUntilStartable(_ record: InputRecord) async {
        state.withLock { $0.waits += 1 }
        // A test double: the dependency comes back when the test restores it.
        while !Task.isCancelled, state.withLock({ $0.down }) {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}

/// One test's topics, group and transactional id, and the inputs it produced.
private struct Scenario {
    static let logger: Logger = {
        var logger = Logger(label: "eos-tests")
        logger.logLevel = ProcessInfo.processInfo.environment["KAFKA_TEST_LOG"] == "1" ? .debug : .warning
        return logger
    }()

    let bootstrap: String
    let topics: PipelineTopics
    let group: String
    var transactionalID: String
    /// Per input partition, the next offset after the last produced record.
    var ends: [KafkaTopicPartition: Int64] = [:]
    var fingerprints: [String] = []

    init(partitions: Int32) async throws {
        bootstrap = try ExternalService.kafka.require()
        let run = uniqueName("eos")
        topics = PipelineTopics(
            alerts: "\(run)-alerts", classified: "\(run)-classified", fallbackEvents: "\(run)-fallbacks", deadLetter: "\(run)-dlq"
        )
        group = "\(run)-group"
        transactionalID = "\(run)-tx"
        let admin = try KafkaAdmin(configuration: common, logger: Self.logger)
        defer { admin.close() }
        try await admin.createTopics([
            KafkaTopicSpecification(name: topics.alerts, partitions: partitions),
            KafkaTopicSpecification(name: topics.classified, partitions: 2),
            KafkaTopicSpecification(name: topics.fallbackEvents, partitions: 1),
            KafkaTopicSpecification(name: topics.deadLetter, partitions: 1),
        ])
    }

    var common: KafkaConfiguration {
        KafkaConfiguration(bootstrapServers: [bootstrap], clientID: "eos-tests")
    }

    func consumerConfiguration(
        group: String, manual: Bool, strategy: KafkaConsumerConfiguration.AssignmentStrategy = .cooperativeSticky
    ) -> KafkaConsumerConfiguration {
        KafkaConsumerConfiguration(
            common: common, groupID: group, assignmentStrategy: strategy, isolationLevel: .readCommitted,
            sessionTimeout: .seconds(10), heartbeatInterval: .seconds(1),
            offsetCommits: manual ? .manual : .automatic
        )
    }

    /// Produces single Alertmanager alerts `first..<first+count`, keyed by fingerprint.
    mutating func produce(_ range: Range<Int>) async throws {
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(common: common), logger: Self.logger)
        for index in range {
            let fingerprint = "fp-\(index)"
            let json = """
            {"status":"firing","labels":{"alertname":"Alert\(index)","service":"checkout","severity":"critical"},\
            "annotations":{"summary":"alert \(index)"},"startsAt":"2026-11-29T10:00:00Z","fingerprint":"\(fingerprint)"}
            """
            let report = try await producer.send(
                KafkaProducerRecord(topic: topics.alerts, key: Array(fingerprint.utf8), value: Array(json.utf8))
            )
            let partition = KafkaTopicPartition(topic: topics.alerts, partition: report.partition)
            ends[partition] = max(ends[partition] ?? 0, report.offset + 1)
            fingerprints.append(fingerprint)
        }
        await producer.close()
    }

    func worker(
        enrichment: TestEnrichment,
        maxRecordsPerTransaction: Int,
        commitInterval: Duration = .seconds(3_600),
        strategy: KafkaConsumerConfiguration.AssignmentStrategy = .cooperativeSticky,
        shutdownDeadline: Duration = .seconds(20),
        beforeCommit: @escaping @Sendable (Int) async throws -> Void = { _ in },
        onStateChange: @escaping @Sendable (PipelineWorkerState) -> Void = { _ in }
    ) throws -> PipelineWorker {
        let consumer = try KafkaConsumer(
            configuration: consumerConfiguration(group: group, manual: true, strategy: strategy),
            topics: [topics.alerts], logger: Self.logger
        )
        let producer = try KafkaTransactionalProducer(
            configuration: KafkaProducerConfiguration(common: common), transactionalID: transactionalID, logger: Self.logger
        )
        let processor = AlertProcessor(
            enrichment: enrichment, classification: SteadyClassification(), dedup: FirstSightingDedup(), workerID: "eos-worker"
        )
        return PipelineWorker(
            configuration: .init(
                topics: topics, maxInFlight: 16, shutdownDeadline: shutdownDeadline,
                exactlyOnce: .init(
                    commitInterval: commitInterval, maxRecordsPerTransaction: maxRecordsPerTransaction, operationTimeout: .seconds(20)
                )
            ),
            consumer: consumer, delivery: .exactlyOnce(producer), processor: processor, logger: Self.logger,
            onStateChange: onStateChange,
            onEvent: { event in
                if case .transactionCommitting(let records) = event { try await beforeCommit(records) }
            }
        )
    }

    /// A worker of `processor`, exactly-once or at-least-once.
    func worker(processor: some RecordProcessor, exactlyOnce: Bool, maxRecordsPerTransaction: Int) throws -> PipelineWorker {
        let consumer = try KafkaConsumer(
            configuration: consumerConfiguration(group: group, manual: exactlyOnce), topics: [topics.alerts], logger: Self.logger
        )
        let delivery: PipelineWorker.Delivery = if exactlyOnce {
            .exactlyOnce(try KafkaTransactionalProducer(
                configuration: KafkaProducerConfiguration(common: common), transactionalID: transactionalID, logger: Self.logger))
        } else {
            .atLeastOnce(try KafkaProducer(configuration: KafkaProducerConfiguration(common: common), logger: Self.logger))
        }
        return PipelineWorker(
            configuration: .init(
                topics: topics, maxInFlight: 16, shutdownDeadline: .seconds(20),
                exactlyOnce: .init(commitInterval: .milliseconds(200), maxRecordsPerTransaction: maxRecordsPerTransaction, operationTimeout: .seconds(20))
            ),
            consumer: consumer, delivery: delivery, processor: processor, logger: Self.logger
        )
    }

    /// Every committed record of `topic`, read with read_committed until `expected`
    /// arrived and nothing more came for a while (so duplicates would be seen).
    func committedRecords(of topic: String, expected: Int) async throws -> [KafkaMessage] {
        let consumer = try KafkaConsumer(
            configuration: consumerConfiguration(group: uniqueName("eos-reader"), manual: false),
            topics: [topic], logger: Self.logger
        )
        let received = Locked<[KafkaMessage]>([])
        let reader = Task {
            for try await event in consumer.events {
                if case .message(let message) = event {
                    consumer.markDone(message)
                    received.withLock { $0.append(message) }
                }
            }
        }
        _ = await eventually(within: .seconds(60)) { received.withLock { $0.count } >= expected }
        // Read on until the count has been stable for 2 s: extra (duplicate) records show.
        var last = -1
        while last != received.withLock({ $0.count }) {
            last = received.withLock { $0.count }
            try await Task.sleep(for: .seconds(2))
        }
        reader.cancel()
        _ = await reader.result
        await consumer.close()
        return received.withLock { $0 }
    }

    /// Asserts exactly one incident and one fallback event per produced alert.
    func expectExactlyOncePerAlert() async throws {
        let incidents = try await committedRecords(of: topics.classified, expected: fingerprints.count)
        let decoded = try incidents.map { try IncidentRecord.decode($0.value ?? []) }
        let perAlert = Dictionary(grouping: decoded, by: \.alert.fingerprint).mapValues(\.count)
        #expect(decoded.count == fingerprints.count)
        #expect(Set(perAlert.keys) == Set(fingerprints))
        #expect(perAlert.values.allSatisfy { $0 == 1 })
        let events = try await committedRecords(of: topics.fallbackEvents, expected: fingerprints.count)
        #expect(events.count == fingerprints.count)
        #expect(try Set(events.map { try FallbackEventRecord.decode($0.value ?? []).incidentID }) == Set(decoded.map(\.incidentID)))
    }

    /// ``expectExactlyOncePerAlert()``, and the group committed every input offset.
    func expectEveryAlertOnceAndOffsetsCommitted() async throws {
        try await expectExactlyOncePerAlert()
        #expect(try await groupOffsets() == ends)
    }

    /// The group's committed offsets on the alerts topic, read by a member of the group.
    func groupOffsets() async throws -> [KafkaTopicPartition: Int64] {
        let consumer = try KafkaConsumer(
            configuration: consumerConfiguration(group: group, manual: true), topics: [topics.alerts], logger: Self.logger
        )
        var assigned = false
        for try await event in consumer.events {
            if case .partitionsAssigned = event {
                assigned = true
                break
            }
        }
        #expect(assigned)
        let offsets = try await consumer.committedOffsets()
        await consumer.close()
        return offsets
    }
}

/// The task's result, or `nil` (after cancelling it) when it has not ended within `limit`.
/// Waiting on a task's result ignores cancellation, so the two waits race and the first
/// to finish answers.
private func outcome<T: Sendable>(of task: Task<T, any Error>, within limit: Duration) async -> Result<T, any Error>? {
    let first = FirstOffer<Result<T, any Error>?>()
    Task { first.offer(await task.result) }
    let deadline = Task {
        try? await Task.sleep(for: limit)
        first.offer(nil)
    }
    let result = await first.value()
    deadline.cancel()
    if case .none = result { task.cancel() }
    return result
}

/// Runs `worker` in a service group; returns the group and the task running it.
private func start(_ worker: PipelineWorker) -> (ServiceGroup, Task<Void, any Error>) {
    let group = ServiceGroup(configuration: .init(services: [worker], logger: Scenario.logger))
    return (group, Task { try await group.run() })
}

/// Runs `worker` until it committed `records` input records, then stops it gracefully.
private func runUntilCommitted(_ worker: PipelineWorker, records: Int) async throws {
    let (group, task) = start(worker)
    #expect(await eventually { worker.transactionStatistics.committedRecords == records })
    await group.triggerGracefulShutdown()
    try await task.value
}

private struct InjectedFailure: Error {}

@Suite("Exactly-once worker against the real broker", .serialized, .timeLimit(.minutes(3)))
struct ExactlyOnceWorkerTests {
    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func everyAlertIsCommittedOnceAndGracefulStopCommitsTheOpenTransaction() async throws {
        var scenario = try await Scenario(partitions: 3)
        try await scenario.produce(0..<110)
        let enrichment = TestEnrichment()
        let worker = try scenario.worker(enrichment: enrichment, maxRecordsPerTransaction: 25)
        let (group, task) = start(worker)
        // 4 full transactions commit on their record count; the last 10 records stay in
        // the open one (the interval is an hour) until the graceful stop.
        #expect(await eventually { enrichment.count == 110 && worker.transactionStatistics.committed == 4 })
        #expect(worker.transactionStatistics.committedRecords == 100)
        await group.triggerGracefulShutdown()
        try await task.value
        #expect(worker.transactionStatistics == .init(committed: 5, aborted: 0, committedRecords: 110))

        try await scenario.expectEveryAlertOnceAndOffsetsCommitted()
    }

    /// A record handed back mid-transaction (its dependency went down again): exactly-once,
    /// its transaction aborts rather than staying open through the outage, the record is
    /// read again and held before admission until the dependency is back, then published
    /// once with the rest; at-least-once, it waits in place and nothing is aborted.
    @Test(.enabled(if: ExternalService.kafka.shouldRun), arguments: [true, false])
    func aRecordHandedBackWaitsOutsideItsTransactionAndIsPublishedOnce(exactlyOnce: Bool) async throws {
        var scenario = try await Scenario(partitions: 1)
        try await scenario.produce(0..<20)
        let enrichment = TestEnrichment()
        let processor = HandBackOnce(
            processor: AlertProcessor(enrichment: enrichment, classification: SteadyClassification(), dedup: FirstSightingDedup(), workerID: "eos-worker"),
            target: "fp-5")
        let worker = try scenario.worker(processor: processor, exactlyOnce: exactlyOnce, maxRecordsPerTransaction: 10)
        let (group, task) = start(worker)
        #expect(await eventually { processor.handedBack == 1 && processor.waits >= 1 })
        if exactlyOnce {
            // The transaction did not wait for the record: it aborted, and nothing is in flight.
            #expect(await eventually { worker.transactionStatistics.aborted == 1 && worker.inFlight == 0 })
        }
        #expect(processor.finishedTarget == 0)
        processor.restore()
        if exactlyOnce {
            #expect(await eventually { worker.transactionStatistics.committedRecords == 20 })
        } else {
            #expect(await eventually { worker.recordsFinished >= 20 })
        }
        await group.triggerGracefulShutdown()
        try await task.value
        #expect(processor.finishedTarget == 1, "handed back once, then done once")
        if exactlyOnce {
            #expect(worker.transactionStatistics.aborted == 1)
            try await scenario.expectEveryAlertOnceAndOffsetsCommitted()
        } else {
            #expect(worker.transactionStatistics == .init())
            let incidents = try await scenario.committedRecords(of: scenario.topics.classified, expected: 20)
            #expect(Set(try incidents.map { try IncidentRecord.decode($0.value ?? []).alert.fingerprint }) == Set(scenario.fingerprints))
        }
    }

    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func anAbortedTransactionIsRewoundAndProcessedAgain() async throws {
        var scenario = try await Scenario(partitions: 2)
        try await scenario.produce(0..<60)
        let attempts = Locked(0)
        let enrichment = TestEnrichment()
        // The second commit fails once: its transaction (outputs and offsets) is aborted.
        let worker = try scenario.worker(enrichment: enrichment, maxRecordsPerTransaction: 10) { _ in
            let attempt = attempts.withLock { count in
                count += 1
                return count
            }
            if attempt == 2 { throw InjectedFailure() }
        }
        try await runUntilCommitted(worker, records: 60)
        #expect(worker.transactionStatistics.aborted == 1)
        #expect(worker.transactionStatistics.committedRecords == 60)
        // The aborted transaction's ten records were processed twice, published once.
        #expect(enrichment.count == 70)

        try await scenario.expectEveryAlertOnceAndOffsetsCommitted()
    }

    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func aFailedPublishAbortsTheTransactionAndItsRecordsAreRedone() async throws {
        var scenario = try await Scenario(partitions: 1)
        try await scenario.produce(0..<20)
        let enrichment = TestEnrichment(oversizedOnce: ["fp-7"])
        let worker = try scenario.worker(enrichment: enrichment, maxRecordsPerTransaction: 10)
        try await runUntilCommitted(worker, records: 20)
        // The first transaction (0..<10) failed on alert 7 and was redone once.
        #expect(worker.transactionStatistics.aborted == 1)
        #expect(enrichment.count == 30)

        try await scenario.expectEveryAlertOnceAndOffsetsCommitted()
    }

    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func aGracefulStopPastItsDeadlineAbortsTheUnfinishedTransaction() async throws {
        var scenario = try await Scenario(partitions: 1)
        try await scenario.produce(0..<15)
        // Alert 12 never finishes: the second transaction cannot complete by the deadline.
        let blocked = TestEnrichment(holding: ["fp-12"])
        let worker = try scenario.worker(enrichment: blocked, maxRecordsPerTransaction: 10, shutdownDeadline: .milliseconds(300))
        let (group, task) = start(worker)
        var held = blocked.heldAlerts.makeAsyncIterator()
        #expect(await held.next() == "fp-12")
        #expect(await eventually { worker.transactionStatistics.committedRecords == 10 && blocked.count == 14 })
        await group.triggerGracefulShutdown()
        try await task.value
        #expect(worker.transactionStatistics == .init(committed: 1, aborted: 1, committedRecords: 10))

        let visible = try await scenario.committedRecords(of: scenario.topics.classified, expected: 10)
        #expect(try Set(visible.map { try IncidentRecord.decode($0.value ?? []).alert.fingerprint }) == Set((0..<10).map { "fp-\($0)" }))
        #expect(try await scenario.groupOffsets() == [KafkaTopicPartition(topic: scenario.topics.alerts, partition: 0): 10])
    }

    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func aHardStopMidTransactionLeavesNothingVisibleAndARestartFinishesOnce() async throws {
        var scenario = try await Scenario(partitions: 1)
        try await scenario.produce(0..<60)
        // Alert 35 never finishes: the fourth transaction (30..<40) stays open, with the
        // outputs of the alerts around it already written into it.
        let blocked = TestEnrichment(holding: ["fp-35"])
        let worker = try scenario.worker(enrichment: blocked, maxRecordsPerTransaction: 10)
        let (_, task) = start(worker)
        var held = blocked.heldAlerts.makeAsyncIterator()
        #expect(await held.next() == "fp-35")
        #expect(await eventually { worker.transactionStatistics.committedRecords == 30 && blocked.count >= 39 })
        task.cancel()
        _ = await task.result
        #expect(worker.transactionStatistics.committed == 3)

        let visible = try await scenario.committedRecords(of: scenario.topics.classified, expected: 30)
        #expect(visible.count == 30)
        #expect(try await scenario.groupOffsets() == [KafkaTopicPartition(topic: scenario.topics.alerts, partition: 0): 30])

        // Same transactional id and group: resumes at offset 30.
        let enrichment = TestEnrichment()
        let restarted = try scenario.worker(enrichment: enrichment, maxRecordsPerTransaction: 10)
        try await runUntilCommitted(restarted, records: 30)
        #expect(enrichment.count == 30)

        try await scenario.expectEveryAlertOnceAndOffsetsCommitted()
    }

    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func aFencedWorkerStopsWithTheFatalError() async throws {
        var scenario = try await Scenario(partitions: 1)
        try await scenario.produce(0..<10)
        let enrichment = TestEnrichment()
        let worker = try scenario.worker(enrichment: enrichment, maxRecordsPerTransaction: 5)
        let task = Task { try await worker.run() }
        #expect(await eventually { worker.transactionStatistics.committedRecords == 10 })

        // Another instance with the same transactional id fences this one.
        let usurper = try KafkaTransactionalProducer(
            configuration: KafkaProducerConfiguration(common: scenario.common),
            transactionalID: scenario.transactionalID, logger: Scenario.logger
        )
        try await usurper.initTransactions()
        try await scenario.produce(10..<20)

        let result = try #require(await outcome(of: task, within: .seconds(120)), "the fenced worker did not stop")
        let error = try #require(result.failure as? KafkaError)
        #expect(error.isFatal)
        await usurper.close()
        // Nothing of the fenced attempt became visible.
        let visible = try await scenario.committedRecords(of: scenario.topics.classified, expected: 10)
        #expect(visible.count == 10)
        #expect(try await scenario.groupOffsets() == [KafkaTopicPartition(topic: scenario.topics.alerts, partition: 0): 10])
    }

    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func rebalanceCommitsTheOpenTransactionBeforeGivingUpPartitions() async throws {
        // Eager assignment: a late cooperative join stalls in noida-db's coordinator.
        var scenario = try await Scenario(partitions: 4)
        try await scenario.produce(0..<80)
        let first = TestEnrichment()
        // One big transaction: nothing commits until the rebalance does.
        let firstWorker = try scenario.worker(enrichment: first, maxRecordsPerTransaction: 10_000, strategy: .range)
        let (firstGroup, firstTask) = start(firstWorker)
        #expect(await eventually { first.count == 80 })
        #expect(firstWorker.transactionStatistics.committed == 0)

        let second = TestEnrichment()
        let joined = Locked(false)
        var secondScenario = scenario
        secondScenario.transactionalID += "-2"
        let secondWorker = try secondScenario.worker(enrichment: second, maxRecordsPerTransaction: 10_000, strategy: .range, onStateChange: { state in
            if state == .joinedGroup { joined.withLock { $0 = true } }
        })
        let (secondGroup, secondTask) = start(secondWorker)
        // The first worker commits its open transaction while it still owns the
        // partitions it gives up, so the second one starts after its work.
        #expect(await eventually { joined.withLock { $0 } && firstWorker.transactionStatistics.committed == 1 })
        #expect(firstWorker.transactionStatistics.committedRecords == 80)

        try await scenario.produce(80..<120)
        #expect(await eventually { first.count + second.count == 120 })
        await firstGroup.triggerGracefulShutdown()
        await secondGroup.triggerGracefulShutdown()
        try await firstTask.value
        try await secondTask.value
        #expect(second.count > 0)
        #expect(firstWorker.transactionStatistics.committedRecords + secondWorker.transactionStatistics.committedRecords == 120)

        try await scenario.expectEveryAlertOnceAndOffsetsCommitted()
    }
}

extension Result {
    fileprivate var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
