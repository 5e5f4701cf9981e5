import Foundation
import Kafka
import Logging
import Metrics
import Prometheus
import Resilience
import ServiceLifecycle
import UnixSignals
import Triage
import TriageML
import TriagePostgres

/// The one place that builds a worker from its configuration. `breakwater run`
/// (``WorkerApplication``) runs the service group ``makeServiceGroup(metrics:gracefulShutdownSignals:)``
/// returns; tests build the parts they need with the same factories (the degradation rig
/// its breaker-guarded steps with ``makeSteps(catalogPool:secondaryPool:mlClient:clock:)``,
/// a test a whole worker with ``makeWorker(processor:onStateChange:onEvent:clock:)``).
///
/// Only Kafka must be reachable to build anything here: pools, the ML client and the
/// steps connect lazily, so the ML server and PostgreSQL may be down from the first second.
public struct WorkerAssembly: Sendable {
    public let configuration: BreakwaterConfiguration
    public let logger: Logger

    /// An assembly for `configuration`, logging through `logger`.
    public init(configuration: BreakwaterConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// A setting that cannot be used, with the key to fix and why.
    public struct StartError: Error, CustomStringConvertible {
        public let description: String
    }

    // MARK: - The breaker-guarded steps

    /// The alert processor with its breaker-guarded steps, and the handles operators
    /// (the admin API) and tests reach them through.
    public struct Steps: Sendable {
        /// Decode, enrich, classify, dedup.
        public let processor: AlertProcessor
        /// Every breaker, by ``Triage/BreakerName``.
        public let breakers: CircuitBreakerRegistry
        /// The feature flags (``Triage/FeatureName``).
        public let features: FeatureFallback
        /// The dedup store's read-only switch; `nil` when dedup is off.
        public let readOnlyDedup: DegradedService<any DedupStore>?
        /// The rule classifier (the ML fallback).
        public let rules: RuleClassifier
        /// The catalog that owns the schema migration.
        public let catalog: PostgresCatalog
        /// The dedup store, when dedup is on (its table is migrated with the catalog's).
        public let dedupStore: PostgresDedupStore?
        /// What a heal calls: the primary catalog and the model without fallbacks, their
        /// breakers, and whether a newer update of an incident was counted since.
        public let healing: HealProcessor.Dependencies
    }

    /// Builds the steps: classification (ML through its breaker, micro-batched, behind the
    /// `ml_classification` flag, the rules as fallback), enrichment (primary catalog,
    /// stale cache, optional replica, static file, default) and dedup (read-only while
    /// its breaker is open).
    /// - Parameters:
    ///   - catalogPool: the primary catalog database (also the dedup store's).
    ///   - secondaryPool: the replica, or `nil`.
    ///   - mlClient: the inference client (``makeMLClient()``), or `nil` for rules only.
    ///   - clock: times the breakers, the feature flags and the catalog cache.
    /// - Throws: ``StartError`` for a rule file, static catalog, cache or breaker setting
    ///   that cannot be used.
    public func makeSteps<C: Clock>(
        catalogPool: PostgresPool, secondaryPool: PostgresPool?, mlClient: MLClient?, clock: C = ContinuousClock()
    ) throws -> Steps where C.Duration == Duration {
        let config = configuration
        let breakers = try CircuitBreakerRegistry(clock: clock, logger: logger)
        func breaker(_ name: String, _ settings: BreakerSettings) throws -> CircuitBreaker {
            try Self.breaker(name, settings, in: breakers)
        }

        let classification = try makeClassification(mlClient: mlClient, breakers: breakers, clock: clock)

        let staticCatalog: StaticCatalog
        do {
            staticCatalog = try StaticCatalog(contentsOf: URL(fileURLWithPath: config.catalog.staticCatalogFile))
        } catch {
            throw StartError(description: "catalog.staticCatalogFile: \(error)")
        }
        let cache: StaleCache<String, ServiceInfo>
        do {
            cache = try StaleCache(freshFor: config.catalog.cacheTTL.duration, staleFor: config.catalog.staleTTL.duration, clock: clock)
        } catch {
            throw StartError(description: "catalog.cacheTTL/staleTTL: \(error)")
        }
        let catalog = PostgresCatalog(pool: catalogPool)
        let enrichment = CatalogEnrichment(
            primary: catalog,
            breaker: try breaker(BreakerName.catalog, config.breakers.catalog),
            secondary: try secondaryPool.map {
                (catalog: PostgresCatalog(pool: $0), breaker: try breaker(BreakerName.catalogSecondary, config.breakers.catalogSecondary))
            },
            staticCatalog: staticCatalog,
            cache: cache
        )

        let dedupStore = config.dedup.enabled ? PostgresDedupStore(pool: catalogPool, preparedStatements: config.dedup.preparedStatements) : nil
        let readOnlyDedup = try dedupStore.map {
            DegradedService<any DedupStore>(service: $0, breaker: try breaker(BreakerName.dedup, config.breakers.dedup))
        }
        var processor = AlertProcessor(
            decoder: .configured(by: config.pipeline),
            enrichment: enrichment,
            classification: classification.step,
            dedup: readOnlyDedup.map { GuardedDedup(store: $0) } ?? DisabledDedup(),
            workerID: config.pipeline.workerId
        )
        if config.heal.enabled { processor.healing = config.heal.steps }
        let model = classification.step
        let enrichFromPrimary: @Sendable (Alert) async throws(StepUnavailable) -> StepOutcome<ServiceInfo?> = { alert throws(StepUnavailable) in
            try await enrichment.enrichFromPrimary(alert)
        }
        let classifyByModel: @Sendable (Alert) async throws(StepUnavailable) -> StepOutcome<ClassificationDecision> = { alert throws(StepUnavailable) in
            try await model.classifyByModel(alert)
        }
        var isSuperseded: (@Sendable (IncidentRecord) async -> Bool)?
        if let readOnlyDedup {
            isSuperseded = { incident in await Self.isSuperseded(incident, dedup: readOnlyDedup) }
        }
        let healing = HealProcessor.Dependencies(
            enrich: enrichFromPrimary, classify: classifyByModel,
            breakers: [
                .enrichment: try breaker(BreakerName.catalog, config.breakers.catalog),
                .classification: try breaker(BreakerName.ml, config.breakers.ml),
            ],
            isSuperseded: isSuperseded
        )
        return Steps(
            processor: processor, breakers: breakers, features: classification.features, readOnlyDedup: readOnlyDedup,
            rules: classification.rules, catalog: catalog, dedupStore: dedupStore, healing: healing
        )
    }

    /// Whether the dedup store counted more deliveries of `incident`'s alert than the
    /// incident saw: a newer update was published since. `false` when the incident has no
    /// count, or the store cannot answer now (its breaker is not closed, or the lookup fails).
    private static func isSuperseded(_ incident: IncidentRecord, dedup: DegradedService<any DedupStore>) async -> Bool {
        guard case .seen(let occurrences, _, _) = incident.dedup, dedup.breaker.state == .closed else { return false }
        let fingerprint = incident.alert.fingerprint
        guard case .success(let record?) = await dedup.breaker.execute({ try await dedup.service.lookup(fingerprint: fingerprint) }) else { return false }
        return record.occurrences > occurrences
    }

    /// The breaker `name` of `registry`, configured by `settings`.
    /// - Throws: ``StartError`` naming `breakers.<name>` when the settings cannot be used.
    private static func breaker(_ name: String, _ settings: BreakerSettings, in registry: CircuitBreakerRegistry) throws -> CircuitBreaker {
        do {
            return try registry.breaker(named: name, configuration: settings.circuitBreakerConfiguration())
        } catch {
            throw StartError(description: "breakers.\(name): \(error)")
        }
    }

    /// The classification step alone, as the worker builds it.
    public struct ClassificationParts: Sendable {
        /// ML through the `ml` breaker and its adaptive parts (`protection.ml`; micro-batched, each infer request through
        /// the breaker, behind the `ml_classification` flag), the rules as its fallback.
        public let step: GuardedClassification
        /// The rule classifier (the ML fallback).
        public let rules: RuleClassifier
        /// The feature flags, with `ml_classification` registered on the `ml` breaker.
        public let features: FeatureFallback
    }

    /// Builds the classification step of ``makeSteps(catalogPool:secondaryPool:mlClient:clock:)``;
    /// `breakwater classify` runs alerts through it offline.
    /// - Parameters:
    ///   - mlClient: the inference client, or `nil` for rules only.
    ///   - breakers: the registry the `ml` breaker is created in.
    ///   - clock: times the feature flags.
    /// - Throws: ``StartError`` for a rule file or `ml` breaker setting that cannot be used.
    public func makeClassification<C: Clock>(
        mlClient: MLClient?, breakers: CircuitBreakerRegistry, clock: C = ContinuousClock()
    ) throws -> ClassificationParts where C.Duration == Duration {
        let config = configuration
        let rules: RuleClassifier
        do {
            rules = try RuleClassifier(contentsOf: config.rules.file)
        } catch {
            throw StartError(description: "rules.file: \(error)")
        }
        let mlBreaker = try Self.breaker(BreakerName.ml, config.breakers.ml, in: breakers)
        let protection: AdaptivePolicy
        let requestLimit: ConcurrencyLimit?
        do {
            // The batcher sends each infer request through the breaker, so it counts
            // requests, not the alerts they carry.
            protection = try config.protection.ml.adaptivePolicy(around: mlBreaker, placement: .belowTheCall, clock: clock)
            requestLimit = try config.protection.ml.concurrencyLimit(breaker: BreakerName.ml, clock: clock)
        } catch {
            throw StartError(description: "protection.ml: \(error)")
        }
        let features = FeatureFallback(clock: clock)
        features.register(FeatureName.mlClassification, breaker: mlBreaker, enabled: config.features.mlClassification)
        let batcher = mlClient.map {
            MicroBatcher(
                upstream: $0,
                configuration: .init(
                    maxBatchSize: config.ml.maxBatchSize, maxWait: config.ml.maxBatchWait.duration,
                    maxConcurrentRequests: config.ml.maxConcurrentRequests),
                limit: requestLimit,
                breaker: mlBreaker,
                waitBudgets: config.protection.ml.waitBudgets
            )
        }
        return ClassificationParts(
            step: GuardedClassification(
                ml: batcher, rules: rules, protection: protection, features: features, policy: config.ml.classificationPolicy,
                admission: config.protection.ml.severityAdmission
            ),
            rules: rules, features: features
        )
    }

    /// The inference client `ml.*` describes, or `nil` when `ml.enabled` is off. Call
    /// `shutdown()` on it once done.
    /// - Throws: ``StartError`` when `ml.outputNames` does not name four outputs.
    public func makeMLClient() throws -> MLClient? {
        let ml = configuration.ml
        guard ml.enabled else { return nil }
        let names = ml.outputNames
        guard names.count == 4 else {
            throw StartError(description: "ml.outputNames: expected four names, got \(names.count)")
        }
        return MLClient(
            configuration: MLClient.Configuration(
                baseURL: ml.url, modelName: ml.modelName, inputName: ml.inputName,
                severityOutput: names[0], severityConfidenceOutput: names[1],
                categoryOutput: names[2], categoryConfidenceOutput: names[3],
                timeout: ml.timeout.duration,
                maxConnections: ml.maxConcurrentRequests
            ),
            logger: logger
        )
    }

    /// The catalog's connection pools: the primary (`catalog.postgresURL`) and, when set,
    /// the replica (`catalog.secondaryURL`). Each is a service that must run.
    /// - Throws: ``StartError`` naming the key of a DSN or TLS setting that cannot be used.
    public func makeCatalogPools() throws -> (primary: PostgresPool, secondary: PostgresPool?) {
        let catalog = configuration.catalog
        return (
            try makePool(catalog.postgresURL.rawValue, key: "catalog.postgresURL"),
            try catalog.secondaryURL.map { try makePool($0.rawValue, key: "catalog.secondaryURL") }
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

    // MARK: - The pipeline worker

    /// The topics the worker reads and writes.
    public var topics: PipelineTopics { configuration.topics.pipelineTopics }

    /// The worker's `transactional.id` in exactly-once mode: stable across restarts of
    /// the same worker (group and worker id), so a restarted instance fences its
    /// predecessor and aborts the transaction it left open.
    public var transactionalID: String {
        "breakwater-\(configuration.kafka.groupId)-\(configuration.pipeline.workerId)"
    }

    /// The worker's `group.instance.id`: `nil` (dynamic membership) unless
    /// `kafka.staticMembership` is on; then `kafka.groupInstanceId`, or the worker id.
    public var groupInstanceID: String? {
        let kafka = configuration.kafka
        return kafka.staticMembership ? kafka.groupInstanceId ?? configuration.pipeline.workerId : nil
    }

    /// The worker's settings from `pipeline.*` and `topics.*`.
    public var workerConfiguration: PipelineWorker.Configuration {
        let pipeline = configuration.pipeline
        return PipelineWorker.Configuration(
            topics: topics, maxInFlight: pipeline.maxInFlight, shutdownDeadline: pipeline.shutdownDeadline.duration,
            exactlyOnce: .init(commitInterval: pipeline.commitInterval.duration),
            brokerUnreachableGrace: pipeline.brokerUnreachableGrace.duration
        )
    }

    /// Creates the topics (when `kafka.createTopics`), then the pipeline worker with its
    /// consumer (subscribed to the alerts topic) and the producer of its delivery mode
    /// (`pipeline.exactlyOnce`: transactional, else idempotent).
    /// - Parameters:
    ///   - clock: times the worker's backoff, deadlines, commit interval and lag period.
    ///   - onStateChange: hears when it joined the group, drains, stops (readiness).
    ///   - onEvent: the worker's test hook (see ``Triage/PipelineWorker``).
    /// - Throws: ``Kafka/KafkaError`` for a Kafka setting librdkafka refuses (naming the
    ///   property), or when the topics cannot be created.
    public func makeWorker<C: Clock>(
        processor: AlertProcessor,
        onStateChange: @escaping @Sendable (PipelineWorkerState) -> Void = { _ in },
        onEvent: @escaping @Sendable (PipelineWorkerEvent) async throws -> Void = { _ in },
        clock: C = ContinuousClock()
    ) async throws -> PipelineWorker where C.Duration == Duration {
        let config = configuration
        let kafka = config.kafka.workerClientConfiguration()
        if config.kafka.createTopics {
            try await createTopics(kafka)
        }
        let (consumer, delivery) = try makeClients(
            kafka, group: config.kafka.groupId, instance: groupInstanceID, topic: config.topics.alerts, transactionalID: transactionalID,
            logger: logger)
        return PipelineWorker(
            configuration: workerConfiguration, consumer: consumer, delivery: delivery, processor: processor,
            logger: logger, clock: clock, restoreTopics: restoreTopics, onStateChange: onStateChange, onEvent: onEvent
        )
    }

    /// Creates the topics again when a worker finds its input topic missing, when
    /// `kafka.createTopics` allows it; `nil` (only log it) otherwise.
    private var restoreTopics: (@Sendable () async throws -> Void)? {
        guard configuration.kafka.createTopics else { return nil }
        let kafka = configuration.kafka.workerClientConfiguration()
        return { @Sendable in try await self.createTopics(kafka) }
    }

    /// The healer's consumer group: `<kafka.groupId>.healer`, so every worker's healer
    /// shares the repair log's partitions and a restarted one resumes from the commits.
    public var healerGroupID: String { "\(configuration.kafka.groupId).healer" }

    /// The healer's Kafka clients: the worker's, with `max.poll.interval.ms` at least
    /// `heal.maxAge` + 10 minutes (at most librdkafka's 24 h). Its consume loop stops
    /// polling while it waits, before admitting a repair, for the step's breaker to admit
    /// calls, which lasts as long as the outage: with the worker's interval (300 s by default, 15 s on
    /// the local stack) the healer left its group mid-outage, and the rebalance redelivered
    /// repairs it had healed but not yet committed (the demo published 242 revisions 2
    /// twice). Heartbeats go on meanwhile, so a dead healer is still noticed within the
    /// session timeout; a worker that joins waits for this one's rejoin, which comes when
    /// heals can run again.
    var healerClientConfiguration: KafkaConfiguration {
        var kafka = configuration.kafka.workerClientConfiguration()
        let ceiling: Int64 = 86_400_000
        let wanted = min(ceiling, Int64(configuration.heal.maxAge.duration.components.seconds + 600) * 1_000)
        let configured = kafka.properties["max.poll.interval.ms"].flatMap { Int64($0) } ?? 300_000
        kafka.properties["max.poll.interval.ms"] = String(max(configured, wanted))
        return kafka
    }

    /// The healer (`heal.*`) beside `liveWorker`, or `nil` when `heal.enabled` is off: a
    /// pipeline worker over `topics.repair` in ``healerGroupID``, in the live worker's
    /// delivery mode (exactly-once: its own transactional id, ``transactionalID`` +
    /// `.healer`), at most `heal.batchSize` repairs in flight.
    /// - Parameters:
    ///   - healing: what heals call (``Steps/healing``).
    ///   - liveWorker: heals wait while it has more than `heal.yieldAboveInFlight` records in flight.
    ///   - clock: times the gate, the retries and the healer worker.
    /// - Throws: ``Kafka/KafkaError`` for a Kafka setting librdkafka refuses.
    public func makeHealer<C: Clock>(
        healing: HealProcessor.Dependencies, liveWorker: PipelineWorker, clock: C = ContinuousClock(),
        onEvent: @escaping @Sendable (PipelineWorkerEvent) async throws -> Void = { _ in }
    ) throws -> Healer? where C.Duration == Duration {
        let config = configuration
        guard config.heal.enabled else { return nil }
        let heal = config.heal
        let gate = HealGate(
            settings: HealGate.Settings(ratePerSecond: heal.ratePerSecond, yieldAbove: heal.yieldAboveInFlight),
            liveInFlight: { liveWorker.inFlight }, clock: clock)
        let metrics = HealMetrics()
        var logger = self.logger
        logger[metadataKey: "component"] = "healer"
        let processor = HealProcessor(
            workerID: config.pipeline.workerId,
            configuration: HealProcessor.Configuration(steps: heal.steps, maxAge: heal.maxAge.duration, retryAfter: heal.retryAfter.duration),
            dependencies: healing, gate: gate, metrics: metrics, logger: logger, clock: clock)
        let (consumer, delivery) = try makeClients(
            healerClientConfiguration, group: healerGroupID, instance: nil, topic: config.topics.repair,
            transactionalID: transactionalID + ".healer", logger: logger)
        var workerConfiguration = self.workerConfiguration
        workerConfiguration.topics = topics.healing
        workerConfiguration.maxInFlight = heal.batchSize
        // A heal in flight is redone after a restart (the same revision): a shutdown need
        // not wait long for one.
        workerConfiguration.shutdownDeadline = min(workerConfiguration.shutdownDeadline, .seconds(5))
        let worker = PipelineWorker(
            configuration: workerConfiguration, consumer: consumer, delivery: delivery, processor: processor,
            logger: logger, clock: clock, metricsFactory: NOOPMetricsHandler.instance, restoreTopics: restoreTopics, onEvent: onEvent)
        return Healer(worker: worker, gate: gate, metrics: metrics, steps: heal.steps, breakers: healing.breakers, logger: logger)
    }

    /// A pipeline worker's consumer of `topic` in `group` and the producer of its delivery
    /// mode (`pipeline.exactlyOnce`: transactional as `transactionalID`, else idempotent).
    private func makeClients(
        _ kafka: KafkaConfiguration, group: String, instance: String?, topic: String, transactionalID: String, logger: Logger
    ) throws -> (KafkaConsumer, PipelineWorker.Delivery) {
        let config = configuration
        var consumerConfiguration = KafkaConsumerConfiguration(
            common: kafka,
            groupID: group,
            groupInstanceID: instance,
            assignmentStrategy: config.kafka.assignmentStrategy.consumerStrategy,
            isolationLevel: .readCommitted,
            // Exactly-once: offsets are committed inside the worker's transactions.
            offsetCommits: config.pipeline.exactlyOnce ? .manual : .automatic,
            commitInterval: config.pipeline.commitInterval.duration
        )
        consumerConfiguration.idleFetchBackoff = config.kafka.idleFetchBackoff?.duration
        let consumer = try KafkaConsumer(configuration: consumerConfiguration, topics: [topic], logger: logger)
        let producerConfiguration = KafkaProducerConfiguration(common: kafka)
        let delivery: PipelineWorker.Delivery = config.pipeline.exactlyOnce
            ? .exactlyOnce(try KafkaTransactionalProducer(
                configuration: producerConfiguration, transactionalID: transactionalID, logger: logger
            ))
            : .atLeastOnce(try KafkaProducer(configuration: producerConfiguration, logger: logger)) { [logger] in
                try KafkaProducer(configuration: producerConfiguration, logger: logger)
            }
        return (consumer, delivery)
    }

    func createTopics(_ kafka: KafkaConfiguration) async throws {
        let settings = configuration.topics
        let admin = try KafkaAdmin(configuration: kafka, logger: logger)
        defer { admin.close() }
        var specifications = topics.all.map {
            KafkaTopicSpecification(name: $0, partitions: Int32(settings.partitions), replicationFactor: Int32(settings.replicationFactor))
        }
        if configuration.fleet.enabled {
            specifications.append(Self.breakerStateTopic(settings))
        }
        try await admin.createTopics(specifications, ignoreExisting: true)
        logger.info("topics ready", metadata: ["topics": "\(specifications.map(\.name))"])
    }

    /// The fleet's topic: compacted (the latest report per worker and breaker is all that
    /// matters), in segments of an hour so that compaction keeps it small, one partition
    /// (every worker reads all of it).
    static func breakerStateTopic(_ settings: TopicSettings) -> KafkaTopicSpecification {
        KafkaTopicSpecification(
            name: settings.breakerState, partitions: 1, replicationFactor: Int32(settings.replicationFactor),
            configs: ["cleanup.policy": "compact", "segment.ms": "3600000", "min.cleanable.dirty.ratio": "0.1"])
    }

    /// The service that shares `breakers` with the fleet (``BreakerFleetService``), or `nil`
    /// when `fleet.enabled` is off.
    /// - Throws: ``StartError`` for a fleet setting that cannot be used; ``Kafka/KafkaError``
    ///   for a Kafka setting librdkafka refuses.
    public func makeFleet(breakers: CircuitBreakerRegistry) throws -> BreakerFleetService? {
        guard configuration.fleet.enabled else { return nil }
        return try BreakerFleetService(configuration: configuration, breakers: breakers, logger: logger)
    }

    // MARK: - Everything `breakwater run` runs

    /// What ``makeServiceGroup(metrics:gracefulShutdownSignals:)`` built.
    public struct Assembled: Sendable {
        /// The HTTP server, the pools, the schema migrator and the worker, in the order
        /// they start (they stop in reverse: the worker drains first).
        public let serviceGroup: ServiceGroup
        /// The worker inside it.
        public let worker: PipelineWorker
        /// The HTTP server inside it (``BreakwaterHTTPServer/listeningPort()`` tells its port).
        public let server: BreakwaterHTTPServer
        /// The steps inside it.
        public let steps: Steps
        /// The breaker fleet inside it, when `fleet.enabled`.
        public let fleet: BreakerFleetService?
        /// The healer inside it, when `heal.enabled`.
        public let healer: Healer?
        /// Releases what is not a service (the ML client's connection pool); call once the
        /// group has stopped.
        public let shutdown: @Sendable () async -> Void
    }

    /// Builds every part of a worker and the service group that runs them: the HTTP
    /// server (metrics, health, admin), the PostgreSQL pools, the schema migrator (done
    /// once the schema is there; it does not stop the group) and the pipeline worker.
    /// - Parameters:
    ///   - metrics: the registry `/metrics` serves (the one the process bootstrapped).
    ///   - gracefulShutdownSignals: signals the group turns into a graceful shutdown
    ///     (`breakwater run`: SIGTERM and SIGINT; none in tests).
    /// - Throws: ``StartError`` for a setting that cannot be used; a Kafka error when the
    ///   topics cannot be created.
    public func makeServiceGroup(
        metrics: PrometheusCollectorRegistry, gracefulShutdownSignals: [UnixSignal] = []
    ) async throws -> Assembled {
        let pools = try makeCatalogPools()
        let mlClient = try makeMLClient()
        do {
            let steps = try makeSteps(catalogPool: pools.primary, secondaryPool: pools.secondary, mlClient: mlClient)
            let readiness = Readiness()
            let worker = try await makeWorker(processor: steps.processor, onStateChange: { state in
                switch state {
                case .joinedGroup: readiness.setConsumerJoinedGroup(true)
                case .draining: readiness.markShuttingDown()
                case .stopped: readiness.setConsumerJoinedGroup(false)
                case .consumerFailing(let error): readiness.setConsumerFailure(error)
                case .consumerRecovered: readiness.setConsumerFailure(nil)
                }
            })
            readiness.setProducerConnected(true)
            let fleet = try makeFleet(breakers: steps.breakers)
            let healer = try makeHealer(healing: steps.healing, liveWorker: worker)
            let ingest = configuration.ingest.enabled ? try makeIngest() : nil
            let http = BreakwaterHTTPServer(
                settings: configuration.http,
                dependencies: HTTPServerDependencies(
                    readiness: readiness, metrics: metrics, breakers: steps.breakers, features: steps.features,
                    readOnly: steps.readOnlyDedup, ingest: ingest?.endpoint, fleet: fleet?.fleet, healer: healer
                ),
                logger: logger
            )
            // The group stops services in reverse order: the worker drains first, the
            // pools and the HTTP server (answering 503 on readiness meanwhile) next, the
            // ingest's producer last (every request the server took is answered by then).
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
            if let ingest { services.append(.init(service: ingest.service)) }
            services += [.init(service: http), .init(service: pools.primary)]
            if let secondary = pools.secondary { services.append(.init(service: secondary)) }
            services.append(.init(
                service: SchemaMigrator(catalog: steps.catalog, dedup: steps.dedupStore, logger: logger),
                successTerminationBehavior: .ignore
            ))
            // Before the worker, so it stops after the worker drained: its breakers stay
            // shared while the last alerts are classified.
            if let fleet { services.append(.init(service: fleet)) }
            services.append(.init(service: worker))
            // After the live worker, so it stops first: its heals in flight are redone later.
            if let healer { services.append(.init(service: healer)) }
            if configuration.pipeline.trimMemoryWhenIdle {
                services.append(.init(service: MemoryTrimmer(worker: worker, logger: logger)))
            }
            let group = ServiceGroup(configuration: .init(
                services: services, gracefulShutdownSignals: gracefulShutdownSignals, logger: logger
            ))
            return Assembled(
                serviceGroup: group, worker: worker, server: http, steps: steps, fleet: fleet, healer: healer,
                shutdown: { try? await mlClient?.shutdown() })
        } catch {
            try? await mlClient?.shutdown()
            throw error
        }
    }
}

// MARK: - HTTP ingest

extension WorkerAssembly {
    /// The ingest endpoint (`ingest.*`) and the service that owns its producer: an
    /// idempotent producer to the alerts topic whose `message.timeout.ms` is
    /// `ingest.deliveryTimeout`, so no request waits longer for the broker.
    /// - Parameter metricsFactory: where the ingest metrics go (`nil`: the global factory).
    /// - Throws: ``Kafka/KafkaError`` for a Kafka setting librdkafka refuses.
    public func makeIngest(
        metricsFactory: (any MetricsFactory)? = nil
    ) throws -> (endpoint: IngestEndpoint, service: IngestProducerService) {
        let settings = configuration.ingest
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(
                common: configuration.kafka.workerClientConfiguration(), messageTimeout: settings.deliveryTimeout.duration
            ),
            logger: logger
        )
        let ingest = AlertIngest(topic: configuration.topics.alerts, decoder: .configured(by: configuration.pipeline), producer: producer)
        return (
            IngestEndpoint(ingest: ingest, settings: settings, metricsFactory: metricsFactory),
            IngestProducerService(producer: producer, flushTimeout: settings.deliveryTimeout.duration, logger: logger)
        )
    }

    /// Everything `breakwater ingest` runs: the ingest's producer and an HTTP server with
    /// the ingest routes (whatever `ingest.enabled` says), health and metrics, and no
    /// worker. Creates the topics first when `kafka.createTopics`. Readiness checks only
    /// the producer and shutdown.
    /// - Throws: ``Kafka/KafkaError`` for a setting librdkafka refuses or when the topics
    ///   cannot be created; ``StartError`` for a breaker registry that cannot be built.
    public func makeIngestServiceGroup(
        metrics: PrometheusCollectorRegistry, gracefulShutdownSignals: [UnixSignal] = []
    ) async throws -> (serviceGroup: ServiceGroup, server: BreakwaterHTTPServer) {
        if configuration.kafka.createTopics {
            try await createTopics(configuration.kafka.workerClientConfiguration())
        }
        let ingest = try makeIngest()
        let readiness = Readiness(checks: [.producerConnected, .notShuttingDown])
        readiness.setProducerConnected(true)
        let breakers: CircuitBreakerRegistry
        do {
            breakers = try CircuitBreakerRegistry(clock: ContinuousClock(), logger: logger)
        } catch {
            throw StartError(description: "breakers: \(error)")
        }
        let server = BreakwaterHTTPServer(
            settings: configuration.http,
            dependencies: HTTPServerDependencies(
                readiness: readiness, metrics: metrics, breakers: breakers, features: FeatureFallback(), readOnly: nil,
                ingest: ingest.endpoint
            ),
            logger: logger
        )
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: ingest.service), .init(service: server)],
            gracefulShutdownSignals: gracefulShutdownSignals, logger: logger
        ))
        return (group, server)
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
