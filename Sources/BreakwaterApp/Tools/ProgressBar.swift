import Foundation

/// Renders the progress of `produce` and `redrive`: a redrawn bar for a terminal, plain
/// lines for logs.
public enum ProgressBar {
    /// One bar line (no newline), e.g.
    /// `[##########··········]  512/1024  50%  2 failed  1830 rec/s`; `width` is the
    /// number of cells inside the brackets.
    public static func bar(_ progress: ProduceProgress, width: Int = 30) -> String {
        let total = max(progress.total, 1)
        let fraction = min(Double(progress.finished) / Double(total), 1)
        let filled = Int((fraction * Double(width)).rounded(.down))
        let cells = String(repeating: "#", count: filled) + String(repeating: "·", count: max(width - filled, 0))
        let digits = String(progress.total).count
        let count = String(repeating: " ", count: max(digits - String(progress.finished).count, 0)) + String(progress.finished)
        return "[\(cells)] \(count)/\(progress.total) \(percent(fraction))  \(progress.failed) failed  \(rate(progress)) rec/s"
    }

    /// One plain progress line, e.g. `produce: 512/1024 records (50%), 2 failed, 1830 rec/s`
    /// (`tool` names the command).
    public static func line(_ progress: ProduceProgress, tool: String = "produce") -> String {
        let fraction = progress.total > 0 ? min(Double(progress.finished) / Double(progress.total), 1) : 1
        return "\(tool): \(progress.finished)/\(progress.total) records (\(percent(fraction).trimmingCharacters(in: .whitespaces))), "
            + "\(progress.failed) failed, \(rate(progress)) rec/s"
    }

    private static func percent(_ fraction: Double) -> String {
        let text = "\(Int((fraction * 100).rounded(.down)))%"
        return String(repeating: " ", count: max(4 - text.count, 0)) + text
    }

    private static func rate(_ progress: ProduceProgress) -> String { String(format: "%.0f", progress.rate) }
}
