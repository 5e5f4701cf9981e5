import Foundation

/// One record of the repair log (`incidents.repair`): an incident published with a step a
/// fallback served, which the healer (``HealProcessor``) re-runs once the dependency is back.
///
/// Wire format (JSON, keys sorted, every key present; schema
/// `deploy/schemas/repair.schema.json`): `schema_version` (1), `incident_id`, `revision`
/// (the revision to heal), `steps` (one {`step`, `breaker`, `strategy`, `reason`} per
/// fallback of a healable step, in step order), `incident` (the whole record as published
/// on `incidents.classified`, which carries the normalized alert), `worker_id`,
/// `recorded_at`. The Kafka record key is ``key`` (the incident id), so all repairs of
/// one incident are healed in order.
public struct RepairRecord: Sendable, Equatable {
    /// The `schema_version` written by this code.
    public static let schemaVersion = 1

    /// One fallback that served a healable step.
    public struct Step: Sendable, Equatable, Codable {
        /// Which step.
        public var step: HealableStep
        /// The breaker guarding the step's dependency.
        public var breaker: String
        /// The fallback strategy that served it.
        public var strategy: String
        /// Why the fallback ran.
        public var reason: FallbackEventReason

        /// One fallback of `step`.
        public init(step: HealableStep, breaker: String, strategy: String, reason: FallbackEventReason) {
            self.step = step
            self.breaker = breaker
            self.strategy = strategy
            self.reason = reason
        }
    }

    /// The incident as published; its revision is the one to heal.
    public var incident: IncidentRecord
    /// The fallbacks that served its healable steps.
    public var steps: [Step]
    /// The worker that published the incident.
    public var workerID: String
    /// When the incident was published (its `processed_at`); ``HealProcessor`` measures
    /// `heal.maxAge` and the heal lag from it.
    public var recordedAt: Date

    /// A repair of `incident`.
    public init(incident: IncidentRecord, steps: [Step], workerID: String, recordedAt: Date) {
        self.incident = incident
        self.steps = steps
        self.workerID = workerID
        self.recordedAt = recordedAt
    }

    /// The steps to heal, each once, in ``HealableStep`` order.
    public var healableSteps: [HealableStep] { Self.healableSteps(of: steps) }

    /// The steps of `steps`, each once, in ``HealableStep`` order.
    static func healableSteps(of steps: [Step]) -> [HealableStep] { Array(Set(steps.map(\.step))).sorted() }

    /// The Kafka record key: the incident id.
    public var key: [UInt8] { Array(incident.incidentID.utf8) }

    /// The record value: the wire JSON described on the type.
    /// - Throws: `EncodingError.invalidValue` when the incident holds a number that is not finite.
    public func jsonBytes() throws -> [UInt8] {
        jsonBytes(incident: try incident.jsonBytes())
    }

    /// ``jsonBytes()`` around the incident's JSON encoded already (the worker publishes it too).
    func jsonBytes(incident encoded: [UInt8]) -> [UInt8] {
        JSONByteWriter.bytes(capacity: encoded.count + 512) { w in
            w.beginObject()
            w.key(CodingKeys.incident)
            w.value(encoded: encoded)
            w.key(CodingKeys.incidentID)
            w.string(incident.incidentID)
            w.key(CodingKeys.recordedAt)
            w.timestamp(recordedAt)
            w.key(CodingKeys.revision)
            w.int(incident.revision)
            w.key(CodingKeys.schemaVersion)
            w.int(Self.schemaVersion)
            w.key(CodingKeys.steps)
            w.beginArray()
            for step in steps {
                w.beginObject()
                w.key(Step.CodingKeys.breaker)
                w.string(step.breaker)
                w.key(Step.CodingKeys.reason)
                w.string(step.reason.rawValue)
                w.key(Step.CodingKeys.step)
                w.string(step.step.rawValue)
                w.key(Step.CodingKeys.strategy)
                w.string(step.strategy)
                w.endObject()
            }
            w.endArray()
            w.key(CodingKeys.workerID)
            w.string(workerID)
            w.endObject()
        }
    }

    /// Reads a record value back.
    /// - Throws: `DecodingError` when the bytes are not such a record, or its `incident_id`
    ///   or `revision` disagree with the incident it carries.
    public static func decode(_ bytes: [UInt8]) throws -> RepairRecord { try JSONDecoder().decode(Self.self, from: Data(bytes)) }
}

extension RepairRecord.Step {
    enum CodingKeys: String, CodingKey { case step, breaker, strategy, reason }
}

extension RepairRecord: Decodable {
    enum CodingKeys: String, CodingKey {
        case schemaVersion = "schema_version", incidentID = "incident_id", revision, steps, incident
        case workerID = "worker_id", recordedAt = "recorded_at"
    }

    /// Decodes the wire format; throws `DecodingError` on anything else, another
    /// `schema_version`, no steps, or an `incident_id`/`revision` the incident disagrees with.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let version = try c.decode(Int.self, forKey: .schemaVersion)
        guard version == Self.schemaVersion else {
            throw DecodingError.dataCorruptedError(forKey: .schemaVersion, in: c, debugDescription: "unsupported schema_version \(version)")
        }
        let incident = try c.decode(IncidentRecord.self, forKey: .incident)
        guard try c.decode(String.self, forKey: .incidentID) == incident.incidentID else {
            throw DecodingError.dataCorruptedError(forKey: .incidentID, in: c, debugDescription: "incident_id differs from the incident's")
        }
        guard try c.decode(Int.self, forKey: .revision) == incident.revision else {
            throw DecodingError.dataCorruptedError(forKey: .revision, in: c, debugDescription: "revision differs from the incident's")
        }
        let steps = try c.decode([Step].self, forKey: .steps)
        guard !steps.isEmpty else {
            throw DecodingError.dataCorruptedError(forKey: .steps, in: c, debugDescription: "a repair needs at least one step")
        }
        self.init(
            incident: incident, steps: steps, workerID: try c.decode(String.self, forKey: .workerID),
            recordedAt: try c.decode(WireDate.self, forKey: .recordedAt).date)
    }
}
