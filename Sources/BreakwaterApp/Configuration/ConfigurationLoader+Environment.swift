import Foundation

// The `BREAKWATER_*` environment and `--set key.path=value` overlays.
extension OverlayState {
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
}
