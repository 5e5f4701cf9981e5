import Foundation
import Resilience
import Synchronization
import Testing
import Triage

/// What a scripted dependency does on its next calls.
enum Behaviour: Sendable {
    /// Answer normally.
    case answer
    /// Throw ``ScriptedFailure``.
    case fail
    /// Hang until the task is cancelled or the manual clock passes an hour.
    case hang(ManualClock)
}

struct ScriptedFailure: Error, Equatable {}

/// Shared by the doubles: a behaviour switched by the test and a call counter.
final class Script: Sendable {
    private let state: Mutex<(behaviour: Behaviour, calls: Int)>

    init(_ behaviour: Behaviour = .answer) {
        state = Mutex((behaviour, 0))
    }

    func set(_ behaviour: Behaviour) { state.withLock { $0.behaviour = behaviour } }
    var calls: Int { state.withLock { $0.calls } }

    /// Counts the call and fails or hangs as scripted; returns when the call may answer.
    func perform() async throws {
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
struct ScriptedCatalog: ServiceCatalog {
    var entries: [String: ServiceInfo]
    let script = Script()

    func lookup(service: String) async throws -> ServiceInfo? {
        try await script.perform()
        return entries[service]
    }
}

/// An "ML" classifier answering a fixed verdict, or failing/hanging on command.
struct ScriptedClassifier: AlertClassifier {
    static let verdict = Classification(severity: .critical, category: .availability, confidence: 0.93, classifier: .ml)
    let script = Script()

    func classify(_ alerts: [Alert]) async throws -> [Classification] {
        try await script.perform()
        return alerts.map { _ in Self.verdict }
    }
}

/// A dedup store in memory, failing/hanging on command.
struct ScriptedStore: DedupStore {
    let memory = InMemoryDedupStore()
    let script = Script()

    func record(fingerprint: String, seenAt: Date) async throws -> DedupRecord {
        try await script.perform()
        return await memory.record(fingerprint: fingerprint, seenAt: seenAt)
    }

    func lookup(fingerprint: String) async throws -> DedupRecord? {
        await memory.lookup(fingerprint: fingerprint)
    }
}

/// A breaker on `clock` that opens after `failures` consecutive failures, stays open
/// `open`, and closes after one successful probe.
func makeBreaker(
    _ name: String, clock: ManualClock, failures: Int = 3, open: Duration = .seconds(30), callTimeout: Duration? = nil
) throws -> CircuitBreaker {
    try CircuitBreaker(
        name: name,
        configuration: .init(
            failureThreshold: failures, openDuration: .fixed(open), halfOpenProbes: 1, successThreshold: 1, callTimeout: callTimeout
        ),
        clock: clock
    )
}

func stepAlert(service: String? = "checkout", fingerprint: String = "fp-1", labelKey: String = "service") -> Alert {
    var labels = ["alertname": "HighErrorRate", "severity": "warning"]
    labels[labelKey] = service
    return Alert(
        fingerprint: fingerprint, status: .firing, source: .alertmanager, labels: labels,
        annotations: ["summary": "5xx rate above 5% on checkout"]
    )
}

/// Starts `operation`, waits until `sleepers` tasks sleep on `clock` (the hanging call
/// and the breaker's timeout), advances the clock by `by`, and returns the result.
func advancing<T: Sendable>(
    _ clock: ManualClock, sleepers: Int, by duration: Duration, _ operation: @escaping @Sendable () async -> T
) async -> T {
    let task = Task { await operation() }
    await clock.waitForSleepers(count: sleepers)
    clock.advance(by: duration)
    return await task.value
}
