import Foundation

/// Whether the workers' output accounts for everything `breakwater produce` sent: every
/// alert carried became an incident or sits in the DLQ inside its (valid) record, and
/// every malformed record was dead-lettered. At-least-once processing may add
/// duplicates, so more output than input is not a loss.
public struct DeliveryCheck: Sendable, Equatable {
    /// What produce sent.
    public var expectation: ProduceExpectation
    /// What the output topics hold.
    public var summary: OutputSummary

    /// Compares an expectation with a summary.
    public init(expectation: ProduceExpectation, summary: OutputSummary) {
        self.expectation = expectation
        self.summary = summary
    }

    /// Alerts sent that are neither an incident nor inside a dead-lettered record.
    public var missingAlerts: Int { max(expectation.alerts - summary.incidents - summary.deadLetteredAlerts, 0) }

    /// Malformed records sent that are not in the DLQ (DLQ records carrying valid alerts are
    /// not counted for them).
    public var missingDeadLetters: Int {
        max(expectation.malformed - (summary.deadLetters - summary.decodableDeadLetters), 0)
    }

    /// Whether everything is accounted for.
    public var nothingLost: Bool { missingAlerts == 0 && missingDeadLetters == 0 }

    /// Two lines comparing input with output, then the verdict (`nothing lost`, or what is missing).
    public var text: String {
        let dead = summary.deadLetteredAlerts > 0 ? " + \(summary.deadLetteredAlerts) dead-lettered" : ""
        var lines = [
            "alerts sent: \(expectation.alerts) → incidents: \(summary.incidents)\(dead)",
            "malformed records sent: \(expectation.malformed) → dead letters: \(summary.deadLetters)",
        ]
        if nothingLost {
            lines.append("nothing lost")
        } else {
            var missing: [String] = []
            if missingAlerts > 0 { missing.append("\(missingAlerts) alerts") }
            if missingDeadLetters > 0 { missing.append("\(missingDeadLetters) dead letters") }
            lines.append("MISSING: " + missing.joined(separator: ", "))
        }
        return lines.joined(separator: "\n")
    }
}

extension ProduceExpectation {
    /// Reads an expectation file written by `produce --expect-file`.
    /// - Throws: ``ToolError`` naming the path when it cannot be read or is not such a file.
    public init(path: String) throws(ToolError) {
        guard let data = FileManager.default.contents(atPath: path) else { throw ToolError("\(path): cannot read the expectation file") }
        do {
            self = try JSONDecoder().decode(ProduceExpectation.self, from: data)
        } catch {
            throw ToolError("\(path): not an expectation file written by breakwater produce --expect-file (\(error))")
        }
    }
}
