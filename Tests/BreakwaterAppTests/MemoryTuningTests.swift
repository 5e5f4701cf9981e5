@testable import BreakwaterApp
import Foundation
import Testing

@Suite struct MemoryTuningTests {
    @Test func theProcessAllocatesWithTheAllocatorTheBuildLinks() {
        // Package.swift links jemalloc into `breakwater` (and so into this test bundle)
        // unless the build had BREAKWATER_SYSTEM_ALLOCATOR=1 (scripts/test-sanitizers
        // exports it for the build and the run).
        let systemAllocator = ProcessInfo.processInfo.environment["BREAKWATER_SYSTEM_ALLOCATOR"] == "1"
        #expect(MemoryTuning.allocator == (systemAllocator ? .glibc : .jemalloc))
    }

    @Test func jemallocGivesFreedPagesBackAfterTheDecayTheExecutableSets() {
        // Sources/AllocatorSettings: 1 s instead of jemalloc's 10 s, unless MALLOC_CONF
        // says otherwise for this run.
        let operatorSetting = ProcessInfo.processInfo.environment["MALLOC_CONF"]?.contains("dirty_decay_ms") == true
        switch MemoryTuning.allocator {
        case .jemalloc where !operatorSetting:
            #expect(MemoryTuning.dirtyPageDecay == .seconds(1))
        case .jemalloc:
            #expect(MemoryTuning.dirtyPageDecay != nil)
        case .glibc, .other:
            #expect(MemoryTuning.dirtyPageDecay == nil)
        }
    }

    @Test func theMmapThresholdIsFixedOnGlibcUnlessTheOperatorSetOne() {
        switch MemoryTuning.allocator {
        case .glibc:
            #expect(MemoryTuning.fixMmapThreshold(environment: [:]))
            #expect(!MemoryTuning.fixMmapThreshold(environment: ["MALLOC_MMAP_THRESHOLD_": "65536"]))
        case .jemalloc, .other:
            #expect(!MemoryTuning.fixMmapThreshold(environment: [:]))
        }
    }

    @Test func freeHeapMemoryIsGivenBack() throws {
        // Many medium blocks (below glibc's mmap threshold, so from its heap; from
        // jemalloc's arenas), written, then freed: free pages only a trim or purge returns.
        var blocks: [[UInt8]] = (0..<2_000).map { _ in [UInt8](repeating: 1, count: 32 * 1024) }
        #expect(blocks.count == 2_000)
        blocks.removeAll()
        switch MemoryTuning.allocator {
        case .jemalloc:
            // Measured as jemalloc's freed-but-kept pages, not the process's resident
            // memory, which the suite's other tests change at the same time.
            let kept = try #require(MemoryTuning.allocatorUnreturnedBytes())
            #expect(MemoryTuning.releaseFreeMemory())
            let after = try #require(MemoryTuning.allocatorUnreturnedBytes())
            // 64 MB were just freed (less what the thread cache keeps), too recently for the
            // 1 s decay to have returned much of them: without the purge they would still be
            // kept. What other tests free between the purge and the reading stays far below.
            #expect(after < 16 * 1024 * 1024, "\(kept) bytes freed and kept before the purge, \(after) after")
        case .glibc:
            #expect(MemoryTuning.releaseFreeMemory())
        case .other:
            #expect(!MemoryTuning.releaseFreeMemory())
        }
    }

    @Test func aTrimFollowsABurstOfWorkOnceItEnds() {
        var policy = MemoryTrimPolicy(busyInterval: .seconds(60))
        // (in flight, finished, second) -> trim?
        let answers = [
            (0, 0, 1),  // nothing done yet
            (40, 100, 2),  // busy
            (0, 140, 3),  // nothing in flight, but records finished since the last check: a pause in a drain
            (0, 140, 4),  // quiet for a whole interval: the burst ended
            (0, 140, 5), (0, 140, 30),  // idle, nothing new
            (0, 141, 31), (0, 141, 32),  // one more record, then quiet
        ].map { policy.shouldTrim(inFlight: $0.0, finished: $0.1, now: .seconds($0.2)) }
        #expect(answers == [false, false, false, true, false, false, false, true])
    }

    @Test func theShortPausesOfABacklogDrainAreNotTrimmed() {
        var policy = MemoryTrimPolicy(busyInterval: .seconds(60))
        // Every check finds nothing in flight (between two polls) but more records finished.
        let trims = (1...59).filter { policy.shouldTrim(inFlight: 0, finished: $0 * 5_000, now: .seconds($0)) }
        #expect(trims.isEmpty)
    }

    @Test func sustainedWorkIsTrimmedAtMostEveryBusyInterval() {
        var policy = MemoryTrimPolicy(busyInterval: .seconds(60))
        var trims: [Int] = []
        for second in 1...180 where policy.shouldTrim(inFlight: 500, finished: second * 1_000, now: .seconds(second)) {
            trims.append(second)
        }
        #expect(trims == [60, 120, 180])
    }
}
