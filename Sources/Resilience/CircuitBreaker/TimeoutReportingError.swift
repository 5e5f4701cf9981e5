/// An error by which an operation says it ran out of time on its own: an HTTP client's
/// deadline, a statement timeout. A breaker records such an error as a timeout (call
/// outcome `timeout`, fallback reason `timeout`) rather than as a plain failure, so
/// "the dependency is slow" and "the dependency is broken" stay apart in metrics and
/// fallback events even when the timeout is enforced below the breaker.
public protocol TimeoutReportingError: Error {
    /// How long the operation waited before giving up; `nil` when this error is not a timeout.
    var timedOutAfter: Duration? { get }
}
