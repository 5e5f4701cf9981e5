import Testing
@testable import TriageML

@Suite struct WaitingQueueTests {
    private func queue(_ entries: [(String, Int)]) -> WaitingQueue<String> {
        var queue = WaitingQueue<String>()
        for (element, priority) in entries { queue.append(element, priority: priority) }
        return queue
    }

    @Test func takesTheOldestInOrderWhenAllShareAPriority() {
        var waiting = queue((0..<5).map { ("a\($0)", 0) })
        #expect(waiting.take(2) == ["a0", "a1"])
        #expect(waiting.count == 3)
        #expect(waiting.take(10) == ["a2", "a3", "a4"])
        #expect(waiting.isEmpty)
        #expect(waiting.take(1).isEmpty)
    }

    @Test func takesTheHighestPrioritiesFirstAndReturnsThemInArrivalOrder() {
        var waiting = queue([("a", 0), ("b", 2), ("c", 1), ("d", 2), ("e", 1), ("f", 0)])
        // 2s (b, d), then the oldest 1 (c): in the order they came.
        #expect(waiting.take(3) == ["b", "c", "d"])
        #expect(waiting.take(3) == ["a", "e", "f"])
        #expect(waiting.count == 0)
    }

    @Test func removesTheOldestOfTheLowestPriorityOnlyBelowTheGivenOne() {
        var waiting = queue([("a", 1), ("b", 0), ("c", 0), ("d", 2)])
        #expect(waiting.removeOldest(below: 0) == nil)
        #expect(waiting.removeOldest(below: 1) == "b")
        #expect(waiting.removeOldest(below: 1) == "c")
        #expect(waiting.removeOldest(below: 1) == nil, "the lowest left is 1, not below 1")
        #expect(waiting.removeOldest(below: 3) == "a")
        #expect(waiting.count == 1)
        #expect(waiting.take(5) == ["d"])
    }

    @Test func removesWhatThePredicatePicksAndKeepsTheOrderOfTheRest() {
        var waiting = queue([("a", 0), ("x1", 1), ("b", 1), ("x2", 0), ("c", 0)])
        waiting.removeAll { $0.hasPrefix("x") }
        #expect(waiting.count == 3)
        #expect(waiting.take(1) == ["b"])
        #expect(waiting.take(5) == ["a", "c"])
    }
}
