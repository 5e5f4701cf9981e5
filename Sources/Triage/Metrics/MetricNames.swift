/// The name of every metric Breakwater exports on `/metrics`, in one place: the worker
/// records them under these names, the Grafana dashboard (`deploy/grafana/breakwater.json`)
/// queries them, and a test checks the two agree.
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
    /// Counter, labels `route`, `status`: HTTP ingest requests answered.
    public static let ingestRequests = "breakwater_ingest_requests_total"
    /// Histogram (seconds), label `route`: from an ingest request's arrival to its answer
    /// (for an accepted one, the broker's acknowledgement included).
    public static let ingestDuration = "breakwater_ingest_duration_seconds"

    /// Gauge, label `breaker`: 0 closed, 1 half-open, 2 open (resilience library).
    public static let circuitBreakerState = "circuit_breaker_state"
    /// Counter, labels `breaker`, `outcome`: calls through a breaker.
    public static let circuitBreakerCalls = "circuit_breaker_calls_total"
    /// Counter, labels `breaker`, `from`, `to`: state transitions.
    public static let circuitBreakerTransitions = "circuit_breaker_transitions_total"
    /// Counter, label `breaker`: calls rejected while open.
    public static let circuitBreakerRejections = "circuit_breaker_rejections_total"
    /// Counter, labels `breaker`, `strategy`, `reason`, `result`: fallback executions.
    public static let fallbackExecutions = "fallback_executions_total"

    /// Every metric name above.
    public static let all: [String] = [
        recordsConsumed, incidents, dlqRecords, fallbacks, processingDuration, inFlight, consumerLag, consumerErrors, mlBatchSize,
        ingestRequests, ingestDuration, circuitBreakerState, circuitBreakerCalls, circuitBreakerTransitions, circuitBreakerRejections, fallbackExecutions,
    ]

    /// Names of the histograms (exported with `_bucket`, `_sum` and `_count` series).
    public static let histograms: Set<String> = [processingDuration, mlBatchSize, ingestDuration]
}
