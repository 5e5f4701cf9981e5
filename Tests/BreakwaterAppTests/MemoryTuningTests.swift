@testable import BreakwaterApp
import Testing

@Suite struct MemoryTuningTests {
    @Test func theMmapThresholdIsFixedUnlessTheOperatorSetOne() {
        #expect(MemoryTuning.fixMmapThreshold(environment: [:]))
        #expect(!MemoryTuning.fixMmapThreshold(environment: ["MALLOC_MMAP_THRESHOLD_": "65536"]))
    }

    @Test func freeHeapMemoryIsGivenBack() {
        // Many medium blocks (below the mmap threshold, so from the heap), then freed:
        // whole free pages inside the heap that only a trim returns.
        var blocks: [[UInt8]] = (0..<2_000).map { _ in [UInt8](repeating: 1, count: 32 * 1024) }
        #expect(blocks.count == 2_000)
        blocks.removeAll()
        #expect(MemoryTuning.releaseFreeMemory())
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
