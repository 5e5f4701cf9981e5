import Foundation

/// The value type of a configuration leaf, taken from the Swift type of its setting.
enum LeafKind: Sendable, Hashable {
    case bool, integer, number, string, list
}

/// A leaf's value as text, before it is converted to its Swift type.
enum LeafValue: Sendable, Hashable {
    case null
    case scalar(String)
    case list([String])
}

/// One setting in the tree: its kind, whether it may be unset, how to show it, and its value.
struct ConfigLeaf: Sendable, Hashable {
    var kind: LeafKind
    var value: LeafValue
    var optional = false
    var sensitivity = Sensitivity.none
}

/// The configuration as a tree of key paths. Built by encoding a
/// ``BreakwaterConfiguration`` (so the tree's shape *is* the Swift type's shape),
/// overlaid with file, environment and flag values, and decoded back.
indirect enum ConfigNode: Sendable, Hashable {
    /// A setting.
    case leaf(ConfigLeaf)
    /// A group of settings, in declaration order.
    case group([Entry])
    /// A free-form `String: String` map (pass-through properties).
    case dictionary([String: String])

    struct Entry: Sendable, Hashable {
        var key: String
        var node: ConfigNode
    }

    /// The node at `path`, or `nil`.
    func node(at path: some Collection<String>) -> ConfigNode? {
        guard let first = path.first else { return self }
        guard case .group(let entries) = self, let child = entries.first(where: { $0.key == first }) else { return nil }
        return child.node.node(at: path.dropFirst())
    }

    /// Replaces the node at `path` (which must exist).
    mutating func replace(at path: some Collection<String>, with replacement: ConfigNode) {
        guard let first = path.first else { self = replacement; return }
        guard case .group(var entries) = self, let index = entries.firstIndex(where: { $0.key == first }) else { return }
        entries[index].node.replace(at: path.dropFirst(), with: replacement)
        self = .group(entries)
    }

    /// Every leaf and dictionary with its key path, in declaration order.
    var settings: [(path: [String], node: ConfigNode)] {
        switch self {
        case .leaf, .dictionary: return [([], self)]
        case .group(let entries):
            return entries.flatMap { entry in entry.node.settings.map { ([entry.key] + $0.path, $0.node) } }
        }
    }
}

/// Encodes a configuration value into a ``ConfigNode`` tree.
///
/// Unlike `JSONEncoder` it records unset optionals (as null leaves, so they are known
/// keys), the sensitivity of `Secret`/`DatabaseURL` settings, and `[String: String]`
/// maps as free-form dictionaries. Only the shapes a configuration uses are supported
/// (structs of scalars, string lists and string maps); anything else throws.
final class ConfigTreeEncoder: Encoder {
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    fileprivate var group: GroupBox?
    fileprivate var list: ListBox?
    fileprivate var single: ConfigNode?
    fileprivate var unsupported: String?

    init(codingPath: [any CodingKey] = []) { self.codingPath = codingPath }

    /// Encodes `value` into a tree.
    /// - Throws: `EncodingError.invalidValue` for shapes a configuration cannot have.
    static func encode(_ value: some Encodable) throws -> ConfigNode {
        let encoder = ConfigTreeEncoder()
        try value.encode(to: encoder)
        return try encoder.finish()
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let box = group ?? GroupBox()
        group = box
        return KeyedEncodingContainer(KeyedTreeContainer<Key>(encoder: self, box: box))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let box = list ?? ListBox()
        list = box
        return UnkeyedTreeContainer(codingPath: codingPath, box: box)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleTreeContainer(encoder: self)
    }

    fileprivate func finish() throws -> ConfigNode {
        if let unsupported { throw unsupportedShape(unsupported) }
        if let group { return .group(group.entries) }
        if let list {
            if let unsupported = list.unsupported { throw unsupportedShape(unsupported) }
            return .leaf(ConfigLeaf(kind: .list, value: .list(list.items)))
        }
        if let single { return single }
        throw unsupportedShape("no value")
    }

    fileprivate func unsupportedShape(_ what: String) -> EncodingError {
        EncodingError.invalidValue(what, EncodingError.Context(
            codingPath: codingPath, debugDescription: "configuration values are scalars, string lists or string maps"))
    }

    /// Encodes a child value at `key` and returns its node.
    fileprivate func child<T: Encodable>(_ value: T, key: any CodingKey) throws -> ConfigNode {
        if let map = value as? [String: String] { return .dictionary(map) }
        let encoder = ConfigTreeEncoder(codingPath: codingPath + [key])
        try value.encode(to: encoder)
        var node = try encoder.finish()
        if case .leaf(var leaf) = node, let sensitive = T.self as? any SensitiveConfigValue.Type {
            leaf.sensitivity = sensitive.sensitivity
            node = .leaf(leaf)
        }
        return node
    }

    /// The leaf recorded for an unset optional of type `T`.
    fileprivate static func nullLeaf<T>(_ type: T.Type) -> ConfigNode {
        let kind: LeafKind = switch type {
        case is Bool.Type: .bool
        case is any BinaryInteger.Type: .integer
        case is any BinaryFloatingPoint.Type: .number
        default: .string
        }
        let sensitivity = (type as? any SensitiveConfigValue.Type)?.sensitivity ?? Sensitivity.none
        return .leaf(ConfigLeaf(kind: kind, value: .null, optional: true, sensitivity: sensitivity))
    }

    /// The leaf of a scalar value, by its Swift type.
    fileprivate static func scalarLeaf(_ value: Any) -> ConfigNode? {
        switch value {
        case let value as Bool: return .leaf(ConfigLeaf(kind: .bool, value: .scalar(String(value))))
        case let value as String: return .leaf(ConfigLeaf(kind: .string, value: .scalar(value)))
        case let value as any BinaryInteger: return .leaf(ConfigLeaf(kind: .integer, value: .scalar("\(value)")))
        case let value as Double: return .leaf(ConfigLeaf(kind: .number, value: .scalar(numberText(value))))
        case let value as Float: return .leaf(ConfigLeaf(kind: .number, value: .scalar(numberText(Double(value)))))
        default: return nil
        }
    }

    /// `1` for 1.0, `0.5` for 0.5.
    static func numberText(_ value: Double) -> String {
        if value.rounded() == value, abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}

private final class GroupBox {
    var entries: [ConfigNode.Entry] = []
    func set(_ key: String, _ node: ConfigNode) {
        if let index = entries.firstIndex(where: { $0.key == key }) { entries[index].node = node } else {
            entries.append(.init(key: key, node: node))
        }
    }
}

private final class ListBox {
    var items: [String] = []
    var unsupported: String?
}

private struct KeyedTreeContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let encoder: ConfigTreeEncoder
    let box: GroupBox
    var codingPath: [any CodingKey] { encoder.codingPath }

    private func put(_ value: some Encodable, _ key: Key) throws {
        box.set(key.stringValue, try encoder.child(value, key: key))
    }

    mutating func encodeNil(forKey key: Key) throws { box.set(key.stringValue, ConfigTreeEncoder.nullLeaf(String.self)) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { try put(value, key) }
    mutating func encode(_ value: String, forKey key: Key) throws { try put(value, key) }
    mutating func encode(_ value: Double, forKey key: Key) throws { try put(value, key) }
    mutating func encode(_ value: Float, forKey key: Key) throws { try put(value, key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { try put(value, key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try put(value, key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try put(value, key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try put(value, key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try put(value, key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try put(value, key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try put(value, key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try put(value, key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try put(value, key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try put(value, key) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { try put(value, key) }

    private func putOptional<T: Encodable>(_ value: T?, _ key: Key) throws {
        guard let value else { return box.set(key.stringValue, ConfigTreeEncoder.nullLeaf(T.self)) }
        var node = try encoder.child(value, key: key)
        if case .leaf(var leaf) = node { leaf.optional = true; node = .leaf(leaf) }
        box.set(key.stringValue, node)
    }

    mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws { try putOptional(value, key) }
    mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws { try putOptional(value, key) }
    mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws { try putOptional(value, key) }
    mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws { try putOptional(value, key) }
    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws { try putOptional(value, key) }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        // Configuration types never use nested containers; refuse rather than half-support them.
        encoder.unsupported = "nested container at \(key.stringValue)"
        return KeyedEncodingContainer(KeyedTreeContainer<NestedKey>(encoder: ConfigTreeEncoder(), box: GroupBox()))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        encoder.unsupported = "nested unkeyed container at \(key.stringValue)"
        return UnkeyedTreeContainer(codingPath: codingPath + [key], box: ListBox())
    }

    mutating func superEncoder() -> any Encoder { encoder }
    mutating func superEncoder(forKey key: Key) -> any Encoder { encoder }
}

private struct UnkeyedTreeContainer: UnkeyedEncodingContainer {
    let codingPath: [any CodingKey]
    let box: ListBox
    var count: Int { box.items.count }

    private func append(_ value: Any) {
        if let text = value as? String { box.items.append(text) } else {
            box.unsupported = "list element \(type(of: value)); lists hold strings"
        }
    }

    mutating func encodeNil() throws { box.unsupported = "null list element" }
    mutating func encode(_ value: Bool) throws { append(value) }
    mutating func encode(_ value: String) throws { append(value) }
    mutating func encode(_ value: Double) throws { append(value) }
    mutating func encode(_ value: Float) throws { append(value) }
    mutating func encode(_ value: Int) throws { append(value) }
    mutating func encode(_ value: Int8) throws { append(value) }
    mutating func encode(_ value: Int16) throws { append(value) }
    mutating func encode(_ value: Int32) throws { append(value) }
    mutating func encode(_ value: Int64) throws { append(value) }
    mutating func encode(_ value: UInt) throws { append(value) }
    mutating func encode(_ value: UInt8) throws { append(value) }
    mutating func encode(_ value: UInt16) throws { append(value) }
    mutating func encode(_ value: UInt32) throws { append(value) }
    mutating func encode(_ value: UInt64) throws { append(value) }
    mutating func encode<T: Encodable>(_ value: T) throws { append(value) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        box.unsupported = "nested container in a list"
        let encoder = ConfigTreeEncoder(codingPath: codingPath)
        return encoder.container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        box.unsupported = "nested list"
        return UnkeyedTreeContainer(codingPath: codingPath, box: ListBox())
    }

    mutating func superEncoder() -> any Encoder {
        box.unsupported = "super encoder in a list"
        return ConfigTreeEncoder(codingPath: codingPath)
    }
}

private struct SingleTreeContainer: SingleValueEncodingContainer {
    let encoder: ConfigTreeEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }

    private func set(_ value: Any) throws {
        guard let node = ConfigTreeEncoder.scalarLeaf(value) else { throw encoder.unsupportedShape("\(type(of: value))") }
        encoder.single = node
    }

    mutating func encodeNil() throws { encoder.single = ConfigTreeEncoder.nullLeaf(String.self) }
    mutating func encode(_ value: Bool) throws { try set(value) }
    mutating func encode(_ value: String) throws { try set(value) }
    mutating func encode(_ value: Double) throws { try set(value) }
    mutating func encode(_ value: Float) throws { try set(value) }
    mutating func encode(_ value: Int) throws { try set(value) }
    mutating func encode(_ value: Int8) throws { try set(value) }
    mutating func encode(_ value: Int16) throws { try set(value) }
    mutating func encode(_ value: Int32) throws { try set(value) }
    mutating func encode(_ value: Int64) throws { try set(value) }
    mutating func encode(_ value: UInt) throws { try set(value) }
    mutating func encode(_ value: UInt8) throws { try set(value) }
    mutating func encode(_ value: UInt16) throws { try set(value) }
    mutating func encode(_ value: UInt32) throws { try set(value) }
    mutating func encode(_ value: UInt64) throws { try set(value) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        if ConfigTreeEncoder.scalarLeaf(value) != nil { return try set(value) }
        try value.encode(to: encoder)
    }
}
