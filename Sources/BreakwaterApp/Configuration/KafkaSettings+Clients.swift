import Foundation
import Kafka

extension KafkaSettings {
    /// The shared client settings for a client named `clientID`: the brokers and every
    /// other librdkafka property these settings stand for (security, SASL, TLS,
    /// pass-through), without `group.id` (a consumer names its group itself, and a
    /// tool never joins the workers' group).
    public func clientConfiguration(clientID: String) -> KafkaConfiguration {
        var properties = librdkafkaProperties
        for typed in ["bootstrap.servers", "client.id", "group.id"] { properties[typed] = nil }
        let servers = bootstrapServers.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return KafkaConfiguration(bootstrapServers: servers, clientID: clientID, properties: properties)
    }

    /// The client settings for a worker's consumer, producer and admin client.
    public func workerClientConfiguration() -> KafkaConfiguration {
        clientConfiguration(clientID: clientId)
    }
}
