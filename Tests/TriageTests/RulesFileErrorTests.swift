import Foundation
import Testing
@testable import Triage

@Suite("Rule classifier: invalid rule files fail at load with file, rule index and problem")
struct RulesFileErrorTests {
    private func loadError(_ yaml: String) -> RuleFileError? {
        do {
            _ = try RuleSet(yaml: yaml, file: "bad.yaml")
            return nil
        } catch {
            return error
        }
    }

    @Test func unreadableFile() throws {
        let path = "/nonexistent/breakwater/rules.yaml"
        let error = try #require(throws: RuleFileError.self) { try RuleSet(contentsOf: path) }
        #expect(error.file == path)
        #expect(error.ruleIndex == nil)
        guard case .unreadable = error.problem else { Issue.record("got \(error.problem)"); return }
    }

    @Test func notYAML() throws {
        let error = try #require(loadError("rules: [unclosed\n  - : :"))
        #expect(error.file == "bad.yaml")
        guard case .invalidYAML = error.problem else { Issue.record("got \(error.problem)"); return }
    }

    @Test func emptyFileMissesRules() throws {
        #expect(loadError("")?.problem == .missingKey("rules"))
        #expect(loadError("defaults: {severity: low}")?.problem == .missingKey("rules"))
    }

    @Test func rulesNotAList() throws {
        let error = try #require(loadError("rules: {a: b}"))
        #expect(error.problem == .wrongType(key: "rules", expected: "a list"))
        #expect(error.line == 1)
    }

    @Test func unknownTopLevelAndRuleKeys() throws {
        #expect(loadError("rule: []")?.problem == .unknownKey("rule"))
        let error = try #require(loadError("""
        rules:
          - name: a
            match: {alertname: A}
          - name: b
            match: {alertname: B}
            severty: high
        """))
        #expect(error.ruleIndex == 1)
        #expect(error.line == 6)
        #expect(error.problem == .unknownKey("rule.severty"))
        #expect(error.description == "bad.yaml:6: rule #1: unknown key `rule.severty`")
    }

    @Test func missingName() throws {
        let error = try #require(loadError("rules:\n  - match: {alertname: A}"))
        #expect(error.ruleIndex == 0)
        #expect(error.problem == .missingKey("name"))
    }

    @Test func duplicateName() throws {
        let error = try #require(loadError("rules:\n  - {name: a, match: {alertname: A}}\n  - {name: a, match: {alertname: B}}"))
        #expect(error.ruleIndex == 1)
        #expect(error.problem == .duplicateRuleName("a"))
    }

    @Test func ruleWithoutMatchers() throws {
        #expect(loadError("rules:\n  - {name: a, severity: high}")?.problem == .noMatchers)
        let error = try #require(loadError("rules:\n  - {name: a, match: {labels: {}}}"))
        #expect(error.ruleIndex == 0)
        #expect(error.problem == .noMatchers)
    }

    @Test func unknownMatchField() throws {
        let error = try #require(loadError("rules:\n  - {name: a, match: {title: A}}"))
        #expect(error.problem == .unknownKey("match.title"))
    }

    @Test func invalidMatcherShapes() throws {
        let kind = try #require(loadError("rules:\n  - {name: a, match: {alertname: {contains: A}}}"))
        #expect(kind.ruleIndex == 0)
        #expect(kind.problem == .invalidMatcher(field: "alertname", reason: "unknown matcher kind `contains` (expected equals, regex, present)"))
        let two = try #require(loadError("rules:\n  - {name: a, match: {summary: {equals: A, regex: B}}}"))
        #expect(two.problem == .invalidMatcher(field: "summary", reason: "expected exactly one of equals, regex, present"))
        let list = try #require(loadError("rules:\n  - {name: a, match: {labels: {env: [a, b]}}}"))
        #expect(list.problem == .invalidMatcher(field: "labels.env", reason: "expected a string or a mapping"))
        let presence = try #require(loadError("rules:\n  - {name: a, match: {description: {present: maybe}}}"))
        #expect(presence.problem == .invalidMatcher(field: "description", reason: "`present` takes true or false"))
    }

    @Test func invalidRegex() throws {
        let error = try #require(loadError("rules:\n  - {name: ok, match: {alertname: A}}\n  - {name: a, match: {alertname: {regex: \"(unclosed\"}}}"))
        #expect(error.ruleIndex == 1)
        #expect(error.line == 3)
        guard case let .invalidRegex(field, pattern, _) = error.problem else { Issue.record("got \(error.problem)"); return }
        #expect(field == "alertname")
        #expect(pattern == "(unclosed")
    }

    @Test func unknownSeverityAndCategory() throws {
        let severity = try #require(loadError("rules:\n  - {name: a, match: {alertname: A}, severity: urgent}"))
        #expect(severity.ruleIndex == 0)
        #expect(severity.problem == .unknownSeverity("urgent"))
        let category = try #require(loadError("rules:\n  - {name: a, match: {alertname: A}, category: network}"))
        #expect(category.problem == .unknownCategory("network"))
        let defaults = try #require(loadError("defaults: {category: nope}\nrules: []"))
        #expect(defaults.ruleIndex == nil)
        #expect(defaults.problem == .unknownCategory("nope"))
    }

    @Test func invalidKeywords() throws {
        #expect(loadError("keywords: {a: b}\nrules: []")?.problem == .wrongType(key: "keywords", expected: "a list"))
        #expect(loadError("keywords:\n  - {category: latency}\nrules: []")?.problem == .missingKey("keywords.words"))
        #expect(loadError("keywords:\n  - {category: speed, words: [slow]}\nrules: []")?.problem == .unknownCategory("speed"))
    }

    @Test func wrongScalarTypes() throws {
        #expect(loadError("rules:\n  - {name: [x], match: {alertname: A}}")?.problem == .wrongType(key: "name", expected: "a string"))
        #expect(loadError("rules:\n  - just-a-string")?.problem == .wrongType(key: "rule", expected: "a mapping"))
    }
}
