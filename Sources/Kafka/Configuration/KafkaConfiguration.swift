/// Settings every Kafka client shares: where the cluster is, who we are, and any
/// librdkafka property passed through verbatim (e.g. `security.protocol`, `sasl.*`,
/// `ssl.*`), so TLS/SASL clusters work without a typed field for each.
///
/// `description` masks the values of secret properties (passwords, keys, tokens).
public struct KafkaConfiguration: Sendable, CustomStringConvertible {
    /// `host:port` of one or more brokers (`bootstrap.servers`).
    public var bootstrapServers: [String]
    /// `client.id`, shown in broker logs and metrics. Default `breakwater`.
    public var clientID: String
    /// Any librdkafka property, applied after the typed fields (so it can override them).
    /// A property librdkafka does not know, or a value it rejects, makes client creation
    /// throw a ``KafkaError`` naming the property.
    public var properties: [String: String]

    /// Creates a configuration for the given brokers.
    public init(bootstrapServers: [String], clientID: String = "breakwater", properties: [String: String] = [:]) {
        self.bootstrapServers = bootstrapServers
        self.clientID = clientID
        self.properties = properties
    }

    /// Whether a property's value is secret and must never be logged or described.
    public static func isSecret(_ property: String) -> Bool {
        let lower = property.lowercased()
        return ["password", "secret", "ssl.key.pem", "ssl_key", "ssl.keystore", "token", "oauthbearer.config", "sasl.jaas"]
            .contains { lower.contains($0) }
    }

    /// The value to show in logs and descriptions.
    static func displayValue(_ property: String, _ value: String) -> String {
        isSecret(property) ? "*****" : value
    }

    func librdkafkaProperties() -> [(String, String)] {
        [("bootstrap.servers", bootstrapServers.joined(separator: ",")), ("client.id", clientID)]
    }

    public var description: String {
        let shown = properties.keys.sorted().map { "\($0)=\(Self.displayValue($0, properties[$0] ?? ""))" }
        return "KafkaConfiguration(bootstrap: \(bootstrapServers.joined(separator: ",")), client.id: \(clientID), properties: [\(shown.joined(separator: ", "))])"
    }
}
