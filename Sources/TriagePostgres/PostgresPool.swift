import Logging
import PostgresNIO
import ServiceLifecycle
import Triage
import Synchronization
import _ConnectionPoolModule

/// A pooled connection to one PostgreSQL database, shared by ``PostgresCatalog`` and
/// ``PostgresDedupStore``.
///
/// Wraps postgres-nio's `PostgresClient`. Structured concurrency: nothing connects until
/// ``run()`` runs in a long-lived task (a task group, or as a ServiceLifecycle `Service`);
/// cancelling ``run()`` closes the pool.
///
/// Every operation runs under ``PostgresConfiguration/operationTimeout`` (measured on the
/// injected clock). When it expires while no connection could be made, one direct
/// connection attempt (bounded by the connect timeout) finds out why, so the error says
/// "unreachable: connection refused" or "authenticationFailed: password authentication
/// failed …" instead of a bare timeout.
///
/// While no connection has proved the database reachable (at start, after an operation
/// could not reach it), operations share one direct connection attempt (``ConnectProbe``):
/// when the database refuses connections they fail at once as unreachable, with the
/// cause, instead of each waiting out the operation deadline.
///
/// After about a minute of failed connection attempts the pool trips its own connection
/// circuit breaker and only retries after a backoff of up to a minute; operations then
/// run on a dedicated connection instead, so service resumes as soon as the database
/// is reachable again (see ``dedicatedConnectionFallbacks``).
public final class PostgresPool: Sendable, Service {
    /// The configuration this pool connects with.
    public let configuration: PostgresConfiguration
    private let client: PostgresClient
    private let connectionConfiguration: PostgresConnection.Configuration
    private let logger: Logger
    private let sleep: @Sendable (Duration) async throws -> Void
    private let fallbacks = Atomic<Int>(0)
    private let probe: ConnectProbe

    /// Creates the pool (it does not connect yet).
    /// - Parameters:
    ///   - configuration: where and how to connect.
    ///   - logger: receives connection-level warnings; never sees the password.
    ///   - clock: measures the operation deadline (tests inject their own).
    /// - Throws: ``PostgresConfigurationError`` when the TLS settings cannot be used
    ///   (unreadable or invalid CA file).
    public init<C: Clock>(
        configuration: PostgresConfiguration,
        logger: Logger = Logger(label: "breakwater.postgres"),
        clock: C = ContinuousClock()
    ) throws where C.Duration == Duration {
        self.configuration = configuration
        self.client = PostgresClient(configuration: try configuration.clientConfiguration(), backgroundLogger: logger)
        self.connectionConfiguration = try configuration.connectionConfiguration()
        self.logger = logger
        let sleep: @Sendable (Duration) async throws -> Void = { duration in try await clock.sleep(for: duration) }
        self.sleep = sleep
        let connectionConfiguration = self.connectionConfiguration
        let connectTimeout = configuration.connectTimeout
        probe = ConnectProbe {
            await Self.attemptConnection(connectionConfiguration, within: connectTimeout, logger: logger, sleep: sleep)
        }
    }

    /// Runs the pool until the calling task is cancelled (or, under ServiceLifecycle, until
    /// graceful shutdown). Operations fail with ``PostgresStoreError/Kind/shutdown`` after it ends.
    public func run() async {
        await client.run()
    }

    /// Leases a pooled connection for `body`, under the operation deadline.
    ///
    /// `body` must not keep the connection, and must consume the rows it queries before
    /// returning (errors such as a statement timeout arrive while iterating them, and a
    /// row sequence must not outlive the lease). On cancellation or deadline the connection is
    /// closed, so a statement stuck on a dead network ends promptly.
    /// - Parameter operation: names the operation in error messages.
    /// - Throws: ``PostgresStoreError`` classifying the failure (unreachable, timed out,
    ///   statement timeout, authentication, connection lost, server error, shutdown), or
    ///   whatever `body` throws that is not a database error.
    public func withConnection<Result: Sendable>(
        _ operation: String,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let client = self.client
        let sleep = self.sleep
        let timeout = configuration.operationTimeout
        let connectionConfiguration = self.connectionConfiguration
        let logger = self.logger
        let work: @Sendable () async throws -> Result = {
            do {
                return try await client.withConnection { connection in
                    // Leased after the caller gave up: do not run the work late.
                    try Task.checkCancellation()
                    return try await Self.run(body, on: connection)
                }
            } catch let error as ConnectionPoolError where error == .connectionCreationCircuitBreakerTripped {
                // After a long outage the pool fails requests at once and retries
                // connecting only after its backoff (growing to a minute). A direct
                // connection tells at once whether the database is back, and if so
                // serves this operation, so recovery is not delayed by the backoff.
                self.fallbacks.add(1, ordering: .relaxed)
                let connection: PostgresConnection
                do {
                    connection = try await PostgresConnection.connect(
                        configuration: connectionConfiguration, id: 0, logger: logger
                    )
                } catch {
                    throw self.connectFailure(error, operation: operation, context: "the pool stopped connecting after repeated failures")
                }
                do {
                    try Task.checkCancellation()
                    let value = try await Self.run(body, on: connection)
                    try? await connection.close()
                    return value
                } catch {
                    try? await connection.close()
                    throw error
                }
            }
        }
        let probe = self.probe
        // Until the database is proven reachable, a refused probe ends the wait at once.
        let refusal: (@Sendable () async -> (any Error)?)? = probe.isProven ? nil : { @Sendable () async -> (any Error)? in
            guard let cause = await probe.refusal() else { return nil }
            return self.connectFailure(cause, operation: operation, context: "not waiting for the pool")
        }
        let outcome: DeadlineOutcome<Result>
        do {
            outcome = try await Self.race(work, deadline: { try await sleep(timeout) }, refusal: refusal)
        } catch where Task.isCancelled && !(error is PostgresStoreError || error is DedupDataError) {
            throw CancellationError()
        } catch {
            let failure: PostgresStoreError = switch error {
            case let error as PostgresStoreError: error
            case let error as DedupDataError:
                PostgresStoreError(kind: .badData, operation: operation, endpoint: configuration.endpoint, detail: error.problem)
            default: mapped(error, operation: operation)
            }
            switch failure.kind {
            case .unreachable, .connectionLost, .authenticationFailed, .timedOut: probe.lostContact()
            case .statementTimeout, .server, .badData: probe.succeeded()
            case .shutdown: break
            }
            throw failure
        }
        switch outcome {
        case .finished(let result):
            probe.succeeded()
            return result
        case .deadline:
            probe.lostContact()
            throw await diagnoseDeadline(operation: operation)
        }
    }

    /// Runs `body`, closing the connection if the task is cancelled (deadline), so a
    /// statement stuck on a dead network ends promptly.
    private static func run<Result: Sendable>(
        _ body: @Sendable (PostgresConnection) async throws -> Result,
        on connection: PostgresConnection
    ) async throws -> Result {
        try await withTaskCancellationHandler {
            try await body(connection)
        } onCancel: {
            connection.close()
        }
    }

    /// How many operations ran on a dedicated connection because the pool's own connection
    /// circuit breaker was open (after about a minute of failed connection attempts).
    public var dedicatedConnectionFallbacks: Int {
        fallbacks.load(ordering: .relaxed)
    }

    /// Classifies a failed direct connection attempt: rejected credentials and server
    /// errors keep their kind, anything else means the database is unreachable.
    private func connectFailure(_ error: any Error, operation: String, context: String) -> PostgresStoreError {
        let cause = mapped(error, operation: operation)
        let kind: PostgresStoreError.Kind = switch cause.kind {
        case .authenticationFailed, .server: cause.kind
        default: .unreachable
        }
        return PostgresStoreError(
            kind: kind, operation: operation, endpoint: configuration.endpoint,
            detail: "\(context); connecting fails: \(cause.detail)", sqlState: cause.sqlState
        )
    }

    func mapped(_ error: any Error, operation: String) -> PostgresStoreError {
        PostgresStoreError.from(error, operation: operation, endpoint: configuration.endpoint, secret: configuration.password)
    }

    /// After a missed deadline: tries one direct connection to tell "cannot connect (and why)"
    /// from "connected but too slow".
    private func diagnoseDeadline(operation: String) async -> PostgresStoreError {
        let timeoutMessage = "no result within \(PostgresConfiguration.milliseconds(configuration.operationTimeout)) ms"
        let connectTimeout = configuration.connectTimeout
        switch await Self.attemptConnection(connectionConfiguration, within: connectTimeout, logger: logger, sleep: sleep) {
        case .reachable:
            return PostgresStoreError(kind: .timedOut, operation: operation, endpoint: configuration.endpoint, detail: timeoutMessage)
        case .noAnswer:
            return PostgresStoreError(
                kind: .unreachable, operation: operation, endpoint: configuration.endpoint,
                detail: "\(timeoutMessage); a new connection did not complete its startup within \(PostgresConfiguration.milliseconds(connectTimeout)) ms"
            )
        case .refused(let error):
            return connectFailure(error, operation: operation, context: timeoutMessage)
        }
    }

    /// One direct connection (closed again at once), bounded by `timeout` on the pool's
    /// clock: whether the database accepts connections right now, and if not, why.
    static func attemptConnection(
        _ configuration: PostgresConnection.Configuration, within timeout: Duration, logger: Logger,
        sleep: @escaping @Sendable (Duration) async throws -> Void
    ) async -> ConnectProbe.Verdict {
        await withTaskGroup(of: ConnectProbe.Verdict.self) { group in
            group.addTask {
                do {
                    let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
                    try? await connection.close()
                    return .reachable
                } catch {
                    return .refused(error)
                }
            }
            group.addTask {
                try? await sleep(timeout)  // cancelled when the attempt finished first
                return .noAnswer
            }
            defer { group.cancelAll() }
            return await group.next() ?? .noAnswer
        }
    }
}

/// Which came first: the operation or its deadline.
enum DeadlineOutcome<Value: Sendable>: Sendable {
    case finished(Value)
    case deadline
}

extension PostgresPool {
    /// Runs `work` until it finishes or `deadline` returns, whichever is first, and
    /// cancels the other. Unstructured on purpose: a structured group would wait for a
    /// cancelled `work` to return, and postgres-nio's lease can miss a cancellation that
    /// arrives while the request is being queued (it then waits for a connection for as
    /// long as the database is down). The caller's own cancellation cancels both.
    /// A `refusal` that returns an error ends the race with it (one returning `nil` drops
    /// out).
    /// - Throws: `work`'s error, the refusal's, or `CancellationError` when the caller was
    ///   cancelled.
    static func race<Value: Sendable>(
        _ work: @escaping @Sendable () async throws -> Value,
        deadline: @escaping @Sendable () async throws -> Void,
        refusal: (@Sendable () async -> (any Error)?)? = nil
    ) async throws -> DeadlineOutcome<Value> {
        let first = FirstOffer<Result<DeadlineOutcome<Value>, any Error>>()
        let worker = Task {
            do {
                first.offer(.success(.finished(try await work())))
            } catch {
                first.offer(.failure(error))
            }
        }
        let timer = Task {
            // Only a deadline that really passed ends the race; a cancelled timer does not.
            if (try? await deadline()) != nil { first.offer(.success(.deadline)) }
        }
        let refuser = refusal.map { refusal in
            Task {
                if let error = await refusal() { first.offer(.failure(error)) }
            }
        }
        let outcome = await withTaskCancellationHandler {
            await first.value()
        } onCancel: {
            first.offer(.failure(CancellationError()))
        }
        worker.cancel()
        timer.cancel()
        refuser?.cancel()
        return try outcome.get()
    }
}

/// A row from the dedup table with an impossible shape.
struct DedupDataError: Error {
    let problem: String
}
