import BreakwaterApp
import Foundation
import Resilience
import Testing
import Triage
import TriageTestSupport

/// What `breakwater classify` prints per input line: the worker's decoder and
/// classification step over a scripted model (no ML server; pure logic on a manual clock).
@Suite struct OfflineClassificationTests {
    let rules: RuleClassifier

    init() throws {
        rules = try RuleClassifier(contentsOf: repositoryRoot.appendingPathComponent("deploy/rules.yaml").path)
    }

    /// The tool over a model that answers `model` for every alert, with the default policy.
    func tool(model: Classification = ScriptedClassifier.verdict) throws -> OfflineClassification {
        let clock = ManualClock()
        let breaker = try makeBreaker(.tripping(after: 3), clock: clock, name: "ml")
        let features = FeatureFallback(clock: clock)
        features.register(FeatureName.mlClassification, breaker: breaker)
        let step = GuardedClassification(ml: ScriptedClassifier(answer: model), rules: rules, protection: AdaptivePolicy(breaker: breaker), features: features)
        return OfflineClassification(decoder: .configured(by: BreakwaterConfiguration().pipeline), step: step, rules: rules)
    }

    /// Runs `lines` (joined by newlines) and returns each printed line parsed back.
    func printed(_ lines: [String], model: Classification = ScriptedClassifier.verdict) async throws -> [[String: Any]] {
        let tool = try self.tool(model: model)
        let results = await tool.run(Array(lines.joined(separator: "\n").utf8))
        return try results.map { result in
            let line = try result.jsonLine()
            #expect(!line.contains("\n"), "one output line per result")
            return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
    }

    static let crashLooping = #"""
        {"value": {"status": "firing", "labels": {"alertname": "KubePodCrashLooping", "namespace": "web", "pod": "api-1", "severity": "warning"}, "annotations": {"summary": "Pod web/api-1 keeps restarting"}, "startsAt": "2026-03-05T16:09:00Z"}, "expected": "ignored"}
        """#

    @Test func aRecordPrintsEveryVerdictOfItsAlert() async throws {
        let output = try await printed([Self.crashLooping])
        #expect(output.count == 1)
        let line = try #require(output.first)
        #expect(Set(line.keys) == ["line", "alert", "text", "published", "model", "rules", "fallbacks"])
        #expect(line["line"] as? Int == 1)
        #expect(line["alert"] as? Int == 0)
        let text = try #require(line["text"] as? String)
        #expect(text.hasPrefix("KubePodCrashLooping | Pod web/api-1 keeps restarting | severity=warning"), "\(text)")
        let model = try #require(line["model"] as? [String: Any])
        #expect(model["severity"] as? String == "critical")
        #expect(model["category"] as? String == "availability")
        #expect(model["classifier"] as? String == "ml")
        #expect(model["confidence"] as? Double == ScriptedClassifier.verdict.confidence)
        let published = try #require(line["published"] as? [String: Any])
        #expect(published["classifier"] as? String == "ml")
        #expect(published["severity"] as? String == "critical")
        let rulesSaid = try #require(line["rules"] as? [String: Any])
        #expect(rulesSaid["classifier"] as? String == "rules")
        #expect(line["fallbacks"] as? [String] == [])
    }

    @Test func aWebhookPrintsOneLinePerAlertInOrderOnItsRecordsLine() async throws {
        let webhook = #"""
            {"value": {"version": "4", "status": "firing", "receiver": "r", "groupKey": "{}", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am", "alerts": [{"status": "firing", "labels": {"alertname": "First"}, "annotations": {}, "startsAt": "2026-03-05T16:09:00Z"}, {"status": "firing", "labels": {"alertname": "Second"}, "annotations": {}, "startsAt": "2026-03-05T16:09:00Z"}]}}
            """#
        // A blank line is skipped but still counted: `line` is the line number in the file.
        let output = try await printed([Self.crashLooping, "", webhook])
        #expect(output.map { $0["line"] as? Int } == [1, 3, 3])
        #expect(output.map { $0["alert"] as? Int } == [0, 0, 1])
        #expect(output.map { ($0["text"] as? String)?.components(separatedBy: " | ").first } == ["KubePodCrashLooping", "First", "Second"])
    }

    @Test func malformedLinesAreReportedWithTheirReasonAndTheRestIsClassified() async throws {
        let output = try await printed([
            "not json at all",
            #"{"headers": {}}"#,
            #"{"value": {"status": "firing"}, "headers": {"content-type": 7}}"#,
            #"{"value": "just a string"}"#,
            Self.crashLooping,
        ])
        #expect(output.count == 5)
        let rejected = output.prefix(4)
        for line in rejected { #expect(Set(line.keys) == ["line", "rejected", "detail"]) }
        #expect(rejected.map { $0["line"] as? Int } == [1, 2, 3, 4])
        #expect(rejected.prefix(3).allSatisfy { $0["rejected"] as? String == "invalid_line" })
        #expect((output[0]["detail"] as? String)?.hasPrefix("not valid JSON") == true)
        #expect(output[1]["detail"] as? String == #"expected an object with a "value" member"#)
        #expect(output[2]["detail"] as? String == "header content-type must be a string")
        // A readable line the worker's decoder rejects carries the decoder's dead-letter reason.
        #expect(output[3]["rejected"] as? String == AlertDecodingError.Reason.unknownFormat.rawValue)
        #expect(output[3]["detail"] as? String == "top-level JSON string is not an alert payload")
        #expect(output[4]["line"] as? Int == 5)
        #expect(output[4]["published"] != nil)
    }

    @Test func anUnsureModelLessUrgentThanTheRulesPrintsTheRulesAndLowConfidence() async throws {
        let unsure = Classification(severity: .info, category: .other, confidence: 0.2, classifier: .ml)
        let line = try #require(try await printed([Self.crashLooping], model: unsure).first)
        let published = try #require(line["published"] as? [String: Any])
        #expect(published["classifier"] as? String == "rules")
        #expect(line["fallbacks"] as? [String] == ["low_confidence"])
        let model = try #require(line["model"] as? [String: Any])
        #expect(model["severity"] as? String == "info")
        #expect(model["confidence"] as? Double == 0.2)
    }
}
