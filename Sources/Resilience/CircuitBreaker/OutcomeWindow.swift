/// The sliding window behind the rate rules: a ring of the last N outcomes, or
/// one-second buckets over the last T seconds.
struct OutcomeWindow: Sendable {
    private struct Bucket: Sendable {
        var second: Int64 = .min
        var counts = WindowCounts()
    }

    private enum Storage: Sendable {
        case none
        case count(ring: [UInt8], next: Int, filled: Int, totals: WindowCounts)
        case time(buckets: [Bucket])
    }

    private static let failureBit: UInt8 = 1
    private static let slowBit: UInt8 = 2

    private var storage: Storage

    init(_ window: CircuitBreaker.SlidingWindow, enabled: Bool) {
        guard enabled else {
            storage = .none
            return
        }
        switch window {
        case .count(let size):
            storage = .count(ring: [UInt8](repeating: 0, count: size), next: 0, filled: 0, totals: WindowCounts())
        case .time(let duration):
            storage = .time(buckets: [Bucket](repeating: Bucket(), count: Int(duration.components.seconds)))
        }
    }

    /// Whether recording needs the current time.
    var needsTime: Bool {
        if case .time = storage { return true }
        return false
    }

    /// Adds one outcome observed at `now`.
    mutating func record(failure: Bool, slow: Bool, now: Duration) {
        switch storage {
        case .none:
            return
        case .count(var ring, var next, var filled, var totals):
            storage = .none  // keep `ring` uniquely referenced while mutating
            let old = ring[next]
            if filled == ring.count {
                totals.calls -= 1
                if old & Self.failureBit != 0 { totals.failures -= 1 }
                if old & Self.slowBit != 0 { totals.slowCalls -= 1 }
            } else {
                filled += 1
            }
            ring[next] = (failure ? Self.failureBit : 0) | (slow ? Self.slowBit : 0)
            totals.calls += 1
            if failure { totals.failures += 1 }
            if slow { totals.slowCalls += 1 }
            next = (next + 1) % ring.count
            storage = .count(ring: ring, next: next, filled: filled, totals: totals)
        case .time(var buckets):
            storage = .none
            let second = now.components.seconds
            let index = Int(second.remainderReportingOverflow(dividingBy: Int64(buckets.count)).partialValue.magnitude)
            if buckets[index].second != second {
                buckets[index] = Bucket(second: second)
            }
            buckets[index].counts.calls += 1
            if failure { buckets[index].counts.failures += 1 }
            if slow { buckets[index].counts.slowCalls += 1 }
            storage = .time(buckets: buckets)
        }
    }

    /// The counts of the calls inside the window at `now`.
    func counts(now: Duration) -> WindowCounts {
        switch storage {
        case .none:
            return WindowCounts()
        case .count(_, _, _, let totals):
            return totals
        case .time(let buckets):
            let second = now.components.seconds
            let oldest = second - Int64(buckets.count) + 1
            var totals = WindowCounts()
            for bucket in buckets where bucket.second >= oldest && bucket.second <= second {
                totals.calls += bucket.counts.calls
                totals.failures += bucket.counts.failures
                totals.slowCalls += bucket.counts.slowCalls
            }
            return totals
        }
    }

    /// Forgets every outcome.
    mutating func clear() {
        switch storage {
        case .none:
            return
        case .count(let ring, _, _, _):
            storage = .count(ring: [UInt8](repeating: 0, count: ring.count), next: 0, filled: 0, totals: WindowCounts())
        case .time(let buckets):
            storage = .time(buckets: [Bucket](repeating: Bucket(), count: buckets.count))
        }
    }
}
