import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Prometheus
import Resilience
import ServiceLifecycle
import Testing
import Triage

@testable import BreakwaterApp

/// The admin token the HTTP tests configure (long enough for validation).
let testAdminToken = "test-admin-token-0123456789abcdef"

/// Everything a test server reads, built fresh per test (own metrics registry, never the
/// global one).
struct HTTPFixture: Sendable {
    let readiness = Readiness()
    let registry = PrometheusCollectorRegistry()
    let factory: DescribedPrometheusMetricsFactory
    let breakers: CircuitBreakerRegistry
    let features = FeatureFallback(clock: ManualClock())
    let dedup: DegradedService<String>
    var exposeReadOnly = true
    /// The breaker fleet shown on `/admin/breakers` and `/health/ready`, if any.
    var fleet: BreakerFleet?

    init() throws {
        factory = BreakwaterMetrics.makeFactory(registry: registry)
        breakers = try CircuitBreakerRegistry(clock: ManualClock(), metricsFactory: factory)
        for name in [BreakerName.ml, BreakerName.catalog, BreakerName.dedup] { _ = breakers.breaker(named: name) }
        dedup = DegradedService(service: "dedup-store", breaker: breakers.breaker(named: BreakerName.dedup))
        // As the worker registers it: the ML flag behind the ML breaker.
        features.register(FeatureName.mlClassification, breaker: breakers.breaker(named: BreakerName.ml))
    }

    var dependencies: HTTPServerDependencies {
        HTTPServerDependencies(
            readiness: readiness, metrics: registry, breakers: breakers, features: features,
            readOnly: exposeReadOnly ? dedup : nil, fleet: fleet
        )
    }

    /// Runs a real server with the ingest routes of `configuration` (its Kafka, topics,
    /// pipeline limits and `ingest.*`) and the ingest's producer service, as `breakwater
    /// ingest` does, then runs `body` with a client, then shuts both down gracefully.
    func withIngestServer<T: Sendable>(
        _ configuration: BreakwaterConfiguration,
        _ body: @escaping @Sendable (LiveClient) async throws -> T
    ) async throws -> T {
        var logger = Logger(label: "test.ingest")
        logger.logLevel = .critical  // an unreachable broker is what some tests want
        let ingest = try WorkerAssembly(configuration: configuration, logger: logger).makeIngest(metricsFactory: factory)
        var dependencies = dependencies
        dependencies.ingest = ingest.endpoint
        var settings = HTTPSettings()
        settings.host = "127.0.0.1"
        settings.port = 0
        let server = BreakwaterHTTPServer(settings: settings, dependencies: dependencies, logger: Logger(label: "test.http"))
        return try await run(server, before: [ingest.service]) { port in
            try await TestClient.withClient(host: "127.0.0.1", port: port) { client in
                try await body(LiveClient(client: client))
            }
        }
    }

    /// Runs a real server on 127.0.0.1 with an ephemeral port in a `ServiceGroup`, runs
    /// `body` with a client connected to it, then shuts the group down gracefully.
    func withServer<T: Sendable>(
        adminToken: String? = testAdminToken,
        _ body: @escaping @Sendable (LiveClient) async throws -> T
    ) async throws -> T {
        var settings = HTTPSettings()
        settings.host = "127.0.0.1"
        settings.port = 0
        settings.adminToken = adminToken.map(Secret.init)
        let server = BreakwaterHTTPServer(settings: settings, dependencies: dependencies, logger: Logger(label: "test.http"))
        return try await run(server) { port in
            try await TestClient.withClient(host: "127.0.0.1", port: port) { client in
                try await body(LiveClient(client: client))
            }
        }
    }

    /// Runs `server` in a `ServiceGroup` (after `services`, which so stop after it) around
    /// `body(port)`, then shuts it down gracefully.
    func run<T: Sendable>(
        _ server: BreakwaterHTTPServer, before services: [any Service] = [], _ body: (Int) async throws -> T
    ) async throws -> T {
        let group = ServiceGroup(configuration: .init(services: services + [server], logger: Logger(label: "test.group")))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                let port = try await server.listeningPort()
                let result = try await body(port)
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                return result
            } catch {
                await group.triggerGracefulShutdown()
                try? await tasks.waitForAll()
                throw error
            }
        }
    }
}

/// A response read back from the live server.
struct LiveResponse: Sendable {
    var status: HTTPResponse.Status
    var headers: HTTPFields
    var body: String

    /// The body decoded as JSON into `T`.
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(body.utf8))
    }
}

/// A tiny client over HummingbirdTesting's live `TestClient` (one keep-alive connection).
struct LiveClient: Sendable {
    let client: TestClient

    func request(
        _ method: HTTPRequest.Method,
        _ path: String,
        token: String? = nil,
        authorization: String? = nil,
        body: String? = nil,
        headers extraHeaders: [(String, String)] = []
    ) async throws -> LiveResponse {
        var headers: HTTPFields = [:]
        if let token { headers[.authorization] = "Bearer \(token)" }
        if let authorization { headers[.authorization] = authorization }
        if body != nil { headers[.contentType] = "application/json" }
        for (name, value) in extraHeaders {
            // `.init` is HTTPField.Name's (HTTPTypes is not imported here); an invalid name is a test bug.
            headers[try #require(.init(name))] = value
        }
        let request = TestClient.Request(
            path, method: method, authority: "127.0.0.1", headers: headers,
            body: body.map { ByteBuffer(string: $0) }
        )
        let response = try await client.execute(request)
        return LiveResponse(
            status: response.status,
            headers: response.headers,
            body: response.body.map { String(buffer: $0) } ?? ""
        )
    }

    /// An admin request with the right token.
    func admin(_ method: HTTPRequest.Method, _ path: String, body: String? = nil) async throws -> LiveResponse {
        try await request(method, path, token: testAdminToken, body: body)
    }
}
