import Foundation
import Testing
import Triage

/// Seeded mutations of valid records (byte flips, deletions, insertions, splices): the
/// decoder must always either decode or throw an ``AlertDecodingError``, never trap, and
/// every alert it does return must be well-formed.
@Suite struct MutationFuzzTests {
    @Test func mutatedRecordsNeverCrashTheDecoder() throws {
        var random = SeededRandom(seed: 4242)
        var samples = SampleAlerts(seed: 17)
        let decoder = AlertDecoder()
        let seeds = samples.records(count: 60)
        var decoded = 0
        var rejected: [AlertDecodingError.Reason: Int] = [:]
        for base in seeds {
            for _ in 0..<40 {
                let bytes = Self.mutated(base.value, using: &random)
                do {
                    let alerts = try decoder.decode(InputRecord(value: bytes, headers: base.headers))
                    #expect(!alerts.isEmpty)
                    #expect(alerts.allSatisfy { !$0.fingerprint.isEmpty && !$0.labels.isEmpty })
                    decoded += 1
                } catch {
                    rejected[error.reason, default: 0] += 1
                }
            }
        }
        #expect(decoded + rejected.values.reduce(0, +) == 2400)
        #expect(decoded > 0, "some mutations (inside string values) still decode")
        #expect(rejected[.invalidJSON, default: 0] > 0)
    }

    /// `bytes` after one to four seeded mutations: a byte replaced by or an insertion of
    /// one that matters to JSON, a deletion, or a splice that drops a run.
    static func mutated(_ bytes: [UInt8], using random: inout SeededRandom) -> [UInt8] {
        let interesting: [UInt8] = Array(#"{}[]",:0-e.\"#.utf8) + [0x00, 0x80, 0xC3, 0xFF, 0x20]
        var bytes = bytes
        for _ in 0..<Int.random(in: 1...4, using: &random) where !bytes.isEmpty {
            let at = Int.random(in: 0..<bytes.count, using: &random)
            switch Int.random(in: 0..<4, using: &random) {
            case 0: bytes[at] = interesting[Int.random(in: 0..<interesting.count, using: &random)]
            case 1: bytes.remove(at: at)
            case 2: bytes.insert(interesting[Int.random(in: 0..<interesting.count, using: &random)], at: at)
            default: bytes = Array(bytes[..<at]) + Array(bytes[Int.random(in: at..<bytes.count, using: &random)...])
            }
        }
        return bytes
    }

    @Test func structuredContentTypeWinsOverStrayBinaryHeaders() throws {
        let bytes = try Fixture.bytes("cloudevent-structured-full.json")
        let headers = [RecordHeader("content-type", "application/cloudevents+json"), RecordHeader("ce_id", "stray")]
        let record = try AlertDecoder().decodeRecord(InputRecord(value: bytes, headers: headers))
        #expect(record.format == .cloudEventStructured)
        #expect(record.alerts.first?.extra["ce_id"] == "7f1c2a3e-0b6d-4c1e-9a0a-3f2b1c0d9e8f")
    }
}
