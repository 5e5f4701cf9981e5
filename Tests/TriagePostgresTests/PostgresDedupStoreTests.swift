import Foundation
import ServiceTestSupport
import Testing
import Triage
@testable import TriagePostgres
import TriageTestSupport

@Suite(.enabled(if: ExternalService.postgres.shouldRun), .timeLimit(.minutes(3)))
struct PostgresDedupStoreTests {
    @Test(arguments: [true, false])
    func countsRepeatedOccurrences(preparedStatements: Bool) async throws {
        try await withPool { pool in
            let store = PostgresDedupStore(pool: pool, preparedStatements: preparedStatements)
            try await store.migrate()
            let fingerprint = uniqueName("fp")
            let t0 = Date(timeIntervalSince1970: 1_800_000_000)
            #expect(try await store.lookup(fingerprint: fingerprint) == nil)
            let first = try await store.record(fingerprint: fingerprint, seenAt: t0)
            #expect(first == DedupRecord(fingerprint: fingerprint, firstSeen: t0, lastSeen: t0, occurrences: 1))
            for minute in 1...4 {
                _ = try await store.record(fingerprint: fingerprint, seenAt: t0.addingTimeInterval(Double(minute) * 60))
            }
            // An out-of-order, older delivery moves first_seen back but not last_seen.
            let last = try await store.record(fingerprint: fingerprint, seenAt: t0.addingTimeInterval(-30))
            #expect(last == DedupRecord(
                fingerprint: fingerprint, firstSeen: t0.addingTimeInterval(-30), lastSeen: t0.addingTimeInterval(240), occurrences: 6
            ))
            #expect(try await store.lookup(fingerprint: fingerprint) == last)
            // Lookup is read-only.
            #expect(try await store.lookup(fingerprint: fingerprint) == last)
        }
    }

    @Test(arguments: [true, false])
    func theUpsertIsPreparedOnTheConnectionOnlyWhenConfigured(preparedStatements: Bool) async throws {
        // One connection: the upsert and the look at its prepared statements share it.
        try await withPool({ $0.poolSize = 1 }) { pool in
            let store = PostgresDedupStore(pool: pool, preparedStatements: preparedStatements)
            try await store.migrate()
            _ = try await store.record(fingerprint: uniqueName("prep"), seenAt: Date(timeIntervalSince1970: 1_800_000_000))
            let prepared = try await pool.withConnection("test") { connection in
                let rows = try await connection.query(
                    "SELECT count(*) FROM pg_prepared_statements WHERE name = \(DedupUpsert.name)", logger: .init(label: "test"))
                var count: Int64 = -1
                for try await (value) in rows.decode(Int64.self) { count = value }
                return count
            }
            #expect(prepared == (preparedStatements ? 1 : 0))
        }
    }

    @Test func concurrentUpsertsOfOneFingerprintLoseNoCount() async throws {
        try await withPool({ $0.poolSize = 8 }) { pool in
            let store = PostgresDedupStore(pool: pool)
            try await store.migrate()
            let fingerprint = uniqueName("storm")
            let t0 = Date(timeIntervalSince1970: 1_800_000_000)
            let writers = 16
            let perWriter = 25
            let counts = try await withThrowingTaskGroup(of: [Int].self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        var seen: [Int] = []
                        for index in 0..<perWriter {
                            let at = t0.addingTimeInterval(Double(writer * perWriter + index))
                            seen.append(try await store.record(fingerprint: fingerprint, seenAt: at).occurrences)
                        }
                        return seen
                    }
                }
                var all: [Int] = []
                for try await seen in group { all += seen }
                return all
            }
            let total = writers * perWriter
            // Every upsert saw a distinct count: 1…total, each exactly once.
            #expect(counts.sorted() == Array(1...total))
            let record = try #require(try await store.lookup(fingerprint: fingerprint))
            #expect(record.occurrences == total)
            #expect(record.firstSeen == t0)
            #expect(record.lastSeen == t0.addingTimeInterval(Double(total - 1)))
        }
    }

    @Test(arguments: [true, false])
    func concurrentUpsertsOfSeveralFingerprintsInOneStatementKeepEachCount(preparedStatements: Bool) async throws {
        try await withPool { pool in
            // Statements of up to 8 occurrences: 60 concurrent callers make several batches
            // mixing the three fingerprints, repeated within a batch.
            let store = PostgresDedupStore(pool: pool, maxBatch: 8, preparedStatements: preparedStatements)
            try await store.migrate()
            let fingerprints = [uniqueName("m1"), uniqueName("m2"), uniqueName("m3")]
            let t0 = Date(timeIntervalSince1970: 1_800_000_000)
            let results = try await withThrowingTaskGroup(of: DedupRecord.self) { group in
                for index in 0..<60 {
                    group.addTask {
                        try await store.record(fingerprint: fingerprints[index % 3], seenAt: t0.addingTimeInterval(Double(index)))
                    }
                }
                var all: [DedupRecord] = []
                for try await record in group { all.append(record) }
                return all
            }
            for (offset, fingerprint) in fingerprints.enumerated() {
                let mine = results.filter { $0.fingerprint == fingerprint }
                #expect(mine.map(\.occurrences).sorted() == Array(1...20))
                let record = try #require(try await store.lookup(fingerprint: fingerprint))
                #expect(record.occurrences == 20)
                #expect(record.firstSeen == t0.addingTimeInterval(Double(offset)))
                #expect(record.lastSeen == t0.addingTimeInterval(Double(57 + offset)))
            }
        }
    }

    @Test func twoWorkersBatchingTheSameFingerprintsLoseNoCount() async throws {
        // Two stores on two pools are two workers: each writes the same 12 fingerprints in
        // batches, one mostly in ascending order of arrival and one in descending. (The
        // statement orders its rows so that two such statements lock in the same order; a
        // deadlock between them needs an interleaving this test cannot force: without the
        // ordering it passed 3 runs of 3 too.)
        try await withPool({ $0.poolSize = 4 }) { first in
            try await withPool({ $0.poolSize = 4 }) { second in
                let stores = [PostgresDedupStore(pool: first, maxBatch: 12), PostgresDedupStore(pool: second, maxBatch: 12)]
                try await stores[0].migrate()
                let fingerprints = (0..<12).map { uniqueName("lock\($0)") }
                let t0 = Date(timeIntervalSince1970: 1_800_000_000)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (index, store) in stores.enumerated() {
                        let order = index == 0 ? fingerprints : fingerprints.reversed()
                        for round in 0..<20 {
                            for fingerprint in order {
                                group.addTask { _ = try await store.record(fingerprint: fingerprint, seenAt: t0.addingTimeInterval(Double(round))) }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                for fingerprint in fingerprints {
                    #expect(try await stores[0].lookup(fingerprint: fingerprint)?.occurrences == 40)
                }
            }
        }
    }

    @Test func fingerprintsAreIndependent() async throws {
        try await withPool { pool in
            let store = PostgresDedupStore(pool: pool)
            try await store.migrate()
            let a = uniqueName("a"), b = uniqueName("b")
            let now = Date(timeIntervalSince1970: 1_800_000_000)
            _ = try await store.record(fingerprint: a, seenAt: now)
            _ = try await store.record(fingerprint: a, seenAt: now)
            #expect(try await store.record(fingerprint: b, seenAt: now).occurrences == 1)
            #expect(try await store.lookup(fingerprint: a)?.occurrences == 2)
        }
    }
}
