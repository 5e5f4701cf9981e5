import Foundation
import Resilience
import Triage

/// One record of `topics.breakerState` (default `breakwater.breaker-state`, compacted):
/// one worker's report of one breaker to its fleet.
///
/// Key: `{"breaker":…,"group_id":…,"worker_id":…}` (JSON, keys sorted), so compaction
/// keeps the latest report per group, breaker and worker. Value (JSON, keys sorted,
/// schema `deploy/schemas/breaker-state.schema.json`): `schema_version` (1), `group_id`,
/// `worker_id`, `breaker`, `state` (`closed`, `half_open`, `open`, `forced_open`,
/// `disabled`), `cause` (`own`, `fleet`, `probe`, `operator`), `failure_rate`,
/// `slow_call_rate`, `calls_in_window`, `consecutive_failures`, `open_count`, `reported_at` (the worker's clock,
/// UTC RFC 3339 with milliseconds), `sequence`. A worker that stops gracefully writes a
/// tombstone (the key, no value) for each of its breakers.
public struct BreakerStateRecord: Sendable, Hashable {
    /// The `schema_version` written by this code.
    public static let schemaVersion = 1

    /// The consumer group whose workers form the fleet (`kafka.groupId`): workers of
    /// other groups sharing the topic are ignored.
    public var groupID: String
    /// The report.
    public var report: BreakerReport

    /// A record of `report` for the fleet of `groupID`.
    public init(groupID: String, report: BreakerReport) {
        self.groupID = groupID
        self.report = report
    }

    /// The record's key.
    public struct Key: Sendable, Hashable, Codable {
        /// The breaker's name.
        public var breaker: String
        /// The consumer group.
        public var groupID: String
        /// The worker.
        public var workerID: String

        /// A key for one worker's breaker in one group.
        public init(breaker: String, groupID: String, workerID: String) {
            self.breaker = breaker
            self.groupID = groupID
            self.workerID = workerID
        }

        enum CodingKeys: String, CodingKey {
            case breaker, groupID = "group_id", workerID = "worker_id"
        }

        /// The key's bytes.
        public var bytes: [UInt8] { (try? BreakerStateRecord.encoder.encode(self)).map { Array($0) } ?? [] }

        /// Reads a key; `nil` when the bytes are not one.
        public init?(bytes: [UInt8]) {
            guard let key = try? JSONDecoder().decode(Key.self, from: Data(bytes)) else { return nil }
            self = key
        }
    }

    /// The record's key.
    public var key: Key { Key(breaker: report.breaker, groupID: groupID, workerID: report.worker) }

    private struct Wire: Codable {
        var schemaVersion: Int
        var groupID: String
        var workerID: String
        var breaker: String
        var state: String
        var cause: String
        var failureRate: Double
        var slowCallRate: Double
        var callsInWindow: Int
        var consecutiveFailures: Int
        var openCount: Int
        var reportedAt: String
        var sequence: UInt64

        enum CodingKeys: String, CodingKey {
            case schemaVersion = "schema_version", groupID = "group_id", workerID = "worker_id", breaker, state, cause
            case failureRate = "failure_rate", slowCallRate = "slow_call_rate", callsInWindow = "calls_in_window"
            case consecutiveFailures = "consecutive_failures"
            case openCount = "open_count", reportedAt = "reported_at", sequence
        }
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// The record's value.
    public func value() -> [UInt8] {
        let wire = Wire(
            schemaVersion: Self.schemaVersion, groupID: groupID, workerID: report.worker, breaker: report.breaker,
            state: report.state.description, cause: report.cause.rawValue, failureRate: report.failureRate,
            slowCallRate: report.slowCallRate, callsInWindow: report.callsInWindow,
            consecutiveFailures: report.consecutiveFailures, openCount: report.openCount, reportedAt: Timestamp.format(Date(timeIntervalSince1970: Double(report.reportedAtMilliseconds) / 1000)),
            sequence: report.sequence)
        return (try? Self.encoder.encode(wire)).map { Array($0) } ?? []
    }

    /// Reads a record's value.
    /// - Throws: `DecodingError` for a value that is not a record of this schema (a field
    ///   missing or of the wrong type, an unknown state or cause, a newer schema version).
    public init(value: [UInt8]) throws {
        let wire = try JSONDecoder().decode(Wire.self, from: Data(value))
        guard wire.schemaVersion == Self.schemaVersion else {
            throw Self.corrupted("schema_version \(wire.schemaVersion) is not \(Self.schemaVersion)")
        }
        guard let state = CircuitBreakerState.allCases.first(where: { $0.description == wire.state }) else {
            throw Self.corrupted("unknown state \(wire.state)")
        }
        guard let cause = BreakerReport.Cause(rawValue: wire.cause) else { throw Self.corrupted("unknown cause \(wire.cause)") }
        guard let reportedAt = Timestamp.parse(wire.reportedAt) else { throw Self.corrupted("reported_at \(wire.reportedAt)") }
        self.init(
            groupID: wire.groupID,
            report: BreakerReport(
                worker: wire.workerID, breaker: wire.breaker, state: state, cause: cause, failureRate: wire.failureRate,
                slowCallRate: wire.slowCallRate, callsInWindow: wire.callsInWindow,
                consecutiveFailures: wire.consecutiveFailures, openCount: wire.openCount,
                reportedAtMilliseconds: Int64((reportedAt.timeIntervalSince1970 * 1000).rounded()), sequence: wire.sequence))
    }

    private static func corrupted(_ what: String) -> DecodingError {
        DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "not a breaker-state record: \(what)"))
    }
}
