import Foundation
import Kafka
import Logging
import ServiceTestSupport
import Testing
import Triage
import TriageTestSupport

@testable import BreakwaterApp

/// Payloads as the senders post them.
enum IngestPayloads {
    static let alertmanager = """
        {"receiver":"breakwater","status":"firing","alerts":[\
        {"status":"firing","labels":{"alertname":"KubePodCrashLooping","severity":"critical","service":"payments-api","namespace":"prod"},\
        "annotations":{"summary":"Pod prod/payments-api-7d9 is crash looping"},"startsAt":"2026-12-05T03:00:00Z","endsAt":"0001-01-01T00:00:00Z",\
        "generatorURL":"http://prometheus:9090/graph","fingerprint":"a1b2c3d4e5f60718"},\
        {"status":"firing","labels":{"alertname":"KubePodCrashLooping","severity":"critical","service":"payments-api","namespace":"prod","pod":"b"},\
        "annotations":{"summary":"Pod prod/payments-api-b is crash looping"},"startsAt":"2026-12-05T03:00:00Z","endsAt":"0001-01-01T00:00:00Z",\
        "fingerprint":"a1b2c3d4e5f60719"}],\
        "groupLabels":{"alertname":"KubePodCrashLooping"},"commonLabels":{"alertname":"KubePodCrashLooping"},"commonAnnotations":{},\
        "externalURL":"http://alertmanager:9093","version":"4","groupKey":"{}:{alertname=\\"KubePodCrashLooping\\"}","truncatedAlerts":0}
        """

    static func pagerDuty(action: String = "trigger", dedupKey: String?) -> String {
        let key = dedupKey.map { #""dedup_key":"\#($0)","# } ?? ""
        return """
            {"routing_key":"0123456789abcdef0123456789abcdef",\(key)"event_action":"\(action)",\
            "payload":{"summary":"Disk full on db-7","source":"db-7.prod","severity":"critical","component":"postgres","class":"disk"}}
            """
    }

    static let cloudEventData = """
        {"labels":{"alertname":"HighErrorRate","severity":"warning","service":"checkout"},"annotations":{"summary":"5xx above 5%"}}
        """

    static let cloudEventStructured = """
        {"specversion":"1.0","id":"evt-42","source":"/monitoring/prometheus","type":"com.example.alert",\
        "datacontenttype":"application/json","data":\(cloudEventData)}
        """
}

/// The ingest routes against the real broker: what reaches the topic, what never does,
/// and what the senders are answered. Serialized: each test has its own topic and
/// producer, and the broker is shared.
@Suite("HTTP ingest against the real broker", .serialized, .timeLimit(.minutes(3)))
struct IngestTests {
    static let logger = Logger(label: "ingest-tests")

    /// A configuration producing to a fresh one-partition topic on the test broker.
    static func configuration(_ bootstrap: String, topic: String) -> BreakwaterConfiguration {
        var configuration = BreakwaterConfiguration()
        configuration.kafka.bootstrapServers = bootstrap
        configuration.topics.alerts = topic
        configuration.ingest.enabled = true
        return configuration
    }

    static func kafka(_ bootstrap: String) -> KafkaConfiguration {
        KafkaConfiguration(bootstrapServers: [bootstrap], clientID: "ingest-tests", properties: ["receive.message.max.bytes": "1000000000"])
    }

    /// The first `count` records of `topic`, read from the beginning by a throwaway group.
    static func read(_ count: Int, from topic: String, bootstrap: String) async throws -> [KafkaMessage] {
        let consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(common: kafka(bootstrap), groupID: uniqueName("ingest-read"), offsetCommits: .manual),
            topics: [topic], logger: logger)
        var read: [KafkaMessage] = []
        for try await event in consumer.events {
            if case .message(let message) = event { read.append(message) }
            if read.count == count { break }
        }
        _ = await consumer.close()
        return read
    }

    static func withTopic<T>(_ body: (String, String) async throws -> T) async throws -> T {
        let bootstrap = try ExternalService.kafka.require()
        let topic = try await TestTopics.create(["ingest"], partitions: 1, configuration: kafka(bootstrap), logger: logger)[0]
        defer { Task { await TestTopics.delete([topic], configuration: kafka(bootstrap), logger: logger) } }
        return try await body(bootstrap, topic)
    }

    static func header(_ message: KafkaMessage, _ name: String) -> String? {
        message.headers.last { $0.name == name }?.value.flatMap { String(bytes: $0, encoding: .utf8) }
    }

    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func anAlertmanagerWebhookIsOnTheTopicAsSentKeyedByItsGroupKey() async throws {
        try await Self.withTopic { bootstrap, topic in
            let fixture = try HTTPFixture()
            let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            let response = try await fixture.withIngestServer(Self.configuration(bootstrap, topic: topic)) { client in
                try await client.request(.post, HTTPRoutes.ingestAlertmanager, body: IngestPayloads.alertmanager,
                                         headers: [("traceparent", traceparent)])
            }
            #expect(response.status == .accepted, "\(response.body)")
            let accepted = try response.decode(IngestAccepted.self)
            #expect(accepted.alerts == 2)
            #expect(accepted.key == #"{}:{alertname="KubePodCrashLooping"}"#)
            #expect(accepted.topic == topic)

            let record = try #require(try await Self.read(1, from: topic, bootstrap: bootstrap).first)
            #expect(record.value == Array(IngestPayloads.alertmanager.utf8))
            #expect(record.key == Array(accepted.key.utf8))
            #expect(record.offset == accepted.offset)
            #expect(Self.header(record, "traceparent") == traceparent)
            #expect(Self.header(record, "content-type") == "application/json")
            #expect(Self.header(record, AlertIngest.routeHeader) == "alertmanager")
            let alerts = try AlertDecoder().decode(value: record.value ?? [], headers: record.headers.map { RecordHeader(key: $0.name, value: $0.value) })
            #expect(alerts.map(\.fingerprint) == ["a1b2c3d4e5f60718", "a1b2c3d4e5f60719"])
            #expect(fixture.registry.emitToString().contains(#"breakwater_ingest_requests_total{route="alertmanager",status="202"} 1"#))
            #expect(fixture.registry.emitToString().contains(#"breakwater_ingest_duration_seconds_count{route="alertmanager"} 1"#))
        }
    }

    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func pagerDutyIsAnsweredAsPagerDutyDoesAndATriggerWithoutKeyGetsOneItsResolveMatches() async throws {
        try await Self.withTopic { bootstrap, topic in
            let fixture = try HTTPFixture()
            let (keyed, unkeyed, invalid) = try await fixture.withIngestServer(Self.configuration(bootstrap, topic: topic)) { client in
                (
                    try await client.request(.post, HTTPRoutes.ingestPagerDuty, body: IngestPayloads.pagerDuty(dedupKey: "db-7/disk")),
                    try await client.request(.post, HTTPRoutes.ingestPagerDuty, body: IngestPayloads.pagerDuty(dedupKey: nil)),
                    try await client.request(.post, HTTPRoutes.ingestPagerDuty, body: #"{"routing_key":"x","event_action":"trigger"}"#)
                )
            }
            #expect(keyed.status == .accepted)
            #expect(try keyed.decode(PagerDutyAccepted.self) == PagerDutyAccepted(dedup_key: "db-7/disk"))
            #expect(keyed.body.contains(#""message":"Event processed""#) && keyed.body.contains(#""status":"success""#))
            #expect(unkeyed.status == .accepted)
            let assigned = try unkeyed.decode(PagerDutyAccepted.self).dedup_key
            #expect(!assigned.isEmpty)
            #expect(invalid.status == .badRequest)
            let invalidBody = try invalid.decode(PagerDutyInvalid.self)
            #expect(invalidBody.status == "invalid event")
            #expect(invalidBody.errors.first?.contains("payload") == true, "\(invalidBody.errors)")

            let records = try await Self.read(2, from: topic, bootstrap: bootstrap)
            #expect(records.map { $0.key.map { String(decoding: $0, as: UTF8.self) } } == ["db-7/disk", assigned])
            #expect(records[0].value == Array(IngestPayloads.pagerDuty(dedupKey: "db-7/disk").utf8))
            // The unkeyed trigger went out with the key it was answered, so the sender's
            // resolve with that key is the same alert.
            let trigger = try AlertDecoder().decode(value: records[1].value ?? [])
            let resolve = try AlertDecoder().decode(value: Array(IngestPayloads.pagerDuty(action: "resolve", dedupKey: assigned).utf8))
            #expect(trigger[0].extra["dedup_key"] == assigned)
            #expect(trigger[0].fingerprint == resolve[0].fingerprint)
        }
    }

    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func cloudEventsInBinaryModeBecomeKafkaBinaryModeAndStructuredModeStaysAsSent() async throws {
        try await Self.withTopic { bootstrap, topic in
            let fixture = try HTTPFixture()
            let (binary, structured) = try await fixture.withIngestServer(Self.configuration(bootstrap, topic: topic)) { client in
                (
                    try await client.request(.post, HTTPRoutes.ingestCloudEvents, body: IngestPayloads.cloudEventData, headers: [
                        ("ce-specversion", "1.0"), ("ce-id", "evt-7"), ("ce-source", "/monitoring/prom%20east"),
                        ("ce-type", "com.example.alert"), ("ce-subject", "checkout"),
                    ]),
                    try await client.request(.post, HTTPRoutes.ingestCloudEvents, body: IngestPayloads.cloudEventStructured,
                                             headers: [("content-type", "application/cloudevents+json")])
                )
            }
            #expect(binary.status == .accepted, "\(binary.body)")
            #expect(structured.status == .accepted, "\(structured.body)")
            let records = try await Self.read(2, from: topic, bootstrap: bootstrap)
            #expect(Self.header(records[0], "ce_specversion") == "1.0")
            #expect(Self.header(records[0], "ce_source") == "/monitoring/prom east")
            #expect(Self.header(records[0], AlertIngest.routeHeader) == "cloudevents")
            let decoder = AlertDecoder()
            let inBinary = try decoder.decodeRecord(InputRecord(value: records[0].value ?? [], headers: records[0].headers.map { RecordHeader(key: $0.name, value: $0.value) }))
            #expect(inBinary.format == .cloudEventBinary)
            #expect(inBinary.alerts[0].extra["ce_source"] == "/monitoring/prom east")
            #expect(inBinary.alerts[0].extra["ce_subject"] == "checkout")
            #expect(records[1].value == Array(IngestPayloads.cloudEventStructured.utf8))
            #expect(Self.header(records[1], "content-type") == "application/cloudevents+json")
        }
    }

    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func badInputIsRefusedWithItsReasonAndNeverEntersTheTopic() async throws {
        try await Self.withTopic { bootstrap, topic in
            let fixture = try HTTPFixture()
            var configuration = Self.configuration(bootstrap, topic: topic)
            configuration.pipeline.maxRecordBytes = 4_096
            let oversized = #"{"alerts":[{"labels":{"alertname":"x"},"annotations":{"d":""# + String(repeating: "a", count: 5_000) + #""}}]}"#
            let answers = try await fixture.withIngestServer(configuration) { client in
                [
                    try await client.request(.post, HTTPRoutes.ingestAlertmanager, body: "{not json"),
                    try await client.request(.post, HTTPRoutes.ingestAlertmanager, body: #"{"alerts":[{"labels":{}}]}"#),
                    try await client.request(.post, HTTPRoutes.ingestAlertmanager, body: IngestPayloads.pagerDuty(dedupKey: "k")),
                    try await client.request(.post, HTTPRoutes.ingestCloudEvents, body: IngestPayloads.alertmanager),
                    try await client.request(.post, HTTPRoutes.ingestAlertmanager, body: ""),
                    try await client.request(.post, HTTPRoutes.ingestAlertmanager, body: oversized),
                    // The one valid request, last: the first record on the topic must be it.
                    try await client.request(.post, HTTPRoutes.ingestGrafana, body: IngestPayloads.alertmanager),
                ]
            }
            #expect(answers.map(\.status.code) == [400, 400, 400, 400, 400, 413, 202], "\(answers.map(\.body))")
            let reasons = try answers.prefix(5).map { try $0.decode(IngestInvalid.self) }
            #expect(reasons.map(\.reason) == ["invalid_json", "invalid_value", "wrong_route", "wrong_route", "empty_record"])
            #expect(reasons[1].error.contains("alerts[0].labels"), "\(reasons[1].error)")
            #expect(reasons[2].error.contains(HTTPRoutes.ingestPagerDuty), "names the right route: \(reasons[2].error)")
            #expect(answers[5].body.contains("4096"))
            let first = try #require(try await Self.read(1, from: topic, bootstrap: bootstrap).first)
            #expect(first.offset == 0)
            #expect(Self.header(first, AlertIngest.routeHeader) == "grafana")
            let metrics = fixture.registry.emitToString()
            #expect(metrics.contains(#"breakwater_ingest_requests_total{route="alertmanager",status="400"} 4"#), "\(metrics)")
            #expect(metrics.contains(#"breakwater_ingest_requests_total{route="alertmanager",status="413"} 1"#))
        }
    }

    @Test(.enabled(if: ExternalService.kafka.shouldRun))
    func routesWithCredentialsRefuseEveryoneElse() async throws {
        try await Self.withTopic { bootstrap, topic in
            let fixture = try HTTPFixture()
            var configuration = Self.configuration(bootstrap, topic: topic)
            configuration.ingest.alertmanager.bearerToken = Secret("am-token-0123456789")
            configuration.ingest.pagerduty.username = "pager"
            configuration.ingest.pagerduty.password = Secret("duty")
            configuration.ingest.grafana.enabled = false
            let basic: @Sendable (String) -> String = { "Basic " + Data($0.utf8).base64EncodedString() }
            let answers = try await fixture.withIngestServer(configuration) { client in
                [
                    try await client.request(.post, HTTPRoutes.ingestAlertmanager, body: IngestPayloads.alertmanager),
                    try await client.request(.post, HTTPRoutes.ingestAlertmanager, token: "am-token-012345678X", body: IngestPayloads.alertmanager),
                    try await client.request(.post, HTTPRoutes.ingestAlertmanager, authorization: basic("pager:duty"), body: IngestPayloads.alertmanager),
                    try await client.request(.post, HTTPRoutes.ingestPagerDuty, authorization: basic("pager:dutY"), body: IngestPayloads.pagerDuty(dedupKey: "k")),
                    try await client.request(.post, HTTPRoutes.ingestGrafana, body: IngestPayloads.alertmanager),
                    try await client.request(.post, HTTPRoutes.ingestAlertmanager, token: "am-token-0123456789", body: IngestPayloads.alertmanager),
                    try await client.request(.post, HTTPRoutes.ingestPagerDuty, authorization: basic("pager:duty"), body: IngestPayloads.pagerDuty(dedupKey: "k")),
                ]
            }
            #expect(answers.map(\.status.code) == [401, 401, 401, 401, 404, 202, 202], "\(answers.map(\.body))")
            #expect(answers[0].headers[.wwwAuthenticate] == #"Bearer realm="breakwater-ingest""#)
            #expect(answers[3].headers[.wwwAuthenticate] == #"Basic realm="breakwater-ingest""#)
            let records = try await Self.read(2, from: topic, bootstrap: bootstrap)
            #expect(records.map { Self.header($0, AlertIngest.routeHeader) } == ["alertmanager", "pagerduty"])
            #expect(fixture.registry.emitToString().contains(#"breakwater_ingest_requests_total{route="alertmanager",status="401"} 3"#))
        }
    }

    /// A broker nobody listens on: the producer never gets an acknowledgement, so the
    /// request is answered 503 with Retry-After once the delivery timeout passes, and the
    /// sender keeps the alert to retry.
    @Test func anUnreachableBrokerIsA503WithRetryAfter() async throws {
        let fixture = try HTTPFixture()
        var configuration = Self.configuration("127.0.0.1:1", topic: "alerts")
        configuration.ingest.deliveryTimeout = .seconds(1)
        configuration.ingest.retryAfter = .milliseconds(2_500)
        let response = try await fixture.withIngestServer(configuration) { client in
            try await client.request(.post, HTTPRoutes.ingestAlertmanager, body: IngestPayloads.alertmanager)
        }
        #expect(response.status == .serviceUnavailable, "\(response.body)")
        #expect(response.headers[.retryAfter] == "3")
        #expect(response.body.contains("retry later"))
        #expect(fixture.registry.emitToString().contains(#"breakwater_ingest_requests_total{route="alertmanager",status="503"} 1"#))
    }
}
