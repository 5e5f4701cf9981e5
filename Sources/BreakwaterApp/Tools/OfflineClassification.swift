import Foundation
import Resilience
import Triage
import TriageML

/// `breakwater classify`: runs input records through the worker's own decoder and
/// classification step (ML through its breaker, the rules as fallback, the configured
/// policy) without Kafka, PostgreSQL or dedup, and reports every verdict per alert —
/// what the worker would publish, the model's own answer and the rules' answer — so
/// `scripts/eval-classifier` scores the real code path.
///
/// Input: one record per line, `{"value": <the record value as JSON>, "headers": {"k": "v", …}}`
/// (`headers` optional; other keys are ignored, so an evaluation set can carry its
/// expected labels on the same line). Blank lines are skipped.
public struct OfflineClassification: Sendable {
    /// One classified alert: a line of the output.
    public struct Verdicts: Sendable, Encodable {
        /// 1-based line of the record in the input.
        public var line: Int
        /// 0-based position of the alert in its record (a webhook carries several).
        public var alert: Int
        /// The text the model reads for the alert (``MLClient/text(for:)``).
        public var text: String
        /// What the worker publishes as `classification`.
        public var published: Verdict
        /// The model's answer; `nil` when the model was not asked or failed.
        public var model: Verdict?
        /// The rules' answer.
        public var rules: Verdict
        /// The reasons of the fallback events the worker would write (e.g. `low_confidence`).
        public var fallbacks: [String]
    }

    /// One classifier's answer.
    public struct Verdict: Sendable, Encodable, Equatable {
        public var severity: String
        public var category: String
        public var confidence: Double
        public var classifier: String
        public var rule: String?

        init(_ classification: Classification) {
            severity = classification.severity.rawValue
            category = classification.category.rawValue
            confidence = classification.confidence
            classifier = classification.classifier.rawValue
            rule = classification.rule
        }
    }

    /// A record that could not be read or decoded: a line of the output, too.
    public struct Rejected: Sendable, Encodable {
        public var line: Int
        /// The decoder's reason (`invalid_json`, …) or `invalid_line` for a line that is not a record.
        public var rejected: String
        public var detail: String
    }

    /// One line of the output.
    public enum Result: Sendable {
        case classified(Verdicts)
        case rejected(Rejected)

        /// The line as compact JSON with sorted keys.
        public func jsonLine() throws -> String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let data = switch self {
            case .classified(let verdicts): try encoder.encode(verdicts)
            case .rejected(let rejected): try encoder.encode(rejected)
            }
            return String(decoding: data, as: UTF8.self)
        }
    }

    private let decoder: AlertDecoder
    private let step: any ClassificationStep
    private let rules: RuleClassifier

    /// Creates the tool over the worker's parts.
    /// - Parameters:
    ///   - decoder: the worker's decoder (``AlertDecoder/configured(by:)``).
    ///   - step: the worker's classification step (``WorkerAssembly/makeClassification(mlClient:breakers:clock:)``).
    ///   - rules: the rule classifier.
    public init(decoder: AlertDecoder, step: any ClassificationStep, rules: RuleClassifier) {
        self.decoder = decoder
        self.step = step
        self.rules = rules
    }

    /// The tool over the parts `assembly` builds for a worker: its decoder and
    /// classification step, with its own `ml` breaker.
    /// - Throws: ``WorkerAssembly/StartError`` for a rule file or breaker setting that cannot be used.
    public init(assembly: WorkerAssembly, mlClient: MLClient?) throws {
        let breakers: CircuitBreakerRegistry
        do {
            breakers = try CircuitBreakerRegistry(logger: assembly.logger)
        } catch {
            throw WorkerAssembly.StartError(description: "breakers: \(error)")
        }
        let parts = try assembly.makeClassification(mlClient: mlClient, breakers: breakers)
        self.init(decoder: .configured(by: assembly.configuration.pipeline), step: parts.step, rules: parts.rules)
    }

    /// Classifies every record of `contents` (see the type for the format), up to
    /// `concurrency` records at a time, and returns the results in input order.
    /// Never throws: unreadable lines and records the decoder rejects become ``Result/rejected(_:)``.
    public func run(_ contents: [UInt8], concurrency: Int = 32) async -> [Result] {
        let lines = contents.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated()
            .compactMap { index, line -> (Int, [UInt8])? in
                let bytes = Array(line)
                return bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) ? nil : (index + 1, bytes)
            }
        var results: [[Result]] = Array(repeating: [], count: lines.count)
        var next = 0
        await withTaskGroup(of: (Int, [Result]).self) { group in
            func submit() {
                guard next < lines.count else { return }
                let index = next
                let (number, bytes) = lines[index]
                next += 1
                group.addTask { (index, await self.classify(line: number, bytes: bytes)) }
            }
            for _ in 0..<max(1, concurrency) { submit() }
            for await (index, lineResults) in group {
                results[index] = lineResults
                submit()
            }
        }
        return results.flatMap { $0 }
    }

    private func classify(line: Int, bytes: [UInt8]) async -> [Result] {
        let record: InputRecord
        do {
            record = try Self.record(bytes)
        } catch {
            return [.rejected(Rejected(line: line, rejected: "invalid_line", detail: error.description))]
        }
        let alerts: [Alert]
        do {
            alerts = try decoder.decode(record)
        } catch {
            return [.rejected(Rejected(line: line, rejected: error.reason.rawValue, detail: error.detail))]
        }
        // The rules' synchronous, never-failing overload (not AlertClassifier's async one).
        let rules: @Sendable (Alert) -> Classification = self.rules.classify
        var results: [Result] = []
        for (index, alert) in alerts.enumerated() {
            let outcome = await step.classify(alert)
            results.append(.classified(Verdicts(
                line: line, alert: index, text: MLClient.text(for: alert),
                published: Verdict(outcome.value.published), model: outcome.value.model.map(Verdict.init), rules: Verdict(rules(alert)),
                fallbacks: outcome.fallbacks.map(\.reason.rawValue)
            )))
        }
        return results
    }

    /// A problem with one input line.
    struct LineError: Error, CustomStringConvertible {
        var description: String
    }

    /// Reads one line `{"value": …, "headers": {…}}` into the record the decoder takes.
    static func record(_ bytes: [UInt8]) throws(LineError) -> InputRecord {
        let parsed: JSONValue
        do {
            parsed = try JSONValue.parse(bytes, limits: JSONParseLimits(maxDepth: 128, maxStringBytes: 16 << 20, maxCollectionCount: 1_000_000))
        } catch {
            throw LineError(description: "not valid JSON: \(error.description)")
        }
        guard let object = parsed.objectValue, let value = object["value"] else {
            throw LineError(description: "expected an object with a \"value\" member")
        }
        var headers: [RecordHeader] = []
        if let given = object["headers"] {
            guard let members = given.objectValue else { throw LineError(description: "\"headers\" must be an object of strings") }
            for (key, header) in members.sorted(by: { $0.key < $1.key }) {
                guard let text = header.stringValue else { throw LineError(description: "header \(key) must be a string") }
                headers.append(RecordHeader(key, text))
            }
        }
        return InputRecord(value: Array(value.canonicalText.utf8), headers: headers)
    }
}
