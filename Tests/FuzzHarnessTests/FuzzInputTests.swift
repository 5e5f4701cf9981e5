import Foundation
import FuzzHarnesses
import Testing

/// Replays the fuzz inputs kept in the repository through the harnesses scripts/fuzz runs:
/// `Seeds/<harness>/` (the fixtures the fuzzer starts from) and `Regressions/<harness>/`
/// (every input a fuzz run found crashing, each with the answer the fixed product gives
/// in `<input>.expected`). A regression that crashes again fails this suite by crashing it.
@Suite struct FuzzInputTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()

    /// The input files of `kind/harness`, sorted, without dot files and `.expected` answers.
    static func inputs(_ kind: String, _ harness: FuzzHarness) throws -> [URL] {
        let folder = directory.appendingPathComponent(kind).appendingPathComponent(harness.rawValue)
        return try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
            .filter { !$0.hasPrefix(".") && !$0.hasSuffix(".expected") }
            .map { folder.appendingPathComponent($0) }
    }

    @Test(arguments: FuzzHarness.allCases)
    func everySeedIsAccepted(harness: FuzzHarness) throws {
        let seeds = try Self.inputs("Seeds", harness)
        #expect(!seeds.isEmpty)
        for seed in seeds {
            let outcome = harness.run(Array(try Data(contentsOf: seed)))
            if case .accepted = outcome { continue }
            Issue.record("\(seed.lastPathComponent): \(outcome)")
        }
    }

    @Test(arguments: FuzzHarness.allCases)
    func everyRegressionGivesItsExpectedAnswer(harness: FuzzHarness) throws {
        for input in try Self.inputs("Regressions", harness) {
            let outcome = harness.run(Array(try Data(contentsOf: input)))
            let answerFile = input.appendingPathExtension("expected")
            guard let expected = try? String(contentsOf: answerFile, encoding: .utf8) else {
                Issue.record("\(input.lastPathComponent) has no \(answerFile.lastPathComponent); once fixed it gives: \(outcome)")
                continue
            }
            #expect(outcome.description == expected.trimmingCharacters(in: .whitespacesAndNewlines), "\(input.lastPathComponent)")
        }
    }

    @Test func sideLinesBeforeTheFirstNULAreHeadersOrSettings() {
        let record = Array("ce_specversion=1.0\nce_id=1\nce_source=s\nce_type=t\n\0{\"labels\":{\"alertname\":\"A\"}}".utf8)
        #expect(FuzzHarness.alertDecoder.run(record) == .accepted("cloudevent_binary 1 alerts"))
        #expect(FuzzHarness.alertDecoder.run(Array("ce_id=1\n\0{\"labels\":{\"alertname\":\"A\"}}".utf8)) == .rejected("invalid_cloudevent"))
        #expect(FuzzHarness.configuration.run(Array("BREAKWATER_NO_SUCH_KEY=1\n\0".utf8)) == .rejected("unknownEnvironmentVariable"))
        #expect(FuzzHarness.configuration.run(Array("breakers.ml.failureRateThreshold=1.7\n\0".utf8)) == .rejected("invalidValue"))
        #expect(FuzzHarness.rules.run([0xFF]) == .rejected("not_utf8"))
        #expect(FuzzHarness.rules.run(Array("rules:\n  - match: {alertname: A}".utf8)) == .rejected("missing_key"))
    }
}
