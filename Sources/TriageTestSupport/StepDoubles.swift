import Foundation
import Resilience
import Locking
import Triage

/// What a scripted dependency does on its next calls.
public enum Behaviour: Sendable {
    /// Answer normally.
    case answer
    /// Throw ``ScriptedFailure``.
    case fail
    /// Hang until the task is cancelled or the manual clock passes an hour.
    case hang(ManualClock)
}

/// The error a scripted call throws.
public struct ScriptedFailure: Error, Equatable {
    /// The failure.
    public init() {}
}

/// Shared by the doubles: a behaviour switched by the test and a call counter.
public final class Script: Sendable {
    private let state: LockedValue<(behaviour: Behaviour, calls: Int)>

    /// A script doing `behaviour` until told otherwise.
    public init(_ behaviour: Behaviour = .answer) {
        state = LockedValue((behaviour, 0))
    }

    /// Switches what the next calls do.
    public func set(_ behaviour: Behaviour) { state.withLock { $0.behaviour = behaviour } }
    /// Calls so far.
    public var calls: Int { state.withLock { $0.calls } }

    /// Counts the call and fails or hangs as scripted; returns when the call may answer.
    public func perform() async throws {
        let behaviour = state.withLock { state in
            state.calls += 1
            return state.behaviour
        }
        switch behaviour {
        case .answer:
            return
        case .fail:
            throw ScriptedFailure()
        case .hang(let clock):
            try await clock.sleep(for: .seconds(3600))
            throw ScriptedFailure()
        }
    }
}

/// A catalog answering from a dictionary, or failing/hanging on command.
public struct ScriptedCatalog: ServiceCatalog {
    /// The services it knows.
    public var entries: [String: ServiceInfo]
    /// What its next lookups do.
    public let script = Script()

    /// A catalog knowing `entries`.
    public init(entries: [String: ServiceInfo]) {
        self.entries = entries
    }

    /// Performs the script, then answers from ``entries``.
    public func lookup(service: String) async throws -> ServiceInfo? {
        try await script.perform()
        return entries[service]
    }
}

/// An "ML" classifier answering a fixed verdict, or failing/hanging on command.
public struct ScriptedClassifier: AlertClassifier {
    /// The verdict it gives every alert.
    public static let verdict = Classification(severity: .critical, category: .availability, confidence: 0.93, classifier: .ml)
    /// What its next calls do.
    public let script = Script()
    /// What it answers for every alert.
    public let answer: Classification

    /// A classifier answering `answer` (default ``verdict``).
    public init(answer: Classification = ScriptedClassifier.verdict) {
        self.answer = answer
    }

    /// Performs the script, then answers ``answer`` for every alert.
    public func classify(_ alerts: [Alert]) async throws -> [Classification] {
        try await script.perform()
        return alerts.map { _ in answer }
    }
}

/// A dedup store in memory, failing/hanging on command.
public struct ScriptedStore: DedupStore {
    /// Where it records.
    public let memory = InMemoryDedupStore()
    /// What its next records do.
    public let script = Script()

    /// An empty store.
    public init() {}

    /// Performs the script, then records in ``memory``.
    public func record(fingerprint: String, seenAt: Date) async throws -> DedupRecord {
        try await script.perform()
        return await memory.record(fingerprint: fingerprint, seenAt: seenAt)
    }

    /// Answers from ``memory`` (never scripted).
    public func lookup(fingerprint: String) async throws -> DedupRecord? {
        await memory.lookup(fingerprint: fingerprint)
    }
}

/// A firing Alertmanager alert for `service` (under `labelKey`), as the step tests use it.
public func stepAlert(service: String? = "checkout", fingerprint: String = "fp-1", labelKey: String = "service") -> Alert {
    var labels = ["alertname": "HighErrorRate", "severity": "warning"]
    labels[labelKey] = service
    return Alert(
        fingerprint: fingerprint, status: .firing, source: .alertmanager, labels: labels,
        annotations: ["summary": "5xx rate above 5% on checkout"]
    )
}

/// Starts `operation`, waits until `sleepers` tasks sleep on `clock` (the hanging call
/// and the breaker's timeout), advances the clock by `by`, and returns the result.
public func advancing<T: Sendable>(
    _ clock: ManualClock, sleepers: Int, by duration: Duration, _ operation: @escaping @Sendable () async -> T
) async -> T {
    let task = Task { await operation() }
    await clock.waitForSleepers(count: sleepers)
    clock.advance(by: duration)
    return await task.value
}
