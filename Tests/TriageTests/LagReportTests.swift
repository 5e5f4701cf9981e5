import Kafka
import Testing
@testable import Triage

@Suite struct LagReportTests {
    private func lag(_ partition: Int32, position: Int64?, end: Int64?) -> KafkaPartitionLag {
        KafkaPartitionLag(topicPartition: KafkaTopicPartition(topic: "alerts", partition: partition), position: position, highWatermark: end)
    }

    private func flat(_ values: [(KafkaTopicPartition, Int64)]) -> [String] {
        values.map { "\($0.0.partition)=\($0.1)" }
    }

    @Test func aPartitionGivenUpIsReportedAtZeroOnce() {
        var report = LagReport()
        #expect(flat(report.values(for: [lag(0, position: 10, end: 50), lag(1, position: 5, end: 5)])) == ["0=40", "1=0"])
        // Partition 0 went to another worker in a rebalance: its series drops to 0.
        #expect(flat(report.values(for: [lag(1, position: 5, end: 9)])) == ["1=4", "0=0"])
        #expect(flat(report.values(for: [lag(1, position: 9, end: 9)])) == ["1=0"])
        // Nothing assigned any more (e.g. mid-rebalance).
        #expect(flat(report.values(for: [])) == ["1=0"])
        #expect(flat(report.values(for: [])) == [])
    }

    @Test func anUnknownLagKeepsItsLastValueWhileTheWorkerStillOwnsThePartition() {
        var report = LagReport()
        #expect(flat(report.values(for: [lag(2, position: 1, end: 8)])) == ["2=7"])
        // Position unknown for a moment (just after a seek): nothing recorded, not zeroed.
        #expect(flat(report.values(for: [lag(2, position: nil, end: 8)])) == [])
        #expect(flat(report.values(for: [])) == ["2=0"])
    }
}
