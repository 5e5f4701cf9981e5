import Foundation

// Decoding the overlaid tree into a ``BreakwaterConfiguration``.
extension OverlayState {
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
}
