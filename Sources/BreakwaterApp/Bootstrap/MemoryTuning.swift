import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Process-wide allocator settings for the long-running commands (`run`, `ingest`), for
/// whichever allocator the process runs on.
///
/// The `breakwater` executable links jemalloc (see Package.swift), which returns freed
/// memory to the system by itself after a while (its dirty-page decay) and on demand
/// (`arena.<all>.purge`). A build with glibc's malloc (`BREAKWATER_SYSTEM_ALLOCATOR=1`, as
/// `scripts/test-sanitizers` builds) needs two settings: glibc raises
/// its mmap threshold every time a large mmapped block is freed (up to 32 MiB); from then
/// on large buffers — librdkafka's fetch and produce buffers, a poll's decoded records and
/// outputs — come from the heap, which fragments and is not given back: one worker's
/// resident memory grew 1.3-2.4x between 100,000 and 1,000,000 alerts (`scripts/soak`). A
/// fixed threshold keeps every block of 128 KiB or more mmapped, returned to the system
/// when freed; the same soak then held ~160 MB throughout.
public enum MemoryTuning {
    /// The allocator behind `malloc` in this process.
    public enum Allocator: String, Sendable {
        /// jemalloc (found by its `mallctl` entry point).
        case jemalloc
        /// glibc's own malloc.
        case glibc
        /// Neither (another C library): nothing here applies.
        case other
    }

    /// The allocator behind `malloc` in this process, found once.
    public static var allocator: Allocator { Jemalloc.control == nil ? systemAllocator : .jemalloc }

    /// The fixed glibc mmap threshold, in bytes.
    public static let mmapThreshold = 128 * 1024

    /// On glibc's malloc, fixes its mmap threshold at ``mmapThreshold``, unless
    /// `MALLOC_MMAP_THRESHOLD_` is set in `environment` (the operator's choice wins).
    /// - Returns: whether it was applied (`false` on jemalloc, which needs no such setting,
    ///   off glibc, or when glibc refused).
    @discardableResult
    public static func fixMmapThreshold(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        #if canImport(Glibc)
        guard allocator == .glibc, environment["MALLOC_MMAP_THRESHOLD_"] == nil else { return false }
        return glibcMallopt(glibcMmapThreshold, Int32(mmapThreshold)) == 1
        #else
        return false
        #endif
    }

    /// Gives the allocator's free memory back to the system now: on jemalloc every arena's
    /// unused dirty pages (`arena.<all>.purge`), on glibc whole free pages anywhere in the
    /// heap (`malloc_trim(0)`). Costs a walk over the free memory, milliseconds for a heap
    /// of a few hundred MB.
    /// - Returns: whether the allocator did it (jemalloc: the purge succeeded; glibc: some
    ///   memory was released); `false` on another allocator.
    @discardableResult
    public static func releaseFreeMemory() -> Bool {
        if let jemalloc = Jemalloc.control {
            return jemalloc.purgeAllArenas()
        }
        #if canImport(Glibc)
        return glibcMallocTrim(0) == 1
        #else
        return false
        #endif
    }

    /// The memory jemalloc holds freed but not yet given back to the system (its dirty
    /// pages in all arenas, bytes), read now: what ``releaseFreeMemory()`` or the decay
    /// returns. `nil` on another allocator or if jemalloc was built without statistics.
    public static func allocatorUnreturnedBytes() -> Int? {
        Jemalloc.control?.dirtyBytes()
    }

    /// How long jemalloc keeps freed pages before giving them back (`opt.dirty_decay_ms`;
    /// the executable sets 1 s, `MALLOC_CONF` overrides it; `nil` on another allocator, and
    /// `-1` ms means never).
    public static var dirtyPageDecay: Duration? {
        Jemalloc.control?.value("opt.dirty_decay_ms").map { .milliseconds($0) }
    }

    private static var systemAllocator: Allocator {
        #if canImport(Glibc)
        return .glibc
        #else
        return .other
        #endif
    }
}

/// jemalloc's control interface, `int mallctl(const char *name, void *oldp, size_t *oldlenp,
/// void *newp, size_t newlen)`, looked up at run time: present only when jemalloc is the
/// process's allocator (linked, or preloaded by an operator), so a glibc build still runs.
private struct Jemalloc: @unchecked Sendable {
    typealias Mallctl = @convention(c) (
        UnsafePointer<CChar>?, UnsafeMutableRawPointer?, UnsafeMutablePointer<Int>?, UnsafeMutableRawPointer?, Int
    ) -> Int32

    // @unchecked: a C function pointer, immutable and callable from any thread (mallctl is
    // thread-safe).
    let mallctl: Mallctl

    /// jemalloc's control when it is the allocator `malloc` calls reach: a jemalloc linked
    /// after the C library would be loaded but unused.
    static let control: Jemalloc? = {
        #if canImport(Glibc)
        // The process's global scope: the executable and the libraries it links.
        guard let process = dlopen(nil, RTLD_NOW),
            let control = dlsym(process, "mallctl"),
            let malloc = dlsym(process, "malloc"),
            let controlLibrary = library(of: control),
            controlLibrary == library(of: malloc)
        else { return nil }
        return Jemalloc(mallctl: unsafeBitCast(control, to: Mallctl.self))
        #else
        return nil
        #endif
    }()

    #if canImport(Glibc)
    /// The path of the shared object that defines `symbol`.
    private static func library(of symbol: UnsafeMutableRawPointer) -> String? {
        var info = SharedObjectInfo()
        guard glibcDladdr(symbol, &info) != 0, let name = info.path else { return nil }
        return String(cString: name)
    }
    #endif

    /// `MALLCTL_ARENAS_ALL` in jemalloc 5's <jemalloc/jemalloc.h>.
    private static let allArenas = 4096

    func purgeAllArenas() -> Bool {
        mallctl("arena.\(Self.allArenas).purge", nil, nil, nil, 0) == 0
    }

    /// A word-sized option, setting or statistic (`ssize_t` such as `opt.dirty_decay_ms`,
    /// or `size_t` such as `arenas.page`).
    func value(_ name: String) -> Int? {
        var value = 0
        var length = MemoryLayout<Int>.size
        return mallctl(name, &value, &length, nil, 0) == 0 ? value : nil
    }

    func dirtyBytes() -> Int? {
        // Statistics are snapshots, refreshed by writing to "epoch".
        var epoch: UInt64 = 1
        guard mallctl("epoch", nil, nil, &epoch, MemoryLayout<UInt64>.size) == 0,
            let pages = value("stats.arenas.\(Self.allArenas).pdirty"),
            let pageSize = value("arenas.page")
        else { return nil }
        return pages * pageSize
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
// `int dladdr(const void *addr, Dl_info *info)` and `Dl_info` from <dlfcn.h>, which the
// module exports only under _GNU_SOURCE.
private struct SharedObjectInfo {
    var path: UnsafePointer<CChar>? = nil
    var base: UnsafeMutableRawPointer? = nil
    var symbolName: UnsafePointer<CChar>? = nil
    var symbolAddress: UnsafeMutableRawPointer? = nil
}
@_silgen_name("dladdr")
private func glibcDladdr(_ address: UnsafeRawPointer, _ info: UnsafeMutablePointer<SharedObjectInfo>) -> Int32
#endif
