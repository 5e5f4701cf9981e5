import Resilience
import Testing
import TriageTestSupport

@Suite("Circuit breaker state machine")
struct CircuitBreakerTests {
    let clock = ManualClock()

    @Test func defaultsFollowTheDesign() {
        let configuration = CircuitBreaker.Configuration()
        #expect(configuration.failureThreshold == 5)
        #expect(configuration.successThreshold == 2)
        #expect(configuration.openDuration == .fixed(.seconds(60)))
        #expect(configuration.halfOpenProbes == 3)
        #expect(configuration.callTimeout == nil)
        #expect(configuration.isFailure(TestError()))
        #expect(!configuration.isFailure(CancellationError()))
    }

    @Test(arguments: [
        (CircuitBreaker.Configuration(failureThreshold: 0), "failureThreshold"),
        (CircuitBreaker.Configuration(failureRateThreshold: 1.5), "failureRateThreshold"),
        (CircuitBreaker.Configuration(failureRateThreshold: -0.1), "failureRateThreshold"),
        (CircuitBreaker.Configuration(slowCallRateThreshold: 2, slowCallDuration: .seconds(1)), "slowCallRateThreshold"),
        (CircuitBreaker.Configuration(slowCallRateThreshold: 0.5), "slowCallDuration"),
        (CircuitBreaker.Configuration(slowCallDuration: .seconds(-1)), "slowCallDuration"),
        (CircuitBreaker.Configuration(slidingWindow: .count(0)), "slidingWindow"),
        (CircuitBreaker.Configuration(slidingWindow: .time(.zero)), "slidingWindow"),
        (CircuitBreaker.Configuration(slidingWindow: .time(.milliseconds(1500))), "slidingWindow"),
        (CircuitBreaker.Configuration(minimumCalls: 0), "minimumCalls"),
        (CircuitBreaker.Configuration(openDuration: .fixed(.seconds(-1))), "openDuration"),
        (CircuitBreaker.Configuration(openDuration: .exponential(initial: .seconds(-1), multiplier: 2, maximum: .seconds(5), jitter: 0)), "openDuration.initial"),
        (CircuitBreaker.Configuration(openDuration: .exponential(initial: .seconds(1), multiplier: 0.5, maximum: .seconds(5), jitter: 0)), "openDuration.multiplier"),
        (CircuitBreaker.Configuration(openDuration: .exponential(initial: .seconds(10), multiplier: 2, maximum: .seconds(5), jitter: 0)), "openDuration.maximum"),
        (CircuitBreaker.Configuration(openDuration: .exponential(initial: .seconds(1), multiplier: 2, maximum: .seconds(5), jitter: 1.5)), "openDuration.jitter"),
        (CircuitBreaker.Configuration(halfOpenProbes: 0, successThreshold: 1), "halfOpenProbes"),
        (CircuitBreaker.Configuration(halfOpenProbes: 2, successThreshold: 3), "successThreshold"),
        (CircuitBreaker.Configuration(callTimeout: .zero), "callTimeout"),
        (CircuitBreaker.Configuration(halfOpenMaxWait: .seconds(-1)), "halfOpenMaxWait"),
    ])
    func invalidConfigurationNamesTheField(configuration: CircuitBreaker.Configuration, field: String) throws {
        let error = #expect(throws: CircuitBreaker.ConfigurationError.self) {
            try CircuitBreaker(name: "bad", configuration: configuration, clock: clock)
        }
        #expect(error?.field == field)
        #expect(error?.description.contains(field) == true)
    }

    @Test func consecutiveFailuresTripExactlyAtTheThreshold() async throws {
        let breaker = try makeBreaker(clock: clock)
        for _ in 0..<4 { await fail(breaker) }
        #expect(breaker.state == .closed)
        #expect(breaker.snapshot().consecutiveFailures == 4)
        await succeed(breaker)
        #expect(breaker.snapshot().consecutiveFailures == 0)
        for _ in 0..<4 { await fail(breaker) }
        #expect(breaker.state == .closed)
        await fail(breaker)
        #expect(breaker.state == .open)
        #expect(breaker.snapshot().openCount == 1)
    }

    @Test func openRejectsWithoutRunningTheOperation() async throws {
        let breaker = try makeBreaker(CircuitBreaker.Configuration(failureThreshold: 1), clock: clock)
        await fail(breaker)
        let ran = Counter()
        let outcome = await breaker.execute { ran.increment(); return 1 }
        #expect(outcome.rejection == .open)
        let error = await #expect(throws: CircuitBreakerError.self) {
            try await breaker.call { ran.increment(); return 1 }
        }
        guard case .open(let name, let reason) = error else {
            Issue.record("expected .open, got \(String(describing: error))")
            return
        }
        #expect(name == "test" && reason == .open)
        #expect(ran.count == 0)
        #expect(breaker.snapshot().totals.rejections == 2)
        #expect(breaker.isOpen)
        #expect(breaker.health == .unhealthy)
    }

    @Test func halfOpenBeginsExactlyWhenTheOpenDurationEnds() async throws {
        let breaker = try makeBreaker(CircuitBreaker.Configuration(failureThreshold: 1), clock: clock)
        await fail(breaker)
        clock.advance(by: .seconds(60) - .nanoseconds(1))
        #expect(breaker.snapshot().retryAfter == .nanoseconds(1))
        #expect(await succeed(breaker).isRejected)
        clock.advance(by: .nanoseconds(1))
        #expect(!breaker.isOpen)
        let permit = try #require(breaker.acquirePermit().permit)
        #expect(permit.isProbe)
        #expect(breaker.state == .halfOpen)
        #expect(breaker.health == .degraded)
    }

    @Test func halfOpenAdmitsTheConfiguredProbesAndClosesOnTheSuccessThreshold() async throws {
        let breaker = try makeBreaker(CircuitBreaker.Configuration(failureThreshold: 1), clock: clock)
        await fail(breaker)
        clock.advance(by: .seconds(60))
        let permits = (0..<3).compactMap { _ in breaker.acquirePermit().permit }
        #expect(permits.count == 3)
        guard case .rejected(let reason) = breaker.acquirePermit() else {
            Issue.record("a fourth probe was admitted")
            return
        }
        #expect(reason == .halfOpenProbesExhausted)
        breaker.recordSuccess(permits[0])
        #expect(breaker.state == .halfOpen)
        #expect(breaker.snapshot().halfOpenSuccesses == 1)
        breaker.recordSuccess(permits[1])
        #expect(breaker.state == .closed)
        // The third probe finished after closing: it counts in the totals only.
        breaker.recordFailure(permits[2])
        #expect(breaker.state == .closed)
        #expect(breaker.snapshot().consecutiveFailures == 0)
        #expect(breaker.snapshot().totals.failures == 2)
    }

    @Test func aFailedProbeReopens() async throws {
        let breaker = try makeBreaker(CircuitBreaker.Configuration(failureThreshold: 1), clock: clock)
        await fail(breaker)
        clock.advance(by: .seconds(60))
        await succeed(breaker)
        #expect(breaker.state == .halfOpen)
        await fail(breaker)
        #expect(breaker.state == .open)
        #expect(breaker.snapshot().openCount == 2)
        #expect(breaker.snapshot().retryAfter == .seconds(60))
    }

    @Test func anIgnoredErrorOnAProbeFreesItsSlot() async throws {
        let configuration = CircuitBreaker.Configuration(failureThreshold: 1, halfOpenProbes: 1, successThreshold: 1) { !($0 is IgnoredError) }
        let breaker = try makeBreaker(configuration, clock: clock)
        await fail(breaker)
        clock.advance(by: .seconds(60))
        #expect(await fail(breaker, IgnoredError()).isIgnored)
        #expect(breaker.state == .halfOpen)
        #expect(breaker.acquirePermit().permit != nil)
    }

    @Test func exponentialBackoffGrowsAcrossOpeningsUpToTheCapAndRestartsAfterClosing() async throws {
        let configuration = CircuitBreaker.Configuration(
            failureThreshold: 1,
            openDuration: .exponential(initial: .seconds(1), multiplier: 2, maximum: .seconds(5), jitter: 0),
            halfOpenProbes: 1,
            successThreshold: 1
        )
        let breaker = try makeBreaker(configuration, clock: clock)
        await fail(breaker)
        var seen: [Duration?] = [breaker.snapshot().retryAfter]
        for _ in 0..<3 {
            clock.advance(by: try #require(breaker.snapshot().retryAfter))
            await fail(breaker)  // the probe fails: reopen with a longer duration
            seen.append(breaker.snapshot().retryAfter)
        }
        #expect(seen == [.seconds(1), .seconds(2), .seconds(4), .seconds(5)])
        clock.advance(by: .seconds(5))
        await succeed(breaker)
        #expect(breaker.state == .closed)
        await fail(breaker)
        #expect(breaker.snapshot().retryAfter == .seconds(1))
    }

    @Test func jitterStaysWithinItsBoundsAndTheCap() throws {
        let configuration = CircuitBreaker.Configuration(
            openDuration: .exponential(initial: .seconds(10), multiplier: 2, maximum: .seconds(30), jitter: 0.5)
        )
        let breaker = try makeBreaker(configuration, clock: clock)
        for _ in 0..<200 {
            let first = breaker.openDuration(streak: 0)
            #expect(first >= .seconds(5) && first <= .seconds(15))
            let capped = breaker.openDuration(streak: 3)
            #expect(capped >= .seconds(15) && capped <= .seconds(30))
        }
    }

    @Test func failureRateTripsOnlyOnceTheMinimumCallsAreSeen() async throws {
        let configuration = CircuitBreaker.Configuration(
            failureThreshold: nil, failureRateThreshold: 0.5, slidingWindow: .count(10), minimumCalls: 4
        )
        let breaker = try makeBreaker(configuration, clock: clock)
        await fail(breaker)
        await fail(breaker)
        await fail(breaker)
        #expect(breaker.state == .closed)  // 3 calls < minimum 4
        await succeed(breaker)
        #expect(breaker.state == .open)  // 3/4 = 0.75 ≥ 0.5
        #expect(breaker.snapshot().failureRate == 0.75)  // the window that tripped it is kept until closing
    }

    @Test func countWindowForgetsTheOldestCall() async throws {
        let configuration = CircuitBreaker.Configuration(
            failureThreshold: nil, failureRateThreshold: 0.5, slidingWindow: .count(4), minimumCalls: 4
        )
        let breaker = try makeBreaker(configuration, clock: clock)
        await fail(breaker)
        for _ in 0..<5 { await succeed(breaker) }
        #expect(breaker.snapshot().window == WindowCounts(calls: 4, failures: 0, slowCalls: 0))
        await fail(breaker)
        #expect(breaker.snapshot().window.failures == 1)
        #expect(breaker.snapshot().failureRate == 0.25)
        await fail(breaker)
        #expect(breaker.state == .open)  // 2/4
    }

    @Test func timeWindowDropsCallsOlderThanTheWindow() async throws {
        let configuration = CircuitBreaker.Configuration(
            failureThreshold: nil, failureRateThreshold: 0.6, slidingWindow: .time(.seconds(10)), minimumCalls: 3
        )
        let breaker = try makeBreaker(configuration, clock: clock)
        await fail(breaker)
        await fail(breaker)
        clock.advance(by: .seconds(10))  // both failures leave the window
        #expect(breaker.snapshot().window.calls == 0)
        await succeed(breaker)
        await succeed(breaker)
        await fail(breaker)
        #expect(breaker.state == .closed)  // 1/3 in the window
        clock.advance(by: .seconds(9))
        await fail(breaker)
        #expect(breaker.snapshot().window == WindowCounts(calls: 4, failures: 2, slowCalls: 0))
        await fail(breaker)
        #expect(breaker.state == .open)  // 3/5 = 0.6
    }

    @Test func slowCallRateTrips() async throws {
        let configuration = CircuitBreaker.Configuration(
            failureThreshold: nil, slowCallRateThreshold: 0.5, slowCallDuration: .seconds(2), slidingWindow: .count(4), minimumCalls: 2
        )
        let breaker = try makeBreaker(configuration, clock: clock)
        let fast = try #require(breaker.acquirePermit().permit)
        clock.advance(by: .seconds(2) - .nanoseconds(1))
        breaker.recordSuccess(fast)
        #expect(breaker.snapshot().totals.slowCalls == 0)
        let slow = try #require(breaker.acquirePermit().permit)
        clock.advance(by: .seconds(2))
        breaker.recordSuccess(slow)
        #expect(breaker.snapshot().totals.slowCalls == 1)
        #expect(breaker.state == .open)  // 1/2 slow
    }

    @Test func aTimedOutCallIsCancelledAndCountsAsAFailure() async throws {
        let configuration = CircuitBreaker.Configuration(failureThreshold: 1, callTimeout: .seconds(2))
        let breaker = try makeBreaker(configuration, clock: clock)
        let cancelled = Counter()
        let clock = self.clock
        async let outcome = breaker.execute { () async throws -> Int in
            do {
                try await clock.sleep(for: .seconds(3600))
            } catch {
                cancelled.increment()
                throw error
            }
            return 1
        }
        await clock.waitForSleepers(count: 2)  // the operation and the timeout
        clock.advance(by: .seconds(2))
        let result = await outcome
        #expect(result.isTimeout)
        #expect(cancelled.count == 1)
        #expect(breaker.state == .open)
        #expect(breaker.snapshot().totals.timeouts == 1)
    }

    @Test func aCallFinishingBeforeItsTimeoutSucceeds() async throws {
        let breaker = try makeBreaker(CircuitBreaker.Configuration(callTimeout: .seconds(2)), clock: clock)
        let value = try await breaker.call { 42 }
        #expect(value == 42)
        #expect(clock.sleeperCount == 0)
        let error = await #expect(throws: CircuitBreakerError.self) {
            try await breaker.call { () async throws -> Int in throw TestError(id: 7) }
        }
        guard case .operationFailed(_, let underlying, let counted) = error else {
            Issue.record("expected operationFailed")
            return
        }
        #expect(underlying as? TestError == TestError(id: 7))
        #expect(counted)
    }

    @Test func errorsThePredicateIgnoresLeaveTheStateAlone() async throws {
        let configuration = CircuitBreaker.Configuration(failureThreshold: 2) { !($0 is IgnoredError) }
        let breaker = try makeBreaker(configuration, clock: clock)
        await fail(breaker)
        for _ in 0..<10 { #expect(await fail(breaker, IgnoredError()).isIgnored) }
        #expect(breaker.state == .closed)
        #expect(breaker.snapshot().consecutiveFailures == 1)
        #expect(breaker.snapshot().totals.ignoredErrors == 10)
        let error = await #expect(throws: CircuitBreakerError.self) {
            try await breaker.call { () async throws -> Int in throw IgnoredError() }
        }
        guard case .operationFailed(_, let underlying, let counted) = error else {
            Issue.record("expected operationFailed")
            return
        }
        #expect(underlying is IgnoredError)
        #expect(!counted)
    }

    @Test func cancellationDoesNotCountByDefault() async throws {
        let breaker = try makeBreaker(CircuitBreaker.Configuration(failureThreshold: 1), clock: clock)
        #expect(await fail(breaker, CancellationError()).isIgnored)
        #expect(breaker.state == .closed)
    }

    @Test func forceOpenKeepsItsReasonUntilReset() async throws {
        let breaker = try makeBreaker(clock: clock)
        breaker.forceOpen(reason: "maintenance window")
        #expect(breaker.state == .forcedOpen)
        #expect(breaker.snapshot().forcedReason == "maintenance window")
        clock.advance(by: .seconds(3600))
        #expect(await succeed(breaker).rejection == .forcedOpen)
        breaker.reset()
        #expect(breaker.state == .closed)
        #expect(breaker.snapshot().forcedReason == nil)
        #expect(await succeed(breaker).value == 1)
    }

    @Test func forcedClosedPassesEverythingAndNeverTrips() async throws {
        let breaker = try makeBreaker(CircuitBreaker.Configuration(failureThreshold: 1), clock: clock)
        breaker.forceClosed()
        #expect(breaker.state == .disabled)
        for _ in 0..<10 { #expect(await fail(breaker).isFailure) }
        #expect(breaker.state == .disabled)
        #expect(breaker.snapshot().totals.failures == 10)
        breaker.reset()
        await fail(breaker)
        #expect(breaker.state == .open)
        breaker.disable()
        #expect(await succeed(breaker).value == 1)
    }

    @Test func resetFromOpenClearsCountsAndBackoff() async throws {
        let breaker = try makeBreaker(CircuitBreaker.Configuration(failureThreshold: 2), clock: clock)
        await fail(breaker)
        await fail(breaker)
        #expect(breaker.state == .open)
        breaker.reset()
        #expect(breaker.state == .closed)
        await fail(breaker)
        #expect(breaker.state == .closed)
        #expect(breaker.snapshot().openCount == 1)
    }

    @Test func permitsFromAnEarlierStateDoNotMoveTheCurrentOne() async throws {
        let breaker = try makeBreaker(CircuitBreaker.Configuration(failureThreshold: 1), clock: clock)
        let early = try #require(breaker.acquirePermit().permit)
        await fail(breaker)
        clock.advance(by: .seconds(60))
        _ = try #require(breaker.acquirePermit().permit)  // half-open probe
        breaker.recordFailure(early)  // stale: must not reopen
        #expect(breaker.state == .halfOpen)
        breaker.recordTimeout(early)
        #expect(breaker.snapshot().totals.timeouts == 1)
    }

    @Test func recordFailureAppliesThePredicate() async throws {
        let breaker = try makeBreaker(CircuitBreaker.Configuration(failureThreshold: 1) { !($0 is IgnoredError) }, clock: clock)
        let first = try #require(breaker.acquirePermit().permit)
        breaker.recordFailure(first, error: IgnoredError())
        #expect(breaker.state == .closed)
        let second = try #require(breaker.acquirePermit().permit)
        breaker.recordFailure(second, error: TestError())
        #expect(breaker.state == .open)
    }

    @Test func snapshotReportsTimesAndCounts() async throws {
        let breaker = try makeBreaker(CircuitBreaker.Configuration(failureThreshold: 2), clock: clock)
        await succeed(breaker)
        clock.advance(by: .seconds(5))
        await fail(breaker)
        await fail(breaker)
        clock.advance(by: .seconds(7))
        let snapshot = breaker.snapshot()
        #expect(snapshot.name == "test")
        #expect(snapshot.state == .open)
        #expect(snapshot.stateSince == .seconds(5))
        #expect(snapshot.timeInState == .seconds(7))
        #expect(snapshot.lastOpenedAt == .seconds(5))
        #expect(snapshot.lastOpenedAge == .seconds(7))
        #expect(snapshot.retryAfter == .seconds(53))
        #expect(snapshot.totals.successes == 1)
        #expect(snapshot.totals.failures == 2)
        #expect(snapshot.health == .unhealthy)
    }

    @Test func lostProbePermitsReopenAfterTheHalfOpenMaxWait() async throws {
        let configuration = CircuitBreaker.Configuration(failureThreshold: 1, halfOpenProbes: 1, successThreshold: 1, halfOpenMaxWait: .seconds(30))
        let breaker = try makeBreaker(configuration, clock: clock)
        await fail(breaker)
        clock.advance(by: .seconds(60))
        _ = try #require(breaker.acquirePermit().permit)  // never reported
        clock.advance(by: .seconds(30) - .nanoseconds(1))
        #expect(await succeed(breaker).rejection == .halfOpenProbesExhausted)
        clock.advance(by: .nanoseconds(1))
        #expect(await succeed(breaker).rejection == .open)
        #expect(breaker.state == .open)
        #expect(breaker.snapshot().openCount == 2)
    }
}

/// An operation's own deadline error, as an HTTP client would throw it.
private struct ClientDeadline: TimeoutReportingError {
    var timedOutAfter: Duration?
}

@Suite struct TimeoutReportingErrorTests {
    let clock = ManualClock()

    @Test func anErrorThatReportsATimeoutCountsAsATimeout() async throws {
        let breaker = try makeBreaker(clock: clock)
        let outcome = await fail(breaker, ClientDeadline(timedOutAfter: .seconds(2)))
        guard case .timedOut(let after) = outcome else {
            Issue.record("expected a timeout, got \(outcome)")
            return
        }
        #expect(after == .seconds(2))
        #expect(breaker.snapshot().totals.timeouts == 1)
        #expect(breaker.snapshot().consecutiveFailures == 1)
    }

    @Test func anErrorOfThatTypeThatIsNotATimeoutIsAPlainFailure() async throws {
        let breaker = try makeBreaker(clock: clock)
        let outcome = await fail(breaker, ClientDeadline(timedOutAfter: nil))
        guard case .failure = outcome else {
            Issue.record("expected a failure, got \(outcome)")
            return
        }
        #expect(breaker.snapshot().totals.timeouts == 0)
    }

    @Test func theFallbackReasonIsTimeout() async throws {
        let breaker = try makeBreaker(clock: clock)
        let result = try await breaker.callWithStaticFallback(7, policy: .onAnyFailure) { () async throws -> Int in
            throw ClientDeadline(timedOutAfter: .milliseconds(500))
        }
        #expect(result.value == 7)
        #expect(result.reason == .timeout)
        #expect(result.fallbackExecutions.map(\.reason) == [.timeout])
    }

    @Test func anIgnoredErrorStaysIgnoredEvenIfItReportsATimeout() async throws {
        var configuration = CircuitBreaker.Configuration()
        configuration.isFailure = { _ in false }
        let breaker = try makeBreaker(configuration, clock: clock)
        let outcome = await fail(breaker, ClientDeadline(timedOutAfter: .seconds(1)))
        guard case .ignoredFailure = outcome else {
            Issue.record("expected an ignored failure, got \(outcome)")
            return
        }
        #expect(breaker.snapshot().totals.timeouts == 0)
    }
}
