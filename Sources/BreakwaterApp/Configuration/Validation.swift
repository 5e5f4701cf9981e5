import Foundation
import Triage

/// Collects problems while checking values.
struct ProblemCollector {
    var problems: [ConfigurationProblem] = []

    /// Records an invalid value at `key` unless `condition` holds.
    mutating func require(_ condition: Bool, _ key: String, _ value: String?, _ expected: String) {
        if !condition { problems.append(ConfigurationProblem(kind: .invalidValue, key: key, value: value, expected: expected)) }
    }

    mutating func atLeast(_ minimum: Int, _ value: Int, _ key: String) {
        require(value >= minimum, key, String(value), "an integer ≥ \(minimum)")
    }

    mutating func inRange(_ range: ClosedRange<Int>, _ value: Int, _ key: String) {
        require(range.contains(value), key, String(value), "an integer in \(range.lowerBound)...\(range.upperBound)")
    }

    mutating func fraction(_ value: Double, _ key: String) {
        require((0...1).contains(value), key, ConfigTreeEncoder.numberText(value), "a number in 0...1")
    }

    mutating func positive(_ value: ConfigDuration, _ key: String) {
        require(value.nanoseconds > 0, key, value.description, "a duration > 0s")
    }

    mutating func notEmpty(_ value: String, _ key: String) {
        require(!value.trimmingCharacters(in: .whitespaces).isEmpty, key, value, "a non-empty value")
    }

    mutating func url(_ value: String, schemes: [String], _ key: String, sensitivity: Sensitivity = .none) {
        let components = URLComponents(string: value)
        let ok = components.map { schemes.contains($0.scheme?.lowercased() ?? "") && !($0.host ?? "").isEmpty } ?? false
        require(ok, key, sensitivity.mask(value), "a URL like \(schemes[0])://host:port/...")
    }
}

extension BreakwaterConfiguration {
    /// Librdkafka properties that have a typed setting and so may not appear in `kafka.properties`.
    static let typedKafkaProperties: [String: String] = [
        "bootstrap.servers": "kafka.bootstrapServers", "metadata.broker.list": "kafka.bootstrapServers",
        "group.id": "kafka.groupId", "client.id": "kafka.clientId", "security.protocol": "kafka.securityProtocol",
        "sasl.mechanisms": "kafka.sasl.mechanism", "sasl.mechanism": "kafka.sasl.mechanism",
        "sasl.username": "kafka.sasl.username", "sasl.password": "kafka.sasl.password",
        "ssl.ca.location": "kafka.ssl.caLocation", "ssl.certificate.location": "kafka.ssl.certificateLocation",
        "ssl.key.location": "kafka.ssl.keyLocation", "ssl.key.password": "kafka.ssl.keyPassword",
        "ssl.endpoint.identification.algorithm": "kafka.ssl.verifyHostname",
        "partition.assignment.strategy": "kafka.assignmentStrategy",
        "group.instance.id": "kafka.staticMembership and kafka.groupInstanceId",
        "enable.partition.eof": "kafka.idleFetchBackoff",
    ]

    /// Minimum length of `http.adminToken`.
    public static let minimumAdminTokenLength = 16

    /// Every value that is out of range or inconsistent, each naming its key, its value
    /// (secrets masked) and what is allowed. Empty when the configuration can be used.
    public func validationProblems() -> [ConfigurationProblem] {
        var check = ProblemCollector()
        validateKafka(&check)
        validateTopics(&check)
        validatePipeline(&check)
        validateML(&check)
        validateCatalog(&check)
        check.notEmpty(rules.file, "rules.file")
        for (name, settings) in breakers.all { settings.validate(&check, prefix: "breakers.\(name)") }
        check.positive(fleet.heartbeat, "fleet.heartbeat")
        check.require(fleet.liveness > fleet.heartbeat, "fleet.liveness", fleet.liveness.description,
                      "a duration longer than fleet.heartbeat (\(fleet.heartbeat))")
        check.positive(heal.maxAge, "heal.maxAge")
        check.positive(heal.retryAfter, "heal.retryAfter")
        check.require(heal.ratePerSecond.isFinite && heal.ratePerSecond >= 0.001, "heal.ratePerSecond",
                      ConfigTreeEncoder.numberText(heal.ratePerSecond), "a rate of at least 0.001 per second")
        check.atLeast(0, heal.yieldAboveInFlight, "heal.yieldAboveInFlight")
        check.inRange(1...4_096, heal.batchSize, "heal.batchSize")
        protection.ml.validate(&check, prefix: "protection.ml")
        check.notEmpty(http.host, "http.host")
        check.inRange(1...65_535, http.port, "http.port")
        if let token = http.adminToken {
            check.require(token.value.count >= Self.minimumAdminTokenLength, "http.adminToken", token.description,
                          "a token of at least \(Self.minimumAdminTokenLength) characters (or unset to turn admin routes off)")
        }
        validateIngest(&check)
        return check.problems
    }

    private func validateIngest(_ check: inout ProblemCollector) {
        check.positive(ingest.deliveryTimeout, "ingest.deliveryTimeout")
        check.positive(ingest.retryAfter, "ingest.retryAfter")
        for (key, route) in ingest.all {
            let prefix = "ingest.\(key)"
            if let token = route.bearerToken {
                check.require(!token.value.isEmpty, "\(prefix).bearerToken", token.description, "a non-empty token, or unset")
                check.require(route.username == nil && route.password == nil, "\(prefix).bearerToken", token.description,
                              "either a bearer token or a user name and password, not both")
            }
            check.require((route.username == nil) == (route.password == nil), "\(prefix).username", route.username,
                          "a user name together with \(prefix).password (basic auth), or neither")
            if let username = route.username {
                check.require(!username.isEmpty && !username.contains(":"), "\(prefix).username", username,
                              "a non-empty user name without ':'")
            }
        }
    }

    /// Throws when ``validationProblems()`` is not empty.
    /// - Throws: ``ConfigurationError`` with every problem.
    public func validate() throws(ConfigurationError) {
        let problems = validationProblems()
        if !problems.isEmpty { throw ConfigurationError(problems: problems) }
    }

    private func validateKafka(_ check: inout ProblemCollector) {
        let servers = kafka.bootstrapServers.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let serversOK = !servers.isEmpty && servers.allSatisfy { server in
            guard let colon = server.lastIndex(of: ":"), let port = Int(server[server.index(after: colon)...]) else { return false }
            return colon > server.startIndex && (1...65_535).contains(port)
        }
        check.require(serversOK, "kafka.bootstrapServers", kafka.bootstrapServers, "a comma-separated list of host:port")
        check.notEmpty(kafka.groupId, "kafka.groupId")
        check.notEmpty(kafka.clientId, "kafka.clientId")
        if let instance = kafka.groupInstanceId { check.notEmpty(instance, "kafka.groupInstanceId") }
        if let backoff = kafka.idleFetchBackoff { check.positive(backoff, "kafka.idleFetchBackoff") }
        if kafka.securityProtocol.usesSASL {
            let needed = "a value when kafka.securityProtocol is \(kafka.securityProtocol.rawValue)"
            check.require(!(kafka.sasl.username ?? "").isEmpty, "kafka.sasl.username", kafka.sasl.username, needed)
            check.require(!(kafka.sasl.password?.value ?? "").isEmpty, "kafka.sasl.password", kafka.sasl.password?.description, needed)
        }
        for name in kafka.properties.keys.sorted() {
            if let typed = Self.typedKafkaProperties[name] {
                check.require(false, "kafka.properties.\(name)", Sensitivity.isSensitiveProperty(name) ? Sensitivity.mask : kafka.properties[name],
                              "no value here; set \(typed) instead")
            }
        }
    }

    private func validateTopics(_ check: inout ProblemCollector) {
        var seen: [String: String] = [:]
        for (key, name) in topics.all {
            let legal = name.count <= 249 && name != "." && name != ".."
                && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-") }
            check.require(legal && !name.isEmpty, "topics.\(key)", name, "a Kafka topic name: 1-249 of [A-Za-z0-9._-]")
            if let other = seen[name] {
                check.require(false, "topics.\(key)", name, "a topic different from topics.\(other)")
            }
            seen[name] = key
        }
        check.atLeast(1, topics.partitions, "topics.partitions")
        check.inRange(1...32_767, topics.replicationFactor, "topics.replicationFactor")
    }

    private func validatePipeline(_ check: inout ProblemCollector) {
        check.atLeast(1, pipeline.maxInFlight, "pipeline.maxInFlight")
        check.positive(pipeline.shutdownDeadline, "pipeline.shutdownDeadline")
        check.positive(pipeline.brokerUnreachableGrace, "pipeline.brokerUnreachableGrace")
        check.positive(pipeline.commitInterval, "pipeline.commitInterval")
        check.notEmpty(pipeline.workerId, "pipeline.workerId")
        check.atLeast(1, pipeline.maxRecordBytes, "pipeline.maxRecordBytes")
        check.atLeast(1, pipeline.maxAlertsPerPayload, "pipeline.maxAlertsPerPayload")
    }

    private func validateML(_ check: inout ProblemCollector) {
        check.url(ml.url, schemes: ["http", "https"], "ml.url", sensitivity: .url)
        check.notEmpty(ml.modelName, "ml.modelName")
        check.notEmpty(ml.inputName, "ml.inputName")
        check.require(ml.outputNames.count == 4 && ml.outputNames.allSatisfy { !$0.isEmpty }, "ml.outputNames",
                      ml.outputNames.joined(separator: ", "),
                      "four output tensor names: severity, severity confidence, category, category confidence")
        check.positive(ml.timeout, "ml.timeout")
        check.atLeast(1, ml.maxBatchSize, "ml.maxBatchSize")
        check.atLeast(1, ml.maxConcurrentRequests, "ml.maxConcurrentRequests")
        check.fraction(ml.minConfidence, "ml.minConfidence")
        for level in ml.severityFloor where Severity(rawValue: level) == nil {
            check.require(false, "ml.severityFloor", level, "severities among " + Severity.allCases.map(\.rawValue).joined(separator: ", "))
        }
    }

    private func validateCatalog(_ check: inout ProblemCollector) {
        check.url(catalog.postgresURL.rawValue, schemes: ["postgres", "postgresql"], "catalog.postgresURL", sensitivity: .url)
        if let secondary = catalog.secondaryURL {
            check.url(secondary.rawValue, schemes: ["postgres", "postgresql"], "catalog.secondaryURL", sensitivity: .url)
        }
        check.notEmpty(catalog.staticCatalogFile, "catalog.staticCatalogFile")
        check.positive(catalog.cacheTTL, "catalog.cacheTTL")
        check.require(catalog.staleTTL >= catalog.cacheTTL, "catalog.staleTTL", catalog.staleTTL.description,
                      "a duration ≥ catalog.cacheTTL (\(catalog.cacheTTL))")
        check.atLeast(1, catalog.cacheCapacity, "catalog.cacheCapacity")
        check.atLeast(1, catalog.poolSize, "catalog.poolSize")
        check.positive(catalog.statementTimeout, "catalog.statementTimeout")
        if let caFile = catalog.tls.caFile { check.notEmpty(caFile, "catalog.tls.caFile") }
    }
}

extension BreakerSettings {
    func validate(_ check: inout ProblemCollector, prefix: String) {
        check.atLeast(1, failureThreshold, "\(prefix).failureThreshold")
        check.atLeast(1, successThreshold, "\(prefix).successThreshold")
        check.positive(openDuration, "\(prefix).openDuration")
        check.require(halfOpenMaxCalls >= max(1, successThreshold), "\(prefix).halfOpenMaxCalls", String(halfOpenMaxCalls),
                      "an integer ≥ 1 and ≥ \(prefix).successThreshold (\(successThreshold)), or the breaker could never close")
        check.fraction(failureRateThreshold, "\(prefix).failureRateThreshold")
        check.positive(slowCallDuration, "\(prefix).slowCallDuration")
        check.fraction(slowCallRateThreshold, "\(prefix).slowCallRateThreshold")
        check.atLeast(1, windowSize, "\(prefix).windowSize")
        check.positive(windowDuration, "\(prefix).windowDuration")
        check.atLeast(1, minimumCalls, "\(prefix).minimumCalls")
        if windowType == .count {
            check.require(minimumCalls <= windowSize, "\(prefix).minimumCalls", String(minimumCalls),
                          "an integer ≤ \(prefix).windowSize (\(windowSize)) with a count window")
        }
        if let callTimeout { check.positive(callTimeout, "\(prefix).callTimeout") }
        check.require(backoff.multiplier >= 1 && backoff.multiplier.isFinite, "\(prefix).backoff.multiplier",
                      ConfigTreeEncoder.numberText(backoff.multiplier), "a number ≥ 1 (1 keeps the open duration fixed)")
        check.require(backoff.max >= openDuration, "\(prefix).backoff.max", backoff.max.description,
                      "a duration ≥ \(prefix).openDuration (\(openDuration))")
        check.fraction(backoff.jitter, "\(prefix).backoff.jitter")
        check.require(fleet.quorum >= 0 && fleet.quorum < 1, "\(prefix).fleet.quorum", ConfigTreeEncoder.numberText(fleet.quorum),
                      "a share in 0..<1 (0.5: more than half of the live workers)")
        check.atLeast(1, fleet.minimumQuorum, "\(prefix).fleet.minimumQuorum")
        check.atLeast(1, fleet.probers, "\(prefix).fleet.probers")
    }
}

extension ProtectionSettings {
    func validate(_ check: inout ProblemCollector, prefix: String) {
        let severities = Severity.allCases.map(\.rawValue)
        check.require(severityOrder.count == severities.count && Set(severityOrder) == Set(severities), "\(prefix).severityOrder",
                      severityOrder.joined(separator: ", "), "every severity once (\(severities.joined(separator: ", ")))")
        let window = throttle.window.duration
        check.require(window >= .seconds(1) && window <= .seconds(10_000) && window.components.attoseconds == 0,
                      "\(prefix).throttle.window", throttle.window.description, "whole seconds between 1s and 10000s")
        check.require(throttle.multiplier >= 1 && throttle.multiplier.isFinite, "\(prefix).throttle.multiplier",
                      ConfigTreeEncoder.numberText(throttle.multiplier), "a number ≥ 1")
        check.require(throttle.maxRejectionProbability >= 0 && throttle.maxRejectionProbability < 1,
                      "\(prefix).throttle.maxRejectionProbability", ConfigTreeEncoder.numberText(throttle.maxRejectionProbability),
                      "a number in 0..<1 (1 would turn everything away)")
        let limit = concurrencyLimit
        check.atLeast(1, limit.min, "\(prefix).concurrencyLimit.min")
        check.atLeast(max(1, limit.min), limit.max, "\(prefix).concurrencyLimit.max")
        check.require((limit.min...max(limit.min, limit.max)).contains(limit.initial), "\(prefix).concurrencyLimit.initial",
                      String(limit.initial), "an integer between concurrencyLimit.min (\(limit.min)) and max (\(limit.max))")
        if let latency = limit.maxHealthyLatency { check.positive(latency, "\(prefix).concurrencyLimit.maxHealthyLatency") }
        check.positive(limit.baselineWindow, "\(prefix).concurrencyLimit.baselineWindow")
        if let alpha = limit.alpha {
            check.require(alpha >= 0 && alpha.isFinite, "\(prefix).concurrencyLimit.alpha", ConfigTreeEncoder.numberText(alpha), "a number ≥ 0")
        }
        if let beta = limit.beta {
            let alpha = limit.alpha ?? 0
            check.require(beta > alpha && beta.isFinite, "\(prefix).concurrencyLimit.beta", ConfigTreeEncoder.numberText(beta),
                          "a number above concurrencyLimit.alpha (\(ConfigTreeEncoder.numberText(alpha)))")
        }
        for (severity, share) in limit.reserved.all {
            check.require(share >= 0 && share < 1, "\(prefix).concurrencyLimit.reserved.\(severity.rawValue)",
                          ConfigTreeEncoder.numberText(share), "a number in 0..<1")
        }
        let total = limit.reserved.all.reduce(0) { $0 + $1.share }
        check.require(total < 1, "\(prefix).concurrencyLimit.reserved", ConfigTreeEncoder.numberText(total),
                      "shares adding up to less than 1")
        for (severity, wait) in waitBudget.all { check.positive(wait, "\(prefix).waitBudget.\(severity.rawValue)") }
    }
}
