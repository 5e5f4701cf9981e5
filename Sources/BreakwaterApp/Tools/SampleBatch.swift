import Foundation
import Triage

/// The generated records of `breakwater produce --count N`: N valid sample records cycling
/// through the chosen input formats (so every format appears once N reaches their number),
/// with M malformed records spread evenly among them. Same seed and `now`, same bytes.
public enum SampleBatch {
    /// Generates the batch.
    /// - Parameters:
    ///   - count: valid records (each carries one alert, or several for webhooks).
    ///   - malformed: malformed records the workers must dead-letter.
    ///   - formats: formats to cycle through; empty means all.
    ///   - seed: generator seed.
    ///   - now: anchors generated timestamps.
    public static func records(
        count: Int, malformed: Int = 0, formats: [InputFormat] = InputFormat.allCases, seed: UInt64, now: Date
    ) -> [OutgoingAlertRecord] {
        var generator = SampleAlerts(seed: seed, now: now)
        let cycle = formats.isEmpty ? InputFormat.allCases : formats
        let valid = (0..<max(count, 0)).map { OutgoingAlertRecord(sample: generator.next(format: cycle[$0 % cycle.count])) }
        let bad = generator.malformed(count: max(malformed, 0)).map { OutgoingAlertRecord(sample: $0) }
        return interleave(valid, bad)
    }

    /// `extra` spread evenly through `base`, in order.
    static func interleave(_ base: [OutgoingAlertRecord], _ extra: [OutgoingAlertRecord]) -> [OutgoingAlertRecord] {
        guard !extra.isEmpty else { return base }
        var result: [OutgoingAlertRecord] = []
        result.reserveCapacity(base.count + extra.count)
        var next = 0
        for (index, record) in base.enumerated() {
            // Place extra[k] before base element ⌊(k + 1) · base.count / (extra.count + 1)⌋.
            while next < extra.count, (next + 1) * base.count / (extra.count + 1) <= index {
                result.append(extra[next])
                next += 1
            }
            result.append(record)
        }
        result += extra[next...]
        return result
    }

    /// Parses a comma-separated list of format names (`alertmanager_webhook,pagerduty`).
    /// - Throws: ``ToolError`` naming an unknown format and listing the known ones.
    public static func formats(from list: String) throws(ToolError) -> [InputFormat] {
        var result: [InputFormat] = []
        for name in list.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !name.isEmpty {
            guard let format = InputFormat(rawValue: name) else {
                throw ToolError("unknown format '\(name)'; expected one of \(InputFormat.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if !result.contains(format) { result.append(format) }
        }
        guard !result.isEmpty else { throw ToolError("--formats names no format") }
        return result
    }
}
