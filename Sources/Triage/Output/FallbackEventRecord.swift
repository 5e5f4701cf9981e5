import Foundation

/// Why a fallback ran. The raw values are the wire format.
public enum FallbackEventReason: String, Sendable, Codable, CaseIterable {
    /// The breaker was open, so the primary was not called.
    case circuitOpen = "circuit_open"
    /// The primary call timed out.
    case timeout
    /// The primary call failed.
    case error
    /// The feature is switched off by configuration (e.g. ML classification disabled).
    case featureOff = "feature_off"
    /// The dependency is in read-only mode (e.g. the dedup store cannot write).
    case readOnly = "read_only"
    /// The primary answered, but less confidently than required (the model's verdict
    /// below `ml.minConfidence`), and the policy published the fallback's answer.
    case lowConfidence = "low_confidence"
    /// The dependency's adaptive throttle shed the call (it was refusing too many).
    case throttled
    /// The dependency's adaptive concurrency limit was reached.
    case limited
    /// A retry found the dependency's retry budget empty.
    case budgetExhausted = "budget_exhausted"
    /// The breaker was open because the fleet opened it (a quorum of workers reported
    /// the dependency failing), or held open for the fleet's prober.
    case fleetOpen = "fleet_open"
    /// Not a fallback: the healer replaced what `strategy` had served with the
    /// dependency's own answer, in the incident's next revision.
    case healed
}

/// One record of `incidents.fallback-events`: one fallback execution.
///
/// Wire format (JSON, keys sorted, every key present; schema
/// `deploy/schemas/fallback-event.schema.json`): `schema_version` (1), `event_id`
/// (lowercase UUID), `incident_id`, `breaker`, `strategy`, `reason`, `stale_age_seconds`
/// (number or `null`), `worker_id`, `timestamp` (UTC RFC 3339 with milliseconds).
/// The Kafka record key is ``key`` (the incident id).
public struct FallbackEventRecord: Sendable, Equatable {
    /// The `schema_version` written by this code.
    public static let schemaVersion = 1

    /// Unique id of this event (fresh per fallback execution).
    public var eventID: UUID
    /// The incident the fallback ran for (``IncidentID/derive(for:)``).
    public var incidentID: String
    /// The circuit breaker's name, e.g. `catalog.postgres`, `classifier.ml`.
    public var breaker: String
    /// The fallback strategy that served, e.g. `cache`, `stale`, `secondary`, `static`,
    /// `default`, `rules` (lowercase `[a-z0-9_.-]`, per the schema).
    public var strategy: String
    /// Why the fallback ran.
    public var reason: FallbackEventReason
    /// For stale-data fallbacks, how old the served value was, in seconds.
    public var staleAgeSeconds: Double?
    /// The worker that ran it.
    public var workerID: String
    /// When it ran.
    public var timestamp: Date

    /// Creates an event; `eventID` defaults to a fresh random UUID.
    public init(
        eventID: UUID? = nil, incidentID: String, breaker: String, strategy: String, reason: FallbackEventReason,
        staleAgeSeconds: Double? = nil, workerID: String, timestamp: Date
    ) {
        self.eventID = eventID ?? .version4()
        self.incidentID = incidentID
        self.breaker = breaker
        self.strategy = strategy
        self.reason = reason
        self.staleAgeSeconds = staleAgeSeconds
        self.workerID = workerID
        self.timestamp = timestamp
    }

    /// The Kafka record key: the UTF-8 bytes of the incident id, so one incident's
    /// fallback events stay in order.
    public var key: [UInt8] { Array(incidentID.utf8) }

    /// The record value: the wire JSON described on the type.
    /// - Throws: `EncodingError.invalidValue` when `staleAgeSeconds` is not finite.
    public func jsonBytes() throws -> [UInt8] {
        try JSONByteWriter.bytes(capacity: 512) { w in
            w.beginObject()
            w.key(CodingKeys.breaker)
            w.string(breaker)
            w.key(CodingKeys.eventID)
            w.unescapedString(byteCount: Self.uuidTextLength) { Self.writeLowercase(eventID, into: $0) }
            w.key(CodingKeys.incidentID)
            w.string(incidentID)
            w.key(CodingKeys.reason)
            w.string(reason.rawValue)
            w.key(CodingKeys.schemaVersion)
            w.int(Self.schemaVersion)
            w.key(CodingKeys.staleAgeSeconds)
            try w.doubleOrNull(staleAgeSeconds, field: "stale_age_seconds")
            w.key(CodingKeys.strategy)
            w.string(strategy)
            w.key(CodingKeys.timestamp)
            w.timestamp(timestamp)
            w.key(CodingKeys.workerID)
            w.string(workerID)
            w.endObject()
        }
    }

    /// The length of a UUID's text: 32 hex digits and 4 dashes.
    private static let uuidTextLength = 36

    /// Writes `uuid` as `uuidString.lowercased()` spells it (8-4-4-4-12 lowercase hex
    /// digits, ``uuidTextLength`` bytes) into `bytes`, without building either string.
    private static func writeLowercase(_ uuid: UUID, into bytes: UnsafeMutableBufferPointer<UInt8>) {
        var next = 0
        withUnsafeBytes(of: uuid.uuid) { raw in
            for (index, byte) in raw.enumerated() {
                if index == 4 || index == 6 || index == 8 || index == 10 {
                    bytes[next] = UInt8(ascii: "-")
                    next += 1
                }
                bytes[next] = JSONByteWriter.lowercaseHexDigit(byte >> 4)
                bytes[next + 1] = JSONByteWriter.lowercaseHexDigit(byte & 0x0F)
                next += 2
            }
        }
    }

    /// Reads a record value back.
    /// - Throws: `DecodingError` when the bytes are not such a record.
    public static func decode(_ bytes: [UInt8]) throws -> FallbackEventRecord { try JSONDecoder().decode(Self.self, from: Data(bytes)) }
}

extension FallbackEventRecord: Decodable {
    enum CodingKeys: String, CodingKey {
        case schemaVersion = "schema_version", eventID = "event_id", incidentID = "incident_id", breaker, strategy, reason
        case staleAgeSeconds = "stale_age_seconds", workerID = "worker_id", timestamp
    }

    /// Decodes the wire format; throws `DecodingError` on anything else or another `schema_version`.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let version = try c.decode(Int.self, forKey: .schemaVersion)
        guard version == Self.schemaVersion else {
            throw DecodingError.dataCorruptedError(forKey: .schemaVersion, in: c, debugDescription: "unsupported schema_version \(version)")
        }
        self.init(
            eventID: try c.decode(UUID.self, forKey: .eventID),
            incidentID: try c.decode(String.self, forKey: .incidentID),
            breaker: try c.decode(String.self, forKey: .breaker),
            strategy: try c.decode(String.self, forKey: .strategy),
            reason: try c.decode(FallbackEventReason.self, forKey: .reason),
            staleAgeSeconds: try c.decodeIfPresent(Double.self, forKey: .staleAgeSeconds),
            workerID: try c.decode(String.self, forKey: .workerID),
            timestamp: try c.decode(WireDate.self, forKey: .timestamp).date)
    }
}
