import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore
import Triage

/// What the HTTP server needs to serve the ingest routes.
public struct IngestEndpoint: Sendable {
    /// Checks and produces each request.
    public var ingest: AlertIngest
    /// Which routes are on, their credentials, the `Retry-After` of a 503.
    public var settings: IngestSettings
    /// Where the request counters and latency histogram go (`nil`: the global factory).
    public var metricsFactory: (any MetricsFactory)?

    /// An endpoint serving `ingest` as `settings` say.
    public init(ingest: AlertIngest, settings: IngestSettings, metricsFactory: (any MetricsFactory)? = nil) {
        self.ingest = ingest
        self.settings = settings
        self.metricsFactory = metricsFactory
    }
}

/// The ingest handlers: `POST` a payload, get 202 once the broker acknowledged it.
///
/// Answers: 202 accepted (PagerDuty's `{"status":"success","message":"Event processed",
/// "dedup_key":…}` on `/v2/enqueue`); 400 with the reason and the field path for a body
/// the worker would dead-letter or that belongs to another route (PagerDuty's
/// `{"status":"invalid event",…}` there); 401 without the route's credentials; 413 over
/// `pipeline.maxRecordBytes`; 503 with `Retry-After` when the broker did not acknowledge
/// it within `ingest.deliveryTimeout`.
struct IngestRoutes: Sendable {
    typealias Context = BasicRequestContext
    let endpoint: IngestEndpoint
    let logger: Logger
    private let metrics: IngestMetrics

    init(endpoint: IngestEndpoint, logger: Logger) {
        self.endpoint = endpoint
        self.logger = logger
        self.metrics = IngestMetrics(factory: endpoint.metricsFactory ?? MetricsSystem.factory)
    }

    func add(to router: Router<Context>) {
        for route in IngestRoute.allCases {
            let settings = endpoint.settings.settings(for: route)
            guard settings.enabled else { continue }
            var group = router.group().add(middleware: IngestMetricsMiddleware<Context>(route: route, metrics: metrics))
            if let credentials = RequiredCredentials(settings) {
                group = group.add(middleware: CredentialsMiddleware<Context>(credentials, realm: "breakwater-ingest"))
            }
            group.post(RouterPath(route.path)) { request, _ in
                try await handle(request, route: route)
            }
        }
    }

    private func handle(_ request: Request, route: IngestRoute) async throws -> Response {
        let ingest = endpoint.ingest
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: ingest.maxBodyBytes)
        } catch is NIOTooManyBytesError {
            throw APIError(status: .contentTooLarge, message: "too_large: the body is larger than \(ingest.maxBodyBytes) bytes")
        }
        let ingestRequest = IngestRequest(
            body: Array(body.readableBytesView),
            headers: request.headers.map { ($0.name.canonicalName, $0.value) }
        )
        let prepared: PreparedIngest
        do {
            prepared = try ingest.prepare(ingestRequest, route: route)
        } catch {
            return rejected(error, route: route)
        }
        do {
            let report = try await ingest.publish(prepared)
            logger.debug("ingest: accepted", metadata: [
                "route": "\(route.rawValue)", "alerts": "\(prepared.alertCount)", "partition": "\(report.partition)", "offset": "\(report.offset)",
            ])
            if route == .pagerduty {
                return JSONResponse.make(status: .accepted, body: PagerDutyAccepted(dedup_key: prepared.key))
            }
            return JSONResponse.make(status: .accepted, body: IngestAccepted(
                alerts: prepared.alertCount, key: prepared.key, topic: report.topic, partition: report.partition, offset: report.offset
            ))
        } catch {
            logger.warning("ingest: the broker did not acknowledge the record; answering 503", metadata: [
                "route": "\(route.rawValue)", "error": "\(error)",
            ])
            let seconds = Int((endpoint.settings.retryAfter.duration / .seconds(1)).rounded(.up))
            throw APIError(
                status: .serviceUnavailable,
                message: "the alert was not acknowledged by Kafka (\(error)); retry later",
                headers: [.retryAfter: String(max(seconds, 1))]
            )
        }
    }

    private func rejected(_ rejection: IngestRejection, route: IngestRoute) -> Response {
        if route == .pagerduty {
            return JSONResponse.make(status: .badRequest, body: PagerDutyInvalid(errors: [rejection.description]))
        }
        return JSONResponse.make(status: .badRequest, body: IngestInvalid(error: rejection.description, reason: rejection.reason))
    }
}

/// 202 on the Alertmanager, Grafana and CloudEvents routes.
struct IngestAccepted: Codable, Sendable, Hashable {
    var status = "accepted"
    /// Alerts the worker will decode from the record.
    var alerts: Int
    /// The record key.
    var key: String
    var topic: String
    var partition: Int32
    var offset: Int64
}

/// 400 on the Alertmanager, Grafana and CloudEvents routes.
struct IngestInvalid: Codable, Sendable, Hashable {
    /// `reason: detail`, naming the field path.
    var error: String
    /// The machine-readable reason (the dead-letter reasons, or `wrong_route`).
    var reason: String
}

/// 202 on `/v2/enqueue`, as PagerDuty answers.
struct PagerDutyAccepted: Codable, Sendable, Hashable {
    var status = "success"
    var message = "Event processed"
    var dedup_key: String
}

/// 400 on `/v2/enqueue`, as PagerDuty answers.
struct PagerDutyInvalid: Codable, Sendable, Hashable {
    var status = "invalid event"
    var message = "Event object is invalid"
    var errors: [String]
}

/// `breakwater_ingest_requests_total{route,status}` and
/// `breakwater_ingest_duration_seconds{route}`.
struct IngestMetrics: Sendable {
    private let counters: MetricHandleCache<Counter>
    private let timers: MetricHandleCache<Timer>

    init(factory: any MetricsFactory) {
        counters = MetricHandleCache { Counter(label: $0, dimensions: $1, factory: factory) }
        timers = MetricHandleCache { Timer(label: $0, dimensions: $1, factory: factory) }
    }

    func answered(_ route: IngestRoute, status: Int, after elapsed: Duration) {
        counters.handle(MetricNames.ingestRequests, [("route", route.rawValue), ("status", String(status))]).increment()
        timers.handle(MetricNames.ingestDuration, [("route", route.rawValue)]).record(elapsed)
    }
}

/// Counts every answer of an ingest route, 401 and 413 included, and times it.
struct IngestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let route: IngestRoute
    let metrics: IngestMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            metrics.answered(route, status: response.status.code, after: .now - start)
            return response
        } catch let error as any HTTPResponseError {
            metrics.answered(route, status: error.status.code, after: .now - start)
            throw error
        } catch {
            metrics.answered(route, status: 500, after: .now - start)
            throw error
        }
    }
}
