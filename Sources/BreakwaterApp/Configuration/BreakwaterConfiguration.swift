import Foundation
import Triage

/// Every setting of a Breakwater worker, with documented defaults.
///
/// Load it with ``ConfigurationLoader`` (YAML file, then `BREAKWATER_*` environment
/// variables, then `--set key.path=value` flags); `BreakwaterConfiguration()` is the
/// all-defaults configuration. Key paths in files, variables and flags are the
/// property names below (`kafka.bootstrapServers`, `breakers.ml.failureThreshold`).
public struct BreakwaterConfiguration: Sendable, Hashable, Codable {
    /// Kafka connection and client settings.
    public var kafka = KafkaSettings()
    /// Topic names and how missing topics are created.
    public var topics = TopicSettings()
    /// Consumption, concurrency, commit and decoding limits.
    public var pipeline = PipelineSettings()
    /// The ML classification service (MLServer, V2 inference protocol).
    public var ml = MLSettings()
    /// The service catalog used for enrichment.
    public var catalog = CatalogSettings()
    /// Alert deduplication.
    public var dedup = DedupSettings()
    /// The rule-based classifier.
    public var rules = RulesSettings()
    /// Circuit breaker settings per dependency.
    public var breakers = BreakerSet()
    /// Adaptive protection in front of a dependency's breaker (throttle, concurrency limit).
    public var protection = ProtectionSet()
    /// Breakers shared by the workers of the consumer group (`topics.breakerState`).
    public var fleet = FleetSettings()
    /// Healing: the repair log (`topics.repair`) and the healer that re-runs degraded steps.
    public var heal = HealSettings()
    /// Feature flags (initial values; switchable at run time through the admin API).
    public var features = FeatureSettings()
    /// The HTTP server (metrics, health, admin).
    public var http = HTTPSettings()
    /// HTTP ingest: alert senders post to the HTTP server and the records go to the alerts topic.
    public var ingest = IngestSettings()
    /// Logging.
    public var logging = LoggingSettings()

    /// The all-defaults configuration.
    public init() {}
}

/// Kafka connection and client settings.
public struct KafkaSettings: Sendable, Hashable, Codable {
    /// `bootstrap.servers`: comma-separated `host:port` list.
    public var bootstrapServers = "localhost:9092"
    /// Consumer group id shared by all workers.
    public var groupId = "breakwater"
    /// Client id reported to the broker.
    public var clientId = "breakwater"
    /// How the group assigns partitions: eager (`range`, `roundrobin`) or incremental
    /// (`cooperative-sticky`). Default `range`: with the librdkafka Debian ships (2.0.2),
    /// an offset commit made while a cooperative rebalance is under way fails with
    /// ILLEGAL_GENERATION and the member loses its whole assignment (librdkafka issue
    /// #4059, fixed upstream only in 2025), so every commit of a worker that keeps
    /// committing on its timer through rebalances is at risk; the chaos run redid ~9x more
    /// work under `cooperative-sticky` than under `range`.
    public var assignmentStrategy = KafkaAssignmentStrategy.range
    /// `security.protocol`.
    public var securityProtocol = KafkaSecurityProtocol.plaintext
    /// SASL credentials (used with `sasl_plaintext` and `sasl_ssl`).
    public var sasl = KafkaSASLSettings()
    /// TLS files (used with `ssl` and `sasl_ssl`).
    public var ssl = KafkaSSLSettings()
    /// Any other librdkafka property, passed through unchanged. Must not repeat a
    /// property that has a typed setting above.
    public var properties: [String: String] = [:]
    /// Whether the worker creates missing topics at start.
    public var createTopics = true
    /// Static group membership (Kafka's KIP-345): the worker joins with a
    /// `group.instance.id`, so one restarted within the session timeout takes its
    /// partitions back without a rebalance of the whole group, and a member that died
    /// without leaving keeps its partitions until the session timeout. Off by default:
    /// every worker then needs a distinct id that stays the same across its restarts
    /// (two live members with one id fence each other).
    public var staticMembership = false
    /// The `group.instance.id` under ``staticMembership``; unset: `pipeline.workerId`.
    public var groupInstanceId: String?
    /// How long the worker stops fetching a partition whose end it reached before it
    /// fetches it again. Unset (the default): it never does, as Kafka holds an empty fetch
    /// up to `fetch.wait.max.ms` itself. For brokers that answer empty fetches at once
    /// (the local test broker, noida-db; `scripts/demo` and `scripts/dev-up` set 200ms):
    /// there an idle worker fetches in a loop, ~0.5 core for it and ~0.5 for the broker.
    /// A record that arrives at a resting partition waits up to this long.
    public var idleFetchBackoff: ConfigDuration?
    /// Defaults.
    public init() {}
}

/// Kafka SASL settings.
public struct KafkaSASLSettings: Sendable, Hashable, Codable {
    /// `sasl.mechanisms`.
    public var mechanism = KafkaSASLMechanism.plain
    /// `sasl.username`.
    public var username: String?
    /// `sasl.password` (secret).
    public var password: Secret?
    /// Defaults.
    public init() {}
}

/// Kafka TLS settings.
public struct KafkaSSLSettings: Sendable, Hashable, Codable {
    /// `ssl.ca.location`: CA bundle file; system trust store when unset.
    public var caLocation: String?
    /// `ssl.certificate.location`: client certificate (mutual TLS).
    public var certificateLocation: String?
    /// `ssl.key.location`: client private key.
    public var keyLocation: String?
    /// `ssl.key.password` (secret).
    public var keyPassword: Secret?
    /// Verify the broker's host name (`ssl.endpoint.identification.algorithm=https`).
    public var verifyHostname = true
    /// Defaults.
    public init() {}
}

/// Topic names and creation settings.
public struct TopicSettings: Sendable, Hashable, Codable {
    /// Input topic of alert payloads.
    public var alerts = PipelineTopics.DefaultName.alerts
    /// Output topic of classified incidents.
    public var classified = PipelineTopics.DefaultName.classified
    /// Output topic of fallback events.
    public var fallbackEvents = PipelineTopics.DefaultName.fallbackEvents
    /// Dead-letter topic for records that cannot be decoded or processed.
    public var deadLetter = PipelineTopics.DefaultName.deadLetter
    /// The repair log: one record per incident a fallback served, which the healer
    /// (`heal.*`) re-runs once the dependency is back.
    public var repair = PipelineTopics.DefaultName.repair
    /// Compacted topic where the workers of a fleet share their breakers' states
    /// (`fleet.enabled`).
    public var breakerState = "breakwater.breaker-state"
    /// Partitions of topics the worker creates.
    public var partitions = 6
    /// Replication factor of topics the worker creates.
    public var replicationFactor = 1
    /// Defaults.
    public init() {}

    /// Every topic name, keyed by its configuration key.
    public var all: [(key: String, name: String)] {
        [("alerts", alerts), ("classified", classified), ("fallbackEvents", fallbackEvents), ("deadLetter", deadLetter),
         ("repair", repair), ("breakerState", breakerState)]
    }
}

/// Consumption, concurrency, commit and decoding limits.
public struct PipelineSettings: Sendable, Hashable, Codable {
    /// Records processed at once per worker; partitions pause while the bound is hit.
    public var maxInFlight = 2_048
    /// Read-process-write in Kafka transactions instead of at-least-once.
    public var exactlyOnce = false
    /// Time allowed on SIGTERM to finish in-flight work before committing and leaving.
    public var shutdownDeadline = ConfigDuration.seconds(30)
    /// How often completed offsets are committed.
    public var commitInterval = ConfigDuration.seconds(1)
    /// How long no broker may answer before readiness fails (`consumerMakingProgress`).
    public var brokerUnreachableGrace = ConfigDuration.seconds(30)
    /// This worker's id in outputs; defaults to the host name (the pod name in Kubernetes).
    public var workerId = PipelineSettings.defaultWorkerId
    /// Records larger than this go to the dead-letter topic undecoded.
    public var maxRecordBytes = 1_048_576
    /// Payloads carrying more alerts than this go to the dead-letter topic.
    public var maxAlertsPerPayload = 1_000
    /// Give free heap memory back to the system once a burst of work ends (glibc only).
    public var trimMemoryWhenIdle = true
    /// Defaults.
    public init() {}

    /// The host name (read once per process), or `breakwater` when it cannot be determined.
    public static let defaultWorkerId: String = {
        let name = ProcessInfo.processInfo.hostName
        return name.isEmpty ? "breakwater" : name
    }()
}

/// The ML classification service.
public struct MLSettings: Sendable, Hashable, Codable {
    /// Use the ML classifier at all (off: rules only, no ML client is created).
    public var enabled = true
    /// Base URL of the MLServer HTTP endpoint.
    public var url = "http://127.0.0.1:8090"
    /// Model name in `POST /v2/models/{name}/infer`.
    public var modelName = "alert-classifier"
    /// Name of the BYTES input tensor carrying the alert texts.
    public var inputName = "alerts"
    /// Names of the output tensors requested.
    public var outputNames = ["severity", "severity_confidence", "category", "category_confidence"]
    /// Per-request timeout.
    public var timeout = ConfigDuration.seconds(2)
    /// Most alerts sent in one infer request.
    public var maxBatchSize = 32
    /// Longest an alert waits for its batch to fill.
    public var maxBatchWait = ConfigDuration.milliseconds(5)
    /// Most infer requests in flight at once, and the connections kept to the server: a
    /// batch due while that many are out keeps filling and goes when one ends (see
    /// `MicroBatcher`).
    public var maxConcurrentRequests = 8
    /// Least model confidence (0...1) that is published unchallenged; below it
    /// `lowConfidence` decides between the model's and the rules' verdict. 0 publishes
    /// every model verdict.
    public var minConfidence = 0.5
    /// Below `minConfidence`: `more_severe` publishes the more urgent of the two verdicts
    /// (the rules' on a tie), `rules` always the rules'; a published rules verdict writes a
    /// `low_confidence` fallback event.
    public var lowConfidence = LowConfidenceVerdict.moreSevere
    /// Source severities (`critical`, `high`, `medium`, `low`, `info`) under which the
    /// published severity never goes; empty turns the floor off.
    public var severityFloor = ["critical", "high"]

    /// The policy these settings describe; unknown severities (rejected by validation) are ignored.
    public var classificationPolicy: ClassificationPolicy {
        ClassificationPolicy(
            severityFloor: Set(severityFloor.compactMap(Severity.init(rawValue:))), minConfidence: minConfidence, lowConfidence: lowConfidence
        )
    }
    /// Defaults.
    public init() {}
}

/// The service catalog (PostgreSQL) used for enrichment; the dedup store uses the same database.
public struct CatalogSettings: Sendable, Hashable, Codable {
    /// Primary database (`postgres://user:password@host:port/db`).
    public var postgresURL = DatabaseURL("postgres://breakwater@127.0.0.1:5432/breakwater")
    /// Optional read replica tried after the stale cache.
    public var secondaryURL: DatabaseURL?
    /// Static catalog (YAML) used when no database answers.
    public var staticCatalogFile = "deploy/catalog.yaml"
    /// How long a cached entry is fresh.
    public var cacheTTL = ConfigDuration.seconds(300)
    /// How long a cached entry may still be served as stale (must be ≥ `cacheTTL`).
    public var staleTTL = ConfigDuration.seconds(3_600)
    /// Most entries kept in the cache (LRU eviction).
    public var cacheCapacity = 10_000
    /// Connections per database.
    public var poolSize = 4
    /// Server-side statement timeout.
    public var statementTimeout = ConfigDuration.seconds(2)
    /// TLS to PostgreSQL.
    public var tls = PostgresTLSSettings()
    /// Defaults.
    public init() {}
}

/// TLS to PostgreSQL.
public struct PostgresTLSSettings: Sendable, Hashable, Codable {
    /// TLS mode (libpq `sslmode` names).
    public var mode = PostgresTLSMode.disable
    /// CA bundle used by `verify-ca`/`verify-full`; system trust store when unset.
    public var caFile: String?
    /// Defaults.
    public init() {}
}

/// Alert deduplication (PostgreSQL, read-only while its breaker is open).
public struct DedupSettings: Sendable, Hashable, Codable {
    /// Whether incidents are deduplicated at all.
    public var enabled = true
    /// Whether the dedup upsert is a prepared statement (parsed and planned once per
    /// connection). Turn off behind a pooler that does not keep a connection's prepared
    /// statements, e.g. PgBouncer in transaction mode before 1.21 or without
    /// `max_prepared_statements`: there every upsert would fail.
    public var preparedStatements = true
    /// Defaults.
    public init() {}
}

/// The rule-based classifier.
public struct RulesSettings: Sendable, Hashable, Codable {
    /// Ordered rule file (YAML).
    public var file = "deploy/rules.yaml"
    /// Defaults.
    public init() {}
}

/// Circuit breaker settings, one per remote dependency.
public struct BreakerSet: Sendable, Hashable, Codable {
    /// The ML inference service.
    public var ml = BreakerSettings()
    /// The primary catalog database.
    public var catalog = BreakerSettings()
    /// The secondary (replica) catalog database.
    public var catalogSecondary = BreakerSettings()
    /// The dedup store.
    public var dedup = BreakerSettings()
    /// Defaults.
    public init() {}

    /// Every breaker with its name (the configuration key, also its metric label).
    public var all: [(name: String, settings: BreakerSettings)] {
        [("ml", ml), ("catalog", catalog), ("catalogSecondary", catalogSecondary), ("dedup", dedup)]
    }

    /// Every breaker's settings by the name the breaker goes by (``Triage/BreakerName``:
    /// `catalog_secondary` for `catalogSecondary`).
    public var byBreakerName: [(breaker: String, settings: BreakerSettings)] {
        [(BreakerName.ml, ml), (BreakerName.catalog, catalog), (BreakerName.catalogSecondary, catalogSecondary), (BreakerName.dedup, dedup)]
    }
}

/// One circuit breaker's thresholds.
public struct BreakerSettings: Sendable, Hashable, Codable {
    /// Consecutive failures that open the breaker.
    public var failureThreshold = 5
    /// Consecutive half-open successes that close it.
    public var successThreshold = 2
    /// How long it stays open before admitting probes (the first opening).
    public var openDuration = ConfigDuration.seconds(60)
    /// Probes admitted while half-open.
    public var halfOpenMaxCalls = 3
    /// Failure rate in the window (0...1) that opens it, once `minimumCalls` are seen.
    public var failureRateThreshold = 0.5
    /// Calls slower than this count as slow.
    public var slowCallDuration = ConfigDuration.seconds(5)
    /// Slow-call rate in the window (0...1) that opens it; 1 means only when every call is slow.
    public var slowCallRateThreshold = 1.0
    /// Sliding window by call count or by time.
    public var windowType = BreakerWindowType.count
    /// Calls in a count window.
    public var windowSize = 20
    /// Length of a time window.
    public var windowDuration = ConfigDuration.seconds(60)
    /// Calls needed in the window before rates are evaluated.
    public var minimumCalls = 10
    /// Per-call timeout (counts as a failure); unset: no breaker timeout.
    public var callTimeout: ConfigDuration?
    /// Open duration growth across successive openings.
    public var backoff = BackoffSettings()
    /// How this breaker is shared with the fleet (when `fleet.enabled`).
    public var fleet = BreakerFleetSettings()
    /// Defaults (the design's family: 5 failures, 2 successes, 60 s open, 3 probes).
    public init() {}
}

/// `breakers.<name>.fleet`: when the fleet opens this breaker and who probes it.
public struct BreakerFleetSettings: Sendable, Hashable, Codable {
    /// Share this breaker with the fleet.
    public var enabled = true
    /// The share of the live workers that must report the breaker open by their own
    /// rules before the fleet opens it everywhere, exclusive (0.5: more than half).
    public var quorum = 0.5
    /// The fewest workers that must report it open, whatever the share; 2 keeps one worker
    /// with a broken path from opening the rest.
    public var minimumQuorum = 2
    /// Workers that probe the dependency while the fleet holds the breaker open; the
    /// others wait for their verdict.
    public var probers = 1
    /// Also open everywhere when a quorum of workers is failing and their failures in a
    /// row add up to `failureThreshold` (each worker counting for at most
    /// ⌈failureThreshold / quorum⌉): a dead dependency then costs the fleet about one
    /// worker's worth of failed calls instead of the quorum's.
    public var poolFailures = true
    /// Defaults: a majority, at least 2, one prober, failures pooled.
    public init() {}
}

/// `fleet`: the workers of a consumer group share their breakers over
/// `topics.breakerState`: a breaker opens on every worker once a quorum reports it open,
/// and one worker probes a recovering dependency for all.
public struct FleetSettings: Sendable, Hashable, Codable {
    /// Share breakers with the other workers of the group.
    public var enabled = true
    /// How often each worker sends its breakers' states again.
    public var heartbeat = ConfigDuration.seconds(2)
    /// A worker not heard from for this long is no longer counted; a worker that has not
    /// read its own states back for this long decides alone (local-only).
    public var liveness = ConfigDuration.seconds(6)
    /// Defaults: on, heartbeat 2 s, liveness 6 s.
    public init() {}
}

/// `heal.*`: incidents a fallback served are published provisional with a repair record
/// (`topics.repair`); the healer every worker runs (its own consumer group,
/// `<kafka.groupId>.healer`) re-runs their degraded steps once the dependency's breaker is
/// closed, and publishes the next revision.
public struct HealSettings: Sendable, Hashable, Codable {
    /// Write the repair log and run the healer.
    public var enabled = true
    /// Heal catalog lookups a fallback served (`static_catalog`, `stale_cache`, `secondary`, `default` → `primary`).
    public var enrichment = true
    /// Heal classifications the rules made because the model could not answer (`rules` → `ml`).
    public var classification = true
    /// Repair records older than this are skipped (counted in `breakwater_heal_skipped_total{reason="too_old"}`).
    public var maxAge = ConfigDuration.seconds(3600)
    /// Most heals started per second, per worker.
    public var ratePerSecond = 200.0
    /// Heals wait while the live worker has more records than this in flight.
    public var yieldAboveInFlight = 256
    /// Heals in flight at once per worker (they join the live alerts' ML micro-batches);
    /// the healer's partitions pause while this many wait.
    public var batchSize = 64
    /// Wait after a heal call failed before trying it again.
    public var retryAfter = ConfigDuration.seconds(1)
    /// Defaults: on, both steps, 1 h, 200/s, yield above 256, 64 at once, retry after 1 s.
    public init() {}

    /// The steps switched on.
    public var steps: Set<HealableStep> {
        var steps: Set<HealableStep> = []
        if enrichment { steps.insert(.enrichment) }
        if classification { steps.insert(.classification) }
        return steps
    }
}

/// Adaptive protection per dependency, in front of its breaker. Only the ML service has
/// it: it is the dependency with a fixed capacity every alert waits on.
public struct ProtectionSet: Sendable, Hashable, Codable {
    /// The ML inference service (the `ml` breaker).
    public var ml = ProtectionSettings()
    /// Defaults: every part off.
    public init() {}
}

/// One dependency's adaptive parts and how alerts rank when they turn some away.
public struct ProtectionSettings: Sendable, Hashable, Codable {
    /// Client-side adaptive throttling (Google SRE).
    public var throttle = ThrottleSettings()
    /// The adaptive concurrency limit (TCP Vegas).
    public var concurrencyLimit = ConcurrencyLimitSettings()
    /// Severities from the first turned away (to the rules) to the last, every one once.
    public var severityOrder = ["info", "low", "medium", "high", "critical"]
    /// By severity, the longest an alert waits for the model's answer (queued or with its
    /// request in flight) before the rules answer it (reason `timeout`); unset: as long as
    /// its request takes.
    public var waitBudget = SeverityWaits()
    /// Defaults.
    public init() {}
}

/// A duration per severity, each unset by default.
public struct SeverityWaits: Sendable, Hashable, Codable {
    /// For `critical` alerts.
    public var critical: ConfigDuration?
    /// For `high` alerts.
    public var high: ConfigDuration?
    /// For `medium` alerts.
    public var medium: ConfigDuration?
    /// For `low` alerts.
    public var low: ConfigDuration?
    /// For `info` alerts.
    public var info: ConfigDuration?
    /// Defaults: none set.
    public init() {}

    /// The durations that are set, by severity.
    public var all: [(severity: Severity, wait: ConfigDuration)] {
        let waits: [(Severity, ConfigDuration?)] = [(.critical, critical), (.high, high), (.medium, medium), (.low, low), (.info, info)]
        return waits.compactMap { severity, wait in wait.map { (severity, $0) } }
    }
}

/// `protection.<name>.throttle`: reject locally with probability
/// max(0, (requests − multiplier · accepts) / (requests + 1)) over `window`.
public struct ThrottleSettings: Sendable, Hashable, Codable {
    /// Use it.
    public var enabled = false
    /// Decide and count (metrics) without turning anything away.
    public var shadow = false
    /// The window requests and accepts are counted over (whole seconds).
    public var window = ConfigDuration.seconds(120)
    /// K: requests sent per accepted one (≥ 1; lower sheds more).
    public var multiplier = 2.0
    /// The highest share of requests turned away (0 ≤ p < 1).
    public var maxRejectionProbability = 0.9
    /// Defaults: off.
    public init() {}
}

/// `protection.<name>.concurrencyLimit`: requests in flight at most, following the
/// latency (for ML: infer requests, each a batch of alerts).
public struct ConcurrencyLimitSettings: Sendable, Hashable, Codable {
    /// Use it.
    public var enabled = false
    /// Decide and count (metrics) without holding anything back.
    public var shadow = false
    /// The limit before any request completed (start at or below the dependency's
    /// capacity). Default 1: a limit that starts above it learns the queue as its
    /// baseline and comes down a tenth a round (4 took 6 s against a model server whose
    /// latency grows with what it is sent, and cost 5.7% of the critical alerts of
    /// `scripts/bench-adaptive`); from 1 it grows a request a round.
    public var initial = 1
    /// The lowest limit.
    public var min = 1
    /// The highest limit.
    public var max = 64
    /// A call slower than this is overload whatever the baseline; unset: no bound.
    public var maxHealthyLatency: ConfigDuration?
    /// How long a minimum latency stands as the baseline.
    public var baselineWindow = ConfigDuration.seconds(60)
    /// How long the limit does not grow after it backed off (`0s`: grows again at once).
    public var holdAfterBackoff = ConfigDuration.seconds(5)
    /// Grow while fewer requests than this are estimated queued; unset: 1.
    public var alpha: Double?
    /// Shrink while more requests than this are estimated queued (more than alpha); unset: 2.
    public var beta: Double?
    /// Shares (0 ≤ share < 1, less than 1 together), by severity, of the alerts waiting
    /// for a request that only alerts of that rank or above may take (see `severityOrder`).
    public var reserved = SeverityShares()
    /// Defaults: off.
    public init() {}
}

/// A share per severity.
public struct SeverityShares: Sendable, Hashable, Codable {
    /// For `critical` alerts. Default 0.3.
    public var critical = 0.3
    /// For `high` alerts.
    public var high = 0.0
    /// For `medium` alerts.
    public var medium = 0.0
    /// For `low` alerts.
    public var low = 0.0
    /// For `info` alerts.
    public var info = 0.0
    /// Defaults: 30% for critical.
    public init() {}

    /// Every share by severity.
    public var all: [(severity: Severity, share: Double)] {
        [(.critical, critical), (.high, high), (.medium, medium), (.low, low), (.info, info)]
    }
}

/// Exponential backoff of a breaker's open duration.
public struct BackoffSettings: Sendable, Hashable, Codable {
    /// Factor applied to the open duration at each successive opening; 1 = fixed.
    public var multiplier = 1.0
    /// Longest open duration.
    public var max = ConfigDuration.seconds(300)
    /// Random spread (0...1) applied to each open duration.
    public var jitter = 0.0
    /// Defaults.
    public init() {}
}

/// Initial feature flag values.
public struct FeatureSettings: Sendable, Hashable, Codable {
    /// ML classification; off falls back to the rules (also off while the ML breaker is open).
    public var mlClassification = true
    /// Defaults.
    public init() {}

    enum CodingKeys: String, CodingKey {
        case mlClassification = "ml_classification"
    }

    /// Every flag by its name (the configuration key and admin API name).
    public var all: [(name: String, enabled: Bool)] { [(FeatureName.mlClassification, mlClassification)] }
}

/// The HTTP server.
public struct HTTPSettings: Sendable, Hashable, Codable {
    /// Listen address.
    public var host = "0.0.0.0"
    /// Listen port (metrics, health and admin).
    public var port = 8080
    /// Bearer token for `/admin/*`; unset: admin routes are off.
    public var adminToken: Secret?
    /// Defaults.
    public init() {}
}

/// HTTP ingest (`POST /ingest/alertmanager`, `/ingest/grafana`, `/ingest/cloudevents`,
/// `/v2/enqueue`): each request is decoded as the worker would, then produced to the alerts
/// topic, and answered only once the broker acknowledged it.
public struct IngestSettings: Sendable, Hashable, Codable {
    /// Serve the ingest routes on `breakwater run`'s HTTP server (`breakwater ingest` serves
    /// them whatever this says).
    public var enabled = false
    /// Longest a request waits for the broker's acknowledgement; then it is answered 503.
    public var deliveryTimeout = ConfigDuration.seconds(10)
    /// `Retry-After` of a 503 answer (whole seconds, rounded up).
    public var retryAfter = ConfigDuration.seconds(5)
    /// `POST /ingest/alertmanager`: Alertmanager `webhook_configs`.
    public var alertmanager = IngestRouteSettings()
    /// `POST /ingest/grafana`: Grafana's webhook contact point.
    public var grafana = IngestRouteSettings()
    /// `POST /v2/enqueue`: PagerDuty Events API v2.
    public var pagerduty = IngestRouteSettings()
    /// `POST /ingest/cloudevents`: CloudEvents HTTP binding, structured or binary mode.
    public var cloudevents = IngestRouteSettings()
    /// Defaults.
    public init() {}

    /// Every route's settings by its configuration key.
    public var all: [(key: String, settings: IngestRouteSettings)] {
        [("alertmanager", alertmanager), ("grafana", grafana), ("pagerduty", pagerduty), ("cloudevents", cloudevents)]
    }
}

/// One ingest route: on or off, and the credentials a sender must present (none by default;
/// a bearer token, or a user name and password for basic auth — not both).
public struct IngestRouteSettings: Sendable, Hashable, Codable {
    /// Serve this route (when ingest is on).
    public var enabled = true
    /// `Authorization: Bearer <token>` required when set; secret.
    public var bearerToken: Secret?
    /// Basic auth user name; needs ``password``.
    public var username: String?
    /// Basic auth password; secret.
    public var password: Secret?
    /// Defaults.
    public init() {}
}

/// Logging.
public struct LoggingSettings: Sendable, Hashable, Codable {
    /// Minimum level.
    public var level = LogLevelSetting.info
    /// Line format.
    public var format = LogFormat.logfmt
    /// Defaults.
    public init() {}
}

extension KafkaSettings {
    /// The librdkafka client properties these settings stand for: the typed settings
    /// under their librdkafka names, then the pass-through `properties`. Contains
    /// secrets (`sasl.password`, `ssl.key.password`): never log it.
    public var librdkafkaProperties: [String: String] {
        var result = properties
        result["bootstrap.servers"] = bootstrapServers
        result["group.id"] = groupId
        result["client.id"] = clientId
        result["security.protocol"] = securityProtocol.rawValue
        if securityProtocol.usesSASL {
            result["sasl.mechanisms"] = sasl.mechanism.rawValue
            if let username = sasl.username { result["sasl.username"] = username }
            if let password = sasl.password { result["sasl.password"] = password.value }
        }
        if securityProtocol == .ssl || securityProtocol == .saslSSL {
            if let path = ssl.caLocation { result["ssl.ca.location"] = path }
            if let path = ssl.certificateLocation { result["ssl.certificate.location"] = path }
            if let path = ssl.keyLocation { result["ssl.key.location"] = path }
            if let password = ssl.keyPassword { result["ssl.key.password"] = password.value }
            result["ssl.endpoint.identification.algorithm"] = ssl.verifyHostname ? "https" : "none"
        }
        return result
    }
}
