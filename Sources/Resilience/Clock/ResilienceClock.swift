#if canImport(Glibc)
import Glibc
#endif

/// A `Clock` erased to offsets from the moment it was wrapped.
///
/// Every time-dependent type in this module is initialised generically over any
/// `Clock` whose `Duration` is `Swift.Duration` and stores it through this box, so the
/// public types (``CircuitBreaker`` above all) stay non-generic and can be passed around
/// freely. Times are `Duration` offsets from the box's origin ("clock offsets").
package struct ResilienceClock: Sendable {
    private let box: any ClockBox
    /// Whether ``coarseNanoseconds()`` tracks the wrapped clock's rate: true for
    /// `ContinuousClock` on Linux, where `CLOCK_MONOTONIC_COARSE` is a cheaper read.
    let hasCoarseTime: Bool

    package init<C: Clock>(_ clock: C) where C.Duration == Duration {
        box = ClockStorage(clock)
        #if os(Linux)
        hasCoarseTime = C.self == ContinuousClock.self
        #else
        hasCoarseTime = false
        #endif
    }

    /// A cheap monotonic reading in nanoseconds that lags real time by at most one
    /// kernel tick (a few ms). Its zero is arbitrary: only compare it with itself.
    /// Meaningful only when ``hasCoarseTime``; 0 otherwise.
    @inline(__always)
    func coarseNanoseconds() -> Int64 {
        #if os(Linux)
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC_COARSE, &spec)
        return Int64(spec.tv_sec) &* 1_000_000_000 &+ Int64(spec.tv_nsec)
        #else
        return 0
        #endif
    }

    /// The time elapsed on the wrapped clock since this box was created.
    @inline(__always)
    package func now() -> Duration { box.now() }

    /// Suspends until the wrapped clock reaches `deadline` (an offset from the origin).
    /// - Throws: `CancellationError` when the task is cancelled first.
    package func sleep(until deadline: Duration) async throws {
        try await box.sleep(until: deadline)
    }

    /// Suspends for `duration` on the wrapped clock.
    /// - Throws: `CancellationError` when the task is cancelled first.
    package func sleep(for duration: Duration) async throws {
        try await box.sleep(until: box.now() + duration)
    }
}

extension Duration {
    /// Whole nanoseconds, saturating at `Int64` bounds; for lock-free comparisons.
    @inline(__always)
    var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (sum, overflow2) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000)
        if overflow2 { return seconds < 0 ? .min : .max }
        return sum
    }

    /// This duration in seconds as a `Double`.
    var secondsDouble: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

private protocol ClockBox: Sendable {
    func now() -> Duration
    func sleep(until deadline: Duration) async throws
}

private final class ClockStorage<C: Clock>: ClockBox where C.Duration == Duration {
    let clock: C
    let origin: C.Instant

    init(_ clock: C) {
        self.clock = clock
        self.origin = clock.now
    }

    @inline(__always)
    func now() -> Duration { origin.duration(to: clock.now) }

    func sleep(until deadline: Duration) async throws {
        try await clock.sleep(until: origin.advanced(by: deadline), tolerance: nil)
    }
}
