import BreakwaterApp
import Testing

@Suite struct MemoryTuningTests {
    @Test func theMmapThresholdIsFixedUnlessTheOperatorSetOne() {
        #expect(MemoryTuning.fixMmapThreshold(environment: [:]))
        #expect(!MemoryTuning.fixMmapThreshold(environment: ["MALLOC_MMAP_THRESHOLD_": "65536"]))
    }
}
