import Foundation
import Triage

/// The three output topics `breakwater tail` reads, by role.
public enum OutputTopicRole: String, Sendable, Hashable, CaseIterable, Codable {
    /// `topics.classified`: incident records.
    case classified
    /// `topics.fallbackEvents`: fallback event records.
    case fallbackEvents
    /// `topics.deadLetter`: dead-lettered input records.
    case deadLetter
}

extension AlertDecoder {
    /// The decoder the workers run with `pipeline`: default limits except the record size
    /// and the alerts per record, which are configured.
    public static func configured(by pipeline: PipelineSettings) -> AlertDecoder {
        AlertDecoder(limits: DecodingLimits(maxRecordBytes: pipeline.maxRecordBytes, maxAlertsPerRecord: pipeline.maxAlertsPerPayload))
    }
}

extension TopicSettings {
    /// The topic name of an output role.
    public func name(of role: OutputTopicRole) -> String {
        switch role {
        case .classified: classified
        case .fallbackEvents: fallbackEvents
        case .deadLetter: deadLetter
        }
    }

    /// The output role of `topic`, or `nil` when it is not an output topic.
    public func role(of topic: String) -> OutputTopicRole? {
        OutputTopicRole.allCases.first { name(of: $0) == topic }
    }
}

/// One record read from an output topic, decoded by its topic's role.
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
    /// A record of an output topic that is not in that topic's format.
    case unreadable(role: OutputTopicRole, problem: String)

    /// Decodes a record value (and, for the DLQ, its headers) by the topic's role. Never
    /// throws: a record that does not decode is ``unreadable(role:problem:)``.
    /// - Parameter decoder: counts the alerts inside a DLQ record; give it the workers' limits.
    public init(role: OutputTopicRole, value: [UInt8]?, headers: [RecordHeader], decoder: AlertDecoder = AlertDecoder()) {
        switch role {
        case .classified, .fallbackEvents:
            guard let value else {
                self = .unreadable(role: role, problem: "tombstone (no value)")
                return
            }
            do {
                self = role == .classified ? .incident(try IncidentRecord.decode(value)) : .fallbackEvent(try FallbackEventRecord.decode(value))
            } catch {
                self = .unreadable(role: role, problem: Self.describe(error))
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
