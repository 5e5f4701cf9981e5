import Kafka
import Testing
@testable import Triage

@Suite("Consumer health verdict")
struct ConsumerHealthTests {
    /// Feeds `ConsumerHealth` one check after another (by reference, so each check can
    /// be written inside `#expect`), `at` in seconds.
    private final class Checks {
        private var health = ConsumerHealth()
        var isFailing: Bool { health.isFailing }

        func check(total: Int, consecutive: Int, at seconds: Int64) -> Result {
            let errors = KafkaConsumerErrors(total: total, consecutive: consecutive, last: nil)
            let (new, change) = health.check(errors, at: .seconds(seconds))
            return Result(newErrors: new, change: change)
        }
    }

    private struct Result: Equatable {
        var newErrors: Int
        var change: ConsumerHealth.Change?
    }

    @Test func sporadicErrorsOrErrorsWithProgressAreNotFailing() {
        let checks = Checks()
        #expect(checks.check(total: 0, consecutive: 0, at: 0) == Result(newErrors: 0, change: nil))
        // Two errors in a minute: librdkafka retries those itself.
        #expect(checks.check(total: 2, consecutive: 2, at: 10) == Result(newErrors: 2, change: nil))
        // A third one, but more than a minute after the first two.
        #expect(checks.check(total: 3, consecutive: 3, at: 80) == Result(newErrors: 1, change: nil))
        // Many errors, but records came in between (consecutive is small).
        #expect(checks.check(total: 13, consecutive: 1, at: 90) == Result(newErrors: 10, change: nil))
        #expect(!checks.isFailing)
    }

    @Test func errorsThatKeepComingWithoutProgressAreFailingUntilTheyThinOut() {
        let checks = Checks()
        #expect(checks.check(total: 1, consecutive: 1, at: 0) == Result(newErrors: 1, change: nil))
        #expect(checks.check(total: 2, consecutive: 2, at: 10) == Result(newErrors: 1, change: nil))
        #expect(checks.check(total: 3, consecutive: 3, at: 20) == Result(newErrors: 1, change: .failing(error: "unknown")))
        #expect(checks.isFailing)
        // Still failing: reported once, not again, while errors keep coming.
        #expect(checks.check(total: 4, consecutive: 4, at: 30) == Result(newErrors: 1, change: nil))
        #expect(checks.check(total: 4, consecutive: 4, at: 60) == Result(newErrors: 0, change: nil))
        // A minute later only one error of the window is left: recovered.
        #expect(checks.check(total: 4, consecutive: 4, at: 85) == Result(newErrors: 0, change: .recovered))
        #expect(!checks.isFailing)
    }

    @Test func aRecordArrivingEndsTheFailureAndItCanFailAgain() {
        let checks = Checks()
        #expect(checks.check(total: 4, consecutive: 4, at: 0).change == .failing(error: "unknown"))
        #expect(checks.check(total: 5, consecutive: 0, at: 10) == Result(newErrors: 1, change: .recovered))
        #expect(!checks.isFailing)
        #expect(checks.check(total: 9, consecutive: 4, at: 20).change == .failing(error: "unknown"))
    }
}

@Suite("Consumer health: an unreachable broker")
struct ConsumerHealthUnreachableTests {
    static let quiet = KafkaConsumerErrors(total: 1, consecutive: 1, last: nil)
    static let down = ConsumerHealth.Probe.unanswered("KafkaError _TRANSPORT (-195): connection refused")

    /// One error reported and then silence (librdkafka suppresses repeats), but the probe
    /// keeps failing: failing once the grace has passed, recovered at the first answer.
    @Test func aProbeFailingForTheGraceIsFailingAndTheFirstAnswerRecovers() throws {
        var health = ConsumerHealth(unreachableGrace: .seconds(30))
        #expect(health.check(Self.quiet, probe: Self.down, at: .seconds(0)).change == nil)
        #expect(health.check(Self.quiet, probe: Self.down, at: .seconds(20)).change == nil)
        let failing = try #require(health.check(Self.quiet, probe: Self.down, at: .seconds(30)).change)
        guard case .failing(let reason) = failing else { Issue.record("expected failing, got \(failing)"); return }
        #expect(reason.hasPrefix("no broker reachable: "))
        #expect(reason.contains("connection refused"))
        #expect(health.check(Self.quiet, probe: Self.down, at: .seconds(40)).change == nil)  // reported once
        #expect(health.check(Self.quiet, probe: .answered, at: .seconds(50)).change == .recovered)
        #expect(!health.isFailing)
    }

    /// A failed probe between answers restarts the grace: only an unbroken run of failures counts.
    @Test func anAnswerInBetweenRestartsTheGrace() {
        var health = ConsumerHealth(unreachableGrace: .seconds(30))
        _ = health.check(Self.quiet, probe: Self.down, at: .seconds(0))
        _ = health.check(Self.quiet, probe: .answered, at: .seconds(20))
        #expect(health.check(Self.quiet, probe: Self.down, at: .seconds(30)).change == nil)
        #expect(health.check(Self.quiet, probe: Self.down, at: .seconds(50)).change == nil)
        #expect(health.check(Self.quiet, probe: Self.down, at: .seconds(60)).change != nil)
    }

    /// No probe made (`nil`) changes nothing about the unreachable rule.
    @Test func checksWithoutAProbeKeepTheRunning() {
        var health = ConsumerHealth(unreachableGrace: .seconds(30))
        _ = health.check(Self.quiet, probe: Self.down, at: .seconds(0))
        #expect(health.check(Self.quiet, at: .seconds(10)).change == nil)
        #expect(health.check(Self.quiet, probe: Self.down, at: .seconds(31)).change != nil)
    }
}
