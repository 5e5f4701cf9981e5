import ArgumentParser
import BreakwaterApp
import Foundation

/// `breakwater`: the worker and its operator tools.
@main
struct Breakwater: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "breakwater",
        abstract: "Classify alerts from Kafka with circuit-breaker-protected enrichment and ML.",
        subcommands: [Run.self, Ingest.self, Produce.self, Tail.self, Redrive.self, Classify.self, CheckConfig.self]
    )
}

/// Exit status for an unusable configuration (sysexits `EX_CONFIG`).
let configurationExitCode = ExitCode(78)

/// Writes a line to standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// The configuration options every command shares.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "YAML configuration file (default: $BREAKWATER_CONFIG if set, else built-in defaults).", valueName: "file"))
    var config: String?

    @Option(name: .customLong("set"), help: ArgumentHelp(
        "Override one setting, e.g. --set breakers.ml.failureThreshold=3 (repeatable; wins over file and environment).",
        valueName: "key.path=value"))
    var overrides: [String] = []

    /// Loads and validates the configuration (file, then `BREAKWATER_*`, then `--set`).
    /// Prints every problem to standard error and exits with status 78 when it is invalid.
    func load() throws -> LoadedConfiguration {
        do {
            return try ConfigurationLoader().load(configFile: config, overrides: overrides)
        } catch {
            printError(error.description)
            throw configurationExitCode
        }
    }
}

/// Runs `body` in a task that Ctrl-C (SIGINT) cancels instead of killing the process, so
/// a command can finish cleanly (leave its consumer group, report what it did).
func cancellingOnInterrupt<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let task = Task { try await body() }
    signal(SIGINT, SIG_IGN)
    let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: DispatchQueue.global())
    source.setEventHandler { task.cancel() }
    source.resume()
    defer {
        source.cancel()
        signal(SIGINT, SIG_DFL)
    }
    return try await task.value
}
