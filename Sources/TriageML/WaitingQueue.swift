import DequeModule

/// Elements waiting their turn by priority: a queue per priority, each oldest first.
///
/// ``MicroBatcher`` keeps the alerts waiting for a batch here. While its requests are at
/// their bound a worker's whole in-flight window (thousands of alerts) waits, and each
/// batch taken must cost in proportion to the batch, not to everything waiting (sorting
/// and rebuilding one array per batch cost ~2,000 element copies per batch).
struct WaitingQueue<Element> {
    private struct Entry {
        let sequence: Int
        let element: Element
    }

    /// Non-empty queues only, so the priorities present are few (the severities).
    private var queues: [Int: Deque<Entry>] = [:]
    private var nextSequence = 0

    /// The number of elements waiting.
    private(set) var count = 0

    /// Whether nothing waits.
    var isEmpty: Bool { count == 0 }

    /// Adds `element` behind the others of its `priority`.
    mutating func append(_ element: Element, priority: Int) {
        queues[priority, default: []].append(Entry(sequence: nextSequence, element: element))
        nextSequence &+= 1
        count += 1
    }

    /// Removes and returns up to `limit` elements: the highest priorities first, the
    /// oldest first within a priority; returned in the order they were appended.
    mutating func take(_ limit: Int) -> [Element] {
        var taken: [Entry] = []
        taken.reserveCapacity(min(limit, count))
        var priorities = 0
        for priority in queues.keys.sorted(by: >) where taken.count < limit {
            guard var queue = queues.removeValue(forKey: priority) else { continue }
            let share = min(limit - taken.count, queue.count)
            taken.append(contentsOf: queue.prefix(share))
            queue.removeFirst(share)
            if !queue.isEmpty { queues[priority] = queue }
            priorities += 1
        }
        count -= taken.count
        if priorities > 1 { taken.sort { $0.sequence < $1.sequence } }
        return taken.map(\.element)
    }

    /// Removes and returns the oldest element of the lowest priority waiting, if that
    /// priority is below `priority`.
    mutating func removeOldest(below priority: Int) -> Element? {
        guard let lowest = queues.keys.min(), lowest < priority,
              var queue = queues.removeValue(forKey: lowest), let oldest = queue.popFirst()
        else { return nil }
        if !queue.isEmpty { queues[lowest] = queue }
        count -= 1
        return oldest.element
    }

    /// Removes every element `shouldRemove` picks.
    mutating func removeAll(where shouldRemove: (Element) -> Bool) {
        for (priority, var queue) in queues {
            let before = queue.count
            queue.removeAll { shouldRemove($0.element) }
            count -= before - queue.count
            queues[priority] = queue.isEmpty ? nil : queue
        }
    }
}
