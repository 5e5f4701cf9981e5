import Foundation
import Testing
import Triage

/// Every ``AlertDecodingError/Reason`` made to happen, with the path named in the detail.
@Suite struct AlertDecoderErrorTests {
    let decoder = AlertDecoder()

    func failure(_ json: String, headers: [RecordHeader] = [], contentType: String? = nil, limits: DecodingLimits = .default) -> AlertDecodingError? {
        failure(Array(json.utf8), headers: headers, contentType: contentType, limits: limits)
    }

    func failure(_ bytes: [UInt8], headers: [RecordHeader] = [], contentType: String? = nil, limits: DecodingLimits = .default) -> AlertDecodingError? {
        do {
            _ = try AlertDecoder(limits: limits).decode(value: bytes, headers: headers, contentType: contentType, receivedAt: fixtureReceivedAt)
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: [
        ("", AlertDecodingError.Reason.emptyRecord, "empty"),
        (" \n\t ", .emptyRecord, "empty"),
        ("{\"labels\":", .invalidJSON, "end of input"),
        ("[1,2]", .unknownFormat, "array"),
        ("\"text\"", .unknownFormat, "string"),
        (#"{"hello":"world"}"#, .unknownFormat, "hello"),
        (#"{"alerts":{}}"#, .wrongType, "alerts must be an array"),
        (#"{"alerts":[]}"#, .invalidValue, "alerts is empty"),
        (#"{"alerts":[42]}"#, .wrongType, "alerts[0] must be an object"),
        (#"{"alerts":[{"annotations":{}}]}"#, .missingField, "alerts[0].labels is required"),
        (#"{"alerts":[{"labels":{}}]}"#, .invalidValue, "alerts[0].labels is empty"),
        (#"{"alerts":[{"labels":{"a":1}}]}"#, .wrongType, "alerts[0].labels.a must be a string"),
        (#"{"alerts":[{"labels":{"a":"b"},"status":"burning"}]}"#, .invalidValue, "alerts[0].status"),
        (#"{"alerts":[{"labels":{"a":"b"},"startsAt":"yesterday"}]}"#, .invalidValue, "alerts[0].startsAt"),
        (#"{"alerts":[{"labels":{"a":"b"},"endsAt":12}]}"#, .wrongType, "alerts[0].endsAt must be a string"),
        (#"{"alerts":[{"labels":{"a":"b"},"fingerprint":false}]}"#, .wrongType, "alerts[0].fingerprint"),
        (#"{"alerts":[{"labels":{"a":"b"}}],"commonLabels":[]}"#, .wrongType, "commonLabels"),
        (#"{"alerts":[{"labels":{"a":"b"}}],"truncatedAlerts":"none"}"#, .wrongType, "truncatedAlerts"),
        (#"{"alerts":[{"labels":{"a":"b"}}],"truncatedAlerts":1.5}"#, .invalidValue, "truncatedAlerts"),
        (#"{"orgId":1,"alerts":[{"labels":{"a":"b"},"values":[1]}]}"#, .wrongType, "alerts[0].values"),
        (#"{"orgId":"one","alerts":[{"labels":{"a":"b"}}]}"#, .wrongType, "orgId"),
        (#"{"event_action":"explode","payload":{}}"#, .invalidValue, "event_action"),
        (#"{"routing_key":"k","payload":{}}"#, .missingField, "event_action is required"),
        (#"{"event_action":"trigger"}"#, .missingField, "payload is required"),
        (#"{"event_action":"resolve"}"#, .missingField, "dedup_key is required"),
        (#"{"event_action":"trigger","payload":{"source":"s","severity":"info"}}"#, .missingField, "payload.summary"),
        (#"{"event_action":"trigger","payload":{"summary":" ","source":"s","severity":"info"}}"#, .invalidValue, "payload.summary must not be empty"),
        (#"{"event_action":"trigger","payload":{"summary":"x","source":"s","severity":"purple"}}"#, .invalidValue, "payload.severity"),
        (#"{"event_action":"trigger","routing_key":7,"payload":{"summary":"x","source":"s","severity":"info"}}"#, .wrongType, "routing_key"),
        (#"{"event_action":"trigger","links":{},"payload":{"summary":"x","source":"s","severity":"info"}}"#, .wrongType, "links"),
        (#"{"specversion":"0.3","id":"1","source":"s","type":"t","data":{}}"#, .invalidCloudEvent, "specversion 0.3"),
        (#"{"specversion":"1.0","source":"s","type":"t","data":{}}"#, .invalidCloudEvent, "attribute id"),
        (#"{"specversion":"1.0","id":"1","source":"s","type":"t"}"#, .invalidCloudEvent, "neither data nor data_base64"),
        (#"{"specversion":"1.0","id":"1","source":"s","type":"t","time":"noon","data":{}}"#, .invalidCloudEvent, "time"),
        (#"{"specversion":"1.0","id":"1","source":"s","type":"t","data":"x"}"#, .wrongType, "data must be an object"),
        (#"{"specversion":"1.0","id":1,"source":"s","type":"t","data":{}}"#, .invalidCloudEvent, "attribute id must be a string"),
        (#"{"specversion":"1.0","id":"1","source":"s","type":"t","data_base64":"!!"}"#, .invalidCloudEvent, "base64"),
        (#"{"specversion":"1.0","id":"1","source":"s","type":"t","data":{"specversion":"1.0"}}"#, .invalidCloudEvent, "inside a CloudEvent"),
        (#"{"specversion":"1.0","id":"1","source":"s","type":"t","data":{"x":1}}"#, .unknownFormat, "data (keys: x)"),
        (#"{"specversion":"1.0","id":"1","source":"s","type":"t","datacontenttype":"text/xml","data":{}}"#, .unsupportedContentType, "text/xml"),
    ])
    func reportsReasonAndPath(json: String, reason: AlertDecodingError.Reason, detail: String) throws {
        let error = try #require(failure(json))
        #expect(error.reason == reason)
        #expect(error.detail.contains(detail), "\(error.detail)")
    }

    @Test func base64DataMustHoldAJSONObject() throws {
        func event(_ data: String) -> String {
            #"{"specversion":"1.0","id":"1","source":"s","type":"t","data_base64":"\#(Data(data.utf8).base64EncodedString())"}"#
        }
        #expect(failure(event("[1]"))?.reason == .wrongType)
        #expect(failure(event("{\"labels\":"))?.reason == .invalidJSON)
        #expect(failure(event("{\"x\":1}"))?.reason == .unknownFormat)
        #expect(try decoder.decode(value: Array(event(#"{"labels":{"a":"b"}}"#).utf8)).count == 1)
    }

    @Test func invalidUTF8() throws {
        let error = try #require(failure([0x7B, 0x22, 0xC3, 0x28, 0x22, 0x7D]))
        #expect(error.reason == .invalidUTF8)
    }

    @Test func cloudEventContentTypeWithoutCloudEvent() throws {
        let error = try #require(failure(#"{"labels":{"a":"b"}}"#, contentType: "application/cloudevents+json"))
        #expect(error.reason == .invalidCloudEvent)
        #expect(error.detail.contains("specversion"))
    }

    @Test(arguments: ["application/xml", "text/plain", "application/cloudevents-batch+json", "application/avro"])
    func nonJSONContentTypes(contentType: String) throws {
        let error = try #require(failure(#"{"labels":{"a":"b"}}"#, contentType: contentType))
        #expect(error.reason == .unsupportedContentType)
    }

    @Test func binaryCloudEventHeadersWithoutSpecVersion() throws {
        let error = try #require(failure(#"{"labels":{"a":"b"}}"#, headers: [RecordHeader("ce_id", "1"), RecordHeader("ce_source", "s"), RecordHeader("ce_type", "t")]))
        #expect(error.reason == .invalidCloudEvent)
        #expect(error.detail.contains("specversion"))
        let badUTF8 = [RecordHeader("ce_specversion", "1.0"), RecordHeader(key: "ce_id", value: [0xFF]), RecordHeader("ce_source", "s"), RecordHeader("ce_type", "t")]
        #expect(failure(#"{"labels":{"a":"b"}}"#, headers: badUTF8)?.reason == .invalidCloudEvent)
        let array = [RecordHeader("ce_specversion", "1.0"), RecordHeader("ce_id", "1"), RecordHeader("ce_source", "s"), RecordHeader("ce_type", "t")]
        #expect(failure("[]", headers: array)?.reason == .unknownFormat)
    }

    @Test func recordTooLarge() throws {
        let limits = DecodingLimits(maxRecordBytes: 64)
        let error = try #require(failure(#"{"labels":{"alertname":"\#(String(repeating: "x", count: 100))"}}"#, limits: limits))
        #expect(error.reason == .tooLarge)
        #expect(error.detail.contains("more than 64"))
    }

    @Test func tooManyAlertsByDefaultAt1001() throws {
        let alert = #"{"labels":{"a":"b"}}"#
        let ok = #"{"alerts":[\#(Array(repeating: alert, count: 1000).joined(separator: ","))]}"#
        #expect(try decoder.decode(value: Array(ok.utf8)).count == 1000)
        let error = try #require(failure(#"{"alerts":[\#(Array(repeating: alert, count: 1001).joined(separator: ","))]}"#))
        #expect(error.reason == .tooManyAlerts)
    }

    @Test func tooDeepIsCheckedWhileReading() throws {
        let deep = String(repeating: "[", count: 100_000)
        #expect(failure(deep)?.reason == .tooDeep)
        let nestedInField = #"{"labels":{"a":"b"},"annotations":"# + String(repeating: "{\"x\":", count: 40) + "1" + String(repeating: "}", count: 40) + "}"
        #expect(failure(nestedInField)?.reason == .tooDeep)
    }

    @Test func stringAndLabelLimits() throws {
        let limits = DecodingLimits(maxStringBytes: 16, maxLabels: 2)
        #expect(failure(#"{"labels":{"a":"\#(String(repeating: "y", count: 17))"}}"#, limits: limits)?.reason == .tooLarge)
        let many = try #require(failure(#"{"labels":{"a":"1","b":"2","c":"3"}}"#, limits: limits))
        #expect(many.reason == .tooLarge)
        #expect(many.detail.contains("labels"))
        let merged = try #require(failure(#"{"commonLabels":{"a":"1","b":"2"},"alerts":[{"labels":{"c":"3"}}]}"#, limits: limits))
        #expect(merged.reason == .tooLarge)
        #expect(failure(#"{"labels":{"a":"1"},"annotations":{"a":"1","b":"2","c":"3"}}"#, limits: limits)?.reason == .tooLarge)
        let collection = DecodingLimits(maxCollectionCount: 3)
        #expect(failure(#"{"labels":{"a":"1"},"annotations":{},"x":[1,2,3,4]}"#, limits: collection)?.reason == .tooLarge)
    }

    @Test func errorDescribesItself() {
        let error = AlertDecodingError(.missingField, "alerts[0].labels is required")
        #expect(error.description == "missing_field: alerts[0].labels is required")
    }
}
