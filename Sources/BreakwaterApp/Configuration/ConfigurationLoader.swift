import Foundation

/// Where an effective value came from.
public enum ConfigurationOrigin: Sendable, Hashable, CustomStringConvertible {
    /// The built-in default.
    case `default`
    /// A YAML file (its path).
    case file(String)
    /// An environment variable (its name).
    case environment(String)
    /// A `--set key.path=value` flag.
    case flag

    /// `default`, the file path, the variable name or `--set`.
    public var description: String {
        switch self {
        case .default: "default"
        case .file(let path): path
        case .environment(let name): name
        case .flag: "--set"
        }
    }
}

/// One effective setting, as `check-config` prints it.
public struct EffectiveValue: Sendable, Hashable {
    /// Key path, e.g. `kafka.bootstrapServers` (map entries: `kafka.properties.linger.ms`).
    public let key: String
    /// The value as it may be shown: secrets masked, unset optionals as `(unset)`,
    /// lists as `a, b`.
    public let value: String
    /// Where it came from.
    public let origin: ConfigurationOrigin
    /// The environment variable that overrides it.
    public let environmentVariable: String
}

/// A loaded, validated configuration and the effective values behind it.
public struct LoadedConfiguration: Sendable {
    /// The configuration.
    public let configuration: BreakwaterConfiguration
    /// Every setting with its masked value and origin, in declaration order.
    public let effectiveValues: [EffectiveValue]

    /// One aligned line per setting: `key  value  (origin)`; secrets masked.
    public var maskedDescription: String { EffectiveValue.render(effectiveValues, withOrigins: true) }
}

/// Builds a ``BreakwaterConfiguration`` from defaults, a YAML file, `BREAKWATER_*`
/// environment variables and `--set key.path=value` flags, in that order of precedence
/// (later wins), and validates it.
///
/// The key paths are derived once from the configuration type itself, so every setting
/// is reachable from all three sources: `breakers.ml.failureThreshold` is
/// `BREAKWATER_BREAKERS_ML_FAILURE_THRESHOLD` and `--set breakers.ml.failureThreshold=3`.
/// Lists are written comma-separated in variables and flags (`a,b`); the
/// `kafka.properties` map as `name=value,name=value` in its variable, or one entry per
/// flag (`--set kafka.properties.linger.ms=5`). An empty variable or flag value unsets an
/// optional setting.
public struct ConfigurationLoader: Sendable {
    /// Prefix of every configuration environment variable.
    public static let environmentPrefix = "BREAKWATER_"
    /// Variable naming the configuration file when no file is given explicitly.
    public static let configFileVariable = "BREAKWATER_CONFIG"
    /// Variables under the prefix that are not settings and are never rejected:
    /// `BREAKWATER_CONFIG` and the test-service variables `BREAKWATER_TEST_*`.
    public static func isReservedVariable(_ name: String) -> Bool {
        name == configFileVariable || name.hasPrefix(environmentPrefix + "TEST_")
    }

    /// The environment read for overrides.
    public var environment: [String: String]

    /// A loader reading `environment` (by default the process environment).
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// Loads the configuration.
    /// - Parameters:
    ///   - configFile: YAML file; when `nil`, the file named by `BREAKWATER_CONFIG`, if set;
    ///     otherwise no file (defaults, environment and flags only).
    ///   - overrides: `key.path=value` strings from `--set` flags, applied last.
    /// - Throws: ``ConfigurationError`` listing every problem: an unreadable or malformed
    ///   file, unknown keys or variables, and invalid values (naming key, value and what is allowed).
    public func load(configFile: String? = nil, overrides: [String] = []) throws(ConfigurationError) -> LoadedConfiguration {
        let path = configFile ?? environment[Self.configFileVariable].flatMap { $0.isEmpty ? nil : $0 }
        guard let path else { return try load(yaml: nil, source: "", overrides: overrides) }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError(problems: [ConfigurationProblem(
                kind: .unreadableFile, key: path, value: nil, expected: error.localizedDescription)])
        }
        return try load(yaml: text, source: path, overrides: overrides)
    }

    /// Loads the configuration from YAML text instead of a file (`source` names it in messages).
    /// - Throws: ``ConfigurationError`` as ``load(configFile:overrides:)``.
    public func load(yaml: String?, source: String, overrides: [String] = []) throws(ConfigurationError) -> LoadedConfiguration {
        var state = try OverlayState()
        if let yaml { state.applyYAML(yaml, source: source) }
        state.applyEnvironment(environment)
        for override in overrides { state.applyFlag(override) }
        // Keep going after a problem, so one run reports everything wrong at once; a
        // value already reported is not reported again by validation.
        let configuration = try state.decode()
        let reported = Set(state.problems.map(\.key))
        let problems = state.problems + configuration.validationProblems().filter { !reported.contains($0.key) }.map { problem in
            var problem = problem
            if let origin = state.origins[problem.key], origin != .default { problem.source = origin.description }
            return problem
        }
        if !problems.isEmpty { throw ConfigurationError(problems: problems) }
        return LoadedConfiguration(configuration: configuration, effectiveValues: state.effectiveValues())
    }

    /// The environment variable for a key path: `BREAKWATER_` + upper snake case
    /// (`kafka.bootstrapServers` → `BREAKWATER_KAFKA_BOOTSTRAP_SERVERS`,
    /// `catalog.postgresURL` → `BREAKWATER_CATALOG_POSTGRES_URL`).
    public static func environmentVariable(for keyPath: String) -> String {
        environmentPrefix + keyPath.split(separator: ".").map { upperSnake(String($0)) }.joined(separator: "_")
    }

    /// Every configurable key path (map-valued settings such as `kafka.properties` included).
    public static var keyPaths: [String] {
        (try? ConfigTreeEncoder.encode(BreakwaterConfiguration()))?.settings.map { $0.path.joined(separator: ".") } ?? []
    }

    static func upperSnake(_ word: String) -> String {
        var result = ""
        let characters = Array(word)
        for (index, character) in characters.enumerated() {
            if character.isUppercase, index > 0 {
                let previous = characters[index - 1]
                let nextIsLower = index + 1 < characters.count && characters[index + 1].isLowercase
                if previous.isLowercase || previous.isNumber || (previous.isUppercase && nextIsLower) { result += "_" }
            }
            result += character == "-" ? "_" : character.uppercased()
        }
        return result
    }
}
