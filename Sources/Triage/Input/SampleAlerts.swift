import Foundation

/// One generated input record, ready to produce to the `alerts` topic.
public struct SampleRecord: Sendable, Equatable {
    /// What the record is, for logs and test names (e.g. `grafana_webhook HighLatency/search`).
    public var name: String
    /// The format a valid record is in; `nil` for malformed records.
    public var format: InputFormat?
    /// The Kafka key: the fingerprint the decoder derives for the (first) alert, so updates of
    /// one alert stay in order; `nil` for malformed records.
    public var key: [UInt8]?
    /// The record value bytes.
    public var value: [UInt8]
    /// The record headers (`traceparent` on about half; `ce_*` and `content-type` for CloudEvents).
    public var headers: [RecordHeader]
    /// How many alerts the decoder yields for a valid record; 0 for malformed ones.
    public var expectedAlertCount: Int
    /// For malformed records, the reason the decoder must give; `nil` when any reason is
    /// right (random garbage) or the record is valid.
    public var expectedReason: AlertDecodingError.Reason?

    /// The record as the decoder takes it.
    public var inputRecord: InputRecord { InputRecord(value: value, headers: headers) }
}

/// Seeded generator of realistic alert records in every input format, for
/// `breakwater produce`, the demo and tests. The same seed and `now` give the same bytes.
///
/// Alerts come from a fixed catalog of services (checkout, payments, search, …) and
/// scenarios whose alert names and summaries name the problem plainly (error rate,
/// latency, instance down, disk full, CPU saturation, certificate expiry, failed
/// deployment, replication lag, …) so a keyword rule classifier can classify them. About a
/// fifth are resolved. A third of Alertmanager alerts omit their fingerprint.
public struct SampleAlerts: Sendable {
    private var random: SeededRandom
    private let now: Date

    /// Creates a generator. `now` anchors every generated timestamp (alerts start up to
    /// three hours before it).
    public init(seed: UInt64, now: Date = Date(timeIntervalSince1970: 1_795_953_600)) {
        random = SeededRandom(seed: seed)
        self.now = now
    }

    /// The services alerts are about (matching a plausible service catalog).
    public static let services = ["checkout", "payments", "search", "auth", "inventory", "orders-db", "gateway", "email-worker",
                                  "recommendations", "billing", "shipping", "catalog-api"]

    struct Scenario: Sendable {
        var alertname: String
        var severities: [Severity]
        var summary: @Sendable (String, Int) -> String
        var description: @Sendable (String, Int) -> String
        var range: ClosedRange<Int>
        var pagerDutyClass: String
    }

    static let scenarios: [Scenario] = [
        Scenario(alertname: "HighErrorRate", severities: [.critical, .high], summary: { "5xx error rate above \($1)% on \($0)" },
                 description: { "\($0) is returning HTTP 500 errors for \($1)% of requests over 5m" }, range: 5...40, pagerDutyClass: "http-errors"),
        Scenario(alertname: "HighLatency", severities: [.high, .medium], summary: { "p99 latency above \($1)ms on \($0)" },
                 description: { "requests to \($0) are slow: p99 latency \($1)ms over 10m" }, range: 500...5000, pagerDutyClass: "latency"),
        Scenario(alertname: "InstanceDown", severities: [.critical], summary: { "\($0) instance is down (\($1) of 3 targets unreachable)" },
                 description: { "scrape of \($0) failed: target down, health check unreachable for \($1)m" }, range: 1...3, pagerDutyClass: "availability"),
        Scenario(alertname: "DiskAlmostFull", severities: [.medium, .high], summary: { "disk on \($0) is \($1)% full" },
                 description: { "free disk space on \($0) below \(100 - $1)%; volume will fill up within 24h" }, range: 85...99, pagerDutyClass: "disk"),
        Scenario(alertname: "HighCPUUsage", severities: [.medium, .high], summary: { "CPU saturation above \($1)% on \($0)" },
                 description: { "\($0) pods are CPU throttled at \($1)% utilization" }, range: 90...100, pagerDutyClass: "cpu"),
        Scenario(alertname: "MemoryPressure", severities: [.medium], summary: { "memory usage at \($1)% on \($0), OOM kills likely" },
                 description: { "\($0) containers near memory limit (\($1)%); OOMKilled restarts observed" }, range: 85...99, pagerDutyClass: "memory"),
        Scenario(alertname: "QueueBacklog", severities: [.medium, .low], summary: { "queue depth on \($0) above \($1) messages" },
                 description: { "consumer lag on \($0) growing: backlog of \($1) messages, capacity exhausted" }, range: 1000...50000, pagerDutyClass: "queue"),
        Scenario(alertname: "CertificateExpiring", severities: [.medium, .low], summary: { "TLS certificate for \($0) expires in \($1) days" },
                 description: { "the x509 certificate served by \($0) expires in \($1) days" }, range: 1...14, pagerDutyClass: "certificate"),
        Scenario(alertname: "UnauthorizedAccessSpike", severities: [.high], summary: { "spike of \($1) unauthorized (401/403) login attempts on \($0)" },
                 description: { "possible credential stuffing against \($0): \($1) failed logins in 5m" }, range: 200...5000, pagerDutyClass: "security"),
        Scenario(alertname: "DeploymentFailed", severities: [.high], summary: { "rollout of \($0) failed: pods crash looping after deploy (\($1) restarts)" },
                 description: { "deployment of \($0) did not become ready; CrashLoopBackOff with \($1) restarts" }, range: 3...30, pagerDutyClass: "deployment"),
        Scenario(alertname: "ReplicationLag", severities: [.high, .medium], summary: { "replication lag on \($0) above \($1)s" },
                 description: { "replica of \($0) is \($1)s behind the primary; stale data reads possible" }, range: 30...900, pagerDutyClass: "replication"),
        Scenario(alertname: "Watchdog", severities: [.info], summary: { _, _ in "alerting pipeline heartbeat" },
                 description: { _, _ in "this alert always fires to prove the alerting pipeline works" }, range: 0...0, pagerDutyClass: "heartbeat"),
    ]

    /// `count` valid records, formats chosen at random from `formats` (default: all).
    public mutating func records(count: Int, formats: [InputFormat] = InputFormat.allCases) -> [SampleRecord] {
        (0..<count).map { _ in next(format: random.pick(formats.isEmpty ? InputFormat.allCases : formats)) }
    }

    /// One valid record in `format`.
    public mutating func next(format: InputFormat) -> SampleRecord {
        switch format {
        case .alertmanagerAlert:
            let spec = makeSpec(group: nil)
            return SampleRecord(name: "\(format.rawValue) \(spec.alertname)/\(spec.service)", format: format, key: Array(spec.fingerprint.utf8),
                                value: Self.bytes(alertmanagerAlert(spec, grafana: false)), headers: traceHeaders(), expectedAlertCount: 1,
                                expectedReason: nil)
        case .alertmanagerWebhook, .grafanaWebhook:
            let (payload, specs) = webhook(grafana: format == .grafanaWebhook)
            return SampleRecord(name: "\(format.rawValue) \(specs[0].alertname)/\(specs[0].service) x\(specs.count)", format: format,
                                key: Array(specs[0].fingerprint.utf8), value: Self.bytes(payload), headers: traceHeaders(),
                                expectedAlertCount: specs.count, expectedReason: nil)
        case .pagerduty:
            let spec = makeSpec(group: nil)
            return SampleRecord(name: "\(format.rawValue) \(spec.alertname)/\(spec.service)", format: format,
                                key: Array(Fingerprint.derive(dedupKey: spec.dedupKey).utf8), value: Self.bytes(pagerDuty(spec)),
                                headers: traceHeaders(), expectedAlertCount: 1, expectedReason: nil)
        case .cloudEventStructured, .cloudEventBinary:
            var inner = next(format: random.pick([.alertmanagerWebhook, .alertmanagerAlert, .grafanaWebhook, .pagerduty]))
            let attributes: [(String, String)] = [
                ("specversion", "1.0"), ("id", UUID.version4(using: &random).uuidString.lowercased()),
                ("source", "//\(inner.format == .pagerduty ? "pagerduty-relay" : "alertmanager").example.com"),
                ("type", "com.example.alert.\(inner.format?.rawValue ?? "unknown")"), ("time", Timestamp.format(now)),
            ]
            inner.name = "\(format.rawValue)(\(inner.name))"
            inner.format = format
            if format == .cloudEventBinary {
                inner.headers += attributes.map { RecordHeader("ce_\($0.0)", $0.1) } + [RecordHeader("content-type", "application/json")]
            } else {
                let data = (try? JSONValue.parse(inner.value, limits: JSONParseLimits(maxDepth: 64))) ?? .null
                var event = Dictionary(uniqueKeysWithValues: attributes.map { ($0.0, JSONValue.string($0.1)) })
                event["datacontenttype"] = .string("application/json")
                event["data"] = data
                inner.value = Self.bytes(.object(event))
                inner.headers.append(RecordHeader("content-type", "application/cloudevents+json; charset=utf-8"))
            }
            return inner
        }
    }

    /// `count` malformed records drawn at random from ``MalformedAlerts/corpus(seed:)``,
    /// skipping those over 512 KiB so every one fits a default Kafka broker's message limit.
    public mutating func malformed(count: Int) -> [SampleRecord] {
        let corpus = MalformedAlerts.corpus(seed: random.next()).filter { $0.value.count <= 512 * 1024 }
        return (0..<count).map { _ in random.pick(corpus) }
    }

    // MARK: - Building blocks

    struct Spec {
        var alertname: String
        var service: String
        var instance: String
        var severity: Severity
        var summary: String
        var description: String
        var resolved: Bool
        var startsAt: Date
        var endsAt: Date?
        var pagerDutyClass: String
        var omitFingerprint: Bool

        var labels: [String: String] {
            ["alertname": alertname, "service": service, "instance": instance, "severity": Self.label(severity), "namespace": "prod"]
        }

        var fingerprint: String { Fingerprint.derive(labels: labels) }
        var dedupKey: String { "\(service)/\(alertname)/\(instance)" }

        static func label(_ severity: Severity) -> String {
            switch severity {
            case .critical: "critical"
            case .high: "high"
            case .medium: "warning"
            case .low: "low"
            case .info: "info"
            }
        }
    }

    mutating func makeSpec(group: (Scenario, String, Bool)?) -> Spec {
        let scenario = group?.0 ?? random.pick(Self.scenarios)
        let service = group?.1 ?? random.pick(Self.services)
        let resolved = group?.2 ?? random.chance(0.2)
        let value = Int.random(in: scenario.range, using: &random)
        let startsAt = now.addingTimeInterval(-Double(Int.random(in: 60...10_800, using: &random)))
        return Spec(
            alertname: scenario.alertname, service: service, instance: "\(service)-\(random.hex(4)):\(random.pick([8080, 9090, 5432, 443]))",
            severity: random.pick(scenario.severities), summary: scenario.summary(service, value),
            description: scenario.description(service, value), resolved: resolved, startsAt: startsAt,
            endsAt: resolved ? now.addingTimeInterval(-Double(Int.random(in: 0...50, using: &random))) : nil,
            pagerDutyClass: scenario.pagerDutyClass, omitFingerprint: random.chance(0.33))
    }

    mutating func traceHeaders() -> [RecordHeader] {
        random.chance(0.5) ? [RecordHeader("traceparent", "00-\(random.hex(32))-\(random.hex(16))-01")] : []
    }

    static func object(_ pairs: [(String, JSONValue?)]) -> JSONValue {
        .object(Dictionary(pairs.compactMap { key, value in value.map { (key, $0) } }, uniquingKeysWith: { _, last in last }))
    }

    static func strings(_ map: [String: String]) -> JSONValue { .object(map.mapValues(JSONValue.string)) }

    static func bytes(_ value: JSONValue) -> [UInt8] { Array(value.canonicalText.utf8) }

    mutating func alertmanagerAlert(_ spec: Spec, grafana: Bool) -> JSONValue {
        var pairs: [(String, JSONValue?)] = [
            ("status", .string(spec.resolved ? "resolved" : "firing")),
            ("labels", Self.strings(spec.labels)),
            ("annotations", Self.strings(["summary": spec.summary, "description": spec.description,
                                          "runbook_url": "https://runbooks.example.com/\(spec.alertname.lowercased())"])),
            ("startsAt", .string(Timestamp.format(spec.startsAt))),
            ("endsAt", .string(spec.endsAt.map(Timestamp.format) ?? "0001-01-01T00:00:00Z")),
            ("generatorURL", .string("http://prometheus.example.com:9090/graph?g0.expr=ALERTS%7Balertname%3D%22\(spec.alertname)%22%7D")),
            ("fingerprint", spec.omitFingerprint ? nil : .string(spec.fingerprint)),
        ]
        if grafana {
            let uid = random.hex(8)
            pairs += [
                ("silenceURL", .string("https://grafana.example.com/alerting/silence/new?matcher=alertname%3D\(spec.alertname)")),
                ("dashboardURL", .string("https://grafana.example.com/d/\(uid)")),
                ("panelURL", .string("https://grafana.example.com/d/\(uid)?viewPanel=\(Int.random(in: 1...12, using: &random))")),
                ("values", .object(["B": .number(String(Int.random(in: 1...1000, using: &random))), "C": .number("1")])),
                ("valueString", .string("[ var='B' labels={service=\(spec.service)} value=\(Int.random(in: 1...1000, using: &random)) ]")),
            ]
        }
        return Self.object(pairs)
    }

    mutating func webhook(grafana: Bool) -> (JSONValue, [Spec]) {
        let first = makeSpec(group: nil)
        let scenario = Self.scenarios.first { $0.alertname == first.alertname } ?? Self.scenarios[0]
        var specs = [first]
        for _ in 0..<Int.random(in: 0...3, using: &random) { specs.append(makeSpec(group: (scenario, first.service, first.resolved))) }
        var alerts: [JSONValue] = []
        for spec in specs { alerts.append(alertmanagerAlert(spec, grafana: grafana)) }
        let status = first.resolved ? "resolved" : "firing"
        var pairs: [(String, JSONValue?)] = [
            ("version", .string(grafana ? "1" : "4")),
            ("groupKey", .string("{}:{alertname=\"\(first.alertname)\", service=\"\(first.service)\"}")),
            ("truncatedAlerts", .number("0")),
            ("status", .string(status)),
            ("receiver", .string("breakwater")),
            ("groupLabels", Self.strings(["alertname": first.alertname, "service": first.service])),
            ("commonLabels", Self.strings(["alertname": first.alertname, "service": first.service, "namespace": "prod"])),
            ("commonAnnotations", Self.strings(["runbook_url": "https://runbooks.example.com/\(first.alertname.lowercased())"])),
            ("externalURL", .string(grafana ? "https://grafana.example.com/" : "http://alertmanager.example.com:9093")),
            ("alerts", .array(alerts)),
        ]
        if grafana {
            pairs += [
                ("orgId", .number("1")),
                ("title", .string("[\(status.uppercased()):\(specs.count)] \(first.alertname) (\(first.service))")),
                ("state", .string(first.resolved ? "ok" : "alerting")),
                ("message", .string("**\(status.capitalized)**\n\n\(first.summary)")),
            ]
        }
        return (Self.object(pairs), specs)
    }

    mutating func pagerDuty(_ spec: Spec) -> JSONValue {
        let severity = switch spec.severity {
        case .critical: "critical"
        case .high: "error"
        case .medium: "warning"
        case .low, .info: "info"
        }
        let payload = Self.object([
            ("summary", .string(spec.summary)), ("source", .string(spec.instance)), ("severity", .string(severity)),
            ("timestamp", .string(Timestamp.format(spec.startsAt))), ("component", .string(spec.service)),
            ("group", .string("prod")), ("class", .string(spec.pagerDutyClass)),
            ("custom_details", .object(["description": .string(spec.description), "alertname": .string(spec.alertname)])),
        ])
        return Self.object([
            ("routing_key", .string(random.hex(32))), ("event_action", .string(spec.resolved ? "resolve" : "trigger")),
            ("dedup_key", .string(spec.dedupKey)), ("payload", payload), ("client", .string("Breakwater sample generator")),
            ("client_url", .string("https://monitoring.example.com/\(spec.service)")),
        ])
    }
}
