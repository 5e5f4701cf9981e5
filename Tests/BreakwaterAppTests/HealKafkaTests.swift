import AsyncHTTPClient
import Foundation
import Kafka
import Logging
import Locking
import Prometheus
import ServiceLifecycle
import ServiceTestSupport
import Testing
import Triage
import TriagePostgres
import TriageTestSupport

@testable import BreakwaterApp

/// Healing end to end: whole workers (`makeServiceGroup`) on the real broker, with the
/// real MLServer and PostgreSQL behind fault proxies that cut them, as an outage does.
/// Alerts sent during the outage come out provisional with a repair record each; once
/// the dependency is back every one of them gets exactly a revision 2 from it.
@Suite("Healing against the real broker, MLServer and PostgreSQL", .serialized, .timeLimit(.minutes(6)))
struct HealKafkaTests {
    static let logger: Logger = {
        var logger = Logger(label: "heal-tests")
        logger.logLevel = .critical
        return logger
    }()

    /// The outputs read so far, by topic role.
    final class Outputs: Sendable {
        let incidents = LockedValue<[IncidentRecord]>([])
        let events = LockedValue<[FallbackEventRecord]>([])
        let repairs = LockedValue<[RepairRecord]>([])

        func revisions(of ids: Set<String>) -> [String: [Int]] {
            incidents.withLock { all in
                Dictionary(grouping: all.filter { ids.contains($0.incidentID) }, by: \.incidentID).mapValues { $0.map(\.revision).sorted() }
            }
        }

        /// New outputs, and the task that reads them from the start until cancelled.
        static func reading(_ topics: TopicSettings, kafka: KafkaConfiguration) -> (Outputs, Task<Void, any Error>) {
            let outputs = Outputs()
            return (outputs, Task { try await outputs.read(topics, kafka: kafka) })
        }

        func read(_ topics: TopicSettings, kafka: KafkaConfiguration) async throws {
            let consumer = try KafkaConsumer(
                configuration: KafkaConsumerConfiguration(common: kafka, groupID: uniqueName("heal-reader"), offsetCommits: .manual),
                topics: [topics.classified, topics.fallbackEvents, topics.repair], logger: HealKafkaTests.logger)
            defer { Task { _ = await consumer.close() } }
            for try await event in consumer.events {
                guard case .message(let message) = event, let value = message.value else { continue }
                switch message.topic {
                case topics.classified: if let record = try? IncidentRecord.decode(value) { incidents.withLock { $0.append(record) } }
                case topics.fallbackEvents: if let record = try? FallbackEventRecord.decode(value) { events.withLock { $0.append(record) } }
                default: if let record = try? RepairRecord.decode(value) { repairs.withLock { $0.append(record) } }
                }
            }
        }
    }

    static let adminToken = "heal-tests-admin-token-0123"

    /// `GET /admin/heal` of `worker`.
    static func healStatus(_ worker: WorkerAssembly.Assembled) async throws -> HealBody {
        let port = try await worker.server.listeningPort()
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(HTTPRoutes.adminHeal)")
        request.headers.add(name: "authorization", value: "Bearer \(adminToken)")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        return try JSONDecoder().decode(HealBody.self, from: Data(body.readableBytesView))
    }

    /// A worker's configuration on fresh topics, ML and the catalog through `ml` and `postgres`.
    static func configuration(
        bootstrap: String, topics names: [String], group: String, ml: TCPFaultProxy, postgres: TCPFaultProxy, database: PostgresConfiguration,
        exactlyOnce: Bool
    ) -> BreakwaterConfiguration {
        var configuration = BreakwaterConfiguration()
        configuration.kafka.bootstrapServers = bootstrap
        configuration.kafka.groupId = group
        // A poll interval shorter than the ML test's outage, as the local stack's 15 s is
        // shorter than the demo's: the healer must stay in its group while it waits.
        configuration.kafka.properties = ["session.timeout.ms": "6000", "max.poll.interval.ms": "7000"]
        configuration.kafka.createTopics = false
        configuration.kafka.idleFetchBackoff = .milliseconds(50)
        configuration.topics.alerts = names[0]
        configuration.topics.classified = names[1]
        configuration.topics.fallbackEvents = names[2]
        configuration.topics.deadLetter = names[3]
        configuration.topics.repair = names[4]
        configuration.fleet.enabled = false
        configuration.pipeline.exactlyOnce = exactlyOnce
        configuration.pipeline.commitInterval = .milliseconds(200)
        configuration.pipeline.workerId = "heal-worker"
        configuration.ml.url = "http://\(ml.address)"
        configuration.ml.timeout = .seconds(5)
        configuration.catalog.postgresURL = DatabaseURL(
            "postgres://\(database.username)\(database.password.map { ":\($0)" } ?? "")@\(postgres.address)/\(database.database)")
        configuration.catalog.staticCatalogFile = repositoryRoot.appendingPathComponent("deploy/catalog.yaml").path
        // Nothing cached: every live lookup asks the primary (or falls back).
        configuration.catalog.cacheTTL = .milliseconds(1)
        configuration.catalog.staleTTL = .milliseconds(1)
        configuration.dedup.enabled = false
        configuration.rules.file = repositoryRoot.appendingPathComponent("deploy/rules.yaml").path
        for name in ["ml", "catalog"] {
            var breaker = BreakerSettings()
            breaker.failureThreshold = 2
            breaker.openDuration = .seconds(2)
            breaker.halfOpenMaxCalls = 1
            breaker.successThreshold = 1
            if name == "ml" { configuration.breakers.ml = breaker } else { configuration.breakers.catalog = breaker }
        }
        configuration.http.host = "127.0.0.1"
        configuration.http.port = 0
        configuration.http.adminToken = Secret(adminToken)
        configuration.heal.ratePerSecond = 1_000
        // Fewer places than repairs: the healer's in-flight bound fills during an outage,
        // so its consume loop stops polling, as in the demo.
        configuration.heal.batchSize = 8
        return configuration
    }

    /// Alertmanager webhooks, one alert each, of alerts the demo model classifies confidently.
    static func send(_ count: Int, run: String, to topic: String, kafka: KafkaConfiguration) async throws -> Set<String> {
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(common: kafka), logger: logger)
        var fingerprints: [String] = []
        var records: [KafkaProducerRecord] = []
        for index in 0..<count {
            let fingerprint = "\(run)-\(index)"
            fingerprints.append(fingerprint)
            let json = """
                {"alerts":[{"fingerprint":"\(fingerprint)","labels":{"alertname":"ServiceDown","severity":"critical","service":"checkout"},\
                "annotations":{"summary":"service is down"},"startsAt":"2026-12-07T00:00:00Z"}]}
                """
            records.append(KafkaProducerRecord(topic: topic, key: Array(fingerprint.utf8), value: Array(json.utf8)))
        }
        for result in await producer.send(records) { _ = try result.get() }
        _ = await producer.close()
        return Set(fingerprints)
    }

    /// The incident ids of `fingerprints`' alerts (one firing each).
    static func incidentIDs(_ outputs: Outputs, fingerprints: Set<String>) -> Set<String> {
        Set(outputs.incidents.withLock { $0 }.filter { fingerprints.contains($0.alert.fingerprint) }.map(\.incidentID))
    }

    /// Runs a whole worker of `configuration` until `body` returns; `hardStop` cancels it
    /// (a crash: nothing unfinished is committed) instead of a graceful shutdown.
    static func withWorker(
        _ configuration: BreakwaterConfiguration, hardStop: Bool = false, _ body: (WorkerAssembly.Assembled) async throws -> Void
    ) async throws {
        let assembled = try await WorkerAssembly(configuration: configuration, logger: logger).makeServiceGroup(metrics: PrometheusCollectorRegistry())
        let run = Task { try await assembled.serviceGroup.run() }
        do {
            try await body(assembled)
        } catch {
            run.cancel()
            _ = await run.result
            await assembled.shutdown()
            throw error
        }
        if hardStop {
            run.cancel()
        } else {
            await assembled.serviceGroup.triggerGracefulShutdown()
        }
        _ = await run.result
        await assembled.shutdown()
    }

    struct Rig {
        let kafka: KafkaConfiguration
        let topics: [String]
        let ml: TCPFaultProxy
        let postgres: TCPFaultProxy
        let database: PostgresConfiguration
    }

    static func withRig(_ body: (Rig) async throws -> Void) async throws {
        let bootstrap = try ExternalService.kafka.require()
        let kafka = KafkaConfiguration(bootstrapServers: [bootstrap], clientID: "heal-tests", properties: [:])
        let topics = try await TestTopics.create(
            ["heal.alerts", "heal.incidents", "heal.fallbacks", "heal.dlq", "heal.repair"], partitions: 2, configuration: kafka, logger: logger)
        let database = try PostgresConfiguration(url: try ExternalService.postgres.require())
        try await seedCatalog(database)
        let mlURL = try #require(URLComponents(string: try ExternalService.mlserver.require()))
        let ml = try await TCPFaultProxy.start(forwardingTo: try #require(mlURL.host), port: try #require(mlURL.port))
        let postgres = try await TCPFaultProxy.start(forwardingTo: database.host, port: database.port)
        let result: Result<Void, any Error>
        do {
            try await body(Rig(kafka: kafka, topics: topics, ml: ml, postgres: postgres, database: database))
            result = .success(())
        } catch {
            result = .failure(error)
        }
        await ml.stop()
        await postgres.stop()
        try result.get()
    }

    /// Loads deploy/catalog.yaml into the real database; idempotent (other suites seed it too).
    static func seedCatalog(_ database: PostgresConfiguration) async throws {
        var configuration = database
        configuration.operationTimeout = .seconds(60)
        configuration.statementTimeout = .seconds(60)
        let pool = try PostgresPool(configuration: configuration)
        let catalog = try StaticCatalog(contentsOf: repositoryRoot.appendingPathComponent("deploy/catalog.yaml"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await pool.run() }
            defer { group.cancelAll() }
            try await PostgresCatalog(pool: pool).seed(from: catalog)
        }
    }

    /// With the model cut off, every alert is classified by the rules and published
    /// provisional with a repair record; the healer waits on the open breaker; once the
    /// model is back every incident gets one revision 2 from `ml`, none a revision 3.
    @Test(.enabled(if: ExternalService.kafka.shouldRun && ExternalService.mlserver.shouldRun && ExternalService.postgres.shouldRun), arguments: [false, true])
    func rulesClassifiedDuringAnMLOutageAreHealedToTheModelOnce(exactlyOnce: Bool) async throws {
        try await Self.withRig { rig in
            let configuration = Self.configuration(
                bootstrap: rig.kafka.bootstrapServers.joined(separator: ","), topics: rig.topics, group: uniqueName("heal-ml"), ml: rig.ml,
                postgres: rig.postgres, database: rig.database, exactlyOnce: exactlyOnce)
            let (outputs, reader) = Outputs.reading(configuration.topics, kafka: rig.kafka)
            defer { reader.cancel() }
            await rig.ml.cut()
            try await Self.withWorker(configuration) { worker in
                let healer = try #require(worker.healer)
                let count = 20
                let sent = try await Self.send(count, run: uniqueName("ml-outage"), to: configuration.topics.alerts, kafka: rig.kafka)
                #expect(await eventually(within: .seconds(60)) { Self.incidentIDs(outputs, fingerprints: sent).count == count })
                let ids = Self.incidentIDs(outputs, fingerprints: sent)
                let first = outputs.incidents.withLock { $0.filter { ids.contains($0.incidentID) } }
                #expect(first.allSatisfy { $0.revision == 1 && $0.isProvisional && $0.healableSteps == [.classification] && $0.classification.classifier == .rules })
                #expect(await eventually(within: .seconds(30)) { Set(outputs.repairs.withLock { $0 }.map(\.incident.incidentID)).isSuperset(of: ids) })
                // The healer holds its repairs on the open breaker and calls nothing.
                #expect(await eventually(within: .seconds(30)) { healer.gate.status.waitingOnBreakers[BreakerName.ml, default: 0] > 0 })
                #expect(outputs.revisions(of: ids).values.allSatisfy { $0 == [1] })
                // Pending as the healer's last reading (every 2 s) has it: the group's backlog,
                // whatever the healer's assignment. A reading is a few broker requests, each
                // bounded by 5 s: the bound leaves room for several on a loaded machine.
                #expect(await eventually(within: .seconds(60)) { ((try? await Self.healStatus(worker))?.pending ?? 0) > 0 })
                let paused = try await Self.healStatus(worker)
                #expect(paused.enabled && paused.pausedOn == [BreakerName.ml] && paused.steps == ["enrichment", "classification"])
                // The outage outlasts the configured max.poll.interval.ms (7 s): a healer
                // that left its group would publish its heals, fail to commit them and heal
                // them again (a second revision 2 of the same incident).
                try await Task.sleep(for: .seconds(9))

                await rig.ml.restore()
                #expect(await eventually(within: .seconds(90)) { outputs.revisions(of: ids).values.allSatisfy { $0.contains(2) } },
                        "not healed: \(outputs.revisions(of: ids).filter { !$0.value.contains(2) }.keys.sorted())")
                let healed = outputs.incidents.withLock { $0.filter { ids.contains($0.incidentID) && $0.revision == 2 } }
                // Healed once per repair record: a healer that had left its group would heal
                // what it could not commit again. (A live-path redelivery may write an
                // incident and its repair twice; each repair then heals, to revision 2 still.)
                let repairs = Dictionary(grouping: outputs.repairs.withLock { $0 }.filter { ids.contains($0.incident.incidentID) }, by: \.incident.incidentID)
                #expect(outputs.revisions(of: ids).allSatisfy { id, seen in seen.filter { $0 == 2 }.count <= repairs[id]?.count ?? 0 },
                        "healed more often than repaired: \(outputs.revisions(of: ids)) against \(repairs.mapValues(\.count))")
                #expect(healed.allSatisfy { $0.classification.classifier == .ml && $0.supersedes == 1 && $0.healedAt != nil && !$0.isProvisional })
                #expect(healed.allSatisfy { $0.provenance.classification.source == .primary || $0.provenance.classification.fallbackUsed })
                #expect(await eventually(within: .seconds(30)) {
                    Set(outputs.events.withLock { $0 }.filter { $0.reason == .healed }.map(\.incidentID)).isSuperset(of: ids)
                })
                #expect(healer.metrics.counts.healed[.classification, default: 0] >= count)
                let done = try await Self.healStatus(worker)
                #expect(done.pausedOn.isEmpty && done.healed["classification", default: 0] >= count && done.lastLagSeconds != nil)
            }
            #expect(outputs.revisions(of: Set(outputs.incidents.withLock { $0 }.map(\.incidentID))).values.allSatisfy { $0.allSatisfy { $0 <= 2 } },
                    "no incident has a revision 3")
        }
    }

    /// The catalog step: with PostgreSQL cut off the static file enriches (provisional);
    /// once it is back each incident's revision 2 is enriched by the primary.
    @Test(.enabled(if: ExternalService.kafka.shouldRun && ExternalService.mlserver.shouldRun && ExternalService.postgres.shouldRun))
    func staticCatalogEnrichmentDuringAPostgresOutageIsHealedToThePrimary() async throws {
        try await Self.withRig { rig in
            var configuration = Self.configuration(
                bootstrap: rig.kafka.bootstrapServers.joined(separator: ","), topics: rig.topics, group: uniqueName("heal-pg"), ml: rig.ml,
                postgres: rig.postgres, database: rig.database, exactlyOnce: false)
            configuration.catalog.statementTimeout = .seconds(2)
            let (outputs, reader) = Outputs.reading(configuration.topics, kafka: rig.kafka)
            defer { reader.cancel() }
            await rig.postgres.cut()
            try await Self.withWorker(configuration) { _ in
                let count = 10
                let sent = try await Self.send(count, run: uniqueName("pg-outage"), to: configuration.topics.alerts, kafka: rig.kafka)
                #expect(await eventually(within: .seconds(60)) { Self.incidentIDs(outputs, fingerprints: sent).count == count })
                let ids = Self.incidentIDs(outputs, fingerprints: sent)
                let first = outputs.incidents.withLock { $0.filter { ids.contains($0.incidentID) } }
                #expect(first.allSatisfy { $0.isProvisional && $0.healableSteps.contains(.enrichment) && $0.provenance.enrichment.source == .static })
                await rig.postgres.restore()
                #expect(await eventually(within: .seconds(90)) { outputs.revisions(of: ids).values.allSatisfy { $0.contains(2) } })
                let healed = outputs.incidents.withLock { $0.filter { ids.contains($0.incidentID) && $0.revision == 2 } }
                #expect(healed.allSatisfy { $0.provenance.enrichment == StepProvenance(source: .primary, fallbackUsed: false) && $0.enrichment?.name == "checkout" })
                #expect(outputs.revisions(of: ids).values.allSatisfy { $0.allSatisfy { $0 <= 2 } })
            }
        }
    }

    /// A worker stopped hard while healing (its uncommitted repairs redelivered): the
    /// restarted one heals the rest; nothing is left unhealed and nothing goes past revision 2.
    @Test(.enabled(if: ExternalService.kafka.shouldRun && ExternalService.mlserver.shouldRun && ExternalService.postgres.shouldRun))
    func aWorkerKilledWhileHealingLeavesNothingUnhealedAndNoRevisionThree() async throws {
        try await Self.withRig { rig in
            var configuration = Self.configuration(
                bootstrap: rig.kafka.bootstrapServers.joined(separator: ","), topics: rig.topics, group: uniqueName("heal-kill"), ml: rig.ml,
                postgres: rig.postgres, database: rig.database, exactlyOnce: false)
            configuration.heal.ratePerSecond = 10
            let (outputs, reader) = Outputs.reading(configuration.topics, kafka: rig.kafka)
            defer { reader.cancel() }
            await rig.ml.cut()
            let count = 60
            var ids: Set<String> = []
            try await Self.withWorker(configuration, hardStop: true) { _ in
                let sent = try await Self.send(count, run: uniqueName("kill"), to: configuration.topics.alerts, kafka: rig.kafka)
                #expect(await eventually(within: .seconds(60)) { Self.incidentIDs(outputs, fingerprints: sent).count == count })
                ids = Self.incidentIDs(outputs, fingerprints: sent)
                await rig.ml.restore()
                // Killed part-way: some healed, most not.
                #expect(await eventually(within: .seconds(60)) { outputs.revisions(of: ids).values.filter { $0.contains(2) }.count >= 5 })
            }
            let healedBeforeTheKill = outputs.revisions(of: ids).values.filter { $0.contains(2) }.count
            #expect(healedBeforeTheKill < count, "the kill came after all were healed; the test proves nothing")
            configuration.heal.ratePerSecond = 1_000
            try await Self.withWorker(configuration) { _ in
                #expect(await eventually(within: .seconds(90)) { outputs.revisions(of: ids).values.allSatisfy { $0.contains(2) } },
                        "not healed after the restart: \(outputs.revisions(of: ids).filter { !$0.value.contains(2) }.count)")
            }
            #expect(outputs.revisions(of: ids).count == count)
            #expect(outputs.revisions(of: ids).values.allSatisfy { $0.allSatisfy { $0 <= 2 } }, "no incident has a revision 3")
        }
    }

    /// Exactly-once, a worker stopped gracefully while its healer waits on the open ML
    /// breaker: the healer holds no transaction open through the outage, so the worker
    /// stops (it does not wait for the model), `/admin/heal` keeps reading the pending
    /// repairs while a second member joins the healer's group, and the next worker heals
    /// every incident once the model is back.
    @Test(.enabled(if: ExternalService.kafka.shouldRun && ExternalService.mlserver.shouldRun && ExternalService.postgres.shouldRun))
    func anExactlyOnceWorkerStopsDuringAnOutageWithoutHoldingATransactionAndItsSuccessorHeals() async throws {
        try await Self.withRig { rig in
            let configuration = Self.configuration(
                bootstrap: rig.kafka.bootstrapServers.joined(separator: ","), topics: rig.topics, group: uniqueName("heal-stop"), ml: rig.ml,
                postgres: rig.postgres, database: rig.database, exactlyOnce: true)
            let (outputs, reader) = Outputs.reading(configuration.topics, kafka: rig.kafka)
            defer { reader.cancel() }
            await rig.ml.cut()
            let count = 4
            var ids: Set<String> = []
            let assembled = try await WorkerAssembly(configuration: configuration, logger: Self.logger).makeServiceGroup(metrics: PrometheusCollectorRegistry())
            let run = Task { try await assembled.serviceGroup.run() }
            let sent = try await Self.send(count, run: uniqueName("stop"), to: configuration.topics.alerts, kafka: rig.kafka)
            #expect(await eventually(within: .seconds(60)) { Self.incidentIDs(outputs, fingerprints: sent).count == count })
            ids = Self.incidentIDs(outputs, fingerprints: sent)
            #expect(await eventually(within: .seconds(30)) { Set(outputs.repairs.withLock { $0 }.map(\.incident.incidentID)).isSuperset(of: ids) })
            // The healer holds a repair before admitting it: no heal is in flight.
            let healer = try #require(assembled.healer)
            #expect(await eventually(within: .seconds(30)) { healer.gate.status.waitingOnBreakers[BreakerName.ml, default: 0] > 0 })
            #expect(healer.worker.inFlight == 0 && healer.worker.transactionStatistics.committed == 0)
            #expect(try await Self.healStatus(assembled).pausedOn == [BreakerName.ml])
            // A second member of the healer's group: a rebalance starts mid-outage.
            var kafka = rig.kafka
            kafka.properties["session.timeout.ms"] = "6000"
            let joining = KafkaConsumerConfiguration(common: kafka, groupID: configuration.kafka.groupId + ".healer", offsetCommits: .manual)
            let member = try KafkaConsumer(configuration: joining, topics: [configuration.topics.repair], logger: Self.logger)
            let polling = Task { for try await _ in member.events {} }
            defer { polling.cancel() }
            try await Task.sleep(for: .seconds(4))
            #expect(await eventually(within: .seconds(60)) { ((try? await Self.healStatus(assembled))?.pending ?? 0) > 0 },
                    "pending not read during the outage")
            polling.cancel()
            await member.close()
            await assembled.serviceGroup.triggerGracefulShutdown()
            let stopped = LockedValue(false)
            let waiter = Task {
                _ = await run.result
                stopped.withLock { $0 = true }
            }
            #expect(await eventually(within: .seconds(45)) { stopped.withLock { $0 } }, "the worker did not stop while the model was down")
            await rig.ml.restore()
            _ = await waiter.result
            await assembled.shutdown()
            #expect(outputs.revisions(of: ids).values.allSatisfy { $0 == [1] })
            try await Self.withWorker(configuration) { _ in
                #expect(await eventually(within: .seconds(90)) { outputs.revisions(of: ids).values.allSatisfy { $0.contains(2) } },
                        "not healed by the successor: \(outputs.revisions(of: ids))")
            }
            #expect(outputs.revisions(of: ids).values.allSatisfy { $0 == [1, 2] }, "\(outputs.revisions(of: ids))")
        }
    }
}
