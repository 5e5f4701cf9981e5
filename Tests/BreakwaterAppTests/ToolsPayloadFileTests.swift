import BreakwaterApp
import Foundation
import Testing
import Triage

@Suite("produce: payload files")
struct ToolsPayloadFileTests {
    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test func linesSkipBlankLinesAndKeepLineNumbersAndBytes() {
        let file = PayloadFile(contents: Self.bytes("{\"a\": 1}\n\n   \n  {\"b\":[1, 2]}  \r\n\t\n{\"c\":null}"))
        #expect(file.layout == .lines)
        #expect(file.problems.isEmpty)
        #expect(file.payloads.map(\.line) == [1, 4, 6])
        #expect(file.payloads.map(\.origin) == ["line 1", "line 4", "line 6"])
        #expect(file.payloads.map { String(decoding: $0.bytes, as: UTF8.self) } == ["{\"a\": 1}", "{\"b\":[1, 2]}", "{\"c\":null}"])
    }

    @Test func invalidLinesAreReportedWithTheirLineNumbers() {
        let file = PayloadFile(contents: Self.bytes("{\"ok\":1}\n{\"broken\":\n\n{\"ok\":2}\nnot json at all\n"))
        #expect(file.layout == .lines)
        #expect(file.payloads.map(\.line) == [1, 4])
        #expect(file.problems.map(\.line) == [2, 5])
        #expect(file.problems.allSatisfy { $0.message.hasPrefix("not valid JSON: ") })
        #expect(file.problems[0].description.hasPrefix("line 2: not valid JSON"))
        #expect(file.problems[1].bytes == Self.bytes("not json at all"))
    }

    @Test func invalidLinesAreSentOnlyWhenAskedAndInFileOrder() {
        let file = PayloadFile(contents: Self.bytes("{\"ok\":1}\n{oops\n{\"ok\":2}"))
        #expect(file.records(includingInvalid: false).map(\.origin) == ["line 1", "line 3"])
        let all = file.records(includingInvalid: true)
        #expect(all.map(\.origin) == ["line 1", "line 2", "line 3"])
        #expect(all[1].isMalformed)
        #expect(all[1].key == nil)
        #expect(all[1].value == Self.bytes("{oops"))
    }

    @Test func aJSONArrayIsSplitIntoItsElements() {
        let file = PayloadFile(contents: Self.bytes("\n\n  [\n {\"a\": 1},\n {\"b\": \"x\"}\n]\n"))
        #expect(file.layout == .array)
        #expect(file.problems.isEmpty)
        #expect(file.payloads.map(\.origin) == ["element 1", "element 2"])
        #expect(file.payloads.map(\.line) == [3, 3])
        #expect(file.payloads.map { String(decoding: $0.bytes, as: UTF8.self) } == [#"{"a":1}"#, #"{"b":"x"}"#])
    }

    @Test func aFileStartingWithABracketThatIsNoArrayIsReadLineByLine() {
        let file = PayloadFile(contents: Self.bytes("[1, 2\n{\"ok\":1}\n"))
        #expect(file.layout == .lines)
        #expect(file.problems.map(\.line) == [1])
        #expect(file.payloads.map(\.line) == [2])
    }

    @Test func anEmptyFileHasNoPayloads() {
        let file = PayloadFile(contents: Self.bytes("\n \n"))
        #expect(file.payloads.isEmpty)
        #expect(file.problems.isEmpty)
    }

    @Test func anUnreadableFileIsAnErrorNamingIt() {
        #expect(throws: ToolError("/nonexistent/alerts.jsonl: cannot read the payload file")) {
            try PayloadFile(path: "/nonexistent/alerts.jsonl")
        }
    }

    @Test func payloadsAreClassifiedByTheWorkersDecoder() throws {
        var generator = SampleAlerts(seed: 7)
        let webhook = generator.next(format: .alertmanagerWebhook)
        let pagerDuty = generator.next(format: .pagerduty)
        let text = [webhook.value, pagerDuty.value, Self.bytes(#"{"unknown":"shape"}"#)]
            .map { String(decoding: $0, as: UTF8.self) }.joined(separator: "\n")
        let records = PayloadFile(contents: Self.bytes(text)).records(includingInvalid: false)
        try #require(records.count == 3)
        #expect(records[0].alertCount == webhook.expectedAlertCount)
        #expect(records[0].key == webhook.key)
        #expect(records[0].format == .alertmanagerWebhook)
        #expect(records[1].alertCount == 1)
        #expect(records[1].key == pagerDuty.key)
        #expect(records[1].format == .pagerduty)
        #expect(records[2].isMalformed)
        #expect(records[2].format == nil)
        #expect(records[2].key == nil)
    }

    @Test func aFileWrittenToDiskIsRead() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("payloads-\(UUID().uuidString).json").path
        try Data(#"[{"a":1},{"a":2},{"a":3}]"#.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = try PayloadFile(path: path)
        #expect(file.layout == .array)
        #expect(file.payloads.count == 3)
    }
}

@Suite("produce: the workers' limits")
struct ToolsDecoderLimitTests {
    @Test func aPayloadOverTheConfiguredLimitsIsExpectedInTheDLQ() throws {
        var generator = SampleAlerts(seed: 2)
        var webhook = generator.next(format: .alertmanagerWebhook)
        while webhook.expectedAlertCount < 2 { webhook = generator.next(format: .alertmanagerWebhook) }
        var pipeline = PipelineSettings()
        #expect(OutgoingAlertRecord(origin: "w", payload: webhook.value, decoder: .configured(by: pipeline)).alertCount
                == webhook.expectedAlertCount)
        pipeline.maxAlertsPerPayload = 1
        #expect(OutgoingAlertRecord(origin: "w", payload: webhook.value, decoder: .configured(by: pipeline)).isMalformed)
        pipeline = PipelineSettings()
        pipeline.maxRecordBytes = webhook.value.count - 1
        let tooLarge = OutgoingAlertRecord(origin: "w", payload: webhook.value, decoder: .configured(by: pipeline))
        #expect(tooLarge.isMalformed)
        // Counting a dead-lettered record's alerts uses the same limits.
        let headers = DeadLetter(reason: "too_large", detail: "d", sourceTopic: "alerts", sourcePartition: 0, sourceOffset: 0,
                                 time: Date(timeIntervalSince1970: 0), workerID: "w").headers(appendingTo: [])
        #expect(PublishedRecord(kind: .deadLetter, value: webhook.value, headers: headers, decoder: .configured(by: pipeline))
                == .deadLetter(reason: "too_large", DeadLetter(headers: headers), carriedAlerts: 0))
    }
}
