import Locking
import Triage

/// What ``PostgresPool`` knows about reaching the database when its own connections have
/// not proved it, so that operations fail at once while the database refuses connections
/// instead of each waiting out the operation deadline.
///
/// postgres-nio's pool keeps a request queued while it retries connecting; only the
/// deadline (5 s by default) ends it. A worker starting while PostgreSQL is down admitted
/// its whole in-flight bound of records, each waiting those 5 s for its catalog lookup
/// before the breaker could open: the pipeline stood still. With the probe, the first
/// operation makes one direct connection attempt, every operation arriving meanwhile
/// shares its result, and a refusal fails them all within the attempt's round trip.
///
/// - One attempt at a time; an operation arriving while one runs waits for its verdict
///   (it comes after the operation began, so it is news), otherwise it starts one. A
///   finished attempt is never reused: a database that came back is found at once. A
///   refusal fails the waiting operations; a connection that did not answer in time (a
///   partition) tells nothing and leaves them to the deadline.
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

    private enum State {
        /// Reachable as far as anyone knows: operations do not wait for a probe.
        case proven
        /// Nothing known (at start, or after an operation failed to reach the database).
        case unknown
        /// An attempt is running; its waiters get its verdict.
        case probing(FirstOffer<Verdict>)
    }

    private let attempt: @Sendable () async -> Verdict
    private let state = LockedValue(State.unknown)

    /// - Parameter attempt: one direct connection attempt, bounded by the owner; it must
    ///   close what it opened.
    init(attempt: @escaping @Sendable () async -> Verdict) {
        self.attempt = attempt
    }

    /// Whether the database is known to be reachable: callers then need not ask
    /// ``refusal()`` at all.
    var isProven: Bool {
        state.withLock { if case .proven = $0 { true } else { false } }
    }

    /// The error connecting fails with right now, or `nil` when the database is reachable
    /// or the attempt did not answer. Waits for the running attempt, or starts one.
    func refusal() async -> (any Error)? {
        enum Next {
            case answer((any Error)?)
            case wait(FirstOffer<Verdict>, starting: Bool)
        }
        let next = state.withLock { state -> Next in
            switch state {
            case .proven:
                return .answer(nil)
            case .probing(let running):
                return .wait(running, starting: false)
            case .unknown:
                let running = FirstOffer<Verdict>()
                state = .probing(running)
                return .wait(running, starting: true)
            }
        }
        switch next {
        case .answer(let error):
            return error
        case .wait(let running, let starting):
            if starting {
                // Unstructured: the attempt serves every waiter, whichever of them is
                // cancelled first; the owner bounds how long it takes.
                Task {
                    let verdict = await attempt()
                    settle(running, with: verdict)
                }
            }
            if case .refused(let error) = await running.value() { return error }
            return nil
        }
    }

    /// An operation got an answer from the database (a result or a server error).
    func succeeded() {
        state.withLock { $0 = .proven }
    }

    /// An operation could not reach the database (unreachable, connection lost, deadline):
    /// the next operations find out again.
    func lostContact() {
        state.withLock { if case .proven = $0 { $0 = .unknown } }
    }

    private func settle(_ running: FirstOffer<Verdict>, with verdict: Verdict) {
        state.withLock { state in
            // Only the attempt in charge settles; an operation may have proved the
            // database reachable meanwhile.
            guard case .probing(let current) = state, current === running else { return }
            if case .reachable = verdict { state = .proven } else { state = .unknown }
        }
        running.offer(verdict)
    }
}
