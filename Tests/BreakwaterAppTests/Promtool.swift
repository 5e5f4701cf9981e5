import Foundation
import ServiceTestSupport
import Testing

/// Prometheus's `promtool` (Debian package `prometheus`, installed by scripts/test through
/// `ensure_promtool`). Tests that need it run when it is on PATH, and always under
/// `CI=true`, where a missing promtool fails them instead of skipping.
enum Promtool {
    /// Its path, when installed.
    static var path: String? {
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":")
        return directories.map { "\($0)/promtool" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Whether a test that needs promtool should run; says why when it skips.
    static var shouldRun: Bool {
        if path != nil || ExternalService.isCI { return true }
        print("skipping: promtool is not installed (scripts/test installs it: Debian package prometheus)")
        return false
    }

    /// Runs `promtool arguments` in `directory` with `input` on standard input.
    /// - Returns: its exit status and everything it printed (standard output, then error).
    static func run(_ arguments: [String], input: String = "", in directory: URL = repositoryRoot) throws -> (status: Int32, output: String) {
        let binary = try #require(path, "promtool is not installed (Debian package prometheus; scripts/test installs it)")
        let result = try runProcess(URL(fileURLWithPath: binary), arguments, directory: directory, input: input)
        return (result.status, result.output + result.error)
    }
}
