import Foundation
import Triage

/// Which dead letters `breakwater redrive` sends back to the input topic, and what it
/// sends: pure decisions on one DLQ record's key, value and headers.
public struct RedriveSelection: Sendable, Equatable {
    /// Reason codes to redrive (`breakwater-dlq-reason`); empty means every reason.
    public var reasons: Set<String>
    /// Only records dead-lettered at or after this time (`breakwater-dlq-time`).
    public var since: Date?
    /// Only records dead-lettered before this time.
    public var until: Date?
    /// Records already redriven this many times (header `breakwater-redrive-count`) are
    /// skipped: the loop guard for records that fail again for the same reason.
    public var maxRedrives: Int

    /// The default of ``maxRedrives``.
    public static let defaultMaxRedrives = 3

    /// Creates a selection; the defaults select every dead letter.
    public init(reasons: Set<String> = [], since: Date? = nil, until: Date? = nil, maxRedrives: Int = defaultMaxRedrives) {
        self.reasons = reasons
        self.since = since
        self.until = until
        self.maxRedrives = maxRedrives
    }

    /// Why a DLQ record cannot be redriven at all, whatever the filters.
    public enum Unusable: String, Sendable, Hashable, CaseIterable {
        /// It has no readable `breakwater-dlq-*` headers (not written by a worker).
        case noDeadLetterHeaders = "no dead-letter headers"
        /// Its original key, value and headers were dropped (`breakwater-dlq-original-dropped`).
        case originalDropped = "original dropped"
    }

    /// What to do with one DLQ record.
    public enum Decision: Sendable, Equatable {
        /// Send `record` to the input topic; `reason` is the dead letter's.
        case send(RedrivenRecord, reason: String)
        /// A filter (`reasons`, `since`, `until`) passes it over.
        case filteredOut(reason: String)
        /// Already redriven ``RedriveSelection/maxRedrives`` times.
        case loopGuard(reason: String)
        /// It cannot be redriven.
        case unusable(Unusable)
    }

    /// Decides what happens to the DLQ record with this key, value and headers.
    public func decide(key: [UInt8]?, value: [UInt8]?, headers: [RecordHeader]) -> Decision {
        guard let letter = DeadLetter(headers: headers) else { return .unusable(.noDeadLetterHeaders) }
        if !reasons.isEmpty, !reasons.contains(letter.reason) { return .filteredOut(reason: letter.reason) }
        if let since, letter.time < since { return .filteredOut(reason: letter.reason) }
        if let until, letter.time >= until { return .filteredOut(reason: letter.reason) }
        if letter.originalDropped { return .unusable(.originalDropped) }
        let count = Self.redriveCount(headers)
        if count >= maxRedrives { return .loopGuard(reason: letter.reason) }
        return .send(RedrivenRecord(key: key, value: value ?? [], headers: Self.originalHeaders(headers) + [
            RecordHeader(DeadLetter.redriveCountHeader, String(count + 1)),
        ]), reason: letter.reason)
    }

    /// How often the record was redriven before (its last `breakwater-redrive-count`; 0
    /// when absent or not a whole number).
    static func redriveCount(_ headers: [RecordHeader]) -> Int {
        headers.last(named: DeadLetter.redriveCountHeader)?.stringValue.flatMap { Int($0) }.map { max($0, 0) } ?? 0
    }

    /// The original record's headers: the DLQ record's without the `breakwater-dlq-*` ones
    /// and without the redrive count (the redrive sets a new one), in their order.
    static func originalHeaders(_ headers: [RecordHeader]) -> [RecordHeader] {
        headers.filter { header in
            let name = header.key.lowercased()
            return !name.hasPrefix(DeadLetter.Header.prefix) && name != DeadLetter.redriveCountHeader
        }
    }

    /// Reads a `--since` / `--until` argument: an RFC 3339 time
    /// (`2026-11-29T10:00:00Z`) or a duration meaning that long before `now` (`30m`, `1h`).
    /// - Returns: `nil` when it is neither.
    public static func time(from text: String, now: Date) -> Date? {
        if let date = Timestamp.parse(text) { return date }
        guard let duration = ConfigDuration(parsing: text) else { return nil }
        return now.addingTimeInterval(-duration.duration.seconds)
    }

    /// The consumer group that keeps a redrive's progress when `--group` is not given: one
    /// per selection as written on the command line (`breakwater-redrive`, or e.g.
    /// `breakwater-redrive.reason=invalid_json,too_large.since=1h`), so the same command
    /// resumes where it stopped, and a different selection makes its own pass over the
    /// DLQ instead of inheriting offsets past records it never looked at.
    public static func defaultGroupID(reasons: Set<String>, since: String?, until: String?) -> String {
        var name = "breakwater-redrive"
        if !reasons.isEmpty { name += ".reason=" + reasons.sorted().joined(separator: ",") }
        if let since { name += ".since=" + since }
        if let until { name += ".until=" + until }
        return name
    }
}

/// A record as redrive sends it to the input topic: the dead letter's key and value
/// (the original's, byte for byte) and the original headers plus the new
/// `breakwater-redrive-count`.
public struct RedrivenRecord: Sendable, Equatable {
    /// The original key.
    public var key: [UInt8]?
    /// The original value.
    public var value: [UInt8]
    /// The original headers, then `breakwater-redrive-count`.
    public var headers: [RecordHeader]

    /// Creates a record.
    public init(key: [UInt8]?, value: [UInt8], headers: [RecordHeader]) {
        self.key = key
        self.value = value
        self.headers = headers
    }
}
