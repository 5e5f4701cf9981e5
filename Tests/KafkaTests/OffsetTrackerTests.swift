@testable import Kafka
import Testing

@Suite("Done-prefix offset bookkeeping")
struct OffsetTrackerTests {
    @Test func nothingDeliveredMeansNothingToCommit() {
        #expect(PartitionProgress(epoch: 1).pendingCommit == nil)
    }

    @Test func commitsOnlyTheContiguousDonePrefix() {
        var progress = PartitionProgress(epoch: 1)
        for offset in Int64(10)...14 { progress.delivered(offset) }
        #expect(progress.pendingCommit == nil)
        progress.markDone(12)
        progress.markDone(14)
        #expect(progress.pendingCommit == nil)
        progress.markDone(10)
        #expect(progress.pendingCommit == 11)
        progress.markDone(11)
        #expect(progress.pendingCommit == 13)
        #expect(progress.inFlightCount == 1)
        progress.markDone(13)
        #expect(progress.pendingCommit == 15)
        progress.didCommit(15)
        #expect(progress.pendingCommit == nil)
    }

    @Test func gapsInOffsetsDoNotBlockCommits() {
        var progress = PartitionProgress(epoch: 1)
        // Transaction markers and compaction leave holes.
        for offset: Int64 in [3, 7, 8] { progress.delivered(offset) }
        progress.markDone(3)
        #expect(progress.pendingCommit == 7)
        progress.markDone(8)
        progress.markDone(7)
        #expect(progress.pendingCommit == 9)
    }

    @Test func unknownAndRepeatedMarksAreIgnored() {
        var progress = PartitionProgress(epoch: 1)
        progress.delivered(0)
        progress.delivered(1)
        let unknown = progress.markDone(5)
        let first = progress.markDone(1)
        let repeated = progress.markDone(1)
        #expect(!unknown)
        #expect(first)
        #expect(!repeated)
        #expect(progress.pendingCommit == nil)
    }

    @Test func redeliveryAfterASeekRestartsTheBookkeeping() {
        var progress = PartitionProgress(epoch: 1)
        for offset in Int64(0)...3 { progress.delivered(offset) }
        progress.markDone(0)
        #expect(progress.pendingCommit == 1)
        // Offset 1 comes again: its earlier delivery no longer counts.
        progress.delivered(1)
        #expect(progress.pendingCommit == nil)
        let stale = progress.markDone(3)
        #expect(!stale)
        progress.markDone(1)
        #expect(progress.pendingCommit == 2)
    }

    @Test func manyOffsetsCompactWithoutLosingTrack() {
        var progress = PartitionProgress(epoch: 1)
        for offset in Int64(0)..<10_000 { progress.delivered(offset) }
        for offset in Int64(0)..<9_000 { progress.markDone(offset) }
        #expect(progress.pendingCommit == 9_000)
        for offset in (Int64(9_000)..<10_000).reversed() { progress.markDone(offset) }
        #expect(progress.pendingCommit == 10_000)
    }

    @Test func marksFromAnEarlierAssignmentAreIgnored() {
        let core = ConsumerCore(logger: TestKafka.logger, commitsAutomatically: true)
        let partition = KafkaTopicPartition(topic: "t", partition: 0)
        core.state.withLock { state in
            var progress = PartitionProgress(epoch: 2)
            progress.delivered(0)
            state.progress[partition] = progress
        }
        core.markDone(KafkaMessageReference(topicPartition: partition, offset: 0, assignmentEpoch: 1))
        #expect(core.committableOffsets().isEmpty)
        core.markDone(KafkaMessageReference(topicPartition: partition, offset: 0, assignmentEpoch: 2))
        #expect(core.committableOffsets() == [partition: 1])
        // A revoked partition: marks are harmless no-ops.
        core.markDone(KafkaMessageReference(topicPartition: KafkaTopicPartition(topic: "t", partition: 9), offset: 0, assignmentEpoch: 2))
        #expect(core.committableOffsets() == [partition: 1])
    }
}

@Suite("Topic names of polled messages")
struct PolledTopicNameTests {
    /// The name a message's C topic name becomes, through the one-name cache.
    private func name(_ cName: String, in state: inout ConsumerCore.State) -> String {
        cName.withCString { state.topic(named: $0) }
    }

    @Test func everyNameComesBackAsItselfWhateverCameBefore() {
        var state = ConsumerCore.State()
        let long = "production.alerts.alertmanager.v1"
        let sequence = [long, long, "alerts", long, "production.alerts.alertmanager.v1.retry", long, "production.alerts", "", long, "a"]
        for cName in sequence {
            #expect(name(cName, in: &state) == cName)
        }
    }
}
