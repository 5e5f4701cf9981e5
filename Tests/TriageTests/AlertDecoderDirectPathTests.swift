import Foundation
import Testing
@testable import Triage

/// The direct reader of plain Alertmanager alerts (``JSONParser/plainAlertmanagerAlert(_:limits:receivedAt:)``)
/// against the ``JSONValue`` tree it stands in for: whatever the record, the decoder's
/// answer (alerts or error) must not depend on which path took it.
@Suite struct AlertDecoderDirectPathTests {
    let receivedAt = Date(timeIntervalSince1970: 1_795_953_600)

    /// The decoder's answer with and without the direct reader.
    func bothPaths(_ record: InputRecord, decoder: AlertDecoder = AlertDecoder()) -> (direct: Result<DecodedRecord, AlertDecodingError>, tree: Result<DecodedRecord, AlertDecodingError>) {
        func answer(direct: Bool) -> Result<DecodedRecord, AlertDecodingError> {
            do { return .success(try decoder.decodeRecord(record, receivedAt: receivedAt, direct: direct)) } catch { return .failure(error) }
        }
        return (answer(direct: true), answer(direct: false))
    }

    func takesDirectPath(_ text: String, limits: DecodingLimits = .default) -> Bool {
        JSONParser.plainAlertmanagerAlert(Array(text.utf8), limits: limits, receivedAt: receivedAt) != nil
    }

    @Test func bothPathsAgreeOnEverySampleAndMalformedRecord() {
        var records: [SampleRecord] = MalformedAlerts.corpus(seed: 5)
        for seed: UInt64 in 1...4 {
            var samples = SampleAlerts(seed: seed, now: receivedAt)
            records += samples.records(count: 150)
            records += samples.records(count: 150, formats: [.alertmanagerAlert])
        }
        var direct = 0
        for record in records {
            let (viaDirect, viaTree) = bothPaths(record.inputRecord)
            #expect(viaDirect == viaTree, "\(record.name)")
            if JSONParser.plainAlertmanagerAlert(record.value, limits: .default, receivedAt: receivedAt) != nil { direct += 1 }
        }
        // Every generated single alert is plain (the malformed ones and other formats are not).
        #expect(direct >= 600, "\(direct) of \(records.count) records took the direct path")
    }

    @Test func bothPathsAgreeOnMutatedAlerts() {
        var random = SeededRandom(seed: 77)
        var samples = SampleAlerts(seed: 9, now: receivedAt)
        var direct = 0
        for base in samples.records(count: 40, formats: [.alertmanagerAlert]) {
            for _ in 0..<50 {
                let bytes = MutationFuzzTests.mutated(base.value, using: &random)
                let (viaDirect, viaTree) = bothPaths(InputRecord(value: bytes))
                #expect(viaDirect == viaTree, "\(String(decoding: bytes, as: UTF8.self))")
                if JSONParser.plainAlertmanagerAlert(bytes, limits: .default, receivedAt: receivedAt) != nil { direct += 1 }
            }
        }
        #expect(direct > 0, "mutations inside string values stay plain")
    }

    @Test func escapesNonASCIIAndStatusSpellingsStayOnTheDirectPath() {
        let text = #"""
            { "labels": {"alertname": "Disk\u0046ull", "service": "checkout", "zone": "eu-west-1ä"},
              "annotations": {"description": "line one\nline \"two\" \ud83d\ude00", "summary": ""},
              "status": "FIRING", "startsAt": "2026-12-01T10:00:00.123456789+01:00",
              "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus/graph?g0.expr=up%3D%3D0",
              "fingerprint": "" }
            """#
        #expect(takesDirectPath(text))
        let (viaDirect, viaTree) = bothPaths(InputRecord(value: Array(text.utf8)))
        #expect(viaDirect == viaTree)
        let alert = try? viaDirect.get().alerts.first
        #expect(alert?.labels["alertname"] == "DiskFull")
        #expect(alert?.annotations["description"] == "line one\nline \"two\" 😀")
        #expect(alert?.status == .firing)
        #expect(alert?.endsAt == nil, "Go's zero time is no end")
        #expect(alert?.fingerprint == Fingerprint.derive(labels: alert?.labels ?? [:]), "an empty fingerprint is derived")
    }

    @Test(arguments: [
        #"{"labels": {"a": "b"}, "annotations": null}"#,  // null: absent for the tree
        #"{"labels": {"a": "b"}, "labels": {"c": "d"}}"#,  // repeated key: the last wins in the tree
        #"{"labels": {"a": "b", "a": "c"}}"#,
        #"{"labels": {"a": "b"}, "receiver": "team"}"#,  // a key of no plain alert
        #"{"labels": {"a": "b"}, "alerts": []}"#,  // a webhook's key
        #"{"labels": {"a": 1}}"#,
        #"{"labels": {"a": {"b": "c"}}}"#,
        #"{"labels": {}}"#,
        #"{"annotations": {"a": "b"}}"#,
        #"{"labels": {"a": "b"}, "endsAt": "yesterday"}"#,
        #"{"labels": {"a": "b"}, "status": "pending"}"#,
        #"{"labels": {"a": "b"}} x"#,
        #"{"labels": {"a": "b"},}"#,
        #"["labels"]"#,
    ])
    func anythingButAPlainAlertGoesToTheTree(_ text: String) {
        #expect(!takesDirectPath(text))
        let (viaDirect, viaTree) = bothPaths(InputRecord(value: Array(text.utf8)))
        #expect(viaDirect == viaTree)
    }

    @Test func limitsSendARecordToTheTreeWhichRejectsIt() {
        let text = #"{"labels": {"a": "b", "c": "d", "e": "f"}, "annotations": {"summary": "0123456789"}}"#
        #expect(takesDirectPath(text))
        for limits in [DecodingLimits(maxDepth: 1), DecodingLimits(maxStringBytes: 5), DecodingLimits(maxLabels: 2),
                       DecodingLimits(maxCollectionCount: 1)] {
            #expect(!takesDirectPath(text, limits: limits))
            let (viaDirect, viaTree) = bothPaths(InputRecord(value: Array(text.utf8)), decoder: AlertDecoder(limits: limits))
            #expect(viaDirect == viaTree)
            #expect((try? viaTree.get()) == nil, "the tree rejects it: \(viaTree)")
        }
    }

    @Test func aCloudEventsContentTypeIsNeverAPlainAlert() {
        let text = #"{"labels": {"a": "b"}}"#
        let record = InputRecord(value: Array(text.utf8), contentType: "application/cloudevents+json")
        let (viaDirect, viaTree) = bothPaths(record)
        #expect(viaDirect == viaTree)
        #expect((try? viaDirect.get()) == nil, "a structured CloudEvent needs specversion and data")
    }
}
