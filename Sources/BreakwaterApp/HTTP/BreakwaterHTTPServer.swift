import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

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
public struct BreakwaterHTTPServer: Service {
    private let application: Application<RouterResponder<BasicRequestContext>>
    private let readiness: Readiness
    private let port: PortPromise
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
        let port = PortPromise()
        self.application = Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(settings.host, port: settings.port)),
            onServerRunning: { channel in port.succeed(channel.localAddress?.port ?? settings.port) },
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
        defer { port.fail(BreakwaterHTTPServerError.stoppedBeforeListening(host: host, port: configuredPort)) }
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
        try await port.value()
    }
}

/// A one-shot value that many tasks can await; the first `succeed` or `fail` wins.
final class PortPromise: Sendable {
    private enum State {
        case waiting([Int: CheckedContinuation<Int, any Error>], nextID: Int)
        case done(Result<Int, any Error>)
    }

    private let state = Mutex(State.waiting([:], nextID: 0))

    func succeed(_ port: Int) { complete(.success(port)) }

    func fail(_ error: any Error) { complete(.failure(error)) }

    private func complete(_ result: Result<Int, any Error>) {
        let waiters = state.withLock { state -> [CheckedContinuation<Int, any Error>] in
            guard case .waiting(let waiters, _) = state else { return [] }
            state = .done(result)
            return Array(waiters.values)
        }
        for waiter in waiters { waiter.resume(with: result) }
    }

    func value() async throws -> Int {
        let id = state.withLock { state -> Int? in
            guard case .waiting(let waiters, let nextID) = state else { return nil }
            state = .waiting(waiters, nextID: nextID + 1)
            return nextID
        }
        guard let id else { return try result().get() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let immediate = state.withLock { state -> Result<Int, any Error>? in
                    switch state {
                    case .done(let result):
                        return result
                    case .waiting(var waiters, let nextID):
                        if Task.isCancelled { return .failure(CancellationError()) }
                        waiters[id] = continuation
                        state = .waiting(waiters, nextID: nextID)
                        return nil
                    }
                }
                if let immediate { continuation.resume(with: immediate) }
            }
        } onCancel: {
            let cancelled = state.withLock { state -> CheckedContinuation<Int, any Error>? in
                guard case .waiting(var waiters, let nextID) = state, let waiter = waiters.removeValue(forKey: id) else { return nil }
                state = .waiting(waiters, nextID: nextID)
                return waiter
            }
            cancelled?.resume(throwing: CancellationError())
        }
    }

    private func result() -> Result<Int, any Error> {
        state.withLock { state in
            if case .done(let result) = state { return result }
            return .failure(CancellationError())
        }
    }
}
