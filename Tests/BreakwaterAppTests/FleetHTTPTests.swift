import Foundation
import Resilience
import Testing
import Triage

@testable import BreakwaterApp

@Suite struct FleetHTTPTests {
    @Test func readinessAndTheBreakerListShowTheFleetWithoutFailingReadiness() async throws {
        var fixture = try HTTPFixture()
        let breaker = fixture.breakers.breaker(named: BreakerName.ml)
        let fleet = try BreakerFleet(
            configuration: .init(workerID: "me", rules: [BreakerName.ml: .init()]), breakers: [breaker], clock: ManualClock(),
            wallClockMilliseconds: { 1_796_553_683_123 }
        ) { _ in }
        defer { fleet.detach() }
        fixture.fleet = fleet
        fixture.readiness.setConsumerJoinedGroup(true)
        fixture.readiness.setProducerConnected(true)

        func read() async throws -> (ReadinessBody, BreakerListBody) {
            try await fixture.withServer { client in
                let ready = try await client.request(.get, HTTPRoutes.ready).decode(ReadinessBody.self)
                let list = try await client.request(.get, HTTPRoutes.adminBreakers, token: testAdminToken).decode(BreakerListBody.self)
                return (ready, list)
            }
        }

        let (alone, aloneList) = try await read()
        #expect(alone.status == "ready", "a local-only fleet never fails readiness")
        #expect(alone.fleet == "local_only: this worker's own reports not read back yet")
        #expect(aloneList.fleet?.mode == "local_only")

        fleet.receive(BreakerReport(worker: "me", breaker: BreakerName.ml, state: .closed, cause: .own, sequence: 1), fresh: true)
        fleet.receive(
            BreakerReport(
                worker: "other", breaker: BreakerName.ml, state: .open, cause: .own, failureRate: 1, callsInWindow: 20, openCount: 2,
                reportedAtMilliseconds: 1_796_553_683_123, sequence: 7),
            fresh: true)
        let (shared, list) = try await read()
        #expect(shared.fleet == "shared")
        let body = try #require(list.fleet)
        #expect(body.workerId == "me" && body.mode == "shared" && body.localOnlyReason == nil && body.liveWorkers == 2)
        let ml = try #require(body.breakers.first)
        #expect(ml.name == BreakerName.ml && ml.quorum == 2 && ml.reportingOpen == 1 && !ml.fleetOpen && !ml.openedByFleet)
        let peer = try #require(ml.peers.first)
        #expect(peer.workerId == "other" && peer.state == "open" && peer.cause == "own" && peer.live)
        #expect(peer.failureRate == 1 && peer.callsInWindow == 20 && peer.openCount == 2)
        #expect(peer.reportedAt == "2026-12-06T10:41:23.123Z")
        #expect(list.breakers.first { $0.name == BreakerName.ml }?.openedByFleet == false)
    }
}
