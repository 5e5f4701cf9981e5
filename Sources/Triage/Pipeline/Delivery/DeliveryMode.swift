import Kafka
import Logging
import Metrics
import Resilience

/// What differs between the worker's delivery modes: how a record is admitted, how its
/// outputs are published and when its input counts as done, and what finishing means.
/// ``PipelineWorker`` owns everything else (the consume loop, key scheduling, the
/// in-flight bound, processing, drain, close, lag) and calls these in that loop.
protocol DeliveryMode: Sendable {
    /// Before the first fetch (e.g. initialising transactions).
    /// - Throws: an error that keeps the worker from starting (it closes and rethrows it).
    func start() async throws

    /// Runs beside the consume loop until cancelled (e.g. periodic commits).
    /// - Throws: a fatal error that must stop the worker.
    func runBeside() async throws

    /// Admits a consumed message, in fetch order, one at a time: calls `schedule` with the
    /// batch the message joins to have it processed, or drops it (it will be redelivered).
    /// - Throws: a fatal error that must stop the worker.
    func admit(_ message: KafkaMessage, schedule: (_ batch: UInt64) async -> Void) async throws

    /// Admits a consumed message, in fetch order, when that needs no waiting: once
    /// admission is certain it calls `reserve` (the worker takes the message's scheduler
    /// slot, so a transaction finishing afterwards waits for it), and admits only if that
    /// returns `true`.
    /// - Returns: the batch it joins, or `nil` when nothing was admitted (`reserve` said
    ///   no, or was not called because admission may have to wait): then
    ///   ``admit(_:schedule:)`` it, with nothing else held back.
    func admitWithoutWaiting(_ message: KafkaMessage, reserve: () -> Bool) -> UInt64?

    /// Whether work of `batch` may still publish.
    func isLive(_ batch: UInt64) -> Bool

    /// The worker was stopped (cancelled) after processing `message` and before
    /// publishing its outputs.
    func stoppedBeforePublishing(_ message: KafkaMessage, batch: UInt64)

    /// The processor could not finish `message` now (``ProcessingOutcome/redo``).
    /// - Returns: `true` when the delivery has it done again (its batch will not publish,
    ///   and the record is read again); `false`: the caller does it again itself.
    func redo(_ message: KafkaMessage, batch: UInt64) -> Bool

    /// Publishes the outputs of processed inputs, all at once (one producer batch), and
    /// tells `finished` for each input whether it is done as soon as that is known (an
    /// input whose outputs went through does not wait for another one's retries).
    func publish(_ items: [PublishItem], finished: (PublishItem, Publication) -> Void) async

    /// The consumer gave up `partitions`.
    func revoked(_ partitions: [KafkaTopicPartition])

    /// Graceful shutdown: nothing more is admitted; finish in-flight work within the
    /// shutdown deadline and make what is done durable. `afterFailure`: the worker is
    /// stopping because of an error (a mode may then leave finishing to ``close()``).
    /// - Returns: a fatal error met while doing so.
    func drain(afterFailure: Bool) async -> (any Error)?

    /// Ends whatever is still open and closes the producer.
    func close() async
}

/// A processed input whose outputs are to be published.
///
/// A class: it travels through batches, the delivery mode and the completion callback,
/// and each copy of it as a struct retained every incident, output and header it holds
/// (~2% of the worker's CPU per alert on the rules path).
///
/// It keeps of the outcome only what is needed once the outputs are encoded: the records
/// to publish, the metrics' labels and the dead letter. The decoded alerts and the records
/// they became are freed as soon as the item is made, in the consume loop that made them
/// and while they are in its caches; kept until the acknowledgements, they were freed
/// cold, mostly on another thread (~6% of the rules path's CPU went to freeing items).
final class PublishItem: Sendable {
    let outputs: [OutputRecord]
    let labels: OutcomeLabels
    let deadLetter: DeadLetter?
    let input: InputRecord
    let message: KafkaMessage
    /// The delivery batch it was admitted to.
    let batch: UInt64
    /// When processing began, on the worker's clock (for the duration metric).
    let started: Duration

    init(outcome: ProcessingOutcome, input: InputRecord, message: KafkaMessage, batch: UInt64, started: Duration) {
        outputs = outcome.outputs
        labels = OutcomeLabels(outcome)
        deadLetter = outcome.deadLetter
        self.input = input
        self.message = message
        self.batch = batch
        self.started = started
    }
}

/// How publishing an input's outputs ended.
enum Publication: Sendable {
    /// Every output was acknowledged: the input is done.
    case published
    /// The outputs were refused for good and the input was dead-lettered with reason
    /// `publish_failed` instead: the input is done.
    case deadLettered
    /// Nothing may be marked done (cancelled, revoked, or its batch ended): the input
    /// is redelivered.
    case abandoned
}

/// What the worker and its delivery mode share: the consumer, the scheduler, the
/// injected clock, the hook, and the two jobs both modes do the same way (publishing a
/// set of outputs, waiting for in-flight work against a deadline).
final class WorkerContext: Sendable {
    let topics: PipelineTopics
    let shutdownDeadline: Duration
    let consumer: KafkaConsumer
    let scheduler: KeyedTaskScheduler<RecordKey>
    let logger: Logger
    let metrics: PipelineMetrics
    let clock: ResilienceClock
    private let hook: @Sendable (PipelineWorkerEvent) async throws -> Void

    init(
        topics: PipelineTopics, shutdownDeadline: Duration, consumer: KafkaConsumer, scheduler: KeyedTaskScheduler<RecordKey>,
        logger: Logger, clock: ResilienceClock, metricsFactory: any MetricsFactory = MetricsSystem.factory,
        hook: @escaping @Sendable (PipelineWorkerEvent) async throws -> Void
    ) {
        self.topics = topics
        self.shutdownDeadline = shutdownDeadline
        self.consumer = consumer
        self.scheduler = scheduler
        self.logger = logger
        self.metrics = PipelineMetrics(factory: metricsFactory)
        self.clock = clock
        self.hook = hook
    }

    /// Tells the hook; what it throws is ignored (only ``announce(_:)`` lets it fail a step).
    func report(_ event: PipelineWorkerEvent) async {
        try? await hook(event)
    }

    /// Tells the hook that the step `event` names is about to happen.
    /// - Throws: what the hook threw: the step must fail.
    func announce(_ event: PipelineWorkerEvent) async throws {
        try await hook(event)
    }

    /// Sends every output through `producer` as one batch and waits for every
    /// acknowledgement.
    /// - Returns: the outputs that failed, each with its error (empty when all went through).
    func send(_ outputs: [OutputRecord], via producer: KafkaProducer) async -> [(output: OutputRecord, error: any Error)] {
        await send(groups: [outputs], via: producer)[0]
    }

    /// Sends the outputs of several inputs through `producer` as one batch, in order, and
    /// waits for every acknowledgement.
    /// - Returns: per group, in order, the outputs that failed with their errors.
    func send(groups: [[OutputRecord]], via producer: KafkaProducer) async -> [[(output: OutputRecord, error: any Error)]] {
        var records: [KafkaProducerRecord] = []
        records.reserveCapacity(groups.reduce(0) { $0 + $1.count })
        for outputs in groups {
            for output in outputs {
                records.append(KafkaProducerRecord(
                    topic: topics.topic(for: output.kind),
                    key: output.key,
                    value: output.value,
                    headers: output.headers.isEmpty ? [] : output.headers.map { KafkaHeader(name: $0.key, value: $0.value) }
                ))
            }
        }
        let results = await producer.send(records)
        var failures: [[(output: OutputRecord, error: any Error)]] = []
        failures.reserveCapacity(groups.count)
        var index = 0
        for outputs in groups {
            var failed: [(output: OutputRecord, error: any Error)] = []
            for output in outputs {
                if case .failure(let error) = results[index] { failed.append((output, error)) }
                index += 1
            }
            failures.append(failed)
        }
        return failures
    }

    /// Waits until nothing is in flight, at most `limit` on the injected clock (no limit:
    /// as long as it takes).
    /// - Returns: whether the work finished in time.
    ///
    /// `KeyedTaskScheduler.waitUntilIdle()` ignores cancellation, so it is raced in
    /// unstructured tasks: a task group would wait for the stuck work past the deadline.
    func waitForIdle(within limit: Duration?) async -> Bool {
        guard let limit else {
            await scheduler.waitUntilIdle()
            return true
        }
        let idle = FirstOffer<Bool>()
        Task {
            await scheduler.waitUntilIdle()
            idle.offer(true)
        }
        let deadline = Task {
            try? await clock.sleep(for: limit)
            idle.offer(false)
        }
        let finished = await idle.value()
        deadline.cancel()
        return finished
    }

    /// Waits until at most `count` records are in flight, at most `limit` on the injected
    /// clock, or until the calling task is cancelled.
    /// - Returns: whether there was room in time (`false` at the limit or on cancellation).
    func waitForRoom(atMost count: Int, within limit: Duration) async -> Bool {
        let room = FirstOffer<Bool>()
        let waiter = Task {
            await scheduler.waitUntilInFlight(atMost: count)
            room.offer(!Task.isCancelled)
        }
        let deadline = Task {
            try? await clock.sleep(for: limit)
            room.offer(false)
        }
        let inTime = await withTaskCancellationHandler {
            await room.value()
        } onCancel: {
            room.offer(false)
        }
        // Neither racer outlives the wait: a sleeper left on a manual clock would be
        // counted by a test, and a waiter would hold a slot in the scheduler's list.
        waiter.cancel()
        deadline.cancel()
        return inTime
    }

    /// Logs the dead letter an input turned into, once its outputs are published.
    func logDeadLetter(_ letter: DeadLetter?, source: KafkaMessageReference) {
        guard let letter else { return }
        logger.warning("record dead-lettered", metadata: [
            "reason": "\(letter.reason)", "detail": "\(letter.detail)", "source": "\(source)",
        ])
    }
}
