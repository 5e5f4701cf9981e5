import Locking

/// A value decided once: the first ``offer(_:)`` wins and later offers are ignored.
/// Tasks awaiting ``value()`` before or after the decision all get it.
///
/// For racing work that may ignore cancellation against a deadline or the caller's own
/// cancellation without waiting for the loser, which a task group would do: each racer
/// offers its outcome, the caller awaits the first. Also a one-shot promise: offer a
/// `Result` to let waiters see a failure (``value()`` on such an offer gives the `Result`).
package final class FirstOffer<Value: Sendable>: Sendable {
    /// A task waiting for the decision.
    private enum Waiter {
        /// From ``value()``: only the decision resumes it.
        case decision(CheckedContinuation<Value, Never>)
        /// From ``valueUnlessCancelled()``: resumed with `nil` when its task is cancelled.
        case cancellable(CheckedContinuation<Value?, Never>)

        func resume(with value: Value) {
            switch self {
            case .decision(let continuation): continuation.resume(returning: value)
            case .cancellable(let continuation): continuation.resume(returning: value)
            }
        }
    }

    /// The waiters by ID. Nearly every offer has one waiter, the task that made it: kept
    /// inline, it costs no table, and resuming it no array.
    private struct Waiters {
        private var first: (id: Int, waiter: Waiter)?
        private var others: [Int: Waiter]?

        mutating func insert(_ waiter: Waiter, id: Int) {
            if first == nil {
                first = (id, waiter)
            } else {
                others = others ?? [:]
                others?[id] = waiter
            }
        }

        mutating func remove(id: Int) -> Waiter? {
            if let first, first.id == id {
                self.first = nil
                return first.waiter
            }
            return others?.removeValue(forKey: id)
        }

        var count: Int { (first == nil ? 0 : 1) + (others?.count ?? 0) }

        func resumeAll(with value: Value) {
            if let first { first.waiter.resume(with: value) }
            if let others {
                for waiter in others.values { waiter.resume(with: value) }
            }
        }
    }

    private enum State {
        case open(waiters: Waiters, nextID: Int)
        case decided(Value)

        /// Runs `body` on the waiters and the next ID while undecided, changing them in
        /// place (`nil` once decided): bound out of the enum and written back, the waiters'
        /// table would be shared by two values at each change and copied whole.
        mutating func whileOpen<R>(_ body: (inout Waiters, inout Int) -> R) -> R? {
            guard case .open(var waiters, var nextID) = self else { return nil }
            self = .open(waiters: Waiters(), nextID: 0)
            defer { self = .open(waiters: waiters, nextID: nextID) }
            return body(&waiters, &nextID)
        }
    }

    private let state = LockedValue(State.open(waiters: Waiters(), nextID: 0))

    /// Creates an undecided offer.
    package init() {}

    /// How many tasks are waiting for the decision (none once it is made).
    package var waitingCount: Int {
        state.withLock { if case .open(let waiters, _) = $0 { waiters.count } else { 0 } }
    }

    /// Whether an offer was made already.
    package var isDecided: Bool {
        state.withLock { if case .decided = $0 { true } else { false } }
    }

    /// Decides the value, unless it was decided already.
    /// - Returns: whether this offer was the first.
    @discardableResult
    package func offer(_ value: Value) -> Bool {
        let waiters = state.withLock { state -> Waiters? in
            guard case .open(let waiters, _) = state else { return nil }
            state = .decided(value)
            return waiters
        }
        waiters?.resumeAll(with: value)
        return waiters != nil
    }

    /// The decided value, waiting for the first offer if there is none yet. The wait
    /// ignores cancellation: make the caller's cancellation an offer if it must end it,
    /// or use ``valueUnlessCancelled()``.
    package func value() async -> Value {
        await withCheckedContinuation { continuation in
            if let decided = enqueue(.decision(continuation)) { continuation.resume(returning: decided) }
        }
    }

    /// The decided value, waiting for the first offer if there is none yet; `nil` when the
    /// calling task is cancelled before the decision (a decision made first wins).
    package func valueUnlessCancelled() async -> Value? {
        let id = state.withLock { state in
            state.whileOpen { _, nextID in
                defer { nextID += 1 }
                return nextID
            }
        }
        guard let id else { return decidedValue() }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let immediate = state.withLock { state -> Value?? in
                    if case .decided(let value) = state { return .some(value) }
                    if Task.isCancelled { return .some(nil) }
                    state.whileOpen { waiters, _ in waiters.insert(.cancellable(continuation), id: id) }
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let cancelled = state.withLock { state in
                state.whileOpen { waiters, _ in waiters.remove(id: id) } ?? nil
            }
            if case .cancellable(let continuation) = cancelled { continuation.resume(returning: nil) }
        }
    }

    /// Adds a waiter while undecided; returns the value instead when decided.
    private func enqueue(_ waiter: Waiter) -> Value? {
        state.withLock { state -> Value? in
            if case .decided(let value) = state { return value }
            state.whileOpen { waiters, nextID in
                waiters.insert(waiter, id: nextID)
                nextID += 1
            }
            return nil
        }
    }

    private func decidedValue() -> Value? {
        state.withLock { state in
            if case .decided(let value) = state { return value }
            return nil
        }
    }
}
