import AsyncHTTPClient
import Foundation
import Glibc
import Kafka
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle
import ServiceTestSupport
import Locking
import Testing
import Triage
import TriageTestSupport

@testable import BreakwaterApp

/// End to end with the real senders: a worker with ingest on, and a real Alertmanager
/// (Debian's package) whose only receiver is `webhook_configs: [{url: …/ingest/alertmanager}]`.
/// Alerts fired and then resolved through Alertmanager's API must come out of the worker
/// as incidents, firing and resolved, every one.
@Suite("HTTP ingest with a real Alertmanager", .serialized, .timeLimit(.minutes(4)))
struct AlertmanagerIngestTests {
    static let logger: Logger = {
        var logger = Logger(label: "alertmanager-ingest-tests")
        logger.logLevel = .critical
        return logger
    }()
    static let token = "alertmanager-ingest-token-0123"

    /// A whole worker (rules only, static catalog) with ingest on, on fresh topics.
    static func configuration(bootstrap: String) async throws -> BreakwaterConfiguration {
        let kafka = KafkaConfiguration(bootstrapServers: [bootstrap], clientID: "am-tests", properties: [:])
        let names = try await TestTopics.create(["am.alerts", "am.incidents", "am.fallbacks", "am.dlq", "am.repair"], partitions: 2,
                                                configuration: kafka, logger: logger)
        var configuration = BreakwaterConfiguration()
        configuration.kafka.bootstrapServers = bootstrap
        configuration.kafka.groupId = uniqueName("am-group")
        configuration.kafka.assignmentStrategy = .range
        configuration.kafka.properties = ["receive.message.max.bytes": "1000000000", "session.timeout.ms": "6000"]
        configuration.kafka.createTopics = false
        configuration.topics.alerts = names[0]
        configuration.topics.classified = names[1]
        configuration.topics.fallbackEvents = names[2]
        configuration.topics.deadLetter = names[3]
        configuration.topics.repair = names[4]
        configuration.ml.enabled = false
        configuration.dedup.enabled = false
        // Nobody listens there: enrichment comes from the static catalog.
        configuration.catalog.postgresURL = DatabaseURL("postgres://breakwater@127.0.0.1:1/breakwater")
        configuration.catalog.staticCatalogFile = repositoryRoot.appendingPathComponent("deploy/catalog.yaml").path
        configuration.rules.file = repositoryRoot.appendingPathComponent("deploy/rules.yaml").path
        configuration.http.host = "127.0.0.1"
        configuration.http.port = 0
        configuration.ingest.enabled = true
        configuration.ingest.alertmanager.bearerToken = Secret(token)
        configuration.pipeline.workerId = "am-worker"
        return configuration
    }

    /// Alertmanager's configuration: every alert to the worker's ingest route, grouped per
    /// instance, sent at once and again on resolve.
    static func alertmanagerConfig(ingestURL: String) -> String {
        """
        route:
          receiver: breakwater
          group_by: [alertname, instance]
          group_wait: 100ms
          group_interval: 500ms
          repeat_interval: 1h
        receivers:
          - name: breakwater
            webhook_configs:
              - url: \(ingestURL)
                send_resolved: true
                http_config:
                  authorization:
                    credentials: \(token)
        """
    }

    /// `count` alerts as Alertmanager's API takes them, ending at `endsAt`.
    static func alerts(_ count: Int, run: String, endsAt: Date) -> String {
        let formatter = ISO8601DateFormatter()
        let items = (0..<count).map { index in
            """
            {"labels":{"alertname":"KubePodCrashLooping","severity":"critical","service":"payments-api","instance":"\(run)-\(index)"},\
            "annotations":{"summary":"Pod \(run)-\(index) is crash looping"},\
            "startsAt":"\(formatter.string(from: endsAt.addingTimeInterval(-600)))","endsAt":"\(formatter.string(from: endsAt))"}
            """
        }
        return "[" + items.joined(separator: ",") + "]"
    }

    static func post(_ url: String, json: String) async throws -> UInt {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: json))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        return response.status.code
    }

    @Test(.enabled(if: ExternalService.kafka.shouldRun && ExternalService.alertmanager.shouldRun))
    func alertsFiredAndResolvedThroughAlertmanagerAllBecomeIncidents() async throws {
        let bootstrap = try ExternalService.kafka.require()
        let binary = try ExternalService.alertmanager.require()
        let configuration = try await Self.configuration(bootstrap: bootstrap)
        let assembly = WorkerAssembly(configuration: configuration, logger: Self.logger)
        let assembled = try await assembly.makeServiceGroup(metrics: PrometheusCollectorRegistry())
        let storage = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("alertmanager"))
        try FileManager.default.createDirectory(at: storage, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: storage) }

        let reader = IncidentReader()
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await assembled.serviceGroup.run() }
            tasks.addTask { try await reader.read(configuration, logger: Self.logger) }
            let alertmanager = Process()
            defer {
                if alertmanager.isRunning { alertmanager.terminate(); alertmanager.waitUntilExit() }
            }
            do {
                let port = try await assembled.server.listeningPort()
                let ingestURL = "http://127.0.0.1:\(port)\(HTTPRoutes.ingestAlertmanager)"
                let configFile = storage.appendingPathComponent("alertmanager.yml")
                try Self.alertmanagerConfig(ingestURL: ingestURL).write(to: configFile, atomically: true, encoding: .utf8)
                let webPort = try freeLocalPort()
                alertmanager.executableURL = URL(fileURLWithPath: binary)
                alertmanager.arguments = [
                    "--config.file=\(configFile.path)", "--storage.path=\(storage.path)",
                    "--web.listen-address=127.0.0.1:\(webPort)", "--cluster.listen-address=", "--log.level=warn",
                ]
                alertmanager.standardOutput = FileHandle.nullDevice
                try alertmanager.run()
                let api = "http://127.0.0.1:\(webPort)"
                _ = try await eventuallySucceeding(within: .seconds(30)) {
                    let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "\(api)/-/ready"), timeout: .seconds(2))
                    guard response.status == .ok else { throw CancellationError() }
                }

                let run = uniqueName("am")
                let count = 12
                let firing = Set((0..<count).map { "\(run)-\($0) firing" })
                let resolved = Set((0..<count).map { "\(run)-\($0) resolved" })
                #expect(try await Self.post("\(api)/api/v2/alerts", json: Self.alerts(count, run: run, endsAt: Date().addingTimeInterval(3_600))) == 200)
                #expect(await eventually(within: .seconds(60)) { reader.seen.withLock { firing.isSubset(of: $0) } },
                        "firing incidents missing: \(firing.subtracting(reader.seen.withLock { $0 }).sorted())")
                // Resolving: the same alerts with an end in the past.
                #expect(try await Self.post("\(api)/api/v2/alerts", json: Self.alerts(count, run: run, endsAt: Date().addingTimeInterval(-1))) == 200)
                #expect(await eventually(within: .seconds(60)) { reader.seen.withLock { resolved.isSubset(of: $0) } },
                        "resolved incidents missing: \(resolved.subtracting(reader.seen.withLock { $0 }).sorted())")
                // A PagerDuty client and a CloudEvents sender in binary mode, the same way.
                let ingest = "http://127.0.0.1:\(port)"
                let pagerDuty = IngestPayloads.pagerDuty(dedupKey: "\(run)-pd")
                #expect(try await Self.post("\(ingest)\(HTTPRoutes.ingestPagerDuty)", json: pagerDuty) == 202)
                var cloudEvent = HTTPClientRequest(url: "\(ingest)\(HTTPRoutes.ingestCloudEvents)")
                cloudEvent.method = .POST
                for (name, value) in [("content-type", "application/json"), ("ce-specversion", "1.0"), ("ce-id", "\(run)-ce"),
                                      ("ce-source", "/monitoring/prometheus"), ("ce-type", "com.example.alert")] {
                    cloudEvent.headers.add(name: name, value: value)
                }
                cloudEvent.body = .bytes(ByteBuffer(string:
                    #"{"labels":{"alertname":"HighErrorRate","severity":"warning","service":"checkout","instance":""# + run + #"-ce"}}"#))
                #expect(try await HTTPClient.shared.execute(cloudEvent, timeout: .seconds(10)).status.code == 202)
                let others: Set<String> = ["\(run)-pd firing", "\(run)-ce firing"]
                #expect(await eventually(within: .seconds(60)) { reader.seen.withLock { others.isSubset(of: $0) } },
                        "incidents missing: \(others.subtracting(reader.seen.withLock { $0 }).sorted())")
                // Every record on the alerts topic came through an ingest route.
                #expect(reader.routes.withLock { $0 } == ["alertmanager", "pagerduty", "cloudevents"])
            } catch {
                await assembled.serviceGroup.triggerGracefulShutdown()
                tasks.cancelAll()
                throw error
            }
            await assembled.serviceGroup.triggerGracefulShutdown()
            tasks.cancelAll()
            try? await tasks.waitForAll()
        }
        await assembled.shutdown()
    }
}

/// Reads the incidents topic (and the alerts topic's route headers) while the test runs.
final class IncidentReader: Sendable {
    /// "<instance label (PagerDuty: its dedup key)> <alert status>" of every incident read.
    let seen = LockedValue<Set<String>>([])
    /// The `breakwater-ingest-route` header of every record on the alerts topic.
    let routes = LockedValue<Set<String>>([])

    func read(_ configuration: BreakwaterConfiguration, logger: Logger) async throws {
        let kafka = configuration.kafka.clientConfiguration(clientID: "am-tests-reader")
        let consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(common: kafka, groupID: uniqueName("am-reader"), offsetCommits: .manual),
            topics: [configuration.topics.classified, configuration.topics.alerts], logger: logger)
        defer { Task { _ = await consumer.close() } }
        for try await event in consumer.events {
            guard case .message(let message) = event, let value = message.value else { continue }
            if message.topic == configuration.topics.alerts {
                let route = message.headers.last { $0.name == AlertIngest.routeHeader }?.value.map { String(decoding: $0, as: UTF8.self) }
                routes.withLock { _ = $0.insert(route ?? "none") }
                continue
            }
            guard let incident = try JSONSerialization.jsonObject(with: Data(value)) as? [String: Any],
                let alert = incident["alert"] as? [String: Any], let labels = alert["labels"] as? [String: String],
                let instance = labels["instance"] ?? labels["dedup_key"], let status = alert["status"] as? String
            else { continue }
            seen.withLock { _ = $0.insert("\(instance) \(status)") }
        }
    }
}
