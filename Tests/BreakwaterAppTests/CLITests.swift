import BreakwaterApp
import Foundation
import Testing

/// Runs the built `breakwater` binary (next to the test bundle) with exactly `environment`.
func breakwater(_ arguments: [String], environment: [String: String] = [:]) throws
    -> (status: Int32, output: String, error: String)
{
    let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let candidates = [directory, directory.deletingLastPathComponent()].map { $0.appendingPathComponent("breakwater") }
    let binary = try #require(candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) },
                              "breakwater binary not found near \(directory.path)")
    return try runProcess(binary, arguments, environment: environment)
}

@Suite("breakwater CLI")
struct CLITests {
    @Test func checkConfigPrintsMaskedEffectiveValues() throws {
        let result = try breakwater(
            ["check-config", "--config", "deploy/breakwater.yaml", "--set", "breakers.ml.failureThreshold=3"],
            environment: [
                "BREAKWATER_KAFKA_BOOTSTRAP_SERVERS": "broker:9092",
                "BREAKWATER_HTTP_ADMIN_TOKEN": "very-secret-admin-token",
                "BREAKWATER_CATALOG_POSTGRES_URL": "postgres://app:db-password@db/catalog",
            ])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output.hasPrefix("configuration is valid"))
        let lines = result.output.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("kafka.bootstrapServers ") && $0.contains("broker:9092")
            && $0.hasSuffix("(BREAKWATER_KAFKA_BOOTSTRAP_SERVERS)") })
        #expect(lines.contains { $0.hasPrefix("breakers.ml.failureThreshold ") && $0.contains(" 3 ") && $0.hasSuffix("(--set)") })
        #expect(lines.contains { $0.hasPrefix("topics.alerts ") && $0.hasSuffix("(deploy/breakwater.yaml)") })
        #expect(!result.output.contains("very-secret-admin-token"))
        #expect(!result.output.contains("db-password"))
        #expect(result.output.contains("postgres://app:********@db/catalog"))
    }

    @Test func checkConfigListsVariables() throws {
        let result = try breakwater(["check-config", "--env"])
        #expect(result.status == 0)
        #expect(result.output.contains("BREAKWATER_BREAKERS_CATALOG_SECONDARY_FAILURE_RATE_THRESHOLD"))
    }

    @Test func checkConfigFailsWithTheProblems() throws {
        let result = try breakwater(
            ["check-config", "--set", "breakers.ml.failureRateThreshold=1.7"],
            environment: ["BREAKWATER_KAFKA_BOOTSTRAP": "x:1"])
        #expect(result.status == 78)
        #expect(result.error.contains(
            "breakers.ml.failureRateThreshold: 1.7 is not allowed; expected a number in 0...1 (from --set)"))
        #expect(result.error.contains("BREAKWATER_KAFKA_BOOTSTRAP: unknown environment variable"))
        #expect(!result.output.contains("configuration is valid"))
    }

    @Test func checkConfigFailsOnAMissingFile() throws {
        let result = try breakwater(["check-config", "--config", "/nonexistent.yaml"])
        #expect(result.status == 78)
        #expect(result.error.contains("/nonexistent.yaml: cannot read the configuration file"))
    }

    @Test func runStopsOnAnUnusableRuleFileNamingTheKey() throws {
        let result = try breakwater(
            ["run", "--set", "rules.file=/nonexistent/rules.yaml"],
            environment: ["BREAKWATER_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"]
        )
        #expect(result.status == 78)
        #expect(result.error.contains("breakwater run: rules.file:"))
        #expect(result.error.contains("/nonexistent/rules.yaml"))
    }

    @Test func runStopsOnAnUnusableStaticCatalogNamingTheKey() throws {
        let result = try breakwater(
            ["run", "--set", "catalog.staticCatalogFile=/nonexistent/catalog.yaml"],
            environment: ["BREAKWATER_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"]
        )
        #expect(result.status == 78)
        #expect(result.error.contains("breakwater run: catalog.staticCatalogFile:"))
    }

    @Test func runRejectsAnInvalidConfiguration() throws {
        let result = try breakwater(["run", "--set", "http.port=0"])
        #expect(result.status == 78)
        #expect(result.error.contains("http.port: 0 is not allowed"))
    }

    @Test func produceNeedsExactlyOneSource() throws {
        let result = try breakwater(["produce"])
        #expect(result.status != 0)
        #expect(result.error.contains("exactly one of --file <file> or --count <N>"))
    }
}
