import Foundation
import Logging
import Locking
import Testing

@testable import BreakwaterApp

/// Collects the lines a handler writes.
final class LineCollector: Sendable {
    private let storage = LockedValue<[String]>([])
    var lines: [String] { storage.withLock { $0 } }
    var output: LogOutput { LogOutput { line in self.storage.withLock { $0.append(line) } } }
}

/// A fixed instant: 2026-11-28T10:56:14.125Z.
let fixedLogDate = Date(timeIntervalSince1970: 1_795_863_374.125)

func makeLogger(_ format: LogFormat, level: Logger.Level = .trace, collector: LineCollector) -> Logger {
    Logger(label: "breakwater.test") { label in
        BreakwaterLogHandler(label: label, format: format, level: level, output: collector.output, now: { fixedLogDate })
    }
}

/// A logfmt parser (the reference for what a reader sees): bare or quoted values, with
/// the escapes `\"`, `\\`, `\n`, `\r`, `\t` and `\uXXXX`.
func parseLogfmt(_ line: String) throws -> [(String, String)] {
    struct Malformed: Error { var line: String }
    var pairs: [(String, String)] = []
    var scalars = Array(line.unicodeScalars)[...]
    func skipSpaces() { while scalars.first == " " { scalars.removeFirst() } }
    skipSpaces()
    while !scalars.isEmpty {
        var key = ""
        while let scalar = scalars.first, scalar != "=" {
            guard scalar != " " else { throw Malformed(line: line) }
            key.unicodeScalars.append(scalar)
            scalars.removeFirst()
        }
        guard scalars.popFirst() == "=" else { throw Malformed(line: line) }
        var value = ""
        if scalars.first == "\"" {
            scalars.removeFirst()
            while true {
                guard let scalar = scalars.popFirst() else { throw Malformed(line: line) }
                if scalar == "\"" { break }
                guard scalar == "\\" else {
                    value.unicodeScalars.append(scalar)
                    continue
                }
                switch scalars.popFirst() {
                case "\"": value += "\""
                case "\\": value += "\\"
                case "n": value += "\n"
                case "r": value += "\r"
                case "t": value += "\t"
                case "u":
                    let hex = String(String.UnicodeScalarView(scalars.prefix(4)))
                    scalars.removeFirst(4)
                    guard let code = UInt32(hex, radix: 16), let decoded = Unicode.Scalar(code) else { throw Malformed(line: line) }
                    value.unicodeScalars.append(decoded)
                default: throw Malformed(line: line)
                }
            }
            guard scalars.isEmpty || scalars.first == " " else { throw Malformed(line: line) }
        } else {
            while let scalar = scalars.first, scalar != " " {
                guard scalar != "\"" else { throw Malformed(line: line) }
                value.unicodeScalars.append(scalar)
                scalars.removeFirst()
            }
        }
        pairs.append((key, value))
        skipSpaces()
    }
    return pairs
}

@Suite struct JSONLogHandlerTests {
    @Test func oneParsableObjectPerEventWithMetadata() throws {
        let collector = LineCollector()
        var logger = makeLogger(.json, collector: collector)
        logger[metadataKey: "worker"] = "w-1"
        logger.warning(
            "breaker \"ml\" opened\nafter 5 failures\t\u{01}",
            metadata: [
                "breaker": "ml",
                "counts": ["failures": "5", "calls": "9"],
                "partitions": ["0", "3"],
                "unicode": "Zürich ☃ \u{2028}",
                "ts": "a metadata key that collides",
            ]
        )
        #expect(collector.lines.count == 1)
        let line = try #require(collector.lines.first)
        #expect(!line.contains("\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["ts"] as? String == "2026-11-28T10:56:14.125Z")
        #expect(object["level"] as? String == "warning")
        #expect(object["logger"] as? String == "breakwater.test")
        #expect(object["msg"] as? String == "breaker \"ml\" opened\nafter 5 failures\t\u{01}")
        #expect(object["source"] as? String == "BreakwaterAppTests")
        #expect(object["worker"] as? String == "w-1")
        #expect(object["breaker"] as? String == "ml")
        #expect(object["counts"] as? [String: String] == ["failures": "5", "calls": "9"])
        #expect(object["partitions"] as? [String] == ["0", "3"])
        #expect(object["unicode"] as? String == "Zürich ☃ \u{2028}")
        #expect(object["meta.ts"] as? String == "a metadata key that collides")
        #expect(object["error"] == nil)
        // Fixed fields first, metadata sorted.
        #expect(line.hasPrefix(#"{"ts":"2026-11-28T10:56:14.125Z","level":"warning","logger":"breakwater.test","msg":"#))
    }

    @Test func errorsAreIncluded() throws {
        struct Boom: Error, CustomStringConvertible { var description: String { "connection refused" } }
        let collector = LineCollector()
        let handler = BreakwaterLogHandler(label: "x", format: .json, output: collector.output, now: { fixedLogDate })
        let line = handler.line(for: LogEvent(
            level: .error, message: "send failed", error: Boom(), metadata: nil, source: "Kafka",
            file: #fileID, function: #function, line: #line
        ))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["error"] as? String == "connection refused")
        #expect(object["source"] as? String == "Kafka")
    }

    @Test func providerAndEventMetadataOverrideHandlerMetadata() throws {
        let collector = LineCollector()
        var handler = BreakwaterLogHandler(
            label: "x", format: .json, output: collector.output,
            metadataProvider: Logger.MetadataProvider { ["trace": "t-1", "layer": "provider"] },
            now: { fixedLogDate }
        )
        handler[metadataKey: "layer"] = "handler"
        handler[metadataKey: "keep"] = "yes"
        let configured = handler
        var logger = Logger(label: "x") { _ in configured }
        logger.logLevel = .info
        logger.info("hello", metadata: ["trace": "t-2"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(collector.lines[0].utf8)) as? [String: Any])
        #expect(object["layer"] as? String == "provider")
        #expect(object["trace"] as? String == "t-2")
        #expect(object["keep"] as? String == "yes")
    }
}

@Suite struct LogfmtLogHandlerTests {
    @Test func valuesAreQuotedAndEscapedOnlyWhenNeeded() throws {
        let collector = LineCollector()
        let logger = makeLogger(.logfmt, collector: collector)
        let tricky = "say \"hi\"\nthen\tleave \\ now"
        logger.info(
            "alert routed",
            metadata: [
                "plain": "abc-123",
                "spaced": "two words",
                "tricky": .string(tricky),
                "equals": "a=b",
                "empty": "",
                "control": "bell\u{07}",
                "bad key=\"x\"": "v",
                "nested": ["inner": "x y", "deeper": ["leaf": "1"]],
                "none": [:],
                "list": ["a", "b c"],
            ]
        )
        let line = try #require(collector.lines.first)
        #expect(collector.lines.count == 1)
        #expect(!line.contains("\n"))
        #expect(line.hasPrefix("ts=2026-11-28T10:56:14.125Z level=info logger=breakwater.test msg=\"alert routed\" source=BreakwaterAppTests "))
        #expect(line.contains(" plain=abc-123 "))
        #expect(line.contains(#" spaced="two words" "#))
        #expect(line.contains(#" tricky="say \"hi\"\nthen\tleave \\ now""#))
        #expect(line.contains(#" empty="" "#))
        #expect(line.contains(#" control="bell\u0007""#))
        let pairs = try parseLogfmt(line)
        let values = Dictionary(pairs, uniquingKeysWith: { first, _ in first })
        #expect(pairs.count == values.count)
        #expect(values["msg"] == "alert routed")
        #expect(values["plain"] == "abc-123")
        #expect(values["spaced"] == "two words")
        #expect(values["tricky"] == tricky)
        #expect(values["equals"] == "a=b")
        #expect(values["empty"] == "")
        #expect(values["control"] == "bell\u{07}")
        #expect(values["bad_key__x_"] == "v")
        #expect(values["nested.inner"] == "x y")
        #expect(values["nested.deeper.leaf"] == "1")
        #expect(values["list"] == #"["a","b c"]"#)
        #expect(values["none"] == "{}")
        // Metadata in key order after the fixed fields.
        let metadataKeys = pairs.map(\.0).dropFirst(5)
        #expect(Array(metadataKeys) == metadataKeys.sorted())
    }

    @Test func levelFilteringIsTheHandlersLevel() {
        let collector = LineCollector()
        let logger = makeLogger(.logfmt, level: .warning, collector: collector)
        logger.info("dropped")
        logger.debug("dropped")
        logger.warning("kept")
        logger.critical("kept too")
        #expect(collector.lines.count == 2)
        #expect(collector.lines.allSatisfy { $0.contains("msg=kept") || $0.contains(#"msg="kept too""#) })
    }
}

@Suite struct LogRedactionTests {
    @Test(arguments: [LogFormat.json, .logfmt])
    func secretsNeverReachTheOutput(format: LogFormat) throws {
        let collector = LineCollector()
        let logger = makeLogger(format, collector: collector)
        let secret = "hunter2-s3cr3t"
        logger.error(
            "connecting to postgres://breakwater:\(secret)@db:5432/catalog failed",
            metadata: [
                "password": .string(secret),
                "sasl.password": .string(secret),
                "Authorization": .string("Bearer \(secret)"),
                "adminToken": .string(secret),
                "X-Api-Key": .string(secret),
                "kafka": ["sasl": ["password": .string(secret)], "bootstrap": "b:9092"],
                "dsn": .string("postgres://u:\(secret)@h/db?sslmode=disable"),
                "replica": .string("postgres://u@h/db?password=\(secret)"),
                "configured": .stringConvertible(Secret(secret)),  // a Secret describes itself masked
                "partitionKey": "svc-1",
            ]
        )
        let line = try #require(collector.lines.first)
        #expect(!line.contains(secret))
        #expect(line.contains("********"))
        #expect(line.contains("postgres://breakwater:********@db:5432/catalog"))
        #expect(line.contains("svc-1"), "ordinary keys containing 'key' are kept")
        #expect(line.contains("b:9092"))
    }

    @Test func sensitiveKeyRule() {
        for key in ["password", "db_password", "sasl.password", "PASSWORD", "passphrase", "clientSecret", "token",
                    "adminToken", "authorization", "Authorization", "x-api-key", "apiKey", "accessKey", "private_key",
                    "credentials", "cookie", "Set-Cookie"] {
            #expect(LogRedaction.isSensitiveKey(key), "\(key) should be sensitive")
        }
        for key in ["partitionKey", "key", "breaker", "topic", "offset", "user", "keyspace", "severity"] {
            #expect(!LogRedaction.isSensitiveKey(key), "\(key) should be shown")
        }
    }

    @Test func urlPasswordsAreMaskedInFreeText() {
        #expect(LogRedaction.maskingURLPasswords(in: "no urls here") == "no urls here")
        #expect(LogRedaction.maskingURLPasswords(in: "see http://example.com/x ok") == "see http://example.com/x ok")
        #expect(LogRedaction.maskingURLPasswords(in: "dsn=\"postgres://u:p4ss@h:5432/db\" next")
            == "dsn=\"postgres://u:********@h:5432/db\" next")
        #expect(LogRedaction.maskingURLPasswords(in: "a postgres://u:p@h/db and https://x:y@z/ b")
            == "a postgres://u:********@h/db and https://x:********@z/ b")
        #expect(!LogRedaction.maskingURLPasswords(in: "postgres://h/db?password=p4ss").contains("p4ss"))
    }
}

@Suite struct LoggingBootstrapTests {
    @Test func bootstrapInstallsHandlersFromTheSettingsOnlyOnce() throws {
        let once = OnceBootstrap<Bool>()
        let collector = LineCollector()
        var settings = LoggingSettings()
        settings.format = .json
        settings.level = .warning
        let installed = LockedValue<[BreakwaterLogging.HandlerFactory]>([])
        let first = BreakwaterLogging.bootstrap(settings, output: collector.output, once: once) { factory in
            installed.withLock { $0.append(factory) }
        }
        let second = BreakwaterLogging.bootstrap(LoggingSettings(), output: collector.output, once: once) { factory in
            installed.withLock { $0.append(factory) }
        }
        #expect(first)
        #expect(!second)
        let factories = installed.withLock { $0 }
        #expect(factories.count == 1)
        let factory = try #require(factories.first)
        let logger = Logger(label: "breakwater.worker") { label in factory(label, nil) }
        #expect(logger.logLevel == .warning)
        logger.info("filtered out")
        logger.warning("breaker opened", metadata: ["breaker": "ml"])
        #expect(collector.lines.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(collector.lines[0].utf8)) as? [String: Any])
        #expect(object["logger"] as? String == "breakwater.worker")
        #expect(object["breaker"] as? String == "ml")
    }

    @Test func everyConfiguredLevelMapsToTheSameSwiftLogLevel() {
        for setting in LogLevelSetting.allCases {
            #expect(Logger.Level(setting).rawValue == setting.rawValue)
        }
    }
}
