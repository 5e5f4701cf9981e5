import BreakwaterApp
import Foundation
import Kafka
import Locking
import Testing
import Triage

/// A sink that acknowledges from another thread, failing the deliveries and refusing the
/// enqueues whose 1-based positions are listed.
final class FakeSink: AlertRecordSink {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    let failDeliveries: Set<Int>
    let refuse: Set<Int>
    let received = LockedValue<[KafkaProducerRecord]>([])

    init(failDeliveries: Set<Int> = [], refuse: Set<Int> = []) {
        self.failDeliveries = failDeliveries
        self.refuse = refuse
    }

    func submit(_ record: KafkaProducerRecord, onDelivery: @escaping @Sendable ((any Error)?) -> Void) async throws {
        let position = received.withLock { $0.append(record); return $0.count }
        if refuse.contains(position) { throw Failure(description: "queue full") }
        let fails = failDeliveries.contains(position)
        DispatchQueue.global().async { onDelivery(fails ? Failure(description: "message timed out") : nil) }
    }
}

@Suite("produce: samples, sending and reporting")
struct ToolsProduceTests {
    static let now = Date(timeIntervalSince1970: 1_795_947_330)

    @Test func generatedSamplesCycleThroughEveryFormat() {
        let records = SampleBatch.records(count: 12, seed: 3, now: Self.now)
        #expect(records.count == 12)
        #expect(Set(records.compactMap(\.format)) == Set(InputFormat.allCases))
        #expect(records.allSatisfy { $0.alertCount >= 1 && $0.key != nil })
    }

    @Test func generatedSamplesAreReproducibleFromTheSeed() {
        let first = SampleBatch.records(count: 20, malformed: 3, seed: 9, now: Self.now)
        #expect(first == SampleBatch.records(count: 20, malformed: 3, seed: 9, now: Self.now))
        #expect(first != SampleBatch.records(count: 20, malformed: 3, seed: 10, now: Self.now))
    }

    @Test func generatedSamplesDecodeToTheirPromisedAlertCounts() throws {
        let decoder = AlertDecoder()
        for record in SampleBatch.records(count: 18, seed: 5, now: Self.now) {
            let alerts = try decoder.decode(InputRecord(value: record.value, headers: record.headers))
            #expect(alerts.count == record.alertCount, "\(record.origin)")
        }
    }

    @Test func malformedRecordsAreSpreadEvenlyAmongTheValidOnes() {
        let records = SampleBatch.records(count: 9, malformed: 2, seed: 1, now: Self.now)
        #expect(records.count == 11)
        #expect(records.indices.filter { records[$0].isMalformed } == [3, 7])
        let onlyBad = SampleBatch.records(count: 0, malformed: 4, seed: 1, now: Self.now)
        #expect(onlyBad.count == 4 && onlyBad.allSatisfy(\.isMalformed))
    }

    @Test func aFormatsListIsParsedAndValidated() throws {
        #expect(try SampleBatch.formats(from: "pagerduty, grafana_webhook,pagerduty") == [.pagerduty, .grafanaWebhook])
        let records = SampleBatch.records(count: 4, formats: [.pagerduty], seed: 1, now: Self.now)
        #expect(records.allSatisfy { $0.format == .pagerduty })
        #expect(throws: ToolError.self) { try SampleBatch.formats(from: "pagerduty,nagios") }
        #expect(throws: ToolError("--formats names no format")) { try SampleBatch.formats(from: " , ") }
    }

    @Test func everyRecordIsSentInOrderWithItsKeyAndHeaders() async {
        let records = SampleBatch.records(count: 30, malformed: 2, seed: 2, now: Self.now)
        let sink = FakeSink()
        let summary = await AlertProducerRun(topic: "alerts-test", clock: ContinuousClock()).send(records, to: sink)
        let sent = sink.received.withLock { $0 }
        #expect(sent.map(\.value) == records.map(\.value))
        #expect(sent.map(\.key) == records.map(\.key))
        #expect(sent.allSatisfy { $0.topic == "alerts-test" })
        #expect(sent.map { $0.headers.map(\.name) } == records.map { $0.headers.map(\.key) })
        #expect(summary.records == 32)
        #expect(summary.delivered == 32)
        #expect(summary.failed == 0)
        #expect(summary.alerts == records.map(\.alertCount).reduce(0, +))
        #expect(summary.malformed == 2)
        #expect(summary.byFormat.values.reduce(0, +) == 30)
        #expect(summary.errors.isEmpty)
    }

    @Test func failedDeliveriesAndRefusedRecordsAreCountedNotLost() async {
        let records = SampleBatch.records(count: 10, seed: 4, now: Self.now)
        let sink = FakeSink(failDeliveries: [2, 5, 6], refuse: [9])
        let finals = LockedValue<[ProduceProgress]>([])
        let summary = await AlertProducerRun(topic: "t", clock: ContinuousClock())
            .send(records, to: sink) { progress in finals.withLock { $0.append(progress) } }
        #expect(summary.delivered == 6)
        #expect(summary.failed == 4)
        #expect(summary.errors == ["message timed out": 3, "queue full": 1])
        let delivered = [1, 3, 4, 7, 8, 10].map { records[$0 - 1].alertCount }.reduce(0, +)
        #expect(summary.alerts == delivered)
        let last = finals.withLock { $0.last }
        #expect(last?.finished == 10)
        #expect(last?.failed == 4)
        #expect(summary.finalLine.hasPrefix("sent 6/10 records to t (\(delivered) alerts, 0 malformed), 4 failed, in "))
    }

    @Test func longFailureMessagesAreCut() async {
        let long = String(repeating: "x", count: 500)
        struct Long: Error, CustomStringConvertible { let description: String }
        final class LongFailureSink: AlertRecordSink {
            let message: String
            init(message: String) { self.message = message }
            func submit(_ record: KafkaProducerRecord, onDelivery: @escaping @Sendable ((any Error)?) -> Void) async throws {
                throw Long(description: message)
            }
        }
        let records = SampleBatch.records(count: 2, seed: 4, now: Self.now)
        let summary = await AlertProducerRun(topic: "t", clock: ContinuousClock()).send(records, to: LongFailureSink(message: long))
        #expect(summary.errors == [String(repeating: "x", count: 199) + "…": 2])
    }

    /// Cancels the sending task from inside the third submit, as Ctrl-C would mid-run.
    /// Cancels the sending task (as Ctrl-C does) right after the third record is queued.
    final class CancellingSink: AlertRecordSink {
        let inner = FakeSink(failDeliveries: [2])
        func submit(_ record: KafkaProducerRecord, onDelivery: @escaping @Sendable ((any Error)?) -> Void) async throws {
            try await inner.submit(record, onDelivery: onDelivery)
            if inner.received.withLock({ $0.count }) == 3 { withUnsafeCurrentTask { $0?.cancel() } }
        }
    }

    @Test func aCancelledRunStopsQueuingButAwaitsWhatWasQueued() async throws {
        let records = SampleBatch.records(count: 10, seed: 4, now: Self.now)
        // In a task of its own: cancelling the test's task would cancel the test itself,
        // and a cancelled test's expectations are not reported.
        let run = Task { await AlertProducerRun(topic: "t", clock: ContinuousClock()).send(records, to: CancellingSink()) }
        let summary = await run.value
        #expect(run.isCancelled)
        #expect(summary.delivered == 2)
        #expect(summary.failed == 1)
        #expect(summary.notSent == 7)
        #expect(summary.finalLine.contains("1 failed, 7 not sent (interrupted), in "))
        #expect(ProduceExpectation(summary).notSent == 7)
    }

    @Test func aRunWhereNothingCouldBeQueuedEnds() async {
        let records = SampleBatch.records(count: 3, seed: 4, now: Self.now)
        let summary = await AlertProducerRun(topic: "t", clock: ContinuousClock()).send(records, to: FakeSink(refuse: [1, 2, 3]))
        #expect(summary.delivered == 0)
        #expect(summary.failed == 3)
    }

    @Test func theExpectationFileHasTheDocumentedFields() throws {
        let summary = ProduceSummary(topic: "alerts", records: 12, delivered: 11, failed: 1, alerts: 20, malformed: 2,
                                     byFormat: ["pagerduty": 9], errors: ["boom": 1], elapsed: .seconds(2))
        #expect(summary.rate == 5.5)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("expect-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try ProduceExpectation(summary).write(to: path)
        let data = try #require(FileManager.default.contents(atPath: path))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["alerts"] as? Int == 20)
        #expect(object["malformed"] as? Int == 2)
        #expect(object["delivered"] as? Int == 11)
        #expect(object["failed"] as? Int == 1)
        #expect(object["records_per_second"] as? Double == 5.5)
        #expect((object["by_format"] as? [String: Int]) == ["pagerduty": 9])
        #expect(try JSONDecoder().decode(ProduceExpectation.self, from: data) == ProduceExpectation(summary))
        #expect(throws: ToolError.self) { try ProduceExpectation(summary).write(to: "/nonexistent-dir/e.json") }
    }

    @Test func theProgressBarAndLineShowCountsFailuresAndRate() {
        let half = ProduceProgress(total: 1000, delivered: 498, failed: 2, elapsed: .seconds(2))
        #expect(ProgressBar.bar(half, width: 10) == "[#####·····]  500/1000  50%  2 failed  249 rec/s")
        #expect(ProgressBar.line(half) == "produce: 500/1000 records (50%), 2 failed, 249 rec/s")
        let done = ProduceProgress(total: 8, delivered: 8, failed: 0, elapsed: .zero)
        #expect(ProgressBar.bar(done, width: 4) == "[####] 8/8 100%  0 failed  0 rec/s")
        let empty = ProduceProgress(total: 0, delivered: 0, failed: 0, elapsed: .seconds(1))
        #expect(ProgressBar.line(empty) == "produce: 0/0 records (100%), 0 failed, 0 rec/s")
    }
}
