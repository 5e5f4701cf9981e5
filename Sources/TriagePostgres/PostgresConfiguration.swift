import Foundation
import PostgresNIO

/// How to reach one PostgreSQL database (the catalog primary, a read replica, the
/// dedup store): endpoint, credentials, pool size, timeouts and TLS.
///
/// Usually parsed from a DSN with ``init(url:)``. ``description`` masks the password,
/// so the value can be logged; nothing in this module logs or throws the password.
public struct PostgresConfiguration: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// TLS mode, as in libpq's `sslmode`.
    public enum TLSMode: String, Sendable, Equatable {
        /// Plain TCP only.
        case disable
        /// TLS when the server offers it, plain TCP otherwise (libpq's default).
        case prefer
        /// TLS or fail. The server certificate is verified against ``PostgresConfiguration/caFile``
        /// (or the system trust roots when no CA file is given).
        case require
    }

    /// Server host name or IP address.
    public var host: String
    /// Server TCP port (default 5432).
    public var port: Int
    /// Role to log in as.
    public var username: String
    /// The password; `nil` for none. Never included in ``description``.
    public var password: String?
    /// Database to open.
    public var database: String
    /// Maximum number of pooled connections (at least 1).
    public var poolSize: Int
    /// PostgreSQL `statement_timeout`, sent as a startup parameter on every connection;
    /// `nil` leaves the server default. A statement running longer is cancelled by the
    /// server and fails with ``PostgresStoreError/Kind/statementTimeout``.
    public var statementTimeout: Duration?
    /// Timeout of one TCP connect attempt.
    public var connectTimeout: Duration
    /// Deadline for one whole operation (waiting for a pooled connection, connecting,
    /// running the statements). Bounds how long a caller waits while the database is
    /// unreachable: the pool itself would keep a request queued for up to a minute.
    public var operationTimeout: Duration
    /// TLS mode (default `prefer`).
    public var tls: TLSMode
    /// PEM file with the CA certificate(s) trusted for the server certificate (`sslrootcert`).
    public var caFile: String?

    /// Creates a configuration; defaults: pool 10, statement timeout 2 s, connect timeout 2 s,
    /// operation timeout 5 s, TLS `prefer`.
    public init(
        host: String,
        port: Int = 5432,
        username: String,
        password: String?,
        database: String,
        poolSize: Int = 10,
        statementTimeout: Duration? = .seconds(2),
        connectTimeout: Duration = .seconds(2),
        operationTimeout: Duration = .seconds(5),
        tls: TLSMode = .prefer,
        caFile: String? = nil
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.poolSize = poolSize
        self.statementTimeout = statementTimeout
        self.connectTimeout = connectTimeout
        self.operationTimeout = operationTimeout
        self.tls = tls
        self.caFile = caFile
    }

    /// Parses a DSN: `postgres[ql]://user:password@host:port/database?param=value&...`.
    ///
    /// User and password may be percent-encoded. Query parameters (all optional):
    /// - `sslmode`: `disable`, `prefer`, `require` (`allow` reads as `prefer`; `verify-ca`
    ///   and `verify-full` read as `require`, which always verifies);
    /// - `sslrootcert`: CA file path;
    /// - `pool_size`: maximum pooled connections;
    /// - `statement_timeout`: milliseconds, or with a unit (`250ms`, `2s`); `0` disables;
    /// - `connect_timeout`: seconds (as libpq), or with a unit;
    /// - `operation_timeout`: milliseconds, or with a unit.
    ///
    /// - Throws: ``PostgresConfigurationError`` for a malformed URL, wrong scheme, missing
    ///   host, user or database, bad port, unknown parameter or bad value. Its message
    ///   never contains the password.
    public init(url: String) throws {
        guard let components = URLComponents(string: url) else {
            throw PostgresConfigurationError("not a valid URL")
        }
        guard let scheme = components.scheme?.lowercased(), scheme == "postgres" || scheme == "postgresql" else {
            throw PostgresConfigurationError("scheme must be postgres:// or postgresql://")
        }
        guard let host = components.host, !host.isEmpty else { throw PostgresConfigurationError("missing host") }
        guard let user = components.user, !user.isEmpty else { throw PostgresConfigurationError("missing user") }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else {
            throw PostgresConfigurationError("missing or invalid database name in the path")
        }
        self.init(host: host, port: components.port ?? 5432, username: user, password: components.password, database: database)
        guard (1...65535).contains(port) else { throw PostgresConfigurationError("port \(port) out of range") }

        for item in components.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name {
            case "sslmode":
                switch value {
                case "disable": tls = .disable
                case "allow", "prefer": tls = .prefer
                case "require", "verify-ca", "verify-full": tls = .require
                default: throw PostgresConfigurationError("sslmode `\(value)` is not one of disable, prefer, require")
                }
            case "sslrootcert":
                guard !value.isEmpty else { throw PostgresConfigurationError("sslrootcert is empty") }
                caFile = value
            case "pool_size", "pool_max":
                guard let size = Int(value), size >= 1 else {
                    throw PostgresConfigurationError("\(item.name) must be an integer >= 1, got `\(value)`")
                }
                poolSize = size
            case "statement_timeout":
                let timeout = try Self.duration(value, defaultUnit: .milliseconds(1), parameter: item.name)
                statementTimeout = timeout == .zero ? nil : timeout
            case "connect_timeout":
                connectTimeout = try Self.positiveDuration(value, defaultUnit: .seconds(1), parameter: item.name)
            case "operation_timeout":
                operationTimeout = try Self.positiveDuration(value, defaultUnit: .milliseconds(1), parameter: item.name)
            default:
                throw PostgresConfigurationError("unknown parameter `\(item.name)`")
            }
        }
    }

    /// The DSN with the password masked as `***`, plus the effective settings.
    public var description: String {
        let credentials = password == nil ? username : "\(username):***"
        var text = "postgres://\(credentials)@\(endpoint)?sslmode=\(tls.rawValue)"
        if let caFile { text += "&sslrootcert=\(caFile)" }
        text += "&pool_size=\(poolSize)"
        text += "&statement_timeout=\(Self.milliseconds(statementTimeout ?? .zero))ms"
        text += "&connect_timeout=\(Self.milliseconds(connectTimeout))ms"
        text += "&operation_timeout=\(Self.milliseconds(operationTimeout))ms"
        return text
    }

    /// Same as ``description``: the password stays masked in debug output too.
    public var debugDescription: String { description }

    /// `host:port/database`, for messages.
    public var endpoint: String {
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return "\(hostPart):\(port)/\(database)"
    }

    // MARK: - postgres-nio configuration

    /// The TLS configuration for postgres-nio.
    /// - Throws: ``PostgresConfigurationError`` when the CA file cannot be loaded.
    func nioTLSConfiguration() throws -> TLSConfiguration? {
        guard tls != .disable else { return nil }
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let caFile {
            guard FileManager.default.isReadableFile(atPath: caFile) else {
                throw PostgresConfigurationError("CA file \(caFile) is not readable")
            }
            do {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            } catch {
                throw PostgresConfigurationError("CA file \(caFile) is not a PEM certificate file: \(error)")
            }
        }
        return configuration
    }

    /// Startup parameters applied to every connection.
    var startupParameters: [(String, String)] {
        guard let statementTimeout else { return [] }
        return [("statement_timeout", String(max(1, Self.milliseconds(statementTimeout))))]
    }

    /// The pooled-client configuration.
    func clientConfiguration() throws -> PostgresClient.Configuration {
        let tlsMode: PostgresClient.Configuration.TLS
        switch (tls, try nioTLSConfiguration()) {
        case (.prefer, let configuration?): tlsMode = .prefer(configuration)
        case (.require, let configuration?): tlsMode = .require(configuration)
        default: tlsMode = .disable
        }
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tlsMode
        )
        configuration.options.maximumConnections = max(1, poolSize)
        configuration.options.minimumConnections = 0
        configuration.options.connectTimeout = connectTimeout
        configuration.options.additionalStartupParameters = startupParameters
        configuration.options.keepAliveBehavior = .init(frequency: .seconds(30))
        return configuration
    }

    /// A single-connection configuration (used to diagnose why the pool cannot connect).
    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let tlsMode: PostgresConnection.Configuration.TLS
        do {
            switch (tls, try nioTLSConfiguration()) {
            case (.prefer, let configuration?): tlsMode = .prefer(try NIOSSLContext(configuration: configuration))
            case (.require, let configuration?): tlsMode = .require(try NIOSSLContext(configuration: configuration))
            default: tlsMode = .disable
            }
        } catch let error as PostgresConfigurationError {
            throw error
        } catch {
            throw PostgresConfigurationError("cannot create the TLS context: \(error)")
        }
        var configuration = PostgresConnection.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tlsMode
        )
        configuration.options.connectTimeout = .nanoseconds(Int64(Self.milliseconds(connectTimeout)) * 1_000_000)
        configuration.options.additionalStartupParameters = startupParameters
        return configuration
    }

    // MARK: - Durations

    static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
    }

    private static func positiveDuration(_ text: String, defaultUnit: Duration, parameter: String) throws -> Duration {
        let duration = try duration(text, defaultUnit: defaultUnit, parameter: parameter)
        guard duration > .zero else { throw PostgresConfigurationError("\(parameter) must be greater than zero") }
        return duration
    }

    private static func duration(_ text: String, defaultUnit: Duration, parameter: String) throws -> Duration {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [(suffix: String, unit: Duration)] = [("ms", .milliseconds(1)), ("s", .seconds(1)), ("min", .seconds(60))]
        var number = trimmed
        var unit = defaultUnit
        for candidate in units where trimmed.hasSuffix(candidate.suffix) {
            number = String(trimmed.dropLast(candidate.suffix.count))
            unit = candidate.unit
            break
        }
        guard let value = Int(number), value >= 0 else {
            throw PostgresConfigurationError("\(parameter) must be a non-negative integer with an optional unit (ms, s, min), got `\(text)`")
        }
        return unit * value
    }
}

/// A DSN or configuration that cannot be used. The message never contains the password.
public struct PostgresConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong with the DSN or configuration.
    public let problem: String
    init(_ problem: String) { self.problem = problem }
    /// `invalid PostgreSQL configuration: <problem>`.
    public var description: String { "invalid PostgreSQL configuration: \(problem)" }
}
