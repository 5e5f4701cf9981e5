import Triage

/// A closed set of allowed strings in the configuration. Decoding any other string
/// fails with `DecodingError.dataCorrupted` whose description lists what is allowed.
public protocol ConfigEnum: Sendable, Hashable, Codable, CaseIterable, RawRepresentable where RawValue == String {}

extension ConfigEnum {
    /// `one of a, b, c`: what the configuration accepts for this setting.
    public static var allowedDescription: String {
        "one of " + allCases.map(\.rawValue).joined(separator: ", ")
    }

    /// Decodes from one of the raw values; throws `DecodingError.dataCorrupted` naming
    /// the allowed values otherwise.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let value = Self(rawValue: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: Self.allowedDescription)
        }
        self = value
    }

    /// Encodes the raw value.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// `kafka.assignmentStrategy`: librdkafka's `partition.assignment.strategy`.
public enum KafkaAssignmentStrategy: String, ConfigEnum {
    /// Incremental rebalancing: only moved partitions are revoked.
    case cooperativeSticky = "cooperative-sticky"
    /// Eager: every rebalance revokes everything, then assigns ranges.
    case range
    /// Eager: every rebalance revokes everything, then assigns round-robin.
    case roundRobin = "roundrobin"
}

/// `kafka.securityProtocol`.
public enum KafkaSecurityProtocol: String, ConfigEnum {
    /// No TLS, no SASL.
    case plaintext
    /// TLS without SASL.
    case ssl
    /// SASL without TLS.
    case saslPlaintext = "sasl_plaintext"
    /// SASL over TLS.
    case saslSSL = "sasl_ssl"

    /// Whether SASL credentials are used.
    public var usesSASL: Bool { self == .saslPlaintext || self == .saslSSL }
}

/// Kafka `sasl.mechanisms`.
public enum KafkaSASLMechanism: String, ConfigEnum {
    /// User name and password in clear (use with `sasl_ssl`).
    case plain = "PLAIN"
    /// SCRAM with SHA-256.
    case scramSHA256 = "SCRAM-SHA-256"
    /// SCRAM with SHA-512.
    case scramSHA512 = "SCRAM-SHA-512"
}

/// PostgreSQL TLS mode, named like libpq's `sslmode`.
public enum PostgresTLSMode: String, ConfigEnum {
    /// No TLS.
    case disable
    /// TLS when the server offers it, without certificate verification.
    case prefer
    /// TLS required, without certificate verification.
    case require
    /// TLS required, certificate verified against the CA, host name not checked.
    case verifyCA = "verify-ca"
    /// TLS required, certificate and host name verified.
    case verifyFull = "verify-full"
}

/// How a circuit breaker's sliding window is measured.
public enum BreakerWindowType: String, ConfigEnum {
    /// The last `windowSize` calls.
    case count
    /// The calls of the last `windowDuration`.
    case time
}

/// Minimum log level (swift-log's levels).
public enum LogLevelSetting: String, ConfigEnum {
    /// Everything.
    case trace
    /// Diagnostic detail.
    case debug
    /// Normal operation (default).
    case info
    /// Notable events.
    case notice
    /// Degraded but working (breaker transitions, fallbacks).
    case warning
    /// Failures.
    case error
    /// Failures that stop the worker.
    case critical
}

/// `ml.lowConfidence` (the type lives in Triage, with the policy it configures).
extension LowConfidenceVerdict: ConfigEnum {}

/// Log line format.
public enum LogFormat: String, ConfigEnum {
    /// One JSON object per line.
    case json
    /// `key=value` pairs per line.
    case logfmt
}
