import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Triage

/// The error of ``BreakwaterHTTPServer/listeningPort()``.
public enum BreakwaterHTTPServerError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The server stopped (it could not bind, failed, or was shut down) before it listened.
    case stoppedBeforeListening(host: String, port: Int)

    /// A one-line description naming the address.
    public var description: String {
        switch self {
        case .stoppedBeforeListening(let host, let port):
            "the HTTP server on \(host):\(port) stopped before it was listening"
        }
    }
}

/// Breakwater's HTTP server: metrics, health and (with a token) the admin API on one
/// host and port.
///
/// A swift-service-lifecycle `Service`: put it in the worker's `ServiceGroup`. It serves
/// until graceful shutdown (or cancellation) and then stops accepting connections. When
/// graceful shutdown reaches it, it also marks ``Readiness`` as shutting down (the worker
/// should do so itself as soon as its own shutdown begins; doing it twice is harmless).
///
/// Routes (see ``HTTPRoutes``):
/// - `GET /metrics`, `GET /health/live`, `GET /health/ready` (200 or 503 with the failing checks)
/// - with `http.adminToken` set: `GET /admin/breakers`, `POST /admin/breakers/{name}/force-open|force-close|reset`,
///   `GET`/`PUT /admin/features/{name}`, `GET`/`PUT /admin/read-only`, each requiring
///   `Authorization: Bearer <token>` (401 otherwise). Without a token those paths are 404.
/// - with an ``IngestEndpoint``: `POST /ingest/alertmanager`, `/ingest/grafana`,
///   `/ingest/cloudevents` and `/v2/enqueue` (see ``IngestRoute``).
public struct BreakwaterHTTPServer: Service {
    private let application: Application<RouterResponder<BasicRequestContext>>
    private let readiness: Readiness
    /// The bound port, or why the server stopped before listening; the first offer wins.
    private let port: FirstOffer<Result<Int, any Error>>
    private let host: String
    private let configuredPort: Int
    /// Whether the admin routes are served (a non-empty admin token is configured).
    public let adminEnabled: Bool

    /// A server for `settings` (host, port, admin token) over `dependencies`.
    ///
    /// Nothing is bound until ``run()``; a port that cannot be bound makes ``run()`` throw.
    /// Port 0 binds an ephemeral port (see ``listeningPort()``).
    public init(settings: HTTPSettings, dependencies: HTTPServerDependencies, logger: Logger = Logger(label: "breakwater.http")) {
        let token = settings.adminToken?.value
        let router = HTTPServerRoutes.makeRouter(adminToken: token, dependencies: dependencies, logger: logger)
        let port = FirstOffer<Result<Int, any Error>>()
        self.application = Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(settings.host, port: settings.port)),
            onServerRunning: { channel in port.offer(.success(channel.localAddress?.port ?? settings.port)) },
            logger: logger
        )
        self.readiness = dependencies.readiness
        self.port = port
        self.host = settings.host
        self.configuredPort = settings.port
        self.adminEnabled = !(token ?? "").isEmpty
    }

    /// Serves until graceful shutdown or cancellation.
    /// - Throws: When the address cannot be bound or the server fails.
    public func run() async throws {
        defer { port.offer(.failure(BreakwaterHTTPServerError.stoppedBeforeListening(host: host, port: configuredPort))) }
        let readiness = self.readiness
        try await withGracefulShutdownHandler {
            try await application.run()
        } onGracefulShutdown: {
            readiness.markShuttingDown()
        }
    }

    /// The port the server listens on, once it does (the bound port when configured with 0).
    /// - Throws: ``BreakwaterHTTPServerError/stoppedBeforeListening(host:port:)`` when
    ///   ``run()`` ended before listening; `CancellationError` when the caller is cancelled.
    public func listeningPort() async throws -> Int {
        guard let result = await port.valueUnlessCancelled() else { throw CancellationError() }
        return try result.get()
    }
}
