import Metrics
import Resilience
import Triage

/// Groups alerts that wait for classification at the same moment into one call of an
/// upstream ``AlertClassifier`` (typically ``MLClient``: one infer request per batch).
///
/// A batch is sent when it reaches ``Configuration/maxBatchSize`` alerts, or
/// ``Configuration/maxWait`` after its first alert arrived, whichever comes first, as
/// long as fewer than ``Configuration/maxConcurrentRequests`` requests are in flight.
/// Batches run concurrently with each other up to that bound; a batch due while it is
/// reached keeps filling and goes, full or not, when a request ends. A busy model is
/// then sent full batches instead of a partial one every `maxWait` that would queue
/// behind the others (the model's cost per request is large: MLServer spends ~4 ms on a
/// request besides ~130 µs per alert), and a request's timeout runs from when it is
/// sent, not while it queues for a connection. The alerts waiting are bounded by the
/// callers (the worker's in-flight bound), not here. When the upstream call fails, every alert
/// of that batch gets the error, so each caller can fall back for its own alert; a
/// wrong number of results fails the batch with ``ClassifierError/resultCountMismatch(expected:got:)``.
/// Each sent batch's size is recorded in the `breakwater_ml_batch_size` recorder.
///
/// With a ``ConcurrencyLimit`` (`protection.ml.concurrencyLimit`), at most its limit of
/// upstream requests are in flight: a batch that is due while the limit is reached waits,
/// and keeps filling, until a request ends (its latency is the limit's sample, a timeout
/// its drop). The alerts waiting are bounded by one round of requests (the limit, at most
/// `maxConcurrentRequests`, × `maxBatchSize`, less the shares the limit reserves for
/// higher priorities), and are sent
/// highest priority first: an alert arriving at a full queue takes the place of the
/// oldest waiting alert of the lowest priority below its own, which is turned away, or is
/// turned away itself. Turned away means
/// `AdmissionRefused(.limited)`: its caller's breaker counts no failure and falls back
/// (the rules classify it, reason `limited`), counted in
/// `adaptive_rejections_total{breaker="ml",part="concurrency_limit",mode="enforced"}`.
/// The limit counts infer requests, so its Vegas queue estimate is in requests too.
///
/// With a ``CircuitBreaker`` (the worker passes the `ml` breaker), each upstream request
/// goes through it: the breaker counts requests, so a batch that timed out is one
/// failure, not one per alert it carried, and a breaker that opened while alerts waited
/// turns their batch away (each alert gets ``CircuitBreakerError/open(breaker:reason:)``).
/// Its callers then guard their alerts with an ``AdaptivePolicy`` whose breaker is
/// ``AdaptivePolicy/BreakerPlacement/belowTheCall``. Without one, the upstream's own
/// error reaches every alert of the batch.
///
/// With wait budgets (`protection.ml.waitBudget`), an alert of a priority that has one
/// waits at most that long for its answer, from the moment it joins the batcher, queued
/// or with its request in flight: then it is answered ``WaitBudgetExceeded`` (its caller
/// falls back, reason `timeout`), and its request, if sent, goes on for the others. The
/// breaker counts nothing for it: the request did not fail. The concurrency limit counts
/// a request answered after the budget of an alert it carried ran out as a drop, as it
/// does a timeout: it came too late for what it was sent for, and the limit backs off
/// to what the server answers within the budgets. A waiting alert whose budget ran out
/// is not sent. The queue's bound
/// still applies: it turns the lower ranks away at once, where a budget would keep them
/// waiting for its whole length (tried: every non-critical alert then took 600 ms in
/// `scripts/bench-adaptive`, and no more critical ones reached the model).
///
/// Time comes from the injected clock, so tests drive `maxWait` with a manual clock.
public actor MicroBatcher: AlertClassifier {
    /// Batching limits.
    public struct Configuration: Sendable {
        /// Most alerts in one upstream call. Default 32; values below 1 act as 1.
        public var maxBatchSize: Int
        /// Longest an alert waits for others before its batch is sent. Default 2 ms;
        /// `.zero` still gathers the alerts submitted before the batch's timer task runs.
        public var maxWait: Duration
        /// Most upstream requests in flight at once (with a ``ConcurrencyLimit``, the
        /// ceiling of its limit). Default 8; values below 1 act as 1.
        public var maxConcurrentRequests: Int

        /// Creates limits; the defaults are documented on the properties.
        public init(maxBatchSize: Int = 32, maxWait: Duration = .milliseconds(2), maxConcurrentRequests: Int = 8) {
            self.maxBatchSize = max(1, maxBatchSize)
            self.maxWait = maxWait
            self.maxConcurrentRequests = max(1, maxConcurrentRequests)
        }
    }

    private struct Waiter {
        let alert: Alert
        /// Decided by the batch, or by the caller's cancellation, whichever comes first.
        let answer: FirstOffer<Result<Classification, any Error>>
        /// When its priority's wait budget runs out, if it has one.
        let deadline: Duration?
    }

    /// The limits this batcher applies.
    public nonisolated let configuration: Configuration
    private let upstream: any AlertClassifier
    private let clock: ResilienceClock
    private let batchSize: Recorder
    private var pending = WaitingQueue<Waiter>()
    private let limit: ConcurrencyLimit?
    private let breaker: CircuitBreaker?
    /// Upstream requests sent and not yet ended.
    private var inFlight = 0
    /// A batch was due while `maxConcurrentRequests` or the limit was reached: send it
    /// when a request ends.
    private var blocked = false
    private let shed: Counter
    private let shadowOverLimit: Counter
    /// Identifies the batch now gathering, so a timer that fires after its batch was
    /// already sent for being full does not send the next batch early.
    private var generation = 0
    private var timerArmed = false
    /// By priority, the longest an alert of that priority waits for its answer.
    private let waitBudgets: [Int: Duration]
    /// By priority, the alerts with a budget in the order they came (so in deadline order).
    private var expiries: [Int: ExpiryQueue] = [:]
    /// The deadline the budget sweep is armed for, if any.
    private var sweepArmedFor: Duration?
    /// Identifies the armed sweep, so one re-armed for an earlier deadline since does nothing.
    private var sweepGeneration = 0

    /// Alerts of one priority waiting under a budget, oldest first.
    private struct ExpiryQueue {
        var items: [(deadline: Duration, answer: FirstOffer<Result<Classification, any Error>>)] = []
        var head = 0

        var next: Duration? { head < items.count ? items[head].deadline : nil }

        mutating func compact() {
            guard head > 256, head * 2 > items.count else { return }
            items.removeFirst(head)
            head = 0
        }
    }

    /// Creates a batcher in front of `upstream`.
    /// - Parameters:
    ///   - clock: times ``Configuration/maxWait``.
    ///   - metricsFactory: where `breakwater_ml_batch_size` goes; default the
    ///     bootstrapped `MetricsSystem`.
    ///   - limit: bounds the upstream requests in flight (see above); `nil`: no bound.
    ///   - breaker: guards each upstream request (see above); `nil`: none.
    ///   - waitBudgets: by priority, the longest an alert of it waits for its answer (see
    ///     above); priorities not named wait as long as their request takes.
    public init<C: Clock>(
        upstream: any AlertClassifier,
        configuration: Configuration = Configuration(),
        clock: C = ContinuousClock(),
        metricsFactory: any MetricsFactory = MetricsSystem.factory,
        limit: ConcurrencyLimit? = nil,
        breaker: CircuitBreaker? = nil,
        waitBudgets: [Int: Duration] = [:]
    ) where C.Duration == Duration {
        self.upstream = upstream
        self.breaker = breaker
        self.waitBudgets = waitBudgets
        self.configuration = configuration
        self.clock = ResilienceClock(clock)
        self.batchSize = Recorder(label: MetricNames.mlBatchSize, factory: metricsFactory)
        self.limit = limit
        func rejections(_ mode: String) -> Counter {
            Counter(
                label: MetricNames.adaptiveRejections,
                dimensions: [("breaker", BreakerName.ml), ("part", "concurrency_limit"), ("mode", mode)], factory: metricsFactory)
        }
        shed = rejections("enforced")
        shadowOverLimit = rejections("shadow")
    }

    /// The number of alerts waiting for their batch to be sent (for tests and gauges).
    public var pendingCount: Int { pending.count }

    /// Classifies one alert as part of the next batch, at the lowest priority.
    /// - Throws: as ``classify(_:priority:)``.
    public func classify(_ alert: Alert) async throws -> Classification {
        try await classify(alert, priority: 0)
    }

    /// Classifies one alert of `priority` (0 the lowest) as part of the next batch.
    ///
    /// Cancelling the calling task (e.g. a circuit breaker's call timeout) ends the wait at
    /// once with `CancellationError`; the alert may still go out with its batch, and that
    /// answer is dropped.
    /// - Throws: the upstream's error when this alert's batch failed (with a breaker, the
    ///   breaker's ``CircuitBreakerError`` for the request: refused, timed out or failed);
    ///   `CancellationError`; `AdmissionRefused(.limited)` when the limit's queue turned it
    ///   away; ``WaitBudgetExceeded`` when its priority's wait budget ran out first.
    public func classify(_ alert: Alert, priority: Int) async throws -> Classification {
        let answer = FirstOffer<Result<Classification, any Error>>()
        return try await withTaskCancellationHandler {
            // Cancelled already (the handler has answered): the alert is not queued.
            if !answer.isDecided {
                if admit(priority: priority) {
                    let deadline = waitBudgets[priority].map { clock.now() + $0 }
                    pending.append(Waiter(alert: alert, answer: answer, deadline: deadline), priority: priority)
                    if let deadline { startBudget(until: deadline, priority: priority, answer: answer) }
                    if pending.count >= configuration.maxBatchSize {
                        flush()
                    } else if !timerArmed && !blocked {
                        armTimer()
                    }
                } else {
                    answer.offer(.failure(AdmissionRefused(.limited)))
                }
            }
            return try await answer.value().get()
        } onCancel: {
            answer.offer(.failure(CancellationError()))
        }
    }

    /// Whether an alert of `priority` may join the queue: the limit has room for another
    /// request, there is room in the queue for its priority, or a waiting alert of a lower
    /// priority gives up its place (and is turned away).
    private func admit(priority: Int) -> Bool {
        guard let limit, blocked else { return true }
        let roundOfRequests = max(1, min(limit.limit, configuration.maxConcurrentRequests)) * configuration.maxBatchSize
        let reservedAbove = limit.configuration.reservedShares.reduce(0) { $1.key > priority ? $0 + $1.value : $0 }
        let room = max(1, Int(Double(roundOfRequests) * (1 - reservedAbove) + 1e-9))
        guard pending.count >= room else { return true }
        // The oldest of the lowest-priority waiters goes: higher ranks are sent first, so it
        // could wait on; the rules answer it now.
        guard let victim = pending.removeOldest(below: priority) else {
            shed.increment()
            return false
        }
        victim.answer.offer(.failure(AdmissionRefused(.limited)))
        shed.increment()
        return true
    }

    /// Classifies alerts through the batcher: they join the gathering batch(es)
    /// together, in order.
    /// - Throws: the first error of any batch they were in.
    public func classify(_ alerts: [Alert]) async throws -> [Classification] {
        try await withThrowingTaskGroup(of: (Int, Classification).self) { group in
            for (index, alert) in alerts.enumerated() {
                group.addTask { (index, try await self.classify(alert)) }
            }
            var results = [Classification?](repeating: nil, count: alerts.count)
            for try await (index, classification) in group { results[index] = classification }
            return results.compactMap { $0 }
        }
    }

    private func armTimer() {
        timerArmed = true
        let armedFor = generation
        let wait = configuration.maxWait
        let clock = self.clock
        Task {
            // A cancelled or failed sleep still sends the batch: never strand callers.
            try? await clock.sleep(for: wait)
            self.timerFired(generation: armedFor)
        }
    }

    private func timerFired(generation armedFor: Int) {
        guard armedFor == generation else { return }
        flush()
    }

    /// Sends up to `maxBatchSize` waiting alerts as one batch, when fewer than
    /// `maxConcurrentRequests` requests are in flight and the limit has room, and the rest
    /// in further batches while that holds.
    private func flush() {
        timerArmed = false
        generation &+= 1
        guard !pending.isEmpty else { return }
        guard inFlight < configuration.maxConcurrentRequests else {
            blocked = true  // sent when a request ends
            return
        }
        var permit: ConcurrencyLimit.Permit?
        if let limit {
            guard let acquired = limit.tryAcquire() else {
                blocked = true  // sent when a request ends
                return
            }
            if acquired.overLimit { shadowOverLimit.increment() }
            permit = acquired
        }
        let batch = pending.take(configuration.maxBatchSize)
        inFlight += 1
        // More waited than one batch holds only if they gathered while requests were at
        // their bound: they are due, full batch or not.
        if !pending.isEmpty { flush() }
        batchSize.record(batch.count)
        let upstream = self.upstream
        let breaker = self.breaker
        let clock = self.clock
        Task {
            let outcome: ConcurrencyLimit.Outcome
            do {
                let alerts = batch.map(\.alert)
                let results =
                    if let breaker {
                        try await breaker.call { try await Self.request(alerts, of: upstream) }
                    } else {
                        try await Self.request(alerts, of: upstream)
                    }
                for (waiter, result) in zip(batch, results) { waiter.answer.offer(.success(result)) }
                // Answered after an alert it carried gave up on it (its wait budget ran
                // out): too slow for what it was sent for, a drop for the limit as a
                // timeout is. Otherwise the limit keeps as many requests out as the server
                // answers in time for no one: with 300 ms per request in flight, three
                // (905 ms each) against a 900 ms critical budget, and the model answered
                // 4.9% of critical alerts (scripts/bench-adaptive).
                let now = clock.now()
                outcome = batch.contains { $0.deadline.map { $0 <= now } ?? false } ? .dropped : .success
            } catch {
                for waiter in batch { waiter.answer.offer(.failure(error)) }
                outcome = Self.timedOut(error) ? .dropped : .ignored
            }
            self.requestEnded(permit, outcome: outcome)
        }
    }

    /// One upstream request for `alerts`.
    /// - Throws: the upstream's error; ``ClassifierError/resultCountMismatch(expected:got:)``.
    private static func request(_ alerts: [Alert], of upstream: any AlertClassifier) async throws -> [Classification] {
        let results = try await upstream.classify(alerts)
        guard results.count == alerts.count else {
            throw ClassifierError.resultCountMismatch(expected: alerts.count, got: results.count)
        }
        return results
    }

    /// Whether a request's error says it timed out (the limit counts it as a drop).
    private static func timedOut(_ error: any Error) -> Bool {
        if case CircuitBreakerError.timeout = error { return true }
        return (error as? any TimeoutReportingError)?.timedOutAfter != nil
    }

    private func startBudget(until deadline: Duration, priority: Int, answer: FirstOffer<Result<Classification, any Error>>) {
        expiries[priority, default: ExpiryQueue()].items.append((deadline, answer))
        if sweepArmedFor.map({ deadline < $0 }) ?? true { armSweep(for: deadline) }
    }

    private func armSweep(for deadline: Duration) {
        sweepArmedFor = deadline
        sweepGeneration &+= 1
        let generation = sweepGeneration
        let clock = self.clock
        Task {
            // A cancelled or failed sleep sweeps early: the sweep only ends what is due.
            try? await clock.sleep(until: deadline)
            self.sweepBudgets(generation: generation)
        }
    }

    /// Answers every alert whose budget ran out, drops the waiting ones from the queue,
    /// and arms the sweep for the next deadline.
    private func sweepBudgets(generation: Int) {
        guard generation == sweepGeneration else { return }  // re-armed for an earlier deadline
        let now = clock.now()
        var expired = false
        var next: Duration?
        for (priority, budget) in waitBudgets {
            guard var queue = expiries[priority] else { continue }
            while let deadline = queue.next, deadline <= now {
                if queue.items[queue.head].answer.offer(.failure(WaitBudgetExceeded(after: budget))) { expired = true }
                queue.head += 1
            }
            queue.compact()
            if let deadline = queue.next { next = min(next ?? deadline, deadline) }
            expiries[priority] = queue
        }
        if expired { pending.removeAll { $0.answer.isDecided } }
        sweepArmedFor = nil
        if let next { armSweep(for: next) }
    }

    /// A request ended: the limit learns from it, and a batch held back goes.
    private func requestEnded(_ permit: ConcurrencyLimit.Permit?, outcome: ConcurrencyLimit.Outcome) {
        inFlight -= 1
        if let permit { limit?.release(permit, outcome: outcome) }
        guard blocked else { return }
        blocked = false
        flush()
    }
}

/// An alert's wait budget ran out before its answer came (``MicroBatcher``'s
/// `waitBudgets`): its caller falls back as for a timeout; the request is not counted as
/// failed.
public struct WaitBudgetExceeded: TimeoutReportingError, Equatable, CustomStringConvertible {
    /// The budget that ran out.
    public let after: Duration

    /// The budget `after` ran out.
    public init(after: Duration) { self.after = after }

    /// ``after``: a timeout for whoever counts timeouts.
    public var timedOutAfter: Duration? { after }

    /// `waited <after> for the model, its wait budget`.
    public var description: String { "waited \(after) for the model, its wait budget" }
}
