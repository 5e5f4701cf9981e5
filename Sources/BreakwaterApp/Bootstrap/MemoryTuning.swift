import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Process-wide allocator settings for the long-running commands (`run`, `ingest`).
///
/// glibc's malloc raises its mmap threshold every time a large mmapped block is freed (up
/// to 32 MiB); from then on large buffers — librdkafka's fetch and produce buffers, a
/// poll's decoded records and outputs — come from the heap, which fragments and is not
/// given back: one worker's resident memory grew 1.3-2.4x between 100,000 and 1,000,000
/// alerts (`scripts/soak`). A fixed threshold keeps every block of 128 KiB or more
/// mmapped, returned to the system when freed; the same soak then held ~160 MB
/// throughout.
public enum MemoryTuning {
    /// The fixed mmap threshold, in bytes.
    public static let mmapThreshold = 128 * 1024

    /// Fixes glibc's mmap threshold at ``mmapThreshold``, unless `MALLOC_MMAP_THRESHOLD_`
    /// is set in `environment` (the operator's choice wins).
    /// - Returns: whether it was applied (`false` also off glibc, or when glibc refused).
    @discardableResult
    public static func fixMmapThreshold(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        #if canImport(Glibc)
        guard environment["MALLOC_MMAP_THRESHOLD_"] == nil else { return false }
        return glibcMallopt(glibcMmapThreshold, Int32(mmapThreshold)) == 1
        #else
        return false
        #endif
    }

    /// Gives the heap's free memory back to the system (glibc's `malloc_trim(0)`: whole
    /// free pages anywhere in the heap, not only at its top). Costs a walk over the free
    /// chunks, milliseconds for a heap of a few hundred MB.
    /// - Returns: whether any memory was released (`false` also off glibc).
    @discardableResult
    public static func releaseFreeMemory() -> Bool {
        #if canImport(Glibc)
        return glibcMallocTrim(0) == 1
        #else
        return false
        #endif
    }
}

#if canImport(Glibc)
// Glibc's Swift module does not export <malloc.h>: `int mallopt(int param, int value)`
// and `M_MMAP_THRESHOLD` (-3) as declared there.
@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
// `int malloc_trim(size_t pad)`, also from <malloc.h>.
@_silgen_name("malloc_trim")
private func glibcMallocTrim(_ pad: Int) -> Int32
private let glibcMmapThreshold: Int32 = -3
#endif
