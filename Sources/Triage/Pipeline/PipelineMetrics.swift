import Kafka
import Metrics

/// The metrics both workers report (names in ``MetricNames``), handles made once per
/// label set (``MetricHandleCache``).
struct PipelineMetrics: Sendable {
    private let inFlightGauge = Meter(label: MetricNames.inFlight)
    private let duration = Timer(label: MetricNames.processingDuration)
    private let counters = MetricHandleCache<Counter> { Counter(label: $0, dimensions: $1) }
    private let gauges = MetricHandleCache<Gauge> { Gauge(label: $0, dimensions: $1) }

    /// Counts the messages among one poll's `events`, one increment per run of a topic
    /// rather than a handle lookup per message.
    func consumed(_ events: [KafkaConsumerEvent]) {
        var topic: String?
        var count: Int64 = 0
        for case .message(let message) in events {
            if message.topic != topic {
                if let topic { counters.handle(MetricNames.recordsConsumed, [("topic", topic)]).increment(by: count) }
                topic = message.topic
                count = 0
            }
            count += 1
        }
        if let topic { counters.handle(MetricNames.recordsConsumed, [("topic", topic)]).increment(by: count) }
    }

    func inFlight(_ delta: Double) {
        if delta > 0 { inFlightGauge.increment(by: delta) } else { inFlightGauge.decrement(by: -delta) }
    }

    func processed(_ outcome: ProcessingOutcome, duration elapsed: Duration) {
        duration.record(elapsed)
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
