import CoreMetrics

/// The swift-metrics instruments of one ``AdaptivePolicy``, created once (the per-call
/// path only increments and records). Names and dimensions:
/// - `adaptive_rejections_total{breaker,part,mode}` part ∈ retry_budget, throttle,
///   concurrency_limit; mode ∈ enforced (the call was refused), shadow (shadow mode let
///   through a call the part would have refused)
/// - `adaptive_throttle_probability{breaker}` gauge: the throttle's rejection probability
///   over all priorities at its last decision
/// (`adaptive_concurrency_limit{breaker}` is the limit's own, see ``ConcurrencyLimit``.)
final class AdaptivePolicyMetrics: Sendable {
    /// A part of the policy, as its metrics name it.
    enum Part: Int, CaseIterable {
        case retryBudget, throttle, concurrencyLimit

        var label: String {
            switch self {
            case .retryBudget: "retry_budget"
            case .throttle: "throttle"
            case .concurrencyLimit: "concurrency_limit"
            }
        }
    }

    /// Enforced then shadow, per part in ``Part`` order.
    private let rejections: [Counter]
    let throttleProbability: Gauge

    init(breaker: String, factory: any MetricsFactory) {
        rejections = Part.allCases.flatMap { part in
            ["enforced", "shadow"].map { mode in
                Counter(
                    label: "adaptive_rejections_total", dimensions: [("breaker", breaker), ("part", part.label), ("mode", mode)],
                    factory: factory)
            }
        }
        throttleProbability = Gauge(label: "adaptive_throttle_probability", dimensions: [("breaker", breaker)], factory: factory)
    }

    /// Counts a decision of `part` that refused (`admitted == false`) or, in shadow mode,
    /// would have (`wouldRefuse` but admitted); nothing otherwise.
    func count(_ part: Part, wouldRefuse: Bool, admitted: Bool) {
        guard wouldRefuse else { return }
        rejections[part.rawValue * 2 + (admitted ? 1 : 0)].increment()
    }
}
