import BreakwaterApp
import Foundation
import Kafka
import Logging
import Resilience
import ServiceLifecycle
import ServiceTestSupport
import Testing
import TriageTestSupport

@Suite("breaker-state records")
struct BreakerStateRecordTests {
    static let schema: JSONSchemaValidator = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        // swiftlint:disable:next force_try
        return try! JSONSchemaValidator(schemaBytes: Array(try! Data(contentsOf: root.appendingPathComponent("deploy/schemas/breaker-state.schema.json"))))
    }()

    @Test(arguments: CircuitBreakerState.allCases)
    func aRecordReadsBackAsWrittenAndFollowsItsSchema(state: CircuitBreakerState) throws {
        for cause in BreakerReport.Cause.allCases {
            let report = BreakerReport(
                worker: "worker/1", breaker: "ml", state: state, cause: cause, failureRate: 0.25, slowCallRate: 1,
                callsInWindow: 20, openCount: 3, reportedAtMilliseconds: 1_796_000_000_123, sequence: 1 << 60)
            let record = BreakerStateRecord(groupID: "group", report: report)
            let value = record.value()
            #expect(try Self.schema.validate(bytes: value).isEmpty)
            #expect(try BreakerStateRecord(value: value) == record)
            let key = try #require(BreakerStateRecord.Key(bytes: record.key.bytes))
            #expect(key == BreakerStateRecord.Key(breaker: "ml", groupID: "group", workerID: "worker/1"))
        }
        #expect(String(decoding: BreakerStateRecord(groupID: "g", report: .init(worker: "w", breaker: "ml", state: state, cause: .own, sequence: 1)).key.bytes, as: UTF8.self)
            == #"{"breaker":"ml","group_id":"g","worker_id":"w"}"#)
    }

    @Test func theDocumentedExampleIsWhatTheEncoderWrites() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let example = try Data(contentsOf: root.appendingPathComponent("deploy/schemas/examples/breaker-state.example.json"))
        let record = BreakerStateRecord(groupID: "breakwater", report: BreakerReport(
            worker: "breakwater-7d9f-x2k4p", breaker: "ml", state: .open, cause: .own, failureRate: 1, slowCallRate: 0,
            callsInWindow: 20, consecutiveFailures: 0, openCount: 3, reportedAtMilliseconds: 1_796_553_683_123,
            sequence: (1_796_553_683_123 << 20) + 42))
        let written = try #require(try JSONSerialization.jsonObject(with: Data(record.value())) as? NSDictionary)
        let documented = try #require(try JSONSerialization.jsonObject(with: example) as? NSDictionary)
        #expect(written == documented)
        #expect(try Self.schema.validate(bytes: Array(example)).isEmpty)
    }

    @Test func whatIsNotARecordIsRefused() {
        let valid = BreakerStateRecord(groupID: "g", report: .init(worker: "w", breaker: "ml", state: .open, cause: .own, sequence: 1)).value()
        let text = String(decoding: valid, as: UTF8.self)
        for broken in [
            text.replacingOccurrences(of: #""state":"open""#, with: #""state":"ajar""#),
            text.replacingOccurrences(of: #""cause":"own""#, with: #""cause":"rumour""#),
            text.replacingOccurrences(of: #""schema_version":1"#, with: #""schema_version":2"#),
            text.replacingOccurrences(of: #","worker_id":"w""#, with: ""),
            "not json",
        ] {
            #expect(throws: (any Error).self, "\(broken)") { try BreakerStateRecord(value: Array(broken.utf8)) }
        }
        #expect(BreakerStateRecord.Key(bytes: Array("ml/w".utf8)) == nil)
    }
}

/// Workers sharing a breaker through a real topic on the broker scripts/kafka-up started.
@Suite("breaker fleet over the real broker", .serialized, .timeLimit(.minutes(3)))
struct BreakerFleetKafkaTests {
    static let logger = Logger(label: "fleet-tests")

    final class Worker: Sendable {
        let id: String
        let breaker: CircuitBreaker
        let service: BreakerFleetService
        let group: ServiceGroup
        let task: Task<Void, any Error>

        init(_ id: String, group groupID: String, topic: String, bootstrap: String) throws {
            self.id = id
            var configuration = BreakwaterConfiguration()
            configuration.kafka.bootstrapServers = bootstrap
            configuration.kafka.groupId = groupID
            configuration.topics.breakerState = topic
            configuration.pipeline.workerId = id
            configuration.fleet.heartbeat = .milliseconds(500)
            // Long, so that a broker slowed by the rest of the suite never makes a worker
            // look gone (or itself local-only) mid-test: a clean clone's CI run once took
            // over 3 s to bring reports back, and the waiting workers probed. Departures
            // come from tombstones, which this test checks, not from expiry.
            configuration.fleet.liveness = .seconds(30)
            let registry = try CircuitBreakerRegistry()
            breaker = try registry.breaker(named: "ml", configuration: .init(
                failureThreshold: 2, openDuration: .fixed(.seconds(2)), halfOpenProbes: 1, successThreshold: 1))
            service = try BreakerFleetService(configuration: configuration, breakers: registry, logger: BreakerFleetKafkaTests.logger)
            let group = ServiceGroup(configuration: .init(services: [.init(service: service)], logger: BreakerFleetKafkaTests.logger))
            self.group = group
            task = Task { try await group.run() }
        }

        var fleet: BreakerFleet { service.fleet }
        var view: BreakerFleet.BreakerView? { fleet.snapshot().breakers.first }

        func failTwice() async {
            for _ in 0..<2 { _ = await breaker.execute { () async throws -> Int in throw CancellationErrorStandIn() } }
        }

        func stop() async {
            await group.triggerGracefulShutdown()
            _ = await task.result
        }
    }

    struct CancellationErrorStandIn: Error {}

    @Test func threeWorkersOpenTogetherProbeOnceAndCloseTogether() async throws {
        let bootstrap = try ExternalService.kafka.require()
        let configuration = ToolsKafkaTests.kafka(bootstrap)
        let topic = try await TestTopics.create(["fleet"], partitions: 1, configuration: configuration, logger: Self.logger)[0]
        defer { Task { await TestTopics.delete([topic], configuration: configuration, logger: Self.logger) } }
        let group = uniqueName("fleet-group")
        let workers = try ["a", "b", "c"].map { try Worker($0, group: group, topic: topic, bootstrap: bootstrap) }
        // A worker of another group on the same topic is not part of this fleet.
        let stranger = try Worker("d", group: uniqueName("other-group"), topic: topic, bootstrap: bootstrap)
        defer { Task { await stranger.stop() } }

        #expect(await eventually { workers.allSatisfy { !$0.fleet.isLocalOnly && $0.view?.liveWorkers == 3 } })
        let (a, b, c) = (workers[0], workers[1], workers[2])

        await a.failTwice()
        await b.failTwice()
        #expect(await eventually { c.breaker.isOpenedByPeers }, "two of three is a quorum")
        #expect(await c.breaker.execute { 1 }.rejectionReason == .fleetOpen)

        // Every worker names the same single prober.
        var prober = ""
        #expect(await eventually {
            let named = workers.map { $0.view?.probers ?? [] }
            guard let first = named.first, first.count == 1, named.allSatisfy({ $0 == first }) else { return false }
            prober = first[0]
            return true
        })
        let probing = try #require(workers.first { $0.id == prober })
        let waiting = workers.filter { $0.id != prober }
        // Once the prober may probe, the others still may not.
        #expect(await eventually { !probing.breaker.isOpen })
        for worker in waiting {
            #expect(await worker.breaker.execute { 1 }.rejectionReason == .fleetOpen, "\(worker.id) waits for \(prober)")
        }
        #expect(await probing.breaker.execute { 1 }.rejectionReason == nil)
        #expect(probing.breaker.state == .closed)
        #expect(await eventually { workers.allSatisfy { $0.breaker.state == .closed } }, "closed together")
        for worker in waiting {
            #expect(worker.breaker.snapshot().totals.successes == 0, "\(worker.id) never called the dependency")
        }

        // A graceful stop leaves at once (its tombstone), not after the liveness period.
        await c.stop()
        #expect(await eventually { a.view?.peers.map(\.report.worker) == ["b"] && a.fleet.snapshot().liveWorkers == 2 })
        await a.stop()
        await b.stop()
    }
}

extension CallOutcome {
    var rejectionReason: RejectionReason? {
        if case .rejected(let reason) = self { return reason }
        return nil
    }
}

/// A worker whose broker cannot be reached: the fleet service keeps retrying, the breakers
/// decide alone, and a graceful stop still ends.
@Suite("breaker fleet without a broker", .timeLimit(.minutes(2)))
struct BreakerFleetUnreachableTests {
    @Test func withNoBrokerTheBreakersDecideAloneAndTheServiceStillStops() async throws {
        let worker = try BreakerFleetKafkaTests.Worker(
            "lonely", group: uniqueName("fleet-group"), topic: "fleet-nowhere", bootstrap: "127.0.0.1:1")
        #expect(worker.fleet.isLocalOnly)
        #expect(worker.fleet.snapshot().localOnlyReason == "this worker's own reports not read back yet")
        // Its own failures open its breaker; when its open duration is over, it probes itself.
        await worker.failTwice()
        #expect(worker.breaker.state == .open && !worker.breaker.isOpenedByPeers)
        #expect(worker.fleet.mayProbe("ml"))
        // The tombstones cannot be written; the stop ends all the same.
        await worker.stop()
        #expect(worker.fleet.isLocalOnly)
    }
}
