import Foundation
import Kafka
import Resilience
import ServiceTestSupport
import Testing
import Triage
import TriageTestSupport

/// The worker against the real broker: delivery guarantees end to end. One test at a
/// time (each live consumer costs the broker about a third of a core); every test uses
/// its own topics and group.
@Suite("PipelineWorker against the real broker", .serialized, .timeLimit(.minutes(3)))
struct PipelineWorkerTests {
    /// 9,000 valid records of every format and 1,000 malformed ones, interleaved.
    static func mixedSamples(seed: UInt64, valid: Int, malformed: Int) -> [SampleRecord] {
        var generator = SampleAlerts(seed: seed)
        let good = generator.records(count: valid)
        let bad = generator.malformed(count: malformed)
        var mixed: [SampleRecord] = []
        let every = max(1, (valid + malformed) / max(malformed, 1))
        var goodIterator = good.makeIterator()
        var badIterator = bad.makeIterator()
        for position in 0..<(valid + malformed) {
            if position % every == every - 1, let next = badIterator.next() {
                mixed.append(next)
            } else if let next = goodIterator.next() {
                mixed.append(next)
            } else if let next = badIterator.next() {
                mixed.append(next)
            }
        }
        return mixed
    }

    @Test("two workers in one group account for 10,000 mixed inputs and commit to the end", .enabled(if: ExternalService.kafka.shouldRun))
    func twoWorkersAccountForEveryInput() async throws {
        let broker = try Broker()
        let schemas = try OutputSchemas()
        let topics = try await broker.makeTopics("e2e", alertPartitions: 6)
        let group = uniqueName("workers")
        let first = try RunningWorker.start(id: "worker-a", group: group, topics: topics, broker: broker)
        await first.log.waitFor(.joinedGroup)
        let second = try RunningWorker.start(id: "worker-b", group: group, topics: topics, broker: broker)
        // Both members own partitions before any input exists: no rebalance moves work
        // mid-flight, so every output must appear exactly once.
        await second.log.waitFor(.joinedGroup)

        let inputs = try await produceInputs(Self.mixedSamples(seed: 41, valid: 9_000, malformed: 1_000), to: topics.alerts, broker: broker)
        #expect(inputs.count == 10_000)
        #expect(inputs.filter { $0.expectedDeadLetterReason != nil }.count == 1_000)
        #expect(Set(inputs.compactMap(\.sample.format)) == Set(InputFormat.allCases))

        let ledger = try await readOutputs(topics, inputs: inputs, broker: broker, schemas: schemas)
        expectAccounted(inputs, in: ledger, exactlyOnce: true)
        #expect(ledger.incidentCount == inputs.reduce(0) { $0 + $1.expectedIncidents.values.reduce(0, +) })
        #expect(ledger.fallbackCount == inputs.reduce(0) { $0 + $1.expectedFallbacks })
        #expect(ledger.workers == ["worker-a", "worker-b"], "both members did work")

        let ends = endOffsets(of: inputs)
        #expect(ends.count == 6)
        let committed = try await broker.waitForCommitted(group: group, topic: topics.alerts, partitions: 6) { reached(ends, $0) }
        #expect(committed == ends)

        try await first.stop()
        try await second.stop()
        #expect(first.log.states == [.joinedGroup, .draining, .stopped])
        #expect(second.log.states == [.joinedGroup, .draining, .stopped])
    }

    @Test("a worker stopped gracefully mid-run finishes its in-flight work; the other takes over; nothing is lost",
          .enabled(if: ExternalService.kafka.shouldRun))
    func gracefulStopMidRunLosesNothing() async throws {
        let broker = try Broker()
        let schemas = try OutputSchemas()
        let topics = try await broker.makeTopics("stop", alertPartitions: 6)
        let group = uniqueName("workers")
        // The stopping worker's step blocks until the test opens the gate, so the stop
        // lands while it is provably mid-record.
        let gate = Gate()
        let stopping = try RunningWorker.start(
            id: "worker-stopping", group: group, topics: topics, broker: broker,
            configure: { $0.maxInFlight = 8 }, classification: FixedClassification(gate: gate)
        )
        await stopping.log.waitFor(.joinedGroup)
        let staying = try RunningWorker.start(id: "worker-staying", group: group, topics: topics, broker: broker)
        await staying.log.waitFor(.joinedGroup)

        let inputs = try await produceInputs(Self.mixedSamples(seed: 42, valid: 1_800, malformed: 200), to: topics.alerts, broker: broker)
        await gate.waitForArrivals(1)
        let stopped = Task { try await stopping.stop() }
        await stopping.log.waitFor(.draining)
        gate.open()
        try await stopped.value
        #expect(stopping.log.states == [.joinedGroup, .draining, .stopped])

        let ledger = try await readOutputs(topics, inputs: inputs, broker: broker, schemas: schemas)
        expectAccounted(inputs, in: ledger, exactlyOnce: false)
        #expect(ledger.workers.contains("worker-stopping"), "the stopped worker finished its in-flight work")
        let ends = endOffsets(of: inputs)
        let committed = try await broker.waitForCommitted(group: group, topic: topics.alerts, partitions: 6) { reached(ends, $0) }
        #expect(committed == ends)
        try await staying.stop()
    }

    @Test("work still stuck at the shutdown deadline is not committed and is redone by the next owner",
          .enabled(if: ExternalService.kafka.shouldRun))
    func shutdownDeadlineLeavesStuckWorkToTheNextOwner() async throws {
        let broker = try Broker()
        let schemas = try OutputSchemas()
        let topics = try await broker.makeTopics("deadline", alertPartitions: 4)
        let group = uniqueName("workers")
        let gate = Gate()  // never opened: the stuck work only ends by cancellation
        let clock = ManualClock()
        let stuck = try RunningWorker.start(
            id: "worker-stuck", group: group, topics: topics, broker: broker,
            configure: {
                $0.maxInFlight = 4
                $0.shutdownDeadline = .seconds(5)
                $0.lagInterval = .seconds(3_600)
            },
            classification: FixedClassification(gate: gate), clock: clock
        )
        await stuck.log.waitFor(.joinedGroup)
        let inputs = try await produceInputs(Self.mixedSamples(seed: 43, valid: 400, malformed: 40), to: topics.alerts, broker: broker)
        await gate.waitForArrivals(1)

        let stopped = Task { try await stuck.stop() }
        await stuck.log.waitFor(.draining)
        // The lag reporter's sleep and the drain deadline's: then end the deadline.
        await Bounded.sleepers(2, on: clock, context: stuck.log.summary)
        clock.advance(by: .seconds(5))
        try await stopped.value
        #expect(stuck.log.states == [.joinedGroup, .draining, .stopped])
        let committedAfterStop = try await broker.committed(group: group, topic: topics.alerts, partitions: 4)
        let ends = endOffsets(of: inputs)
        #expect(!reached(ends, committedAfterStop), "stuck work must not be committed")

        let next = try RunningWorker.start(id: "worker-next", group: group, topics: topics, broker: broker)
        let ledger = try await readOutputs(topics, inputs: inputs, broker: broker, schemas: schemas)
        expectAccounted(inputs, in: ledger, exactlyOnce: false)
        let committed = try await broker.waitForCommitted(group: group, topic: topics.alerts, partitions: 4) { reached(ends, $0) }
        #expect(committed == ends)
        try await next.stop()
    }

    @Test("every malformed record ends in the DLQ with its reason and original bytes; the next good record is processed",
          .enabled(if: ExternalService.kafka.shouldRun))
    func malformedCorpusIsDeadLettered() async throws {
        let broker = try Broker()
        let schemas = try OutputSchemas()
        // The corpus holds records of several MB (10,000 alerts, huge strings): raise the
        // record limits of the input and DLQ topics and of both producers.
        let limit = "67108864"
        let topics = try await broker.makeTopics(
            "malformed", alertPartitions: 1, alertConfigs: ["max.message.bytes": limit], deadLetterConfigs: ["max.message.bytes": limit]
        )
        var corpus = MalformedAlerts.corpus(seed: 44)
        #expect(corpus.count >= 200)
        var generator = SampleAlerts(seed: 45)
        corpus.append(generator.next(format: .alertmanagerWebhook))
        let group = uniqueName("workers")
        let worker = try RunningWorker.start(
            id: "worker-malformed", group: group, topics: topics, broker: broker,
            configure: { $0.maxInFlight = 16 }, producerConfiguration: { $0.common.properties["message.max.bytes"] = limit }
        )
        await worker.log.waitFor(.joinedGroup)
        let inputs = try await produceInputs(corpus, to: topics.alerts, broker: broker) { $0.common.properties["message.max.bytes"] = limit }

        let ledger = try await readOutputs(topics, inputs: inputs, broker: broker, schemas: schemas)
        expectAccounted(inputs, in: ledger, exactlyOnce: true)
        for input in inputs.dropLast() {
            #expect(input.expectedDeadLetterReason != nil, "\(input.sample.name) decodes")
            if let reason = input.sample.expectedReason {
                #expect(input.expectedDeadLetterReason == reason.rawValue, "\(input.sample.name)")
            }
        }
        let good = try #require(inputs.last)
        #expect(good.expectedDeadLetterReason == nil && !good.expectedIncidents.isEmpty)
        let ends = endOffsets(of: inputs)
        let committed = try await broker.waitForCommitted(group: group, topic: topics.alerts, partitions: 1) { reached(ends, $0) }
        #expect(committed == ends)
        try await worker.stop()
        #expect(worker.log.states == [.joinedGroup, .draining, .stopped])
    }

    @Test("a full in-flight bound pauses the partitions; they resume and everything finishes when work drains",
          .enabled(if: ExternalService.kafka.shouldRun))
    func fullBoundPausesPartitionsUntilWorkDrains() async throws {
        let broker = try Broker()
        let schemas = try OutputSchemas()
        let topics = try await broker.makeTopics("backpressure", alertPartitions: 2)
        let gate = Gate()
        let group = uniqueName("workers")
        let worker = try RunningWorker.start(
            id: "worker-bounded", group: group, topics: topics, broker: broker,
            configure: { $0.maxInFlight = 2 }, classification: FixedClassification(gate: gate)
        )
        await worker.log.waitFor(.joinedGroup)
        // One alert per record, so one step call per record in flight.
        var generator = SampleAlerts(seed: 46)
        let firstBatch = try await produceInputs(
            generator.records(count: 10, formats: [.alertmanagerAlert, .pagerduty]), to: topics.alerts, broker: broker
        )

        let paused = await worker.log.waitForEvent { if case .partitionsPaused = $0 { true } else { false } }
        #expect(paused == .partitionsPaused([
            KafkaTopicPartition(topic: topics.alerts, partition: 0), KafkaTopicPartition(topic: topics.alerts, partition: 1),
        ]))
        // The gate is shut, so nothing can finish: exactly the bound is in flight, and no
        // third record reached the step.
        await gate.waitForArrivals(2)
        #expect(worker.worker.inFlight == 2)
        #expect(gate.arrivals == 2)

        gate.open()
        let firstLedger = try await readOutputs(topics, inputs: firstBatch, broker: broker, schemas: schemas)
        expectAccounted(firstBatch, in: firstLedger, exactlyOnce: true)
        let resumed = await worker.log.waitForEvent { if case .partitionsResumed = $0 { true } else { false } }
        #expect(resumed != nil)
        // Resumed for real: records produced after the drain are fetched and processed.
        let secondBatch = try await produceInputs(
            generator.records(count: 10, formats: [.alertmanagerAlert, .pagerduty]), to: topics.alerts, broker: broker, firstIndex: 10
        )
        let all = firstBatch + secondBatch
        let ledger = try await readOutputs(topics, inputs: all, broker: broker, schemas: schemas)
        expectAccounted(all, in: ledger, exactlyOnce: true)
        #expect(gate.peak <= 2)
        let ends = endOffsets(of: all)
        let committed = try await broker.waitForCommitted(group: group, topic: topics.alerts, partitions: 2) { reached(ends, $0) }
        #expect(committed == ends)
        try await worker.stop()
    }

    @Test("a bound hit while work still finishes only stops polling: no pause, nothing prefetched is thrown away",
          .enabled(if: ExternalService.kafka.shouldRun))
    func aBrieflyFullBoundDoesNotPause() async throws {
        let broker = try Broker()
        let schemas = try OutputSchemas()
        let topics = try await broker.makeTopics("no-churn", alertPartitions: 2)
        let gate = Gate()
        let group = uniqueName("workers")
        // On a manual clock the pause timer never fires unless the test moves the clock.
        let clock = ManualClock()
        let worker = try RunningWorker.start(
            id: "worker-no-churn", group: group, topics: topics, broker: broker,
            configure: {
                $0.maxInFlight = 2
                $0.lagInterval = .seconds(3_600)
            },
            classification: FixedClassification(gate: gate), clock: clock
        )
        await worker.log.waitFor(.joinedGroup)
        var generator = SampleAlerts(seed: 47)
        let inputs = try await produceInputs(
            generator.records(count: 20, formats: [.alertmanagerAlert, .pagerduty]), to: topics.alerts, broker: broker
        )
        // The bound is hit and the loop waits for room: the lag reporter's sleep and the
        // pause timer's are on the clock, and the partitions are not paused.
        await gate.waitForArrivals(2)
        await Bounded.sleepers(2, on: clock, context: worker.log.summary)
        #expect(worker.worker.inFlight == 2)

        gate.open()
        let ledger = try await readOutputs(topics, inputs: inputs, broker: broker, schemas: schemas)
        expectAccounted(inputs, in: ledger, exactlyOnce: true)
        #expect(!worker.log.events.contains { if case .partitionsPaused = $0 { true } else { false } })
        #expect(gate.peak <= 2)
        let ends = endOffsets(of: inputs)
        let committed = try await broker.waitForCommitted(group: group, topic: topics.alerts, partitions: 2) { reached(ends, $0) }
        #expect(committed == ends)
        try await worker.stop()
    }

    @Test("a consumer that keeps failing without progress is reported failing (readiness follows)",
          .enabled(if: ExternalService.kafka.shouldRun))
    func aConsumerStuckOnRefusedFetchesIsReportedFailing() async throws {
        let broker = try Broker()
        let topics = try await broker.makeTopics("refused", alertPartitions: 1)
        let producer = try broker.producer()
        // 1 MB of backlog in one partition: the local broker sends it as one response.
        for index in 0..<20 {
            _ = try await producer.send(KafkaProducerRecord(
                topic: topics.alerts, key: Array("k\(index)".utf8), value: Array(repeating: UInt8(ascii: " "), count: 50_000)
            ))
        }
        await producer.close()
        let worker = try RunningWorker.start(
            id: "worker-refused", group: uniqueName("workers"), topics: topics, broker: broker,
            configure: { $0.lagInterval = .milliseconds(200) },
            consumerProperties: [
                "receive.message.max.bytes": "100000", "fetch.max.bytes": "50000", "fetch.message.max.bytes": "50000",
                "message.max.bytes": "50000", "reconnect.backoff.max.ms": "200",
            ]
        )
        let failing = await eventually(within: .seconds(90)) {
            worker.log.states.contains { if case .consumerFailing = $0 { true } else { false } }
        }
        #expect(failing, "states: \(worker.log.states)")
        #expect(worker.worker.inFlight == 0)
        try await worker.stop()
    }

    @Test("an output the topic rejects holds the input's offset while retrying, then dead-letters it as publish_failed",
          .enabled(if: ExternalService.kafka.shouldRun))
    func rejectedOutputHoldsTheOffsetThenDeadLetters() async throws {
        let broker = try Broker()
        let schemas = try OutputSchemas()
        // Incidents above 8 KiB do not fit `incidents.classified`.
        let topics = try await broker.makeTopics("rejected", alertPartitions: 1, classifiedConfigs: ["max.message.bytes": "8192"])
        let clock = ManualClock()
        let group = uniqueName("workers")
        let worker = try RunningWorker.start(
            id: "worker-rejected", group: group, topics: topics, broker: broker,
            configure: {
                $0.atLeastOnce.maxRejectedAttempts = 3
                $0.atLeastOnce.publishBackoff = .seconds(1)
                $0.atLeastOnce.maxPublishBackoff = .seconds(1)
                $0.lagInterval = .seconds(3_600)
            },
            // One record per produce request, so the limit applies to each incident alone.
            producerConfiguration: { $0.common.properties["batch.num.messages"] = "1" },
            clock: clock
        )
        await worker.log.waitFor(.joinedGroup)
        var generator = SampleAlerts(seed: 47)
        var huge = generator.next(format: .alertmanagerAlert)
        huge.name = "alert with a 20 KB description"
        huge.key = Array("huge".utf8)
        huge.value = Array(#"{"status":"firing","labels":{"alertname":"HugeDescription","service":"checkout","instance":"i-1","severity":"critical"},"annotations":{"summary":"huge","description":"\#(String(repeating: "x", count: 20_000))"},"startsAt":"2026-11-29T10:00:00Z","endsAt":"0001-01-01T00:00:00Z"}"#.utf8)
        let inputs = try await produceInputs(
            [generator.next(format: .alertmanagerAlert), huge, generator.next(format: .pagerduty)], to: topics.alerts, broker: broker
        )
        let (before, rejected, after) = (inputs[0], inputs[1], inputs[2])
        #expect(!rejected.expectedIncidents.isEmpty)

        // The first attempt failed; the worker sleeps before the next (on the manual clock).
        let firstFailure = await worker.log.waitForEvent {
            if case .publishFailed(let source, 1, _) = $0 { source.offset == rejected.offset } else { false }
        }
        #expect(firstFailure != nil)
        // The records around it are done; the commit reaches the failing one and stops there.
        // The held input's fallback event fits its topic and may already be there.
        let around = try await readOutputs(topics, inputs: [before, rejected.withNothingRequired, after], broker: broker, schemas: schemas)
        expectAccounted([before, after], in: around, exactlyOnce: true)
        let held = try await broker.waitForCommitted(group: group, topic: topics.alerts, partitions: 1) { ($0[0] ?? -1) >= rejected.offset }
        #expect(held[0] == rejected.offset, "the offset of an input whose outputs are not all acknowledged is never committed")

        // Retries with backoff until the third rejection, then the input is dead-lettered.
        for attempt in 2...3 {
            await Bounded.sleepers(2, on: clock, context: worker.log.summary)
            #expect(try await broker.committed(group: group, topic: topics.alerts, partitions: 1)[0] == rejected.offset)
            clock.advance(by: .seconds(1))
            let failure = await worker.log.waitForEvent {
                if case .publishFailed(let source, attempt, _) = $0 { source.offset == rejected.offset } else { false }
            }
            #expect(failure != nil)
        }
        let rejection = await worker.log.waitForEvent { if case .publishRejected = $0 { true } else { false } }
        if case .publishRejected(let source, let topic, _) = rejection {
            #expect(source.offset == rejected.offset)
            #expect(topic == topics.classified)
        } else {
            Issue.record("no publishRejected event")
        }

        let deadLetter = try await readDeadLetters(topics, broker: broker, count: 1)
        let letter = try #require(deadLetter.first)
        let headers = letter.headers.map { RecordHeader(key: $0.name, value: $0.value) }
        let dead = try #require(DeadLetter(headers: headers))
        #expect(dead.reason == DeadLetter.publishFailedReason)
        #expect(dead.sourceOffset == rejected.offset)
        #expect(dead.detail.contains(topics.classified))
        #expect(letter.value == rejected.sample.value)
        #expect(Array(headers.prefix(rejected.headers.count)) == rejected.headers)
        let fields = headers.filter { $0.key.hasPrefix(DeadLetter.Header.prefix) }.map { ($0.key, JSONValue.string($0.stringValue ?? "")) }
        #expect(try schemas.deadLetterHeaders.validate(.object(Dictionary(fields, uniquingKeysWith: { $1 }))).isEmpty)

        let ends = endOffsets(of: inputs)
        let committed = try await broker.waitForCommitted(group: group, topic: topics.alerts, partitions: 1) { reached(ends, $0) }
        #expect(committed == ends)
        try await worker.stop()
    }
}
