/// Something that turns alerts into ``Classification``s: the ML client and the
/// rule-based classifier both implement it, so the pipeline can put either (or the ML
/// one with the rules as its fallback) behind a circuit breaker.
public protocol AlertClassifier: Sendable {
    /// Classifies a batch of alerts.
    ///
    /// - Returns: one classification per alert, in the same order (`result[i]` belongs
    ///   to `alerts[i]`); an empty array for an empty batch.
    /// - Throws: when the classifier cannot classify the batch at all (for example the
    ///   inference service is down or answered garbage). A classifier never returns a
    ///   partial result: it either classifies every alert or throws.
    func classify(_ alerts: [Alert]) async throws -> [Classification]

    /// Classifies one alert.
    ///
    /// The default implementation calls ``classify(_:)-([Alert])`` with a batch of one.
    /// - Throws: when the classifier cannot classify the alert.
    func classify(_ alert: Alert) async throws -> Classification

    /// Classifies one alert of `priority` (0 the lowest): a classifier that may have to
    /// turn alerts away under load turns the lowest away first.
    ///
    /// The default implementation ignores the priority.
    /// - Throws: when the classifier cannot classify the alert; `AdmissionRefused` when
    ///   it turned the alert away.
    func classify(_ alert: Alert, priority: Int) async throws -> Classification
}

extension AlertClassifier {
    /// Classifies one alert through the batch method.
    /// - Throws: what the batch method throws, or ``ClassifierError/resultCountMismatch(expected:got:)``
    ///   when it returned a number of results other than one.
    public func classify(_ alert: Alert) async throws -> Classification {
        let results = try await classify([alert])
        guard results.count == 1, let first = results.first else {
            throw ClassifierError.resultCountMismatch(expected: 1, got: results.count)
        }
        return first
    }

    /// Classifies one alert, whatever its priority.
    /// - Throws: what ``classify(_:)-(Alert)`` throws.
    public func classify(_ alert: Alert, priority: Int) async throws -> Classification {
        try await classify(alert)
    }
}

/// Failures common to every ``AlertClassifier``.
public enum ClassifierError: Error, Equatable, CustomStringConvertible {
    /// A batch call returned a different number of classifications than alerts sent.
    case resultCountMismatch(expected: Int, got: Int)

    public var description: String {
        switch self {
        case let .resultCountMismatch(expected, got):
            "classifier returned \(got) classification(s) for \(expected) alert(s)"
        }
    }
}
