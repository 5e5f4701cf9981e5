/// How the classification step ranks alerts when the ML server's protection must turn
/// some away (see `AdaptivePolicy`): each alert's priority is the place of its
/// provisional severity in ``order``, so the severities listed first go to the rules
/// first and the last listed keeps the model's answer longest.
///
/// The provisional severity is known before the model is asked: the more severe of the
/// rules' verdict and the alert's own source severity (an alert that says it is
/// critical is treated as critical).
public struct SeverityAdmission: Sendable, Equatable {
    /// Every severity once, from the first turned away to the last.
    public let order: [Severity]
    private let priorities: [Severity: Int]

    /// The default order: info, low, medium, high, critical.
    public static let `default` = SeverityAdmission(uncheckedOrder: [.info, .low, .medium, .high, .critical])

    /// Creates the ranking `order` describes.
    /// - Returns: `nil` unless `order` names every severity exactly once.
    public init?(order: [Severity]) {
        guard order.count == Severity.allCases.count, Set(order).count == order.count else { return nil }
        self.init(uncheckedOrder: order)
    }

    private init(uncheckedOrder order: [Severity]) {
        self.order = order
        priorities = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, $0) })
    }

    /// How many priorities there are (one per severity).
    public var levels: Int { order.count }

    /// The priority of `severity`: 0 for the first in ``order``.
    public func priority(of severity: Severity) -> Int { priorities[severity] ?? 0 }

    /// The priority of `alert` given the rules' verdict for it.
    public func priority(of alert: Alert, rules: Classification) -> Int {
        let source = alert.sourceSeverity.flatMap(Severity.init(sourceSeverity:))
        return priority(of: source.map { min($0, rules.severity) } ?? rules.severity)
    }
}
