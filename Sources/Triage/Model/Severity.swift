/// How urgent an incident is, from most to least urgent.
///
/// The raw values are the wire format of the `incidents.classified` topic.
public enum Severity: String, Sendable, Codable, CaseIterable, Comparable {
    case critical
    case high
    case medium
    case low
    case info

    /// Maps a severity string as monitoring tools spell it to a ``Severity``.
    ///
    /// Follows the mapping common tools use (Keep, PagerDuty): `critical`/`crit`/`fatal`
    /// → critical, `error`/`high`/`major` → high, `warning`/`warn`/`medium` → medium,
    /// `low`/`minor` → low, `info`/`informational`/`none` → info. Matching ignores case and
    /// surrounding white space.
    ///
    /// - Returns: `nil` for a string no tool uses, so the caller decides the default.
    public init?(sourceSeverity raw: String) {
        switch raw.trimmingWhitespace().lowercased() {
        case "critical", "crit", "fatal", "emergency", "p1": self = .critical
        case "error", "high", "major", "err", "p2": self = .high
        case "warning", "warn", "medium", "p3": self = .medium
        case "low", "minor", "p4": self = .low
        case "info", "informational", "none", "notice", "p5": self = .info
        default: return nil
        }
    }

    private var rank: Int {
        switch self {
        case .critical: 0
        case .high: 1
        case .medium: 2
        case .low: 3
        case .info: 4
        }
    }

    /// `a < b` when `a` is *more* urgent than `b`, so sorting puts critical first.
    public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rank < rhs.rank }
}
