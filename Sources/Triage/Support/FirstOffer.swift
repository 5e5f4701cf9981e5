import Synchronization

/// A value decided once: the first ``offer(_:)`` wins and later offers are ignored.
/// Tasks awaiting ``value()`` before or after the decision all get it.
///
/// For racing work that may ignore cancellation against a deadline or the caller's own
/// cancellation without waiting for the loser, which a task group would do: each racer
/// offers its outcome, the caller awaits the first.
public final class FirstOffer<Value: Sendable>: Sendable {
    private enum State {
        case open(waiters: [CheckedContinuation<Value, Never>])
        case decided(Value)
    }

    private let state = Mutex(State.open(waiters: []))

    /// Creates an undecided offer.
    public init() {}

    /// Whether an offer was made already.
    public var isDecided: Bool {
        state.withLock { if case .decided = $0 { true } else { false } }
    }

    /// Decides the value, unless it was decided already.
    /// - Returns: whether this offer was the first.
    @discardableResult
    public func offer(_ value: Value) -> Bool {
        let waiters = state.withLock { state -> [CheckedContinuation<Value, Never>]? in
            guard case .open(let waiters) = state else { return nil }
            state = .decided(value)
            return waiters
        }
        waiters?.forEach { $0.resume(returning: value) }
        return waiters != nil
    }

    /// The decided value, waiting for the first offer if there is none yet. The wait
    /// ignores cancellation: make the caller's cancellation an offer if it must end it.
    public func value() async -> Value {
        await withCheckedContinuation { continuation in
            let decided = state.withLock { state -> Value? in
                switch state {
                case .decided(let value):
                    return value
                case .open(var waiters):
                    waiters.append(continuation)
                    state = .open(waiters: waiters)
                    return nil
                }
            }
            if let decided { continuation.resume(returning: decided) }
        }
    }
}
