import DequeModule
import Locking

/// A lock for async critical sections: ``withLock(_:)`` runs one body at a time, in
/// arrival order, across suspension points. Not reentrant; waiting is not cancellable.
final class AsyncSerialLock: Sendable {
    private struct State {
        var locked = false
        var waiters: Deque<CheckedContinuation<Void, Never>> = []
    }

    private let state = LockedValue(State())

    /// Runs `body` once every earlier holder has finished; releases even when it throws.
    func withLock<T: Sendable>(_ body: () async throws -> T) async rethrows -> T {
        await acquire()
        defer { release() }
        return try await body()
    }

    /// Runs `body` only if the lock is free right now, without waiting.
    /// - Returns: `body`'s result, or `nil` (not run) when the lock is held.
    func withLockIfAvailable<T>(_ body: () throws -> T) rethrows -> T? {
        let acquired = state.withLock { state in
            if state.locked { return false }
            state.locked = true
            return true
        }
        guard acquired else { return nil }
        defer { release() }
        return try body()
    }

    private func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquired = state.withLock { state in
                if state.locked {
                    state.waiters.append(continuation)
                    return false
                }
                state.locked = true
                return true
            }
            if acquired { continuation.resume() }
        }
    }

    private func release() {
        let next = state.withLock { state in
            if let next = state.waiters.popFirst() { return Optional(next) }
            state.locked = false
            return nil
        }
        // Ownership passes straight to the next waiter.
        next?.resume()
    }
}
