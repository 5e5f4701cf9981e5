import Foundation
import Kafka
import Logging
import Resilience
import Triage

/// `breakwater redrive`: reads the dead-letter topic and sends the selected records back
/// to the input topic with their original key, bytes and headers (plus
/// `breakwater-redrive-count`).
///
/// Progress is kept in a consumer group (``groupID``): a DLQ record's offset is committed
/// only once the broker acknowledged its redriven copy (or once it was passed over), so a
/// redrive that is interrupted (Ctrl-C, `--limit`, a failed send) resumes at the first
/// record not yet acknowledged and sends nothing twice. A process killed outright can
/// send again what was acknowledged after its last commit (at most about one
/// ``commitInterval``): at-least-once, like the worker.
///
/// A run covers the DLQ as it was when the run started (each partition's high
/// watermark then): records dead-lettered meanwhile, e.g. redriven records failing
/// again, wait for the next run.
public struct DeadLetterRedrive: Sendable {
    /// Why a run stopped.
    public enum Stop: String, Sendable, Equatable {
        /// Every partition was read up to its end as of the start.
        case caughtUp
        /// `limit` records were sent.
        case limit
        /// The task was cancelled (Ctrl-C).
        case interrupted
        /// A send failed (later records were not queued), or the consumer failed.
        case failed
        /// Nothing arrived for ``DeadLetterRedrive/idleTimeout`` before the end was reached.
        case idle
    }

    /// Client settings (brokers, security).
    public var kafka: KafkaConfiguration
    /// The dead-letter topic to read.
    public var deadLetterTopic: String
    /// Where redriven records go (the input topic).
    public var targetTopic: String
    /// The consumer group keeping this redrive's progress.
    public var groupID: String
    /// Which records go.
    public var selection: RedriveSelection
    /// Send at most this many records.
    public var limit: Int?
    /// Stop when no record arrived for this long before the end was reached (a broker
    /// that went away, or transaction markers at a partition's end).
    public var idleTimeout: Duration
    /// How often the done prefix is committed while the run goes on.
    public var commitInterval: Duration
    /// How often `onProgress` is called.
    public var progressInterval: Duration
    /// Logger for the Kafka clients.
    public var logger: Logger

    /// Creates a redrive.
    public init(
        kafka: KafkaConfiguration, deadLetterTopic: String, targetTopic: String, groupID: String, selection: RedriveSelection,
        limit: Int? = nil, idleTimeout: Duration = .seconds(10), commitInterval: Duration = .seconds(1),
        progressInterval: Duration = .milliseconds(200), logger: Logger
    ) {
        self.kafka = kafka
        self.deadLetterTopic = deadLetterTopic
        self.targetTopic = targetTopic
        self.groupID = groupID
        self.selection = selection
        self.limit = limit
        self.idleTimeout = idleTimeout
        self.commitInterval = commitInterval
        self.progressInterval = progressInterval
        self.logger = logger
    }

    /// Sends the selected dead letters through `sink` and returns what happened.
    ///
    /// Cancelling the calling task (Ctrl-C) stops reading; the delivery reports of the
    /// records already queued are still awaited and their offsets committed, so the
    /// summary is true and a rerun continues after them.
    /// - Parameter sink: where records go (a `KafkaProducer`, idempotent by default).
    /// - Throws: ``KafkaError`` when the DLQ topic does not exist, the group's offsets
    ///   cannot be read or the consumer cannot be created or fails fatally; nothing was
    ///   sent then.
    public func run(to sink: some AlertRecordSink, onProgress: (@Sendable (ProduceProgress) -> Void)? = nil) async throws -> RedriveSummary {
        try await perform(sink: sink, onProgress: onProgress)
    }

    /// Reads what ``run(to:onProgress:)`` would send from where the group stands, and
    /// returns it as a summary, without sending anything or moving the group (it reads
    /// with a throwaway group that never commits).
    /// - Throws: as ``run(to:onProgress:)``.
    public func dryRun(onProgress: (@Sendable (ProduceProgress) -> Void)? = nil) async throws -> RedriveSummary {
        try await perform(sink: Optional<KafkaProducer>.none, onProgress: onProgress)
    }

    private func perform(sink: (some AlertRecordSink)?, onProgress: (@Sendable (ProduceProgress) -> Void)?) async throws -> RedriveSummary {
        let clock = ContinuousClock()
        let started = clock.now
        let span = try await readSpan()
        let dryRun = sink == nil
        let tally = SharedValue(RedriveTally())
        var summary = RedriveSummary(
            deadLetterTopic: deadLetterTopic, targetTopic: targetTopic, groupID: groupID, dryRun: dryRun,
            maxRedrives: selection.maxRedrives, toRead: span.toRead)
        let sampler: @Sendable () -> ProduceProgress = {
            let counts = tally.withLock { ($0.settled, $0.counts.failed) }
            return ProduceProgress(total: span.toRead, delivered: counts.0, failed: counts.1, elapsed: clock.now - started)
        }
        let ticker = onProgress.map { report in
            Task { [progressInterval] in
                while (try? await clock.sleep(for: progressInterval)) != nil { report(sampler()) }
            }
        }
        defer { ticker?.cancel() }
        if span.toRead > 0 {
            let consumer = try KafkaConsumer(
                configuration: KafkaConsumerConfiguration(
                    common: kafka,
                    // A dry run must not move the group: it reads with a throwaway one and
                    // starts at the group's offsets by skipping what lies before them.
                    groupID: dryRun ? "breakwater-redrive-dry-run-\(UUID().uuidString.lowercased())" : groupID,
                    assignmentStrategy: .range, offsetReset: .earliest, sessionTimeout: .seconds(10),
                    offsetCommits: dryRun ? .manual : .automatic, commitInterval: commitInterval),
                topics: [deadLetterTopic], logger: logger, clock: clock)
            let (stop, queued) = await read(consumer, span: span, sink: sink, tally: tally)
            summary.stop = stop
            await Self.awaitDeliveries(queued, tally: tally)
            // Closing commits the done prefix: every acknowledged and every passed-over record.
            if let error = await consumer.close(), !dryRun { summary.commitError = "\(error)" }
        }
        onProgress?(sampler())
        summary.counts = tally.withLock { $0.counts }
        summary.elapsed = clock.now - started
        return summary
    }

    /// Where the group's pass over each partition starts and where it ends.
    private struct Span: Sendable {
        var start: [KafkaTopicPartition: Int64]
        var end: [KafkaTopicPartition: Int64]
        var toRead: Int { end.reduce(0) { $0 + Int(max($1.value - (start[$1.key] ?? $1.value), 0)) } }
    }

    private func readSpan() async throws -> Span {
        let admin = try KafkaAdmin(configuration: kafka, logger: logger)
        defer { admin.close() }
        let marks = try await admin.watermarks(of: deadLetterTopic)
        let committed = try await admin.committedOffsets(group: groupID, partitions: Array(marks.keys))
        var span = Span(start: [:], end: [:])
        for (partition, mark) in marks {
            span.start[partition] = max(committed[partition] ?? mark.low, mark.low)
            span.end[partition] = mark.high
        }
        return span
    }

    /// Reads until every partition reached its end, the limit, a failed send, idleness or
    /// cancellation. Returns why, and how many records were queued to `sink`.
    private func read(
        _ consumer: KafkaConsumer, span: Span, sink: (some AlertRecordSink)?, tally: SharedValue<RedriveTally>
    ) async -> (Stop, queued: Int) {
        let state = SharedValue(ReadState(remaining: Set(span.end.keys.filter { (span.start[$0] ?? 0) < span.end[$0] ?? 0 })))
        let clock = ContinuousClock()
        let (limit, selection, targetTopic, idleTimeout) = (limit, selection, targetTopic, idleTimeout)
        let stop = await withTaskGroup(of: Stop.self) { group in
            group.addTask {
                do {
                    for try await event in consumer.events {
                        state.withLock { $0.lastActivity = clock.now }
                        guard case .message(let message) = event else { continue }
                        // Buffered records keep coming after Ctrl-C; none is queued after it.
                        if Task.isCancelled { return .interrupted }
                        let tp = message.topicPartition
                        guard let end = span.end[tp], message.offset < end else {
                            // Dead-lettered after the start: left for the next run.
                            if state.withLock({ $0.reached(tp) }) { return .caughtUp }
                            continue
                        }
                        if message.offset < span.start[tp] ?? 0 {
                            // Before the group's offset (only a dry run, which reads from the start).
                            if sink != nil { consumer.markDone(message) }
                            continue
                        }
                        let headers = message.headers.map { RecordHeader(key: $0.name, value: $0.value) }
                        let decision = selection.decide(key: message.key, value: message.value, headers: headers)
                        if case .send(let record, let reason) = decision, let sink {
                            let outgoing = KafkaProducerRecord(
                                topic: targetTopic, key: record.key, value: record.value,
                                headers: record.headers.map { KafkaHeader(name: $0.key, value: $0.value) })
                            do {
                                try await sink.submit(outgoing) { error in
                                    if error == nil { consumer.markDone(message) }
                                    tally.withLock { $0.delivered(reason: reason, error: error) }
                                }
                                state.withLock { $0.selected += 1; $0.submitted += 1 }
                            } catch is CancellationError {
                                return .interrupted
                            } catch {
                                tally.withLock { $0.notQueued(error) }
                                return .failed
                            }
                        } else {
                            if sink != nil { consumer.markDone(message) }
                            tally.withLock { $0.settle(decision) }
                            if case .send = decision { state.withLock { $0.selected += 1 } }
                        }
                        if tally.withLock({ $0.counts.failed }) > 0 { return .failed }
                        let (done, selected) = state.withLock { ($0.passed(tp, offset: message.offset, end: end), $0.selected) }
                        if done { return .caughtUp }
                        if let limit, selected >= limit { return .limit }
                    }
                } catch {
                    // A fatal consumer error: stop; what was acknowledged is committed on close.
                    tally.withLock { $0.counts.errors[failureKind(of: error), default: 0] += 1 }
                    return .failed
                }
                return .interrupted
            }
            group.addTask {
                // Stops a run whose ends come as transaction markers (no record reaches
                // them) or whose broker went away: positions at the ends after a quiet
                // second mean caught up; nothing at all for the idle timeout means idle.
                while (try? await clock.sleep(for: .milliseconds(200))) != nil {
                    let quiet = clock.now - state.withLock { $0.lastActivity }
                    if quiet >= .seconds(1), let positions = try? consumer.lag(),
                       state.withLock({ $0.remaining }).allSatisfy({ tp in
                           positions.first { $0.topicPartition == tp }?.position.map { $0 >= span.end[tp] ?? 0 } ?? false
                       }) {
                        return .caughtUp
                    }
                    if quiet >= idleTimeout { return .idle }
                }
                return .interrupted
            }
            let first = await group.next() ?? .interrupted
            group.cancelAll()
            await group.waitForAll()
            return first
        }
        return (stop, state.withLock { $0.submitted })
    }

    /// Waits (even when cancelled) until `queued` delivery reports arrived.
    private static func awaitDeliveries(_ queued: Int, tally: SharedValue<RedriveTally>) async {
        guard queued > 0 else { return }
        // Not a child task: a cancelled run still waits for what it queued.
        await Task {
            while tally.withLock({ $0.reports }) < queued {
                try? await Task.sleep(for: .milliseconds(10))
            }
        }.value
    }
}

/// What the reading task knows about its progress.
private struct ReadState: Sendable {
    /// Partitions not yet read up to their end.
    var remaining: Set<KafkaTopicPartition>
    var lastActivity = ContinuousClock.now
    /// Records selected to go (in a dry run: that would go), for the limit.
    var selected = 0
    /// Records handed to the sink: this many delivery reports will come.
    var submitted = 0

    /// Records that `tp` is at its end; returns whether every partition is.
    mutating func reached(_ tp: KafkaTopicPartition) -> Bool {
        remaining.remove(tp)
        return remaining.isEmpty
    }

    /// Records that the record at `offset` was handled; returns whether every partition is at its end.
    mutating func passed(_ tp: KafkaTopicPartition, offset: Int64, end: Int64) -> Bool {
        offset + 1 >= end ? reached(tp) : remaining.isEmpty
    }
}

/// What happened to the records a redrive read, by reason.
public struct RedriveCounts: Sendable, Equatable {
    /// Records sent and acknowledged (would be sent, in a dry run), by dead-letter reason.
    public var redriven: [String: Int] = [:]
    /// Records a filter passed over, by reason.
    public var filteredOut: [String: Int] = [:]
    /// Records the loop guard skipped, by reason.
    public var loopGuarded: [String: Int] = [:]
    /// Records that cannot be redriven, by why (``RedriveSelection/Unusable``).
    public var unusable: [String: Int] = [:]
    /// Records whose send failed (not committed: a rerun tries them again).
    public var failed = 0
    /// Failure kinds and how often each happened.
    public var errors: [String: Int] = [:]

    /// No record yet.
    public init() {}

    /// Records read and settled.
    public var read: Int {
        [redriven, filteredOut, loopGuarded, unusable].reduce(failed) { $0 + $1.values.reduce(0, +) }
    }

    mutating func record(_ decision: RedriveSelection.Decision) {
        switch decision {
        case .send(_, let reason): redriven[reason, default: 0] += 1  // a dry run
        case .filteredOut(let reason): filteredOut[reason, default: 0] += 1
        case .loopGuard(let reason): loopGuarded[reason, default: 0] += 1
        case .unusable(let why): unusable[why.rawValue, default: 0] += 1
        }
    }

    mutating func recordFailure(_ error: any Error) {
        failed += 1
        errors[failureKind(of: error), default: 0] += 1
    }
}

/// Running counts of a redrive.
struct RedriveTally: Sendable {
    var counts = RedriveCounts()
    /// Records read and settled: sent and acknowledged, failed, or passed over.
    var settled = 0
    /// Delivery reports received.
    var reports = 0

    mutating func settle(_ decision: RedriveSelection.Decision) {
        settled += 1
        counts.record(decision)
    }

    /// A record the sink refused to queue (no delivery report follows).
    mutating func notQueued(_ error: any Error) {
        settled += 1
        counts.recordFailure(error)
    }

    /// A delivery report.
    mutating func delivered(reason: String, error: (any Error)?) {
        settled += 1
        reports += 1
        if let error {
            counts.recordFailure(error)
        } else {
            counts.redriven[reason, default: 0] += 1
        }
    }
}

/// What a redrive did (or, in a dry run, would do).
public struct RedriveSummary: Sendable, Equatable {
    /// The topic read.
    public var deadLetterTopic: String
    /// The topic written.
    public var targetTopic: String
    /// The consumer group keeping the progress.
    public var groupID: String
    /// Whether nothing was sent.
    public var dryRun: Bool
    /// The loop guard's bound (``RedriveSelection/maxRedrives``).
    public var maxRedrives: Int
    /// Records between the group's offsets and the ends at the start.
    public var toRead: Int
    /// Why the run stopped (``DeadLetterRedrive/Stop/caughtUp`` when there was nothing to read).
    public var stop: DeadLetterRedrive.Stop = .caughtUp
    /// What happened to the records read.
    public var counts = RedriveCounts()
    /// The final commit's error, when the progress could not be saved.
    public var commitError: String?
    /// Wall time.
    public var elapsed: Duration = .zero

    /// Creates an empty summary.
    public init(deadLetterTopic: String, targetTopic: String, groupID: String, dryRun: Bool, maxRedrives: Int, toRead: Int) {
        self.maxRedrives = maxRedrives
        self.deadLetterTopic = deadLetterTopic
        self.targetTopic = targetTopic
        self.groupID = groupID
        self.dryRun = dryRun
        self.toRead = toRead
    }

    /// Records sent (would be sent).
    public var redrivenCount: Int { counts.redriven.values.reduce(0, +) }

    /// Whether the run ended without a failure, an unsaved commit or an idle stop (a
    /// consumer that stopped receiving before the end: a broker away, a fetch refused).
    public var succeeded: Bool { counts.failed == 0 && counts.errors.isEmpty && commitError == nil && stop != .failed && stop != .idle }

    /// The summary for people: totals, each grouped by reason, and why it stopped.
    public var text: String {
        var lines = [
            (dryRun ? "dry run (nothing sent, progress untouched): " : "redrive: ")
                + "\(deadLetterTopic) → \(targetTopic), group \(groupID)",
            "dead letters read: \(counts.read) of \(toRead) in \(String(format: "%.2f", elapsed.seconds))s",
        ]
        func section(_ title: String, _ counts: [String: Int]) {
            let total = counts.values.reduce(0, +)
            lines.append("\(title): \(total)")
            for (name, count) in counts.sorted(by: { ($1.value, $0.key) < ($0.value, $1.key) }) {
                lines.append("  \(name.padding(toLength: max(name.count, 26), withPad: " ", startingAt: 0)) \(count)")
            }
        }
        section(dryRun ? "would redrive to \(targetTopic)" : "redriven to \(targetTopic)", counts.redriven)
        section("skipped by the loop guard (redriven \(maxRedrives) \(maxRedrives == 1 ? "time" : "times") already)", counts.loopGuarded)
        section("passed over by the filters", counts.filteredOut)
        section("cannot be redriven", counts.unusable)
        if counts.failed > 0 || !counts.errors.isEmpty {
            lines.append("failed: \(counts.failed)")
            for (kind, count) in counts.errors.sorted(by: { $0.value > $1.value }) { lines.append("  \(count) × \(kind)") }
        }
        if let commitError { lines.append("progress NOT saved: \(commitError); a rerun sends the records since the last commit again") }
        lines.append(stopText)
        return lines.joined(separator: "\n")
    }

    private var stopText: String {
        switch stop {
        case .caughtUp: "caught up: every dead letter up to the start of this run was read"
        case .limit: "stopped at --limit; run the same command again to continue"
        case .interrupted: "interrupted; run the same command again to continue (acknowledged records are not sent twice)"
        case .failed: "stopped after a failure; run the same command again to retry from the first record not acknowledged"
        case .idle: "stopped: nothing arrived for the idle timeout before the end of the dead-letter topic (is the broker reachable? "
            + "see the consumer errors above); run again to continue"
        }
    }
}
