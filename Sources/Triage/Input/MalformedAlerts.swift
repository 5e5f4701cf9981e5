import Foundation

/// A reproducible corpus of malformed alert records, each paired with the
/// ``AlertDecodingError/Reason`` the decoder must give (or `nil` for random garbage, where
/// any reason is right). Used by the decoder's tests and, through
/// ``SampleAlerts/malformed(count:)``, by the demo to fill the DLQ.
///
/// Contents (about 330 records): valid records truncated at evenly spread cut points;
/// every field of every format given each wrong JSON type; too-long strings, keys and
/// records; oversized arrays, label sets, and payloads of 1,001 and 10,000 alerts; nesting
/// 100,000 deep (arrays, objects, and inside an otherwise valid alert); invalid UTF-8 of
/// several kinds; empty and blank records; seeded binary garbage; valid JSON of unknown
/// shape; bad values (status, timestamps, enums), missing fields, broken CloudEvents and
/// non-JSON content types.
public enum MalformedAlerts {
    /// The corpus for `seed` (the seed only varies the base records and the garbage).
    public static func corpus(seed: UInt64) -> [SampleRecord] {
        var random = SeededRandom(seed: seed)
        var samples = SampleAlerts(seed: random.next())
        var out: [SampleRecord] = []
        func add(_ name: String, _ value: [UInt8], _ reason: AlertDecodingError.Reason?, headers: [RecordHeader] = []) {
            out.append(SampleRecord(name: name, format: nil, key: nil, value: value, headers: headers, expectedAlertCount: 0, expectedReason: reason))
        }
        func add(_ name: String, _ text: String, _ reason: AlertDecodingError.Reason?, headers: [RecordHeader] = []) {
            add(name, Array(text.utf8), reason, headers: headers)
        }

        // Truncations of valid records of each plain format.
        for format in [InputFormat.alertmanagerWebhook, .grafanaWebhook, .pagerduty, .alertmanagerAlert, .cloudEventStructured] {
            let whole = samples.next(format: format).value
            for cut in stride(from: 1, to: whole.count, by: max(1, whole.count / 16)).prefix(16) {
                let prefix = Array(whole[..<cut])
                add("truncated \(format.rawValue) at \(cut)/\(whole.count)", prefix,
                    String(validating: prefix, as: UTF8.self) == nil ? .invalidUTF8 : .invalidJSON)
            }
        }

        // Wrong types for every field.
        let wrongForString: [JSONValue] = [.number("1"), .bool(true), .array([]), .object([:])]
        let wrongForObject: [JSONValue] = [.string("x"), .number("2"), .array([.null])]
        let wrongForArray: [JSONValue] = [.string("x"), .object([:]), .bool(false)]
        func wrongTypes(_ base: JSONValue, _ label: String, _ fields: [([JSONPathStep], [JSONValue], AlertDecodingError.Reason)]) {
            for (path, wrongs, reason) in fields {
                for wrong in wrongs {
                    add("\(label) \(path.map(\.description).joined(separator: ".")) = \(wrong.typeName)",
                        Array(base.replacing(at: path, with: wrong).canonicalText.utf8), reason)
                }
            }
        }
        let webhookFields: [([JSONPathStep], [JSONValue], AlertDecodingError.Reason)] = [
            (["alerts"], wrongForArray, .wrongType), (["status"], wrongForString, .wrongType), (["receiver"], wrongForString, .wrongType),
            (["groupLabels"], wrongForObject, .wrongType), (["commonLabels"], wrongForObject, .wrongType),
            (["commonAnnotations"], wrongForObject, .wrongType), (["externalURL"], wrongForString, .wrongType),
            (["groupKey"], wrongForString, .wrongType), (["version"], wrongForString, .wrongType),
            (["truncatedAlerts"], [.string("0"), .bool(true), .array([])], .wrongType),
            (["alerts", 0], [.string("x"), .number("1"), .array([])], .wrongType), (["alerts", 0, "labels"], wrongForObject, .wrongType),
            (["alerts", 0, "labels", "service"], wrongForString, .wrongType), (["alerts", 0, "annotations"], wrongForObject, .wrongType),
            (["alerts", 0, "startsAt"], wrongForString, .wrongType), (["alerts", 0, "endsAt"], wrongForString, .wrongType),
            (["alerts", 0, "generatorURL"], wrongForString, .wrongType), (["alerts", 0, "fingerprint"], wrongForString, .wrongType),
            (["alerts", 0, "status"], wrongForString, .wrongType),
        ]
        wrongTypes(parse(samples.next(format: .alertmanagerWebhook).value), "alertmanager", webhookFields)
        wrongTypes(parse(samples.next(format: .grafanaWebhook).value), "grafana", [
            (["orgId"], [.string("1"), .bool(true), .object([:])], .wrongType), (["title"], wrongForString, .wrongType),
            (["state"], wrongForString, .wrongType), (["message"], wrongForString, .wrongType),
            (["alerts", 0, "silenceURL"], wrongForString, .wrongType), (["alerts", 0, "dashboardURL"], wrongForString, .wrongType),
            (["alerts", 0, "panelURL"], wrongForString, .wrongType), (["alerts", 0, "values"], [.string("x"), .array([]), .number("1")], .wrongType),
            (["alerts", 0, "valueString"], wrongForString, .wrongType),
        ])
        wrongTypes(parse(samples.next(format: .pagerduty).value), "pagerduty", [
            (["event_action"], wrongForString, .wrongType), (["routing_key"], wrongForString, .wrongType),
            (["dedup_key"], wrongForString, .wrongType), (["payload"], wrongForObject, .wrongType),
            (["payload", "summary"], wrongForString, .wrongType), (["payload", "source"], wrongForString, .wrongType),
            (["payload", "severity"], wrongForString, .wrongType), (["payload", "timestamp"], wrongForString, .wrongType),
            (["payload", "class"], wrongForString, .wrongType), (["payload", "component"], wrongForString, .wrongType),
            (["payload", "group"], wrongForString, .wrongType), (["client"], wrongForString, .wrongType),
            (["client_url"], wrongForString, .wrongType), (["links"], wrongForArray, .wrongType),
        ])
        var structured = samples.next(format: .cloudEventStructured)
        while parse(structured.value).objectValue?["data"]?.objectValue?["event_action"] != nil {
            structured = samples.next(format: .cloudEventStructured)  // keep a webhook inside, so `data.alerts` exists
        }
        wrongTypes(parse(structured.value), "cloudevent", [
            (["specversion"], wrongForString, .invalidCloudEvent), (["id"], wrongForString, .invalidCloudEvent),
            (["source"], wrongForString, .invalidCloudEvent), (["type"], wrongForString, .invalidCloudEvent),
            (["data"], [.string("x"), .number("1"), .array([])], .wrongType), (["datacontenttype"], wrongForString, .wrongType),
        ])

        // Sizes and counts.
        let huge = String(repeating: "x", count: 70_000)
        add("huge label value", #"{"labels":{"alertname":"\#(huge)"}}"#, .tooLarge)
        add("huge label name", #"{"labels":{"\#(huge)":"x"}}"#, .tooLarge)
        add("huge number", #"{"labels":{"a":"b"},"x":1\#(String(repeating: "0", count: 70_000))}"#, .tooLarge)
        add("record over 1 MiB", #"{"labels":{"a":"b"},"annotations":{"description":"\#(String(repeating: "y", count: 1_100_000))"}}"#, .tooLarge)
        add("array of 70000 numbers", #"{"labels":{"a":"b"},"x":[\#(Array(repeating: "0", count: 70_000).joined(separator: ","))]}"#, .tooLarge)
        let manyLabels = (0..<300).map { "\"l\($0)\":\"v\"" }.joined(separator: ",")
        add("300 labels", #"{"labels":{\#(manyLabels)}}"#, .tooLarge)
        add("300 annotations", #"{"labels":{"a":"b"},"annotations":{\#(manyLabels)}}"#, .tooLarge)
        let tiny = #"{"labels":{"alertname":"A"}}"#
        add("1001 alerts", #"{"alerts":[\#(Array(repeating: tiny, count: 1001).joined(separator: ","))]}"#, .tooManyAlerts)
        add("10000 alerts", #"{"alerts":[\#(Array(repeating: tiny, count: 10_000).joined(separator: ","))]}"#, .tooManyAlerts)
        add("10000 grafana alerts", #"{"orgId":1,"alerts":[\#(Array(repeating: tiny, count: 10_000).joined(separator: ","))]}"#, .tooManyAlerts)

        // Deep nesting.
        add("100k open brackets", String(repeating: "[", count: 100_000), .tooDeep)
        add("100k balanced brackets", String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000), .tooDeep)
        add("100k nested objects", String(repeating: #"{"a":"#, count: 100_000), .tooDeep)
        add("deep annotations", #"{"labels":{"a":"b"},"annotations":"# + String(repeating: "[", count: 100_000), .tooDeep)
        add("deep cloudevent data", #"{"specversion":"1.0","id":"1","source":"s","type":"t","data":"# + String(repeating: #"{"d":"#, count: 50_000), .tooDeep)

        // Invalid UTF-8.
        let utf8Breakers: [(String, [UInt8])] = [
            ("lone continuation byte", [0x80]), ("overlong slash", [0xC0, 0xAF]), ("encoded surrogate", [0xED, 0xA0, 0x80]),
            ("truncated 3-byte sequence", [0xE2, 0x82]), ("0xFF byte", [0xFF]), ("code point above U+10FFFF", [0xF4, 0x90, 0x80, 0x80]),
            ("truncated 4-byte sequence", [0xF0, 0x9F, 0x98]), ("latin-1 e-acute", [0xE9]),
        ]
        for (name, bytes) in utf8Breakers {
            add("invalid UTF-8 in label: \(name)", Array(#"{"labels":{"alertname":""#.utf8) + bytes + Array(#""}}"#.utf8), .invalidUTF8)
        }
        add("UTF-16 encoded JSON", [0xFF, 0xFE] + Array(tiny.utf8).flatMap { [$0, 0] }, .invalidUTF8)

        // Empty.
        for (name, text) in [("empty", ""), ("one space", " "), ("white space", "\n\t \r\n")] { add("\(name) record", text, .emptyRecord) }

        // Seeded binary garbage.
        for index in 0..<40 {
            let length = Int.random(in: 1...512, using: &random)
            add("garbage #\(index) (\(length) bytes)", (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }, nil)
        }

        // Valid JSON of unknown shape.
        for text in ["{}", "[]", "null", "42", "-0.5e10", #""alert""#, "true", #"{"foo":1}"#, #"[{"labels":{"a":"b"}}]"#, #"{"data":{}}"#,
                     #"{"payload":{"summary":"x"}}"#, #"{"Labels":{"a":"b"}}"#, #"{"alert":{"labels":{"a":"b"}}}"#] {
            add("unknown shape \(text)", text, .unknownFormat)
        }

        // Bad values and missing fields.
        let invalid: [(String, String, AlertDecodingError.Reason)] = [
            ("unknown status", #"{"labels":{"a":"b"},"status":"burning"}"#, .invalidValue),
            ("bad startsAt", #"{"labels":{"a":"b"},"startsAt":"yesterday"}"#, .invalidValue),
            ("bad endsAt month", #"{"labels":{"a":"b"},"endsAt":"2026-13-01T00:00:00Z"}"#, .invalidValue),
            ("empty labels", #"{"labels":{}}"#, .invalidValue),
            ("no alerts", #"{"receiver":"x","alerts":[]}"#, .invalidValue),
            ("alert without labels", #"{"alerts":[{"annotations":{"summary":"s"}}]}"#, .missingField),
            ("fractional truncatedAlerts", #"{"alerts":[{"labels":{"a":"b"}}],"truncatedAlerts":0.5}"#, .invalidValue),
            ("unknown event_action", #"{"event_action":"escalate","dedup_key":"k"}"#, .invalidValue),
            ("routing_key only", #"{"routing_key":"abc"}"#, .missingField),
            ("trigger without payload", #"{"event_action":"trigger"}"#, .missingField),
            ("resolve without dedup_key", #"{"event_action":"resolve"}"#, .missingField),
            ("payload without source", #"{"event_action":"trigger","payload":{"summary":"s","severity":"info"}}"#, .missingField),
            ("unknown pagerduty severity", #"{"event_action":"trigger","payload":{"summary":"s","source":"h","severity":"sev1"}}"#, .invalidValue),
            ("cloudevent 0.3", #"{"specversion":"0.3","id":"1","source":"s","type":"t","data":{"labels":{"a":"b"}}}"#, .invalidCloudEvent),
            ("cloudevent without id", #"{"specversion":"1.0","source":"s","type":"t","data":{"labels":{"a":"b"}}}"#, .invalidCloudEvent),
            ("cloudevent without data", #"{"specversion":"1.0","id":"1","source":"s","type":"t"}"#, .invalidCloudEvent),
            ("cloudevent bad time", #"{"specversion":"1.0","id":"1","source":"s","type":"t","time":"now","data":{"labels":{"a":"b"}}}"#, .invalidCloudEvent),
            ("cloudevent in cloudevent", #"{"specversion":"1.0","id":"1","source":"s","type":"t","data":{"specversion":"1.0"}}"#, .invalidCloudEvent),
            ("cloudevent xml data", #"{"specversion":"1.0","id":"1","source":"s","type":"t","datacontenttype":"application/xml","data":{}}"#, .unsupportedContentType),
        ]
        for (name, text, reason) in invalid { add(name, text, reason) }
        add("binary cloudevent without specversion", tiny, .invalidCloudEvent,
            headers: [RecordHeader("ce_id", "1"), RecordHeader("ce_source", "s"), RecordHeader("ce_type", "t")])
        add("binary cloudevent 0.3", tiny, .invalidCloudEvent,
            headers: [RecordHeader("ce_specversion", "0.3"), RecordHeader("ce_id", "1"), RecordHeader("ce_source", "s"), RecordHeader("ce_type", "t")])
        add("cloudevents content type without cloudevent", tiny, .invalidCloudEvent, headers: [RecordHeader("content-type", "application/cloudevents+json")])
        for contentType in ["application/xml", "text/plain", "application/x-protobuf", "application/cloudevents-batch+json"] {
            add("content type \(contentType)", tiny, .unsupportedContentType, headers: [RecordHeader("content-type", contentType)])
        }
        return out
    }

    private static func parse(_ bytes: [UInt8]) -> JSONValue {
        (try? JSONValue.parse(bytes, limits: JSONParseLimits(maxDepth: 64))) ?? .null
    }
}

/// One step of a path into a JSON document: an object key or an array index.
enum JSONPathStep: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, CustomStringConvertible {
    case key(String)
    case index(Int)

    init(stringLiteral value: String) { self = .key(value) }
    init(integerLiteral value: Int) { self = .index(value) }

    var description: String {
        switch self {
        case .key(let key): key
        case .index(let index): "[\(index)]"
        }
    }
}

extension JSONValue {
    /// A copy with the value at `path` replaced (or added, for a missing object key);
    /// unchanged when the path runs through something that is not a container.
    func replacing(at path: [JSONPathStep], with replacement: JSONValue) -> JSONValue {
        guard let step = path.first else { return replacement }
        let rest = Array(path.dropFirst())
        switch (self, step) {
        case (.object(var members), .key(let key)):
            members[key] = (members[key] ?? .null).replacing(at: rest, with: replacement)
            return .object(members)
        case (.array(var elements), .index(let index)) where elements.indices.contains(index):
            elements[index] = elements[index].replacing(at: rest, with: replacement)
            return .array(elements)
        default:
            return self
        }
    }
}
