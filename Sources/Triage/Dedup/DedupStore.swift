import Foundation

/// What the dedup store knows about one alert fingerprint.
public struct DedupRecord: Sendable, Codable, Equatable {
    /// The alert fingerprint this record counts.
    public var fingerprint: String
    /// Earliest time the fingerprint was recorded.
    public var firstSeen: Date
    /// Latest time the fingerprint was recorded.
    public var lastSeen: Date
    /// How many times it was recorded, 1 on first sight.
    public var occurrences: Int

    /// Creates a record.
    public init(fingerprint: String, firstSeen: Date, lastSeen: Date, occurrences: Int) {
        self.fingerprint = fingerprint
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
        self.occurrences = occurrences
    }
}

/// Counts occurrences of alert fingerprints (the incident record carries the count).
///
/// Designed for `DegradedService`: ``record(fingerprint:seenAt:)`` is the write path that
/// is switched off while the store's breaker is open; ``lookup(fingerprint:)`` is the
/// read-only path.
public protocol DedupStore: Sendable {
    /// Records one occurrence of `fingerprint` at `seenAt`, atomically: creates the record
    /// with `occurrences == 1`, or increments it, keeping `firstSeen` the earliest and
    /// `lastSeen` the latest time seen (out-of-order deliveries do not move them back).
    /// - Returns: the record after this occurrence.
    /// - Throws: when the store could not record it (nothing was counted in that case,
    ///   or the store cannot tell; callers treat the count as unavailable).
    func record(fingerprint: String, seenAt: Date) async throws -> DedupRecord

    /// Reads the record for `fingerprint` without changing it.
    /// - Returns: the record, or `nil` when the fingerprint was never recorded.
    /// - Throws: when the store could not answer.
    func lookup(fingerprint: String) async throws -> DedupRecord?
}

/// A ``DedupStore`` in process memory: for tests and single-process demos. Never throws.
public actor InMemoryDedupStore: DedupStore {
    private var records: [String: DedupRecord] = [:]

    /// Creates an empty store.
    public init() {}

    /// Records one occurrence; see ``DedupStore/record(fingerprint:seenAt:)``.
    public func record(fingerprint: String, seenAt: Date) -> DedupRecord {
        let record: DedupRecord
        if var existing = records[fingerprint] {
            existing.firstSeen = min(existing.firstSeen, seenAt)
            existing.lastSeen = max(existing.lastSeen, seenAt)
            existing.occurrences += 1
            record = existing
        } else {
            record = DedupRecord(fingerprint: fingerprint, firstSeen: seenAt, lastSeen: seenAt, occurrences: 1)
        }
        records[fingerprint] = record
        return record
    }

    /// Returns the record or `nil`; see ``DedupStore/lookup(fingerprint:)``.
    public func lookup(fingerprint: String) -> DedupRecord? {
        records[fingerprint]
    }
}
