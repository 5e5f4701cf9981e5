import Foundation
import Testing
import Triage

/// `[value]` as the output records' old `JSONEncoder` configuration writes it; wrapping in
/// an array compares a scalar exactly as it appears inside a record.
func encodedByJSONEncoder(_ value: some Encodable) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode([value]), as: UTF8.self)
}

/// `[value]` written by ``JSONByteWriter``.
func writtenByWriter(_ write: (inout JSONByteWriter) throws -> Void) rethrows -> String {
    var writer = JSONByteWriter()
    writer.beginArray()
    try write(&writer)
    writer.endArray()
    return String(decoding: writer.bytes, as: UTF8.self)
}

/// Strings whose escaping could differ from `JSONEncoder`'s.
let awkwardStrings: [String] = [
    "", "plain", #"say "hi""#, #"back\slash"#, #"\""#, "http://a/b/</script>", "\u{7F}", "line\u{2028}sep\u{2029}",
    "é", "e\u{301}", "日本語", "🚨", "👩‍👩‍👧", "\u{FEFF}bom", "tab\there\nnew\r\n", "\u{0}nul",
    String((0..<0x20).map { Character(Unicode.Scalar(UInt8($0))) }),
] + (0..<0x20).map { "<\(Character(Unicode.Scalar(UInt8($0))))>" }

/// Doubles whose spelling could differ from `JSONEncoder`'s.
let awkwardDoubles: [Double] = [
    0, -0.0, 1, -1, 0.5, 0.1, 0.1 + 0.2, 0.95, 0.92, 1e-7, 123456.789, 42.5, 100, 1 / 3.0, 1e15, 1e16, 1e21, 1e22,
    9_007_199_254_740_992, 9_007_199_254_740_994, 123_456_789_012_345_680, -2.5e-300, .greatestFiniteMagnitude, .leastNonzeroMagnitude,
    .leastNormalMagnitude, .ulpOfOne,
]

@Suite struct JSONByteWriterTests {
    @Test(arguments: awkwardStrings)
    func stringsAreEscapedLikeJSONEncoder(text: String) throws {
        #expect(writtenByWriter { $0.string(text) } == (try encodedByJSONEncoder(text)))
    }

    /// Long strings, so the eight-bytes-at-a-time scan meets a quote, a backslash, a
    /// control character or a non-ASCII byte at every position of a word, and clean words
    /// around them: written like `JSONEncoder`, and parsed back to the same string.
    @Test func longStringsWithAByteToEscapeAnywhereAreWrittenAndParsedBackExactly() throws {
        var random = SeededRandom(seed: 5)
        let pieces = ["a", "Z", "0", " ", "/", "plain te", "xt 01234", "\"", "\\", "\n", "\u{1}", "\u{1F}", "\u{7F}", "é", "日", "🚨"]
        for _ in 0..<1_000 {
            let text = (0..<Int.random(in: 0...40, using: &random)).map { _ in random.pick(pieces) }.joined()
            let written = writtenByWriter { $0.string(text) }
            #expect(written == (try encodedByJSONEncoder(text)))
            #expect(try JSONValue.parse(Array(written.utf8)) == .array([.string(text)]))
        }
    }

    @Test(arguments: awkwardDoubles)
    func doublesAreSpelledLikeJSONEncoder(number: Double) throws {
        #expect(try writtenByWriter { try $0.double(number, field: "n") } == (try encodedByJSONEncoder(number)))
    }

    @Test(arguments: [0, 1, -1, 9, 10, 42, -120, Int.max, Int.min])
    func intsAreSpelledLikeJSONEncoder(number: Int) throws {
        #expect(writtenByWriter { $0.int(number) } == (try encodedByJSONEncoder(number)))
    }

    /// `.sortedKeys` orders by UTF-8 bytes on Linux: uppercase before lowercase, `é` after
    /// `z`, a prefix before its extensions.
    @Test func objectKeysAreSortedLikeJSONEncoder() throws {
        // Keys Swift holds equal (`é` and `e` + U+0301) share one entry, as in any `[String: String]`.
        let keys = ["", "Z", "a", "aa", "a b", "ä", "é", "z", "_", "10", "9", "😀", "\u{FF21}", "\"q\"", "\n"] + awkwardStrings
        let members = Dictionary(keys.map { ($0, "v" + $0) }, uniquingKeysWith: { first, _ in first })
        #expect(writtenByWriter { $0.stringObject(members) } == (try encodedByJSONEncoder(members)))
        #expect(writtenByWriter { $0.stringObject([:]) } == (try encodedByJSONEncoder([String: String]())))
        #expect(writtenByWriter { $0.stringObject(["only": "one"]) } == (try encodedByJSONEncoder(["only": "one"])))
    }

    @Test func commasSeparateMembersAndElements() {
        var writer = JSONByteWriter(capacity: 0)
        writer.beginObject()
        writer.key("a")
        writer.beginArray()
        writer.int(1)
        writer.beginObject()
        writer.key("b")
        writer.null()
        writer.endObject()
        writer.beginArray()
        writer.endArray()
        writer.stringArray(["x", "y"])
        writer.bool(false)
        writer.endArray()
        writer.key("c")
        writer.beginObject()
        writer.endObject()
        writer.key("d")
        writer.stringOrNull(nil)
        writer.key("e")
        writer.intOrNull(7)
        writer.endObject()
        #expect(String(decoding: writer.bytes, as: UTF8.self) == #"{"a":[1,{"b":null},[],["x","y"],false],"c":{},"d":null,"e":7}"#)
    }

    @Test(arguments: [Double.nan, .infinity, -.infinity, .signalingNaN])
    func nonFiniteDoublesThrowAndWriteNothing(number: Double) {
        var writer = JSONByteWriter()
        writer.beginArray()
        writer.int(1)
        #expect(throws: EncodingError.self) { try writer.double(number, field: "classification.confidence") }
        #expect(throws: EncodingError.self) { try writer.doubleOrNull(number, field: "stale_age_seconds") }
        writer.endArray()
        #expect(writer.bytes == Array("[1]".utf8))
    }

    /// Written into the returned array while it fits, moved to a buffer of the writer's
    /// own when it does not (at once, or after many small writes): the same bytes either way.
    @Test(arguments: [0, 16, 40, 41, 200, 4096])
    func bytesInPlaceEqualTheCopyAtAnyCapacity(capacity: Int) {
        func write(_ writer: inout JSONByteWriter) {
            writer.beginObject()
            for index in 0..<12 {
                writer.key("k\(index)")
                writer.string(String(repeating: "x", count: index) + "\"\n")
            }
            writer.endObject()
        }
        var copying = JSONByteWriter(capacity: 16)
        write(&copying)
        #expect(JSONByteWriter.bytes(capacity: capacity, write) == copying.bytes)
    }

    /// Keys that share their first eight bytes are ordered by the rest, as `JSONEncoder`
    /// orders them.
    @Test func objectsOfKeysWithCommonPrefixesAreInJSONEncodersOrder() throws {
        let keys = ["instance_long_b", "instance_long_a", "instance", "instancf", "instance_", "alertname", "Z", "é", "😀x", "", "a"]
        let members = Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($1, "v\($0)") })
        #expect(writtenByWriter { $0.stringObject(members) } == (try encodedByJSONEncoder(members)))
    }

    @Test func bytesInPlacePassesOnWhatTheWriteThrows() {
        #expect(throws: EncodingError.self) {
            try JSONByteWriter.bytes(capacity: 64) { writer in
                writer.beginArray()
                try writer.double(.nan, field: "x")
            }
        }
    }
}
