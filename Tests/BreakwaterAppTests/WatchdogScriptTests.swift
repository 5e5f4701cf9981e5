import Foundation
import Testing

/// `scripts/lib/watchdog.sh`, which `scripts/test` runs the suite under.
@Suite("Test-run watchdog script")
struct WatchdogScriptTests {
    /// Runs `command` under `run_with_watchdog` with a stall limit of `stallSeconds`.
    func watched(_ command: String, stallSeconds: Int) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", "source scripts/lib/watchdog.sh; run_with_watchdog bash -c \"$0\"", command]
        process.environment = ProcessInfo.processInfo.environment.merging(["BREAKWATER_STALL_SECONDS": "\(stallSeconds)"]) { $1 }
        process.currentDirectoryURL = repositoryRoot
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Whether `pid` is a live process (a zombie waiting to be reaped by init is not).
    static func isRunning(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let afterName = stat.range(of: ") ", options: .backwards)
        else { return false }
        return !stat[afterName.upperBound...].hasPrefix("Z")
    }

    @Test func aCommandThatFinishesKeepsItsOutputAndStatus() throws {
        let (status, output) = try watched("echo first; echo second; exit 3", stallSeconds: 60)
        #expect(status == 3)
        #expect(output.contains("first\nsecond\n"))
        #expect(!output.contains("watchdog:"))
    }

    @Test func aQuietCommandIsStoppedWithItsWholeSession() throws {
        let pidFile = FileManager.default.temporaryDirectory.appendingPathComponent("watchdog-\(UUID().uuidString).pid")
        defer { try? FileManager.default.removeItem(at: pidFile) }
        // A child in the background, as swift test's test binary is, then silence.
        let (status, output) = try watched("echo started; sleep 300 & echo $! > \(pidFile.path); wait", stallSeconds: 5)
        #expect(status == 124)
        #expect(output.contains("started"))
        #expect(output.contains("watchdog: no output for"))
        let child = try #require(Int32(String(decoding: try Data(contentsOf: pidFile), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(!Self.isRunning(child), "the background child was left running")
    }
}
