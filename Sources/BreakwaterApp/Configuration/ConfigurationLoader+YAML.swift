import Foundation
import Yams

// The YAML file overlay: walks the file's mapping against the configuration tree.
extension OverlayState {
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
}
