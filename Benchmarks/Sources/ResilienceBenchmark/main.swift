// Release-built benchmark of the circuit breaker's hot paths next to a bare
// `Synchronization.Mutex` consecutive-failure breaker measured in the same run.
//
//   swift run -c release --package-path Benchmarks ResilienceBenchmark [iterations]
//
// For each case it runs alternating rounds (baseline, ours, baseline, ours, …), takes
// the median ns/call over the rounds and counts malloc-family calls per call with an
// interposed allocator. Exits non-zero when a target is missed.
import MallocCounter
import Resilience
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Baseline: the plainest correct breaker

enum BaselineError: Error {
    case open
    case failed
}

final class MutexBreaker: Sendable {
    struct State {
        var consecutiveFailures = 0
        var openedAt: ContinuousClock.Instant?
    }

    let state = Mutex(State())
    let threshold = 5
    let openDuration: Duration = .seconds(60)

    func call<T>(_ operation: () async throws -> T) async throws(BaselineError) -> T {
        let admitted = state.withLock { state -> Bool in
            guard let openedAt = state.openedAt else { return true }
            if ContinuousClock.now - openedAt < openDuration { return false }
            state.openedAt = nil
            state.consecutiveFailures = 0
            return true
        }
        guard admitted else { throw .open }
        do {
            let value = try await operation()
            state.withLock { $0.consecutiveFailures = 0 }
            return value
        } catch {
            state.withLock { state in
                state.consecutiveFailures += 1
                if state.consecutiveFailures >= threshold { state.openedAt = .now }
            }
            throw .failed
        }
    }
}

// MARK: - Harness

@inline(never)
func blackHole<T>(_ value: T) {
    withExtendedLifetime(value) {}
}

struct Measurement {
    var nanosecondsPerCall: Double
    var allocationsPerCall: Double
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted[sorted.count / 2]
}

/// Runs `body(iterations)` `rounds` times; returns the median ns/call and the
/// allocations per call of the last round.
func measure(rounds: Int, iterations: Int, _ body: (Int) async -> Void) async -> Measurement {
    var times: [Double] = []
    var allocations = 0.0
    for _ in 0..<rounds {
        let before = malloc_counter_allocations()
        let start = ContinuousClock.now
        await body(iterations)
        let elapsed = ContinuousClock.now - start
        let after = malloc_counter_allocations()
        let (seconds, attoseconds) = elapsed.components
        times.append((Double(seconds) * 1e9 + Double(attoseconds) / 1e9) / Double(iterations))
        allocations = Double(after - before) / Double(iterations)
    }
    return Measurement(nanosecondsPerCall: median(times), allocationsPerCall: allocations)
}

struct Row {
    var name: String
    var ours: Measurement
    var baseline: Measurement
    /// Median over rounds of (ours / baseline) measured back to back: robust to load
    /// changes on a shared machine, unlike a ratio of medians.
    var ratio: Double
    var target: Double

    var met: Bool { ratio <= target && ours.allocationsPerCall == 0 }
}

// MARK: - Cases

// The allocation counter must see a known allocation, or "0 allocations" means nothing.
do {
    let before = malloc_counter_allocations()
    blackHole([Int](repeating: 1, count: 1_000))
    guard malloc_counter_allocations() > before else {
        print("allocation counting does not work on this platform (needs glibc); aborting")
        exit(2)
    }
}

let iterations = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 100_000
let rounds = 41

let closedBreaker = try CircuitBreaker(name: "bench-closed")
let closedBaseline = MutexBreaker()
let openBreaker = try CircuitBreaker(name: "bench-open")
let openBaseline = MutexBreaker()
struct Failure: Error {}
for _ in 0..<5 {
    _ = await openBreaker.execute { () async throws -> Int in throw Failure() }
    _ = try? await openBaseline.call { () async throws -> Int in throw Failure() }
}
precondition(openBreaker.state == .open, "the open case needs an open breaker")

func oursClosed(_ n: Int) async {
    var sum = 0
    for index in 0..<n {
        sum &+= (try? await closedBreaker.call { index }) ?? 0
    }
    blackHole(sum)
}

func baselineClosed(_ n: Int) async {
    var sum = 0
    for index in 0..<n {
        sum &+= (try? await closedBaseline.call { index }) ?? 0
    }
    blackHole(sum)
}

func oursOpenThrowing(_ n: Int) async {
    var rejected = 0
    for index in 0..<n {
        do {
            _ = try await openBreaker.call { index }
        } catch {
            rejected &+= 1
        }
    }
    blackHole(rejected)
}

func oursOpenOutcome(_ n: Int) async {
    var rejected = 0
    for index in 0..<n {
        if case .rejected = await openBreaker.execute({ index }) { rejected &+= 1 }
    }
    blackHole(rejected)
}

func baselineOpen(_ n: Int) async {
    var rejected = 0
    for index in 0..<n {
        do {
            _ = try await openBaseline.call { index }
        } catch {
            rejected &+= 1
        }
    }
    blackHole(rejected)
}

// Warm up every path once.
for body in [oursClosed, baselineClosed, oursOpenThrowing, oursOpenOutcome, baselineOpen] as [(Int) async -> Void] {
    await body(iterations / 10)
}

func compare(_ name: String, target: Double, ours: (Int) async -> Void, baseline: (Int) async -> Void) async -> Row {
    var oursTimes: [Double] = []
    var baselineTimes: [Double] = []
    var oursAllocations = 0.0
    var baselineAllocations = 0.0
    for _ in 0..<rounds {
        let b = await measure(rounds: 1, iterations: iterations, baseline)
        let o = await measure(rounds: 1, iterations: iterations, ours)
        baselineTimes.append(b.nanosecondsPerCall)
        oursTimes.append(o.nanosecondsPerCall)
        baselineAllocations = max(baselineAllocations, b.allocationsPerCall)
        oursAllocations = max(oursAllocations, o.allocationsPerCall)
    }
    return Row(
        name: name,
        ours: Measurement(nanosecondsPerCall: median(oursTimes), allocationsPerCall: oursAllocations),
        baseline: Measurement(nanosecondsPerCall: median(baselineTimes), allocationsPerCall: baselineAllocations),
        ratio: median(zip(oursTimes, baselineTimes).map { $0 / $1 }),
        target: target
    )
}

let rows = [
    await compare("closed path (call)", target: 1.5, ours: oursClosed, baseline: baselineClosed),
    await compare("open rejection (execute → outcome)", target: 1.0, ours: oursOpenOutcome, baseline: baselineOpen),
    await compare("open rejection (call → throws)", target: 1.0, ours: oursOpenThrowing, baseline: baselineOpen),
]

func format(_ value: Double, _ digits: Int = 1) -> String {
    let scale = Double([1, 10, 100, 1000][min(digits, 3)])
    return String(Double((value * scale).rounded()) / scale)
}

print("ResilienceBenchmark: \(rounds) alternating rounds × \(iterations) calls; median ns/call; ratio = median of per-round ours/baseline; allocations = malloc calls per call (max over rounds)")
print("case | ours ns | baseline ns | ratio | target | ours allocs | baseline allocs | met")
for row in rows {
    print(
        "\(row.name) | \(format(row.ours.nanosecondsPerCall)) | \(format(row.baseline.nanosecondsPerCall)) | "
            + "\(format(row.ratio, 2))x | ≤\(format(row.target, 1))x | \(format(row.ours.allocationsPerCall, 3)) | "
            + "\(format(row.baseline.allocationsPerCall, 3)) | \(row.met ? "yes" : "NO")"
    )
}
let allMet = rows.allSatisfy(\.met)
print(allMet ? "all targets met" : "some targets missed")
if !allMet { exit(1) }
