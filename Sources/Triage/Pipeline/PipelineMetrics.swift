import Kafka
import Metrics
import Synchronization

/// The metrics both workers report (names in ``MetricNames``).
///
/// Handles are made once per label set and kept: making one asks the metrics factory
/// (a lock and a lookup), which per record would cost more than the increment.
struct PipelineMetrics: Sendable {
    private let inFlightGauge = Meter(label: MetricNames.inFlight)
    private let duration = Timer(label: MetricNames.processingDuration)
    private let counters = HandleCache<Counter> { Counter(label: $0, dimensions: $1) }
    private let gauges = HandleCache<Gauge> { Gauge(label: $0, dimensions: $1) }

    func consumed(topic: String) {
        counters.handle(MetricNames.recordsConsumed, [("topic", topic)]).increment()
    }

    func inFlight(_ delta: Double) {
        if delta > 0 { inFlightGauge.increment(by: delta) } else { inFlightGauge.decrement(by: -delta) }
    }

    func processed(_ outcome: ProcessingOutcome, duration elapsed: Duration) {
        duration.recordNanoseconds(Int64(elapsed.components.seconds) * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        for incident in outcome.incidents {
            counters.handle(MetricNames.incidents, [
                ("classifier", incident.classification.classifier.rawValue),
                ("severity", incident.classification.severity.rawValue),
            ]).increment()
        }
        for event in outcome.fallbackEvents {
            counters.handle(MetricNames.fallbacks, [
                ("breaker", event.breaker), ("strategy", event.strategy), ("reason", event.reason.rawValue),
            ]).increment()
        }
        if let letter = outcome.deadLetter { deadLettered(reason: letter.reason) }
    }

    func deadLettered(reason: String) {
        counters.handle(MetricNames.dlqRecords, [("reason", reason)]).increment()
    }

    func consumerErrors(_ count: Int) {
        counters.handle(MetricNames.consumerErrors, []).increment(by: Int64(count))
    }

    func lag(_ partition: KafkaTopicPartition, _ value: Int64) {
        gauges.handle(MetricNames.consumerLag, [("topic", partition.topic), ("partition", "\(partition.partition)")]).record(value)
    }
}

/// Metric handles by label and dimensions, made on first use.
private final class HandleCache<Handle: Sendable>: Sendable {

    private let make: @Sendable (String, [(String, String)]) -> Handle
    /// Keyed by label, then each dimension's name and value in order.
    private let handles = Mutex<[[String]: Handle]>([:])

    init(make: @escaping @Sendable (String, [(String, String)]) -> Handle) {
        self.make = make
    }

    func handle(_ label: String, _ dimensions: [(String, String)]) -> Handle {
        var key = [label]
        key.reserveCapacity(1 + 2 * dimensions.count)
        for (name, value) in dimensions {
            key.append(name)
            key.append(value)
        }
        return handles.withLock { handles in
            if let handle = handles[key] { return handle }
            let handle = make(label, dimensions)
            handles[key] = handle
            return handle
        }
    }
}
