/// A say over a breaker that is shared with its peers, such as the other workers of a
/// fleet (``BreakerFleet``).
///
/// A breaker with a coordinator (``CircuitBreaker/coordinate(with:)``) asks it when its
/// open duration is over, before it turns half-open: a coordinator that answers `false`
/// keeps it open, rejecting calls with ``RejectionReason/fleetOpen``, until it answers
/// `true` or a peer's verdict closes it (``CircuitBreaker/closeOnPeerAdvice()``).
/// Peers open it with ``CircuitBreaker/openOnPeerAdvice()``. Its own failures open it
/// as without a coordinator: a coordinator can keep a breaker open longer, never shut it
/// sooner, except by relaying a peer's successful probe.
public protocol CircuitBreakerCoordinator: AnyObject, Sendable {
    /// Whether the breaker named `breaker` may turn half-open and send its probes now.
    ///
    /// Called without the breaker's lock, on the calling task, possibly for every call
    /// while the answer is `false`: keep it cheap, never block, and do not call back into
    /// the breaker.
    func mayProbe(_ breaker: String) -> Bool
}
