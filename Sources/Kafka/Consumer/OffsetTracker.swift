/// At-least-once bookkeeping for one assigned partition: which delivered offsets are
/// still being worked on. The committable offset is the lowest unfinished offset, or
/// one past the highest delivered offset when everything delivered is done, so a
/// commit never passes unfinished work, whatever order work finishes in.
struct PartitionProgress: Sendable {
    /// The assignment this bookkeeping belongs to.
    let epoch: UInt64
    /// Delivered offsets in delivery (ascending) order from `head` on, with their state.
    private var offsets: [Int64] = []
    private var done: [Bool] = []
    private var head = 0
    private var highestDelivered: Int64?
    /// The last offset the group accepted for this partition.
    private(set) var committed: Int64?
    /// Paused by the owner (``KafkaConsumer/pause(_:)``, backpressure).
    var heldBack = false
    /// Paused by this layer at the partition's end (``KafkaConsumerConfiguration/idleFetchBackoff``):
    /// the offset to fetch from when the rest ends; `nil` when not resting.
    var restingAt: Int64?
    /// Whether this layer paused the partition at its end.
    var resting: Bool { restingAt != nil }

    init(epoch: UInt64) {
        self.epoch = epoch
    }

    /// Records a message handed to the caller. Offsets arrive ascending; a lower one (a
    /// re-delivery after a seek) restarts the bookkeeping from there.
    mutating func delivered(_ offset: Int64) {
        if let highestDelivered, offset <= highestDelivered {
            offsets.removeAll()
            done.removeAll()
            head = 0
        }
        offsets.append(offset)
        done.append(false)
        highestDelivered = offset
    }

    /// Marks a delivered offset done; unknown offsets are ignored.
    /// - Returns: whether the offset was in flight.
    @discardableResult
    mutating func markDone(_ offset: Int64) -> Bool {
        var low = head
        var high = offsets.count
        while low < high {
            let middle = (low + high) / 2
            if offsets[middle] < offset { low = middle + 1 } else { high = middle }
        }
        guard low < offsets.count, offsets[low] == offset, !done[low] else { return false }
        done[low] = true
        while head < offsets.count, done[head] { head += 1 }
        if head > 4_096, head * 2 > offsets.count {
            offsets.removeFirst(head)
            done.removeFirst(head)
            head = 0
        }
        return true
    }

    /// Number of delivered messages not yet done.
    var inFlightCount: Int { done[head...].lazy.filter { !$0 }.count }

    /// The offset to commit (next offset to read) if it is ahead of the last commit.
    var pendingCommit: Int64? {
        guard let highestDelivered else { return nil }
        let next = head < offsets.count ? offsets[head] : highestDelivered + 1
        if let committed, committed >= next { return nil }
        if head == 0, !offsets.isEmpty, next == offsets[0], committed == nil { return nil }
        return next
    }

    /// Records that the group accepted `offset`.
    mutating func didCommit(_ offset: Int64) {
        committed = max(committed ?? offset, offset)
    }
}
