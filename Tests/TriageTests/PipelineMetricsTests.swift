import Foundation
import MetricsTestKit
import Testing
@testable import Triage

@Suite struct PipelineMetricsTests {
    private static func outcome(
        incidents: [(ClassifierKind, Severity)] = [], fallbacks: [(String, String, FallbackEventReason)] = [], deadLetter: String? = nil
    ) -> ProcessingOutcome {
        let records = incidents.map { classifier, severity in
            var incident = ExampleRecords.incident
            incident.classification = Classification(severity: severity, category: .errors, confidence: 0.9, classifier: classifier)
            return incident
        }
        let events = fallbacks.map { breaker, strategy, reason in
            var event = ExampleRecords.fallback
            event.breaker = breaker
            event.strategy = strategy
            event.reason = reason
            return event
        }
        let letter = deadLetter.map {
            DeadLetter(reason: $0, detail: "", sourceTopic: "alerts", sourcePartition: 0, sourceOffset: 0, time: Date(), workerID: "w")
        }
        return ProcessingOutcome(incidents: records, fallbackEvents: events, deadLetter: letter, outputs: [])
    }

    /// A batch's counts reach each label set's counter once, with the batch's total.
    @Test func aBatchCountsEachLabelSetOnceWithItsTotal() throws {
        var tally = ProcessedTally()
        tally.add(OutcomeLabels(Self.outcome(incidents: [(.rules, .high)], fallbacks: [("catalog", "static_catalog", .circuitOpen)])))
        tally.add(OutcomeLabels(Self.outcome(incidents: [(.rules, .high), (.ml, .low)], fallbacks: [("catalog", "static_catalog", .circuitOpen)])))
        tally.add(OutcomeLabels(Self.outcome(incidents: [(.rules, .critical)], fallbacks: [("ml", "rules", .timeout), ("catalog", "static_catalog", .error)])))
        tally.add(OutcomeLabels(Self.outcome(deadLetter: "invalid_json")))
        tally.addDeadLetter(reason: DeadLetter.publishFailedReason)
        tally.addDeadLetter(reason: DeadLetter.publishFailedReason)

        let metrics = TestMetrics()
        PipelineMetrics(factory: metrics).processed(tally)
        func counter(_ label: String, _ dimensions: [(String, String)]) throws -> [Int64] {
            try metrics.expectCounter(label, dimensions).values
        }
        #expect(try counter(MetricNames.incidents, [("classifier", "rules"), ("severity", "high")]) == [2])
        #expect(try counter(MetricNames.incidents, [("classifier", "ml"), ("severity", "low")]) == [1])
        #expect(try counter(MetricNames.incidents, [("classifier", "rules"), ("severity", "critical")]) == [1])
        #expect(try counter(MetricNames.fallbacks, [("breaker", "catalog"), ("strategy", "static_catalog"), ("reason", "circuit_open")]) == [2])
        #expect(try counter(MetricNames.fallbacks, [("breaker", "catalog"), ("strategy", "static_catalog"), ("reason", "error")]) == [1])
        #expect(try counter(MetricNames.fallbacks, [("breaker", "ml"), ("strategy", "rules"), ("reason", "timeout")]) == [1])
        #expect(try counter(MetricNames.dlqRecords, [("reason", "invalid_json")]) == [1])
        #expect(try counter(MetricNames.dlqRecords, [("reason", DeadLetter.publishFailedReason)]) == [2])
        #expect(metrics.counters.count == 8)
    }

    @Test func anEmptyBatchRecordsNothing() {
        let metrics = TestMetrics()
        PipelineMetrics(factory: metrics).processed(ProcessedTally())
        #expect(metrics.counters.isEmpty)
    }

    @Test(arguments: [0, 1, 2, 5])
    func firstInlineKeepsEveryElementInOrder(count: Int) {
        let elements = (0..<count).map { "element-\($0)" }
        #expect(Array(FirstInline(elements)) == elements)
        #expect(Array(FirstInline(elements.lazy.map { $0.count })) == elements.map(\.count))
    }
}
