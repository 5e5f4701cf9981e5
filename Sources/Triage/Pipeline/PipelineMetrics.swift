import Kafka
import Metrics

/// The metrics both workers report (names in ``MetricNames``), handles made once per
/// label set (``MetricHandleCache``).
struct PipelineMetrics: Sendable {
    private let inFlightGauge: Meter
    private let duration: Timer
    private let counters: MetricHandleCache<Counter>
    private let gauges: MetricHandleCache<Gauge>

    /// Metrics made by `factory` (the bootstrapped metrics system's unless a test passes one).
    init(factory: any MetricsFactory = MetricsSystem.factory) {
        inFlightGauge = Meter(label: MetricNames.inFlight, factory: factory)
        duration = Timer(label: MetricNames.processingDuration, factory: factory)
        counters = MetricHandleCache { Counter(label: $0, dimensions: $1, factory: factory) }
        gauges = MetricHandleCache { Gauge(label: $0, dimensions: $1, factory: factory) }
    }

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

    /// Records what a batch of published inputs produced (see ``ProcessedTally``).
    func processed(_ tally: ProcessedTally) {
        for (labels, count) in tally.incidents {
            counters.handle(MetricNames.incidents, [
                ("classifier", labels.classifier.rawValue), ("severity", labels.severity.rawValue),
            ]).increment(by: count)
        }
        for (labels, count) in tally.fallbacks {
            counters.handle(MetricNames.fallbacks, [
                ("breaker", labels.breaker), ("strategy", labels.strategy), ("reason", labels.reason.rawValue),
            ]).increment(by: count)
        }
        for (reason, count) in tally.deadLetters {
            counters.handle(MetricNames.dlqRecords, [("reason", reason)]).increment(by: count)
        }
    }

    /// Records how long one input took, from taking it to its outputs' acknowledgement.
    func processingTook(_ elapsed: Duration) {
        duration.record(elapsed)
    }

    func consumerErrors(_ count: Int) {
        counters.handle(MetricNames.consumerErrors, []).increment(by: Int64(count))
    }

    func lag(_ partition: KafkaTopicPartition, _ value: Int64) {
        gauges.handle(MetricNames.consumerLag, [("topic", partition.topic), ("partition", "\(partition.partition)")]).record(value)
    }
}

/// The counts of one publish batch's outputs by metric labels, so the batch looks up each
/// label set's counter once instead of once per record: the lookups (hashing the label
/// strings under the cache's lock) were ~3% of the rules path's CPU. A batch holds a few
/// distinct label sets, so they are kept in small arrays searched in order.
struct ProcessedTally {
    struct IncidentLabels: Equatable, Sendable {
        let classifier: ClassifierKind
        let severity: Severity
    }

    struct FallbackLabels: Equatable, Sendable {
        let breaker: String
        let strategy: String
        let reason: FallbackEventReason
    }

    private(set) var incidents: [(IncidentLabels, Int64)] = []
    private(set) var fallbacks: [(FallbackLabels, Int64)] = []
    private(set) var deadLetters: [(String, Int64)] = []

    /// Counts the incidents, fallback events and dead letter of one input.
    mutating func add(_ labels: OutcomeLabels) {
        for incident in labels.incidents { Self.count(incident, in: &incidents) }
        for event in labels.fallbacks { Self.count(event, in: &fallbacks) }
        if let reason = labels.deadLetterReason { addDeadLetter(reason: reason) }
    }

    /// Counts one input dead-lettered by its publishing.
    mutating func addDeadLetter(reason: String) {
        Self.count(reason, in: &deadLetters)
    }

    private static func count<Labels: Equatable>(_ labels: Labels, in counts: inout [(Labels, Int64)]) {
        if let index = counts.firstIndex(where: { $0.0 == labels }) {
            counts[index].1 += 1
        } else {
            counts.append((labels, 1))
        }
    }
}

/// The metric labels of one input's outcome: all its metrics need once it is published.
struct OutcomeLabels: Sendable {
    let incidents: FirstInline<ProcessedTally.IncidentLabels>
    let fallbacks: FirstInline<ProcessedTally.FallbackLabels>
    let deadLetterReason: String?

    init(_ outcome: ProcessingOutcome) {
        incidents = FirstInline(outcome.incidents.lazy.map {
            ProcessedTally.IncidentLabels(classifier: $0.classification.classifier, severity: $0.classification.severity)
        })
        fallbacks = FirstInline(outcome.fallbackEvents.lazy.map {
            ProcessedTally.FallbackLabels(breaker: $0.breaker, strategy: $0.strategy, reason: $0.reason)
        })
        deadLetterReason = outcome.deadLetter?.reason
    }
}

/// A list that keeps its first element inline and only the rest in an array: nearly every
/// record has one incident and at most one fallback event, and an array for each was two
/// allocations per record.
struct FirstInline<Element: Sendable>: Sendable, Sequence {
    private let first: Element?
    private let rest: [Element]

    init(_ elements: some Sequence<Element>) {
        var iterator = elements.makeIterator()
        first = iterator.next()
        var rest: [Element] = []
        while let element = iterator.next() { rest.append(element) }
        self.rest = rest
    }

    func makeIterator() -> Iterator { Iterator(first: first, rest: rest.makeIterator()) }

    struct Iterator: IteratorProtocol {
        var first: Element?
        var rest: IndexingIterator<[Element]>

        mutating func next() -> Element? {
            if let element = first {
                first = nil
                return element
            }
            return rest.next()
        }
    }
}
