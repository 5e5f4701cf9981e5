import BreakwaterApp
import Foundation
import Logging
import Resilience
import Testing
import Triage

/// One rejected input and what its message must name.
struct RejectedCase: Sendable, CustomTestStringConvertible {
    let flag: String
    let key: String
    let value: String?
    let expected: String
    var testDescription: String { flag }
}

@Suite("Configuration validation")
struct ValidationTests {
    static let rejected: [RejectedCase] = [
        // Wrong types.
        .init(flag: "breakers.ml.failureThreshold=five", key: "breakers.ml.failureThreshold", value: "five", expected: "an integer"),
        .init(flag: "breakers.ml.failureThreshold=2.5", key: "breakers.ml.failureThreshold", value: "2.5", expected: "an integer"),
        .init(flag: "breakers.ml.failureRateThreshold=half", key: "breakers.ml.failureRateThreshold", value: "half", expected: "a number"),
        .init(flag: "kafka.createTopics=maybe", key: "kafka.createTopics", value: "maybe", expected: "true or false"),
        .init(flag: "breakers.ml.openDuration=5 parsecs", key: "breakers.ml.openDuration", value: "5 parsecs",
              expected: ConfigDuration.expectedFormat),
        .init(flag: "logging.format=xml", key: "logging.format", value: "xml", expected: "one of json, logfmt"),
        .init(flag: "kafka.securityProtocol=tls", key: "kafka.securityProtocol", value: "tls",
              expected: "one of plaintext, ssl, sasl_plaintext, sasl_ssl"),
        .init(flag: "catalog.tls.mode=on", key: "catalog.tls.mode", value: "on",
              expected: "one of disable, prefer, require, verify-ca, verify-full"),
        // Ranges.
        .init(flag: "breakers.ml.failureRateThreshold=1.7", key: "breakers.ml.failureRateThreshold", value: "1.7",
              expected: "a number in 0...1"),
        .init(flag: "breakers.dedup.slowCallRateThreshold=-0.1", key: "breakers.dedup.slowCallRateThreshold", value: "-0.1",
              expected: "a number in 0...1"),
        .init(flag: "breakers.catalog.backoff.jitter=2", key: "breakers.catalog.backoff.jitter", value: "2", expected: "a number in 0...1"),
        .init(flag: "breakers.catalog.failureThreshold=0", key: "breakers.catalog.failureThreshold", value: "0", expected: "an integer ≥ 1"),
        .init(flag: "breakers.ml.windowSize=0", key: "breakers.ml.windowSize", value: "0", expected: "an integer ≥ 1"),
        .init(flag: "breakers.ml.openDuration=0s", key: "breakers.ml.openDuration", value: "0s", expected: "a duration > 0s"),
        .init(flag: "breakers.ml.callTimeout=0ms", key: "breakers.ml.callTimeout", value: "0s", expected: "a duration > 0s"),
        .init(flag: "breakers.ml.backoff.multiplier=0.5", key: "breakers.ml.backoff.multiplier", value: "0.5", expected: "a number ≥ 1"),
        .init(flag: "http.port=70000", key: "http.port", value: "70000", expected: "an integer in 1...65535"),
        .init(flag: "pipeline.maxInFlight=0", key: "pipeline.maxInFlight", value: "0", expected: "an integer ≥ 1"),
        .init(flag: "ml.maxBatchSize=0", key: "ml.maxBatchSize", value: "0", expected: "an integer ≥ 1"),
        .init(flag: "ml.maxConcurrentRequests=0", key: "ml.maxConcurrentRequests", value: "0", expected: "an integer ≥ 1"),
        .init(flag: "topics.partitions=0", key: "topics.partitions", value: "0", expected: "an integer ≥ 1"),
        .init(flag: "pipeline.workerId=", key: "pipeline.workerId", value: "", expected: "a non-empty value"),
        .init(flag: "ml.minConfidence=1.5", key: "ml.minConfidence", value: "1.5", expected: "a number in 0...1"),
        .init(flag: "ml.minConfidence=-0.01", key: "ml.minConfidence", value: "-0.01", expected: "a number in 0...1"),
        .init(flag: "ml.severityFloor=critical,urgent", key: "ml.severityFloor", value: "urgent",
              expected: "severities among critical, high, medium, low, info"),
        .init(flag: "ml.lowConfidence=loudest", key: "ml.lowConfidence", value: "loudest", expected: "one of rules, more_severe"),
        .init(flag: "protection.ml.throttle.multiplier=0.5", key: "protection.ml.throttle.multiplier", value: "0.5", expected: "a number ≥ 1"),
        .init(flag: "protection.ml.throttle.maxRejectionProbability=1", key: "protection.ml.throttle.maxRejectionProbability",
              value: "1", expected: "a number in 0..<1"),
        .init(flag: "protection.ml.throttle.window=1500ms", key: "protection.ml.throttle.window", value: "1s500ms",
              expected: "whole seconds between 1s and 10000s"),
        .init(flag: "protection.ml.concurrencyLimit.min=0", key: "protection.ml.concurrencyLimit.min", value: "0", expected: "an integer ≥ 1"),
        .init(flag: "protection.ml.concurrencyLimit.reserved.critical=1", key: "protection.ml.concurrencyLimit.reserved.critical",
              value: "1", expected: "a number in 0..<1"),
        .init(flag: "protection.ml.concurrencyLimit.maxHealthyLatency=0s", key: "protection.ml.concurrencyLimit.maxHealthyLatency",
              value: "0s", expected: "a duration > 0s"),
        .init(flag: "protection.ml.waitBudget.info=0s", key: "protection.ml.waitBudget.info", value: "0s", expected: "a duration > 0s"),
        .init(flag: "protection.ml.concurrencyLimit.beta=-1", key: "protection.ml.concurrencyLimit.beta", value: "-1",
              expected: "a number above concurrencyLimit.alpha (0)"),
        .init(flag: "protection.ml.severityOrder=info,low,high,critical", key: "protection.ml.severityOrder",
              value: "info, low, high, critical", expected: "every severity once"),
        // Cross-field rules.
        .init(flag: "protection.ml.concurrencyLimit.initial=500", key: "protection.ml.concurrencyLimit.initial", value: "500",
              expected: "between concurrencyLimit.min (1) and max (64)"),
        .init(flag: "protection.ml.concurrencyLimit.reserved.high=0.8", key: "protection.ml.concurrencyLimit.reserved", value: "1.1",
              expected: "shares adding up to less than 1"),
        .init(flag: "breakers.ml.halfOpenMaxCalls=1", key: "breakers.ml.halfOpenMaxCalls", value: "1",
              expected: "≥ breakers.ml.successThreshold (2)"),
        .init(flag: "breakers.ml.minimumCalls=50", key: "breakers.ml.minimumCalls", value: "50", expected: "≤ breakers.ml.windowSize (20)"),
        .init(flag: "breakers.ml.backoff.max=10s", key: "breakers.ml.backoff.max", value: "10s", expected: "≥ breakers.ml.openDuration (1m)"),
        .init(flag: "catalog.staleTTL=1m", key: "catalog.staleTTL", value: "1m", expected: "≥ catalog.cacheTTL (5m)"),
        .init(flag: "topics.deadLetter=alerts", key: "topics.deadLetter", value: "alerts", expected: "different from topics.alerts"),
        .init(flag: "kafka.securityProtocol=sasl_ssl", key: "kafka.sasl.username", value: nil,
              expected: "a value when kafka.securityProtocol is sasl_ssl"),
        .init(flag: "kafka.properties.group.instance.id=w1", key: "kafka.properties.group.instance.id", value: "w1",
              expected: "set kafka.staticMembership and kafka.groupInstanceId instead"),
        .init(flag: "kafka.groupInstanceId= ", key: "kafka.groupInstanceId", value: " ", expected: "a non-empty value"),
        .init(flag: "kafka.properties.bootstrap.servers=x:1", key: "kafka.properties.bootstrap.servers", value: "x:1",
              expected: "set kafka.bootstrapServers instead"),
        // Formats.
        .init(flag: "kafka.bootstrapServers=broker", key: "kafka.bootstrapServers", value: "broker", expected: "host:port"),
        .init(flag: "topics.alerts=my topic", key: "topics.alerts", value: "my topic", expected: "a Kafka topic name"),
        .init(flag: "ml.url=ftp://models", key: "ml.url", value: "ftp://models", expected: "a URL like http://host:port"),
        .init(flag: "catalog.postgresURL=mysql://u:pw@db/x", key: "catalog.postgresURL", value: "mysql://u:********@db/x",
              expected: "a URL like postgres://host:port"),
        .init(flag: "http.adminToken=short", key: "http.adminToken", value: "********", expected: "at least 16 characters"),
        // Flag shapes.
        .init(flag: "http.port", key: "http.port", value: "http.port", expected: "key.path=value"),
        .init(flag: "breakers.ml=3", key: "breakers.ml", value: "3", expected: "one of its keys to be set: failureThreshold"),
    ]

    @Test(arguments: rejected)
    func rejectsNamingKeyValueAndWhatIsAllowed(_ rejected: RejectedCase) throws {
        let found = problems(overrides: [rejected.flag])
        let problem = try #require(found.first { $0.key == rejected.key }, "problems: \(found)")
        #expect(problem.kind == .invalidValue)
        #expect(problem.value == rejected.value)
        #expect(problem.expected.contains(rejected.expected), "\(problem.expected)")
        #expect(problem.description.contains(rejected.key))
        if let value = rejected.value { #expect(problem.description.contains(value.isEmpty ? "\"\"" : value)) }
    }

    @Test func staticMembershipJoinsWithTheInstanceIdOrTheWorkerId() throws {
        let logger = Logger(label: "test")
        let off = try loadConfig(overrides: ["pipeline.workerId=w7", "kafka.groupInstanceId=ignored"])
        #expect(WorkerAssembly(configuration: off.configuration, logger: logger).groupInstanceID == nil, "off by default")
        let fromWorker = try loadConfig(overrides: ["pipeline.workerId=w7", "kafka.staticMembership=true"])
        #expect(WorkerAssembly(configuration: fromWorker.configuration, logger: logger).groupInstanceID == "w7")
        let explicit = try loadConfig(overrides: ["pipeline.workerId=w7", "kafka.staticMembership=true", "kafka.groupInstanceId=pod-3"])
        #expect(WorkerAssembly(configuration: explicit.configuration, logger: logger).groupInstanceID == "pod-3")
    }

    @Test func classificationPolicyKeysAcceptTheirWholeRange() throws {
        let edges = try loadConfig(overrides: ["ml.minConfidence=0", "ml.severityFloor=critical,high,medium,low,info", "ml.lowConfidence=rules"])
        #expect(edges.configuration.ml.classificationPolicy
            == ClassificationPolicy(severityFloor: Set(Severity.allCases), minConfidence: 0, lowConfidence: .rules))
        let top = try loadConfig(yaml: "ml:\n  minConfidence: 1\n  severityFloor: []\n  lowConfidence: more_severe\n")
        #expect(top.configuration.ml.classificationPolicy == ClassificationPolicy(severityFloor: [], minConfidence: 1, lowConfidence: .moreSevere))
        #expect(try loadConfig().configuration.ml.classificationPolicy == ClassificationPolicy(), "the defaults are the policy's")
    }

    @Test func protectionSettingsBuildTheirPartsRankedBySeverityOrder() throws {
        let loaded = try loadConfig(overrides: [
            "protection.ml.throttle.enabled=true", "protection.ml.throttle.shadow=true", "protection.ml.throttle.window=30s",
            "protection.ml.concurrencyLimit.enabled=true", "protection.ml.concurrencyLimit.initial=8",
            "protection.ml.concurrencyLimit.maxHealthyLatency=1s", "protection.ml.concurrencyLimit.reserved.high=0.1",
            "protection.ml.severityOrder=low,info,medium,critical,high", "protection.ml.waitBudget.info=250ms",
            "protection.ml.waitBudget.medium=1s",
        ])
        let settings = loaded.configuration.protection.ml
        let breaker = try CircuitBreaker(name: "ml", clock: ManualClock())
        let policy = try settings.adaptivePolicy(around: breaker, clock: ManualClock())
        let throttle = try #require(policy.throttle)
        #expect(throttle.configuration.shadow && throttle.configuration.window == .seconds(30))
        #expect(throttle.configuration.priorityLevels == 5)
        #expect(policy.retryBudget == nil && policy.concurrencyLimit == nil, "the request limit is the batcher's")
        let limit = try #require(try settings.concurrencyLimit(breaker: "ml", clock: ManualClock()))
        #expect(limit.limit == 8 && limit.configuration.maxHealthyLatency == .seconds(1))
        #expect(limit.configuration.alpha == 1 && limit.configuration.beta == 2)
        // critical (0.3 by default) ranks 3rd here, high (0.1) 4th.
        #expect(limit.configuration.reservedShares == [3: 0.3, 4: 0.1])
        #expect(settings.severityAdmission.priority(of: .low) == 0 && settings.severityAdmission.priority(of: .high) == 4)
        #expect(settings.waitBudgets == [1: .milliseconds(250), 2: .seconds(1)])
        let defaults = try loadConfig().configuration.protection.ml
        #expect(defaults.waitBudgets.isEmpty, "no alert has a wait budget by default")
        let off = try defaults.adaptivePolicy(around: breaker, clock: ManualClock())
        let noLimit = try defaults.concurrencyLimit(breaker: "ml", clock: ManualClock())
        #expect(off.throttle == nil && noLimit == nil, "every part is off by default")
    }

    @Test func messageReadsAsKeyValueAndAllowed() throws {
        let problem = try #require(problems(overrides: ["breakers.ml.failureRateThreshold=1.7"]).first)
        #expect(problem.description
            == "breakers.ml.failureRateThreshold: 1.7 is not allowed; expected a number in 0...1 (from --set)")
    }

    @Test func validationProblemsNameTheirSource() throws {
        let fromEnvironment = try #require(problems(environment: ["BREAKWATER_HTTP_PORT": "0"]).first)
        #expect(fromEnvironment.source == "BREAKWATER_HTTP_PORT")
        let fromFile = try #require(problems(yaml: "http:\n  port: 0\n").first)
        #expect(fromFile.source == "test.yaml")
    }

    @Test func everyProblemIsReportedAtOnce() {
        let found = problems(overrides: ["http.port=0", "breakers.ml.failureThreshold=0", "ml.timeout=0s"])
        #expect(Set(found.map(\.key)) == ["http.port", "breakers.ml.failureThreshold", "ml.timeout"])
    }

    @Test func typeErrorsUnknownNamesAndRangeErrorsAreReportedTogether() {
        let found = problems(
            yaml: "logging:\n  format: xml\n  colour: red\n",
            environment: ["BREAKWATER_HTTP_PORT": "eighty", "BREAKWATER_NOPE": "1"],
            overrides: ["ml.timeout=soon", "catalog.tls.mode=maybe", "breakers.ml.failureRateThreshold=1.7"])
        #expect(Set(found.map(\.key)) == [
            "logging.format", "logging.colour", "http.port", "BREAKWATER_NOPE", "ml.timeout", "catalog.tls.mode",
            "breakers.ml.failureRateThreshold",
        ])
        #expect(found.count == 7, "each problem once: \(found)")
    }

    @Test func validationKeysAreRealKeyPaths() {
        var config = BreakwaterConfiguration()
        config.kafka.bootstrapServers = ""
        config.kafka.groupId = ""
        config.kafka.clientId = ""
        config.kafka.securityProtocol = .saslPlaintext
        config.kafka.properties = ["group.id": "x"]
        config.topics.alerts = ""
        config.topics.partitions = 0
        config.topics.replicationFactor = 0
        config.pipeline.maxInFlight = 0
        config.pipeline.maxRecordBytes = 0
        config.ml.url = "nope"
        config.ml.outputNames = []
        config.catalog.secondaryURL = DatabaseURL("nope")
        config.catalog.cacheCapacity = 0
        config.catalog.poolSize = 0
        config.catalog.tls.caFile = ""
        config.rules.file = ""
        config.breakers.catalogSecondary.windowDuration = ConfigDuration(.zero)
        config.breakers.catalogSecondary.slowCallDuration = ConfigDuration(.zero)
        config.http.host = ""
        let found = config.validationProblems()
        #expect(found.count >= 20)
        let known = Set(ConfigurationLoader.keyPaths)
        for problem in found {
            let isKnown = known.contains(problem.key) || problem.key.hasPrefix("kafka.properties.")
            #expect(isKnown, "\(problem.key) is not a configuration key")
        }
        #expect(throws: ConfigurationError.self) { try config.validate() }
    }

    // MARK: File problems

    @Test func malformedYAML() throws {
        let problem = try #require(problems(yaml: "kafka: [unclosed\n").first)
        #expect(problem.kind == .malformedFile)
        #expect(problem.key == "test.yaml")
    }

    @Test func topLevelMustBeAMapping() throws {
        let problem = try #require(problems(yaml: "- a\n- b\n").first)
        #expect(problem.kind == .malformedFile)
        #expect(problem.expected.contains("mapping"))
    }

    @Test func unreadableFile() throws {
        do {
            _ = try ConfigurationLoader(environment: [:]).load(configFile: "/nonexistent/breakwater.yaml")
            Issue.record("an unreadable file must be rejected")
        } catch {
            let problem = try #require(error.problems.first)
            #expect(problem.kind == .unreadableFile)
            #expect(problem.key == "/nonexistent/breakwater.yaml")
        }
    }

    @Test func wrongShapesInTheFile() {
        let found = problems(yaml: """
            http:
              port: [8080]
            breakers:
              ml: 5
            ml:
              outputNames: {a: b}
            kafka:
              groupId:
            """)
        #expect(found.contains { $0.key == "http.port" && $0.value == "a list" && $0.expected == "an integer" })
        #expect(found.contains { $0.key == "breakers.ml" && $0.value == "5" && $0.expected.hasPrefix("a mapping with keys") })
        #expect(found.contains { $0.key == "ml.outputNames" && $0.value == "a mapping" })
        #expect(found.contains { $0.key == "kafka.groupId" && $0.value == nil && $0.expected == "a value" })
    }

    @Test func emptyFileAndEmptySectionsChangeNothing() throws {
        #expect(try loadConfig(yaml: "").configuration == BreakwaterConfiguration())
        #expect(try loadConfig(yaml: "kafka:\nbreakers:\n  ml:\n").configuration == BreakwaterConfiguration())
    }
}

@Suite("Unknown keys")
struct UnknownKeyTests {
    @Test func unknownKeysInTheFileAreNamedWithSuggestions() {
        let found = problems(yaml: """
            kafka:
              bootstrap_servers: x:1
            breakers:
              ml:
                failureTreshold: 3
              search: {}
            colour: blue
            """)
        #expect(found.count == 4)
        #expect(found.allSatisfy { $0.kind == .unknownKey && $0.source == "test.yaml" })
        #expect(found.contains { $0.key == "kafka.bootstrap_servers" && $0.expected == "did you mean `bootstrapServers`?" })
        #expect(found.contains { $0.key == "breakers.ml.failureTreshold" && $0.expected == "did you mean `failureThreshold`?" })
        #expect(found.contains { $0.key == "breakers.search" && $0.expected == "allowed here: ml, catalog, catalogSecondary, dedup" })
        #expect(found.contains { $0.key == "colour" })
    }

    @Test func unknownVariablesAreNamed() {
        let found = problems(environment: [
            "BREAKWATER_KAFKA_BOOTSTRAP": "x:1",
            "BREAKWATER_FROBNICATE": "1",
            "BREAKWATER_TEST_POSTGRES_URL": "postgres://x@y/z",
            "BREAKWATER_CONFIG": "",
        ])
        #expect(found.count == 2)
        #expect(found.allSatisfy { $0.kind == .unknownEnvironmentVariable })
        #expect(found.contains { $0.key == "BREAKWATER_KAFKA_BOOTSTRAP" && $0.expected == "did you mean BREAKWATER_KAFKA_BOOTSTRAP_SERVERS?" })
        #expect(found.contains { $0.key == "BREAKWATER_FROBNICATE" && $0.description.contains("unknown environment variable") })
    }

    @Test func unknownFlagKeys() {
        let found = problems(overrides: ["kafka.groupID=x", "http.port.number=1"])
        #expect(found.count == 2)
        #expect(found.contains { $0.key == "kafka.groupID" && $0.expected == "did you mean `groupId`?" && $0.source == "--set" })
        #expect(found.contains { $0.key == "http.port.number" && $0.kind == .unknownKey })
    }
}
