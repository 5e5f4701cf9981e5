import Foundation
import Triage

/// Counts of what the workers wrote to the output topics, for `breakwater tail --summary`
/// and `--summary-json`; the demo compares it with `produce --expect-file`.
///
/// JSON (keys sorted): `incidents`, `distinct_incidents`, `incidents_by_classifier`
/// (classifier → severity → count), `incidents_by_severity`, `incidents_by_category`,
/// `fallback_events`, `fallback_events_by_breaker` (breaker → strategy → reason → count),
/// `dead_letters`, `dead_letters_by_reason`, `decodable_dead_letters` (DLQ records that still
/// decode: valid records whose processing failed), `dead_lettered_alerts` (the alerts inside
/// them), `unreadable` (role → count), `provisional_incidents` (first revisions a heal may
/// replace), `healed_incidents` (revisions above 1), `healed_by_classifier` (their
/// classifier → count), `healed_by_enrichment` (their enrichment source → count),
/// `incidents_by_revision` (revision → count), `repairs` (repair-log records). `incidents`
/// and the counts by classifier, severity and category are of first revisions only: each
/// alert counts once however often it was healed.
public struct OutputSummary: Sendable, Equatable, Codable {
    /// Incident records read.
    public var incidents = 0
    /// Distinct incident ids among them (re-sends and resolves share an id).
    public var distinctIncidents = 0
    /// Incidents by classifier, then severity.
    public var incidentsByClassifier: [String: [String: Int]] = [:]
    /// Incidents by severity.
    public var incidentsBySeverity: [String: Int] = [:]
    /// Incidents by category.
    public var incidentsByCategory: [String: Int] = [:]
    /// Fallback event records read.
    public var fallbackEvents = 0
    /// Fallback events by breaker, then strategy, then reason.
    public var fallbackEventsByBreaker: [String: [String: [String: Int]]] = [:]
    /// DLQ records read.
    public var deadLetters = 0
    /// DLQ records by reason.
    public var deadLettersByReason: [String: Int] = [:]
    /// DLQ records that still decode (valid records whose processing failed).
    public var decodableDeadLetters = 0
    /// Alerts inside those records.
    public var deadLetteredAlerts = 0
    /// Records of an output topic that did not decode, by topic role.
    public var unreadable: [String: Int] = [:]
    /// First revisions published provisional (a fallback served a step a heal may replace).
    public var provisionalIncidents = 0
    /// Healed revisions (revision 2 and up).
    public var healedIncidents = 0
    /// Healed revisions by classifier.
    public var healedByClassifier: [String: Int] = [:]
    /// Healed revisions by the source that served their enrichment.
    public var healedByEnrichment: [String: Int] = [:]
    /// Incident records by revision ("1", "2", ...).
    public var incidentsByRevision: [String: Int] = [:]
    /// Repair-log records read.
    public var repairs = 0

    private var incidentIDs: Set<String> = []

    enum CodingKeys: String, CodingKey {
        case incidents, distinctIncidents = "distinct_incidents", incidentsByClassifier = "incidents_by_classifier"
        case incidentsBySeverity = "incidents_by_severity", incidentsByCategory = "incidents_by_category"
        case fallbackEvents = "fallback_events", fallbackEventsByBreaker = "fallback_events_by_breaker"
        case deadLetters = "dead_letters", deadLettersByReason = "dead_letters_by_reason"
        case decodableDeadLetters = "decodable_dead_letters", deadLetteredAlerts = "dead_lettered_alerts", unreadable
        case provisionalIncidents = "provisional_incidents", healedIncidents = "healed_incidents"
        case healedByClassifier = "healed_by_classifier", healedByEnrichment = "healed_by_enrichment"
        case incidentsByRevision = "incidents_by_revision", repairs
    }

    /// An empty summary.
    public init() {}

    /// Counts one record.
    public mutating func add(_ record: PublishedRecord) {
        switch record {
        case .incident(let incident):
            let verdict = incident.classification
            incidentsByRevision[String(incident.revision), default: 0] += 1
            guard incident.revision == 1 else {
                healedIncidents += 1
                healedByClassifier[verdict.classifier.rawValue, default: 0] += 1
                healedByEnrichment[incident.provenance.enrichment.source.rawValue, default: 0] += 1
                return
            }
            if incident.isProvisional { provisionalIncidents += 1 }
            incidents += 1
            incidentsByClassifier[verdict.classifier.rawValue, default: [:]][verdict.severity.rawValue, default: 0] += 1
            incidentsBySeverity[verdict.severity.rawValue, default: 0] += 1
            incidentsByCategory[verdict.category.rawValue, default: 0] += 1
            if incidentIDs.insert(incident.incidentID).inserted { distinctIncidents += 1 }
        case .fallbackEvent(let event):
            fallbackEvents += 1
            fallbackEventsByBreaker[event.breaker, default: [:]][event.strategy, default: [:]][event.reason.rawValue, default: 0] += 1
        case .deadLetter(let reason, _, let carriedAlerts):
            deadLetters += 1
            deadLettersByReason[reason, default: 0] += 1
            deadLetteredAlerts += carriedAlerts
            if carriedAlerts > 0 { decodableDeadLetters += 1 }
        case .unreadable(let kind, _):
            unreadable[kind.rawValue, default: 0] += 1
        case .repair:
            repairs += 1
        }
    }

    /// The summary as text: one section per output, counts right-aligned, names sorted.
    public var text: String {
        var lines = ["incidents: \(incidents) (\(distinctIncidents) distinct)"]
        for (classifier, bySeverity) in incidentsByClassifier.sorted(by: { $0.key < $1.key }) {
            lines.append("  \(classifier): \(bySeverity.values.reduce(0, +))")
            lines += Self.counts(bySeverity, indent: 4, order: Severity.allCases.map(\.rawValue))
        }
        if !incidentsByCategory.isEmpty {
            lines.append("  by category:")
            lines += Self.counts(incidentsByCategory, indent: 4)
        }
        if provisionalIncidents > 0 || healedIncidents > 0 {
            lines.append("provisional incidents: \(provisionalIncidents)")
            lines.append("healed revisions: \(healedIncidents)")
            lines += Self.counts(healedByClassifier.mapKeysPrefixed("classifier "), indent: 2)
            lines += Self.counts(healedByEnrichment.mapKeysPrefixed("enrichment "), indent: 2)
            lines.append("  by revision:")
            lines += Self.counts(incidentsByRevision, indent: 4)
        }
        if repairs > 0 { lines.append("repair records: \(repairs)") }
        lines.append("fallback events: \(fallbackEvents)")
        for (breaker, byStrategy) in fallbackEventsByBreaker.sorted(by: { $0.key < $1.key }) {
            lines.append("  \(breaker): \(byStrategy.values.flatMap(\.values).reduce(0, +))")
            for (strategy, byReason) in byStrategy.sorted(by: { $0.key < $1.key }) {
                lines.append("    \(strategy): \(byReason.values.reduce(0, +))")
                lines += Self.counts(byReason, indent: 6)
            }
        }
        lines.append("dead letters: \(deadLetters)" + (deadLetteredAlerts > 0 ? " (carrying \(deadLetteredAlerts) valid alerts)" : ""))
        lines += Self.counts(deadLettersByReason, indent: 2)
        if !unreadable.isEmpty {
            lines.append("unreadable records: \(unreadable.values.reduce(0, +))")
            lines += Self.counts(unreadable, indent: 2)
        }
        return lines.joined(separator: "\n")
    }

    /// `name  count` lines, names padded to one width, in `order` first then sorted.
    private static func counts(_ counts: [String: Int], indent: Int, order: [String] = []) -> [String] {
        let names = order.filter { counts[$0] != nil } + counts.keys.filter { !order.contains($0) }.sorted()
        let nameWidth = names.map(\.count).max() ?? 0
        let countWidth = counts.values.map { String($0).count }.max() ?? 0
        return names.map { name in
            let count = String(counts[name] ?? 0)
            return String(repeating: " ", count: indent) + TextTable.fit(name, width: nameWidth) + "  "
                + TextTable.fit(count, width: countWidth, alignment: .right)
        }
    }

    /// Writes the summary as JSON to `path`.
    /// - Throws: ``ToolError`` naming the path when it cannot be written.
    public func write(to path: String) throws(ToolError) { try ToolJSON.write(self, to: path) }
}

extension Dictionary where Key == String, Value == Int {
    /// The same counts with `prefix` before each name.
    fileprivate func mapKeysPrefixed(_ prefix: String) -> [String: Int] {
        Dictionary(uniqueKeysWithValues: map { (prefix + $0.key, $0.value) })
    }
}
