#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whether the process has handlers in place for its signals.
///
/// libdispatch installs a signal source's handler on its manager thread some time after
/// `resume()` returns (about a millisecond on an idle machine, much longer on a loaded
/// one); until then the signal keeps the disposition the caller gave it, `SIG_IGN`, and a
/// signal arriving meanwhile is discarded. A command that logs that it starts only after
/// its handlers are in place never loses a stop sent once it has said so.
public enum SignalHandlers {
    /// Whether `signal` has a handler: neither ignored nor left to its default action.
    public static func isHandled(_ signal: Int32) -> Bool {
        var current = sigaction()
        guard sigaction(signal, nil, &current) == 0 else { return false }
        #if canImport(Glibc)
        let handler = current.__sigaction_handler.sa_handler
        #else
        let handler = current.__sigaction_u.__sa_handler
        #endif
        let address = unsafeBitCast(handler, to: Int.self)
        return address != unsafeBitCast(SIG_IGN, to: Int.self) && address != unsafeBitCast(SIG_DFL, to: Int.self)
    }

    /// Waits until every one of `signals` has a handler, looking every 200 µs.
    ///
    /// - Returns: `false` when `bound` passed first (or the task was cancelled): a signal
    ///   may then still be lost until the handlers arrive.
    public static func waitUntilHandled(_ signals: [Int32], within bound: Duration) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: bound)
        while !signals.allSatisfy(isHandled) {
            guard clock.now < deadline, !Task.isCancelled else { return false }
            try? await Task.sleep(for: .microseconds(200))
        }
        return true
    }
}
