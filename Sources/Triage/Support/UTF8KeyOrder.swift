#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Dictionary where Key == String {
    /// Calls `body` with each member in the UTF-8 byte order of the keys (the order of
    /// `JSONEncoder`'s `.sortedKeys` on Linux and of fingerprints; not `String` `<`,
    /// which follows Unicode canonical ordering).
    ///
    /// The dictionary's indices are sorted in a scratch buffer on the stack: sorting the
    /// members themselves made an array of them (an allocation, and a retain and release
    /// per string) for every labels and annotations object the worker wrote.
    func forEachInUTF8KeyOrder(_ body: (Key, Value) -> Void) {
        guard count > 1 else {
            for (key, value) in self { body(key, value) }
            return
        }
        withUnsafeTemporaryAllocation(of: Index.self, capacity: count) { scratch in
            var order = scratch  // `sort` is mutating; the copy is the same memory
            _ = order.initialize(fromContentsOf: indices)
            order.sort { utf8Precedes(self[$0].key, self[$1].key) }
            for index in order {
                let (key, value) = self[index]
                body(key, value)
            }
            order.deinitialize()
        }
    }
}

/// Whether `a` sorts before `b` by their UTF-8 bytes: one `memcmp` when both are
/// contiguous in memory (native strings are).
func utf8Precedes(_ a: String, _ b: String) -> Bool {
    let ordered = a.utf8.withContiguousStorageIfAvailable { a in
        b.utf8.withContiguousStorageIfAvailable { b in
            let common = min(a.count, b.count)
            if common > 0, let aBase = a.baseAddress, let bBase = b.baseAddress {
                let order = memcmp(aBase, bBase, common)
                if order != 0 { return order < 0 }
            }
            return a.count < b.count
        }
    }
    return (ordered ?? nil) ?? a.utf8.lexicographicallyPrecedes(b.utf8)
}
