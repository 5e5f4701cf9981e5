import Foundation
import Yams

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

/// The tree being overlaid, the origin of each setting and the problems found so far.
private struct OverlayState {
    var tree: ConfigNode
    let defaults: ConfigNode
    var origins: [String: ConfigurationOrigin] = [:]
    var problems: [ConfigurationProblem] = []

    init() throws(ConfigurationError) {
        do {
            defaults = try ConfigTreeEncoder.encode(BreakwaterConfiguration())
            tree = defaults
        } catch {
            throw ConfigurationError(problems: [ConfigurationProblem(
                kind: .invalidValue, key: "(defaults)", value: nil, expected: "encodable defaults: \(error)")])
        }
    }

    // MARK: YAML

    mutating func applyYAML(_ text: String, source: String) {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            problems.append(ConfigurationProblem(kind: .malformedFile, key: source, value: nil, expected: "\(error)"))
            return
        }
        guard let root, root.null == nil else { return }  // an empty file changes nothing
        guard case .mapping = root else {
            problems.append(ConfigurationProblem(
                kind: .malformedFile, key: source, value: nil, expected: "a mapping of configuration keys at the top level"))
            return
        }
        overlay(root, at: [], source: source)
    }

    private mutating func overlay(_ yaml: Node, at path: [String], source: String) {
        guard let node = tree.node(at: path) else { return }
        let key = path.joined(separator: ".")
        switch (node, yaml) {
        case (.group(let entries), .mapping(let mapping)):
            for (keyNode, valueNode) in mapping {
                let name = keyNode.string ?? "\(keyNode)"
                guard entries.contains(where: { $0.key == name }) else {
                    problems.append(unknownKey((path + [name]).joined(separator: "."), known: entries.map(\.key), source: source))
                    continue
                }
                overlay(valueNode, at: path + [name], source: source)
            }
        case (.group, _) where yaml.null != nil:
            return  // `kafka:` with nothing under it
        case (.group(let entries), _):
            invalid(key, shown: describe(yaml), expected: "a mapping with keys " + entries.map(\.key).joined(separator: ", "), source: source)
        case (.dictionary(var map), .mapping(let mapping)):
            for (keyNode, valueNode) in mapping {
                guard let name = keyNode.string, let value = valueNode.string, valueNode.null == nil || value.isEmpty else {
                    invalid(key, shown: describe(yaml), expected: "a mapping of property names to string values", source: source)
                    return
                }
                map[name] = value
            }
            set(path, .dictionary(map), origin: .file(source))
        case (.dictionary, _) where yaml.null != nil:
            return
        case (.dictionary, _):
            invalid(key, shown: describe(yaml), expected: "a mapping of property names to string values", source: source)
        case (.leaf(var leaf), _):
            switch yaml {
            case .scalar(let scalar) where yaml.null != nil:
                guard leaf.optional else {
                    invalid(key, shown: scalar.string.isEmpty ? nil : scalar.string, expected: expectation(for: leaf), source: source)
                    return
                }
                leaf.value = .null
            case .scalar(let scalar):
                leaf.value = leaf.kind == .list ? .list([scalar.string]) : .scalar(scalar.string)
            case .sequence(let sequence) where leaf.kind == .list:
                let items = sequence.compactMap { $0.scalar?.string }
                guard items.count == sequence.count else {
                    invalid(key, shown: describe(yaml), expected: "a list of strings", source: source)
                    return
                }
                leaf.value = .list(items)
            default:
                invalid(key, shown: describe(yaml), expected: expectation(for: leaf), source: source)
                return
            }
            set(path, .leaf(leaf), origin: .file(source))
        }
    }

    private func describe(_ yaml: Node) -> String {
        switch yaml {
        case .scalar(let scalar): scalar.string
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }

    // MARK: Environment and flags

    mutating func applyEnvironment(_ environment: [String: String]) {
        var byVariable: [String: [String]] = [:]
        for setting in tree.settings {
            byVariable[ConfigurationLoader.environmentVariable(for: setting.path.joined(separator: "."))] = setting.path
        }
        for (name, value) in environment.sorted(by: { $0.key < $1.key })
        where name.hasPrefix(ConfigurationLoader.environmentPrefix) && !ConfigurationLoader.isReservedVariable(name) {
            guard let path = byVariable[name] else {
                let hint = closest(to: name, among: Array(byVariable.keys)).map { "did you mean \($0)?" }
                    ?? "run `breakwater check-config` to list every key with its variable"
                problems.append(ConfigurationProblem(kind: .unknownEnvironmentVariable, key: name, value: nil, expected: hint))
                continue
            }
            assign(value, to: path, mapKey: nil, origin: .environment(name))
        }
    }

    mutating func applyFlag(_ flag: String) {
        guard let equals = flag.firstIndex(of: "=") else {
            invalid(flag, shown: flag, expected: "key.path=value", source: "--set")
            return
        }
        let keyPath = String(flag[..<equals])
        let value = String(flag[flag.index(after: equals)...])
        let components = keyPath.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        // Walk down groups; a dictionary takes the rest of the path as one entry name.
        var path: [String] = []
        for (index, component) in components.enumerated() {
            guard let node = tree.node(at: path) else { break }
            switch node {
            case .group(let entries):
                guard entries.contains(where: { $0.key == component }) else {
                    problems.append(unknownKey((path + [component]).joined(separator: "."), known: entries.map(\.key), source: "--set"))
                    return
                }
                path.append(component)
            case .dictionary:
                assign(value, to: path, mapKey: components[index...].joined(separator: "."), origin: .flag)
                return
            case .leaf:
                problems.append(unknownKey(keyPath, known: [], source: "--set"))
                return
            }
        }
        assign(value, to: path, mapKey: nil, origin: .flag)
    }

    /// Sets a setting from text (variable or flag).
    private mutating func assign(_ raw: String, to path: [String], mapKey: String?, origin: ConfigurationOrigin) {
        let key = path.joined(separator: ".")
        switch tree.node(at: path) {
        case .leaf(var leaf):
            if raw.isEmpty, leaf.optional {
                leaf.value = .null
            } else if leaf.kind == .list {
                leaf.value = .list(raw.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
            } else {
                leaf.value = .scalar(raw)
            }
            set(path, .leaf(leaf), origin: origin)
        case .dictionary(var map):
            if let mapKey {
                map[mapKey] = raw
            } else {
                for entry in raw.split(separator: ",") {
                    let parts = entry.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                    guard parts.count == 2, !parts[0].isEmpty else {
                        invalid(key, shown: String(entry), expected: "name=value pairs separated by commas", source: origin.description)
                        return
                    }
                    map[parts[0]] = parts[1]
                }
            }
            set(path, .dictionary(map), origin: origin)
        case .group(let entries):
            invalid(key.isEmpty ? "(root)" : key, shown: raw, expected: "one of its keys to be set: " + entries.map(\.key).joined(separator: ", "),
                    source: origin.description)
        case nil:
            problems.append(unknownKey(key, known: [], source: origin.description))
        }
    }

    private mutating func set(_ path: [String], _ node: ConfigNode, origin: ConfigurationOrigin) {
        tree.replace(at: path, with: node)
        origins[path.joined(separator: ".")] = origin
    }

    // MARK: Problems

    private mutating func invalid(_ key: String, shown: String?, expected: String, source: String?) {
        let sensitivity: Sensitivity = if case .leaf(let leaf) = tree.node(at: key.split(separator: ".").map(String.init)) {
            leaf.sensitivity
        } else { .none }
        problems.append(ConfigurationProblem(
            kind: .invalidValue, key: key, value: shown.map { sensitivity.mask($0) }, expected: expected, source: source))
    }

    private func unknownKey(_ key: String, known: [String], source: String) -> ConfigurationProblem {
        let last = key.split(separator: ".").last.map(String.init) ?? key
        let hint: String
        if let match = closest(to: last, among: known) {
            hint = "did you mean `\(match)`?"
        } else if known.isEmpty {
            hint = "this key has no settings below it"
        } else {
            hint = "allowed here: " + known.joined(separator: ", ")
        }
        return ConfigurationProblem(kind: .unknownKey, key: key, value: nil, expected: hint, source: source)
    }

    /// The candidate closest to `word` (ignoring case, `_` and `-`), if close enough to be a typo.
    private func closest(to word: String, among candidates: [String]) -> String? {
        func normalized(_ text: String) -> [Character] { Array(text.lowercased().filter { $0 != "_" && $0 != "-" }) }
        let target = normalized(word)
        // A truncated name (`..._BOOTSTRAP` for `..._BOOTSTRAP_SERVERS`) is a likely typo too.
        let extensions = candidates.filter { normalized($0).starts(with: target) && target.count >= 4 }
        if let shortest = extensions.min(by: { $0.count < $1.count }) { return shortest }
        let scored = candidates.map { ($0, editDistance(target, normalized($0))) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= max(1, target.count / 4) else { return nil }
        return best.0
    }

    private func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1]
            for (j, y) in b.enumerated() {
                current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1)))
            }
            previous = current
        }
        return previous[b.count]
    }

    private func expectation(for leaf: ConfigLeaf) -> String {
        switch leaf.kind {
        case .bool: "true or false"
        case .integer: "an integer"
        case .number: "a number"
        case .string: "a value"
        case .list: "a list of strings"
        }
    }

    // MARK: Decoding

    /// Converts every leaf to its JSON type and decodes the configuration type from it.
    /// A value that cannot be converted or decoded is reported and replaced by its
    /// default, and decoding goes on, so every such problem is found in one run.
    mutating func decode() throws(ConfigurationError) -> BreakwaterConfiguration {
        for _ in 0...tree.settings.count {
            let object = jsonObject(tree, path: [])
            do {
                let data = try JSONSerialization.data(withJSONObject: object)
                return try JSONDecoder().decode(BreakwaterConfiguration.self, from: data)
            } catch let error as DecodingError {
                let (problem, path) = problem(for: error)
                problems.append(problem)
                guard let path, let fallback = defaults.node(at: path), tree.node(at: path) != fallback else { break }
                tree.replace(at: path, with: fallback)
            } catch {
                problems.append(ConfigurationProblem(
                    kind: .invalidValue, key: "(configuration)", value: nil, expected: "a decodable configuration: \(error)"))
                break
            }
        }
        throw ConfigurationError(problems: problems)
    }

    private mutating func jsonObject(_ node: ConfigNode, path: [String]) -> Any {
        switch node {
        case .group(let entries):
            var object: [String: Any] = [:]
            for entry in entries { object[entry.key] = jsonObject(entry.node, path: path + [entry.key]) }
            return object
        case .dictionary(let map):
            return map
        case .leaf(let leaf):
            if let value = jsonValue(leaf, key: path.joined(separator: ".")) { return value }
            // Reported; continue with the default so the rest can be checked.
            guard let fallback = defaults.node(at: path) else { return NSNull() }
            tree.replace(at: path, with: fallback)
            guard case .leaf(let defaultLeaf) = fallback else { return NSNull() }
            return jsonValue(defaultLeaf, key: path.joined(separator: ".")) ?? NSNull()
        }
    }

    /// The JSON value of a leaf, or `nil` after reporting why it has none.
    private mutating func jsonValue(_ leaf: ConfigLeaf, key: String) -> Any? {
        switch leaf.value {
        case .null:
            guard leaf.optional else {
                invalid(key, shown: nil, expected: expectation(for: leaf), source: origins[key]?.description)
                return nil
            }
            return NSNull()
        case .list(let items):
            return items
        case .scalar(let raw):
            let text = raw.trimmingCharacters(in: .whitespaces)
            switch leaf.kind {
            case .string, .list:
                return raw
            case .bool:
                switch text.lowercased() {
                case "true", "yes", "on", "1": return true
                case "false", "no", "off", "0": return false
                default: break
                }
            case .integer:
                if let value = Int(text) { return value }
            case .number:
                if let value = Double(text), value.isFinite { return value }
            }
            invalid(key, shown: raw, expected: expectation(for: leaf), source: origins[key]?.description)
            return nil
        }
    }

    /// The problem a decoding error stands for, and the path of the offending setting.
    private func problem(for error: DecodingError) -> (ConfigurationProblem, [String]?) {
        let context: DecodingError.Context
        switch error {
        case .dataCorrupted(let c), .typeMismatch(_, let c), .valueNotFound(_, let c), .keyNotFound(_, let c): context = c
        @unknown default:
            return (ConfigurationProblem(kind: .invalidValue, key: "(configuration)", value: nil, expected: "\(error)"), nil)
        }
        let path = context.codingPath.map(\.stringValue)
        let key = path.joined(separator: ".")
        var shown: String?
        if case .leaf(let leaf) = tree.node(at: path), case .scalar(let raw) = leaf.value { shown = leaf.sensitivity.mask(raw) }
        let problem = ConfigurationProblem(kind: .invalidValue, key: key, value: shown, expected: context.debugDescription,
                                           source: origins[key]?.description)
        return (problem, path)
    }

    // MARK: Effective values

    func effectiveValues() -> [EffectiveValue] {
        EffectiveValue.list(from: tree) { origins[$0] ?? .default }
    }
}

extension EffectiveValue {
    /// Flattens a tree into masked effective values.
    static func list(from tree: ConfigNode, origin: (String) -> ConfigurationOrigin) -> [EffectiveValue] {
        tree.settings.flatMap { setting -> [EffectiveValue] in
            let key = setting.path.joined(separator: ".")
            let variable = ConfigurationLoader.environmentVariable(for: key)
            switch setting.node {
            case .leaf(let leaf):
                let shown: String = switch leaf.value {
                case .null: "(unset)"
                case .scalar(let raw): leaf.sensitivity.mask(raw)
                case .list(let items): items.joined(separator: ", ")
                }
                return [EffectiveValue(key: key, value: shown, origin: origin(key), environmentVariable: variable)]
            case .dictionary(let map):
                guard !map.isEmpty else {
                    return [EffectiveValue(key: key, value: "(none)", origin: origin(key), environmentVariable: variable)]
                }
                return map.sorted { $0.key < $1.key }.map { name, value in
                    EffectiveValue(key: "\(key).\(name)",
                                   value: Sensitivity.isSensitiveProperty(name) ? Sensitivity.secret.mask(value) : value,
                                   origin: origin(key), environmentVariable: variable)
                }
            case .group:
                return []
            }
        }
    }

    /// Aligned `key  value  (origin)` lines.
    static func render(_ values: [EffectiveValue], withOrigins: Bool) -> String {
        let width = values.map(\.key.count).max() ?? 0
        let valueWidth = min(values.map(\.value.count).max() ?? 0, 48)
        return values.map { entry in
            let key = entry.key.padding(toLength: width, withPad: " ", startingAt: 0)
            guard withOrigins else { return "\(key)  \(entry.value)" }
            let value = entry.value.count < valueWidth ? entry.value.padding(toLength: valueWidth, withPad: " ", startingAt: 0) : entry.value
            return "\(key)  \(value)  (\(entry.origin))"
        }.joined(separator: "\n")
    }
}

extension BreakwaterConfiguration {
    /// Every setting with its value, one aligned `key  value` line each, with secrets
    /// (passwords in URLs, tokens, SASL and key passwords, secret pass-through
    /// properties) masked. Safe to log.
    public var maskedDescription: String {
        guard let tree = try? ConfigTreeEncoder.encode(self) else { return "(configuration cannot be described)" }
        return EffectiveValue.render(EffectiveValue.list(from: tree) { _ in .default }, withOrigins: false)
    }
}
