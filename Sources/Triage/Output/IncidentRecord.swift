import Foundation

/// Stable incident ids.
public enum IncidentID {
    /// The incident id of `alert`: `inc-` + 16 hex digits of 64-bit FNV-1a (see
    /// ``Fingerprint``) over the text `"<fingerprint>\n<startsAt>"`, where `<startsAt>` is
    /// ``Timestamp/format(_:)`` of `startsAt` (empty when `nil`).
    ///
    /// So every update of one firing (re-sends, the resolve) shares an id, and a new firing
    /// of the same alert (new `startsAt`) gets a new one. PagerDuty alerts carrying a dedup
    /// key (`extra["dedup_key"]`) ignore `startsAt`: in PagerDuty the dedup key *is* the
    /// incident, and its resolve events carry no start time.
    public static func derive(for alert: Alert) -> String {
        // Hashes the text piece by piece rather than building it: this runs for every alert.
        var hash = FNV1a64()
        hash.add(alert.fingerprint)
        hash.add(UInt8(ascii: "\n"))
        if alert.extra["dedup_key"] == nil, let startsAt = alert.startsAt {
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Timestamp.formattedLength) { buffer in
                Timestamp.write(startsAt, into: buffer)
                hash.add(UnsafeBufferPointer(rebasing: buffer[..<Timestamp.formattedLength]))
            }
        }
        return Fingerprint.hex(hash.value, after: "inc-")
    }
}

/// Which source served each step of an incident.
public struct IncidentProvenance: Sendable, Equatable {
    /// Who served the service-catalog lookup.
    public var enrichment: StepProvenance
    /// Who served the classification.
    public var classification: StepProvenance
    /// Who served the dedup lookup.
    public var dedup: StepProvenance
    /// The model's own verdict (severity, category, confidence) next to the published
    /// one; `nil` when the model was not asked or did not answer. Wire:
    /// `provenance.classification.model`.
    public var model: Classification?

    /// Creates provenance for the three steps.
    public init(enrichment: StepProvenance, classification: StepProvenance, dedup: StepProvenance, model: Classification? = nil) {
        self.enrichment = enrichment
        self.classification = classification
        self.dedup = dedup
        self.model = model
    }
}

/// What deduplication knows about an alert.
public enum DedupInfo: Sendable, Equatable {
    /// The dedup store counted this alert: `occurrences` deliveries (this one included)
    /// between `firstSeen` and `lastSeen`.
    case seen(occurrences: Int, firstSeen: Date, lastSeen: Date)
    /// The dedup store was not available; wire `{"available": false}`.
    case unavailable
}

/// One record of `incidents.classified`: one classified alert.
///
/// Wire format (JSON, keys sorted, every key always present, `null` when unset; schema
/// `deploy/schemas/incident.schema.json`):
/// `schema_version` (1), `incident_id`, `alert` {`fingerprint`, `status`, `source`,
/// `labels`, `annotations`, `starts_at`, `ends_at`, `generator_url`, `extra`},
/// `enrichment` ({`name`, `owner_team`, `tier`, `runbook_url`, `on_call`, `chat_channel`,
/// `tags`} or `null`), `classification` {`severity`, `category`, `confidence`,
/// `classifier`, `rule`}, `provenance` {`enrichment`, `classification`, `dedup`: each
/// {`source`, `fallback_used`, `stale_age_seconds`}; `classification` also `model`:
/// {`severity`, `category`, `confidence`} of the model's own answer, or `null`}, `dedup` ({`available`: true,
/// `occurrences`, `first_seen`, `last_seen`} or {`available`: false}), `worker_id`,
/// `received_at`, `processed_at`, and the revision keys: `revision` (1 when first
/// published), `provisional` (a step was served by a fallback that a heal may replace),
/// `healable_steps` (those steps: `enrichment`, `classification`), `supersedes` (the
/// revision a healed record replaces, else `null`) and `healed_at` (`null` until healed).
/// Timestamps are UTC RFC 3339 with milliseconds. Records written before revisions carry
/// none of the revision keys; ``decode(_:)`` reads them as revision 1, not provisional.
/// The Kafka record key is ``key`` (the alert fingerprint).
public struct IncidentRecord: Sendable, Equatable {
    /// The `schema_version` written by this code.
    public static let schemaVersion = 1

    /// ``IncidentID/derive(for:)`` of ``alert`` unless given explicitly.
    public var incidentID: String
    /// The normalized alert.
    public var alert: Alert
    /// The catalog entry of the alert's service; `nil` when the alert names no service.
    public var enrichment: ServiceInfo?
    /// The verdict.
    public var classification: Classification
    /// Which source served each step.
    public var provenance: IncidentProvenance
    /// What dedup knows about the alert.
    public var dedup: DedupInfo
    /// The worker that processed the alert.
    public var workerID: String
    /// When the input record was received.
    public var receivedAt: Date
    /// When processing finished (for a healed revision: when the heal finished).
    public var processedAt: Date
    /// 1 when first published; a healed record is the revision it supersedes + 1.
    public var revision: Int
    /// The steps a fallback served that a heal may replace, in ``HealableStep`` order;
    /// empty when the record is final.
    public var healableSteps: [HealableStep]
    /// The revision this record replaces; `nil` for revision 1.
    public var supersedes: Int?
    /// When the heal that made this revision finished; `nil` unless healed.
    public var healedAt: Date?

    /// Whether a better answer may follow: some step was served by a fallback a heal can replace.
    public var isProvisional: Bool { !healableSteps.isEmpty }

    /// Creates a record; the incident id is derived from `alert` unless `incidentID` is given.
    public init(
        incidentID: String? = nil, alert: Alert, enrichment: ServiceInfo?, classification: Classification,
        provenance: IncidentProvenance, dedup: DedupInfo, workerID: String, receivedAt: Date, processedAt: Date,
        revision: Int = 1, healableSteps: [HealableStep] = [], supersedes: Int? = nil, healedAt: Date? = nil
    ) {
        self.revision = revision
        self.healableSteps = healableSteps
        self.supersedes = supersedes
        self.healedAt = healedAt
        self.incidentID = incidentID ?? IncidentID.derive(for: alert)
        self.alert = alert
        self.enrichment = enrichment
        self.classification = classification
        self.provenance = provenance
        self.dedup = dedup
        self.workerID = workerID
        self.receivedAt = receivedAt
        self.processedAt = processedAt
    }

    /// The Kafka record key: the UTF-8 bytes of the alert fingerprint, so all updates of
    /// one alert land on one partition, in order.
    public var key: [UInt8] { Array(alert.fingerprint.utf8) }

    /// The record value: the wire JSON described on the type.
    /// - Throws: `EncodingError.invalidValue` when a number is not finite (NaN confidence
    ///   or stale age).
    public func jsonBytes() throws -> [UInt8] {
        // An incident of a typical alert is 1.1-1.6 KB: starting at the writer's default
        // (1 KB) made nearly every one grow once, a second large allocation and a copy.
        try JSONByteWriter.bytes(capacity: 2048) { w in
            w.beginObject()
            w.key(CodingKeys.alert)
            WireAlert.write(alert, to: &w)
            w.key(CodingKeys.classification)
            try WireClassification.write(classification, to: &w)
            w.key(CodingKeys.dedup)
            w.beginObject()
            switch dedup {
            case .seen(let occurrences, let firstSeen, let lastSeen):
                w.key(DedupKeys.available)
                w.bool(true)
                w.key(DedupKeys.firstSeen)
                w.timestamp(firstSeen)
                w.key(DedupKeys.lastSeen)
                w.timestamp(lastSeen)
                w.key(DedupKeys.occurrences)
                w.int(occurrences)
            case .unavailable:
                w.key(DedupKeys.available)
                w.bool(false)
            }
            w.endObject()
            w.key(CodingKeys.enrichment)
            if let enrichment { WireServiceInfo.write(enrichment, to: &w) } else { w.null() }
            w.key(CodingKeys.healableSteps)
            w.beginArray()
            for step in healableSteps { w.string(step.rawValue) }
            w.endArray()
            w.key(CodingKeys.healedAt)
            if let healedAt { w.timestamp(healedAt) } else { w.null() }
            w.key(CodingKeys.incidentID)
            w.string(incidentID)
            w.key(CodingKeys.processedAt)
            w.timestamp(processedAt)
            w.key(CodingKeys.provenance)
            w.beginObject()
            w.key(ProvenanceKeys.classification)
            try WireStepProvenance.write(
                provenance.classification, model: .some(provenance.model), staleAgeField: "provenance.classification.stale_age_seconds", to: &w)
            w.key(ProvenanceKeys.dedup)
            try WireStepProvenance.write(provenance.dedup, staleAgeField: "provenance.dedup.stale_age_seconds", to: &w)
            w.key(ProvenanceKeys.enrichment)
            try WireStepProvenance.write(provenance.enrichment, staleAgeField: "provenance.enrichment.stale_age_seconds", to: &w)
            w.endObject()
            w.key(CodingKeys.provisional)
            w.bool(isProvisional)
            w.key(CodingKeys.receivedAt)
            w.timestamp(receivedAt)
            w.key(CodingKeys.revision)
            w.int(revision)
            w.key(CodingKeys.schemaVersion)
            w.int(Self.schemaVersion)
            w.key(CodingKeys.supersedes)
            w.intOrNull(supersedes)
            w.key(CodingKeys.workerID)
            w.string(workerID)
            w.endObject()
        }
    }

    /// Reads a record value back (for tests and consumers of the topic).
    /// - Throws: `DecodingError` when the bytes are not such a record.
    public static func decode(_ bytes: [UInt8]) throws -> IncidentRecord { try JSONDecoder().decode(Self.self, from: Data(bytes)) }
}

extension IncidentRecord: Decodable {
    enum CodingKeys: String, CodingKey {
        case schemaVersion = "schema_version", incidentID = "incident_id", alert, enrichment, classification
        case provenance, dedup, workerID = "worker_id", receivedAt = "received_at", processedAt = "processed_at"
        case revision, provisional, healableSteps = "healable_steps", supersedes, healedAt = "healed_at"
    }

    enum ProvenanceKeys: String, CodingKey { case enrichment, classification, dedup }

    enum DedupKeys: String, CodingKey { case available, occurrences, firstSeen = "first_seen", lastSeen = "last_seen" }

    /// Decodes the wire format; throws `DecodingError` on anything else or another
    /// `schema_version`. A record without the revision keys is revision 1, final.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let version = try c.decode(Int.self, forKey: .schemaVersion)
        guard version == Self.schemaVersion else {
            throw DecodingError.dataCorruptedError(forKey: .schemaVersion, in: c, debugDescription: "unsupported schema_version \(version)")
        }
        let p = try c.nestedContainer(keyedBy: ProvenanceKeys.self, forKey: .provenance)
        let classificationStep = try p.decode(WireStepProvenance.self, forKey: .classification)
        let d = try c.nestedContainer(keyedBy: DedupKeys.self, forKey: .dedup)
        let dedup: DedupInfo
        if try d.decode(Bool.self, forKey: .available) {
            dedup = .seen(
                occurrences: try d.decode(Int.self, forKey: .occurrences),
                firstSeen: try d.decode(WireDate.self, forKey: .firstSeen).date,
                lastSeen: try d.decode(WireDate.self, forKey: .lastSeen).date)
        } else {
            dedup = .unavailable
        }
        self.init(
            incidentID: try c.decode(String.self, forKey: .incidentID),
            alert: try c.decode(WireAlert.self, forKey: .alert).alert,
            enrichment: try c.decodeIfPresent(WireServiceInfo.self, forKey: .enrichment)?.info,
            classification: try c.decode(WireClassification.self, forKey: .classification).classification,
            provenance: IncidentProvenance(
                enrichment: try p.decode(WireStepProvenance.self, forKey: .enrichment).step,
                classification: classificationStep.step,
                dedup: try p.decode(WireStepProvenance.self, forKey: .dedup).step,
                model: classificationStep.model),
            dedup: dedup,
            workerID: try c.decode(String.self, forKey: .workerID),
            receivedAt: try c.decode(WireDate.self, forKey: .receivedAt).date,
            processedAt: try c.decode(WireDate.self, forKey: .processedAt).date,
            revision: try c.decodeIfPresent(Int.self, forKey: .revision) ?? 1,
            healableSteps: try c.decodeIfPresent([HealableStep].self, forKey: .healableSteps) ?? [],
            supersedes: try c.decodeIfPresent(Int.self, forKey: .supersedes),
            healedAt: try c.decodeIfPresent(WireDate.self, forKey: .healedAt)?.date)
        guard revision >= 1 else {
            throw DecodingError.dataCorruptedError(forKey: .revision, in: c, debugDescription: "revision \(revision) is below 1")
        }
    }
}
