import Foundation
import Triage

/// A fixed-width text table for streamed rows: every row is laid out on its own as it
/// arrives, so columns have fixed widths; longer values are cut with `…`.
public struct TextTable: Sendable, Equatable {
    /// One column.
    public struct Column: Sendable, Equatable {
        /// Which side a value sticks to.
        public enum Alignment: Sendable, Equatable {
            /// Pad on the right.
            case left
            /// Pad on the left (numbers).
            case right
        }

        /// Header text.
        public var title: String
        /// Width in characters (at least 1).
        public var width: Int
        /// Alignment of values and header.
        public var alignment: Alignment

        /// Creates a column.
        public init(_ title: String, width: Int, alignment: Alignment = .left) {
            self.title = title
            self.width = max(width, 1)
            self.alignment = alignment
        }
    }

    /// The columns, left to right.
    public var columns: [Column]
    /// Text between columns.
    public var separator: String

    /// Creates a table.
    public init(columns: [Column], separator: String = "  ") {
        self.columns = columns
        self.separator = separator
    }

    /// The header line.
    public var header: String { row(columns.map(\.title)) }

    /// One row: each value fitted to its column (missing values blank, extra ones dropped),
    /// trailing blanks removed.
    public func row(_ values: [String]) -> String {
        let cells = columns.enumerated().map { index, column in
            Self.fit(index < values.count ? values[index] : "", width: column.width, alignment: column.alignment)
        }
        let line = cells.joined(separator: separator)
        return String(line.reversed().drop { $0 == " " }.reversed())
    }

    /// `value` on one line (control characters become spaces), cut to `width` characters
    /// with a final `…` when longer, padded to `width` on the side `alignment` says.
    public static func fit(_ value: String, width: Int, alignment: Column.Alignment = .left) -> String {
        let flat = String(value.map { $0.isNewline || $0 == "\t" || ($0.asciiValue.map { $0 < 0x20 } ?? false) ? " " : $0 })
        let cut = flat.count > width ? String(flat.prefix(max(width - 1, 0))) + "…" : flat
        let padding = String(repeating: " ", count: max(width - cut.count, 0))
        return alignment == .left ? cut + padding : padding + cut
    }
}

/// One line of `breakwater tail`: the fields an operator scans for.
public struct TailRow: Sendable, Equatable {
    /// When it happened (processed, ran, dead-lettered; else the Kafka record time).
    public var time: Date?
    /// `incident`, `fallback`, `dlq` or `unreadable`.
    public var kind: String
    /// Incident severity; `nil` for other kinds.
    public var severity: String?
    /// Incident category; `nil` for other kinds.
    public var category: String?
    /// Incident classifier (`ml` or `rules`); `nil` for other kinds.
    public var classifier: String?
    /// The alert's service; `nil` for other kinds.
    public var service: String?
    /// Incident: the alert name; fallback: `breaker → strategy (reason)`; DLQ: the reason
    /// and detail; unreadable: the problem.
    public var what: String
    /// The incident id (incidents and fallback events).
    public var incidentID: String?

    /// The row of a decoded output record; `recordTime` (the Kafka timestamp) is used when
    /// the record carries no time of its own.
    public init(_ record: PublishedRecord, recordTime: Date? = nil) {
        switch record {
        case .incident(let incident):
            let kind = incident.revision > 1 ? "healed" : "incident"
            self.init(time: incident.processedAt, kind: kind, what: incident.alert.alertName ?? incident.alert.summary ?? "-",
                      incidentID: incident.incidentID)
            severity = incident.classification.severity.rawValue
            category = incident.classification.category.rawValue
            classifier = incident.classification.classifier.rawValue
            service = incident.alert.serviceName ?? incident.enrichment?.name
        case .fallbackEvent(let event):
            self.init(time: event.timestamp, kind: "fallback", what: "\(event.breaker) → \(event.strategy) (\(event.reason.rawValue))",
                      incidentID: event.incidentID)
        case .deadLetter(let reason, let letter, _):
            self.init(time: letter?.time ?? recordTime, kind: "dlq", what: letter.map { "\(reason): \($0.detail)" } ?? reason)
        case .repair(let repair):
            let steps = repair.steps.map { "\($0.step.rawValue): \($0.strategy) (\($0.reason.rawValue))" }.joined(separator: ", ")
            self.init(time: repair.recordedAt, kind: "repair", what: steps, incidentID: repair.incident.incidentID)
        case .unreadable(let outputKind, let problem):
            self.init(time: recordTime, kind: "unreadable", what: "\(outputKind.rawValue): \(problem)")
        }
    }

    private init(time: Date?, kind: String, what: String, incidentID: String? = nil) {
        self.time = time
        self.kind = kind
        self.what = what
        self.incidentID = incidentID
    }

    /// The table `breakwater tail` prints.
    public static let table = TextTable(columns: [
        .init("TIME", width: 12), .init("KIND", width: 10), .init("SEVERITY", width: 8), .init("CATEGORY", width: 12),
        .init("CLASSIFIER", width: 10), .init("SERVICE", width: 14), .init("WHAT", width: 48), .init("INCIDENT", width: 20),
    ])

    /// The cells of ``table``, time as UTC `HH:mm:ss.SSS`, absent values as `-`.
    public var cells: [String] {
        [time.map(Self.clockTime) ?? "-", kind, severity ?? "-", category ?? "-", classifier ?? "-", service ?? "-", what,
         incidentID ?? "-"]
    }

    /// This row laid out in ``table``.
    public var tableLine: String { Self.table.row(cells) }

    private static func clockTime(_ date: Date) -> String {
        // "2026-11-29T10:58:17.123Z" → "10:58:17.123"
        let text = Timestamp.format(date)
        guard let t = text.firstIndex(of: "T") else { return text }
        return String(text[text.index(after: t)...].prefix(12))
    }
}

extension TailRow {
    /// One JSON line (keys sorted, no newline) for `tail --json`: the row's fields
    /// (`time` as UTC RFC 3339, absent ones `null`), where the record was read (`topic`,
    /// `partition`, `offset`), and the record itself: `record` (the output record's JSON,
    /// or its text when it is not JSON) or, for the DLQ, `dead_letter` (the
    /// `breakwater-dlq-*` headers as an object) and `key` (UTF-8 text when it is text).
    public func jsonLine(topic: String, partition: Int32, offset: Int64, key: [UInt8]?, value: [UInt8]?, headers: [RecordHeader]) -> String {
        var object: [String: Any] = [
            "time": time.map(Timestamp.format) ?? NSNull(), "kind": kind, "severity": severity ?? NSNull(),
            "category": category ?? NSNull(), "classifier": classifier ?? NSNull(), "service": service ?? NSNull(),
            "what": what, "incident_id": incidentID ?? NSNull(), "topic": topic, "partition": Int(partition), "offset": offset,
        ]
        if kind == "dlq" {
            var fields: [String: String] = [:]
            for header in headers where header.key.hasPrefix(DeadLetter.Header.prefix) { fields[header.key] = header.stringValue ?? "" }
            object["dead_letter"] = fields
            object["key"] = key.map { String(validating: $0, as: UTF8.self) ?? "<\($0.count) bytes>" } ?? NSNull()
        } else if let value {
            object["record"] = (try? JSONSerialization.jsonObject(with: Data(value), options: [.fragmentsAllowed]))
                ?? String(decoding: value, as: UTF8.self)
        } else {
            object["record"] = NSNull()
        }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            return #"{"kind":"unreadable","what":"cannot serialize this record"}"#
        }
        return String(decoding: data, as: UTF8.self)
    }
}
