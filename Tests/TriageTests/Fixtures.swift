import Foundation
import Testing
import Triage

/// Reads test fixtures and repository files by path relative to this source file.
enum Fixture {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    static func bytes(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: directory.appendingPathComponent(name)))
    }

    /// A fixture's headers file (`<name>.headers.json`, a JSON object of strings) as record headers.
    static func headers(_ name: String) throws -> [RecordHeader] {
        let object = try #require(JSONValue.parse(try bytes(name)).objectValue)
        return try object.keys.sorted().map { key in RecordHeader(key, try #require(object[key]?.stringValue)) }
    }

    static func repositoryFile(_ path: String) throws -> [UInt8] {
        Array(try Data(contentsOf: repositoryRoot.appendingPathComponent(path)))
    }
}

/// A fixed reception time after every fixture timestamp.
let fixtureReceivedAt = Date(timeIntervalSince1970: 1_795_953_600)  // 2026-11-29T12:00:00Z

func date(_ text: String) throws -> Date { try #require(Timestamp.parse(text)) }
