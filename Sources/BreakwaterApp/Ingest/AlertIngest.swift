import Foundation
import Kafka
import Triage

/// One request as the ingest sees it: the body and the HTTP headers that matter.
public struct IngestRequest: Sendable {
    /// The request body, byte for byte.
    public var body: [UInt8]
    /// The request headers as (lowercased name, value) pairs, in order.
    public var headers: [(name: String, value: String)]

    /// A request with `body` and `headers` (names in any case).
    public init(body: [UInt8], headers: [(name: String, value: String)] = []) {
        self.body = body
        self.headers = headers.map { ($0.name.lowercased(), $0.value) }
    }

    /// The last value of header `name` (lowercase), or `nil`.
    func header(_ name: String) -> String? {
        headers.last { $0.name == name }?.value
    }
}

/// Why a request was not put on the topic.
public enum IngestRejection: Error, Sendable, Equatable, CustomStringConvertible {
    /// The body is not a valid alert record (the worker would dead-letter it): 400.
    case invalid(AlertDecodingError)
    /// A valid record of a format this route does not take: 400.
    case wrongRoute(route: IngestRoute, format: InputFormat)

    /// What was wrong, for the sender.
    public var description: String {
        switch self {
        case .invalid(let error):
            return error.description
        case .wrongRoute(let route, let format):
            let hint = IngestRoute.route(for: format).map { "; post it to \($0.path)" } ?? ""
            return "wrong_route: \(route.path) takes \(route.expected), the body is \(format.rawValue)\(hint)"
        }
    }

    /// The machine-readable reason (the decoder's, or `wrong_route`).
    public var reason: String {
        switch self {
        case .invalid(let error): error.reason.rawValue
        case .wrongRoute: "wrong_route"
        }
    }
}

/// A checked request, ready to produce: the record and what the answer reports.
public struct PreparedIngest: Sendable, Equatable {
    /// The record for the alerts topic.
    public var record: KafkaProducerRecord
    /// The alerts the worker will decode from it.
    public var alertCount: Int
    /// The key the record is produced with (also PagerDuty's `dedup_key` answer).
    public var key: String
}

/// Puts alerts that senders post over HTTP on the alerts topic.
///
/// Every request is decoded with the worker's own decoder and limits first, so nothing
/// the worker would dead-letter enters the topic; it is produced with its bytes unchanged
/// (one exception: a PagerDuty `trigger` without `dedup_key` gets the key PagerDuty would
/// have assigned it, so the sender's later `resolve` with the answered key matches it),
/// and only an acknowledgement from the broker makes it accepted.
///
/// The record: key = the webhook's `groupKey`, else the PagerDuty `dedup_key`, else the
/// first alert's fingerprint (so a group's or an event's updates stay in order on one
/// partition); headers = the request's `content-type`, `traceparent` and `tracestate`,
/// CloudEvents binary-mode `ce-*` headers as the Kafka binding's `ce_*`, and
/// `breakwater-ingest-route` naming the route.
public struct AlertIngest: Sendable {
    /// The header naming the route a record came in through.
    public static let routeHeader = "breakwater-ingest-route"

    /// The topic records are produced to.
    public let topic: String
    /// The worker's decoder (same limits).
    public let decoder: AlertDecoder
    private let send: @Sendable (KafkaProducerRecord) async throws -> KafkaDeliveryReport

    /// An ingest producing to `topic` with `producer` (its `message.timeout.ms` bounds how
    /// long a request waits for the broker), checking with `decoder`.
    public init(topic: String, decoder: AlertDecoder, producer: KafkaProducer) {
        self.init(topic: topic, decoder: decoder, send: { try await producer.send($0) })
    }

    /// An ingest handing records to `send` (which returns once the record is acknowledged).
    init(topic: String, decoder: AlertDecoder, send: @escaping @Sendable (KafkaProducerRecord) async throws -> KafkaDeliveryReport) {
        self.topic = topic
        self.decoder = decoder
        self.send = send
    }

    /// The most body bytes a request may carry (the decoder's record limit).
    public var maxBodyBytes: Int { decoder.limits.maxRecordBytes }

    /// Produces a checked request and waits for the broker's acknowledgement.
    /// - Throws: the producer's error when the broker did not acknowledge the record
    ///   (unreachable within the delivery timeout, closed producer); the record may then
    ///   still land, so the sender's retry can make a duplicate, never a loss.
    public func publish(_ prepared: PreparedIngest) async throws -> KafkaDeliveryReport {
        try await send(prepared.record)
    }

    /// Checks `request` for `route` and builds its record. Pure.
    /// - Throws: ``IngestRejection`` when the body is not a valid record for the route.
    public func prepare(_ request: IngestRequest, route: IngestRoute, receivedAt: Date = Date()) throws(IngestRejection) -> PreparedIngest {
        let headers = Self.recordHeaders(request, route: route)
        var value = request.body
        var decoded = try decode(value, headers: headers, route: route, receivedAt: receivedAt)
        if route == .pagerduty, let key = Self.missingDedupKey(decoded), let keyed = Self.insertingDedupKey(key, into: value) {
            let rekeyed = try decode(keyed, headers: headers, route: route, receivedAt: receivedAt)
            // An empty `dedup_key` later in the object would win over the inserted one:
            // then the event goes as sent.
            if Self.missingDedupKey(rekeyed) == nil {
                value = keyed
                decoded = rekeyed
            }
        }
        let first = decoded.alerts[0]
        let key = [first.extra["group_key"], first.extra["dedup_key"]].lazy.compactMap { $0 }.first { !$0.isEmpty }
            ?? first.fingerprint
        return PreparedIngest(
            record: KafkaProducerRecord(
                topic: topic, key: Array(key.utf8), value: value,
                headers: headers.map { KafkaHeader(name: $0.key, value: $0.value) }
            ),
            alertCount: decoded.alerts.count,
            key: key
        )
    }

    private func decode(
        _ value: [UInt8], headers: [RecordHeader], route: IngestRoute, receivedAt: Date
    ) throws(IngestRejection) -> DecodedRecord {
        let decoded: DecodedRecord
        do {
            decoded = try decoder.decodeRecord(InputRecord(value: value, headers: headers), receivedAt: receivedAt)
        } catch {
            throw .invalid(error)
        }
        guard route.acceptedFormats.contains(decoded.format) else {
            throw .wrongRoute(route: route, format: decoded.format)
        }
        return decoded
    }

    /// The Kafka headers of the record for `request`.
    static func recordHeaders(_ request: IngestRequest, route: IngestRoute) -> [RecordHeader] {
        var headers: [RecordHeader] = []
        if let contentType = request.header("content-type") { headers.append(RecordHeader("content-type", contentType)) }
        for name in ["traceparent", "tracestate"] {
            if let value = request.header(name) { headers.append(RecordHeader(name, value)) }
        }
        // CloudEvents HTTP binary mode → Kafka binary mode: `ce-x` becomes `ce_x`, and the
        // HTTP binding's percent-encoding of header values is undone.
        if route == .cloudevents {
            for (name, value) in request.headers where name.hasPrefix("ce-") && name.count > 3 {
                headers.append(RecordHeader("ce_" + name.dropFirst(3), value.removingPercentEncoding ?? value))
            }
        }
        headers.append(RecordHeader(routeHeader, route.rawValue))
        return headers
    }

    /// The dedup key PagerDuty would assign a `trigger` that has none (`nil` when it has
    /// one): the fingerprint of its labels, so a retried trigger gets the same key.
    static func missingDedupKey(_ decoded: DecodedRecord) -> String? {
        guard decoded.format == .pagerduty, let alert = decoded.alerts.first, alert.extra["dedup_key"] == nil else { return nil }
        return alert.fingerprint
    }

    /// `value` (a JSON object without a `dedup_key` member) with `"dedup_key":"<key>"` as its
    /// first member; `nil` when it does not start with `{` (not an object) or has no members.
    static func insertingDedupKey(_ key: String, into value: [UInt8]) -> [UInt8]? {
        guard let brace = value.firstIndex(where: { !Self.isJSONWhitespace($0) }), value[brace] == UInt8(ascii: "{"),
            let next = value[(brace + 1)...].first(where: { !Self.isJSONWhitespace($0) }), next != UInt8(ascii: "}")
        else { return nil }
        // The key is a hex fingerprint: no character needs escaping.
        let member = Array("\"dedup_key\":\"\(key)\",".utf8)
        var result = value
        result.insert(contentsOf: member, at: brace + 1)
        return result
    }

    private static func isJSONWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }
}
