import Locking

/// A thread-safe memory of values by key, bounded by forgetting everything once it holds
/// `capacity` entries (cheap, and right for keys that repeat: rule patterns' answers per
/// label value, the first applying rule per set of tested values, fallback chains per
/// service name).
final class BoundedMemo<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private let capacity: Int
    private let values = LockedValue<[Key: Value]>([:])

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// How many entries it holds now (at most the capacity).
    var count: Int { values.withLock { $0.count } }

    func value(for key: Key) -> Value? {
        values.withLock { $0[key] }
    }

    func remember(_ value: Value, for key: Key) {
        values.withLock { values in
            if values.count >= capacity { values.removeAll(keepingCapacity: true) }
            values[key] = value
        }
    }

    /// The remembered value for `key`, or `make()`'s, remembered.
    func value(for key: Key, orMake make: () -> Value) -> Value {
        if let known = value(for: key) { return known }
        let made = make()
        remember(made, for: key)
        return made
    }
}
