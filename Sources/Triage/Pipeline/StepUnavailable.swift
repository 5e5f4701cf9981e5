import Resilience

/// A step's dependency did not answer a call made without a fallback (a heal): the
/// breaker or a protection part refused it, or the dependency failed or timed out.
public struct StepUnavailable: Error, Sendable, CustomStringConvertible {
    /// The step whose dependency did not answer.
    public let step: HealableStep
    /// Why, in a few words (`rejected: open`, `timed out after 0.5 s`, the error).
    public let reason: String

    /// A failure of `step`'s dependency, for `reason`.
    public init(_ step: HealableStep, reason: String) {
        self.step = step
        self.reason = reason
    }

    /// The failure a call's `outcome` (anything but a success) stands for.
    init<T>(_ step: HealableStep, _ outcome: CallOutcome<T>) {
        switch outcome {
        case .success: self.init(step, reason: "answered")
        case .rejected(let reason): self.init(step, reason: "rejected: \(reason)")
        case .timedOut(let after): self.init(step, reason: "timed out after \(after)")
        case .failure(let error), .ignoredFailure(let error): self.init(step, reason: "\(error)")
        }
    }

    /// `<step> unavailable: <reason>`.
    public var description: String { "\(step.rawValue) unavailable: \(reason)" }
}
