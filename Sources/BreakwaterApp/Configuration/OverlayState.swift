import Foundation

/// The tree being overlaid, the origin of each setting and the problems found so far.
/// Filled by the YAML, environment and flag overlays (the `ConfigurationLoader+…`
/// files) and decoded in `ConfigurationLoader+Decoding.swift`.
struct OverlayState {
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

    mutating func set(_ path: [String], _ node: ConfigNode, origin: ConfigurationOrigin) {
        tree.replace(at: path, with: node)
        origins[path.joined(separator: ".")] = origin
    }

    // MARK: Problems

    mutating func invalid(_ key: String, shown: String?, expected: String, source: String?) {
        let sensitivity: Sensitivity = if case .leaf(let leaf) = tree.node(at: key.split(separator: ".").map(String.init)) {
            leaf.sensitivity
        } else { .none }
        problems.append(ConfigurationProblem(
            kind: .invalidValue, key: key, value: shown.map { sensitivity.mask($0) }, expected: expected, source: source))
    }

    func expectation(for leaf: ConfigLeaf) -> String {
        switch leaf.kind {
        case .bool: "true or false"
        case .integer: "an integer"
        case .number: "a number"
        case .string: "a value"
        case .list: "a list of strings"
        }
    }

    // MARK: Effective values

    func effectiveValues() -> [EffectiveValue] {
        EffectiveValue.list(from: tree) { origins[$0] ?? .default }
    }
}
