import BreakwaterApp
import Foundation
import Testing
import Yams

@Suite("Configuration defaults and sources")
struct ConfigurationTests {
    @Test func defaultsAreTheDocumentedOnesAndValid() {
        let config = BreakwaterConfiguration()
        #expect(config.validationProblems().isEmpty)
        #expect(config.kafka.bootstrapServers == "localhost:9092")
        #expect(config.kafka.groupId == "breakwater")
        #expect(config.kafka.createTopics)
        #expect(config.topics.alerts == "alerts")
        #expect(config.topics.classified == "incidents.classified")
        #expect(config.topics.fallbackEvents == "incidents.fallback-events")
        #expect(config.topics.deadLetter == "alerts.dlq")
        #expect(config.pipeline.exactlyOnce == false)
        #expect(config.pipeline.workerId == PipelineSettings.defaultWorkerId)
        #expect(config.ml.maxBatchWait == .milliseconds(5))
        #expect(config.catalog.staticCatalogFile == "deploy/catalog.yaml")
        #expect(config.rules.file == "deploy/rules.yaml")
        #expect(config.features.mlClassification)
        #expect(config.http.host == "0.0.0.0")
        #expect(config.http.port == 8080)
        #expect(config.http.adminToken == nil)
        #expect(config.logging.format == .logfmt)
        #expect(config.breakers.all.map(\.name) == ["ml", "catalog", "catalogSecondary", "dedup"])
        for (_, breaker) in config.breakers.all {
            #expect(breaker.failureThreshold == 5)
            #expect(breaker.successThreshold == 2)
            #expect(breaker.openDuration == .seconds(60))
            #expect(breaker.halfOpenMaxCalls == 3)
        }
    }

    @Test func bootstrapVariableAloneIsEnoughToStart() throws {
        let loaded = try loadConfig(environment: ["BREAKWATER_KAFKA_BOOTSTRAP_SERVERS": "broker-1:9092,broker-2:9092"])
        var expected = BreakwaterConfiguration()
        expected.kafka.bootstrapServers = "broker-1:9092,broker-2:9092"
        #expect(loaded.configuration == expected)
        let entry = try #require(loaded.effectiveValues.first { $0.key == "kafka.bootstrapServers" })
        #expect(entry.origin == .environment("BREAKWATER_KAFKA_BOOTSTRAP_SERVERS"))
        #expect(loaded.effectiveValues.filter { $0.origin != .default }.count == 1)
    }

    @Test func shippedExampleLoadsAsTheDefaults() throws {
        let loaded = try ConfigurationLoader(environment: [:])
            .load(configFile: repositoryRoot.appendingPathComponent("deploy/breakwater.yaml").path)
        #expect(loaded.configuration == BreakwaterConfiguration())
    }

    @Test func shippedExampleDocumentsEveryKey() throws {
        let text = try repositoryFile("deploy/breakwater.yaml")
        let root = try #require(try Yams.load(yaml: text) as? [String: Any])
        func present(_ path: [String], in node: Any?) -> Bool {
            guard let first = path.first else { return true }
            guard let map = node as? [String: Any], map.keys.contains(first) else { return false }
            return present(Array(path.dropFirst()), in: map[first] ?? NSNull())
        }
        for keyPath in ConfigurationLoader.keyPaths {
            let path = keyPath.split(separator: ".").map(String.init)
            if keyPath == "pipeline.workerId" {
                #expect(text.contains("# workerId:"), "workerId is documented as a comment (its default is the host name)")
            } else if path.first == "breakers", path[1] != "ml" {
                continue  // the example shows every breaker key once, under `ml`
            } else {
                #expect(present(path, in: root), "deploy/breakwater.yaml lacks \(keyPath)")
            }
        }
    }

    @Test(arguments: [
        ("kafka.bootstrapServers", "BREAKWATER_KAFKA_BOOTSTRAP_SERVERS"),
        ("breakers.ml.failureThreshold", "BREAKWATER_BREAKERS_ML_FAILURE_THRESHOLD"),
        ("breakers.catalogSecondary.backoff.max", "BREAKWATER_BREAKERS_CATALOG_SECONDARY_BACKOFF_MAX"),
        ("catalog.postgresURL", "BREAKWATER_CATALOG_POSTGRES_URL"),
        ("catalog.cacheTTL", "BREAKWATER_CATALOG_CACHE_TTL"),
        ("features.ml_classification", "BREAKWATER_FEATURES_ML_CLASSIFICATION"),
        ("http.adminToken", "BREAKWATER_HTTP_ADMIN_TOKEN"),
    ])
    func environmentVariableNames(keyPath: String, variable: String) {
        #expect(ConfigurationLoader.environmentVariable(for: keyPath) == variable)
    }

    @Test func everyKeyHasItsOwnVariable() {
        let keys = ConfigurationLoader.keyPaths
        #expect(keys.count > 60)
        let variables = Set(keys.map(ConfigurationLoader.environmentVariable(for:)))
        #expect(variables.count == keys.count)
    }

    @Test func environmentOverridesNestedAndPerBreakerKeys() throws {
        let environment = [
            "BREAKWATER_KAFKA_BOOTSTRAP_SERVERS": "kafka:9092",
            "BREAKWATER_KAFKA_SASL_USERNAME": "svc",
            "BREAKWATER_KAFKA_PROPERTIES": "linger.ms=5, acks=all",
            "BREAKWATER_BREAKERS_ML_FAILURE_THRESHOLD": "3",
            "BREAKWATER_BREAKERS_ML_BACKOFF_MULTIPLIER": "2.5",
            "BREAKWATER_BREAKERS_CATALOG_SECONDARY_OPEN_DURATION": "1m30s",
            "BREAKWATER_BREAKERS_DEDUP_CALL_TIMEOUT": "250ms",
            "BREAKWATER_BREAKERS_CATALOG_WINDOW_TYPE": "time",
            "BREAKWATER_FEATURES_ML_CLASSIFICATION": "off",
            "BREAKWATER_ML_OUTPUT_NAMES": "sev, sev_p, cat, cat_p",
            "BREAKWATER_CATALOG_SECONDARY_URL": "postgres://ro@replica:5432/catalog",
            "BREAKWATER_PIPELINE_EXACTLY_ONCE": "true",
            "BREAKWATER_CONFIG": "",
            "BREAKWATER_TEST_KAFKA_BOOTSTRAP": "127.0.0.1:1",
            "UNRELATED": "ignored",
        ]
        let loaded = try loadConfig(environment: environment)
        let config = loaded.configuration
        #expect(config.kafka.bootstrapServers == "kafka:9092")
        #expect(config.kafka.sasl.username == "svc")
        #expect(config.kafka.properties == ["linger.ms": "5", "acks": "all"])
        #expect(config.breakers.ml.failureThreshold == 3)
        #expect(config.breakers.ml.backoff.multiplier == 2.5)
        #expect(config.breakers.catalog.failureThreshold == 5)
        #expect(config.breakers.catalogSecondary.openDuration == .seconds(90))
        #expect(config.breakers.dedup.callTimeout == .milliseconds(250))
        #expect(config.breakers.catalog.windowType == .time)
        #expect(config.features.mlClassification == false)
        #expect(config.ml.outputNames == ["sev", "sev_p", "cat", "cat_p"])
        #expect(config.catalog.secondaryURL == DatabaseURL("postgres://ro@replica:5432/catalog"))
        #expect(config.pipeline.exactlyOnce)
        let origin = loaded.effectiveValues.first { $0.key == "breakers.ml.failureThreshold" }?.origin
        #expect(origin == .environment("BREAKWATER_BREAKERS_ML_FAILURE_THRESHOLD"))
    }

    @Test func emptyVariableUnsetsAnOptionalKey() throws {
        let yaml = "http:\n  adminToken: 0123456789abcdef0123\n"
        #expect(try loadConfig(yaml: yaml).configuration.http.adminToken == Secret("0123456789abcdef0123"))
        #expect(try loadConfig(yaml: yaml, environment: ["BREAKWATER_HTTP_ADMIN_TOKEN": ""]).configuration.http.adminToken == nil)
        #expect(try loadConfig(yaml: yaml, overrides: ["http.adminToken="]).configuration.http.adminToken == nil)
    }

    @Test func flagsWinOverEnvironmentWhichWinsOverTheFile() throws {
        let yaml = "breakers:\n  ml:\n    failureThreshold: 7\n"
        let environment = ["BREAKWATER_BREAKERS_ML_FAILURE_THRESHOLD": "8"]
        let flag = ["breakers.ml.failureThreshold=9"]

        #expect(try loadConfig(yaml: yaml).configuration.breakers.ml.failureThreshold == 7)
        #expect(try loadConfig(yaml: yaml, environment: environment).configuration.breakers.ml.failureThreshold == 8)
        let all = try loadConfig(yaml: yaml, environment: environment, overrides: flag)
        #expect(all.configuration.breakers.ml.failureThreshold == 9)
        #expect(all.effectiveValues.first { $0.key == "breakers.ml.failureThreshold" }?.origin == .flag)
        #expect(try loadConfig(yaml: yaml, overrides: ["breakers.ml.failureThreshold=4", "breakers.ml.failureThreshold=6"])
            .configuration.breakers.ml.failureThreshold == 6, "the last flag wins")
        let fileOnly = try loadConfig(yaml: yaml)
        #expect(fileOnly.effectiveValues.first { $0.key == "breakers.ml.failureThreshold" }?.origin == .file("test.yaml"))
    }

    @Test func flagsSetMapEntriesAndLists() throws {
        let loaded = try loadConfig(
            yaml: "kafka:\n  properties:\n    acks: all\n",
            overrides: ["kafka.properties.socket.keepalive.enable=true", "ml.outputNames=a,b,c,d"])
        #expect(loaded.configuration.kafka.properties == ["acks": "all", "socket.keepalive.enable": "true"])
        #expect(loaded.configuration.ml.outputNames == ["a", "b", "c", "d"])
        #expect(loaded.effectiveValues.contains { $0.key == "kafka.properties.socket.keepalive.enable" && $0.value == "true" })
    }

    @Test func yamlAnchorsAndAliasesApply() throws {
        let yaml = """
            breakers:
              ml: &strict
                failureThreshold: 3
                openDuration: 10s
              catalog: *strict
            """
        let config = try loadConfig(yaml: yaml).configuration
        #expect(config.breakers.catalog.failureThreshold == 3)
        #expect(config.breakers.catalog.openDuration == .seconds(10))
        #expect(config.breakers.dedup.failureThreshold == 5)
    }

    @Test func configFileFromVariable() throws {
        let path = repositoryRoot.appendingPathComponent("deploy/breakwater.yaml").path
        let loaded = try ConfigurationLoader(environment: ["BREAKWATER_CONFIG": path]).load()
        #expect(loaded.effectiveValues.first?.origin == .file(path))
    }

    @Test func librdkafkaPropertiesFromTypedKeys() throws {
        let loaded = try loadConfig(environment: [
            "BREAKWATER_KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
            "BREAKWATER_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "BREAKWATER_KAFKA_SASL_USERNAME": "svc",
            "BREAKWATER_KAFKA_SASL_PASSWORD": "hunter2",
            "BREAKWATER_KAFKA_SSL_CA_LOCATION": "/etc/ca.pem",
            "BREAKWATER_KAFKA_PROPERTIES": "linger.ms=5",
        ])
        let properties = loaded.configuration.kafka.librdkafkaProperties
        #expect(properties["security.protocol"] == "sasl_ssl")
        #expect(properties["sasl.mechanisms"] == "SCRAM-SHA-512")
        #expect(properties["sasl.password"] == "hunter2")
        #expect(properties["ssl.ca.location"] == "/etc/ca.pem")
        #expect(properties["ssl.endpoint.identification.algorithm"] == "https")
        #expect(properties["linger.ms"] == "5")
        #expect(properties["bootstrap.servers"] == "localhost:9092")
    }
}

@Suite("Durations")
struct ConfigDurationTests {
    @Test(arguments: [
        ("250ms", Duration.milliseconds(250)), ("5s", .seconds(5)), ("1m", .seconds(60)), ("1m30s", .seconds(90)),
        ("1.5s", .milliseconds(1500)), ("2h", .seconds(7200)), ("100us", .microseconds(100)), ("0s", .zero),
    ])
    func parses(text: String, duration: Duration) throws {
        let parsed = try #require(ConfigDuration(parsing: text))
        #expect(parsed.duration == duration)
    }

    @Test(arguments: ["", "5", "s", "5 parsecs", "-1s", "1.2.3s", "5S"])
    func rejects(text: String) {
        #expect(ConfigDuration(parsing: text) == nil)
    }

    @Test func printsCanonically() {
        #expect(ConfigDuration.seconds(90).description == "1m30s")
        #expect(ConfigDuration.milliseconds(250).description == "250ms")
        #expect(ConfigDuration.seconds(3600).description == "1h")
        #expect(ConfigDuration(.zero).description == "0s")
    }
}
