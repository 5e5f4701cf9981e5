import BreakwaterApp
import Foundation
import Testing

/// The repository root (tests read the shipped files in `deploy/`).
let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The text of a file under the repository root.
func repositoryFile(_ path: String) throws -> String {
    try String(contentsOf: repositoryRoot.appendingPathComponent(path), encoding: .utf8)
}

/// Loads with an explicit environment (never the test process's own).
func loadConfig(
    yaml: String? = nil, environment: [String: String] = [:], overrides: [String] = []
) throws(ConfigurationError) -> LoadedConfiguration {
    try ConfigurationLoader(environment: environment).load(yaml: yaml, source: "test.yaml", overrides: overrides)
}

/// The problems a load reports (fails the test when it loads).
func problems(
    yaml: String? = nil, environment: [String: String] = [:], overrides: [String] = [],
    sourceLocation: SourceLocation = #_sourceLocation
) -> [ConfigurationProblem] {
    do {
        _ = try loadConfig(yaml: yaml, environment: environment, overrides: overrides)
        Issue.record("expected the configuration to be rejected", sourceLocation: sourceLocation)
        return []
    } catch {
        return error.problems
    }
}
