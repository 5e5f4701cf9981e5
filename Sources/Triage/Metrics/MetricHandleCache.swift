import Metrics
import Locking

/// Metric handles by label and dimensions, made on first use and kept: making one asks
/// the metrics factory (a lock and a lookup), which per record or request would cost more
/// than the increment.
package final class MetricHandleCache<Handle: Sendable>: Sendable {

    private let make: @Sendable (String, [(String, String)]) -> Handle
    private let handles = LockedValue<[Key: Handle]>([:])

    /// A label and its dimensions in order. Holds the caller's array as it is: a key built
    /// as a new `[String]` cost an allocation and a retain per string on every lookup.
    private struct Key: Hashable, Sendable {
        let label: String
        let dimensions: [(String, String)]

        func hash(into hasher: inout Hasher) {
            hasher.combine(label)
            hasher.combine(dimensions.count)
            for (name, value) in dimensions {
                hasher.combine(name)
                hasher.combine(value)
            }
        }

        static func == (lhs: Key, rhs: Key) -> Bool {
            lhs.label == rhs.label && lhs.dimensions.count == rhs.dimensions.count
                && zip(lhs.dimensions, rhs.dimensions).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        }
    }

    package init(make: @escaping @Sendable (String, [(String, String)]) -> Handle) {
        self.make = make
    }

    /// The handle of `label` with `dimensions` (names and values, in order), made on first use.
    package func handle(_ label: String, _ dimensions: [(String, String)]) -> Handle {
        let key = Key(label: label, dimensions: dimensions)
        return handles.withLock { handles in
            if let handle = handles[key] { return handle }
            let handle = make(label, dimensions)
            handles[key] = handle
            return handle
        }
    }
}

extension Timer {
    /// Records `duration` (whole nanoseconds).
    package func record(_ duration: Duration) {
        recordNanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }
}
