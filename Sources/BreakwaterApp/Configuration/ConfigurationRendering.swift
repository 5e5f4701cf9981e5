import Foundation

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
