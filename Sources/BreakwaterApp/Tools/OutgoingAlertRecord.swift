import Foundation
import Triage

/// One record `breakwater produce` sends to the alerts topic, with what the workers
/// should make of it (so a run can prove afterwards that nothing was lost).
public struct OutgoingAlertRecord: Sendable, Equatable {
    /// Where the record came from, for messages: `line 12`, `element 3`, or a sample's name.
    public var origin: String
    /// The Kafka key (the first alert's fingerprint), or `nil` to let the partitioner choose.
    public var key: [UInt8]?
    /// The record value, byte for byte as it will be sent.
    public var value: [UInt8]
    /// The record headers.
    public var headers: [RecordHeader]
    /// The input format of a valid record; `nil` for a malformed one.
    public var format: InputFormat?
    /// How many alerts the decoder yields for it; 0 for a malformed record (it goes to the DLQ).
    public var alertCount: Int

    /// Creates a record.
    public init(origin: String, key: [UInt8]?, value: [UInt8], headers: [RecordHeader] = [], format: InputFormat?, alertCount: Int) {
        self.origin = origin
        self.key = key
        self.value = value
        self.headers = headers
        self.format = format
        self.alertCount = alertCount
    }

    /// A generated sample record, with the alert count and format the generator promises.
    public init(sample: SampleRecord) {
        self.init(origin: sample.name, key: sample.key, value: sample.value, headers: sample.headers,
                  format: sample.format, alertCount: sample.expectedAlertCount)
    }

    /// A payload read from a file, classified by the same decoder the workers use: a valid
    /// payload is keyed by its first alert's fingerprint and carries its alert count; one the
    /// decoder rejects is kept (unkeyed) as a malformed record the workers will dead-letter.
    public init(origin: String, payload: [UInt8], headers: [RecordHeader] = [], decoder: AlertDecoder = AlertDecoder()) {
        let record = InputRecord(value: payload, headers: headers)
        if let decoded = try? decoder.decodeRecord(record), let first = decoded.alerts.first {
            self.init(origin: origin, key: Array(first.fingerprint.utf8), value: payload, headers: headers,
                      format: decoded.format, alertCount: decoded.alerts.count)
        } else {
            self.init(origin: origin, key: nil, value: payload, headers: headers, format: nil, alertCount: 0)
        }
    }

    /// Whether the workers will dead-letter this record.
    public var isMalformed: Bool { alertCount == 0 }
}
