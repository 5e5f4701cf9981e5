import Foundation
import ServiceTestSupport
import Testing
import Triage
import TriageTestSupport

/// The test-only validator, checked against known-good and known-bad documents.
@Suite struct JSONSchemaValidatorTests {
    static let schema = #"""
    {
      "$schema": "https://json-schema.org/draft/2020-12/schema",
      "type": "object",
      "required": ["id", "count", "tags", "when", "kind"],
      "additionalProperties": false,
      "properties": {
        "id": {"type": "string", "pattern": "^x-[0-9]+$", "minLength": 3, "maxLength": 8},
        "count": {"type": "integer", "minimum": 1, "maximum": 10},
        "ratio": {"type": ["number", "null"]},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "when": {"type": "string", "format": "date-time"},
        "kind": {"enum": ["a", "b"]},
        "version": {"const": 1},
        "map": {"type": "object", "additionalProperties": {"type": "boolean"}},
        "either": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/small"}]},
        "one": {"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 5}]}
      },
      "$defs": {"small": {"type": "integer", "maximum": 3}}
    }
    """#

    func violations(_ json: String) throws -> [JSONSchemaValidator.Violation] {
        try JSONSchemaValidator(schemaBytes: Array(Self.schema.utf8)).validate(bytes: Array(json.utf8))
    }

    static let good = #"{"id":"x-12","count":3,"tags":["t"],"when":"2026-11-29T10:00:00Z","kind":"a","version":1.0,"#
        + #""ratio":null,"map":{"k":true},"either":2,"one":7.5e0}"#

    @Test func acceptsKnownGood() throws {
        #expect(try violations(Self.good).isEmpty)
        #expect(try violations(#"{"id":"x-1","count":10,"tags":["a","b"],"when":"2026-11-29T10:00:00.123+01:00","kind":"b","either":null,"one":3}"#).isEmpty)
    }

    @Test(arguments: [
        (#"{"count":3,"tags":["t"],"when":"2026-11-29T10:00:00Z","kind":"a"}"#, "", "missing required property id"),
        (#"{"id":"y-12","count":3,"tags":["t"],"when":"2026-11-29T10:00:00Z","kind":"a"}"#, "/id", "does not match"),
        (#"{"id":"x-123456789","count":3,"tags":["t"],"when":"2026-11-29T10:00:00Z","kind":"a"}"#, "/id", "longer than"),
        (#"{"id":"x-12","count":3.5,"tags":["t"],"when":"2026-11-29T10:00:00Z","kind":"a"}"#, "/count", "expected integer"),
        (#"{"id":"x-12","count":0,"tags":["t"],"when":"2026-11-29T10:00:00Z","kind":"a"}"#, "/count", "less than"),
        (#"{"id":"x-12","count":11,"tags":["t"],"when":"2026-11-29T10:00:00Z","kind":"a"}"#, "/count", "more than"),
        (#"{"id":"x-12","count":3,"tags":[],"when":"2026-11-29T10:00:00Z","kind":"a"}"#, "/tags", "fewer than"),
        (#"{"id":"x-12","count":3,"tags":[1],"when":"2026-11-29T10:00:00Z","kind":"a"}"#, "/tags/0", "expected string"),
        (#"{"id":"x-12","count":3,"tags":["t"],"when":"yesterday","kind":"a"}"#, "/when", "date-time"),
        (#"{"id":"x-12","count":3,"tags":["t"],"when":"2026-11-29T10:00:00+0100","kind":"a"}"#, "/when", "date-time"),
        (#"{"id":"x-12","count":3,"tags":["t"],"when":"2026-11-29T10:00:00Z","kind":"c"}"#, "/kind", "is not one of"),
        (#"{"id":"x-12","count":3,"tags":["t"],"when":"2026-11-29T10:00:00Z","kind":"a","version":2}"#, "/version", "must equal"),
        (#"{"id":"x-12","count":3,"tags":["t"],"when":"2026-11-29T10:00:00Z","kind":"a","extra":1}"#, "/extra", "not allowed"),
        (#"{"id":"x-12","count":3,"tags":["t"],"when":"2026-11-29T10:00:00Z","kind":"a","map":{"k":"yes"}}"#, "/map/k", "expected boolean"),
        (#"{"id":"x-12","count":3,"tags":["t"],"when":"2026-11-29T10:00:00Z","kind":"a","either":7}"#, "/either", "anyOf"),
        (#"{"id":"x-12","count":3,"tags":["t"],"when":"2026-11-29T10:00:00Z","kind":"a","one":6}"#, "/one", "matches 2 of the oneOf"),
        (#"{"id":"x-12","count":3,"tags":["t"],"when":"2026-11-29T10:00:00Z","kind":"a","one":"s"}"#, "/one", "matches 0 of the oneOf"),
        (#"{"id":"x-12","count":3,"tags":["t"],"when":"2026-11-29T10:00:00Z","kind":"a","ratio":"1"}"#, "/ratio", "number or null"),
        (#"[1]"#, "", "expected object"),
    ])
    func rejectsKnownBad(json: String, path: String, message: String) throws {
        let found = try violations(json)
        #expect(found.contains { $0.path == path && $0.message.contains(message) }, "\(found)")
    }

    @Test func refusesUnsupportedSchemas() throws {
        for schema in [#"{"patternProperties":{}}"#, #"{"$ref":"other.json#"}"#, #"{"format":"email"}"#, #"{"pattern":"("}"#, "[]"] {
            #expect(throws: (any Error).self, "\(schema)") {
                try JSONSchemaValidator(schemaBytes: Array(schema.utf8)).validate(.string("x"))
            }
        }
        #expect(try JSONSchemaValidator(schemaBytes: Array(#"{"properties":{"a":false}}"#.utf8)).validate(.object(["a": .null])).count == 1)
    }

    /// The repository's schema files use only the supported subset, and reject a broken record.
    @Test func repositorySchemasRejectBrokenRecords() throws {
        var incident = try #require(try JSONValue.parse(try ExampleRecords.incident.jsonBytes()).objectValue)
        let validator = try schemaValidator("incident.schema.json")
        #expect(try validator.validate(.object(incident)).isEmpty)
        incident["dedup"] = .object(["available": .bool(true)])
        incident["received_at"] = .string("2026-11-29T10:15:30Z")
        let found = try validator.validate(.object(incident))
        #expect(found.map(\.path).sorted() == ["/dedup", "/received_at"])
    }
}
