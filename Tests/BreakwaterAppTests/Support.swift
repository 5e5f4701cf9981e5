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

/// Runs `executable` in the repository root with exactly `environment` (the test
/// process's own when `nil`) and `input` on standard input, and waits for it.
func runProcess(
    _ executable: URL, _ arguments: [String], environment: [String: String]? = nil, directory: URL = repositoryRoot, input: String = ""
) throws -> (status: Int32, output: String, error: String) {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if let environment { process.environment = environment }
    process.currentDirectoryURL = directory
    let output = Pipe()
    let error = Pipe()
    let standardInput = Pipe()
    process.standardOutput = output
    process.standardError = error
    process.standardInput = standardInput
    try process.run()
    standardInput.fileHandleForWriting.write(Data(input.utf8))
    try standardInput.fileHandleForWriting.close()
    let outputData = output.fileHandleForReading.readDataToEndOfFile()
    let errorData = error.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: outputData, as: UTF8.self), String(decoding: errorData, as: UTF8.self))
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
