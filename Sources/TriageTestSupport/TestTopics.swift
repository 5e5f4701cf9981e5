import Kafka
import Logging

/// Topics on the broker the tests run against (scripts/kafka-up).
public enum TestTopics {
    /// Creates one fresh topic per prefix, named by ``uniqueName(_:)``, each with
    /// `partitions` partitions, and returns their names in the prefixes' order.
    public static func create(
        _ prefixes: [String], partitions: Int32 = 1, configuration: KafkaConfiguration, logger: Logger
    ) async throws -> [String] {
        let names = prefixes.map(uniqueName)
        let admin = try KafkaAdmin(configuration: configuration, logger: logger)
        defer { admin.close() }
        try await admin.createTopics(names.map { KafkaTopicSpecification(name: $0, partitions: partitions) })
        return names
    }

    /// Deletes `names`, ignoring missing topics and any failure (it is clean-up).
    public static func delete(_ names: [String], configuration: KafkaConfiguration, logger: Logger) async {
        guard let admin = try? KafkaAdmin(configuration: configuration, logger: logger) else { return }
        defer { admin.close() }
        try? await admin.deleteTopics(names, ignoreMissing: true)
    }
}
