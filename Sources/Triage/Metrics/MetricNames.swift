/// The name and help text of every metric Breakwater exports on `/metrics`, in one place:
/// the worker records them under these names, `/metrics` prints ``help`` as each one's
/// `# HELP` line, the Grafana dashboard (`deploy/grafana/breakwater.json`) and the alert
/// rules (`deploy/prometheus/alerts.yaml`) query them, and tests check they all agree.
public enum MetricNames {
    /// Counter, label `topic`: records consumed.
    public static let recordsConsumed = "breakwater_records_consumed_total"
    /// Counter, labels `classifier` (`ml`|`rules`), `severity`: incidents published.
    public static let incidents = "breakwater_incidents_total"
    /// Counter, label `reason`: records sent to the dead-letter topic.
    public static let dlqRecords = "breakwater_dlq_records_total"
    /// Counter, labels `breaker`, `strategy`, `reason`: fallback events written.
    public static let fallbacks = "breakwater_fallbacks_total"
    /// Histogram (seconds): time from consuming a record to its outputs being acknowledged.
    public static let processingDuration = "breakwater_processing_duration_seconds"
    /// Gauge: records being processed now.
    public static let inFlight = "breakwater_in_flight"
    /// Gauge, labels `topic`, `partition`: consumer-group lag.
    public static let consumerLag = "breakwater_consumer_lag"
    /// Counter: non-fatal errors the consumer polled (unreachable broker, refused fetch
    /// response…); a steady rate with no records consumed means the worker is stuck.
    public static let consumerErrors = "breakwater_consumer_errors_total"
    /// Histogram: alerts per ML infer request.
    public static let mlBatchSize = "breakwater_ml_batch_size"
    /// Histogram: occurrences per dedup upsert statement.
    public static let dedupBatchSize = "breakwater_dedup_batch_size"
    /// Counter, labels `route`, `status`: HTTP ingest requests answered.
    public static let ingestRequests = "breakwater_ingest_requests_total"
    /// Histogram (seconds), label `route`: from an ingest request's arrival to its answer
    /// (for an accepted one, the broker's acknowledgement included).
    public static let ingestDuration = "breakwater_ingest_duration_seconds"
    /// Counter, label `reason`: ML infer requests that failed (the rules classified instead).
    public static let mlInferFailures = "breakwater_ml_infer_failures_total"
    /// Gauge: 1 while the worker is ready (`GET /health/ready` answers 200), else 0; set at
    /// every scrape.
    public static let ready = "breakwater_ready"

    /// Gauge: live workers of the breaker fleet, this one included.
    public static let fleetWorkers = "breakwater_fleet_workers"
    /// Gauge, label `breaker`: live workers reporting the breaker open by their own rules.
    public static let fleetReportingOpen = "breakwater_fleet_reporting_open"
    /// Gauge, label `breaker`: 1 while the fleet holds the breaker open on this worker.
    public static let fleetOpened = "breakwater_fleet_opened"
    /// Gauge: 1 while this worker's breakers decide alone (it has not read its own reports
    /// back from the fleet's topic).
    public static let fleetLocalOnly = "breakwater_fleet_local_only"

    /// Gauge: repair records the healer group has not healed or skipped yet, on every
    /// partition of the repair log (high watermark minus the group's committed offset);
    /// every worker reports the whole group's backlog.
    public static let healPending = "breakwater_heal_pending"
    /// Counter, label `step`: steps healed (an incident's next revision published).
    public static let healHealed = "breakwater_heal_healed_total"
    /// Counter, label `reason`: repairs not healed (`too_old`, `step_off`, `superseded`, `unencodable`).
    public static let healSkipped = "breakwater_heal_skipped_total"
    /// Counter, label `step`: heal calls that failed; the step stays pending and is tried again.
    public static let healFailedAttempts = "breakwater_heal_failed_attempts_total"
    /// Gauge (seconds): from the last healed incident's first publication to its heal.
    public static let healLag = "breakwater_heal_lag_seconds"

    /// Gauge, label `breaker`: 0 closed, 1 half-open, 2 open (resilience library).
    public static let circuitBreakerState = "circuit_breaker_state"
    /// Counter, labels `breaker`, `outcome`: calls through a breaker.
    public static let circuitBreakerCalls = "circuit_breaker_calls_total"
    /// Counter, labels `breaker`, `from`, `to`: state transitions.
    public static let circuitBreakerTransitions = "circuit_breaker_transitions_total"
    /// Counter, label `breaker`: calls rejected while open.
    public static let circuitBreakerRejections = "circuit_breaker_rejections_total"
    /// Counter, label `breaker`: calls slower than the breaker's slow-call duration.
    public static let circuitBreakerSlowCalls = "circuit_breaker_slow_calls_total"
    /// Counter, labels `breaker`, `strategy`, `reason`, `result`: fallback executions.
    public static let fallbackExecutions = "fallback_executions_total"
    /// Counter, labels `breaker`, `part`, `mode`: calls an adaptive part refused
    /// (`enforced`) or would have refused (`shadow`).
    public static let adaptiveRejections = "adaptive_rejections_total"
    /// Gauge, label `breaker`: the adaptive throttle's rejection probability.
    public static let adaptiveThrottleProbability = "adaptive_throttle_probability"
    /// Gauge, label `breaker`: the adaptive concurrency limit.
    public static let adaptiveConcurrencyLimit = "adaptive_concurrency_limit"

    /// Every metric name above.
    public static let all: [String] = [
        recordsConsumed, incidents, dlqRecords, fallbacks, processingDuration, inFlight, consumerLag, consumerErrors, mlBatchSize,
        dedupBatchSize, mlInferFailures, ready, ingestRequests, ingestDuration,
        fleetWorkers, fleetReportingOpen, fleetOpened, fleetLocalOnly,
        healPending, healHealed, healSkipped, healFailedAttempts, healLag,
        circuitBreakerState, circuitBreakerCalls, circuitBreakerTransitions, circuitBreakerRejections, circuitBreakerSlowCalls,
        fallbackExecutions, adaptiveRejections, adaptiveThrottleProbability, adaptiveConcurrencyLimit,
    ]

    /// The `# HELP` text of every metric above, by name (Prometheus conventions: every
    /// metric has one; `promtool check metrics` reports those without).
    public static let help: [String: String] = [
        recordsConsumed: "Records consumed from the input topic, by topic.",
        incidents: "Incidents published to the output topic, by classifier (ml or rules) and severity.",
        dlqRecords: "Records sent to the dead-letter topic, by reason.",
        fallbacks: "Fallback-event records written (a fallback served instead of a remote call), by breaker, strategy and reason.",
        processingDuration: "Time from consuming a record to every output of it being acknowledged by the broker.",
        inFlight: "Records being processed now (consumed, outputs not yet acknowledged).",
        consumerLag: "Consumer-group lag of each assigned input partition: high watermark minus position (0 once the partition is given up).",
        consumerErrors: "Non-fatal errors the consumer polled; a steady rate with nothing consumed means the worker is stuck.",
        mlBatchSize: "Alerts per ML infer request (micro-batching).",
        dedupBatchSize: "Alert occurrences per dedup upsert statement (batched while a statement runs).",
        mlInferFailures: "ML infer requests that failed, by reason; the rule classifier answered instead.",
        ready: "1 while the worker is ready (GET /health/ready answers 200), else 0.",
        ingestRequests: "HTTP ingest requests answered, by route and status (202 accepted, 400, 401, 413, 503).",
        ingestDuration: "Time from an HTTP ingest request's arrival to its answer, the broker's acknowledgement included, by route.",
        fleetWorkers: "Live workers of the breaker fleet (a report arrived within fleet.liveness), this one included.",
        fleetReportingOpen: "Live workers of the fleet reporting the breaker open by their own rules (the quorum counts these), by breaker.",
        fleetOpened: "1 while the fleet holds the breaker open on this worker (a quorum reported it open, until a probe's success), by breaker.",
        fleetLocalOnly: "1 while this worker's breakers decide alone: it has not read its own reports back from the fleet's topic within fleet.liveness.",
        healPending: "Repair records the healer group has not healed or skipped yet, on every partition of the repair log (high watermark minus the group's committed offset); every worker reports the whole group's, so aggregate with max.",
        healHealed: "Steps of provisional incidents healed (the dependency answered and the next revision was published), by step.",
        healSkipped: "Repair records not healed, by reason (too_old: past heal.maxAge; step_off: not in heal.steps; superseded: a newer update was published; unencodable).",
        healFailedAttempts: "Heal calls that failed (the dependency still degraded); the step stays pending and is tried again, by step.",
        healLag: "Seconds from the last healed incident's first publication to its heal.",
        circuitBreakerState: "State of each circuit breaker: 0 closed, 1 half-open, 2 open, 3 forced open, 4 disabled.",
        circuitBreakerCalls: "Calls through each circuit breaker, by outcome (success, failure, timeout, rejected, ignored_error).",
        circuitBreakerTransitions: "State transitions of each circuit breaker, by from and to state.",
        circuitBreakerRejections: "Calls each circuit breaker rejected while open.",
        circuitBreakerSlowCalls: "Calls slower than the breaker's slow-call duration, by breaker.",
        fallbackExecutions: "Fallback strategies executed by the resilience library, by breaker, strategy, reason and result.",
        adaptiveRejections: "Calls an adaptive part (retry_budget, throttle, concurrency_limit) refused (mode enforced) or let through in shadow mode that it would have refused (mode shadow), by breaker.",
        adaptiveThrottleProbability: "The adaptive throttle's rejection probability over all priorities at its last decision, by breaker.",
        adaptiveConcurrencyLimit: "The adaptive concurrency limit: calls (for ml, infer requests) let through at once, by breaker.",
    ]

    /// Names of the histograms (exported with `_bucket`, `_sum` and `_count` series).
    public static let histograms: Set<String> = [processingDuration, mlBatchSize, dedupBatchSize, ingestDuration]
}
