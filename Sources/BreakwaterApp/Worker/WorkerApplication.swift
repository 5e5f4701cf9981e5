import Foundation
import Kafka
import Logging
import Prometheus
import Resilience
import ServiceLifecycle
import Triage
import TriageML
import TriagePostgres

/// `breakwater run`: builds every part of a worker from its configuration and runs them
/// as one service group — the HTTP server, the PostgreSQL pools, the schema migrator and
/// the pipeline worker.
///
/// Only Kafka must be reachable at start. The ML server and PostgreSQL may be down from
/// the first second: their breakers open, alerts are classified by the rules and enriched
/// from the static catalog, and the worker starts using them once they answer.
public struct WorkerApplication: Sendable {
    /// Breaker names, as they appear in metrics, events and the admin API.
    public enum BreakerName {
        public static let ml = "ml"
        public static let catalog = "catalog"
        public static let catalogSecondary = "catalog_secondary"
        public static let dedup = "dedup"
    }

    public let configuration: BreakwaterConfiguration
    public let logger: Logger

    public init(configuration: BreakwaterConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// A problem that stops the start, with what to fix.
    public struct StartError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Runs until graceful shutdown (``ServiceGroup/triggerGracefulShutdown()``) or
    /// cancellation.
    /// - Parameters:
    ///   - metrics: the registry `/metrics` serves (the one the process bootstrapped).
    ///   - onServiceGroup: receives the group once built, so the caller can trigger a
    ///     graceful shutdown on a signal.
    /// - Throws: ``StartError`` for a rule file, static catalog, DSN or Kafka setting that
    ///   cannot be used; a Kafka error when topics cannot be created; a service's error.
    public func run(
        metrics: PrometheusCollectorRegistry,
        onServiceGroup: @Sendable (ServiceGroup) -> Void = { _ in }
    ) async throws {
        let config = configuration
        let breakers = try CircuitBreakerRegistry(logger: logger)
        func breaker(_ name: String, _ settings: BreakerSettings) throws -> CircuitBreaker {
            do {
                return try breakers.breaker(named: name, configuration: settings.circuitBreakerConfiguration())
            } catch {
                throw StartError(description: "breakers.\(name): \(error)")
            }
        }

        // Classification: ML behind its breaker and feature flag, the rules as fallback.
        let rules: RuleClassifier
        do {
            rules = try RuleClassifier(contentsOf: config.rules.file)
        } catch {
            throw StartError(description: "rules.file: \(error)")
        }
        let mlBreaker = try breaker(BreakerName.ml, config.breakers.ml)
        let features = FeatureFallback()
        features.register(GuardedClassification.featureName, breaker: mlBreaker, enabled: config.features.mlClassification)
        let mlConfiguration = config.ml.enabled ? try mlClientConfiguration() : nil

        // Enrichment: PostgreSQL catalog, stale cache, replica, static file, default.
        let staticCatalog: StaticCatalog
        do {
            staticCatalog = try StaticCatalog(contentsOf: URL(fileURLWithPath: config.catalog.staticCatalogFile))
        } catch {
            throw StartError(description: "catalog.staticCatalogFile: \(error)")
        }
        let primaryPool = try makePool(config.catalog.postgresURL.rawValue, key: "catalog.postgresURL")
        let secondaryPool = try config.catalog.secondaryURL.map { try makePool($0.rawValue, key: "catalog.secondaryURL") }
        let catalog = PostgresCatalog(pool: primaryPool)
        let cache: StaleCache<String, ServiceInfo>
        do {
            cache = try StaleCache(freshFor: config.catalog.cacheTTL.duration, staleFor: config.catalog.staleTTL.duration)
        } catch {
            throw StartError(description: "catalog.cacheTTL/staleTTL: \(error)")
        }
        let enrichment = CatalogEnrichment(
            primary: catalog,
            breaker: try breaker(BreakerName.catalog, config.breakers.catalog),
            secondary: try secondaryPool.map {
                (catalog: PostgresCatalog(pool: $0), breaker: try breaker(BreakerName.catalogSecondary, config.breakers.catalogSecondary))
            },
            staticCatalog: staticCatalog,
            cache: cache
        )

        // Dedup: the same database, read-only while its breaker is open.
        let dedupStore = config.dedup.enabled ? PostgresDedupStore(pool: primaryPool) : nil
        let degradedDedup = try dedupStore.map {
            DegradedService<any DedupStore>(service: $0, breaker: try breaker(BreakerName.dedup, config.breakers.dedup))
        }
        let dedup: any DedupStage = degradedDedup.map { GuardedDedup(store: $0) } ?? DisabledDedup()

        // Kafka: topics, consumer, producer.
        let kafka = config.kafka.workerClientConfiguration()
        if config.kafka.createTopics {
            try await createTopics(kafka)
        }
        let readiness = Readiness()
        let consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(
                common: kafka,
                groupID: config.kafka.groupId,
                assignmentStrategy: config.kafka.assignmentStrategy.consumerStrategy,
                isolationLevel: .readCommitted,
                // Exactly-once: offsets are committed inside the worker's transactions.
                offsetCommits: config.pipeline.exactlyOnce ? .manual : .automatic,
                commitInterval: config.pipeline.commitInterval.duration
            ),
            topics: [config.topics.alerts],
            logger: logger
        )
        let producerConfiguration = KafkaProducerConfiguration(common: kafka)
        let delivery: PipelineWorker.Delivery = config.pipeline.exactlyOnce
            ? .exactlyOnce(try KafkaTransactionalProducer(
                configuration: producerConfiguration, transactionalID: transactionalID, logger: logger
            ))
            : .atLeastOnce(try KafkaProducer(configuration: producerConfiguration, logger: logger))
        readiness.setProducerConnected(true)

        // Nothing below throws: the HTTP client must be shut down once it exists.
        let mlClient = mlConfiguration.map { MLClient(configuration: $0, logger: logger) }
        let batcher = mlClient.map {
            MicroBatcher(
                upstream: $0,
                configuration: .init(maxBatchSize: config.ml.maxBatchSize, maxWait: config.ml.maxBatchWait.duration)
            )
        }
        let processor = AlertProcessor(
            decoder: .configured(by: config.pipeline),
            enrichment: enrichment,
            classification: GuardedClassification(ml: batcher, rules: rules, breaker: mlBreaker, features: features),
            dedup: dedup,
            workerID: config.pipeline.workerId
        )
        let topics = PipelineTopics(
            alerts: config.topics.alerts, classified: config.topics.classified,
            fallbackEvents: config.topics.fallbackEvents, deadLetter: config.topics.deadLetter
        )
        let onStateChange: @Sendable (PipelineWorkerState) -> Void = { state in
            switch state {
            case .joinedGroup: readiness.setConsumerJoinedGroup(true)
            case .draining: readiness.markShuttingDown()
            case .stopped: readiness.setConsumerJoinedGroup(false)
            }
        }
        let worker = PipelineWorker(
            configuration: .init(
                topics: topics, maxInFlight: config.pipeline.maxInFlight,
                shutdownDeadline: config.pipeline.shutdownDeadline.duration,
                exactlyOnce: .init(commitInterval: config.pipeline.commitInterval.duration)
            ),
            consumer: consumer, delivery: delivery, processor: processor, logger: logger, onStateChange: onStateChange
        )

        let http = BreakwaterHTTPServer(
            settings: config.http,
            dependencies: HTTPServerDependencies(
                readiness: readiness, metrics: metrics, breakers: breakers, features: features, readOnly: degradedDedup
            ),
            logger: logger
        )

        // The group stops services in reverse order: the worker drains first, the
        // pools and the HTTP server (answering 503 on readiness meanwhile) last.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: http), .init(service: primaryPool)]
        if let secondaryPool { services.append(.init(service: secondaryPool)) }
        // The migrator is done once the schema is there; that must not stop the group.
        services.append(.init(
            service: SchemaMigrator(catalog: catalog, dedup: dedupStore, logger: logger), successTerminationBehavior: .ignore
        ))
        services.append(.init(service: worker))
        let group = ServiceGroup(configuration: .init(services: services, logger: logger))
        onServiceGroup(group)
        defer { logger.info("worker application stopped") }
        do {
            try await group.run()
        } catch {
            try? await mlClient?.shutdown()
            throw error
        }
        try? await mlClient?.shutdown()
    }

    /// The exactly-once worker's `transactional.id`: stable across restarts of the same
    /// worker (group and worker id), so a restarted instance fences its predecessor and
    /// aborts the transaction it left open.
    var transactionalID: String {
        "breakwater-\(configuration.kafka.groupId)-\(configuration.pipeline.workerId)"
    }

    private func mlClientConfiguration() throws -> MLClient.Configuration {
        let ml = configuration.ml
        let names = ml.outputNames
        guard names.count == 4 else {
            throw StartError(description: "ml.outputNames: expected four names, got \(names.count)")
        }
        return MLClient.Configuration(
            baseURL: ml.url, modelName: ml.modelName, inputName: ml.inputName,
            severityOutput: names[0], severityConfidenceOutput: names[1],
            categoryOutput: names[2], categoryConfidenceOutput: names[3],
            timeout: ml.timeout.duration
        )
    }

    private func makePool(_ url: String, key: String) throws -> PostgresPool {
        var postgres: PostgresConfiguration
        do {
            postgres = try PostgresConfiguration(url: url)
        } catch {
            throw StartError(description: "\(key): \(error)")
        }
        let catalog = configuration.catalog
        postgres.poolSize = catalog.poolSize
        postgres.statementTimeout = catalog.statementTimeout.duration
        postgres.tls = switch catalog.tls.mode {
        case .disable: .disable
        case .prefer: .prefer
        case .require, .verifyCA, .verifyFull: .require
        }
        postgres.caFile = catalog.tls.caFile
        do {
            return try PostgresPool(configuration: postgres, logger: logger)
        } catch {
            throw StartError(description: "\(key): \(error)")
        }
    }

    private func createTopics(_ kafka: KafkaConfiguration) async throws {
        let topics = configuration.topics
        let admin = try KafkaAdmin(configuration: kafka, logger: logger)
        defer { admin.close() }
        let specifications = [topics.alerts, topics.classified, topics.fallbackEvents, topics.deadLetter].map {
            KafkaTopicSpecification(name: $0, partitions: Int32(topics.partitions), replicationFactor: Int32(topics.replicationFactor))
        }
        try await admin.createTopics(specifications, ignoreExisting: true)
        logger.info("topics ready", metadata: ["topics": "\(specifications.map(\.name))"])
    }
}

extension KafkaAssignmentStrategy {
    /// The Kafka layer's strategy for this setting.
    var consumerStrategy: KafkaConsumerConfiguration.AssignmentStrategy {
        switch self {
        case .cooperativeSticky: .cooperativeSticky
        case .range: .range
        case .roundRobin: .roundRobin
        }
    }
}

extension KafkaSettings {
    /// The client settings for a worker's consumer, producer and admin client.
    public func workerClientConfiguration() -> KafkaConfiguration {
        toolClientConfiguration(clientID: clientId)
    }
}
