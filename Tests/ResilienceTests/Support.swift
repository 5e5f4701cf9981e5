import Resilience
import Locking
import Synchronization

struct TestError: Error, Equatable, CustomStringConvertible {
    var id = 0
    var description: String { "TestError(\(id))" }
}

struct IgnoredError: Error {}

/// A thread-safe counter for closures that must be `@Sendable`.
final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    func increment() { value.add(1, ordering: .relaxed) }
    var count: Int { value.load(ordering: .relaxed) }
}

/// A thread-safe list of values collected from listeners.
final class Collected<T: Sendable>: Sendable {
    private let items = LockedValue<[T]>([])
    func append(_ item: T) { items.withLock { $0.append(item) } }
    var all: [T] { items.withLock { $0 } }
}

@discardableResult
func succeed(_ breaker: CircuitBreaker) async -> CallOutcome<Int> {
    await breaker.execute { 1 }
}

@discardableResult
func fail(_ breaker: CircuitBreaker, _ error: any Error = TestError()) async -> CallOutcome<Int> {
    await breaker.execute { () async throws -> Int in throw error }
}

extension CallOutcome {
    var isRejected: Bool {
        if case .rejected = self { return true }
        return false
    }

    var rejection: RejectionReason? {
        if case .rejected(let reason) = self { return reason }
        return nil
    }

    var isSuccess: Bool {
        if case .success = self { return true }
        return false
    }

    var isTimeout: Bool {
        if case .timedOut = self { return true }
        return false
    }

    var isIgnored: Bool {
        if case .ignoredFailure = self { return true }
        return false
    }

    var isFailure: Bool {
        if case .failure = self { return true }
        return false
    }
}

extension CircuitBreaker.PermitDecision {
    var permit: CircuitBreaker.Permit? {
        if case .granted(let permit) = self { return permit }
        return nil
    }
}
