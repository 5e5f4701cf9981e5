import Foundation
import Triage

extension TopicSettings {
    /// The worker's view of these topics; it maps each output kind to its topic and back.
    public var pipelineTopics: PipelineTopics {
        PipelineTopics(alerts: alerts, classified: classified, fallbackEvents: fallbackEvents, deadLetter: deadLetter, repair: repair)
    }
}

/// One record read from an output topic, decoded by its topic's output kind.
public enum PublishedRecord: Sendable, Equatable {
    /// A classified incident.
    case incident(IncidentRecord)
    /// A fallback execution.
    case fallbackEvent(FallbackEventRecord)
    /// A dead-lettered record: its reason from the `breakwater-dlq-reason` header
    /// (`unknown` when absent), the full dead letter when every header is readable, and
    /// how many alerts the original record carries when it decodes (a valid record that
    /// failed processing), else 0.
    case deadLetter(reason: String, DeadLetter?, carriedAlerts: Int = 0)
    /// A repair-log record.
    case repair(RepairRecord)
    /// A record of an output topic that is not in that topic's format.
    case unreadable(kind: OutputKind, problem: String)

    /// Decodes a record value (and, for the DLQ, its headers) by the topic's output kind. Never
    /// throws: a record that does not decode is ``unreadable(kind:problem:)``.
    /// - Parameter decoder: counts the alerts inside a DLQ record; give it the workers' limits.
    public init(kind: OutputKind, value: [UInt8]?, headers: [RecordHeader], decoder: AlertDecoder = AlertDecoder()) {
        switch kind {
        case .incident, .fallbackEvent, .repair:
            guard let value else {
                self = .unreadable(kind: kind, problem: "tombstone (no value)")
                return
            }
            do {
                self = switch kind {
                case .incident: .incident(try IncidentRecord.decode(value))
                case .repair: .repair(try RepairRecord.decode(value))
                default: .fallbackEvent(try FallbackEventRecord.decode(value))
                }
            } catch {
                self = .unreadable(kind: kind, problem: Self.describe(error))
            }
        case .deadLetter:
            let reason = headers.last(named: DeadLetter.Header.reason)?.stringValue ?? "unknown"
            let original = InputRecord(value: value ?? [], headers: headers.filter { !$0.key.hasPrefix(DeadLetter.Header.prefix) })
            let carried = (try? decoder.decode(original))?.count ?? 0
            self = .deadLetter(reason: reason, DeadLetter(headers: headers), carriedAlerts: carried)
        }
    }

    /// A one-line description of a decoding error (the coding path and what was wrong).
    private static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        switch error {
        case .keyNotFound(let key, let context):
            return "missing key \((context.codingPath + [key]).map(\.stringValue).joined(separator: "."))"
        case .dataCorrupted(let context), .typeMismatch(_, let context), .valueNotFound(_, let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}
