import PropertyBased
import Resilience
import Testing

/// The simplest reference model of the breaker: consecutive-failure rule, fixed open
/// duration, sequential half-open probes, forced states.
struct ReferenceBreaker {
    enum Outcome: Equatable {
        case success, failure, ignored
        case rejected(RejectionReason)
    }

    enum Op: Equatable {
        case succeed, fail, ignoredError
        case advance(seconds: Int)
        case forceOpen, forceClosed, reset
    }

    let failureThreshold: Int
    let probes: Int
    let successThreshold: Int
    let openSeconds: Int

    var state: CircuitBreakerState = .closed
    var now = 0
    var consecutiveFailures = 0
    var openUntil = 0
    var probesAdmitted = 0
    var probeSuccesses = 0
    var totals = CallTotals()

    static func op(_ code: Int) -> Op {
        switch code {
        case 0..<30: .succeed
        case 30..<65: .fail
        case 65..<72: .ignoredError
        case 72..<94: .advance(seconds: code % 12)
        case 94..<96: .forceOpen
        case 96..<98: .forceClosed
        default: .reset
        }
    }

    mutating func call(_ result: Outcome) -> Outcome {
        switch state {
        case .forcedOpen:
            totals.rejections += 1
            return .rejected(.forcedOpen)
        case .disabled:
            count(result)
            return result
        case .closed:
            count(result)
            if result == .failure { consecutiveFailures += 1 }
            if result == .success { consecutiveFailures = 0 }
            if consecutiveFailures >= failureThreshold { open() }
            return result
        case .open:
            if now < openUntil {
                totals.rejections += 1
                return .rejected(.open)
            }
            state = .halfOpen
            probesAdmitted = 0
            probeSuccesses = 0
            return call(result)
        case .halfOpen:
            guard probesAdmitted < probes else {
                totals.rejections += 1
                return .rejected(.halfOpenProbesExhausted)
            }
            probesAdmitted += 1
            count(result)
            switch result {
            case .success:
                probeSuccesses += 1
                if probeSuccesses >= successThreshold {
                    state = .closed
                    consecutiveFailures = 0
                }
            case .failure:
                open()
            case .ignored:
                probesAdmitted -= 1
            case .rejected:
                break
            }
            return result
        }
    }

    mutating func count(_ result: Outcome) {
        switch result {
        case .success: totals.successes += 1
        case .failure: totals.failures += 1
        case .ignored: totals.ignoredErrors += 1
        case .rejected: break
        }
    }

    mutating func open() {
        state = .open
        openUntil = now + openSeconds
    }
}

@Suite("State machine against a reference model")
struct StateMachinePropertyTests {
    @Test func breakerMatchesTheReferenceModel() async {
        await propertyCheck(
            count: 300,
            input: Gen.int(in: 1...4), Gen.int(in: 1...4), Gen.int(in: 1...4), Gen.int(in: 0...99).array(of: 1...80)
        ) { failureThreshold, probes, successRaw, codes in
            let successThreshold = min(successRaw, probes)
            let clock = ManualClock()
            let configuration = CircuitBreaker.Configuration(
                failureThreshold: failureThreshold,
                openDuration: .fixed(.seconds(10)),
                halfOpenProbes: probes,
                successThreshold: successThreshold
            ) { !($0 is IgnoredError) }
            guard let breaker = try? CircuitBreaker(name: "model", configuration: configuration, clock: clock) else {
                Issue.record("valid configuration rejected")
                return
            }
            var model = ReferenceBreaker(
                failureThreshold: failureThreshold, probes: probes, successThreshold: successThreshold, openSeconds: 10
            )
            for code in codes {
                let op = ReferenceBreaker.op(code)
                let actual: ReferenceBreaker.Outcome?
                let expected: ReferenceBreaker.Outcome?
                switch op {
                case .succeed:
                    expected = model.call(.success)
                    actual = Self.outcome(await succeed(breaker))
                case .fail:
                    expected = model.call(.failure)
                    actual = Self.outcome(await fail(breaker))
                case .ignoredError:
                    expected = model.call(.ignored)
                    actual = Self.outcome(await fail(breaker, IgnoredError()))
                case .advance(let seconds):
                    model.now += seconds
                    clock.advance(by: .seconds(seconds))
                    (expected, actual) = (nil, nil)
                case .forceOpen:
                    model.state = .forcedOpen
                    breaker.forceOpen(reason: "property")
                    (expected, actual) = (nil, nil)
                case .forceClosed:
                    model.state = .disabled
                    breaker.forceClosed()
                    (expected, actual) = (nil, nil)
                case .reset:
                    model.state = .closed
                    model.consecutiveFailures = 0
                    breaker.reset()
                    (expected, actual) = (nil, nil)
                }
                #expect(actual == expected, "after \(op)")
                #expect(breaker.state == model.state, "after \(op)")
            }
            let snapshot = breaker.snapshot()
            #expect(snapshot.totals == model.totals)
            if model.state == .closed {
                #expect(snapshot.consecutiveFailures == model.consecutiveFailures)
            }
        }
    }

    static func outcome(_ outcome: CallOutcome<Int>) -> ReferenceBreaker.Outcome {
        switch outcome {
        case .success: .success
        case .failure, .timedOut: .failure
        case .ignoredFailure: .ignored
        case .rejected(let reason): .rejected(reason)
        }
    }
}
