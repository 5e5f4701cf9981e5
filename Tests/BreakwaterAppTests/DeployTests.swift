import BreakwaterApp
import Foundation
import Testing
import Triage
import Yams

/// Loosely typed access to parsed YAML/JSON documents.
private func dict(_ value: Any?, _ sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
    try #require(value as? [String: Any], "expected a mapping, got \(String(describing: value))", sourceLocation: sourceLocation)
}

private func list(_ value: Any?, _ sourceLocation: SourceLocation = #_sourceLocation) throws -> [Any] {
    try #require(value as? [Any], "expected a list, got \(String(describing: value))", sourceLocation: sourceLocation)
}

/// Every document of a YAML file under `deploy/`.
private func documents(_ path: String) throws -> [[String: Any]] {
    try Yams.load_all(yaml: try repositoryFile(path)).compactMap { $0 as? [String: Any] }
}

/// The one Kubernetes object of `kind` in `deploy/kubernetes/`.
private func kubernetesObject(_ kind: String) throws -> [String: Any] {
    let directory = repositoryRoot.appendingPathComponent("deploy/kubernetes")
    let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".yaml") }.sorted()
    let objects = try files.flatMap { try documents("deploy/kubernetes/\($0)") }.filter { $0["kind"] as? String == kind }
    #expect(objects.count == 1, "expected one \(kind), found \(objects.count)")
    return try #require(objects.first)
}

/// The configuration embedded in the ConfigMap, loaded with no environment.
private func configMapConfiguration() throws -> BreakwaterConfiguration {
    let data = try dict(try kubernetesObject("ConfigMap")["data"])
    let yaml = try #require(data["breakwater.yaml"] as? String)
    return try ConfigurationLoader(environment: [:]).load(yaml: yaml, source: "configmap.yaml").configuration
}

private func deploymentContainer() throws -> [String: Any] {
    let spec = try dict(try dict(try dict(try kubernetesObject("Deployment")["spec"])["template"])["spec"])
    return try dict(try list(spec["containers"]).first)
}

@Suite("Deployment files")
struct DeployTests {
    @Test func everyYAMLAndJSONFileParses() throws {
        let deploy = repositoryRoot.appendingPathComponent("deploy")
        let enumerator = try #require(FileManager.default.enumerator(atPath: deploy.path))
        var parsed = 0
        while let relative = enumerator.nextObject() as? String {
            let path = "deploy/\(relative)"
            if relative.hasSuffix(".yaml") || relative.hasSuffix(".yml") {
                let docs = try Yams.load_all(yaml: try repositoryFile(path)).compactMap { $0 }
                #expect(!docs.isEmpty, "\(path) has no document")
                parsed += 1
            } else if relative.hasSuffix(".json") {
                let object = try JSONSerialization.jsonObject(with: Data(try repositoryFile(path).utf8))
                #expect(object is [String: Any], "\(path) is not a JSON object")
                parsed += 1
            }
        }
        #expect(parsed >= 10)
    }

    @Test func probesUseTheServerRoutesOnTheConfiguredPort() throws {
        let container = try deploymentContainer()
        let liveness = try dict(try dict(container["livenessProbe"])["httpGet"])
        let readiness = try dict(try dict(container["readinessProbe"])["httpGet"])
        #expect(liveness["path"] as? String == HTTPRoutes.live)
        #expect(readiness["path"] as? String == HTTPRoutes.ready)
        #expect(HTTPRoutes.live == "/health/live")
        #expect(HTTPRoutes.ready == "/health/ready")

        let ports = try list(container["ports"]).map { try dict($0) }
        let http = try #require(ports.first { $0["name"] as? String == liveness["port"] as? String })
        #expect(http["containerPort"] as? Int == BreakwaterConfiguration().http.port)
        #expect(try configMapConfiguration().http.port == BreakwaterConfiguration().http.port)

        let service = try dict(try kubernetesObject("Service")["spec"])
        let servicePort = try dict(try list(service["ports"]).first)
        #expect(servicePort["targetPort"] as? String == http["name"] as? String)
    }

    @Test func configMapHoldsAValidConfiguration() throws {
        let config = try configMapConfiguration()
        #expect(config.logging.format == .json)
        #expect(config.kafka.groupId == BreakwaterConfiguration().kafka.groupId)
    }

    @Test func deploymentEnvironmentIsAValidConfigurationWithTheSecret() throws {
        let secret = try dict(try kubernetesObject("Secret")["stringData"])
        let container = try deploymentContainer()
        var environment: [String: String] = [:]
        for entry in try list(container["env"]).map({ try dict($0) }) {
            let name = try #require(entry["name"] as? String)
            if let value = entry["value"] as? String {
                environment[name] = value
            } else if let reference = (entry["valueFrom"] as? [String: Any])?["secretKeyRef"] as? [String: Any] {
                let key = try #require(reference["key"] as? String)
                environment[name] = try #require(secret[key] as? String, "Secret lacks \(key)")
                let secretName = try dict(try kubernetesObject("Secret")["metadata"])["name"] as? String
                #expect(reference["name"] as? String == secretName)
            } else {
                environment[name] = "pod-name"
            }
        }
        let configMapName = try dict(try kubernetesObject("ConfigMap")["metadata"])["name"] as? String
        let yaml = try #require(try dict(try kubernetesObject("ConfigMap")["data"])["breakwater.yaml"] as? String)
        let mountedFile = try #require(environment[ConfigurationLoader.configFileVariable])
        environment[ConfigurationLoader.configFileVariable] = nil
        #expect(mountedFile.hasSuffix("/breakwater.yaml"))
        let loaded = try ConfigurationLoader(environment: environment).load(yaml: yaml, source: mountedFile)
        #expect(loaded.configuration.http.adminToken != nil)
        #expect(loaded.configuration.catalog.secondaryURL != nil)
        #expect(loaded.configuration.pipeline.workerId == "pod-name")

        let spec = try dict(try dict(try dict(try kubernetesObject("Deployment")["spec"])["template"])["spec"])
        let volume = try dict(try list(spec["volumes"]).first)
        #expect((volume["configMap"] as? [String: Any])?["name"] as? String == configMapName)
        let grace = try #require(spec["terminationGracePeriodSeconds"] as? Int)
        #expect(Duration.seconds(grace) > loaded.configuration.pipeline.shutdownDeadline.duration,
                "SIGKILL must not come before the shutdown deadline")
    }

    @Test func podsRunAsNonRoot() throws {
        let spec = try dict(try dict(try dict(try kubernetesObject("Deployment")["spec"])["template"])["spec"])
        let security = try dict(spec["securityContext"])
        #expect(security["runAsNonRoot"] as? Bool == true)
        #expect((security["runAsUser"] as? Int ?? 0) > 0)
    }

    @Test func selectorsMatchThePods() throws {
        let deployment = try dict(try kubernetesObject("Deployment")["spec"])
        let podLabels = try dict(try dict(try dict(deployment["template"])["metadata"])["labels"]) as? [String: String]
        let selector = try dict(try dict(deployment["selector"])["matchLabels"]) as? [String: String]
        #expect(selector == podLabels)
        let pdb = try dict(try dict(try dict(try kubernetesObject("PodDisruptionBudget")["spec"])["selector"])["matchLabels"])
        #expect(pdb as? [String: String] == podLabels)
        let service = try dict(try dict(try kubernetesObject("Service")["spec"])["selector"])
        #expect(service as? [String: String] == podLabels)
    }

    @Test func scaledObjectWatchesTheConfiguredGroupAndTopic() throws {
        let scaled = try kubernetesObject("ScaledObject")
        #expect(scaled["apiVersion"] as? String == "keda.sh/v1alpha1")
        let spec = try dict(scaled["spec"])
        let trigger = try dict(try list(spec["triggers"]).first)
        #expect(trigger["type"] as? String == "kafka")
        let metadata = try dict(trigger["metadata"])
        let defaults = BreakwaterConfiguration()
        let deployed = try configMapConfiguration()
        #expect(metadata["consumerGroup"] as? String == defaults.kafka.groupId)
        #expect(metadata["topic"] as? String == defaults.topics.alerts)
        #expect(metadata["consumerGroup"] as? String == deployed.kafka.groupId)
        #expect(metadata["topic"] as? String == deployed.topics.alerts)
        #expect(metadata["bootstrapServers"] as? String == deployed.kafka.bootstrapServers)
        let deploymentName = try dict(try kubernetesObject("Deployment")["metadata"])["name"] as? String
        #expect(try dict(spec["scaleTargetRef"])["name"] as? String == deploymentName)
        let maxReplicas = try #require(spec["maxReplicaCount"] as? Int)
        #expect(maxReplicas <= deployed.topics.partitions, "workers beyond the partition count would sit idle")
    }

    @Test func composeRunsTheStackWithValidWorkerConfigurations() throws {
        let compose = try #require(try documents("deploy/docker-compose.yaml").first)
        let services = try dict(compose["services"])
        let kafka = try dict(services["kafka"])
        #expect((kafka["image"] as? String)?.hasPrefix("apache/kafka:") == true)
        let kafkaEnvironment = try dict(kafka["environment"])
        #expect((kafkaEnvironment["KAFKA_PROCESS_ROLES"] as? String)?.contains("controller") == true, "KRaft mode")
        #expect(services["postgres"] != nil)
        #expect(services["mlserver"] != nil)

        let workers = services.keys.filter { $0.hasPrefix("breakwater") }.sorted()
        #expect(workers.count == 2)
        var workerIds: Set<String> = []
        for name in workers {
            let service = try dict(services[name])
            let environment = try dict(service["environment"]).compactMapValues { $0 as? String }
            let config = try ConfigurationLoader(environment: environment).load().configuration
            workerIds.insert(config.pipeline.workerId)
            let ports = try list(service["ports"]).compactMap { $0 as? String }
            #expect(ports.allSatisfy { $0.hasSuffix(":\(config.http.port)") })
        }
        #expect(workerIds.count == 2, "each worker has its own id")
    }

    @Test func dockerfileBuildsWithSwiftAndRunsAsNonRoot() throws {
        let instructions = try repositoryFile("deploy/Dockerfile")
            .replacingOccurrences(of: "\\\n", with: " ")
            .split(separator: "\n")
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        let stages = instructions.filter { $0.uppercased().hasPrefix("FROM ") }
        #expect(stages.count >= 2, "multi-stage")
        #expect(stages.first?.contains("swift:6.3") == true)
        let runtimeStart = try #require(instructions.lastIndex { $0.uppercased().hasPrefix("FROM ") })
        let runtime = instructions[runtimeStart...]
        #expect(runtime.contains { $0.contains("librdkafka1") })
        let user = try #require(runtime.last { $0.uppercased().hasPrefix("USER ") }, "the runtime stage sets USER")
        let account = user.dropFirst(5).split(separator: ":").first.map(String.init) ?? ""
        #expect(!["root", "0", ""].contains(account), "runs as \(account)")
        let port = BreakwaterConfiguration().http.port
        #expect(runtime.contains("EXPOSE \(port)"))
        let healthcheck = try #require(runtime.first { $0.uppercased().hasPrefix("HEALTHCHECK") })
        #expect(healthcheck.contains(":\(port)\(HTTPRoutes.live)"))
    }

    @Test func dashboardQueriesOnlyExportedMetricsAndCoversThemAll() throws {
        let object = try JSONSerialization.jsonObject(with: Data(try repositoryFile("deploy/grafana/breakwater.json").utf8))
        var expressions: [String] = []
        func collect(_ value: Any) {
            if let map = value as? [String: Any] {
                if let expr = map["expr"] as? String { expressions.append(expr) }
                map.values.forEach(collect)
            } else if let array = value as? [Any] {
                array.forEach(collect)
            }
        }
        collect(object)
        #expect(expressions.count >= 15)
        var referenced: Set<String> = []
        for expression in expressions {
            let names = PromQL.metricNames(in: expression)
            #expect(!names.isEmpty, "no metric in \(expression)")
            for name in names {
                let base = PromQL.baseName(name)
                #expect(MetricNames.all.contains(base), "\(name) in `\(expression)` is not exported")
                if base != name { #expect(MetricNames.histograms.contains(base), "\(name): \(base) is not a histogram") }
                referenced.insert(base)
            }
        }
        #expect(referenced == Set(MetricNames.all), "not on the dashboard: \(Set(MetricNames.all).subtracting(referenced))")
    }

    @Test func alertRulesQueryOnlyExportedMetrics() throws {
        let document = try #require(try Yams.load(yaml: try repositoryFile("deploy/prometheus/alerts.yaml")) as? [String: Any])
        let groups = try #require(document["groups"] as? [[String: Any]])
        let rules = groups.flatMap { ($0["rules"] as? [[String: Any]]) ?? [] }
        #expect(Set(rules.compactMap { $0["alert"] as? String }) == [
            "BreakwaterBreakerOpen", "BreakwaterDeadLetterRateHigh", "BreakwaterConsumerLagGrowing",
            "BreakwaterNoIncidentsWhileLagging", "BreakwaterWorkerNotReady",
        ])
        for rule in rules {
            let expression = try #require(rule["expr"] as? String)
            let names = PromQL.metricNames(in: expression)
            #expect(!names.isEmpty, "no metric in \(expression)")
            for name in names { #expect(MetricNames.all.contains(PromQL.baseName(name)), "\(name) in `\(expression)` is not exported") }
        }
    }

    @Test(.enabled(if: Promtool.shouldRun))
    func alertRulesPassPromtoolsCheckAndTheirUnitTests() throws {
        let check = try Promtool.run(["check", "rules", "deploy/prometheus/alerts.yaml"])
        #expect(check.status == 0, "\(check.output)")
        #expect(check.output.contains("SUCCESS: 5 rules found"), "\(check.output)")
        let test = try Promtool.run(["test", "rules", "alerts-test.yaml"], in: repositoryRoot.appendingPathComponent("deploy/prometheus"))
        #expect(test.status == 0, "\(test.output)")
        #expect(test.output.contains("SUCCESS"), "\(test.output)")
    }

    @Test func promQLExtraction() {
        let expression = #"histogram_quantile(0.95, sum by (le) (rate(x_bucket{a="b c", d=~"$e"}[$__rate_interval]))) / ignoring(f) y"#
        #expect(PromQL.metricNames(in: expression) == ["x_bucket", "y"])
        #expect(PromQL.baseName("x_bucket") == "x")
        #expect(PromQL.baseName("breakwater_ml_batch_size_count") == "breakwater_ml_batch_size")
        #expect(PromQL.baseName("breakwater_in_flight") == "breakwater_in_flight")
    }
}

/// Just enough PromQL reading to list the metrics an expression selects.
enum PromQL {
    static let keywords: Set<String> = [
        "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset", "inf", "nan",
    ]

    /// Metric names selected by `expression` (functions, keywords, labels, strings and ranges removed).
    static func metricNames(in expression: String) -> Set<String> {
        var text = expression
        text = text.replacing(/"(?:[^"\\]|\\.)*"/, with: "")
        text = text.replacing(/\{[^}]*\}/, with: " ")
        text = text.replacing(/\[[^\]]*\]/, with: " ")
        text = text.replacing(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/, with: " ")
        var names: Set<String> = []
        for match in text.matches(of: /[A-Za-z_:][A-Za-z0-9_:]*/) {
            let word = String(match.output)
            let end = match.range.upperBound
            let followedByParen = text[end...].drop { $0 == " " }.first == "("
            if !followedByParen, !keywords.contains(word) { names.insert(word) }
        }
        return names
    }

    /// The metric a histogram series belongs to (`_bucket`, `_sum`, `_count` removed).
    static func baseName(_ series: String) -> String {
        for suffix in ["_bucket", "_sum", "_count"] where series.hasSuffix(suffix) {
            let base = String(series.dropLast(suffix.count))
            if MetricNames.histograms.contains(base) || !MetricNames.all.contains(series) { return base }
        }
        return series
    }
}
