import Metrics
import Locking

/// Metric handles by label and dimensions, made on first use and kept: making one asks
/// the metrics factory (a lock and a lookup), which per record or request would cost more
/// than the increment.
package final class MetricHandleCache<Handle: Sendable>: Sendable {

    private let make: @Sendable (String, [(String, String)]) -> Handle
    /// Keyed by label, then each dimension's name and value in order.
    private let handles = LockedValue<[[String]: Handle]>([:])

    package init(make: @escaping @Sendable (String, [(String, String)]) -> Handle) {
        self.make = make
    }

    package func handle(_ label: String, _ dimensions: [(String, String)]) -> Handle {
        var key = [label]
        key.reserveCapacity(1 + 2 * dimensions.count)
        for (name, value) in dimensions {
            key.append(name)
            key.append(value)
        }
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
