import BreakwaterApp
import Foundation
import Kafka
import ServiceTestSupport
import Locking
import Testing
import Triage
import TriageTestSupport

/// `breakwater redrive` against the real broker scripts/kafka-up started: the DLQ written
/// as the worker writes it, the copies read back from the input topic.
@Suite("redrive against the real broker", .serialized, .timeLimit(.minutes(4)))
struct RedriveKafkaTests {
    static let logger = toolLogger(label: "redrive-tests")

    /// One dead letter as the test wrote it.
    struct Letter {
        var key: [UInt8]?
        var value: [UInt8]
        var original: [RecordHeader]
        var reason: String
    }

    /// Writes `letters` to `topic` as a worker would: original key, value and headers, then
    /// the `breakwater-dlq-*` headers.
    static func write(_ letters: [Letter], to topic: String, bootstrap: String, originalDropped: Bool = false) async throws {
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(common: ToolsKafkaTests.kafka(bootstrap)), logger: logger)
        for (index, letter) in letters.enumerated() {
            let headers = DeadLetter(
                reason: letter.reason, detail: "test", sourceTopic: "alerts", sourcePartition: 0, sourceOffset: Int64(index), time: Date(),
                workerID: "w", originalDropped: originalDropped
            ).headers(appendingTo: letter.original)
            _ = try await producer.send(topic: topic, key: letter.key, value: letter.value,
                                        headers: headers.map { KafkaHeader(name: $0.key, value: $0.value) })
        }
        _ = await producer.close()
    }

    /// Distinct letters: keyed, each value unique, a traceparent among the headers.
    static func letters(_ count: Int, reasons: [String], tag: String) -> [Letter] {
        (0..<count).map { index in
            Letter(key: Array("key-\(index % 7)".utf8), value: Array(#"{"\#(tag)":\#(index)}"#.utf8),
                   original: [RecordHeader("traceparent", "00-\(tag)-\(index)-01"), RecordHeader("content-type", "application/json")],
                   reason: reasons[index % reasons.count])
        }
    }

    /// Every record on `topic`, read until it is quiet for 3 s.
    static func readAll(_ topic: String, bootstrap: String) async throws -> [KafkaMessage] {
        let reader = OutputTopicReader(kafka: ToolsKafkaTests.kafka(bootstrap), clock: ContinuousClock(), logger: logger)
        let read = LockedValue<[KafkaMessage]>([])
        _ = try await reader.read(topics: [topic], fromBeginning: true, idleTimeout: .seconds(3)) { message in
            read.withLock { $0.append(message) }
        }
        return read.withLock { $0 }
    }

    /// What a redriven copy of `letter` must look like: the original headers with the
    /// earlier count (if any) replaced by `count`, last.
    static func picture(of letter: Letter, count: Int) -> String {
        let headers = letter.original.filter { $0.key != DeadLetter.redriveCountHeader } + [RecordHeader(DeadLetter.redriveCountHeader, "\(count)")]
        return ToolsKafkaTests.picture(key: letter.key, value: letter.value, headers: headers.map { ($0.key, $0.value) })
    }

    static func picture(of message: KafkaMessage) -> String {
        ToolsKafkaTests.picture(key: message.key, value: message.value, headers: message.headers.map { ($0.name, $0.value) })
    }

    static func redrive(_ bootstrap: String, dlq: String, alerts: String, group: String, selection: RedriveSelection = RedriveSelection(),
                        limit: Int? = nil) -> DeadLetterRedrive {
        DeadLetterRedrive(kafka: ToolsKafkaTests.kafka(bootstrap), deadLetterTopic: dlq, targetTopic: alerts, groupID: group,
                          selection: selection, limit: limit, logger: logger)
    }

    /// Fresh DLQ and alerts topics with `letters` on the DLQ.
    static func topics(_ bootstrap: String, _ prefix: String, partitions: Int32, letters: [Letter]) async throws -> (dlq: String, alerts: String) {
        let names = try await ToolsKafkaTests.createTopics(bootstrap, ["\(prefix)-dlq", "\(prefix)-alerts"], partitions: partitions)
        try await write(letters, to: names[0], bootstrap: bootstrap)
        return (names[0], names[1])
    }

    static func producer(_ bootstrap: String) throws -> KafkaProducer {
        try KafkaProducer(configuration: KafkaProducerConfiguration(common: ToolsKafkaTests.kafka(bootstrap)), logger: logger)
    }

    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func theCommandSendsTheSelectedLettersOnceAndSkipsWhatTheLoopGuardAndTheFiltersHold() async throws {
        let bootstrap = try ExternalService.kafka.require()
        let names = try await ToolsKafkaTests.createTopics(bootstrap, ["redrive-dlq", "redrive-alerts"], partitions: 3)
        defer { Task { await ToolsKafkaTests.deleteTopics(bootstrap, names) } }
        let (dlq, alerts) = (names[0], names[1])
        let fresh = Self.letters(30, reasons: ["invalid_json", "too_large", "unknown_format"], tag: "fresh")
        var looping = Self.letters(4, reasons: ["invalid_json"], tag: "looping")
        for index in looping.indices { looping[index].original.append(RecordHeader(DeadLetter.redriveCountHeader, index < 2 ? "3" : "2")) }
        try await Self.write(fresh + looping, to: dlq, bootstrap: bootstrap)
        try await Self.write([Letter(key: nil, value: [], original: [], reason: "publish_failed")], to: dlq, bootstrap: bootstrap,
                             originalDropped: true)
        let environment = ["BREAKWATER_KAFKA_BOOTSTRAP_SERVERS": bootstrap]
        let group = "redrive-cli-\(UUID().uuidString.prefix(8))"
        let arguments = ["redrive", "--reason", "invalid_json,too_large", "--reason", "publish_failed", "--group", group,
                         "--set", "topics.deadLetter=\(dlq)", "--set", "topics.alerts=\(alerts)"]

        let dry = try breakwater(arguments + ["--dry-run"], environment: environment)
        #expect(dry.status == 0, "\(dry.error)")
        #expect(dry.output.contains("dry run (nothing sent, progress untouched): \(dlq) → \(alerts), group \(group)"))
        #expect(dry.output.contains("dead letters read: 35 of 35"))
        #expect(dry.output.contains("would redrive to \(alerts): 22\n  invalid_json               12\n  too_large                  10"))
        #expect(dry.output.contains("skipped by the loop guard (redriven 3 times already): 2\n  invalid_json               2"))
        #expect(dry.output.contains("passed over by the filters: 10\n  unknown_format             10"))
        #expect(dry.output.contains("cannot be redriven: 1\n  original dropped           1"))
        #expect(try await Self.readAll(alerts, bootstrap: bootstrap).isEmpty, "a dry run sends nothing")

        let run = try breakwater(arguments, environment: environment)
        #expect(run.status == 0, "\(run.error)")
        #expect(run.output.contains("redrive: \(dlq) → \(alerts), group \(group)"))
        #expect(run.output.contains("dead letters read: 35 of 35"), "the dry run left the group where it was")
        #expect(run.output.contains("redriven to \(alerts): 22\n"))
        #expect(run.output.contains("caught up"))
        #expect(run.error.contains("redrive: 35/35 records (100%)"))  // not a terminal: plain progress lines

        let selected = fresh.filter { $0.reason != "unknown_format" }
        let expected = selected.map { Self.picture(of: $0, count: 1) } + looping[2...].map { Self.picture(of: $0, count: 3) }
        let copies = try await Self.readAll(alerts, bootstrap: bootstrap)
        #expect(copies.map(Self.picture(of:)).sorted() == expected.sorted())

        // The same command again: everything was committed, nothing goes twice.
        let again = try breakwater(arguments, environment: environment)
        #expect(again.status == 0, "\(again.error)")
        #expect(again.output.contains("dead letters read: 0 of 0"))
        #expect(again.output.contains("redriven to \(alerts): 0\n"))
        #expect(try await Self.readAll(alerts, bootstrap: bootstrap).count == copies.count)

        // Another selection has its own group, so the letters the first one passed over go now.
        let others = try breakwater(["redrive", "--reason", "unknown_format", "--set", "topics.deadLetter=\(dlq)",
                                     "--set", "topics.alerts=\(alerts)"], environment: environment)
        #expect(others.status == 0, "\(others.error)")
        #expect(others.output.contains("group breakwater-redrive.reason=unknown_format"))
        #expect(others.output.contains("redriven to \(alerts): 10\n"))

        let bad = try breakwater(["redrive", "--reason", "nonsense"], environment: environment)
        #expect(bad.status == 64)
        #expect(bad.error.contains("unknown --reason nonsense"))
    }

    /// A producer that, at the `at`-th record, does what `mishap` says: queues it and
    /// then cancels the redrive's task (as Ctrl-C does), or fails its delivery unsent.
    final class SinkWithAMishap: AlertRecordSink {
        enum Mishap { case interruptAfterQueuing, failDelivery }
        let base: KafkaProducer
        let at: Int
        let mishap: Mishap
        private let submitted = LockedValue(0)
        /// Cancels the redrive's task; set once the task exists.
        let interrupt = LockedValue<(@Sendable () -> Void)?>(nil)

        init(base: KafkaProducer, at: Int, mishap: Mishap) {
            (self.base, self.at, self.mishap) = (base, at, mishap)
        }

        func submit(_ record: KafkaProducerRecord, onDelivery: @escaping @Sendable ((any Error)?) -> Void) async throws {
            let reached = submitted.withLock { $0 += 1; return $0 } == at
            if reached, mishap == .failDelivery { return onDelivery(Refused()) }
            try await base.submit(record, onDelivery: onDelivery)
            guard reached else { return }
            while true {
                if let interrupt = interrupt.withLock({ $0 }) { return interrupt() }
                await Task.yield()
            }
        }
    }

    struct Refused: Error, CustomStringConvertible {
        var description: String { "refused by the test" }
    }

    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func anInterruptedRedriveResumesWhereItStoppedWithoutSendingTwice() async throws {
        let bootstrap = try ExternalService.kafka.require()
        let letters = Self.letters(200, reasons: ["invalid_json"], tag: "int")
        let (dlq, alerts) = try await Self.topics(bootstrap, "redrive-int", partitions: 2, letters: letters)
        defer { Task { await ToolsKafkaTests.deleteTopics(bootstrap, [dlq, alerts]) } }
        let group = uniqueName("redrive-int")

        let producer = try Self.producer(bootstrap)
        let sink = SinkWithAMishap(base: producer, at: 60, mishap: .interruptAfterQueuing)
        let redrive = Self.redrive(bootstrap, dlq: dlq, alerts: alerts, group: group)
        let task = Task { try await redrive.run(to: sink) }
        sink.interrupt.withLock { $0 = { task.cancel() } }
        let first = try await task.value
        #expect(first.stop == .interrupted)
        #expect(first.redrivenCount == 60, "what was queued before Ctrl-C is awaited and counted, nothing after it is sent")
        #expect(first.succeeded)

        let second = try await Self.redrive(bootstrap, dlq: dlq, alerts: alerts, group: group).run(to: producer)
        _ = await producer.close()
        #expect(second.stop == .caughtUp)
        #expect(second.toRead == 140)
        #expect(second.redrivenCount == 140)

        let copies = try await Self.readAll(alerts, bootstrap: bootstrap).map(Self.picture(of:))
        #expect(copies.count == 200, "every letter exactly once")
        #expect(copies.sorted() == letters.map { Self.picture(of: $0, count: 1) }.sorted())
    }

    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func aFailedSendIsNotCommittedSoTheNextRunSendsIt() async throws {
        let bootstrap = try ExternalService.kafka.require()
        let letters = Self.letters(40, reasons: ["too_large"], tag: "fail")
        let (dlq, alerts) = try await Self.topics(bootstrap, "redrive-fail", partitions: 1, letters: letters)
        defer { Task { await ToolsKafkaTests.deleteTopics(bootstrap, [dlq, alerts]) } }
        let group = uniqueName("redrive-fail")

        let producer = try Self.producer(bootstrap)
        let first = try await Self.redrive(bootstrap, dlq: dlq, alerts: alerts, group: group)
            .run(to: SinkWithAMishap(base: producer, at: 10, mishap: .failDelivery))
        #expect(first.stop == .failed)
        #expect(first.counts.failed == 1)
        #expect(!first.succeeded)
        #expect(first.counts.errors == ["refused by the test": 1])
        #expect(first.redrivenCount >= 9)

        let second = try await Self.redrive(bootstrap, dlq: dlq, alerts: alerts, group: group).run(to: producer)
        _ = await producer.close()
        #expect(second.succeeded)
        #expect(second.toRead == 31, "the commit stopped at the failed record")

        let copies = try await Self.readAll(alerts, bootstrap: bootstrap).map(Self.picture(of:))
        #expect(Set(copies) == Set(letters.map { Self.picture(of: $0, count: 1) }), "nothing lost")
        #expect(copies.count == first.redrivenCount + second.redrivenCount)
    }
}
