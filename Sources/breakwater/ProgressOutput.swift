import BreakwaterApp
import Foundation

/// Progress on standard error: a redrawn bar on a terminal, a plain line every few
/// seconds otherwise.
struct ProgressOutput: Sendable {
    let enabled: Bool
    /// The command, naming the plain lines (`produce: 512/1024 records …`).
    var tool = "produce"
    let isTerminal = isatty(STDERR_FILENO) == 1

    var interval: Duration { isTerminal ? .milliseconds(100) : .seconds(2) }

    var report: @Sendable (ProduceProgress) -> Void {
        if isTerminal {
            return { progress in FileHandle.standardError.write(Data(("\r\u{1B}[2K" + ProgressBar.bar(progress)).utf8)) }
        }
        let tool = tool
        return { progress in printError(ProgressBar.line(progress, tool: tool)) }
    }

    /// Ends the bar's line so later output starts on a fresh one.
    func finish() {
        if enabled, isTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
