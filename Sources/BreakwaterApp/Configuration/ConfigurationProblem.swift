/// One thing wrong with a configuration, naming the key, the value and what is allowed.
public struct ConfigurationProblem: Sendable, Hashable, CustomStringConvertible {
    /// What kind of problem it is.
    public enum Kind: Sendable, Hashable {
        /// The configuration file cannot be read.
        case unreadableFile
        /// The configuration file is not YAML, or not a mapping of keys.
        case malformedFile
        /// A key in the file or a `--set` flag that no setting has.
        case unknownKey
        /// A `BREAKWATER_*` environment variable that no setting maps to.
        case unknownEnvironmentVariable
        /// A value of the wrong type or outside what is allowed.
        case invalidValue
    }

    /// What kind of problem it is.
    public let kind: Kind
    /// The key path (`breakers.ml.failureRateThreshold`), variable name or file.
    public let key: String
    /// The offending value as it may be shown (secrets masked), if any.
    public let value: String?
    /// What is allowed, or a hint (`did you mean ...`).
    public let expected: String
    /// Where the value came from (file, variable, `--set`), if known.
    public var source: String?

    /// Creates a problem.
    public init(kind: Kind, key: String, value: String?, expected: String, source: String? = nil) {
        self.kind = kind
        self.key = key
        self.value = value
        self.expected = expected
        self.source = source
    }

    /// e.g. `breakers.ml.failureRateThreshold: 1.7 is not allowed; expected a number in 0...1 (from --set)`.
    public var description: String {
        let from = source.map { " (from \($0))" } ?? ""
        switch kind {
        case .unreadableFile:
            return "\(key): cannot read the configuration file: \(expected)"
        case .malformedFile:
            return "\(key): the configuration file is not valid: \(expected)"
        case .unknownKey:
            return "\(key): unknown key\(from); \(expected)"
        case .unknownEnvironmentVariable:
            return "\(key): unknown environment variable (no configuration key maps to it); \(expected)"
        case .invalidValue:
            return "\(key): \(Self.show(value)) is not allowed; expected \(expected)\(from)"
        }
    }

    static func show(_ value: String?) -> String {
        guard let value else { return "(unset)" }
        return value.isEmpty ? "\"\"" : value
    }
}

/// A configuration that cannot be used: every problem found, in the order found.
public struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The problems (at least one).
    public let problems: [ConfigurationProblem]

    /// Wraps problems.
    public init(problems: [ConfigurationProblem]) { self.problems = problems }

    /// `invalid configuration:` followed by one problem per line.
    public var description: String {
        (["invalid configuration (\(problems.count) problem\(problems.count == 1 ? "" : "s")):"]
            + problems.map { "  - \($0)" }).joined(separator: "\n")
    }
}
