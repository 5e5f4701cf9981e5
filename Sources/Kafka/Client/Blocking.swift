import Dispatch
import Foundation
import Locking
import Synchronization

/// Runs a blocking librdkafka call on a Dispatch queue, never on Swift's cooperative
/// thread pool, and resumes the caller with its result.
func runBlocking<T: Sendable>(
    on queue: DispatchQueue,
    _ body: @escaping @Sendable () throws(KafkaError) -> T
) async throws(KafkaError) -> T {
    let result: Result<T, KafkaError> = await withCheckedContinuation { continuation in
        queue.async {
            do throws(KafkaError) {
                continuation.resume(returning: .success(try body()))
            } catch {
                continuation.resume(returning: .failure(error))
            }
        }
    }
    return try result.get()
}

/// A thread that calls `body` until ``stop()``: used to serve a client's event queue
/// (delivery reports, logs, errors) with blocking polls.
final class PollingThread: Sendable {
    private let stopped = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)

    init(name: String, body: @escaping @Sendable () -> Void) {
        let thread = Thread { [self] in
            while !stopped.load(ordering: .acquiring) { body() }
            finished.signal()
        }
        thread.name = name
        thread.start()
    }

    /// Stops the loop and waits for the current `body` call to return (blocking).
    func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        finished.wait()
    }
}

/// Counts free slots for in-flight work; ``acquire()`` suspends while none is free.
final class AsyncPermits: Sendable {
    private struct State {
        var available: Int
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
        var nextID: UInt64 = 0
    }

    private let state: LockedValue<State>
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 1)
        state = LockedValue(State(available: self.capacity))
    }

    /// Slots taken now.
    var inUse: Int { capacity - state.withLock { $0.available } }

    /// Takes a slot, waiting for one to free up.
    /// - Throws: `CancellationError` when the task is cancelled while waiting.
    func acquire() async throws {
        let id: UInt64? = state.withLock { state in
            if state.available > 0 {
                state.available -= 1
                return nil
            }
            state.nextID += 1
            return state.nextID
        }
        guard let id else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let cancelled = state.withLock { state in
                    // A release may have happened between the two locks.
                    if state.available > 0 {
                        state.available -= 1
                        return Optional(false)
                    }
                    if Task.isCancelled { return Optional(true) }
                    state.waiters.append((id, continuation))
                    return nil
                }
                switch cancelled {
                case .some(true): continuation.resume(throwing: CancellationError())
                case .some(false): continuation.resume()
                case .none: break
                }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    /// Frees a slot, handing it to the oldest waiter if there is one.
    func release() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            if state.waiters.isEmpty {
                state.available += 1
                return nil
            }
            return state.waiters.removeFirst().continuation
        }
        waiter?.resume()
    }
}
