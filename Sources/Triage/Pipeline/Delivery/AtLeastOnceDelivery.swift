import Foundation
import Kafka
import Logging
import Locking

/// At-least-once delivery: an input is marked done (and so committed by the consumer)
/// only after every record it produced is acknowledged by the broker.
///
/// Publishing retries with exponential backoff for as long as it fails transiently (the
/// broker is away, a request timed out): nothing is lost and nothing is committed past
/// it. When the cluster rejects an output for good (``Kafka/KafkaError/isRecordRejection``:
/// too large for its topic, unknown topic, not allowed)
/// ``PipelineWorker/Configuration/AtLeastOnce/maxRejectedAttempts`` times, retrying cannot
/// help and would stall the partition's commits forever, so the input is dead-lettered
/// with reason `publish_failed` (its outputs that did get through stay published).
/// Should the dead-letter topic reject that record too, it is sent once more without the
/// original value and headers (the source topic, partition and offset still point at
/// it); after that it is retried without end.
///
/// A producer that hits a fatal error (librdkafka gives up on an idempotent producer whose
/// sequence numbers a broker no longer knows, e.g. after it came back empty) can never
/// send again: it is replaced by a new one, and what was unacknowledged is sent again.
final class AtLeastOnceDelivery: DeliveryMode {
    private let settings: PipelineWorker.Configuration.AtLeastOnce
    private let producer: LockedValue<KafkaProducer>
    private let replacement: (@Sendable () throws -> KafkaProducer)?
    private let context: WorkerContext
    private let workerID: String

    init(
        settings: PipelineWorker.Configuration.AtLeastOnce, producer: KafkaProducer,
        replacement: (@Sendable () throws -> KafkaProducer)?, context: WorkerContext, workerID: String
    ) {
        self.settings = settings
        self.producer = LockedValue(producer)
        self.replacement = replacement
        self.context = context
        self.workerID = workerID
    }

    private var currentProducer: KafkaProducer { producer.withLock { $0 } }

    /// Sends through the current producer; replaces it when it failed fatally.
    private func send(groups: [[OutputRecord]]) async -> [[(output: OutputRecord, error: any Error)]] {
        let sender = currentProducer
        let failures = await context.send(groups: groups, via: sender)
        if failures.contains(where: { !$0.isEmpty }), let fatal = sender.fatalError { await replace(sender, after: fatal) }
        return failures
    }

    private func send(_ outputs: [OutputRecord]) async -> [(output: OutputRecord, error: any Error)] {
        await send(groups: [outputs])[0]
    }

    /// Swaps in a new producer for `failed` (once, however many sends saw the error) and
    /// closes the old one without waiting: its unacknowledged records fail and are retried.
    private func replace(_ failed: KafkaProducer, after error: KafkaError) async {
        guard let replacement else { return }
        let outcome: Result<KafkaProducer, any Error>? = producer.withLock { current in
            guard current === failed else { return nil }
            do {
                current = try replacement()
                return .success(failed)
            } catch {
                return .failure(error)
            }
        }
        switch outcome {
        case nil:
            return
        case .failure(let creation):
            context.logger.error("the producer hit a fatal error and a new one could not be made", metadata: [
                "error": "\(error)", "creation_error": "\(creation)",
            ])
        case .success(let old):
            context.logger.error("the producer hit a fatal error; replaced it with a new one", metadata: ["error": "\(error)"])
            await context.report(.producerReplaced(error: "\(error)"))
            Task { await old.close(flushTimeout: .zero) }
        }
    }

    func start() async throws {}

    func runBeside() async throws {}

    func admit(_ message: KafkaMessage, schedule: (UInt64) async -> Void) async throws {
        await schedule(0)
    }

    func admitWithoutWaiting(_ message: KafkaMessage, reserve: () -> Bool) -> UInt64? {
        reserve() ? 0 : nil
    }

    func isLive(_ batch: UInt64) -> Bool { true }

    func stoppedBeforePublishing(_ message: KafkaMessage, batch: UInt64) {}

    /// Nothing is committed past an unfinished record, so waiting in place loses nothing.
    func redo(_ message: KafkaMessage, batch: UInt64) -> Bool { false }

    func revoked(_ partitions: [KafkaTopicPartition]) {}

    func publish(_ items: [PublishItem], finished: (PublishItem, Publication) -> Void) async {
        let failures = await send(groups: items.map(\.outputs))
        for (item, failed) in zip(items, failures) where failed.isEmpty { finished(item, .published) }
        // Inputs in one batch have distinct keys, so retrying one never reorders a key.
        for (item, failed) in zip(items, failures) where !failed.isEmpty {
            finished(item, await publish(item, failedFirst: failed))
        }
    }

    /// Retries an input whose first attempt (`failedFirst`) did not go through.
    private func publish(_ item: PublishItem, failedFirst: [(output: OutputRecord, error: any Error)]) async -> Publication {
        let (input, message) = (item.input, item.message)
        var outputs = item.outputs
        var failed: [(output: OutputRecord, error: any Error)]? = failedFirst
        var rejections = 0
        while true {
            switch await publishRetrying(outputs, failedFirst: failed.take(), for: message, mayGiveUp: rejections < 2) {
            case .published:
                return rejections == 0 ? .published : .deadLettered
            case .abandoned:
                return .abandoned
            case .rejected(let topic, let error):
                rejections += 1
                context.logger.error("an output was rejected for good; dead-lettering the input", metadata: [
                    "topic": "\(topic)", "error": "\(error)", "source": "\(message.reference)",
                    "original_kept": "\(rejections == 1)",
                ])
                await context.report(.publishRejected(source: message.reference, topic: topic, error: "\(error)"))
                outputs = [deadLetter(of: input, message: message, topic: topic, error: error, keepOriginal: rejections == 1)]
            }
        }
    }

    /// The `publish_failed` dead letter of an input whose outputs were rejected: the
    /// original record as any dead letter, or (when the dead-letter topic rejected that
    /// too) only the headers saying where the original is.
    private func deadLetter(of input: InputRecord, message: KafkaMessage, topic: String, error: KafkaError, keepOriginal: Bool) -> OutputRecord {
        let letter = DeadLetter(
            reason: DeadLetter.publishFailedReason,
            detail: "publishing to \(topic) was rejected \(settings.maxRejectedAttempts) times: \(error)"
                + (keepOriginal ? "" : "; the original value and headers were dropped, read them at the source offset"),
            sourceTopic: message.topic, sourcePartition: message.partition, sourceOffset: message.offset,
            time: Date(), workerID: workerID, originalDropped: !keepOriginal
        )
        return keepOriginal
            ? OutputRecord(kind: .deadLetter, key: message.key, value: input.value, headers: letter.headers(appendingTo: input.headers))
            : OutputRecord(kind: .deadLetter, key: nil, value: [], headers: letter.headers(appendingTo: []))
    }

    private enum RetryResult {
        case published
        /// Cancelled, or the partition was revoked: nothing may be marked done.
        case abandoned
        /// An output to `topic` was rejected for good `maxRejectedAttempts` times.
        case rejected(topic: String, error: KafkaError)
    }

    /// Publishes every output and waits for the acknowledgements, retrying what failed
    /// as ``PublishAttempts`` says. `failedFirst`: the first attempt was made already and
    /// these of `outputs` failed.
    private func publishRetrying(
        _ outputs: [OutputRecord], failedFirst: [(output: OutputRecord, error: any Error)]?, for message: KafkaMessage, mayGiveUp: Bool
    ) async -> RetryResult {
        var attempts = PublishAttempts(settings: settings, mayGiveUp: mayGiveUp)
        var pending = outputs
        var given = failedFirst
        while true {
            let failed: [(output: OutputRecord, error: any Error)]
            if let known = given.take() { failed = known } else { failed = await send(pending) }
            guard let first = failed.first else { break }
            pending = failed.map(\.output)
            for failure in failed {
                context.logger.error("publishing an output failed; will retry", metadata: [
                    "topic": "\(context.topics.topic(for: failure.output.kind))", "error": "\(failure.error)",
                    "source": "\(message.reference)",
                ])
            }
            let rejected: (output: OutputRecord, error: KafkaError)? = failed.lazy.compactMap { failure in
                (failure.error as? KafkaError).flatMap { $0.isRecordRejection ? (failure.output, $0) : nil }
            }.first
            let next = attempts.failed(rejected: rejected != nil)
            await context.report(.publishFailed(source: message.reference, attempt: attempts.count, error: "\(first.error)"))
            switch next {
            case .giveUp:
                if let rejected {
                    return .rejected(topic: context.topics.topic(for: rejected.output.kind), error: rejected.error)
                }
            case .retry(let backoff):
                guard !Task.isCancelled, context.consumer.isCurrent(message) else { return .abandoned }
                try? await context.clock.sleep(for: backoff)
            }
        }
        return .published
    }

    func drain(afterFailure: Bool) async -> (any Error)? {
        if !(await context.waitForIdle(within: context.shutdownDeadline)) {
            context.logger.warning("shutdown deadline passed with work in flight; it will be redelivered", metadata: [
                "in_flight": "\(context.scheduler.inFlight)",
            ])
        }
        return nil
    }

    func close() async {
        let unsent = await currentProducer.close(flushTimeout: context.shutdownDeadline)
        if unsent > 0 {
            context.logger.error("producer closed with unacknowledged records", metadata: ["count": "\(unsent)"])
        }
    }
}

/// The at-least-once publish retry policy, without I/O: after each failed attempt it
/// says whether to retry and after which backoff (doubling from
/// ``PipelineWorker/Configuration/AtLeastOnce/publishBackoff`` up to
/// ``PipelineWorker/Configuration/AtLeastOnce/maxPublishBackoff``), or to give up —
/// only when allowed to, and only once attempts whose failure was a permanent rejection
/// reached ``PipelineWorker/Configuration/AtLeastOnce/maxRejectedAttempts``.
struct PublishAttempts: Sendable {
    enum Next: Sendable, Hashable {
        case retry(after: Duration)
        case giveUp
    }

    private let settings: PipelineWorker.Configuration.AtLeastOnce
    private let mayGiveUp: Bool
    private var backoff: Duration
    /// Failed attempts so far.
    private(set) var count = 0
    /// Failed attempts with a permanent rejection among their failures.
    private(set) var rejectedCount = 0

    init(settings: PipelineWorker.Configuration.AtLeastOnce, mayGiveUp: Bool) {
        self.settings = settings
        self.mayGiveUp = mayGiveUp
        self.backoff = settings.publishBackoff
    }

    /// An attempt failed; `rejected`: one of its failures was a permanent rejection.
    mutating func failed(rejected: Bool) -> Next {
        count += 1
        if rejected {
            rejectedCount += 1
            if mayGiveUp, rejectedCount >= settings.maxRejectedAttempts { return .giveUp }
        }
        defer { backoff = min(backoff * 2, settings.maxPublishBackoff) }
        return .retry(after: backoff)
    }
}
