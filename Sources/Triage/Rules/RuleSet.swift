import Foundation
import Yams

/// A parsed, validated rule file: ordered rules, the defaults, and the category keywords.
///
/// Format (see `deploy/rules.yaml` for the shipped one):
/// ```yaml
/// defaults:                 # optional
///   severity: medium        # when neither the rule nor the source gives one (default: info)
///   category: other         # when neither the rule nor a keyword gives one (default: other)
/// keywords:                 # optional; ordered; replaces the built-in heuristics
///   - category: latency
///     words: [latency, slow, timeout]
/// rules:                    # required; ordered; the first matching rule wins
///   - name: host-down       # required, unique
///     match:                # required, at least one matcher; all must hold
///       alertname: HostDown            # a plain string is an exact match
///       summary: { regex: "(?i)down" } # regex, matches anywhere
///       description: { present: true } # presence (true) or absence (false)
///       labels:
///         env: { equals: prod }
///     severity: critical    # optional: else the source's severity label, then defaults
///     category: availability # optional: else the keywords, then defaults
/// ```
public struct RuleSet: Sendable {
    /// The rules, in file order.
    public let rules: [ClassificationRule]
    /// Severity when no rule gives one and the source's severity is absent or unknown.
    public let defaultSeverity: Severity
    /// Category when no rule gives one and no keyword occurs.
    public let defaultCategory: Category
    /// The keyword heuristics for the category.
    public let keywords: CategoryKeywords

    /// Creates a rule set from parts.
    public init(rules: [ClassificationRule], defaultSeverity: Severity = .info, defaultCategory: Category = .other, keywords: CategoryKeywords = .standard) {
        self.rules = rules
        self.defaultSeverity = defaultSeverity
        self.defaultCategory = defaultCategory
        self.keywords = keywords
    }

    /// Loads and validates the rule file at `path`.
    /// - Throws: ``RuleFileError`` naming the file, the rule index and the problem when
    ///   the file is unreadable, not YAML, or breaks the format in any way.
    public init(contentsOf path: String) throws(RuleFileError) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw RuleFileError(file: path, ruleIndex: nil, line: nil, problem: .unreadable(error.localizedDescription))
        }
        try self.init(yaml: text, file: path)
    }

    /// Parses and validates rule-file text; `file` names it in errors.
    /// - Throws: ``RuleFileError`` when the text is not YAML or breaks the format.
    public init(yaml: String, file: String) throws(RuleFileError) {
        let parser = RuleFileParser(file: file)
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw parser.error(.invalidYAML(String(describing: error)))
        }
        self = try parser.parse(root)
    }
}

/// Walks the YAML tree of a rule file, turning every deviation into a ``RuleFileError``.
private struct RuleFileParser {
    let file: String

    func error(_ problem: RuleFileError.Problem, rule: Int? = nil, at node: Node? = nil) -> RuleFileError {
        RuleFileError(file: file, ruleIndex: rule, line: node?.mark?.line, problem: problem)
    }

    func parse(_ root: Node?) throws(RuleFileError) -> RuleSet {
        guard let root else { throw error(.missingKey("rules")) }
        let top = try mapping(root, key: "(top level)", allowed: ["defaults", "keywords", "rules"])
        var defaultSeverity = Severity.info
        var defaultCategory = Category.other
        if let defaults = top["defaults"] {
            let entries = try mapping(defaults, key: "defaults", allowed: ["severity", "category"])
            if let node = entries["severity"] { defaultSeverity = try severity(node, key: "defaults.severity") }
            if let node = entries["category"] { defaultCategory = try category(node, key: "defaults.category") }
        }
        let keywords = try top["keywords"].map { (node) throws(RuleFileError) in try self.keywords(node) } ?? .standard
        guard let rulesNode = top["rules"] else { throw error(.missingKey("rules"), at: root) }
        guard let ruleNodes = rulesNode.sequence else {
            throw error(.wrongType(key: "rules", expected: "a list"), at: rulesNode)
        }
        var rules: [ClassificationRule] = []
        var names: Set<String> = []
        for (index, node) in ruleNodes.enumerated() {
            let rule = try self.rule(node, index: index)
            guard names.insert(rule.name).inserted else {
                throw error(.duplicateRuleName(rule.name), rule: index, at: node)
            }
            rules.append(rule)
        }
        return RuleSet(rules: rules, defaultSeverity: defaultSeverity, defaultCategory: defaultCategory, keywords: keywords)
    }

    /// A mapping's entries by string key, rejecting keys outside `allowed`.
    private func mapping(_ node: Node, key: String, allowed: Set<String>? = nil, rule: Int? = nil) throws(RuleFileError) -> [String: Node] {
        guard let pairs = node.mapping else { throw error(.wrongType(key: key, expected: "a mapping"), rule: rule, at: node) }
        var result: [String: Node] = [:]
        for (keyNode, value) in pairs {
            guard let name = keyNode.string else { throw error(.wrongType(key: key, expected: "a mapping with string keys"), rule: rule, at: keyNode) }
            if let allowed, !allowed.contains(name) {
                throw error(.unknownKey(key == "(top level)" ? name : "\(key).\(name)"), rule: rule, at: keyNode)
            }
            result[name] = value
        }
        return result
    }

    private func string(_ node: Node, key: String, rule: Int? = nil) throws(RuleFileError) -> String {
        guard case .scalar = node, let value = node.string else {
            throw error(.wrongType(key: key, expected: "a string"), rule: rule, at: node)
        }
        return value
    }

    private func severity(_ node: Node, key: String, rule: Int? = nil) throws(RuleFileError) -> Severity {
        let raw = try string(node, key: key, rule: rule)
        guard let value = Severity(rawValue: raw) else { throw error(.unknownSeverity(raw), rule: rule, at: node) }
        return value
    }

    private func category(_ node: Node, key: String, rule: Int? = nil) throws(RuleFileError) -> Category {
        let raw = try string(node, key: key, rule: rule)
        guard let value = Category(rawValue: raw) else { throw error(.unknownCategory(raw), rule: rule, at: node) }
        return value
    }

    private func keywords(_ node: Node) throws(RuleFileError) -> CategoryKeywords {
        guard let items = node.sequence else { throw error(.wrongType(key: "keywords", expected: "a list"), at: node) }
        var entries: [(category: Category, keywords: [String])] = []
        for item in items {
            let fields = try mapping(item, key: "keywords", allowed: ["category", "words"])
            guard let categoryNode = fields["category"] else { throw error(.missingKey("keywords.category"), at: item) }
            guard let wordsNode = fields["words"] else { throw error(.missingKey("keywords.words"), at: item) }
            guard let words = wordsNode.sequence else { throw error(.wrongType(key: "keywords.words", expected: "a list of strings"), at: wordsNode) }
            var list: [String] = []
            for word in words { list.append(try string(word, key: "keywords.words")) }
            entries.append((try category(categoryNode, key: "keywords.category"), list))
        }
        return CategoryKeywords(entries)
    }

    private func rule(_ node: Node, index: Int) throws(RuleFileError) -> ClassificationRule {
        let fields = try mapping(node, key: "rule", allowed: ["name", "match", "severity", "category"], rule: index)
        guard let nameNode = fields["name"] else { throw error(.missingKey("name"), rule: index, at: node) }
        let name = try string(nameNode, key: "name", rule: index)
        guard let matchNode = fields["match"] else { throw error(.noMatchers, rule: index, at: node) }
        let match = try mapping(matchNode, key: "match", allowed: ["alertname", "summary", "description", "labels"], rule: index)
        var matchers: [(field: AlertField, matcher: FieldMatcher)] = []
        // Fixed order so a rule's behaviour never depends on YAML key order.
        for (key, field) in [("alertname", AlertField.alertName), ("summary", .summary), ("description", .description)] {
            if let spec = match[key] { matchers.append((field, try matcher(spec, field: field, rule: index))) }
        }
        if let labelsNode = match["labels"] {
            let labels = try mapping(labelsNode, key: "match.labels", rule: index)
            for key in labels.keys.sorted() {
                guard let spec = labels[key] else { continue }
                let field = AlertField.label(key)
                matchers.append((field, try matcher(spec, field: field, rule: index)))
            }
        }
        guard !matchers.isEmpty else { throw error(.noMatchers, rule: index, at: matchNode) }
        let severity = try fields["severity"].map { (node) throws(RuleFileError) in try self.severity(node, key: "severity", rule: index) }
        let category = try fields["category"].map { (node) throws(RuleFileError) in try self.category(node, key: "category", rule: index) }
        return ClassificationRule(name: name, matchers: matchers, severity: severity, category: category)
    }

    private func matcher(_ node: Node, field: AlertField, rule: Int) throws(RuleFileError) -> FieldMatcher {
        let fieldName = field.description
        if case .scalar = node, let value = node.string { return .exact(value) }
        guard let pairs = node.mapping else {
            throw error(.invalidMatcher(field: fieldName, reason: "expected a string or a mapping"), rule: rule, at: node)
        }
        guard pairs.count == 1, let (kindNode, argument) = pairs.first, let kind = kindNode.string else {
            throw error(.invalidMatcher(field: fieldName, reason: "expected exactly one of equals, regex, present"), rule: rule, at: node)
        }
        switch kind {
        case "equals":
            return .exact(try string(argument, key: "\(fieldName).equals", rule: rule))
        case "regex":
            let source = try string(argument, key: "\(fieldName).regex", rule: rule)
            do {
                return .regex(try RulePattern(source))
            } catch {
                throw self.error(.invalidRegex(field: fieldName, pattern: source, reason: error.localizedDescription), rule: rule, at: argument)
            }
        case "present":
            guard let wanted = argument.bool else {
                throw error(.invalidMatcher(field: fieldName, reason: "`present` takes true or false"), rule: rule, at: argument)
            }
            return .present(wanted)
        default:
            throw error(.invalidMatcher(field: fieldName, reason: "unknown matcher kind `\(kind)` (expected equals, regex, present)"), rule: rule, at: kindNode)
        }
    }
}
