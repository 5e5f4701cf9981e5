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
        // Most sources send one of the names exactly: then no trimming or lowercasing
        // (each builds a new string, per alert and twice on the rules path).
        guard let known = Self.sourceNames[raw] ?? Self.sourceNames[raw.trimmingWhitespace().lowercased()] else {
            return nil
        }
        self = known
    }

    /// The names of ``init(sourceSeverity:)``, lower-case.
    private static let sourceNames: [String: Severity] = {
        let names: [(Severity, [String])] = [
            (.critical, ["critical", "crit", "fatal", "emergency", "p1"]),
            (.high, ["error", "high", "major", "err", "p2"]),
            (.medium, ["warning", "warn", "medium", "p3"]),
            (.low, ["low", "minor", "p4"]),
            (.info, ["info", "informational", "none", "notice", "p5"]),
        ]
        return Dictionary(uniqueKeysWithValues: names.flatMap { severity, spellings in spellings.map { ($0, severity) } })
    }()

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
