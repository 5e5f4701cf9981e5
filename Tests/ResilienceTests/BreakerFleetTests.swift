import Locking
import Synchronization
import Resilience
import Testing

/// Workers of a fleet wired to one in-memory bus: what a fleet publishes waits on the bus
/// until ``deliver()`` hands it to every member (its sender included), as a topic would.
/// Each worker has its own clock, so tests can skew them.
final class FleetRig: Sendable {
    struct Member: Sendable {
        let id: String
        let clock: ManualClock
        let breaker: CircuitBreaker
        let fleet: BreakerFleet
    }

    /// Reports published and not yet delivered.
    final class Bus: Sendable {
        private let reports = LockedValue<[BreakerReport]>([])
        func append(_ more: [BreakerReport]) { reports.withLock { $0 += more } }
        func takeAll() -> [BreakerReport] { reports.withLock { reports in defer { reports = [] }; return reports } }
    }

    private let bus = Bus()
    /// A wall clock that moves on every reading.
    final class WallClock: Sendable {
        private let milliseconds = Atomic<Int64>(1_800_000_000_000)
        func tick() -> Int64 { milliseconds.add(1, ordering: .relaxed).newValue }
    }

    private let wall = WallClock()
    private let members = LockedValue<[String: Member]>([:])
    /// Workers whose reports no longer reach the bus (a dead process, a cut network).
    private let silenced = LockedValue<Set<String>>([])
    /// Workers that read nothing from the bus.
    private let deaf = LockedValue<Set<String>>([])
    let rule: BreakerFleet.Rule

    static let breakerConfiguration = CircuitBreaker.Configuration(
        failureThreshold: 2, openDuration: .fixed(.seconds(10)), halfOpenProbes: 1, successThreshold: 1)
    let breakerConfiguration: CircuitBreaker.Configuration

    /// - Parameters:
    ///   - rule: openings only count by default (most tests are about them); the pooled
    ///     failures' tests turn them on.
    ///   - threshold: the breakers' failure threshold (2 by default).
    init(_ workers: [String], rule: BreakerFleet.Rule = BreakerFleet.Rule(poolFailures: false), clockOffsets: [Duration] = [], threshold: Int = 2) throws {
        self.rule = rule
        var configuration = Self.breakerConfiguration
        configuration.failureThreshold = threshold
        breakerConfiguration = configuration
        for (index, id) in workers.enumerated() {
            try add(id, clockOffset: index < clockOffsets.count ? clockOffsets[index] : .zero)
        }
    }

    /// A new member (a worker joining, or one coming back after it died).
    @discardableResult
    func add(_ id: String, clockOffset: Duration = .zero) throws -> Member {
        let clock = ManualClock(now: .init(offset: clockOffset))
        let (bus, wall) = (self.bus, self.wall)
        let breaker = try CircuitBreaker(name: "ml", configuration: breakerConfiguration, clock: clock)
        let fleet = try BreakerFleet(
            configuration: .init(workerID: id, rules: ["ml": rule]), breakers: [breaker], clock: clock,
            // Wall clocks hours apart: only arrival times may matter.
            wallClockMilliseconds: { [wall] in wall.tick() + 3_600_000 * Int64(id.utf8.first ?? 0) % 7 }
        ) { reports in bus.append(reports) }
        let member = Member(id: id, clock: clock, breaker: breaker, fleet: fleet)
        members.withLock { $0[id] = member }
        silenced.withLock { _ = $0.remove(id) }
        return member
    }

    subscript(_ id: String) -> Member {
        guard let member = members.withLock({ $0[id] }) else { fatalError("no member \(id)") }
        return member
    }

    var all: [Member] { members.withLock { $0.values.sorted { $0.id < $1.id } } }

    /// Stops `id`'s reports reaching anyone, without a departure (a crash).
    func silence(_ id: String) { silenced.withLock { _ = $0.insert(id) } }
    /// `id` reads nothing from now on (its topic is unreachable).
    func deafen(_ id: String) { deaf.withLock { _ = $0.insert(id) } }
    /// `id` stops and tells the fleet (a graceful stop).
    func depart(_ id: String) {
        silence(id)
        let member = self[id]
        member.fleet.detach()
        members.withLock { _ = $0.removeValue(forKey: id) }
        for other in all { other.fleet.departed(worker: id, breaker: "ml") }
    }

    /// Hands every pending report to every member, until none is left.
    func deliver() {
        while true {
            let reports = bus.takeAll()
            if reports.isEmpty { return }
            let (quiet, deaf) = (silenced.withLock { $0 }, self.deaf.withLock { $0 })
            for report in reports where !quiet.contains(report.worker) {
                for member in all where !deaf.contains(member.id) { member.fleet.receive(report, fresh: true) }
            }
        }
    }

    /// Every member's heartbeat, delivered.
    func heartbeat() {
        for member in all {
            let reports = member.fleet.heartbeat()
            bus.append(reports)
        }
        deliver()
    }

    /// Advances every member's clock by `duration`, with a heartbeat every 2 s of it.
    func pass(_ duration: Duration) {
        var left = duration
        while left > .zero {
            let step = min(left, .seconds(2))
            for member in all { member.clock.advance(by: step) }
            heartbeat()
            left -= step
        }
    }

    /// `id`'s breaker sees `count` failed calls.
    func fail(_ id: String, times count: Int = 2) async {
        for _ in 0..<count { _ = await ResilienceTests.fail(self[id].breaker) }
        deliver()
    }

    func state(_ id: String) -> CircuitBreakerState { self[id].breaker.state }
}

@Suite("Breaker fleet")
struct BreakerFleetTests {
    @Test func quorumIsAMajorityOfTheLiveWorkersAndAtLeastTwo() throws {
        let rig = try FleetRig(["a", "b", "c", "d", "e"])
        rig.heartbeat()
        let view = try #require(rig["a"].fleet.snapshot().breakers.first)
        #expect(view.liveWorkers == 5)
        #expect(view.quorum == 3)
        #expect(!rig["a"].fleet.snapshot().localOnly)

        let pair = try FleetRig(["a", "b"])
        pair.heartbeat()
        #expect(pair["a"].fleet.snapshot().breakers.first?.quorum == 2)
        let alone = try FleetRig(["a"])
        alone.heartbeat()
        #expect(alone["a"].fleet.snapshot().breakers.first?.quorum == 2, "one worker can never be a quorum")
    }

    @Test func aQuorumOfWorkersOpenTheRestAndTheirRejectionsSaySo() async throws {
        let rig = try FleetRig(["a", "b", "c"])
        rig.heartbeat()
        await rig.fail("a")
        #expect(rig.state("a") == .open)
        #expect(rig.state("b") == .closed && rig.state("c") == .closed, "one of three is not a quorum")

        await rig.fail("b")
        #expect(rig.state("c") == .open, "two of three are")
        #expect(rig["c"].breaker.isOpenedByPeers)
        #expect(await succeed(rig["c"].breaker).rejection == .fleetOpen)
        #expect(await succeed(rig["a"].breaker).rejection == .open, "a opened by its own rules")
        let view = try #require(rig["c"].fleet.snapshot().breakers.first)
        #expect(view.fleetOpen && view.openedByFleet && view.reportingOpen == 2)
        #expect(view.peers.map(\.report.cause) == [.own, .own])
    }

    @Test func failuresSeenAcrossAQuorumAddUpToTheThresholdAndOpenEveryWorker() async throws {
        // Threshold 4, quorum 3 of 5: each worker counts for at most ⌈4/3⌉ = 2 failures.
        let rig = try FleetRig(["a", "b", "c", "d", "e"], rule: .init(), threshold: 4)
        rig.heartbeat()
        await rig.fail("a", times: 1)
        await rig.fail("b", times: 1)
        #expect(rig.all.allSatisfy { $0.breaker.state == .closed }, "two failing workers are not a quorum")
        await rig.fail("c", times: 1)
        #expect(rig.all.allSatisfy { $0.breaker.state == .closed }, "three failures are below the threshold")
        await rig.fail("a", times: 1)
        #expect(rig.all.allSatisfy { $0.breaker.isOpenedByPeers }, "four failures across three workers open all five")
        #expect(rig["e"].fleet.snapshot().breakers.first?.fleetOpen == true)
        #expect(rig.all.allSatisfy { $0.breaker.snapshot().totals.failures <= 2 })
    }

    @Test func oneBrokenWorkerAndAStrayFailureElsewhereDoNotAddUp() async throws {
        let rig = try FleetRig(["a", "b", "c"], rule: .init(), threshold: 5)
        rig.heartbeat()
        await rig.fail("a", times: 5)
        #expect(rig.state("a") == .open)
        await rig.fail("b", times: 1)
        #expect(rig.state("b") == .closed && rig.state("c") == .closed, "a's share is capped at ⌈5/2⌉ = 3; 3 + 1 < 5")
        let view = try #require(rig["c"].fleet.snapshot().breakers.first)
        #expect(view.failing == 2 && view.pooledFailures == 4)
        await rig.fail("b", times: 1)
        #expect(rig.state("c") == .open, "3 + 2: a second worker really failing")
    }

    @Test func failuresOlderThanAHeartbeatOrFromBeforeARecoveryDoNotCount() async throws {
        let rig = try FleetRig(["a", "b", "c"], rule: .init(), threshold: 4)
        rig.heartbeat()
        await rig.fail("a", times: 2)
        rig.pass(.seconds(2))
        for member in rig.all { member.clock.advance(by: .seconds(1)) }
        await rig.fail("b", times: 1)
        #expect(rig["c"].fleet.snapshot().breakers.first?.pooledFailures == 3)
        // a's streak was last reported more than a heartbeat ago (a success would have
        // reset it without a report): it no longer counts.
        for member in rig.all { member.clock.advance(by: .milliseconds(1_100)) }
        #expect(rig["c"].fleet.snapshot().breakers.first?.pooledFailures == 1)
        await rig.fail("c", times: 1)
        #expect(rig.all.allSatisfy { $0.breaker.state == .closed })
    }

    @Test func withoutPoolingOnlyOpeningsCount() async throws {
        let rig = try FleetRig(["a", "b", "c"], threshold: 4)
        rig.heartbeat()
        await rig.fail("a", times: 3)
        await rig.fail("b", times: 3)
        #expect(rig.all.allSatisfy { $0.breaker.state == .closed })
        await rig.fail("a", times: 1)
        await rig.fail("b", times: 1)
        #expect(rig.state("c") == .open)
    }

    @Test func failuresAreReportedAtMostOncePerInterval() async throws {
        let rig = try FleetRig(["a", "b", "c"], rule: .init(), threshold: 10)
        rig.heartbeat()
        await rig.fail("a", times: 3)
        let reported = try #require(rig["b"].fleet.snapshot().breakers.first?.peers.first { $0.report.worker == "a" })
        #expect(reported.report.consecutiveFailures == 1, "the second and third fell within 100 ms")
        rig["a"].clock.advance(by: .milliseconds(100))
        await rig.fail("a", times: 1)
        #expect(rig["b"].fleet.snapshot().breakers.first?.peers.first { $0.report.worker == "a" }?.report.consecutiveFailures == 4)
    }

    @Test func aPoisonedWorkerNeverOpensTheRestAndProbesAlone() async throws {
        let rig = try FleetRig(["a", "b", "c"])
        rig.heartbeat()
        for _ in 0..<5 {
            await rig.fail("a")
            rig.pass(.seconds(10))
            #expect(rig.state("b") == .closed && rig.state("c") == .closed)
            // Its open duration is over: it probes itself (the fleet does not hold it).
            #expect(rig["a"].fleet.mayProbe("ml"))
            #expect(await fail(rig["a"].breaker).isFailure, "the probe runs and fails")
            rig.deliver()
            #expect(rig.state("a") == .open)
        }
        #expect(rig["b"].fleet.snapshot().breakers.first?.fleetOpen == false)
    }

    @Test func onlyTheProberProbesAndTheOthersCloseOnItsSuccess() async throws {
        let rig = try FleetRig(["a", "b", "c", "d", "e"])
        rig.heartbeat()
        await rig.fail("a")
        await rig.fail("b")
        await rig.fail("c")
        #expect(rig.all.allSatisfy { $0.breaker.state == .open })
        let probers = try #require(rig["a"].fleet.snapshot().breakers.first?.probers)
        #expect(probers.count == 1)
        #expect(rig.all.allSatisfy { $0.fleet.snapshot().breakers.first?.probers == probers }, "every worker agrees")
        let prober = try #require(probers.first)

        rig.pass(.seconds(10))
        for member in rig.all where member.id != prober {
            #expect(await succeed(member.breaker).rejection == .fleetOpen, "\(member.id) waits for the prober")
            #expect(member.breaker.state == .open)
            #expect(member.breaker.isOpen)
        }
        #expect(await succeed(rig[prober].breaker).isSuccess)
        #expect(rig.state(prober) == .closed)
        rig.deliver()
        #expect(rig.all.allSatisfy { $0.breaker.state == .closed }, "closed together")
        for member in rig.all where member.id != prober {
            #expect(member.breaker.snapshot().totals.successes == 0, "\(member.id) never called the dependency")
        }
        // The opens reported before the recovery do not reopen anyone.
        rig.pass(.seconds(4))
        #expect(rig.all.allSatisfy { $0.breaker.state == .closed })
        #expect(rig["a"].fleet.snapshot().breakers.first?.fleetOpen == false)
    }

    @Test func aFailedProbeKeepsTheFleetOpenAndTheProberProbesAgain() async throws {
        let rig = try FleetRig(["a", "b", "c"])
        rig.heartbeat()
        await rig.fail("a")
        await rig.fail("b")
        let prober = try #require(rig["a"].fleet.snapshot().breakers.first?.probers.first)
        rig.pass(.seconds(10))
        #expect(await fail(rig[prober].breaker).isFailure)
        rig.deliver()
        #expect(rig.all.allSatisfy { $0.breaker.state == .open })
        rig.pass(.seconds(10))
        #expect(rig["a"].fleet.snapshot().breakers.first?.probers.first == prober)
        #expect(await succeed(rig[prober].breaker).isSuccess)
        rig.deliver()
        #expect(rig.all.allSatisfy { $0.breaker.state == .closed })
    }

    /// Three workers, two of them failing: the fleet holds the third, which waits for the
    /// prober once the open duration (10 s) is over.
    static func heldByTheFleet() async throws -> (rig: FleetRig, prober: String, held: FleetRig.Member) {
        let rig = try FleetRig(["a", "b", "c"])
        rig.heartbeat()
        await rig.fail("a")
        await rig.fail("b")
        let prober = try #require(rig["a"].fleet.snapshot().breakers.first?.probers.first)
        let held = try #require(rig.all.first { $0.id != prober })
        rig.pass(.seconds(10))
        #expect(!held.fleet.mayProbe("ml"))
        return (rig, prober, held)
    }

    @Test func aWorkerHeldWhileALiveProberNeverProbesProbesItselfAfterTheOpenDurationAndTheLiveness() async throws {
        // The prober is alive (it heartbeats) but has no calls: it never probes.
        let (rig, _, held) = try await Self.heldByTheFleet()
        rig.pass(.seconds(14))
        #expect(!held.fleet.mayProbe("ml"), "held 14 s: less than 10 s open + 6 s liveness")
        rig.pass(.seconds(2))
        // As the worker asks: the ML feature's check first, then the call's own permit.
        let features = FeatureFallback(clock: held.clock)
        features.register("ml_classification", breaker: held.breaker)
        #expect(features.offCause("ml_classification") == nil, "held 16 s: the feature is on again")
        #expect(held.fleet.mayProbe("ml"), "asking again does not take the answer back")
        #expect(await succeed(held.breaker).isSuccess, "held 16 s: it probes for the fleet")
        rig.deliver()
        #expect(rig.all.allSatisfy { $0.breaker.state == .closed })
    }

    @Test func aHeldWorkerWaitsAgainWheneverTheProberProbes() async throws {
        let (rig, prober, held) = try await Self.heldByTheFleet()
        for _ in 0..<3 {
            // Each failed probe reopens the prober for 10 s: always within the 16 s.
            #expect(await fail(rig[prober].breaker).isFailure)
            rig.deliver()
            rig.pass(.seconds(10))
            #expect(!held.fleet.mayProbe("ml"), "\(held.id) waits while the prober probes")
        }
    }

    @Test func whenTheProberDiesMidProbeTheNextInRankTakesOver() async throws {
        let rig = try FleetRig(["a", "b", "c", "d"])
        rig.heartbeat()
        for id in ["a", "b", "c"] { await rig.fail(id) }
        let ranked = try #require(rig["a"].fleet.snapshot().breakers.first?.probers)
        let prober = try #require(ranked.first)
        rig.pass(.seconds(10))
        // The prober admits its probe, then dies without a word.
        guard case .granted = rig[prober].breaker.acquirePermit() else {
            Issue.record("the prober was not granted its probe")
            return
        }
        rig.deliver()
        rig.silence(prober)
        let others = rig.all.filter { $0.id != prober }
        for member in others { #expect(!member.fleet.mayProbe("ml")) }
        rig.pass(.seconds(8))
        let successors = others.filter { $0.fleet.mayProbe("ml") }
        #expect(successors.count == 1, "exactly one takes over")
        let successor = try #require(successors.first)
        #expect(!(successor.fleet.snapshot().breakers.first?.peers.first { $0.report.worker == prober }?.live ?? true))
        #expect(await succeed(successor.breaker).isSuccess)
        rig.deliver()
        #expect(others.allSatisfy { $0.breaker.state == .closed })
    }

    @Test func liveWorkersComeAndGo() async throws {
        let rig = try FleetRig(["a", "b", "c"])
        rig.heartbeat()
        #expect(rig["a"].fleet.snapshot().liveWorkers == 3)
        // Joining.
        try rig.add("d")
        rig.heartbeat()
        #expect(rig["a"].fleet.snapshot().liveWorkers == 4)
        #expect(rig["a"].fleet.snapshot().breakers.first?.quorum == 3)
        // Dying without a departure: live until the liveness period passes.
        rig.silence("d")
        rig.pass(.seconds(6))
        #expect(rig["a"].fleet.snapshot().liveWorkers == 4)
        rig.pass(.seconds(2))
        #expect(rig["a"].fleet.snapshot().liveWorkers == 3)
        #expect(rig["a"].fleet.snapshot().breakers.first?.quorum == 2)
        // Coming back.
        try rig.add("d")
        rig.heartbeat()
        #expect(rig["a"].fleet.snapshot().liveWorkers == 4)
        // Stopping gracefully: gone at once.
        rig.depart("d")
        #expect(rig["a"].fleet.snapshot().liveWorkers == 3)
        #expect(rig["a"].fleet.snapshot().breakers.first?.peers.map(\.report.worker) == ["b", "c"])
    }

    @Test func aDeadWorkersOpenStopsCountingOnceItIsNoLongerLive() async throws {
        let rig = try FleetRig(["a", "b", "c", "d", "e"])
        rig.heartbeat()
        await rig.fail("a")
        await rig.fail("b")
        rig.silence("a")
        rig.silence("b")
        rig.pass(.seconds(8))
        // Three live workers now: quorum 2, and the two that reported open are gone.
        await rig.fail("c")
        #expect(rig.state("d") == .closed && rig.state("e") == .closed)
    }

    @Test func skewedClocksChangeNothing() async throws {
        // Clocks hours apart, wall clocks far apart (see the rig).
        let rig = try FleetRig(["a", "b", "c"], clockOffsets: [.zero, .seconds(7200), .seconds(-3600)])
        rig.heartbeat()
        #expect(rig.all.allSatisfy { $0.fleet.snapshot().liveWorkers == 3 })
        await rig.fail("a")
        await rig.fail("b")
        #expect(rig.state("c") == .open)
        let prober = try #require(rig["c"].fleet.snapshot().breakers.first?.probers.first)
        rig.pass(.seconds(10))
        #expect(await succeed(rig[prober].breaker).isSuccess)
        rig.deliver()
        #expect(rig.all.allSatisfy { $0.breaker.state == .closed })
    }

    @Test func reportsFromBeforeTheStartShowTheWorkerButDoNotMakeItLive() async throws {
        let rig = try FleetRig(["a"])
        rig.heartbeat()
        let old = BreakerReport(worker: "gone", breaker: "ml", state: .open, cause: .own, sequence: 9)
        let older = BreakerReport(worker: "gone2", breaker: "ml", state: .open, cause: .own, sequence: 3)
        rig["a"].fleet.receive(old, fresh: false)
        rig["a"].fleet.receive(older, fresh: false)
        let view = try #require(rig["a"].fleet.snapshot().breakers.first)
        #expect(view.peers.count == 2 && view.peers.allSatisfy { !$0.live && $0.lastHeardAgo == nil })
        #expect(view.liveWorkers == 1 && view.reportingOpen == 0)
        #expect(rig.state("a") == .closed)
        // A live worker's older or repeated report is ignored.
        rig["a"].fleet.receive(BreakerReport(worker: "gone", breaker: "ml", state: .closed, cause: .own, sequence: 10), fresh: true)
        rig["a"].fleet.receive(BreakerReport(worker: "gone", breaker: "ml", state: .open, cause: .own, sequence: 10), fresh: true)
        rig["a"].fleet.receive(BreakerReport(worker: "gone", breaker: "ml", state: .open, cause: .own, sequence: 2), fresh: true)
        #expect(rig["a"].fleet.snapshot().breakers.first?.peers.first?.report.state == .closed)
        #expect(rig["a"].fleet.snapshot().breakers.first?.peers.first?.live == true)
    }

    @Test func withoutItsOwnReportsReadBackAWorkerIsLocalOnly() async throws {
        let rig = try FleetRig(["a", "b", "c"])
        // Nothing delivered yet: local-only from the start.
        #expect(rig["c"].fleet.isLocalOnly)
        #expect(rig["c"].fleet.snapshot().localOnlyReason == "this worker's own reports not read back yet")
        rig.heartbeat()
        #expect(!rig["c"].fleet.isLocalOnly)

        // c's topic becomes unreachable: it reads nothing, so not its own reports either.
        rig.deafen("c")
        rig.pass(.seconds(8))
        #expect(rig["c"].fleet.isLocalOnly)
        #expect(rig["c"].fleet.snapshot().localOnlyReason?.hasPrefix("none of this worker's own reports read back for") == true)
        await rig.fail("a")
        await rig.fail("b")
        #expect(rig.state("c") == .closed, "a local-only worker is not opened by the fleet")
    }

    @Test func aWorkerThatTurnsLocalOnlyKeepsItsFleetOpeningThenProbesItself() async throws {
        let rig = try FleetRig(["a", "b", "c", "d", "e"])
        rig.heartbeat()
        for id in ["a", "b", "c"] { await rig.fail(id) }
        let follower = try #require(rig.all.first { $0.breaker.isOpenedByPeers && !$0.fleet.mayProbe("ml") && $0.id != rig["a"].fleet.snapshot().breakers.first?.probers.first })
        rig.deafen(follower.id)
        rig.pass(.seconds(4))
        #expect(follower.breaker.state == .open, "still open: the fleet only adds protection")
        rig.pass(.seconds(6))
        #expect(follower.fleet.isLocalOnly)
        #expect(follower.fleet.mayProbe("ml"), "local-only: its own probes decide")
        #expect(await succeed(follower.breaker).isSuccess)
        #expect(follower.breaker.state == .closed)
    }

    @Test(arguments: [
        (BreakerFleet.Configuration(workerID: "", rules: [:]), "workerID"),
        (BreakerFleet.Configuration(workerID: "a", heartbeat: .zero, rules: [:]), "heartbeat"),
        (BreakerFleet.Configuration(workerID: "a", heartbeat: .seconds(2), liveness: .seconds(2), rules: [:]), "liveness"),
        (BreakerFleet.Configuration(workerID: "a", rules: ["ml": .init(quorum: 1)]), "ml.quorum"),
        (BreakerFleet.Configuration(workerID: "a", rules: ["ml": .init(minimumQuorum: 0)]), "ml.minimumQuorum"),
        (BreakerFleet.Configuration(workerID: "a", rules: ["ml": .init(probers: 0)]), "ml.probers"),
        (BreakerFleet.Configuration(workerID: "a", rules: ["nope": .init()]), "nope"),
    ])
    func invalidSettingsNameTheirField(configuration: BreakerFleet.Configuration, field: String) throws {
        let breaker = try CircuitBreaker(name: "ml", clock: ManualClock())
        #expect(throws: CircuitBreaker.ConfigurationError.self) {
            try BreakerFleet(configuration: configuration, breakers: [breaker], wallClockMilliseconds: { 0 }) { _ in }
        }
        do {
            _ = try BreakerFleet(configuration: configuration, breakers: [breaker], wallClockMilliseconds: { 0 }) { _ in }
        } catch {
            #expect(error.field == field)
        }
    }
}

@Suite("Breaker peer advice")
struct BreakerPeerAdviceTests {
    final class Gate: CircuitBreakerCoordinator {
        let open = LockedValue(false)
        func mayProbe(_ breaker: String) -> Bool { open.withLock { $0 } }
    }

    @Test func peersOpenOnlyAClosedBreakerAndCloseOnlyAnOpenOrHalfOpenOne() async throws {
        let clock = ManualClock()
        let breaker = try CircuitBreaker(name: "ml", configuration: FleetRig.breakerConfiguration, clock: clock)
        #expect(!breaker.closeOnPeerAdvice())
        #expect(breaker.openOnPeerAdvice())
        #expect(breaker.isOpenedByPeers && breaker.snapshot().openedByPeers)
        #expect(!breaker.openOnPeerAdvice())
        #expect(await succeed(breaker).rejection == .fleetOpen)
        #expect(breaker.rejectIfOpen() == .fleetOpen)
        #expect(breaker.closeOnPeerAdvice())
        #expect(breaker.state == .closed && !breaker.isOpenedByPeers)

        breaker.forceOpen(reason: "maintenance")
        #expect(!breaker.closeOnPeerAdvice(), "an operator's choice stands")
        breaker.reset()
        breaker.forceClosed()
        #expect(!breaker.openOnPeerAdvice())
    }

    @Test func aCoordinatorHoldsAnOpenBreakerPastItsOpenDuration() async throws {
        let clock = ManualClock()
        let breaker = try CircuitBreaker(name: "ml", configuration: FleetRig.breakerConfiguration, clock: clock)
        let gate = Gate()
        breaker.coordinate(with: gate)
        _ = await fail(breaker)
        _ = await fail(breaker)
        clock.advance(by: .seconds(11))
        #expect(breaker.isOpen)
        #expect(breaker.rejectIfOpen() == .fleetOpen)
        #expect(await succeed(breaker).rejection == .fleetOpen)
        #expect(breaker.state == .open)
        gate.open.withLock { $0 = true }
        #expect(!breaker.isOpen)
        #expect(await succeed(breaker).isSuccess)
        #expect(breaker.state == .closed)
        breaker.coordinate(with: nil)
    }
}
