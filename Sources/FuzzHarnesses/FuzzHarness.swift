import BreakwaterApp
import Foundation
import Triage

/// What one input gave a fuzz harness.
public enum FuzzOutcome: Sendable, Equatable, CustomStringConvertible {
    /// The product accepted the input; a short summary of the value, e.g.
    /// `alertmanager_webhook 2 alerts`.
    case accepted(String)
    /// The product refused the input the way its API promises: the dead-letter reason,
    /// the configuration problem kinds, or the rule-file problem.
    case rejected(String)
    /// The product broke a promise of its API (an invariant the harness checks). When
    /// fuzzing, this is a crash.
    case violation(String)

    /// `accepted …`, `rejected …` or `violation …`: the form `.expected` files pin.
    public var description: String {
        switch self {
        case .accepted(let summary): "accepted \(summary)"
        case .rejected(let reason): "rejected \(reason)"
        case .violation(let problem): "violation \(problem)"
        }
    }
}

/// One fuzz target: a parser of untrusted bytes, run on one input, with the invariants
/// its API promises checked on the answer.
///
/// An input is split at its first NUL byte: the lines before it are side inputs
/// (`key=value`, or `key` alone), the bytes after it the document. Without a NUL the
/// whole input is the document, so any fixture file is a seed as it is.
public enum FuzzHarness: String, CaseIterable, Sendable, CustomStringConvertible {
    /// ``AlertDecoder`` on a Kafka record: side lines are record headers (`key` alone: a
    /// header without a value), the document is the record value. Accepted alerts are
    /// classified by the rules and encoded as incidents, which must be JSON that reads
    /// back; a rejection must make a dead letter that reads back from its headers.
    case alertDecoder = "alert-decoder"
    /// ``ConfigurationLoader`` on a YAML file: side lines `BREAKWATER_*=value` are
    /// environment variables, any other `key.path=value` a `--set` flag.
    case configuration
    /// ``RuleSet`` on a rule file; an accepted rule set classifies sample alerts.
    case rules

    public var description: String { rawValue }

    /// Runs the harness on `input`. Never traps for an input the product handles as its
    /// API promises; a broken promise is a ``FuzzOutcome/violation(_:)``.
    public func run(_ input: [UInt8]) -> FuzzOutcome {
        let split = SplitInput(input)
        switch self {
        case .alertDecoder: return Self.decodeRecord(split)
        case .configuration: return Self.loadConfiguration(split)
        case .rules: return Self.loadRules(split)
        }
    }

    // MARK: - AlertDecoder

    private static let receivedAt = Date(timeIntervalSince1970: 1_795_953_600)
    private static let standardClassifier = RuleClassifier(ruleSet: RuleSet(rules: []))
    private static let primary = StepProvenance(source: .primary, fallbackUsed: false)

    private static func decodeRecord(_ input: SplitInput) -> FuzzOutcome {
        let decoder = AlertDecoder()
        let record = InputRecord(value: input.document, headerPairs: input.sideLines)
        let decoded: DecodedRecord
        do {
            decoded = try decoder.decodeRecord(record, receivedAt: receivedAt)
        } catch {
            return deadLetterOutcome(error, record: record)
        }
        guard !decoded.alerts.isEmpty, decoded.alerts.count <= decoder.limits.maxAlertsPerRecord else {
            return .violation("decoded \(decoded.alerts.count) alerts, outside 1...\(decoder.limits.maxAlertsPerRecord)")
        }
        for (index, alert) in decoded.alerts.enumerated() {
            if let problem = incidentProblem(alert) { return .violation("alerts[\(index)]: \(problem)") }
        }
        return .accepted("\(decoded.format.rawValue) \(decoded.alerts.count) alerts")
    }

    /// What the worker would dead-letter: the letter must keep the reason, bound its
    /// detail and read back from the headers it writes.
    private static func deadLetterOutcome(_ error: AlertDecodingError, record: InputRecord) -> FuzzOutcome {
        guard !error.detail.isEmpty else { return .violation("\(error.reason.rawValue) without a detail") }
        let letter = DeadLetter(error: error, sourceTopic: "alerts", sourcePartition: 0, sourceOffset: 0, time: receivedAt, workerID: "fuzz")
        guard letter.detail.utf8.count <= DeadLetter.maxDetailBytes else {
            return .violation("dead-letter detail of \(letter.detail.utf8.count) bytes")
        }
        guard DeadLetter(headers: letter.headers(appendingTo: record.headers)) == letter else {
            return .violation("the dead letter for \(error.reason.rawValue) does not read back from its headers")
        }
        return .rejected(error.reason.rawValue)
    }

    /// The incident the worker would publish for `alert` must be JSON carrying its labels.
    private static func incidentProblem(_ alert: Alert) -> String? {
        guard !alert.fingerprint.isEmpty, !alert.labels.isEmpty else { return "empty fingerprint or labels" }
        let incident = IncidentRecord(
            alert: alert, enrichment: nil, classification: standardClassifier.classify(alert),
            provenance: IncidentProvenance(enrichment: primary, classification: primary, dedup: primary),
            dedup: .unavailable, workerID: "fuzz", receivedAt: receivedAt, processedAt: receivedAt)
        let bytes: [UInt8]
        do {
            bytes = try incident.jsonBytes()
        } catch {
            return "the incident does not encode: \(error)"
        }
        let unbounded = JSONParseLimits(maxDepth: 64, maxStringBytes: .max, maxCollectionCount: .max)
        guard let written = try? JSONValue.parse(bytes, limits: unbounded) else { return "the incident is not JSON" }
        let labels = written.objectValue?["alert"]?.objectValue?["labels"]?.objectValue?.mapValues(\.stringValue)
        guard labels == alert.labels.mapValues({ Optional($0) }) else { return "the incident's labels differ from the alert's" }
        return nil
    }

    // MARK: - Configuration

    private static func loadConfiguration(_ input: SplitInput) -> FuzzOutcome {
        // The loader reads a file as UTF-8 and reports any other bytes as unreadable.
        guard let yaml = String(validating: input.document, as: UTF8.self) else { return .rejected("not_utf8") }
        var environment: [String: String] = [:]
        var overrides: [String] = []
        for line in input.sideLines {
            let value = line.value.map { String(decoding: $0, as: UTF8.self) }
            if line.key.hasPrefix(ConfigurationLoader.environmentPrefix) {
                environment[line.key] = value ?? ""
            } else {
                overrides.append(value.map { "\(line.key)=\($0)" } ?? line.key)
            }
        }
        do {
            let loaded = try ConfigurationLoader(environment: environment).load(yaml: yaml, source: "fuzz.yaml", overrides: overrides)
            guard !loaded.effectiveValues.isEmpty, !loaded.maskedDescription.isEmpty else {
                return .violation("a loaded configuration without effective values")
            }
            return .accepted("\(loaded.effectiveValues.count) settings")
        } catch {
            guard !error.problems.isEmpty else { return .violation("a configuration error without problems") }
            let kinds = Set(error.problems.map { "\($0.kind)" }).sorted().joined(separator: ",")
            return .rejected(kinds)
        }
    }

    // MARK: - Rules

    /// Alerts of every format and scenario for an accepted rule set to classify.
    private static let sampleAlerts: [Alert] = {
        var samples = SampleAlerts(seed: 7)
        return samples.records(count: 24).flatMap { (try? AlertDecoder().decode($0.inputRecord, receivedAt: receivedAt)) ?? [] }
    }()

    private static func loadRules(_ input: SplitInput) -> FuzzOutcome {
        guard let yaml = String(validating: input.document, as: UTF8.self) else { return .rejected("not_utf8") }
        let ruleSet: RuleSet
        do {
            ruleSet = try RuleSet(yaml: yaml, file: "fuzz-rules.yaml")
        } catch {
            guard !error.description.isEmpty else { return .violation("a rule-file error without a description") }
            return .rejected(error.problem.code)
        }
        let names = Set(ruleSet.rules.map(\.name))
        for classification in RuleClassifier(ruleSet: ruleSet).classify(sampleAlerts) {
            guard (0...1).contains(classification.confidence) else { return .violation("confidence \(classification.confidence)") }
            if let rule = classification.rule, !names.contains(rule) { return .violation("verdict of unknown rule \(rule)") }
        }
        return .accepted("\(ruleSet.rules.count) rules")
    }
}

extension RuleFileError.Problem {
    /// The problem's kind without its details, stable across inputs.
    fileprivate var code: String {
        switch self {
        case .unreadable: "unreadable"
        case .invalidYAML: "invalid_yaml"
        case .wrongType: "wrong_type"
        case .missingKey: "missing_key"
        case .unknownKey: "unknown_key"
        case .duplicateRuleName: "duplicate_rule_name"
        case .noMatchers: "no_matchers"
        case .invalidMatcher: "invalid_matcher"
        case .invalidRegex: "invalid_regex"
        case .unknownSeverity: "unknown_severity"
        case .unknownCategory: "unknown_category"
        }
    }
}

/// A fuzz input split at its first NUL byte (see ``FuzzHarness``).
struct SplitInput {
    /// `key=value` lines before the NUL (`key` alone: value `nil`).
    var sideLines: [(key: String, value: [UInt8]?)]
    /// The bytes after the NUL, or the whole input when it has none.
    var document: [UInt8]

    init(_ bytes: [UInt8]) {
        guard let nul = bytes.firstIndex(of: 0) else {
            sideLines = []
            document = bytes
            return
        }
        document = Array(bytes[(nul + 1)...])
        sideLines = bytes[..<nul].split(separator: UInt8(ascii: "\n")).map { line in
            guard let equals = line.firstIndex(of: UInt8(ascii: "=")) else { return (String(decoding: line, as: UTF8.self), nil) }
            return (String(decoding: line[..<equals], as: UTF8.self), Array(line[(equals + 1)...]))
        }
    }
}
