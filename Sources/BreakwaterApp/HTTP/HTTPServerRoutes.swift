import Foundation
import Hummingbird
import Logging
import Prometheus
import Resilience
import Triage

/// What the HTTP server reads and operates on. The worker builds these once and shares
/// them with the pipeline.
public struct HTTPServerDependencies: Sendable {
    /// Readiness reported on `GET /health/ready`.
    public var readiness: Readiness
    /// The registry exported on `GET /metrics` (the one ``BreakwaterMetrics/bootstrap()``
    /// returned, or a test's own).
    public var metrics: PrometheusCollectorRegistry
    /// Breakers shown and operated by `/admin/breakers`.
    public var breakers: CircuitBreakerRegistry
    /// Feature flags read and set by `/admin/features/{name}`.
    public var features: FeatureFallback
    /// The read-only switch of `/admin/read-only`; when `nil` that route answers 404.
    public var readOnly: (any ReadOnlySwitch)?
    /// The ingest routes (`/ingest/*`, `/v2/enqueue`); when `nil` they are not served.
    public var ingest: IngestEndpoint?
    /// The breaker fleet shown by `/admin/breakers` and `/health/ready`; `nil` when off.
    public var fleet: BreakerFleet?
    /// The healer shown by `/admin/heal`; `nil` when off.
    public var healer: Healer?

    /// Bundles the server's dependencies.
    public init(
        readiness: Readiness,
        metrics: PrometheusCollectorRegistry,
        breakers: CircuitBreakerRegistry,
        features: FeatureFallback,
        readOnly: (any ReadOnlySwitch)?,
        ingest: IngestEndpoint? = nil,
        fleet: BreakerFleet? = nil,
        healer: Healer? = nil
    ) {
        self.healer = healer
        self.readiness = readiness
        self.metrics = metrics
        self.breakers = breakers
        self.features = features
        self.readOnly = readOnly
        self.ingest = ingest
        self.fleet = fleet
    }
}

/// Registers Breakwater's routes on a Hummingbird router.
enum HTTPServerRoutes {
    typealias Context = BasicRequestContext

    /// The Prometheus text exposition content type.
    static let metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

    /// A router with the health and metrics routes, plus the admin routes when
    /// `adminToken` is set and not empty.
    static func makeRouter(adminToken: String?, dependencies: HTTPServerDependencies, logger: Logger) -> Router<Context> {
        let router = Router(context: Context.self)
        addHealthAndMetrics(to: router, dependencies: dependencies)
        if let adminToken, !adminToken.isEmpty {
            let admin = router.group().add(middleware: CredentialsMiddleware<Context>(.bearer(token: adminToken), realm: "breakwater-admin"))
            AdminRoutes(dependencies: dependencies, logger: logger).add(to: admin)
        }
        if let ingest = dependencies.ingest {
            IngestRoutes(endpoint: ingest, logger: logger).add(to: router)
        }
        return router
    }

    private static func addHealthAndMetrics(to router: Router<Context>, dependencies: HTTPServerDependencies) {
        router.get(RouterPath(HTTPRoutes.live)) { _, _ in
            JSONResponse.make(body: ["status": "live"])
        }
        let (readiness, fleet) = (dependencies.readiness, dependencies.fleet)
        router.get(RouterPath(HTTPRoutes.ready)) { _, _ in
            let status = readiness.status
            return JSONResponse.make(status: status.isReady ? .ok : .serviceUnavailable, body: ReadinessBody(status, fleet: fleet?.snapshot()))
        }
        let registry = dependencies.metrics
        let ready = BreakwaterMetrics.makeFactory(registry: registry).makeGauge(name: MetricNames.ready)
        router.get(RouterPath(HTTPRoutes.metrics)) { _, _ in
            // Readiness is a verdict of the moment: taken at each scrape, never stale.
            ready.set(to: readiness.isReady ? 1.0 : 0.0)
            return Response(
                status: .ok,
                headers: [.contentType: metricsContentType],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer()))
            )
        }
    }
}

/// The `/admin/*` handlers. Every change is logged at `notice` with the operator's
/// request (never the token).
struct AdminRoutes: Sendable {
    typealias Context = BasicRequestContext
    let dependencies: HTTPServerDependencies
    let logger: Logger

    func add(to group: RouterGroup<Context>) {
        group.get(RouterPath(HTTPRoutes.adminBreakers)) { _, _ in
            JSONResponse.make(body: BreakerListBody(
                breakers: dependencies.breakers.snapshots().map(BreakerSnapshotBody.init),
                fleet: dependencies.fleet.map { FleetBody($0.snapshot()) }))
        }
        for action in HTTPRoutes.BreakerAction.allCases {
            group.post(RouterPath("\(HTTPRoutes.adminBreakers)/{name}/\(action.rawValue)")) { request, context in
                try await breakerAction(action, request: request, context: context)
            }
        }
        group.get(RouterPath("\(HTTPRoutes.adminFeatures)/{name}")) { _, context in
            let name = try Self.parameter("name", in: context)
            return JSONResponse.make(body: try feature(named: name))
        }
        group.put(RouterPath("\(HTTPRoutes.adminFeatures)/{name}")) { request, context in
            let name = try Self.parameter("name", in: context)
            _ = try feature(named: name)  // 404 before reading the body: unknown names are never registered
            let body = try await JSONResponse.decodeBody(EnabledRequest.self, from: request)
            dependencies.features.setEnabled(name, body.enabled)
            logger.notice("admin: feature flag set", metadata: ["feature": "\(name)", "enabled": "\(body.enabled)"])
            return JSONResponse.make(body: try feature(named: name))
        }
        group.get(RouterPath(HTTPRoutes.adminHeal)) { _, _ in
            // The last reading, not a new one: asking the broker waits on the healer's
            // consumer queue, seconds on a loaded machine (an operator's request timed out).
            JSONResponse.make(body: HealBody(dependencies.healer, pending: dependencies.healer?.lastPendingReading))
        }
        group.get(RouterPath(HTTPRoutes.adminReadOnly)) { _, _ in
            JSONResponse.make(body: readOnlyBody(try readOnlySwitch()))
        }
        group.put(RouterPath(HTTPRoutes.adminReadOnly)) { request, _ in
            let target = try readOnlySwitch()
            let body = try await JSONResponse.decodeBody(EnabledRequest.self, from: request)
            target.setReadOnly(body.enabled)
            logger.notice("admin: read-only switch set", metadata: ["enabled": "\(body.enabled)"])
            return JSONResponse.make(body: readOnlyBody(target))
        }
    }

    private func breakerAction(_ action: HTTPRoutes.BreakerAction, request: Request, context: Context) async throws -> Response {
        let name = try Self.parameter("name", in: context)
        let breakers = dependencies.breakers
        do {
            // Check the name first so an unknown breaker is a 404 whatever the body says.
            _ = try breakers.snapshot(named: name)
            switch action {
            case .forceOpen:
                let body = try await JSONResponse.decodeBody(ForceOpenRequest.self, from: request, empty: ForceOpenRequest())
                let reason = body.reason.flatMap { $0.isEmpty ? nil : $0 } ?? "forced open by an operator"
                try breakers.forceOpen(named: name, reason: reason)
                logger.notice("admin: breaker forced open", metadata: ["breaker": "\(name)", "reason": "\(reason)"])
            case .forceClose:
                try breakers.forceClosed(named: name)
                logger.notice("admin: breaker forced closed", metadata: ["breaker": "\(name)"])
            case .reset:
                try breakers.reset(named: name)
                logger.notice("admin: breaker reset", metadata: ["breaker": "\(name)"])
            }
            return JSONResponse.make(body: BreakerSnapshotBody(try breakers.snapshot(named: name)))
        } catch let error as CircuitBreakerRegistryError {
            throw APIError.notFound(error.description)
        }
    }

    private func feature(named name: String) throws -> FeatureBody {
        let features = dependencies.features
        let cause = features.offCause(name)
        if cause == .unknownFeature { throw APIError.notFound("no feature named '\(name)'") }
        return FeatureBody(name: name, enabled: cause == nil, offReason: cause?.rawValue)
    }

    private func readOnlySwitch() throws -> any ReadOnlySwitch {
        guard let target = dependencies.readOnly else { throw APIError.notFound("read-only mode is not available") }
        return target
    }

    private func readOnlyBody(_ target: any ReadOnlySwitch) -> ReadOnlyBody {
        ReadOnlyBody(readOnly: target.isReadOnly, reason: target.readOnlyReason)
    }

    /// The percent-decoded path parameter `name`.
    private static func parameter(_ name: String, in context: Context) throws -> String {
        guard let raw = context.parameters.get(name) else { throw APIError.notFound("missing \(name)") }
        return raw.removingPercentEncoding ?? raw
    }
}
