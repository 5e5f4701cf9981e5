import Foundation
import Locking
import MetricsTestKit
import Testing
import Triage
@testable import TriagePostgres
import TriageTestSupport

/// The dedup store's statement batching, without a database: a fake statement that waits
/// at a gate the test opens.
@Suite struct DedupBatchTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func rowsAddUpRepeatedFingerprintsAndEachOccurrenceGetsItsOwnCount() throws {
        let occurrences = [
            DedupOccurrence(fingerprint: "a", seenAt: t0.addingTimeInterval(10)),
            DedupOccurrence(fingerprint: "b", seenAt: t0.addingTimeInterval(5)),
            DedupOccurrence(fingerprint: "a", seenAt: t0),
        ]
        let rows = DedupBatchRows(occurrences)
        #expect(rows.fingerprints == ["a", "b"])
        #expect(rows.firstSeen == [t0, t0.addingTimeInterval(5)])
        #expect(rows.lastSeen == [t0.addingTimeInterval(10), t0.addingTimeInterval(5)])
        #expect(rows.counts == [2, 1])

        // Another writer had counted `a` 3 times before: this statement made it 5.
        let a = DedupRecord(fingerprint: "a", firstSeen: t0.addingTimeInterval(-60), lastSeen: t0.addingTimeInterval(10), occurrences: 5)
        let b = DedupRecord(fingerprint: "b", firstSeen: t0.addingTimeInterval(5), lastSeen: t0.addingTimeInterval(5), occurrences: 1)
        let records = try rows.records(returned: ["a": a, "b": b])
        #expect(records.map(\.occurrences) == [4, 1, 5])
        #expect(records.map(\.fingerprint) == ["a", "b", "a"])
        #expect(records[0].firstSeen == a.firstSeen && records[0].lastSeen == a.lastSeen)

        #expect(throws: DedupDataError.self) { try rows.records(returned: ["a": a]) }
    }

    @Test func callersArrivingWhileAStatementRunsGoTogetherInTheNextOne() async throws {
        let statements = FakeStatements()
        let batcher = DedupBatcher(maxBatch: 10) { try await statements.run($0) }
        try await withThrowingTaskGroup(of: (String, Int).self) { group in
            group.addTask { ("first", try await batcher.record(DedupOccurrence(fingerprint: "x", seenAt: self.t0)).occurrences) }
            #expect(await eventually { statements.started == 1 })
            for index in 1...4 {
                group.addTask {
                    let fingerprint = index == 4 ? "y" : "x"
                    return ("\(fingerprint)\(index)", try await batcher.record(DedupOccurrence(fingerprint: fingerprint, seenAt: self.t0)).occurrences)
                }
            }
            #expect(await eventually { batcher.waiting == 4 })
            statements.open()
            var counts: [String: Int] = [:]
            for try await (name, count) in group { counts[name] = count }
            #expect(counts["first"] == 1)
            // x1…x3 went in one statement behind the first, each with its own count.
            #expect([counts["x1"], counts["x2"], counts["x3"]].compactMap { $0 }.sorted() == [2, 3, 4])
            #expect(counts["y4"] == 1)
        }
        #expect(statements.batches.map(\.count) == [1, 4])
        #expect(batcher.waiting == 0)
    }

    @Test func aBatchIsAtMostMaxBatchAndTheRestGoNext() async throws {
        let statements = FakeStatements()
        let metrics = TestMetrics()
        let batcher = DedupBatcher(maxBatch: 2, metricsFactory: metrics) { try await statements.run($0) }
        try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask { try await batcher.record(DedupOccurrence(fingerprint: "z", seenAt: self.t0)).occurrences }
            #expect(await eventually { statements.started == 1 })
            for _ in 1...5 {
                group.addTask { try await batcher.record(DedupOccurrence(fingerprint: "z", seenAt: self.t0)).occurrences }
            }
            #expect(await eventually { batcher.waiting == 5 })
            statements.open()
            var counts: [Int] = []
            for try await count in group { counts.append(count) }
            #expect(counts.sorted() == Array(1...6))
        }
        #expect(statements.batches.map(\.count) == [1, 2, 2, 1])
        #expect(try metrics.expectRecorder(MetricNames.dedupBatchSize).values == [1, 2, 2, 1])
    }

    @Test func aFailedStatementFailsEveryOccurrenceInItAndTheNextBatchStillRuns() async throws {
        let statements = FakeStatements()
        let batcher = DedupBatcher(maxBatch: 10) { try await statements.run($0) }
        statements.failNext = true
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask { (try? await batcher.record(DedupOccurrence(fingerprint: "f", seenAt: self.t0))) != nil }
            #expect(await eventually { statements.started == 1 })
            for _ in 1...3 {
                group.addTask { (try? await batcher.record(DedupOccurrence(fingerprint: "f", seenAt: self.t0))) != nil }
            }
            #expect(await eventually { batcher.waiting == 3 })
            statements.open()
            var succeeded = 0, failed = 0
            for try await ok in group { if ok { succeeded += 1 } else { failed += 1 } }
            // The first statement failed its one occurrence; the three behind it went next.
            #expect(failed == 1)
            #expect(succeeded == 3)
        }
        #expect(statements.batches.map(\.count) == [1, 3])
        // Nothing left waiting or marked as writing: a later call writes at once.
        #expect(try await batcher.record(DedupOccurrence(fingerprint: "g", seenAt: t0)).occurrences == 1)
    }
}

/// A fake upsert: counts per fingerprint in memory; the first statement waits until
/// ``open()``, so the test can line callers up behind it.
private final class FakeStatements: Sendable {
    private struct State {
        var started = 0
        var batches: [[DedupOccurrence]] = []
        var counts: [String: Int] = [:]
        var isOpen = false
        var gate: CheckedContinuation<Void, Never>?
        var failNext = false
    }

    private let state = LockedValue(State())
    var started: Int { state.withLock { $0.started } }
    var batches: [[DedupOccurrence]] { state.withLock { $0.batches } }
    var failNext: Bool {
        get { state.withLock { $0.failNext } }
        set { state.withLock { $0.failNext = newValue } }
    }

    func open() {
        let gate = state.withLock { state in
            state.isOpen = true
            defer { state.gate = nil }
            return state.gate
        }
        gate?.resume()
    }

    func run(_ occurrences: [DedupOccurrence]) async throws -> [DedupRecord] {
        state.withLock { $0.started += 1 }
        await withCheckedContinuation { continuation in
            let waitHere = state.withLock { state in
                if state.isOpen { return false }
                state.gate = continuation
                return true
            }
            if !waitHere { continuation.resume() }
        }
        return try state.withLock { state in
            state.batches.append(occurrences)
            if state.failNext {
                state.failNext = false
                throw DedupDataError(problem: "injected")
            }
            var returned: [String: DedupRecord] = [:]
            for occurrence in occurrences {
                state.counts[occurrence.fingerprint, default: 0] += 1
                returned[occurrence.fingerprint] = DedupRecord(
                    fingerprint: occurrence.fingerprint, firstSeen: occurrence.seenAt, lastSeen: occurrence.seenAt,
                    occurrences: state.counts[occurrence.fingerprint, default: 0]
                )
            }
            return try DedupBatchRows(occurrences).records(returned: returned)
        }
    }
}
