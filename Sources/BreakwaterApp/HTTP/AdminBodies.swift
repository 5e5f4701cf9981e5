import Foundation
import Resilience
import Triage

/// The JSON form of a ``Resilience/CircuitBreakerSnapshot`` on `GET /admin/breakers`.
/// Durations are in seconds; `…Ago` values are ages measured when the snapshot was taken.
public struct BreakerSnapshotBody: Codable, Sendable, Hashable {
    /// Counts in the sliding window.
    public struct Window: Codable, Sendable, Hashable {
        /// Calls in the window.
        public var calls: Int
        /// Failed calls in the window.
        public var failures: Int
        /// Slow calls in the window.
        public var slowCalls: Int
    }

    /// Lifetime counts.
    public struct Totals: Codable, Sendable, Hashable {
        /// Successful calls.
        public var successes: Int
        /// Failed calls.
        public var failures: Int
        /// Calls that timed out.
        public var timeouts: Int
        /// Errors the breaker was told to ignore.
        public var ignoredErrors: Int
        /// Calls rejected without running.
        public var rejections: Int
        /// Slow calls.
        public var slowCalls: Int
    }

    /// The breaker's name.
    public var name: String
    /// `closed`, `half_open`, `open`, `forced_open` or `disabled`.
    public var state: String
    /// `healthy`, `degraded` or `unhealthy`.
    public var health: String
    /// Seconds in the current state.
    public var secondsInState: Double
    /// Sliding-window counts.
    public var window: Window
    /// Failure rate in the window (0...1).
    public var failureRate: Double
    /// Slow-call rate in the window (0...1).
    public var slowCallRate: Double
    /// Consecutive failures while closed.
    public var consecutiveFailures: Int
    /// Times opened by its rules.
    public var openCount: Int
    /// Seconds since it last opened by its rules, if ever.
    public var lastOpenedSecondsAgo: Double?
    /// While open: seconds until probes are admitted.
    public var retryAfterSeconds: Double?
    /// While forced open: the operator's reason.
    public var forcedReason: String?
    /// While open: whether the fleet opened it rather than its own rules.
    public var openedByFleet: Bool
    /// Probes admitted in the current half-open episode.
    public var halfOpenProbesAdmitted: Int
    /// Successful probes in the current half-open episode.
    public var halfOpenSuccesses: Int
    /// Lifetime counts.
    public var totals: Totals

    /// The JSON form of `snapshot`.
    public init(_ snapshot: CircuitBreakerSnapshot) {
        name = snapshot.name
        state = snapshot.state.description
        health = snapshot.health.rawValue
        secondsInState = snapshot.timeInState.inSeconds
        window = Window(calls: snapshot.window.calls, failures: snapshot.window.failures, slowCalls: snapshot.window.slowCalls)
        failureRate = snapshot.failureRate
        slowCallRate = snapshot.slowCallRate
        consecutiveFailures = snapshot.consecutiveFailures
        openCount = snapshot.openCount
        lastOpenedSecondsAgo = snapshot.lastOpenedAge?.inSeconds
        retryAfterSeconds = snapshot.retryAfter?.inSeconds
        forcedReason = snapshot.forcedReason
        openedByFleet = snapshot.openedByPeers
        halfOpenProbesAdmitted = snapshot.halfOpenProbesAdmitted
        halfOpenSuccesses = snapshot.halfOpenSuccesses
        let totals = snapshot.totals
        self.totals = Totals(
            successes: totals.successes, failures: totals.failures, timeouts: totals.timeouts,
            ignoredErrors: totals.ignoredErrors, rejections: totals.rejections, slowCalls: totals.slowCalls
        )
    }
}

/// `GET /admin/breakers`: `{"breakers": [...], "fleet": {...}}`, breakers sorted by name;
/// `fleet` is absent when `fleet.enabled` is off.
public struct BreakerListBody: Codable, Sendable, Hashable {
    /// Every breaker's snapshot.
    public var breakers: [BreakerSnapshotBody]
    /// The breaker fleet as this worker sees it.
    public var fleet: FleetBody?
}

/// The fleet part of `GET /admin/breakers`: who reports what, since when.
public struct FleetBody: Codable, Sendable, Hashable {
    /// One other worker's latest report of a breaker.
    public struct Peer: Codable, Sendable, Hashable {
        /// The worker.
        public var workerId: String
        /// Its breaker's state (`closed`, `half_open`, `open`, `forced_open`, `disabled`).
        public var state: String
        /// Why (`own`, `fleet`, `probe`, `operator`).
        public var cause: String
        /// Whether it counts: a report arrived within `fleet.liveness`.
        public var live: Bool
        /// Seconds since its last report arrived; absent if only reports from before this
        /// worker started were read.
        public var lastHeardSecondsAgo: Double?
        /// Seconds since this worker saw it enter its state.
        public var secondsInState: Double
        /// Its failure rate, slow-call rate and calls in its window.
        public var failureRate: Double
        /// Its slow-call rate.
        public var slowCallRate: Double
        /// Calls in its window.
        public var callsInWindow: Int
        /// Its failures in a row while closed.
        public var consecutiveFailures: Int
        /// How often it opened.
        public var openCount: Int
        /// When it made the report, by its own clock (RFC 3339).
        public var reportedAt: String
    }

    /// The fleet's view of one breaker.
    public struct Breaker: Codable, Sendable, Hashable {
        /// The breaker's name.
        public var name: String
        /// Live workers reporting it (this one included).
        public var liveWorkers: Int
        /// Live workers reporting it open by their own rules (this one included).
        public var reportingOpen: Int
        /// Live workers failing: open by their own rules, or with recent failures in a row.
        public var failing: Int
        /// Their failures in a row added up, each worker's capped (see `fleet.poolFailures`).
        public var pooledFailures: Int
        /// How many must for the fleet to open it.
        public var quorum: Int
        /// Whether the fleet holds it open.
        public var fleetOpen: Bool
        /// Whether this worker's breaker is open because the fleet opened it.
        public var openedByFleet: Bool
        /// The workers that probe it while the fleet holds it open.
        public var probers: [String]
        /// The other workers' reports, sorted by worker id.
        public var peers: [Peer]
    }

    /// This worker's id.
    public var workerId: String
    /// `shared`, or `local_only` while this worker has not read its own reports back.
    public var mode: String
    /// Why local-only.
    public var localOnlyReason: String?
    /// Live workers (this one included).
    public var liveWorkers: Int
    /// Every shared breaker.
    public var breakers: [Breaker]

    /// The JSON form of `snapshot`.
    public init(_ snapshot: BreakerFleet.Snapshot) {
        workerId = snapshot.workerID
        mode = snapshot.localOnly ? "local_only" : "shared"
        localOnlyReason = snapshot.localOnlyReason
        liveWorkers = snapshot.liveWorkers
        breakers = snapshot.breakers.map { view in
            Breaker(
                name: view.name, liveWorkers: view.liveWorkers, reportingOpen: view.reportingOpen, failing: view.failing,
                pooledFailures: view.pooledFailures, quorum: view.quorum,
                fleetOpen: view.fleetOpen, openedByFleet: view.openedByFleet, probers: view.probers,
                peers: view.peers.map { peer in
                    let report = peer.report
                    return Peer(
                        workerId: report.worker, state: report.state.description, cause: report.cause.rawValue, live: peer.live,
                        lastHeardSecondsAgo: peer.lastHeardAgo?.inSeconds, secondsInState: peer.inStateFor.inSeconds,
                        failureRate: report.failureRate, slowCallRate: report.slowCallRate, callsInWindow: report.callsInWindow,
                        consecutiveFailures: report.consecutiveFailures, openCount: report.openCount,
                        reportedAt: Timestamp.format(Date(timeIntervalSince1970: Double(report.reportedAtMilliseconds) / 1000)))
                })
        }
    }
}

/// `POST /admin/breakers/{name}/force-open` body (optional).
public struct ForceOpenRequest: Codable, Sendable, Hashable {
    /// Why the operator forced the breaker open; shown in snapshots and logs.
    public var reason: String?
    /// A request with `reason`.
    public init(reason: String? = nil) { self.reason = reason }
}

/// `PUT /admin/features/{name}` and `PUT /admin/read-only` body.
public struct EnabledRequest: Codable, Sendable, Hashable {
    /// The new value.
    public var enabled: Bool
    /// A request setting `enabled`.
    public init(enabled: Bool) { self.enabled = enabled }
}

/// `GET`/`PUT /admin/features/{name}` answer.
public struct FeatureBody: Codable, Sendable, Hashable {
    /// The feature's name.
    public var name: String
    /// Whether the feature is on now (flag on and its breaker not open).
    public var enabled: Bool
    /// Why it is off (`flag_off`, `circuit_open`, `fleet_open`), absent when on.
    public var offReason: String?
}

/// `GET`/`PUT /admin/read-only` answer.
public struct ReadOnlyBody: Codable, Sendable, Hashable {
    /// Whether writes are refused now.
    public var readOnly: Bool
    /// Why (`switched_on`, `circuit_open`), absent when writes are allowed.
    public var reason: String?
}

/// `GET /health/ready` answer.
public struct ReadinessBody: Codable, Sendable, Hashable {
    /// `ready` or `not_ready`.
    public var status: String
    /// Each check by name (`consumerJoinedGroup`, `producerConnected`, `notShuttingDown`).
    public var checks: [String: Bool]
    /// The names of the failing checks, in a fixed order (empty when ready).
    public var notReady: [String]
    /// The breaker fleet, when `fleet.enabled`: `shared`, or `local_only: <why>` while the
    /// breakers decide alone. It does not make the worker unready: the fleet only adds
    /// protection.
    public var fleet: String?

    /// The JSON form of `status` (and of `fleet`'s mode).
    public init(_ status: Readiness.Status, fleet: BreakerFleet.Snapshot? = nil) {
        self.status = status.isReady ? "ready" : "not_ready"
        checks = Dictionary(uniqueKeysWithValues: status.checks.map { ($0.check.rawValue, $0.passing) })
        notReady = status.failing.map(\.rawValue)
        self.fleet = fleet.map { $0.localOnly ? "local_only: \($0.localOnlyReason ?? "")" : "shared" }
    }
}

extension Duration {
    /// This duration in (fractional) seconds.
    var inSeconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}

/// `GET /admin/heal` answer.
public struct HealBody: Codable, Sendable, Hashable {
    /// Whether this worker runs a healer (`heal.enabled`).
    public var enabled: Bool
    /// The steps healed (`enrichment`, `classification`).
    public var steps: [String]
    /// The breakers of the healed steps that are not closed, sorted: the healer is paused
    /// on them (its heals of those steps wait, or one is the probe).
    public var pausedOn: [String]
    /// Repairs held before admission on each of those breakers.
    public var waitingOnBreakers: [String: Int]
    /// Repairs and heals waiting for live traffic to drop below `heal.yieldAboveInFlight`.
    public var yieldingToLive: Int
    /// Heals waiting for the rate limit.
    public var rateLimited: Int
    /// Repair records the healer group has not healed or skipped yet, on every partition
    /// of the repair log, as last read (every 2 s, `breakwater_heal_pending`); absent
    /// before the first reading.
    public var pending: Int?
    /// Repairs in flight now (at most `heal.batchSize`).
    public var inFlight: Int
    /// Steps healed since the start, by step.
    public var healed: [String: Int]
    /// Repairs skipped since the start, by reason.
    public var skipped: [String: Int]
    /// Heal calls that failed since the start (the step stayed pending), by step.
    public var failedAttempts: [String: Int]
    /// Seconds from the last healed incident's publication to its heal; absent before the first.
    public var lastLagSeconds: Double?

    /// The body for `healer` (`nil`: healing is off), with its `pending` count.
    public init(_ healer: Healer?, pending: Int?) {
        enabled = healer != nil
        steps = healer.map { $0.steps.sorted().map(\.rawValue) } ?? []
        let status = healer?.gate.status ?? HealGate.Status()
        waitingOnBreakers = status.waitingOnBreakers
        pausedOn = healer?.pausedOn ?? []
        yieldingToLive = status.yieldingToLive
        rateLimited = status.rateLimited
        self.pending = pending
        inFlight = healer?.worker.inFlight ?? 0
        let counts = healer?.metrics.counts ?? HealMetrics.Counts()
        healed = Dictionary(uniqueKeysWithValues: counts.healed.map { ($0.key.rawValue, $0.value) })
        skipped = Dictionary(uniqueKeysWithValues: counts.skipped.map { ($0.key.rawValue, $0.value) })
        failedAttempts = Dictionary(uniqueKeysWithValues: counts.stillDegraded.map { ($0.key.rawValue, $0.value) })
        lastLagSeconds = counts.lastLagSeconds
    }
}
