import Locking
import Synchronization

/// Something a breaker reports to its observers.
public enum CircuitBreakerEvent: Sendable {
    /// The breaker moved from one state to another (`at`: clock offset).
    case stateChanged(breaker: String, from: CircuitBreakerState, to: CircuitBreakerState, at: Duration)
    /// A call was rejected (`at`: clock offset).
    case rejected(breaker: String, reason: RejectionReason, at: Duration)
    /// A fallback ran for a call guarded by this breaker.
    case fallbackExecuted(FallbackExecution)
    /// A failure (or timeout) was counted while closed and did not open the breaker;
    /// `consecutiveFailures` is the streak it extended (`at`: clock offset). An opening
    /// is reported as ``stateChanged(breaker:from:to:at:)`` instead.
    case failureCounted(breaker: String, consecutiveFailures: Int, at: Duration)
}

/// A handle returned by ``CircuitBreaker/addListener(_:)``; pass it to
/// ``CircuitBreaker/removeListener(_:)`` to stop listening.
public struct ListenerToken: Sendable, Hashable {
    let id: Int
}

/// Fan-out of events to AsyncStream subscribers and listener closures.
///
/// `hasObservers` is an atomic flag so the hot path pays one relaxed load when nobody
/// listens; events are delivered outside the breaker's lock.
final class EventHub: Sendable {
    private enum Observer: Sendable {
        case stream(AsyncStream<CircuitBreakerEvent>.Continuation)
        case listener(@Sendable (CircuitBreakerEvent) -> Void)
    }

    private struct Observers: Sendable {
        var nextID = 0
        var all: [Int: Observer] = [:]
    }

    private let observers = LockedValue(Observers())
    private let observerCount = Atomic<Int>(0)
    private let bufferSize: Int

    init(bufferSize: Int) {
        self.bufferSize = bufferSize
    }

    @inline(__always)
    var hasObservers: Bool { observerCount.load(ordering: .relaxed) > 0 }

    func stream() -> AsyncStream<CircuitBreakerEvent> {
        let (stream, continuation) = AsyncStream<CircuitBreakerEvent>.makeStream(bufferingPolicy: .bufferingNewest(bufferSize))
        let id = add(.stream(continuation))
        continuation.onTermination = { [weak self] _ in self?.remove(id) }
        return stream
    }

    func addListener(_ listener: @escaping @Sendable (CircuitBreakerEvent) -> Void) -> ListenerToken {
        ListenerToken(id: add(.listener(listener)))
    }

    func remove(_ id: Int) {
        observers.withLock { state in
            if state.all.removeValue(forKey: id) != nil {
                observerCount.subtract(1, ordering: .relaxed)
            }
        }
    }

    func emit(_ event: CircuitBreakerEvent) {
        guard hasObservers else { return }
        let targets = observers.withLock { Array($0.all.values) }
        for target in targets {
            switch target {
            case .stream(let continuation):
                continuation.yield(event)
            case .listener(let listener):
                listener(event)
            }
        }
    }

    func finish() {
        let targets = observers.withLock { state -> [Observer] in
            let all = Array(state.all.values)
            state.all.removeAll()
            observerCount.store(0, ordering: .relaxed)
            return all
        }
        for case .stream(let continuation) in targets {
            continuation.finish()
        }
    }

    private func add(_ observer: Observer) -> Int {
        observers.withLock { state in
            state.nextID += 1
            state.all[state.nextID] = observer
            observerCount.add(1, ordering: .relaxed)
            return state.nextID
        }
    }
}
