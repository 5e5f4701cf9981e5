import Foundation
import Testing
@testable import Triage

private func alert(_ labels: [String: String], summary: String? = nil, description: String? = nil) -> Alert {
    var annotations: [String: String] = [:]
    annotations["summary"] = summary
    annotations["description"] = description
    return Alert(fingerprint: "fp", status: .firing, source: .alertmanager, labels: labels, annotations: annotations)
}

private func rules(_ yaml: String) throws -> RuleClassifier {
    RuleClassifier(ruleSet: try RuleSet(yaml: yaml, file: "test.yaml"))
}

@Suite("Rule classifier: matching and verdicts")
struct RulesClassifierTests {
    let yaml = """
    defaults:
      severity: low
      category: other
    rules:
      - name: exact-name
        match:
          alertname: HostDown
        severity: critical
        category: availability
      - name: regex-summary
        match:
          summary: { regex: "(?i)disk .* full" }
        category: capacity
      - name: needs-runbook-absent
        match:
          alertname: { equals: NoRunbook }
          labels:
            runbook: { present: false }
            team: { present: true }
        severity: high
      - name: description-match
        match:
          description: { regex: "^exact text$" }
        severity: info
        category: data
    """

    @Test func firstMatchingRuleWinsWithItsSeverityAndCategory() throws {
        let classifier = try rules(yaml)
        // Also matches no later rule; HostDown is exact, so 0.5 + 0.15.
        let verdict = classifier.classify(alert(["alertname": "HostDown", "severity": "info"], summary: "disk a full"))
        #expect(verdict == Classification(severity: .critical, category: .availability, confidence: 0.65, classifier: .rules, rule: "exact-name"))
    }

    @Test func exactMatchIsCaseSensitiveAndWhole() throws {
        let classifier = try rules(yaml)
        #expect(classifier.classify(alert(["alertname": "hostdown"])).rule == nil)
        #expect(classifier.classify(alert(["alertname": "HostDown2"])).rule == nil)
    }

    @Test func ruleWithoutSeverityKeepsTheSourceSeverity() throws {
        let classifier = try rules(yaml)
        let verdict = classifier.classify(alert(["alertname": "X", "severity": "warning"], summary: "Disk /var is FULL"))
        #expect(verdict.rule == "regex-summary")
        #expect(verdict.severity == .medium)
        #expect(verdict.category == .capacity)
        #expect(verdict.confidence == 0.6)
    }

    @Test func ruleWithoutSeverityAndUnknownSourceSeverityUsesDefault() throws {
        let classifier = try rules(yaml)
        let verdict = classifier.classify(alert(["alertname": "X", "severity": "whatever"], summary: "disk / full"))
        #expect(verdict.rule == "regex-summary")
        #expect(verdict.severity == .low)
    }

    @Test func presenceAndAbsenceMatchers() throws {
        let classifier = try rules(yaml)
        let matching = classifier.classify(alert(["alertname": "NoRunbook", "team": "db"]))
        #expect(matching.rule == "needs-runbook-absent")
        #expect(matching.severity == .high)
        // 0.5 + exact 0.15 + two presence matchers 0.05 each.
        #expect(abs(matching.confidence - 0.75) < 1e-9)
        // An empty label counts as absent.
        #expect(classifier.classify(alert(["alertname": "NoRunbook", "team": "db", "runbook": ""])).rule == "needs-runbook-absent")
        #expect(classifier.classify(alert(["alertname": "NoRunbook", "team": "db", "runbook": "http://x"])).rule == nil)
        #expect(classifier.classify(alert(["alertname": "NoRunbook"])).rule == nil)
    }

    @Test func ruleWithoutCategoryUsesKeywordsThenDefault() throws {
        let classifier = try rules(yaml)
        let keyword = classifier.classify(alert(["alertname": "NoRunbook", "team": "db"], summary: "replication stopped"))
        #expect(keyword.rule == "needs-runbook-absent")
        #expect(keyword.category == .data)
        let fallback = classifier.classify(alert(["alertname": "NoRunbook", "team": "db"], summary: "something odd"))
        #expect(fallback.category == .other)
    }

    @Test func customKeywordsReplaceTheBuiltInOnes() throws {
        let classifier = try rules("""
        keywords:
          - category: security
            words: [Latency]
        rules: []
        """)
        #expect(classifier.ruleSet.rules.isEmpty)
        // Keywords are lower-cased at load and matched case-insensitively.
        #expect(classifier.classify(alert(["alertname": "HighLatency"])).category == .security)
        #expect(classifier.classify(alert(["alertname": "HighErrorRate"])).category == .other)
    }

    @Test func descriptionMatcher() throws {
        let classifier = try rules(yaml)
        let verdict = classifier.classify(alert(["alertname": "Y"], description: "exact text"))
        #expect(verdict.rule == "description-match")
        #expect(verdict.category == .data)
        #expect(classifier.classify(alert(["alertname": "Y"], description: "not exact text")).rule == nil)
    }

    @Test func noRuleMatchesFallsBackToSourceSeverityAndKeywords() throws {
        let classifier = try rules(yaml)
        let verdict = classifier.classify(alert(["alertname": "CheckoutLatencyHigh", "severity": "error"]))
        #expect(verdict == Classification(severity: .high, category: .latency, confidence: 0.4, classifier: .rules, rule: nil))
    }

    @Test func noRuleNoSeverityNoKeywordUsesDefaultsWithLowestConfidence() throws {
        let classifier = try rules(yaml)
        let verdict = classifier.classify(alert(["alertname": "Mystery"]))
        #expect(verdict == Classification(severity: .low, category: .other, confidence: 0.2, classifier: .rules, rule: nil))
    }

    @Test(arguments: [
        ("critical", Severity.critical), ("error", .high), ("high", .high), ("warning", .medium),
        ("info", .info), ("low", .low),
    ])
    func sourceSeverityMappingForDefaultVerdicts(raw: String, expected: Severity) throws {
        let classifier = try rules(yaml)
        #expect(classifier.classify(alert(["alertname": "Mystery", "severity": raw])).severity == expected)
    }

    @Test func confidenceGrowsWithSpecificityAndIsCapped() {
        let one = ClassificationRule(name: "a", matchers: [(.alertName, .present(true))])
        let two = ClassificationRule(name: "b", matchers: [(.alertName, .exact("x")), (.summary, .present(true))])
        let many = ClassificationRule(name: "c", matchers: Array(repeating: (AlertField.alertName, FieldMatcher.exact("x")), count: 6))
        #expect(one.confidence < two.confidence)
        #expect(many.confidence == 0.95)
    }

    @Test func batchClassifiesInOrderThroughTheProtocol() async throws {
        let classifier: any AlertClassifier = try rules(yaml)
        let verdicts = try await classifier.classify([alert(["alertname": "HostDown"]), alert(["alertname": "Mystery"])])
        #expect(verdicts.map(\.rule) == ["exact-name", nil])
        let single = try await classifier.classify(alert(["alertname": "HostDown"]))
        #expect(single.rule == "exact-name")
    }
}

@Suite("Rule classifier: the shipped deploy/rules.yaml")
struct ShippedRulesTests {
    static let path = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("deploy/rules.yaml").path

    @Test func loadsAndClassifiesTypicalAlerts() throws {
        let classifier = try RuleClassifier(contentsOf: Self.path)
        #expect(classifier.ruleSet.rules.count >= 5)
        let down = classifier.classify(alert(["alertname": "InstanceDown", "env": "production"]))
        #expect(down.rule == "production-service-down")
        #expect(down.severity == .critical)
        #expect(down.category == .availability)
        let disk = classifier.classify(alert(["alertname": "NodeDiskSpaceLow", "severity": "warning"]))
        #expect(disk.rule == "disk-nearly-full")
        #expect(disk.severity == .medium)
        #expect(disk.category == .capacity)
        let watchdog = classifier.classify(alert(["alertname": "Watchdog", "severity": "none"]))
        #expect(watchdog.severity == .info)
        let unknown = classifier.classify(alert(["alertname": "QueueBacklogGrowing", "severity": "high"]))
        #expect(unknown.rule == nil)
        #expect(unknown.category == .saturation)
        #expect(unknown.severity == .high)
    }
}

@Suite("Rule classifier: the remembered pattern answers and the keyword search")
struct RulePatternMemoTests {
    @Test func rememberedAnswersEqualFreshOnesAndTheMemoryStaysBounded() throws {
        let pattern = try RulePattern("(?i)^(disk|node)[a-z]*full$")
        let fresh = try RulePattern("(?i)^(disk|node)[a-z]*full$")
        let values = (0..<(RulePattern.memoCapacity + 500)).map { index in
            index % 3 == 0 ? "DiskIsFull" : index % 3 == 1 ? "nodefull" : "value-\(index)"
        }
        for value in values {
            #expect(pattern.matches(value) == fresh.matches(value))
            #expect(pattern.rememberedValues <= RulePattern.memoCapacity)
        }
        // Asked again, after the memory was emptied at least once: the same answers.
        for value in values.prefix(50) {
            #expect(pattern.matches(value) == fresh.matches(value))
        }
        #expect(pattern.matches("DiskIsFull"))
        #expect(!pattern.matches("DiskIsFullNot"))
    }

    @Test func keywordsAreFoundAnywhereInTheLowerCasedFieldsAndEmptyOnesNever() {
        let keywords = CategoryKeywords([(.security, [""]), (.latency, ["Response Time"]), (.capacity, ["ü-full"])])
        let base = Alert(fingerprint: "fp", status: .firing, source: .alertmanager, labels: ["alertname": "X"])
        var slow = base
        slow.annotations["description"] = "The RESPONSE TIME rose"
        #expect(keywords.category(for: slow) == .latency)
        var unicode = base
        unicode.annotations["summary"] = "Disk Ü-FULL now"
        #expect(keywords.category(for: unicode) == .capacity)
        #expect(keywords.category(for: base) == nil)
        // A keyword never spans two fields.
        var split = base
        split.labels["alertname"] = "response"
        split.annotations["summary"] = "time"
        #expect(keywords.category(for: split) == nil)
    }

    @Test func theFirstEntryWinsWhereverItsKeywordOccursAsThePlainSearchFindsIt() throws {
        let keywords = CategoryKeywords.standard
        var alert = Alert(fingerprint: "fp", status: .firing, source: .alertmanager, labels: ["alertname": "HighLatency"])
        // `deploy` (an earlier entry) wins over `latency`, though later and in another field.
        alert.annotations["description"] = "after the DEPLOY of v2"
        #expect(keywords.category(for: alert) == .deployment)

        // The plain search: each entry in order, each keyword, each lower-cased field.
        func plain(_ alert: Alert) -> Category? {
            let fields = [alert.alertName, alert.summary, alert.description].compactMap { $0?.lowercased() }
            return keywords.entries.first { entry in
                entry.keywords.contains { keyword in !keyword.isEmpty && fields.contains { $0.contains(keyword) } }
            }?.category
        }
        var samples = SampleAlerts(seed: 11)
        let alerts = try samples.records(count: 400).flatMap { try AlertDecoder().decode($0.inputRecord) }
        var found = 0
        for alert in alerts {
            #expect(keywords.category(for: alert) == plain(alert), "\(alert.alertName ?? "-") / \(alert.summary ?? "-")")
            if plain(alert) != nil { found += 1 }
        }
        #expect(found > 0 && found < alerts.count, "the samples exercise both a found and a missing keyword")
    }

    /// The first applying rule is remembered by the values the rules test: it must be the
    /// rule that trying them in order finds, on a first sight, on a repeat, and after the
    /// memory filled up and started over (unique alert names past its capacity).
    @Test func theRememberedFirstRuleIsTheOneTryingTheRulesInOrderFinds() throws {
        let classifier = try RuleClassifier(contentsOf: ShippedRulesTests.path)
        func inOrder(_ alert: Alert) -> String? { classifier.ruleSet.rules.first { $0.matches(alert) }?.name }
        var samples = SampleAlerts(seed: 12)
        let alerts = try samples.records(count: 1_500).flatMap { try AlertDecoder().decode($0.inputRecord) }
        var matched = 0
        for pass in 0..<2 {
            for alert in alerts {
                #expect(classifier.firstApplyingRule(alert)?.name == inOrder(alert), "pass \(pass): \(alert.labels)")
                if inOrder(alert) != nil { matched += 1 }
            }
        }
        #expect(matched > 0 && matched < 2 * alerts.count, "the samples match some rules and miss others")
        for index in 0..<(RulePattern.memoCapacity + 500) {
            var unique = try #require(alerts.randomElement())
            unique.labels["alertname"] = (index.isMultiple(of: 2) ? "Disk" : "Latency") + "Alert\(index)"
            unique.labels["env"] = index.isMultiple(of: 3) ? "production" : ""
            #expect(classifier.firstApplyingRule(unique)?.name == inOrder(unique))
        }
    }
}
