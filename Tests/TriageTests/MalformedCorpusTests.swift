import Foundation
import Testing
import Triage

@Suite struct MalformedCorpusTests {
    static let corpus = MalformedAlerts.corpus(seed: 20261129)

    @Test func corpusIsLargeAndCoversEveryReason() {
        #expect(Self.corpus.count >= 200)
        let reasons = Set(Self.corpus.compactMap(\.expectedReason))
        #expect(reasons == Set(AlertDecodingError.Reason.allCases))
        #expect(Self.corpus.contains { $0.name == "10000 alerts" && $0.expectedReason == .tooManyAlerts })
        #expect(Self.corpus.filter { $0.name.hasPrefix("garbage") }.count == 40)
        #expect(Set(Self.corpus.map(\.name)).count == Self.corpus.count, "names are unique, so failures are identifiable")
    }

    @Test func everyMalformedRecordFailsWithItsReasonAndTheNextGoodOneDecodes() throws {
        let decoder = AlertDecoder()
        let good = try Fixture.bytes("alertmanager-webhook-full.json")
        var checked = 0
        for sample in Self.corpus {
            do {
                let alerts = try decoder.decode(sample.inputRecord)
                Issue.record("\(sample.name) decoded into \(alerts.count) alerts")
            } catch {
                if let expected = sample.expectedReason {
                    #expect(error.reason == expected, "\(sample.name): \(error)")
                }
                #expect(!error.detail.isEmpty, "\(sample.name)")
                // What a DLQ record would carry is always valid by the schema.
                let letter = DeadLetter(error: error, sourceTopic: "alerts", sourcePartition: 0, sourceOffset: Int64(checked),
                                        time: fixtureReceivedAt, workerID: "test")
                #expect(letter.detail.utf8.count <= DeadLetter.maxDetailBytes)
            }
            #expect(try decoder.decode(value: good).count == 2, "after \(sample.name)")
            checked += 1
        }
        #expect(checked == Self.corpus.count)
    }

    @Test func corpusIsReproducible() {
        let again = MalformedAlerts.corpus(seed: 20261129)
        #expect(again == Self.corpus)
        let other = MalformedAlerts.corpus(seed: 1)
        #expect(other.count == Self.corpus.count)
        #expect(other != Self.corpus)
    }

    @Test func deadLetterHeadersOfTheCorpusValidate() throws {
        let validator = try schemaValidator("dlq-headers.schema.json")
        for reason in DeadLetter.reasonCodes {
            let letter = DeadLetter(reason: reason, detail: "d", sourceTopic: "alerts", sourcePartition: 11, sourceOffset: 9_000_000_000,
                                    time: fixtureReceivedAt, workerID: "worker-2")
            #expect(try validator.validate(headerObject(letter.headerFields)).isEmpty, "\(reason)")
        }
        var bad = ExampleRecords.deadLetter.headerFields
        bad[DeadLetter.Header.reason] = "because"
        bad[DeadLetter.Header.sourcePartition] = "-1"
        #expect(try validator.validate(headerObject(bad)).count == 2)
    }
}

@Suite struct SampleAlertsTests {
    @Test func everyFormatDecodesToTheExpectedAlerts() throws {
        var samples = SampleAlerts(seed: 42)
        let decoder = AlertDecoder()
        for format in InputFormat.allCases {
            for sample in samples.records(count: 40, formats: [format]) {
                let decoded = try decoder.decodeRecord(sample.inputRecord, receivedAt: fixtureReceivedAt)
                #expect(decoded.format == format, "\(sample.name)")
                #expect(sample.format == format)
                #expect(decoded.alerts.count == sample.expectedAlertCount, "\(sample.name)")
                let first = try #require(decoded.alerts.first)
                #expect(sample.key == Array(first.fingerprint.utf8), "\(sample.name)")
                #expect(first.serviceName.map(SampleAlerts.services.contains) == true, "\(sample.name)")
                #expect(first.alertName != nil && first.summary != nil, "\(sample.name)")
                #expect(first.sourceSeverity.flatMap(Severity.init(sourceSeverity:)) != nil, "\(sample.name)")
            }
        }
    }

    @Test func mixIsRealistic() throws {
        var samples = SampleAlerts(seed: 7)
        let records = samples.records(count: 600)
        let decoder = AlertDecoder()
        let alerts = try records.flatMap { try decoder.decode($0.inputRecord, receivedAt: fixtureReceivedAt) }
        #expect(Set(records.compactMap(\.format)) == Set(InputFormat.allCases))
        let resolved = Double(alerts.filter { $0.status == .resolved }.count) / Double(alerts.count)
        #expect(resolved > 0.1 && resolved < 0.35)
        #expect(Set(alerts.compactMap(\.alertName)).count >= 10)
        #expect(records.contains { $0.headers.traceparent != nil })
        #expect(alerts.contains { $0.status == .resolved && $0.source == .pagerduty })
    }

    @Test func sameSeedSameBytes() {
        var a = SampleAlerts(seed: 99)
        var b = SampleAlerts(seed: 99)
        var c = SampleAlerts(seed: 100)
        let first = a.records(count: 30)
        #expect(first == b.records(count: 30))
        #expect(first != c.records(count: 30))
    }

    @Test func malformedSamplesFitKafkaAndFail() {
        var samples = SampleAlerts(seed: 3)
        let decoder = AlertDecoder()
        let malformed = samples.malformed(count: 100)
        #expect(malformed.count == 100)
        for sample in malformed {
            #expect(sample.value.count <= 512 * 1024)
            #expect(throws: AlertDecodingError.self, "\(sample.name)") { try decoder.decode(sample.inputRecord) }
        }
    }
}
