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

    /// Buckets of the `breakwater_dedup_batch_size` histogram (a statement holds at most
    /// 256 occurrences).
    public static let dedupBatchSizeBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256]

    private static let once = OnceBootstrap<PrometheusCollectorRegistry>()

    /// A factory that records into `registry`, with Breakwater's histogram buckets and
    /// each metric's help text from ``MetricNames/help``.
    public static func makeFactory(registry: PrometheusCollectorRegistry) -> DescribedPrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets[MetricNames.processingDuration] = processingDurationBuckets
        factory.durationHistogramBuckets[MetricNames.ingestDuration] = ingestDurationBuckets
        factory.valueHistogramBuckets[MetricNames.mlBatchSize] = mlBatchSizeBuckets
        factory.valueHistogramBuckets[MetricNames.dedupBatchSize] = dedupBatchSizeBuckets
        return DescribedPrometheusMetricsFactory(base: factory, help: MetricNames.help)
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
        install: (DescribedPrometheusMetricsFactory) -> Void
    ) -> PrometheusCollectorRegistry {
        once.run {
            let registry = PrometheusCollectorRegistry()
            install(makeFactory(registry: registry))
            return registry
        }.value
    }
}

/// swift-prometheus's `PrometheusMetricsFactory` with help text: its swift-metrics
/// handlers register every metric with an empty help, so `/metrics` would print no
/// `# HELP` lines. This factory makes the same metrics (same types, the base factory's
/// buckets) through the registry's `help:` methods, with the text `help` has for the name.
/// A name missing from `help` gets no `# HELP` line (the promtool test then reports it).
public struct DescribedPrometheusMetricsFactory: MetricsFactory, Sendable {
    /// The factory whose registry and histogram buckets are used.
    public let base: PrometheusMetricsFactory
    /// Help text by metric name.
    public let help: [String: String]

    /// Wraps `base`, describing metrics with `help`.
    public init(base: PrometheusMetricsFactory, help: [String: String]) {
        self.base = base
        self.help = help
    }

    /// The registry the metrics are made in.
    public var registry: PrometheusCollectorRegistry { base.registry }

    /// The metric `name` with its help text (an empty unit adds no suffix).
    private func describe(_ name: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help[name] ?? "")
    }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: describe(label), labels: dimensions)
    }

    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(descriptor: describe(label), labels: dimensions)
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard aggregate else { return registry.makeGauge(descriptor: describe(label), labels: dimensions) }
        let buckets = base.valueHistogramBuckets[label] ?? base.defaultValueHistogramBuckets
        return registry.makeValueHistogram(descriptor: describe(label), labels: dimensions, buckets: buckets)
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(descriptor: describe(label), labels: dimensions)
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        let buckets = base.durationHistogramBuckets[label] ?? base.defaultDurationHistogramBuckets
        return registry.makeDurationHistogram(descriptor: describe(label), labels: dimensions, buckets: buckets)
    }

    /// A gauge the application sets itself (not through swift-metrics), described like the rest.
    public func makeGauge(name: String) -> Prometheus.Gauge {
        registry.makeGauge(descriptor: describe(name))
    }

    public func destroyCounter(_ handler: any CounterHandler) { base.destroyCounter(handler) }
    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) { base.destroyFloatingPointCounter(handler) }
    public func destroyRecorder(_ handler: any RecorderHandler) { base.destroyRecorder(handler) }
    public func destroyMeter(_ handler: any MeterHandler) { base.destroyMeter(handler) }
    public func destroyTimer(_ handler: any TimerHandler) { base.destroyTimer(handler) }
}
