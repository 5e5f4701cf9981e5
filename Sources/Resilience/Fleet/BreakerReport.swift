/// One worker's view of one of its breakers, as it tells its fleet (``BreakerFleet``).
///
/// A worker sends one on every transition of the breaker and as a heartbeat. The
/// transport (a compacted Kafka topic in Breakwater) keeps the latest per worker and
/// breaker; ``sequence`` orders one worker's reports.
public struct BreakerReport: Sendable, Hashable {
    /// Why the breaker is in its state, as far as the fleet cares.
    public enum Cause: String, Sendable, Hashable, CaseIterable {
        /// Its own calls: its rules opened it, or it is closed and nothing else happened.
        case own
        /// Open: the fleet opened it. Closed: the fleet closed it after a peer's
        /// successful probe.
        case fleet
        /// Closed because its own half-open probes succeeded.
        case probe
        /// Forced open or forced closed by an operator.
        case `operator`
    }

    /// The reporting worker.
    public var worker: String
    /// The breaker's name.
    public var breaker: String
    /// Its state when the report was made.
    public var state: CircuitBreakerState
    /// Why it is in that state.
    public var cause: Cause
    /// Failure rate in its window (0...1).
    public var failureRate: Double
    /// Slow-call rate in its window (0...1).
    public var slowCallRate: Double
    /// Calls in its window.
    public var callsInWindow: Int
    /// Failures in a row while closed (0 after a success).
    public var consecutiveFailures: Int
    /// How often it opened.
    public var openCount: Int
    /// The worker's wall clock when it made the report, in milliseconds since 1970. Shown
    /// to operators only: liveness is judged by when a report arrives, so workers'
    /// clocks may disagree.
    public var reportedAtMilliseconds: Int64
    /// Increases with every report the worker makes (across its breakers).
    public var sequence: UInt64

    /// A report with every field given.
    public init(
        worker: String, breaker: String, state: CircuitBreakerState, cause: Cause, failureRate: Double = 0,
        slowCallRate: Double = 0, callsInWindow: Int = 0, consecutiveFailures: Int = 0, openCount: Int = 0,
        reportedAtMilliseconds: Int64 = 0, sequence: UInt64
    ) {
        self.worker = worker
        self.breaker = breaker
        self.state = state
        self.cause = cause
        self.failureRate = failureRate
        self.slowCallRate = slowCallRate
        self.callsInWindow = callsInWindow
        self.consecutiveFailures = consecutiveFailures
        self.openCount = openCount
        self.reportedAtMilliseconds = reportedAtMilliseconds
        self.sequence = sequence
    }

    /// Whether this report counts towards the fleet's quorum: open by the worker's own
    /// rules (not by the fleet, not forced by an operator, not probing).
    var opensTheFleet: Bool { state == .open && cause == .own }

    /// Whether this report tells of a recovery: closed by a successful probe, or by the
    /// fleet relaying one.
    var isRecovery: Bool { state == .closed && (cause == .probe || cause == .fleet) }
}
