import Locking
import MetricsTestKit
import TriageTestSupport
import Resilience
import Synchronization
import Testing

/// Uniform "random" numbers from a fixed list, in order (the last repeats).
final class FixedDraws: Sendable {
    private let draws: LockedValue<[Double]>
    init(_ draws: [Double]) { self.draws = LockedValue(draws) }
    var next: @Sendable () -> Double {
        { [self] in draws.withLock { $0.count > 1 ? $0.removeFirst() : $0[0] } }
    }
}

extension AdaptiveThrottle {
    /// Reports `refused` requests the backend did not accept and `accepted` it did.
    func record(refused: Int = 0, accepted: Int = 0, priority: Int = 0) {
        for _ in 0..<refused { recordOutcome(priority: priority, accepted: false) }
        for _ in 0..<accepted { recordOutcome(priority: priority, accepted: true) }
    }
}

/// Calls in flight and the most there ever were at once.
final class InFlightGauge: Sendable {
    private let current = Atomic<Int>(0)
    private let peak = Atomic<Int>(0)
    func enter() { peak.max(current.add(1, ordering: .relaxed).newValue, ordering: .relaxed) }
    func leave() { current.subtract(1, ordering: .relaxed) }
    var highest: Int { peak.load(ordering: .relaxed) }
}

@Suite("AdaptiveThrottle")
struct AdaptiveThrottleTests {
    let clock = ManualClock()

    func throttle(_ adjust: (inout AdaptiveThrottle.Configuration) -> Void = { _ in }, draws: [Double] = [0.999])
    throws -> AdaptiveThrottle {
        var configuration = AdaptiveThrottle.Configuration()
        adjust(&configuration)
        return try AdaptiveThrottle(configuration, clock: clock, random: FixedDraws(draws).next)
    }

    @Test func probabilityFollowsTheFormulaAtKnownCounts() throws {
        let throttle = try throttle()
        throttle.record(refused: 7)
        throttle.record(accepted: 3)
        let snapshot = throttle.snapshot
        #expect(snapshot.requests == 10 && snapshot.accepts == 3)
        #expect(snapshot.probability == (10 - 2 * 3) / 11.0)
    }

    @Test func aBackendAcceptingHalfOrMoreIsNeverThrottled() throws {
        let throttle = try throttle(draws: [0])
        for _ in 0..<100 {
            #expect(throttle.admit().admitted)
            throttle.record(accepted: 1)
            #expect(throttle.admit().admitted)
            throttle.record(refused: 1)
        }
        #expect(throttle.snapshot.requests == 200 && throttle.snapshot.accepts == 100)
        #expect(throttle.rejectionProbability == 0)
    }

    @Test func requestsStillInFlightDoNotReadAsRefusals() throws {
        let throttle = try throttle(draws: [0])
        // 50 admitted and not answered yet: nothing is counted, nothing is shed.
        for _ in 0..<50 { #expect(throttle.admit().admitted) }
        #expect(throttle.snapshot.requests == 0 && throttle.rejectionProbability == 0)
        throttle.record(accepted: 50)
        #expect(throttle.snapshot.requests == 50 && throttle.rejectionProbability == 0)
    }

    @Test func theProbabilityIsCappedSoSomeRequestsAlwaysGetThrough() throws {
        let throttle = try throttle { $0.maxRejectionProbability = 0.9 }
        throttle.record(refused: 1000)
        #expect(throttle.rejectionProbability == 0.9)
        let lower = try self.throttle { $0.multiplier = 1; $0.maxRejectionProbability = 0.5 }
        lower.record(refused: 4)
        #expect(lower.rejectionProbability == 0.5)  // 4/5 capped
    }

    @Test func decisionsAreDrawnAgainstTheProbabilityAndRejectedRequestsCountAtOnce() throws {
        let throttle = try throttle(draws: [0.5, 0.6, 0.1])
        throttle.record(refused: 4)
        // 4 requests, no accepts: p = 4/5 capped at 0.9 → 0.8.
        let first = throttle.admit()
        #expect(!first.admitted && first.wouldReject && first.probability == 0.8)
        #expect(throttle.admit().probability == 5 / 6.0)  // the rejected one is a request
        throttle.record(accepted: 3)
        // 9 requests, 3 accepts: p = 3/10; the draw 0.1 is below it.
        #expect(!throttle.admit().admitted)
        #expect(throttle.snapshot.refused.rejections == 3 && throttle.snapshot.requests == 10)
        throttle.record(accepted: 2)
        // 12 requests, 5 accepts: p = 2/13; 0.1 (the last draw repeats) is below it.
        let last = throttle.admit()
        #expect(!last.admitted && last.probability == 2 / 13.0)
        throttle.record(accepted: 1)
        // 14 requests, 6 accepts: p = 2/15.
        #expect(throttle.snapshot.probability == 2 / 15.0)
    }

    @Test func lowerPrioritiesAreRejectedFirst() throws {
        let throttle = try throttle({ $0.priorityLevels = 4 }, draws: [0])
        for priority in 0..<4 { throttle.record(refused: 75, priority: priority) }
        throttle.record(accepted: 25, priority: 3)
        for priority in 0..<3 { throttle.record(accepted: 25, priority: priority) }
        // P = (400 − 200) / 401: 199.5 of the 400 requests are to go, priority 0 first.
        let decisions = (0..<4).map { throttle.admit(priority: $0) }
        #expect(decisions[0].probability == 1)
        // The rejected one was counted: 401 requests, 101 of them at priority 0.
        #expect(abs(decisions[1].probability - (201 / 402.0 * 401 - 101) / 100) < 1e-12)
        #expect(decisions[2].probability == 0 && decisions[3].probability == 0)
        #expect(decisions.map(\.admitted) == [false, false, true, true])
        // Out-of-range priorities are clamped; a level with no requests yet takes what is left.
        #expect(throttle.admit(priority: -3).probability == 1)
        let fresh = try self.throttle { $0.priorityLevels = 3 }
        fresh.record(refused: 10, priority: 0)
        #expect(fresh.admit(priority: 1).probability == 0)  // 10/11 · 10 < 10 requests below
        #expect(fresh.admit(priority: 9).probability == 0)
        let starved = try self.throttle({ $0.priorityLevels = 2; $0.multiplier = 1; $0.maxRejectionProbability = 0.99 }, draws: [0])
        starved.record(refused: 10, priority: 0)
        starved.record(refused: 10, priority: 1)
        #expect(starved.admit(priority: 0).probability == 1)
        #expect(abs(starved.admit(priority: 1).probability - (21 / 22.0 * 21 - 11) / 10) < 1e-12)
    }

    @Test func eventsLeaveTheWindowExactlyAtItsEdge() throws {
        let throttle = try throttle { $0.window = .seconds(10); $0.bucket = .seconds(1) }
        throttle.record(refused: 10)
        clock.advance(by: .seconds(5))
        throttle.record(accepted: 1)
        clock.advance(to: .init(offset: .seconds(10) - .nanoseconds(1)))
        #expect(throttle.snapshot.requests == 11)
        #expect(throttle.snapshot.probability == 9 / 12.0)
        clock.advance(to: .init(offset: .seconds(10)))
        #expect(throttle.snapshot.requests == 1 && throttle.snapshot.accepts == 1)
        #expect(throttle.rejectionProbability == 0)
        clock.advance(to: .init(offset: .seconds(15) - .nanoseconds(1)))
        #expect(throttle.snapshot.accepts == 1)
        clock.advance(to: .init(offset: .seconds(15)))
        #expect(throttle.snapshot.accepts == 0 && throttle.snapshot.requests == 0)
        // An event in the middle of a bucket leaves with the whole bucket.
        clock.advance(to: .init(offset: .milliseconds(20_500)))
        throttle.record(refused: 1)
        clock.advance(to: .init(offset: .seconds(30) - .nanoseconds(1)))
        #expect(throttle.snapshot.requests == 1)
        clock.advance(to: .init(offset: .seconds(30)))
        #expect(throttle.snapshot.requests == 0)
        // A jump of more than the window clears it.
        throttle.record(refused: 3)
        clock.advance(by: .seconds(500))
        #expect(throttle.snapshot.requests == 0)
    }

    @Test func shadowModeNeverRejectsButCountsWhatItWouldHave() throws {
        let throttle = try throttle({ $0.shadow = true }, draws: [0])
        var wouldHave = 0
        for _ in 0..<1000 {
            let decision = throttle.admit()
            #expect(decision.admitted)
            if decision.wouldReject { wouldHave += 1 }
            throttle.record(refused: 1)
        }
        #expect(wouldHave == 999)  // the first request saw p = 0
        #expect(throttle.snapshot.refused.shadowRejections == 999 && throttle.snapshot.refused.rejections == 0)
    }

    @Test func concurrentCallersLoseNoCount() async throws {
        let throttle = try throttle()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    for index in 0..<500 {
                        _ = throttle.admit()
                        throttle.recordOutcome(accepted: index % 2 == 0)
                    }
                }
            }
        }
        #expect(throttle.snapshot.requests == 4000 && throttle.snapshot.accepts == 2000)
    }

    @Test func invalidSettingsNameTheField() {
        func field(_ adjust: (inout AdaptiveThrottle.Configuration) -> Void) -> String? {
            var configuration = AdaptiveThrottle.Configuration()
            adjust(&configuration)
            return #expect(throws: CircuitBreaker.ConfigurationError.self) { try configuration.validate() }?.field
        }
        #expect(field { $0.multiplier = 0.5 } == "multiplier")
        #expect(field { $0.maxRejectionProbability = 1 } == "maxRejectionProbability")
        #expect(field { $0.bucket = .zero } == "bucket")
        #expect(field { $0.window = .milliseconds(1500) } == "window")
        #expect(field { $0.window = .milliseconds(500) } == "window")
        #expect(field { $0.priorityLevels = 0 } == "priorityLevels")
    }
}

@Suite("RetryBudget")
struct RetryBudgetTests {
    let clock = ManualClock()

    func budget(_ adjust: (inout RetryBudget.Configuration) -> Void = { _ in }) throws -> RetryBudget {
        var configuration = RetryBudget.Configuration()
        adjust(&configuration)
        return try RetryBudget(configuration, clock: clock)
    }

    @Test func theReserveAllowsMinimumPerSecondTimesTTLWithNoTraffic() throws {
        let budget = try budget { $0.minimumPerSecond = 10; $0.ttl = .seconds(10) }
        #expect(budget.snapshot.balance == 100)
        for _ in 0..<100 { #expect(budget.tryRetry().allowed) }
        #expect(!budget.tryRetry().allowed)
        #expect(budget.snapshot.refused.rejections == 1 && budget.snapshot.retries == 100)
    }

    @Test func requestsDepositTheirRatio() throws {
        let budget = try budget { $0.minimumPerSecond = 0; $0.ratio = 0.2 }
        #expect(!budget.tryRetry().allowed)
        for _ in 0..<50 { budget.recordRequest() }
        #expect(budget.snapshot.balance == 10)
        for _ in 0..<10 { #expect(budget.tryRetry().allowed) }
        #expect(!budget.tryRetry().allowed)
        for _ in 0..<4 { budget.recordRequest() }
        #expect(!budget.tryRetry().allowed)  // 0.8 of a token
        budget.recordRequest()
        #expect(budget.tryRetry().allowed)
    }

    @Test func depositsAndWithdrawalsExpireAfterTheTTL() throws {
        let budget = try budget { $0.minimumPerSecond = 0.5; $0.ttl = .seconds(10); $0.ratio = 0.5 }
        // Reserve 5. At t=0: 4 requests (+2), 7 retries → balance 0.
        for _ in 0..<4 { budget.recordRequest() }
        for _ in 0..<7 { #expect(budget.tryRetry().allowed) }
        #expect(!budget.tryRetry().allowed)
        clock.advance(to: .init(offset: .seconds(3)))
        for _ in 0..<2 { budget.recordRequest() }  // +1
        #expect(budget.tryRetry().allowed)
        #expect(!budget.tryRetry().allowed)
        clock.advance(to: .init(offset: .seconds(10) - .nanoseconds(1)))
        #expect(!budget.tryRetry().allowed)
        // At t=10 the first second's deposits (2) and retries (7) leave: 5 + 1 − 1 = 5.
        clock.advance(to: .init(offset: .seconds(10)))
        #expect(budget.snapshot.balance == 5)
        #expect(budget.snapshot.requests == 2 && budget.snapshot.retries == 1)
        clock.advance(to: .init(offset: .seconds(13)))
        #expect(budget.snapshot.balance == 5 && budget.snapshot.requests == 0 && budget.snapshot.retries == 0)
    }

    @Test func shadowModeAllowsEveryRetryAndCountsTheOverdraft() throws {
        let budget = try budget { $0.minimumPerSecond = 0.1; $0.ttl = .seconds(10); $0.shadow = true }
        for _ in 0..<5 { #expect(budget.tryRetry().allowed) }
        #expect(budget.snapshot.refused.shadowRejections == 4 && budget.snapshot.refused.rejections == 0)
        #expect(budget.snapshot.retries == 5 && budget.snapshot.balance == 0)
    }

    @Test func concurrentRetriesNeverOverdrawTheBudget() async throws {
        let budget = try budget { $0.minimumPerSecond = 10; $0.ttl = .seconds(10) }
        let granted = Counter()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    for _ in 0..<100 where budget.tryRetry().allowed { granted.increment() }
                }
            }
        }
        #expect(granted.count == 100)
        #expect(budget.snapshot.refused.rejections == 700)
    }

    @Test func invalidSettingsNameTheField() {
        func field(_ adjust: (inout RetryBudget.Configuration) -> Void) -> String? {
            var configuration = RetryBudget.Configuration()
            adjust(&configuration)
            return #expect(throws: CircuitBreaker.ConfigurationError.self) { try configuration.validate() }?.field
        }
        #expect(field { $0.ratio = 1.5 } == "ratio")
        #expect(field { $0.minimumPerSecond = -1 } == "minimumPerSecond")
        #expect(field { $0.ttl = .milliseconds(2500) } == "ttl")
    }
}

@Suite("ConcurrencyLimit")
struct ConcurrencyLimitTests {
    let clock = ManualClock()

    func limiter(_ adjust: (inout ConcurrencyLimit.Configuration) -> Void = { _ in }) throws -> ConcurrencyLimit {
        var configuration = ConcurrencyLimit.Configuration()
        adjust(&configuration)
        return try ConcurrencyLimit(configuration, clock: clock)
    }

    /// A server with `capacity` calls of `base` latency at once; above that, calls queue and
    /// take proportionally longer. Each round admits as many calls as the limiter allows,
    /// completes them all after the latency that many calls make, and advances the clock.
    func drive(_ limiter: ConcurrencyLimit, rounds: Int, capacity: Int, base: Duration) -> [Int] {
        var limits: [Int] = []
        for _ in 0..<rounds {
            var permits: [ConcurrencyLimit.Permit] = []
            while let permit = limiter.tryAcquire() { permits.append(permit) }
            #expect(permits.count == limiter.snapshot.limit)
            let latency = base * (Double(max(capacity, permits.count)) / Double(capacity))
            clock.advance(by: latency)
            for permit in permits { limiter.release(permit, outcome: .success) }
            limits.append(limiter.limit)
        }
        return limits
    }

    @Test func theLimitConvergesToTheServersCapacityAndFollowsItDown() throws {
        for initial in [1, 10] {
            let limiter = try limiter { $0.initialLimit = initial }
            let limits = drive(limiter, rounds: 200, capacity: 10, base: .milliseconds(100))
            // Vegas keeps alpha...beta calls queued beyond the capacity.
            #expect(limits.dropFirst(50).allSatisfy { (10...20).contains($0) }, "from \(initial): \(limits)")
            #expect(limiter.snapshot.baseline == .milliseconds(100))
            // The server loses half its capacity: the limit follows.
            let after = drive(limiter, rounds: 200, capacity: 5, base: .milliseconds(100))
            #expect(after.dropFirst(50).allSatisfy { (5...15).contains($0) }, "from \(initial): \(after)")
        }
    }

    @Test func aDroppedCallShrinksTheLimitByTheBackoffRatioOnceARound() throws {
        let limiter = try limiter { $0.initialLimit = 20; $0.minLimit = 17 }
        let permits = (0..<3).compactMap { _ in limiter.tryAcquire() }
        clock.advance(by: .seconds(1))
        limiter.release(permits[0], outcome: .dropped)
        #expect(limiter.limit == 18)
        // Admitted before that change: the same congestion, already answered.
        limiter.release(permits[1], outcome: .dropped)
        #expect(limiter.limit == 18)
        limiter.release(permits[2], outcome: .ignored)
        let next = try #require(limiter.tryAcquire())
        clock.advance(by: .seconds(1))
        limiter.release(next, outcome: .dropped)
        #expect(limiter.limit == 17)  // 16.2, held at minLimit
        let snapshot = limiter.snapshot
        #expect(snapshot.limit == 17 && snapshot.inFlight == 0 && snapshot.baseline == nil)
    }

    @Test func afterABackoffTheLimitDoesNotGrowUntilTheHoldIsOver() throws {
        for hold in [Duration.seconds(5), .zero] {
            let limiter = try limiter { $0.initialLimit = 2; $0.holdAfterBackoff = hold }
            // One call, used and answered at the baseline: Vegas grows the limit by one.
            func answerOne() throws {
                let permit = try #require(limiter.tryAcquire())
                clock.advance(by: .milliseconds(300))
                limiter.release(permit, outcome: .success)
            }
            let dropped = try #require(limiter.tryAcquire())
            clock.advance(by: .milliseconds(300))
            limiter.release(dropped, outcome: .dropped)
            #expect(limiter.limit == 1)  // 1.8
            if hold == .zero {
                try answerOne()
                #expect(limiter.limit == 2, "without a hold the next answer grows it")
                continue
            }
            for _ in 0..<16 { try answerOne() }  // 4.8 s
            #expect(limiter.limit == 1, "held for 5 s after the backoff")
            try answerOne()  // 5.1 s
            #expect(limiter.limit == 2)
        }
    }

    @Test func aBatchCompletingTogetherMovesTheLimitOnce() throws {
        let limiter = try limiter { $0.initialLimit = 40 }
        var permits = (0..<40).compactMap { _ in limiter.tryAcquire() }
        clock.advance(by: .milliseconds(100))
        for permit in permits { limiter.release(permit, outcome: .success) }
        #expect(limiter.limit == 41)  // the first sample grew it; the 39 others are the same round
        permits = (0..<41).compactMap { _ in limiter.tryAcquire() }
        clock.advance(by: .seconds(2))  // all slow: a queue of 39 estimated, above beta
        for permit in permits { limiter.release(permit, outcome: .success) }
        #expect(limiter.limit == 40)
    }

    @Test func aLongIncidentDoesNotDriftTheLimitBackUpWhenHealthyLatencyIsBounded() throws {
        func afterIncident(maxHealthyLatency: Duration?) throws -> Int {
            let clock = ManualClock()
            var configuration = ConcurrencyLimit.Configuration()
            configuration.maxHealthyLatency = maxHealthyLatency
            configuration.baselineWindow = .seconds(60)
            let limiter = try ConcurrencyLimit(configuration, clock: clock)
            // Healthy: the limit is used and each call takes 100 ms.
            for _ in 0..<20 {
                let permits = (0..<limiter.limit).compactMap { _ in limiter.tryAcquire() }
                clock.advance(by: .milliseconds(100))
                for permit in permits { limiter.release(permit, outcome: .success) }
            }
            // Ten minutes of every call taking 500 ms, however few are in flight.
            let incidentEnd = clock.now.advanced(by: .seconds(600))
            while clock.now < incidentEnd {
                let permits = (0..<limiter.limit).compactMap { _ in limiter.tryAcquire() }
                clock.advance(by: .milliseconds(500))
                for permit in permits { limiter.release(permit, outcome: .success) }
            }
            return limiter.limit
        }
        // Without the bound the baseline rises to 500 ms after two windows and the limit
        // grows back as if nothing were wrong; with it, every such call is overload.
        #expect(try afterIncident(maxHealthyLatency: nil) > 100)
        #expect(try afterIncident(maxHealthyLatency: .milliseconds(250)) == 1)
    }

    @Test func anUnusedLimitDoesNotGrow() throws {
        let limiter = try limiter { $0.initialLimit = 20 }
        for _ in 0..<100 {
            let permit = try #require(limiter.tryAcquire())
            clock.advance(by: .milliseconds(100))
            limiter.release(permit, outcome: .success)
        }
        #expect(limiter.limit == 20)
    }

    @Test func sharesReservedForHigherPrioritiesAreKeptFromLowerOnes() throws {
        let limiter = try limiter { $0.initialLimit = 10; $0.maxLimit = 10; $0.reservedShares = [1: 0.2, 2: 0.3] }
        var permits: [ConcurrencyLimit.Permit] = []
        func take(_ priority: Int) -> Int {
            var taken = 0
            while let permit = limiter.tryAcquire(priority: priority) {
                permits.append(permit)
                taken += 1
            }
            return taken
        }
        #expect(take(0) == 5)  // 10 − 2 − 3 reserved above it
        #expect(take(1) == 2)  // up to 10 − 3
        #expect(take(2) == 3)  // the whole limit
        #expect(take(5) == 0)
        // Freed capacity goes to whoever asks, within their share.
        for permit in permits.prefix(4) { limiter.release(permit, outcome: .ignored) }
        #expect(take(1) == 1)  // 6 in flight, 7 allowed
        #expect(take(2) == 3)
        #expect(limiter.snapshot.refused.rejections == 6)
    }

    @Test func shadowModeNeverRefusesButCountsTheCallsOverTheLimit() throws {
        let limiter = try limiter { $0.initialLimit = 2; $0.shadow = true }
        let permits = (0..<5).compactMap { _ in limiter.tryAcquire() }
        #expect(permits.count == 5)
        #expect(permits.map(\.overLimit) == [false, false, true, true, true])
        #expect(limiter.snapshot.refused.shadowRejections == 3 && limiter.snapshot.inFlight == 5)
    }

    @Test func concurrentCallersNeverExceedTheLimit() async throws {
        let limiter = try limiter { $0.initialLimit = 5; $0.minLimit = 5; $0.maxLimit = 5 }
        let inFlight = InFlightGauge()
        let admitted = Counter()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<64 {
                group.addTask {
                    for _ in 0..<50 {
                        guard let permit = limiter.tryAcquire() else { continue }
                        admitted.increment()
                        inFlight.enter()
                        await Task.yield()
                        inFlight.leave()
                        limiter.release(permit, outcome: .ignored)
                    }
                }
            }
        }
        #expect(inFlight.highest <= 5)
        #expect(admitted.count + Int(limiter.snapshot.refused.rejections) == 64 * 50)
        #expect(limiter.snapshot.inFlight == 0)
    }

    @Test func invalidSettingsNameTheField() {
        func field(_ adjust: (inout ConcurrencyLimit.Configuration) -> Void) -> String? {
            var configuration = ConcurrencyLimit.Configuration()
            adjust(&configuration)
            return #expect(throws: CircuitBreaker.ConfigurationError.self) { try configuration.validate() }?.field
        }
        #expect(field { $0.minLimit = 0 } == "minLimit")
        #expect(field { $0.maxLimit = 0 } == "maxLimit")
        #expect(field { $0.initialLimit = 500 } == "initialLimit")
        #expect(field { $0.beta = 2 } == "beta")
        #expect(field { $0.backoffRatio = 1 } == "backoffRatio")
        #expect(field { $0.maxHealthyLatency = .zero } == "maxHealthyLatency")
        #expect(field { $0.baselineWindow = .zero } == "baselineWindow")
        #expect(field { $0.holdAfterBackoff = .milliseconds(-1) } == "holdAfterBackoff")
        #expect(field { $0.reservedShares = [3: 1] } == "reservedShares")
        #expect(field { $0.reservedShares = [1: 0.5, 2: 0.5] } == "reservedShares")
    }
}

/// An error by which the operation says it timed out.
struct SlowError: TimeoutReportingError {
    var timedOutAfter: Duration? { .seconds(2) }
}

@Suite("AdaptivePolicy")
struct AdaptivePolicyTests {
    let clock = ManualClock()

    /// A breaker that opens on the first failure and ignores `IgnoredError`, with every part.
    func policy(
        shadow: Bool = false, draws: [Double] = [0.999], limit: Int = 10, reserve: Double = 1, metrics: TestMetrics = TestMetrics()
    ) throws -> AdaptivePolicy {
        let breaker = try makeBreaker(CircuitBreaker.Configuration(failureThreshold: 1) { !($0 is IgnoredError) }, clock: clock)
        var budget = RetryBudget.Configuration()
        budget.minimumPerSecond = reserve / 10
        budget.ratio = 0
        budget.shadow = shadow
        var throttle = AdaptiveThrottle.Configuration()
        throttle.shadow = shadow
        var concurrency = ConcurrencyLimit.Configuration()
        concurrency.initialLimit = limit
        concurrency.shadow = shadow
        return AdaptivePolicy(
            breaker: breaker, retryBudget: try RetryBudget(budget, clock: clock),
            throttle: try AdaptiveThrottle(throttle, clock: clock, random: FixedDraws(draws).next),
            concurrencyLimit: try ConcurrencyLimit(concurrency, clock: clock, breaker: "test", metricsFactory: metrics), metricsFactory: metrics)
    }

    func parts(_ policy: AdaptivePolicy) throws -> (RetryBudget, AdaptiveThrottle, ConcurrencyLimit) {
        (try #require(policy.retryBudget), try #require(policy.throttle), try #require(policy.concurrencyLimit))
    }

    @Test func anOpenBreakerRefusesBeforeAnyPartCounts() async throws {
        let policy = try policy()
        let (budget, throttle, limit) = try parts(policy)
        policy.breaker.forceOpen(reason: "test")
        let ran = Counter()
        let outcome = await policy.execute { ran.increment() }
        #expect(outcome.rejection == .forcedOpen && ran.count == 0)
        #expect(budget.snapshot.requests == 0 && throttle.snapshot.requests == 0 && limit.snapshot.inFlight == 0)
    }

    @Test func partsRefuseInOrderEachNamingItself() async throws {
        let policy = try policy(draws: [0], limit: 1)
        let (budget, throttle, limit) = try parts(policy)
        let ran = Counter()
        // The budget's reserve is one retry: the second is refused before the throttle.
        #expect(await policy.execute(isRetry: true) { ran.increment() }.value != nil)
        #expect(await policy.execute(isRetry: true) { ran.increment() }.rejection == .budgetExhausted)
        #expect(throttle.snapshot.requests == 1)
        // The limit of 1, held by someone else, refuses before the throttle counts a request.
        let held = try #require(limit.tryAcquire())
        #expect(await policy.execute { ran.increment() }.rejection == .limited)
        #expect(throttle.snapshot.requests == 1)
        limit.release(held, outcome: .ignored)
        // Three requests, one accepted: the throttle (drawing 0) sheds the next one, and
        // the permit it took from the limit is given back.
        throttle.record(refused: 2)
        let callsBefore = policy.breaker.snapshot().window.calls
        #expect(await policy.execute { ran.increment() }.rejection == .throttled)
        #expect(limit.snapshot.inFlight == 0)
        #expect(policy.breaker.snapshot().window.calls == callsBefore)
        throttle.record(accepted: 10)
        #expect(await policy.execute { ran.increment() }.value != nil)
        #expect(ran.count == 2)
        #expect(budget.snapshot.requests == 3)  // each first attempt past the breaker deposits
    }

    @Test func outcomesFeedTheThrottleAndTheLimit() async throws {
        let policy = try policy(limit: 20)
        let (_, throttle, limit) = try parts(policy)
        clock.advance(by: .seconds(1))
        #expect(await policy.execute { 1 }.value == 1)
        #expect(throttle.snapshot.accepts == 1)
        #expect(limit.snapshot.baseline == .zero)  // a success is a sample; the clock stood still
        #expect(await policy.execute { () async throws -> Int in throw IgnoredError() }.isIgnored)
        #expect(throttle.snapshot.accepts == 2)  // the dependency answered
        #expect(limit.limit == 20)
        #expect(await policy.execute { () async throws -> Int in throw SlowError() }.isTimeout)
        #expect(throttle.snapshot.accepts == 2)
        #expect(limit.limit == 18)  // a timeout is a drop
        #expect(policy.breaker.state == .open)
        #expect(throttle.snapshot.requests == 3)
    }

    @Test func aRefusalFallsBackWithThePartsReason() async throws {
        let policy = try policy(draws: [0])
        let (_, throttle, _) = try parts(policy)
        throttle.record(refused: 1)
        let result = try await policy.call(fallback: StaticFallback(-1), policy: .onCircuitOpen) { 1 }
        #expect(result.value == -1 && result.servedBy != nil)
        #expect(result.reason == .throttled)
        #expect(result.fallbackExecutions.map(\.reason) == [.throttled])
        let strict = await #expect(throws: CircuitBreakerError.self) {
            try await policy.call(fallback: StaticFallback(-1), policy: .failure) { 1 }
        }
        guard case .open(_, .throttled)? = strict else {
            Issue.record("expected a throttled rejection, got \(String(describing: strict))")
            return
        }
    }

    @Test func metricsCountRefusalsByPartAndModeAndShowTheLimitAndProbability() async throws {
        let metrics = TestMetrics()
        let policy = try policy(draws: [0], limit: 1, reserve: 0, metrics: metrics)
        let (_, throttle, limit) = try parts(policy)
        #expect(await policy.execute(isRetry: true) { 1 }.rejection == .budgetExhausted)
        throttle.record(refused: 3)
        #expect(await policy.execute { 1 }.rejection == .throttled)
        throttle.record(accepted: 10)
        let held = try #require(limit.tryAcquire())
        #expect(await policy.execute { 1 }.rejection == .limited)
        limit.release(held, outcome: .dropped)
        let shadow = try self.policy(shadow: true, draws: [0], limit: 1, reserve: 0, metrics: metrics)
        #expect(await shadow.execute(isRetry: true) { 1 }.value == 1)
        func rejections(_ part: String, _ mode: String) -> Int64 {
            metrics.counterTotal(label: "adaptive_rejections_total", dimensions: [("breaker", "test"), ("part", part), ("mode", mode)])
        }
        #expect(rejections("retry_budget", "enforced") == 1 && rejections("throttle", "enforced") == 1)
        #expect(rejections("concurrency_limit", "enforced") == 1 && rejections("retry_budget", "shadow") == 1)
        #expect(rejections("throttle", "shadow") == 0 && rejections("concurrency_limit", "shadow") == 0)
        let probability = try metrics.expectGauge("adaptive_throttle_probability", [("breaker", "test")])
        #expect(probability.lastValue == 0)  // the shadow policy's first decision, on an empty window
        #expect(try metrics.expectGauge("adaptive_concurrency_limit", [("breaker", "test")]).lastValue == 1)
    }

    @Test func aRefusalThrownBelowTheBreakerIsARejectionNotAFailure() async throws {
        let breaker = try makeBreaker(CircuitBreaker.Configuration(failureThreshold: 1), clock: clock)
        let outcome: CallOutcome<Int> = await breaker.execute { throw AdmissionRefused(.limited) }
        #expect(outcome.rejection == .limited)
        #expect(breaker.state == .closed)
        let result = try await breaker.call(fallback: StaticFallback(-1), policy: .onCircuitOpen) { () async throws -> Int in
            throw AdmissionRefused(.limited)
        }
        #expect(result.value == -1 && result.fallbackExecutions.map(\.reason) == [.limited])
        #expect(breaker.state == .closed)
    }

    @Test func aBreakerBelowTheCallIsAskedOnlyWhetherItIsOpenAndItsErrorsAreTheOutcome() async throws {
        let breaker = try makeBreaker(CircuitBreaker.Configuration(failureThreshold: 2), clock: clock)
        let policy = AdaptivePolicy(breaker: breaker, placement: .belowTheCall)
        // The calls' own requests go through the breaker below: the policy counts nothing.
        #expect(await policy.execute { 1 }.value == 1)
        #expect(breaker.snapshot().totals.successes == 0)
        let timedOut: CallOutcome<Int> = await policy.execute { throw CircuitBreakerError.timeout(breaker: "test", after: .seconds(2)) }
        #expect(timedOut.isTimeout)
        let failed: CallOutcome<Int> = await policy.execute {
            throw CircuitBreakerError.operationFailed(breaker: "test", underlying: TestError(), counted: true)
        }
        #expect(failed.isFailure)
        let uncounted: CallOutcome<Int> = await policy.execute {
            throw CircuitBreakerError.operationFailed(breaker: "test", underlying: TestError(), counted: false)
        }
        #expect(uncounted.isIgnored)
        let refusedBelow: CallOutcome<Int> = await policy.execute { throw CircuitBreakerError.open(breaker: "test", reason: .halfOpenProbesExhausted) }
        #expect(refusedBelow.rejection == .halfOpenProbesExhausted)
        #expect(await policy.execute { () async throws -> Int in throw AdmissionRefused(.limited) }.rejection == .limited)
        #expect(await policy.execute { () async throws -> Int in throw CancellationError() }.isIgnored)
        // Gave up waiting below (a wait budget): a timeout for this call alone.
        #expect(await policy.execute { () async throws -> Int in throw SlowError() }.isTimeout)
        #expect(breaker.snapshot().totals.failures == 0 && breaker.snapshot().totals.timeouts == 0 && breaker.state == .closed)
        // Open, it refuses before the call runs, as around each call.
        breaker.forceOpen(reason: "test")
        let ran = Counter()
        #expect(await policy.execute { ran.increment() }.rejection == .forcedOpen && ran.count == 0)
        // Its outcome falls back like any other: a timeout below is reason `timeout`.
        breaker.forceClosed()
        let result = try await policy.call(fallback: StaticFallback(-1), policy: .onAnyFailure) { () async throws -> Int in
            throw CircuitBreakerError.timeout(breaker: "test", after: .seconds(2))
        }
        #expect(result.value == -1 && result.fallbackExecutions.map(\.reason) == [.timeout])
    }

    @Test func aCallThatGaveUpBelowTheBreakerFeedsNeitherTheThrottleNorTheLimit() async throws {
        let breaker = try makeBreaker(CircuitBreaker.Configuration(failureThreshold: 1), clock: clock)
        var concurrency = ConcurrencyLimit.Configuration()
        concurrency.initialLimit = 10
        let policy = AdaptivePolicy(
            breaker: breaker, placement: .belowTheCall, throttle: try AdaptiveThrottle(AdaptiveThrottle.Configuration(), clock: clock),
            concurrencyLimit: try ConcurrencyLimit(concurrency, clock: clock))
        let (throttle, limit) = (try #require(policy.throttle), try #require(policy.concurrencyLimit))
        let gaveUp: CallOutcome<Int> = await policy.execute { throw SlowError() }
        #expect(gaveUp.isTimeout)
        #expect(throttle.snapshot.requests == 0 && limit.limit == 10 && limit.snapshot.inFlight == 0)
        // The breaker's own timeout below is the dependency's: both learn from it.
        let timedOut: CallOutcome<Int> = await policy.execute { throw CircuitBreakerError.timeout(breaker: "test", after: .seconds(2)) }
        #expect(timedOut.isTimeout)
        #expect(throttle.snapshot.requests == 1 && throttle.snapshot.accepts == 0 && limit.limit < 10)
    }

    @Test func shadowModeNeverRefusesAndCountsWhatItWouldHave() async throws {
        let policy = try policy(shadow: true, draws: [0], limit: 1, reserve: 0)
        let (budget, throttle, limit) = try parts(policy)
        throttle.record(refused: 1)
        let held = try #require(limit.tryAcquire())
        #expect(await policy.execute(isRetry: true) { 7 }.value == 7)
        limit.release(held, outcome: .ignored)
        #expect(budget.snapshot.refused == throttle.snapshot.refused)
        #expect(budget.snapshot.refused.shadowRejections == 1 && budget.snapshot.refused.rejections == 0)
        #expect(limit.snapshot.refused.shadowRejections == 1 && limit.snapshot.refused.rejections == 0)
    }
}
