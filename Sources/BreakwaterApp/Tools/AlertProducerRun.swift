import Foundation
import Kafka
import Resilience
import Locking
import Triage

/// Where `breakwater produce` hands records: a Kafka producer, or a fake in tests.
public protocol AlertRecordSink: Sendable {
    /// Queues `record` and returns once it is queued; `onDelivery` is then called exactly
    /// once, with `nil` when the broker acknowledged the record or with the delivery error.
    /// - Throws: when the record cannot be queued (then `onDelivery` is not called).
    func submit(_ record: KafkaProducerRecord, onDelivery: @escaping @Sendable ((any Error)?) -> Void) async throws
}

extension KafkaProducer: AlertRecordSink {
    /// Queues through ``KafkaProducer/enqueue(_:onDelivery:)`` (waiting for an in-flight slot).
    /// - Throws: the enqueue ``KafkaError``, or `CancellationError` while waiting for a slot.
    public func submit(_ record: KafkaProducerRecord, onDelivery: @escaping @Sendable ((any Error)?) -> Void) async throws {
        try await enqueue(record) { result in
            switch result {
            case .success: onDelivery(nil)
            case .failure(let error): onDelivery(error)
            }
        }
    }
}

/// Progress of a produce run, sampled for the progress bar.
public struct ProduceProgress: Sendable, Equatable {
    /// Records to send in total.
    public var total: Int
    /// Records the broker acknowledged so far.
    public var delivered: Int
    /// Records that failed so far (not queued, or delivery failed).
    public var failed: Int
    /// Time since the run started.
    public var elapsed: Duration

    /// Creates a progress sample.
    public init(total: Int, delivered: Int, failed: Int, elapsed: Duration) {
        self.total = total
        self.delivered = delivered
        self.failed = failed
        self.elapsed = elapsed
    }

    /// Records finished (acknowledged or failed).
    public var finished: Int { delivered + failed }

    /// Acknowledged records per second so far; 0 before any time has passed.
    public var rate: Double {
        let seconds = elapsed.seconds
        return seconds > 0 ? Double(delivered) / seconds : 0
    }
}

/// What a produce run did. Also written by `--expect-file` as the expectation the demo
/// checks the workers' output against (see ``ProduceExpectation``).
public struct ProduceSummary: Sendable, Equatable {
    /// Topic the records went to.
    public var topic: String
    /// Records attempted.
    public var records: Int
    /// Records the broker acknowledged.
    public var delivered: Int
    /// Records that failed (never queued, or delivery failed).
    public var failed: Int
    /// Alerts carried by the acknowledged valid records (sum of their alert counts).
    public var alerts: Int
    /// Acknowledged malformed records (the workers dead-letter each one).
    public var malformed: Int
    /// Acknowledged valid records by input format.
    public var byFormat: [String: Int]
    /// Failure kinds (Kafka error codes, or messages) and how often each happened.
    public var errors: [String: Int]
    /// Records never handed to the producer because the run was cancelled (Ctrl-C).
    public var notSent = 0
    /// Wall time of the run.
    public var elapsed: Duration

    /// Creates a summary.
    public init(
        topic: String, records: Int, delivered: Int, failed: Int, alerts: Int, malformed: Int,
        byFormat: [String: Int], errors: [String: Int], elapsed: Duration, notSent: Int = 0
    ) {
        self.notSent = notSent
        self.topic = topic
        self.records = records
        self.delivered = delivered
        self.failed = failed
        self.alerts = alerts
        self.malformed = malformed
        self.byFormat = byFormat
        self.errors = errors
        self.elapsed = elapsed
    }

    /// Acknowledged records per second.
    public var rate: Double {
        ProduceProgress(total: records, delivered: delivered, failed: failed, elapsed: elapsed).rate
    }

    /// The final line: records sent, alerts carried, failures and the rate.
    public var finalLine: String {
        "sent \(delivered)/\(records) records to \(topic) (\(alerts) alerts, \(malformed) malformed), \(failed) failed, "
            + (notSent > 0 ? "\(notSent) not sent (interrupted), " : "")
            + "in \(String(format: "%.2f", elapsed.seconds))s: \(String(format: "%.0f", rate)) records/s"
    }
}

/// Sends records to a topic and waits for every delivery report, counting what was
/// acknowledged and what failed. Failures never throw: they are counted (with their
/// messages) in the ``ProduceSummary``.
public struct AlertProducerRun: Sendable {
    /// Destination topic.
    public var topic: String
    /// How often `onProgress` is called while records are in flight.
    public var progressInterval: Duration
    /// Times the elapsed time and the progress ticks.
    private let clock: ResilienceClock

    /// Creates a run; `clock` times the elapsed time and the progress ticks.
    public init<C: Clock>(topic: String, clock: C = ContinuousClock(), progressInterval: Duration = .milliseconds(200)) where C.Duration == Duration {
        self.topic = topic
        self.clock = ResilienceClock(clock)
        self.progressInterval = progressInterval
    }

    /// Sends `records` in order through `sink`, calling `onProgress` every
    /// ``progressInterval`` and once at the end, and returns when every record is
    /// acknowledged or failed. When the calling task is cancelled (Ctrl-C), no further
    /// record is queued (they count as ``ProduceSummary/notSent``), but the delivery reports
    /// of those already queued are still awaited, so the summary stays true.
    public func send(
        _ records: [OutgoingAlertRecord], to sink: some AlertRecordSink,
        onProgress: (@Sendable (ProduceProgress) -> Void)? = nil
    ) async -> ProduceSummary {
        let start = clock.now()
        let tally = LockedValue(Tally())
        let (deliveries, continuation) = AsyncStream<Void>.makeStream()
        let sampler: @Sendable () -> ProduceProgress = { [clock] in
            let counts = tally.withLock { ($0.delivered, $0.failed) }
            return ProduceProgress(total: records.count, delivered: counts.0, failed: counts.1, elapsed: clock.now() - start)
        }
        let ticker = onProgress.map { report in
            Task { [clock, progressInterval] in
                while (try? await clock.sleep(for: progressInterval)) != nil { report(sampler()) }
            }
        }
        var queued = 0
        var notSent = 0
        for (index, record) in records.enumerated() {
            if Task.isCancelled {
                notSent = records.count - index
                break
            }
            let message = KafkaProducerRecord(
                topic: topic, key: record.key, value: record.value,
                headers: record.headers.map { KafkaHeader(name: $0.key, value: $0.value) })
            do {
                try await sink.submit(message) { error in
                    tally.withLock { $0.finish(record, error: error) }
                    continuation.yield()
                }
                queued += 1
            } catch is CancellationError {
                notSent = records.count - index
                break
            } catch {
                tally.withLock { $0.finish(record, error: error) }
            }
        }
        // Not a child task: the reports of queued records are awaited even when cancelled.
        await Task { [queued] in
            var reported = 0
            guard queued > 0 else { return }
            for await _ in deliveries {
                reported += 1
                if reported == queued { break }
            }
        }.value
        continuation.finish()
        ticker?.cancel()
        let final = sampler()
        onProgress?(final)
        return tally.withLock { tally in
            ProduceSummary(
                topic: topic, records: records.count, delivered: tally.delivered, failed: tally.failed, alerts: tally.alerts,
                malformed: tally.malformed, byFormat: tally.byFormat, errors: tally.errors, elapsed: final.elapsed, notSent: notSent)
        }
    }
}

/// Running counts of a produce run.
private struct Tally {
    var delivered = 0
    var failed = 0
    var alerts = 0
    var malformed = 0
    var byFormat: [String: Int] = [:]
    var errors: [String: Int] = [:]

    mutating func finish(_ record: OutgoingAlertRecord, error: (any Error)?) {
        if let error {
            failed += 1
            errors[failureKind(of: error), default: 0] += 1
            return
        }
        delivered += 1
        alerts += record.alertCount
        if let format = record.format {
            byFormat[format.rawValue, default: 0] += 1
        } else {
            malformed += 1
        }
    }
}

/// What kind of failure `error` is, for counting alike failures together: a Kafka error
/// by its code (its text can embed the record's payload), anything else by its
/// description, cut to 200 characters.
func failureKind(of error: any Error) -> String {
    if let error = error as? KafkaError { return "KafkaError \(error.name) (\(error.code))" }
    let text = "\(error)"
    return text.count > 200 ? String(text.prefix(199)) + "…" : text
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
