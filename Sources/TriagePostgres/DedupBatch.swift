import Foundation
import Locking
import Metrics
import Triage

/// One call of ``PostgresDedupStore/record(fingerprint:seenAt:)``.
struct DedupOccurrence: Sendable {
    var fingerprint: String
    var seenAt: Date
}

/// What one upsert statement writes for a batch of occurrences: one row per distinct
/// fingerprint, with how many times it occurs in the batch and its earliest and latest
/// time (PostgreSQL refuses to update one row twice in one `INSERT … ON CONFLICT`).
struct DedupBatchRows {
    /// The batch, in call order.
    let occurrences: [DedupOccurrence]
    private(set) var fingerprints: [String] = []
    private(set) var firstSeen: [Date] = []
    private(set) var lastSeen: [Date] = []
    private(set) var counts: [Int64] = []
    /// Each occurrence's row.
    private var rowOfOccurrence: [Int] = []

    init(_ occurrences: [DedupOccurrence]) {
        self.occurrences = occurrences
        var row: [String: Int] = [:]
        for occurrence in occurrences {
            if let index = row[occurrence.fingerprint] {
                firstSeen[index] = min(firstSeen[index], occurrence.seenAt)
                lastSeen[index] = max(lastSeen[index], occurrence.seenAt)
                counts[index] += 1
                rowOfOccurrence.append(index)
            } else {
                row[occurrence.fingerprint] = fingerprints.count
                rowOfOccurrence.append(fingerprints.count)
                fingerprints.append(occurrence.fingerprint)
                firstSeen.append(occurrence.seenAt)
                lastSeen.append(occurrence.seenAt)
                counts.append(1)
            }
        }
    }

    /// Each occurrence's record, in call order, from the rows the statement returned
    /// (each fingerprint's record after the whole batch). The k occurrences of one
    /// fingerprint get the counts `final - k + 1 … final` in order: the statement added k
    /// at once, so no other writer's count falls between them. Their first and last seen
    /// are the record's after the batch (an occurrence early in the batch may see the
    /// last-seen time of a later one).
    /// - Throws: ``DedupDataError`` when a fingerprint has no returned row.
    func records(returned: [String: DedupRecord]) throws -> [DedupRecord] {
        var seen = [Int](repeating: 0, count: fingerprints.count)
        return try zip(occurrences, rowOfOccurrence).map { occurrence, row in
            guard var record = returned[occurrence.fingerprint] else {
                throw DedupDataError(problem: "the upsert of `\(occurrence.fingerprint)` returned no row")
            }
            seen[row] += 1
            record.occurrences = record.occurrences - Int(counts[row]) + seen[row]
            return record
        }
    }
}

/// Coalesces concurrent dedup writes into one statement: a caller that finds no statement
/// running yields once (so that callers started with it join it) and writes; callers
/// arriving while a statement runs wait and go together in the next one (at most
/// ``maxBatch``), written by one of them. No timer and no task of its own: under no load
/// every call is a statement of one, as before; under load one statement and one round
/// trip serve many alerts instead of one each.
final class DedupBatcher: Sendable {
    /// Why a waiting caller is resumed.
    private enum Turn: Sendable {
        /// Its occurrence was written in another caller's batch.
        case done(DedupRecord)
        /// The batch before finished: it writes the next one.
        case lead
        /// No statement was running when it came: it writes the next one, after a yield.
        case leadAtOnce
    }

    private struct Waiter: Sendable {
        let occurrence: DedupOccurrence
        let continuation: CheckedContinuation<Turn, any Error>
    }

    private struct State: Sendable {
        var writing = false
        var waiting: [Waiter] = []
    }

    /// The most occurrences written by one statement.
    let maxBatch: Int
    private let state = LockedValue(State())
    /// Writes a batch; returns each occurrence's record, in order.
    private let write: @Sendable ([DedupOccurrence]) async throws -> [DedupRecord]
    /// `breakwater_dedup_batch_size`: occurrences per statement.
    private let batchSize: Recorder

    init(
        maxBatch: Int, metricsFactory: any MetricsFactory = MetricsSystem.factory,
        write: @escaping @Sendable ([DedupOccurrence]) async throws -> [DedupRecord]
    ) {
        self.maxBatch = max(maxBatch, 1)
        self.write = write
        self.batchSize = Recorder(label: MetricNames.dedupBatchSize, factory: metricsFactory)
    }

    /// How many callers wait for the statement running now to end.
    var waiting: Int { state.withLock { $0.waiting.count } }

    /// Records `occurrence`, alone or with the others waiting.
    /// - Throws: what the statement its occurrence went in threw (every occurrence of a
    ///   failed batch gets the error: as with one statement each, it may or may not have
    ///   been counted).
    func record(_ occurrence: DedupOccurrence) async throws -> DedupRecord {
        let turn: Turn = try await withCheckedThrowingContinuation { continuation in
            let leadNow = state.withLock { state in
                if state.writing {
                    state.waiting.append(Waiter(occurrence: occurrence, continuation: continuation))
                    return false
                }
                state.writing = true
                return true
            }
            if leadNow { continuation.resume(returning: .leadAtOnce) }
        }
        switch turn {
        case .done(let record):
            return record
        case .lead:
            return try await lead(with: occurrence)
        case .leadAtOnce:
            // Callers come in bursts (a batch of ML answers lets as many records start
            // together): the first to come would write a statement of one while the rest
            // queued behind it, half of all statements on the full path. Yielding once
            // lets the burst reach the queue first.
            await Task.yield()
            return try await lead(with: occurrence)
        }
    }

    /// Writes `own` with up to `maxBatch - 1` waiting occurrences, answers their callers,
    /// then hands the writing over to the next waiter, if any.
    private func lead(with own: DedupOccurrence) async throws -> DedupRecord {
        let others: [Waiter] = state.withLock { state in
            let taken = Array(state.waiting.prefix(maxBatch - 1))
            state.waiting.removeFirst(taken.count)
            return taken
        }
        let occurrences = [own] + others.map(\.occurrence)
        batchSize.record(occurrences.count)
        let outcome: Result<[DedupRecord], any Error>
        do {
            let records = try await write(occurrences)
            guard records.count == occurrences.count else {
                throw DedupDataError(problem: "a batch of \(occurrences.count) occurrences returned \(records.count) records")
            }
            outcome = .success(records)
        } catch {
            outcome = .failure(error)
        }
        switch outcome {
        case .success(let records):
            for (waiter, record) in zip(others, records.dropFirst()) { waiter.continuation.resume(returning: .done(record)) }
        case .failure(let error):
            for waiter in others { waiter.continuation.resume(throwing: error) }
        }
        let next: Waiter? = state.withLock { state in
            guard !state.waiting.isEmpty else {
                state.writing = false
                return nil
            }
            return state.waiting.removeFirst()
        }
        next?.continuation.resume(returning: .lead)
        return try outcome.get()[0]
    }
}
