import Foundation

/// How a configuration value must be shown in logs, descriptions and error messages.
public enum Sensitivity: Sendable, Hashable {
    /// Shown as is.
    case none
    /// Never shown: replaced by `********`.
    case secret
    /// A URL whose password (userinfo) is replaced by `********`.
    case url

    /// `raw` as it may be shown.
    public func mask(_ raw: String) -> String {
        switch self {
        case .none: return raw
        case .secret: return raw.isEmpty ? "" : Self.mask
        case .url: return Self.maskingPassword(in: raw)
        }
    }

    static let mask = "********"

    /// Replaces the password of a `scheme://user:password@host/...` URL (and any
    /// `password=` query item). When the text cannot be parsed as a URL, all of it is
    /// masked rather than risk showing a secret.
    static func maskingPassword(in raw: String) -> String {
        guard var components = URLComponents(string: raw), components.scheme != nil else {
            return raw.isEmpty ? "" : mask
        }
        if components.password != nil { components.password = mask }
        if let items = components.queryItems {
            components.queryItems = items.map { item in
                let name = item.name.lowercased()
                guard name.contains("password") || name.contains("secret") else { return item }
                return URLQueryItem(name: item.name, value: mask)
            }
        }
        return components.string ?? mask
    }

    /// Whether a pass-through client property (librdkafka style, e.g.
    /// `sasl.password`, `ssl.key.pem`) holds a secret.
    public static func isSensitiveProperty(_ name: String) -> Bool {
        let lower = name.lowercased()
        return ["password", "secret", "token", "key.pem", "keystore", "oauthbearer.config", "credentials"]
            .contains { lower.contains($0) }
    }
}

/// A configuration value that is marked sensitive by its type.
protocol SensitiveConfigValue {
    static var sensitivity: Sensitivity { get }
}

/// A secret string (password, token). Its `description` never shows the value.
///
/// It encodes its real value only for the configuration loader's own tree encoder;
/// any other `Encoder` (JSON, property lists) receives `********`, so encoding a
/// configuration for logging cannot leak it.
public struct Secret: Sendable, Hashable, Codable, CustomStringConvertible, SensitiveConfigValue {
    /// The secret itself. Do not log it.
    public let value: String
    static let sensitivity = Sensitivity.secret

    /// Wraps a secret.
    public init(_ value: String) { self.value = value }

    /// Always `********` (or empty for an empty secret).
    public var description: String { Sensitivity.secret.mask(value) }

    /// Decodes from a string.
    public init(from decoder: any Decoder) throws {
        value = try decoder.singleValueContainer().decode(String.self)
    }

    /// Encodes the value for the configuration tree encoder, `********` for any other encoder.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(encoder is ConfigTreeEncoder ? value : description)
    }
}

/// A database connection URL (`postgres://user:password@host:port/db?...`) whose
/// password is masked in `description` and in any encoding except the loader's own.
public struct DatabaseURL: Sendable, Hashable, Codable, CustomStringConvertible, SensitiveConfigValue {
    /// The full URL, including the password. Do not log it.
    public let rawValue: String
    static let sensitivity = Sensitivity.url

    /// Wraps a URL string. Validation happens when a configuration is validated.
    public init(_ rawValue: String) { self.rawValue = rawValue }

    /// The URL with its password masked.
    public var description: String { Sensitivity.url.mask(rawValue) }

    /// The parsed URL components, or `nil` when the text is not a URL.
    public var components: URLComponents? { URLComponents(string: rawValue) }

    /// Decodes from a string.
    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    /// Encodes the URL for the configuration tree encoder, the masked URL for any other encoder.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(encoder is ConfigTreeEncoder ? rawValue : description)
    }
}
