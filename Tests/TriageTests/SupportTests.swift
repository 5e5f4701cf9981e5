import Locking
import Foundation
import Testing
import Triage

@Suite struct FingerprintTests {
    @Test func canonicalTextIsSortedByBytesAndEscaped() {
        #expect(Fingerprint.canonicalText(["job": "api", "alertname": "InstanceDown"]) == "alertname=InstanceDown\njob=api\n")
        #expect(Fingerprint.canonicalText(["a=b": "c\nd", "Z": "\\"]) == "Z=\\\\\na\\=b=c\\nd\n")
        // Escaping keeps different label sets apart.
        #expect(Fingerprint.derive(labels: ["a": "b\nc=d"]) != Fingerprint.derive(labels: ["a": "b", "c": "d"]))
    }

    @Test func knownValues() {
        // FNV-1a 64 reference values: "" → cbf29ce484222325, "a" → af63dc4c8601ec8c.
        #expect(Fingerprint.hex(Fingerprint.fnv1a64("")) == "cbf29ce484222325")
        #expect(Fingerprint.hex(Fingerprint.fnv1a64("a")) == "af63dc4c8601ec8c")
        #expect(Fingerprint.derive(labels: [:]) == "cbf29ce484222325")
        #expect(Fingerprint.hex(1) == "0000000000000001")
        #expect(Fingerprint.hex(0xfedc_ba98_7654_3210, after: "inc-") == "inc-fedcba9876543210")
        #expect(Fingerprint.hex(.max) == "ffffffffffffffff")
    }

    /// `derive` hashes the canonical text as it goes; it must hash exactly that text, and
    /// the order must be UTF-8 byte order, not `String` `<` ("Z" < "a" and "ä" > "z" by
    /// bytes; "é" and "e\u{301}" are one key to a dictionary).
    @Test func deriveHashesTheCanonicalTextInUTF8KeyOrder() {
        var rng = SeededRandom(seed: 11)
        func labels(from pieces: [String]) -> [String: String] {
            var labels: [String: String] = [:]
            for _ in 0..<Int.random(in: 0...8, using: &rng) {
                let key = (0..<Int.random(in: 1...3, using: &rng)).map { _ in pieces.randomElement(using: &rng) ?? "" }.joined()
                labels[key] = (0..<Int.random(in: 0...3, using: &rng)).map { _ in pieces.randomElement(using: &rng) ?? "" }.joined()
            }
            return labels
        }
        let plain = ["a", "Z", "z", "é", "e\u{301}", "ä", "😀", "job", "instance"]
        for round in 0..<500 {
            let escaping = labels(from: plain + ["=", "\\", "\n", "=\\\n", "a=b", ""])
            #expect(Fingerprint.derive(labels: escaping) == Fingerprint.hex(Fingerprint.fnv1a64(Fingerprint.canonicalText(escaping))), "round \(round): \(escaping)")
            // Nothing to escape: the text is each member in the keys' UTF-8 order.
            let unescaped = labels(from: plain)
            let keys = unescaped.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            #expect(Fingerprint.canonicalText(unescaped) == keys.map { "\($0)=\(unescaped[$0] ?? "")\n" }.joined(), "round \(round)")
        }
    }

    @Test func stableAcrossLabelOrder() throws {
        var rng = SeededRandom(seed: 7)
        let labels = Dictionary(uniqueKeysWithValues: (0..<20).map { ("label_\($0)", "value-\($0)") })
        let expected = Fingerprint.derive(labels: labels)
        for _ in 0..<20 {
            let shuffled = labels.shuffled(using: &rng)
            var rebuilt: [String: String] = [:]
            for (key, value) in shuffled { rebuilt[key] = value }
            #expect(Fingerprint.derive(labels: rebuilt) == expected)
            // And through JSON with the members written in that order.
            let json = "{\"labels\":{" + shuffled.map { "\"\($0.key)\":\"\($0.value)\"" }.joined(separator: ",") + "}}"
            let alert = try #require(try AlertDecoder().decode(value: Array(json.utf8)).first)
            #expect(alert.fingerprint == expected)
        }
        #expect(expected.count == 16)
    }
}

@Suite struct TimestampTests {
    @Test(arguments: [
        ("2026-11-29T10:15:30Z", 1_795_947_330.0),
        ("2026-11-29T10:15:30.5Z", 1_795_947_330.5),
        ("2026-11-29T11:15:30+01:00", 1_795_947_330.0),
        ("2026-11-29T09:15:30-0100", 1_795_947_330.0),
        ("2026-11-29t10:15:30.250z", 1_795_947_330.25),
        ("2024-02-29T00:00:00Z", 1_709_164_800.0),
        ("1970-01-01T00:00:00Z", 0.0),
    ])
    func parses(text: String, epoch: Double) throws {
        let date = try #require(Timestamp.parse(text))
        #expect(abs(date.timeIntervalSince1970 - epoch) < 0.000_001)
    }

    @Test func keepsNanosecondsToDoublePrecision() throws {
        let date = try #require(Timestamp.parse("2026-11-29T10:15:30.123456789123Z"))
        #expect(abs(date.timeIntervalSince1970 - 1_795_947_330.123_456_789) < 0.000_001)
    }

    @Test(arguments: ["", "2026-11-29", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2023-02-29T00:00:00Z",
                      "2026-11-29T24:00:00Z", "2026-11-29T10:15:30", "2026-11-29T10:15:30.Z", "2026-11-29T10:15:30Zjunk",
                      "2026-11-29T10:15:30+1", "x026-11-29T10:15:30Z", "2026-11-29T10:15:30+25:00"])
    func rejects(text: String) {
        #expect(Timestamp.parse(text) == nil)
    }

    @Test func formatsUTCWithMilliseconds() throws {
        #expect(Timestamp.format(Date(timeIntervalSince1970: 1_795_947_330.123)) == "2026-11-29T10:15:30.123Z")
        #expect(Timestamp.format(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp.format(Date(timeIntervalSince1970: -1)) == "1969-12-31T23:59:59.000Z")
        #expect(Timestamp.format(.distantFuture) == "4001-01-01T00:00:00.000Z")
        #expect(Timestamp.format(Date(timeIntervalSince1970: 1e300)) == "9999-12-31T23:59:59.999Z")
        #expect(Timestamp.format(Date(timeIntervalSince1970: .nan)) == "0001-01-01T00:00:00.000Z")
        let text = "2026-11-29T10:15:30.999Z"
        #expect(Timestamp.format(try #require(Timestamp.parse(text))) == text)
    }

    /// Every digit position, across the whole year range the format can hold.
    @Test func formattedTimestampsReadBackToTheMillisecond() throws {
        var random = SeededRandom(seed: 11)
        for _ in 0..<500 {
            let seconds = Double.random(in: -62_135_596_800..<253_402_300_799, using: &random)
            let text = Timestamp.format(Date(timeIntervalSince1970: seconds))
            let back = try #require(Timestamp.parse(text), "\(seconds) → \(text)")
            // Half a millisecond of rounding, plus the Double's own spacing near year 9999 (~30 µs).
            #expect(text.utf8.count == 24 && abs(back.timeIntervalSince1970 - seconds) < 0.000_6, "\(seconds) → \(text)")
        }
    }

    @Test func zeroTime() {
        #expect(Timestamp.isZeroTime("0001-01-01T00:00:00Z"))
        #expect(Timestamp.isZeroTime("0001-01-01T00:00:00.000000000Z"))
        #expect(!Timestamp.isZeroTime("2026-01-01T00:00:00Z"))
    }
}

@Suite struct JSONValueTests {
    @Test func parsesEveryKind() throws {
        let value = try JSONValue.parse(Array(#" {"a":[1,-2.5e3,true,false,null,"x\u00e9\ud83d\ude00\n\"\/"],"b":{}} "#.utf8))
        let object = try #require(value.objectValue)
        let array = try #require(object["a"]?.arrayValue)
        #expect(array == [.number("1"), .number("-2.5e3"), .bool(true), .bool(false), .null, .string("xé😀\n\"/")])
        #expect(array[1].doubleValue == -2500)
        #expect(object["b"] == .object([:]))
        #expect(value.canonicalText == #"{"a":[1,-2.5e3,true,false,null,"xé😀\n\"/"],"b":{}}"#)
        #expect(JSONValue.string("\u{01}\t").canonicalText == #""\u0001\t""#)
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\"}", "01", "1.", "-", "1e", "tru", "nul", "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"",
                      "\"\\ud800\\u0041\"", "\"\\u12\"", "\"\u{01}\"", "[1] x", "{\"a\":1,}", "{1:2}", "\"abc"])
    func rejectsSyntax(text: String) throws {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(Array(text.utf8)) }
        do {
            _ = try JSONValue.parse(Array(text.utf8))
        } catch {
            #expect(error.kind == .syntax)
        }
    }

    @Test func enforcesLimits() {
        let limits = JSONParseLimits(maxDepth: 3, maxStringBytes: 4, maxCollectionCount: 2)
        func kind(_ text: String) -> JSONParseError.Kind? {
            do { _ = try JSONValue.parse(Array(text.utf8), limits: limits); return nil } catch { return error.kind }
        }
        #expect(kind("[[[1]]]") == nil)
        #expect(kind("[[[[1]]]]") == .tooDeep)
        #expect(kind("\"abcde\"") == .stringTooLong)
        #expect(kind("\"\\n\\n\\n\\n\\n\"") == .stringTooLong)  // the escape-decoding path counts too
        #expect(kind("\"\\n\\n\\n\\n\"") == nil)
        #expect(kind("123456") == .stringTooLong)
        #expect(kind("[1,2,3]") == .collectionTooLarge)
        #expect(kind("{\"a\":1,\"b\":2,\"c\":3}") == .collectionTooLarge)
    }

    @Test func invalidUTF8InsideStringsIsASyntaxError() {
        for bytes: [UInt8] in [[0x22, 0xFF, 0x22], [0x22, 0x5C, 0x6E, 0xFF, 0x22], [0x22, 0xC3, 0x22]] {
            do {
                _ = try JSONValue.parse(bytes)
                Issue.record("parsed \(bytes)")
            } catch {
                #expect(error.kind == .syntax)
                #expect(error.message.contains("UTF-8"))
            }
        }
    }

    @Test func lastDuplicateKeyWins() throws {
        #expect(try JSONValue.parse(Array(#"{"a":1,"a":2}"#.utf8)) == .object(["a": .number("2")]))
    }

    @Test func nestedObjectsKeepTheirOwnMembers() throws {
        let text = #"{"a":{"x":1,"y":{"z":[{"p":true},{}]}},"b":[{"q":null,"q":"2"}],"c":{}}"#
        #expect(try JSONValue.parse(Array(text.utf8)) == .object([
            "a": .object(["x": .number("1"), "y": .object(["z": .array([.object(["p": .bool(true)]), .object([:])])])]),
            "b": .array([.object(["q": .string("2")])]),
            "c": .object([:]),
        ]))
    }
}


@Suite("Support: white space and random UUIDs without Foundation's slow paths")
struct WhitespaceAndUUIDTests {
    @Test func whiteSpaceIsFoundationsWhitespacesAndNewlinesForEveryBMPScalar() {
        for value in UInt32(0)...0xFFFF {
            guard let scalar = Unicode.Scalar(value) else { continue }
            #expect(scalar.isWhitespaceOrNewline == CharacterSet.whitespacesAndNewlines.contains(scalar), "U+\(String(value, radix: 16))")
        }
    }

    @Test(arguments: ["", " ", "\t\n\r\u{0B}\u{0C}", "\u{85}\u{A0}\u{2028}\u{3000}", " a ", "\u{2003}critical\n", "x", "a b", "é\u{301}"])
    func trimmingAndBlanknessAgreeWithFoundation(_ text: String) {
        #expect(text.trimmingWhitespace() == text.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(text.isBlank == text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
    }

    @Test func randomUUIDsAreVersion4AndDistinct() {
        let ids = (0..<1_000).map { _ in UUID.version4() }
        #expect(Set(ids).count == ids.count)
        for id in ids {
            let text = id.uuidString.lowercased()
            #expect(Array(text)[14] == "4")
            #expect("89ab".contains(Array(text)[19]))
        }
        var first = SeededRandom(seed: 7)
        var second = SeededRandom(seed: 7)
        #expect(UUID.version4(using: &first) == UUID.version4(using: &second))
    }
}

@Suite("Support: metric handles are made once per label and dimensions")
struct MetricHandleCacheTests {
    /// A handle that remembers what it was made for.
    final class Made: Sendable {
        let label: String
        let dimensions: [String]
        init(_ label: String, _ dimensions: [(String, String)]) {
            self.label = label
            self.dimensions = dimensions.flatMap { [$0.0, $0.1] }
        }
    }

    @Test func theSameLabelAndDimensionsInOrderGetTheSameHandleAndAnyDifferenceAnother() {
        let made = LockedValue(0)
        let cache = MetricHandleCache<Made> { label, dimensions in
            made.withLock { $0 += 1 }
            return Made(label, dimensions)
        }
        let first = cache.handle("incidents", [("classifier", "rules"), ("severity", "high")])
        #expect(cache.handle("incidents", [("classifier", "rules"), ("severity", "high")]) === first)
        #expect(first.label == "incidents" && first.dimensions == ["classifier", "rules", "severity", "high"])
        let others = [
            cache.handle("incidents", [("severity", "high"), ("classifier", "rules")]),
            cache.handle("incidents", [("classifier", "rules")]),
            cache.handle("incidents", [("classifier", "rules"), ("severity", "low")]),
            cache.handle("fallbacks", [("classifier", "rules"), ("severity", "high")]),
            cache.handle("incidents", []),
            // Name and value swapped across the boundary: not the same dimensions.
            cache.handle("incidents", [("classifierrules", ""), ("severity", "high")]),
        ]
        for (index, other) in others.enumerated() {
            #expect(other !== first, "case \(index)")
        }
        #expect(made.withLock { $0 } == 1 + others.count)
    }
}
