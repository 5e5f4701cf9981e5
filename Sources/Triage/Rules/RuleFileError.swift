/// Why a rule file was rejected at load: which file, which rule (0-based index in
/// `rules`, `nil` for problems outside a rule), the line when known, and the problem.
public struct RuleFileError: Error, Equatable, CustomStringConvertible {
    /// The problem found.
    public enum Problem: Equatable, Sendable, CustomStringConvertible {
        /// The file could not be read.
        case unreadable(String)
        /// The file is not valid YAML.
        case invalidYAML(String)
        /// A node had the wrong shape, e.g. `rules` not being a list.
        case wrongType(key: String, expected: String)
        /// A required key is missing.
        case missingKey(String)
        /// A key this format does not know (usually a typo).
        case unknownKey(String)
        /// Two rules share a name.
        case duplicateRuleName(String)
        /// A rule has an empty or missing `match`: it would match everything; use
        /// `defaults` for the catch-all.
        case noMatchers
        /// A matcher is not a string, nor a mapping with exactly one of `equals`,
        /// `regex`, `present`.
        case invalidMatcher(field: String, reason: String)
        /// A `regex` matcher does not compile.
        case invalidRegex(field: String, pattern: String, reason: String)
        /// A severity other than critical, high, medium, low, info.
        case unknownSeverity(String)
        /// A category that ``Category`` does not have.
        case unknownCategory(String)

        public var description: String {
            switch self {
            case let .unreadable(reason): "cannot read file: \(reason)"
            case let .invalidYAML(reason): "not valid YAML: \(reason)"
            case let .wrongType(key, expected): "`\(key)` must be \(expected)"
            case let .missingKey(key): "missing required key `\(key)`"
            case let .unknownKey(key): "unknown key `\(key)`"
            case let .duplicateRuleName(name): "duplicate rule name `\(name)`"
            case .noMatchers: "rule has no matchers (it would match every alert; use `defaults` instead)"
            case let .invalidMatcher(field, reason): "invalid matcher for `\(field)`: \(reason)"
            case let .invalidRegex(field, pattern, reason): "invalid regex /\(pattern)/ for `\(field)`: \(reason)"
            case let .unknownSeverity(value):
                "unknown severity `\(value)` (expected one of \(Severity.allCases.map(\.rawValue).joined(separator: ", ")))"
            case let .unknownCategory(value):
                "unknown category `\(value)` (expected one of \(Category.allCases.map(\.rawValue).joined(separator: ", ")))"
            }
        }
    }

    /// The path (or name) of the rule file.
    public let file: String
    /// The 0-based index of the offending rule in `rules`, `nil` outside the rules.
    public let ruleIndex: Int?
    /// The 1-based line of the offending node, when the YAML parser knows it.
    public let line: Int?
    /// What is wrong.
    public let problem: Problem

    /// Creates an error.
    public init(file: String, ruleIndex: Int?, line: Int?, problem: Problem) {
        self.file = file
        self.ruleIndex = ruleIndex
        self.line = line
        self.problem = problem
    }

    /// `file:line: rule #i: problem`, leaving out what is unknown.
    public var description: String {
        var location = file
        if let line { location += ":\(line)" }
        let rule = ruleIndex.map { "rule #\($0): " } ?? ""
        return "\(location): \(rule)\(problem)"
    }
}
