import CoreMetrics
import Prometheus
import Triage

/// swift-metrics → Prometheus wiring.
///
/// The app calls ``bootstrap()`` once at start and hands the returned registry to the
/// HTTP server for `GET /metrics`. Tests do not bootstrap: they create their own
/// `PrometheusCollectorRegistry`, pass ``makeFactory(registry:)`` to the code under test
/// (every Breakwater component takes an optional `MetricsFactory`) and to the server.
public enum BreakwaterMetrics {
    /// Buckets of the `breakwater_processing_duration_seconds` histogram (recorded with a
    /// swift-metrics `Timer`).
    public static let processingDurationBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5),
        .seconds(10), .seconds(30), .seconds(60),
    ]

    /// Buckets of the `breakwater_ingest_duration_seconds` histogram: a request is mostly
    /// one round trip to the broker (milliseconds), at most `ingest.deliveryTimeout`.
    public static let ingestDurationBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500),
        .seconds(5), .seconds(10), .seconds(30),
    ]

    /// Buckets of the `breakwater_ml_batch_size` histogram (recorded with an aggregating
    /// swift-metrics `Recorder`).
    public static let mlBatchSizeBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256]

    private static let once = OnceBootstrap<PrometheusCollectorRegistry>()

    /// A factory that records into `registry`, with Breakwater's histogram buckets.
    public static func makeFactory(registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets[MetricNames.processingDuration] = processingDurationBuckets
        factory.durationHistogramBuckets[MetricNames.ingestDuration] = ingestDurationBuckets
        factory.valueHistogramBuckets[MetricNames.mlBatchSize] = mlBatchSizeBuckets
        return factory
    }

    /// Makes a fresh registry the process-wide swift-metrics backend
    /// (`MetricsSystem.bootstrap`) and returns it.
    ///
    /// Call it once, before creating any metric. swift-metrics allows one bootstrap per
    /// process; calling this again returns the first registry instead of crashing.
    @discardableResult
    public static func bootstrap() -> PrometheusCollectorRegistry {
        bootstrap(once: once) { MetricsSystem.bootstrap($0) }
    }

    /// ``bootstrap()`` with the installation and its once-guard injectable (tests never
    /// touch the global `MetricsSystem`).
    static func bootstrap(
        once: OnceBootstrap<PrometheusCollectorRegistry>,
        install: (PrometheusMetricsFactory) -> Void
    ) -> PrometheusCollectorRegistry {
        once.run {
            let registry = PrometheusCollectorRegistry()
            install(makeFactory(registry: registry))
            return registry
        }.value
    }
}
