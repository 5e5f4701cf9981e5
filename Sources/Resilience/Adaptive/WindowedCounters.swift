/// A few counters summed over a sliding time window, kept in equal buckets with running
/// totals, so reading the sums costs nothing and each add or read moves the window by at
/// most `bucketCount` buckets.
///
/// Window edge, exactly: an event added at `t` counts while `now` falls in `t`'s bucket or
/// one of the `bucketCount - 1` buckets after it; so for between `window - bucket` and
/// `window` after it happened. Buckets are aligned to the clock's zero (the moment the
/// owner was created), so the edge does not depend on when the first event came.
struct WindowedCounters: Sendable {
    private let bucketNanoseconds: Int64
    private let fieldCount: Int
    /// `bucketCount × fieldCount` counts; bucket `b` lives in slot `b % bucketCount`.
    private var counts: [Int64]
    private var totals: [Int64]
    /// The newest bucket the counts have been moved to.
    private var newest: Int64 = 0

    /// How many buckets make up the window.
    let bucketCount: Int

    /// - Precondition: `bucket` positive, `window` a positive whole number of buckets
    ///   (the owners' configurations validate this first).
    init(window: Duration, bucket: Duration, fields: Int) {
        bucketNanoseconds = max(1, bucket.nanosecondsClamped)
        bucketCount = max(1, Int(window.nanosecondsClamped / bucketNanoseconds))
        fieldCount = fields
        counts = [Int64](repeating: 0, count: bucketCount * fields)
        totals = [Int64](repeating: 0, count: fields)
    }

    /// Adds `amount` to `field` for an event at `now`.
    mutating func add(_ field: Int, _ amount: Int64 = 1, at now: Duration) {
        let slot = advance(to: now)
        counts[slot * fieldCount + field] += amount
        totals[field] += amount
    }

    /// The sum of `field` over the window at `now`.
    mutating func sum(_ field: Int, at now: Duration) -> Int64 {
        advance(to: now)
        return totals[field]
    }

    /// Moves the window so that `now`'s bucket is the newest, dropping the buckets that
    /// left it; returns the slot of `now`'s bucket. A time before the newest bucket (a
    /// clock that went back) is counted in the newest bucket.
    @discardableResult
    private mutating func advance(to now: Duration) -> Int {
        let bucket = max(0, now.nanosecondsClamped / bucketNanoseconds)
        if bucket > newest {
            let leaving = min(bucket - newest, Int64(bucketCount))
            var dropped = newest + 1
            while dropped <= newest + leaving {
                let slot = Int(dropped % Int64(bucketCount))
                for field in 0..<fieldCount {
                    totals[field] -= counts[slot * fieldCount + field]
                    counts[slot * fieldCount + field] = 0
                }
                dropped += 1
            }
            newest = bucket
        }
        return Int(newest % Int64(bucketCount))
    }
}

extension CircuitBreaker.ConfigurationError {
    /// Checks that `window` is a positive whole number of positive `bucket`s.
    static func checkWindow(
        _ window: Duration, field: String, bucket: Duration, bucketField: String
    ) throws(CircuitBreaker.ConfigurationError) {
        guard bucket > .zero else {
            throw CircuitBreaker.ConfigurationError(field: bucketField, reason: "must be positive, got \(bucket)")
        }
        guard window >= bucket else {
            throw CircuitBreaker.ConfigurationError(field: field, reason: "must be at least \(bucketField) (\(bucket)), got \(window)")
        }
        guard window.nanosecondsClamped % bucket.nanosecondsClamped == 0 else {
            throw CircuitBreaker.ConfigurationError(field: field, reason: "must be a whole number of \(bucketField) (\(bucket)), got \(window)")
        }
        guard window.nanosecondsClamped / bucket.nanosecondsClamped <= 10_000 else {
            throw CircuitBreaker.ConfigurationError(field: field, reason: "is more than 10000 \(bucketField)s (\(bucket)): use larger buckets")
        }
    }
}

/// What an adaptive part (``AdaptiveThrottle``, ``ConcurrencyLimit``, ``RetryBudget``)
/// refused since it was created, and what it let through in shadow mode that it would
/// have refused: one rule for all of them.
public struct AdaptiveRejections: Sendable, Equatable {
    /// Calls refused.
    public private(set) var rejections: Int64 = 0
    /// Calls shadow mode let through that the part would have refused.
    public private(set) var shadowRejections: Int64 = 0

    /// Counts a call the part would refuse.
    /// - Returns: whether it is refused: `false` in shadow mode, which lets it through.
    mutating func refuse(shadow: Bool) -> Bool {
        if shadow {
            shadowRejections += 1
            return false
        }
        rejections += 1
        return true
    }
}
