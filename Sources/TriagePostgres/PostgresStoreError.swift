import PostgresNIO
import _ConnectionPoolModule

/// Why a PostgreSQL-backed operation failed, in words an operator can act on.
///
/// The message names the operation and `host:port/database`, never the password
/// (any accidental occurrence of it in a driver message is replaced by `***`).
public struct PostgresStoreError: Error, Sendable, CustomStringConvertible {
    /// The class of failure; a breaker or fallback chain decides on this, not on the text.
    public enum Kind: String, Sendable, Equatable {
        /// No connection could be made: refused, connect timeout, closed during startup.
        case unreachable
        /// The operation did not finish within ``PostgresConfiguration/operationTimeout``.
        case timedOut
        /// The server cancelled a statement after `statement_timeout` (SQLSTATE 57014).
        case statementTimeout
        /// The server rejected the credentials (SQLSTATE 28P01 / 28000).
        case authenticationFailed
        /// An established connection broke mid-operation.
        case connectionLost
        /// The server answered with another error (see ``PostgresStoreError/sqlState``).
        case server
        /// A row did not have the expected shape.
        case badData
        /// The pool is not running (``PostgresPool/run()`` not started or already ended).
        case shutdown
    }

    /// The class of failure.
    public let kind: Kind
    /// What was being done, e.g. `catalog lookup`.
    public let operation: String
    /// `host:port/database`.
    public let endpoint: String
    /// Human-readable cause.
    public let detail: String
    /// SQLSTATE code for server errors, when known.
    public let sqlState: String?

    /// Creates an error; `detail` must not contain secrets.
    public init(kind: Kind, operation: String, endpoint: String, detail: String, sqlState: String? = nil) {
        self.kind = kind
        self.operation = operation
        self.endpoint = endpoint
        self.detail = detail
        self.sqlState = sqlState
    }

    /// `PostgreSQL <operation> at <host:port/db> failed: <kind>: <detail> (SQLSTATE …)`.
    public var description: String {
        let state = sqlState.map { " (SQLSTATE \($0))" } ?? ""
        return "PostgreSQL \(operation) at \(endpoint) failed: \(kind.rawValue): \(detail)\(state)"
    }
}

extension PostgresStoreError {
    /// Classifies an error thrown by postgres-nio. `secret` (the password) is scrubbed from the detail.
    static func from(_ error: any Error, operation: String, endpoint: String, secret: String?) -> PostgresStoreError {
        if let error = error as? PostgresStoreError { return error }
        func make(_ kind: Kind, _ detail: String, sqlState: String? = nil) -> PostgresStoreError {
            var detail = detail
            if let secret, !secret.isEmpty { detail = detail.replacingOccurrences(of: secret, with: "***") }
            return PostgresStoreError(kind: kind, operation: operation, endpoint: endpoint, detail: detail, sqlState: sqlState)
        }
        if let pool = error as? ConnectionPoolError {
            switch pool {
            case .connectionCreationCircuitBreakerTripped:
                return make(.unreachable, "the connection pool gave up connecting")
            case .poolShutdown:
                return make(.shutdown, "the connection pool is shut down")
            default:
                return make(.timedOut, "the request for a connection was cancelled")
            }
        }
        guard let psql = error as? PSQLError else {
            return make(.server, String(describing: error))
        }
        let underlying = psql.underlying.map(describe)
        switch psql.code {
        case .server:
            let state = psql.serverInfo?[.sqlState]
            let message = psql.serverInfo?[.message] ?? "server error"
            switch state {
            case "57014": return make(.statementTimeout, message, sqlState: state)
            case "28P01", "28000": return make(.authenticationFailed, message, sqlState: state)
            case let state? where state.hasPrefix("08") || state.hasPrefix("57P"):
                return make(.connectionLost, message, sqlState: state)
            default: return make(.server, message, sqlState: state)
            }
        case .connectionError:
            return make(.unreachable, "cannot connect: \(underlying ?? "connection error")")
        case .serverClosedConnection, .uncleanShutdown:
            return make(.connectionLost, "the server closed the connection\(underlying.map { ": \($0)" } ?? "")")
        case .clientClosedConnection, .queryCancelled:
            return make(.timedOut, "the operation was cancelled")
        case .poolClosed:
            return make(.shutdown, "the connection pool is shut down")
        case .sslUnsupported:
            return make(.unreachable, "the server does not support TLS but sslmode=require")
        case .failedToAddSSLHandler, .receivedUnencryptedDataAfterSSLRequest:
            return make(.unreachable, "TLS setup failed\(underlying.map { ": \($0)" } ?? "")")
        case .unsupportedAuthMechanism, .authMechanismRequiresPassword, .saslError:
            return make(.authenticationFailed, "authentication failed (\(psql.code))")
        default:
            return make(.server, "\(psql.code)\(underlying.map { ": \($0)" } ?? "")")
        }
    }

    /// A driver error in words. PSQLError's own description is deliberately generic, so
    /// nested ones are described by their code and server message (never the query).
    private static func describe(_ error: any Error) -> String {
        guard let psql = error as? PSQLError else { return String(describing: error) }
        if let message = psql.serverInfo?[.message] { return "\(psql.code): \(message)" }
        return "\(psql.code)"
    }
}
