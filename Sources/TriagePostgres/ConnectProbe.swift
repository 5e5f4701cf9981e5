import Locking
import Triage

/// What ``PostgresPool`` knows about reaching the database when its own connections have
/// not proved it, so that operations fail at once while the database refuses connections
/// instead of each waiting out the operation deadline.
///
/// postgres-nio's pool keeps a request queued while it retries connecting; only the
/// deadline (5 s by default) ends it. A worker starting while PostgreSQL is down admitted
/// its whole in-flight bound of records, each waiting those 5 s for its catalog lookup
/// before the breaker could open: the pipeline stood still. With the probe, operations
/// share direct connection attempts, one at a time, and a refusal fails them within an
/// attempt's round trip (two for one arriving while an older attempt runs).
///
/// - One attempt at a time. An operation only takes the verdict of an attempt that
///   started after it arrived: one arriving while an older attempt runs waits for it to
///   end, then starts (or joins) the next one, shared by every operation waiting then.
///   A finished attempt is never reused, so a database that came back is found at once,
///   and a refusal seen before the database came back fails no operation that arrived
///   after. A refusal fails the waiting operations; a connection that did not answer in
///   time (a partition) tells nothing and leaves them to the deadline.
/// - A connection that succeeded, or any operation that got an answer from the database,
///   proves it reachable: no probing until an operation fails to reach it again
///   (``lostContact()``).
///
/// No I/O of its own: the owner passes the attempt.
final class ConnectProbe: Sendable {
    /// What one connection attempt found.
    enum Verdict: Sendable {
        /// The database refused (or rejected) the connection: the error it failed with.
        case refused(any Error)
        /// It connected: the database is reachable.
        case reachable
        /// No answer within the attempt's bound: nothing learnt.
        case noAnswer
    }

    private struct State {
        /// Reachable as far as anyone knows: operations do not wait for an attempt.
        var proven = false
        /// The attempt running, if any, and its number.
        var running: (number: Int, verdict: FirstOffer<Verdict>)?
        /// The number the next attempt gets.
        var nextNumber = 0
        /// Operations waiting for an attempt's verdict.
        var waiting = 0
    }

    private let attempt: @Sendable () async -> Verdict
    private let state = LockedValue(State())

    /// - Parameter attempt: one direct connection attempt, bounded by the owner; it must
    ///   close what it opened.
    init(attempt: @escaping @Sendable () async -> Verdict) {
        self.attempt = attempt
    }

    /// Whether the database is known to be reachable: callers then need not ask
    /// ``refusal()`` at all.
    var isProven: Bool { state.withLock { $0.proven } }

    /// How many operations wait for an attempt's verdict now.
    var waitingOperations: Int { state.withLock { $0.waiting } }

    /// The error connecting fails with right now, or `nil` when the database is reachable
    /// or the attempt did not answer. Waits for an attempt that started after this call
    /// began (see the type's documentation).
    func refusal() async -> (any Error)? {
        var earliest: Int?
        while true {
            enum Next {
                case answer((any Error)?)
                case wait(FirstOffer<Verdict>, number: Int, starting: Bool)
            }
            let next = state.withLock { state -> Next in
                if state.proven { return .answer(nil) }
                if earliest == nil { earliest = state.nextNumber }
                state.waiting += 1
                if let running = state.running { return .wait(running.verdict, number: running.number, starting: false) }
                let started = (number: state.nextNumber, verdict: FirstOffer<Verdict>())
                state.nextNumber += 1
                state.running = started
                return .wait(started.verdict, number: started.number, starting: true)
            }
            let (verdict, number, starting): (FirstOffer<Verdict>, Int, Bool)
            switch next {
            case .answer(let error): return error
            case .wait(let offer, let attemptNumber, let isStarting): (verdict, number, starting) = (offer, attemptNumber, isStarting)
            }
            if starting {
                // Unstructured: the attempt serves every waiter, whichever of them is
                // cancelled first; the owner bounds how long it takes.
                Task {
                    let found = await attempt()
                    settle(number, verdict, with: found)
                }
            }
            let found = await verdict.value()
            state.withLock { $0.waiting -= 1 }
            // An attempt that started before this call began may predate a recovery.
            guard number >= (earliest ?? 0) else { continue }
            if case .refused(let error) = found { return error }
            return nil
        }
    }

    /// An operation got an answer from the database (a result or a server error).
    func succeeded() {
        state.withLock { $0.proven = true }
    }

    /// An operation could not reach the database (unreachable, connection lost, deadline):
    /// the next operations find out again.
    func lostContact() {
        state.withLock { $0.proven = false }
    }

    private func settle(_ number: Int, _ verdict: FirstOffer<Verdict>, with found: Verdict) {
        state.withLock { state in
            if state.running?.number == number { state.running = nil }
            // A refusal does not undo a proof an operation made meanwhile.
            if case .reachable = found { state.proven = true }
        }
        verdict.offer(found)
    }
}
