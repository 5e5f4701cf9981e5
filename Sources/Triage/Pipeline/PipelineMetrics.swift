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
        let topics = events.lazy.compactMap { event -> String? in
            if case .message(let message) = event { message.topic } else { nil }
        }
        for run in Self.runs(of: topics) {
            counters.handle(MetricNames.recordsConsumed, [("topic", run.topic)]).increment(by: run.count)
        }
    }

    /// `topics` as runs of one topic, in order: `a a b a` is `a 2, b 1, a 1`.
    static func runs(of topics: some Sequence<String>) -> [(topic: String, count: Int64)] {
        var runs: [(topic: String, count: Int64)] = []
        for topic in topics {
            if runs.last?.topic == topic { runs[runs.count - 1].count += 1 } else { runs.append((topic, 1)) }
        }
        return runs
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
