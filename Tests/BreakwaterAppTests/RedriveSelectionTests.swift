import BreakwaterApp
import Foundation
import Testing
import Triage

/// `breakwater redrive`'s decisions on single DLQ records, without a broker.
@Suite struct RedriveSelectionTests {
    static let deadLetteredAt = Date(timeIntervalSince1970: 1_795_947_330)

    /// A DLQ record's headers as a worker writes them: the original headers, then the letter's.
    static func headers(
        _ reason: String, original: [RecordHeader] = [RecordHeader("traceparent", "00-abc-def-01")],
        at time: Date = deadLetteredAt, originalDropped: Bool = false
    ) -> [RecordHeader] {
        DeadLetter(reason: reason, detail: "d", sourceTopic: "alerts", sourcePartition: 2, sourceOffset: 7, time: time, workerID: "w",
                   originalDropped: originalDropped)
            .headers(appendingTo: original)
    }

    @Test func aSelectedRecordGoesBackWithItsOriginalKeyBytesAndHeadersAndACountOfOne() {
        let key = Array("fp-1".utf8)
        let value: [UInt8] = [0x7B, 0xFF, 0x00]  // not even UTF-8: bytes are bytes
        let original = [RecordHeader("traceparent", "00-abc-def-01"), RecordHeader(key: "ce_id", value: nil)]
        let decision = RedriveSelection().decide(key: key, value: value, headers: Self.headers("invalid_json", original: original))
        #expect(decision == .send(
            RedrivenRecord(key: key, value: value, headers: original + [RecordHeader(DeadLetter.redriveCountHeader, "1")]),
            reason: "invalid_json"))
    }

    @Test func theCountGrowsAndTheLoopGuardStopsAtTheBound() {
        let selection = RedriveSelection(maxRedrives: 3)
        let twice = Self.headers("unknown_format", original: [RecordHeader(DeadLetter.redriveCountHeader, "2")])
        guard case .send(let record, _) = selection.decide(key: nil, value: [1], headers: twice) else {
            Issue.record("a record redriven twice goes a third time")
            return
        }
        // One count header, the new one, last.
        #expect(record.headers == [RecordHeader(DeadLetter.redriveCountHeader, "3")])
        let thrice = Self.headers("unknown_format", original: [RecordHeader(DeadLetter.redriveCountHeader, "3")])
        #expect(selection.decide(key: nil, value: [1], headers: thrice) == .loopGuard(reason: "unknown_format"))
        #expect(RedriveSelection(maxRedrives: 4).decide(key: nil, value: [1], headers: thrice) != .loopGuard(reason: "unknown_format"))
        // A count that is not a number counts as none.
        let garbled = Self.headers("too_large", original: [RecordHeader(DeadLetter.redriveCountHeader, "many")])
        guard case .send(let again, _) = selection.decide(key: nil, value: [1], headers: garbled) else {
            Issue.record("an unreadable count is no count")
            return
        }
        #expect(again.headers.last == RecordHeader(DeadLetter.redriveCountHeader, "1"))
    }

    @Test func filtersPassOverOtherReasonsAndTimesOutsideTheWindow() {
        let at = Self.deadLetteredAt
        let reasons = RedriveSelection(reasons: ["too_large", "invalid_json"])
        #expect(reasons.decide(key: nil, value: [1], headers: Self.headers("unknown_format")) == .filteredOut(reason: "unknown_format"))
        #expect(reasons.decide(key: nil, value: [1], headers: Self.headers("too_large")) != .filteredOut(reason: "too_large"))

        let window = RedriveSelection(since: at.addingTimeInterval(-60), until: at.addingTimeInterval(60))
        #expect(window.decide(key: nil, value: [1], headers: Self.headers("too_large", at: at.addingTimeInterval(-61)))
            == .filteredOut(reason: "too_large"))
        #expect(window.decide(key: nil, value: [1], headers: Self.headers("too_large", at: at.addingTimeInterval(60)))
            == .filteredOut(reason: "too_large"), "until is exclusive")
        #expect(window.decide(key: nil, value: [1], headers: Self.headers("too_large", at: at.addingTimeInterval(-60)))
            != .filteredOut(reason: "too_large"), "since is inclusive")
    }

    @Test func recordsWithoutTheirOriginalOrWithoutDeadLetterHeadersCannotGo() {
        let selection = RedriveSelection()
        #expect(selection.decide(key: nil, value: [], headers: Self.headers("publish_failed", original: [], originalDropped: true))
            == .unusable(.originalDropped))
        #expect(selection.decide(key: nil, value: [1], headers: [RecordHeader("traceparent", "x")]) == .unusable(.noDeadLetterHeaders))
        // The filters come first: a passed-over record is counted as such.
        #expect(RedriveSelection(reasons: ["too_large"])
            .decide(key: nil, value: [], headers: Self.headers("publish_failed", original: [], originalDropped: true))
            == .filteredOut(reason: "publish_failed"))
    }

    @Test func timesAreRFC3339OrADurationAgo() {
        let now = Self.deadLetteredAt
        #expect(RedriveSelection.time(from: "2026-11-29T10:00:00Z", now: now) == Timestamp.parse("2026-11-29T10:00:00.000Z"))
        #expect(RedriveSelection.time(from: "90m", now: now) == now.addingTimeInterval(-5_400))
        #expect(RedriveSelection.time(from: "yesterday", now: now) == nil)
    }

    @Test func eachSelectionKeepsItsProgressInAGroupOfItsOwn() {
        #expect(RedriveSelection.defaultGroupID(reasons: [], since: nil, until: nil) == "breakwater-redrive")
        #expect(RedriveSelection.defaultGroupID(reasons: ["too_large", "invalid_json"], since: "2h", until: nil)
            == "breakwater-redrive.reason=invalid_json,too_large.since=2h")
        #expect(RedriveSelection.defaultGroupID(reasons: [], since: nil, until: "2026-11-29T10:00:00Z")
            == "breakwater-redrive.until=2026-11-29T10:00:00Z")
    }

    @Test func theSummaryGroupsByReasonAndSaysWhyItStopped() {
        var summary = RedriveSummary(deadLetterTopic: "alerts.dlq", targetTopic: "alerts", groupID: "g", dryRun: true, maxRedrives: 3, toRead: 9)
        summary.counts.redriven = ["invalid_json": 4, "too_large": 1]
        summary.counts.loopGuarded = ["invalid_json": 2]
        summary.counts.filteredOut = ["unknown_format": 1]
        summary.counts.unusable = [RedriveSelection.Unusable.originalDropped.rawValue: 1]
        summary.stop = .limit
        #expect(summary.counts.read == 9)
        #expect(summary.succeeded)
        #expect(summary.text == """
            dry run (nothing sent, progress untouched): alerts.dlq → alerts, group g
            dead letters read: 9 of 9 in 0.00s
            would redrive to alerts: 5
              invalid_json               4
              too_large                  1
            skipped by the loop guard (redriven 3 times already): 2
              invalid_json               2
            passed over by the filters: 1
              unknown_format             1
            cannot be redriven: 1
              original dropped           1
            stopped at --limit; run the same command again to continue
            """)
        summary.stop = .idle
        #expect(!summary.succeeded, "a run that stopped receiving before the end did not finish")
        #expect(summary.text.hasSuffix("see the consumer errors above); run again to continue"))
        summary.stop = .limit
        summary.counts.failed = 1
        summary.counts.errors = ["KafkaError MSG_SIZE_TOO_LARGE (10)": 1]
        #expect(!summary.succeeded)
        #expect(summary.text.contains("failed: 1\n  1 × KafkaError MSG_SIZE_TOO_LARGE (10)"))
    }
}
