import Metrics
import Resilience
import Triage

/// Groups alerts that wait for classification at the same moment into one call of an
/// upstream ``AlertClassifier`` (typically ``MLClient``: one infer request per batch).
///
/// A batch is sent when it reaches ``Configuration/maxBatchSize`` alerts, or
/// ``Configuration/maxWait`` after its first alert arrived, whichever comes first.
/// Batches run concurrently with each other. When the upstream call fails, every alert
/// of that batch gets the error, so each caller can fall back for its own alert; a
/// wrong number of results fails the batch with ``ClassifierError/resultCountMismatch(expected:got:)``.
/// Each sent batch's size is recorded in the `breakwater_ml_batch_size` recorder.
///
/// Time comes from the injected clock, so tests drive `maxWait` with a manual clock.
public actor MicroBatcher: AlertClassifier {
    /// Batching limits.
    public struct Configuration: Sendable {
        /// Most alerts in one upstream call. Default 32; values below 1 act as 1.
        public var maxBatchSize: Int
        /// Longest an alert waits for others before its batch is sent. Default 2 ms;
        /// `.zero` still gathers the alerts submitted before the batch's timer task runs.
        public var maxWait: Duration

        /// Creates limits; the defaults are documented on the properties.
        public init(maxBatchSize: Int = 32, maxWait: Duration = .milliseconds(2)) {
            self.maxBatchSize = max(1, maxBatchSize)
            self.maxWait = maxWait
        }
    }

    private struct Waiter {
        let alert: Alert
        /// Decided by the batch, or by the caller's cancellation, whichever comes first.
        let answer: FirstOffer<Result<Classification, any Error>>
    }

    /// The limits this batcher applies.
    public nonisolated let configuration: Configuration
    private let upstream: any AlertClassifier
    private let clock: ResilienceClock
    private let batchSize: Recorder
    private var pending: [Waiter] = []
    /// Identifies the batch now gathering, so a timer that fires after its batch was
    /// already sent for being full does not send the next batch early.
    private var generation = 0
    private var timerArmed = false

    /// Creates a batcher in front of `upstream`.
    /// - Parameters:
    ///   - clock: times ``Configuration/maxWait``.
    ///   - metricsFactory: where `breakwater_ml_batch_size` goes; default the
    ///     bootstrapped `MetricsSystem`.
    public init<C: Clock>(
        upstream: any AlertClassifier,
        configuration: Configuration = Configuration(),
        clock: C = ContinuousClock(),
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) where C.Duration == Duration {
        self.upstream = upstream
        self.configuration = configuration
        self.clock = ResilienceClock(clock)
        self.batchSize = Recorder(label: MetricNames.mlBatchSize, factory: metricsFactory)
    }

    /// The number of alerts waiting for their batch to be sent (for tests and gauges).
    public var pendingCount: Int { pending.count }

    /// Classifies one alert as part of the next batch.
    ///
    /// Cancelling the calling task (e.g. a circuit breaker's call timeout) ends the wait at
    /// once with `CancellationError`; the alert may still go out with its batch, and that
    /// answer is dropped.
    /// - Throws: the upstream's error when this alert's batch failed; `CancellationError`.
    public func classify(_ alert: Alert) async throws -> Classification {
        let answer = FirstOffer<Result<Classification, any Error>>()
        return try await withTaskCancellationHandler {
            // Cancelled already (the handler has answered): the alert is not queued.
            if !answer.isDecided {
                pending.append(Waiter(alert: alert, answer: answer))
                if pending.count >= configuration.maxBatchSize {
                    flush()
                } else if !timerArmed {
                    armTimer()
                }
            }
            return try await answer.value().get()
        } onCancel: {
            answer.offer(.failure(CancellationError()))
        }
    }

    /// Classifies alerts through the batcher: they join the gathering batch(es)
    /// together, in order.
    /// - Throws: the first error of any batch they were in.
    public func classify(_ alerts: [Alert]) async throws -> [Classification] {
        try await withThrowingTaskGroup(of: (Int, Classification).self) { group in
            for (index, alert) in alerts.enumerated() {
                group.addTask { (index, try await self.classify(alert)) }
            }
            var results = [Classification?](repeating: nil, count: alerts.count)
            for try await (index, classification) in group { results[index] = classification }
            return results.compactMap { $0 }
        }
    }

    private func armTimer() {
        timerArmed = true
        let armedFor = generation
        let wait = configuration.maxWait
        let clock = self.clock
        Task {
            // A cancelled or failed sleep still sends the batch: never strand callers.
            try? await clock.sleep(for: wait)
            self.timerFired(generation: armedFor)
        }
    }

    private func timerFired(generation armedFor: Int) {
        guard armedFor == generation else { return }
        flush()
    }

    /// Sends up to `maxBatchSize` waiting alerts as one batch; re-arms the timer for the rest.
    private func flush() {
        timerArmed = false
        generation &+= 1
        guard !pending.isEmpty else { return }
        let take = min(pending.count, configuration.maxBatchSize)
        let batch = Array(pending.prefix(take))
        pending.removeFirst(take)
        if !pending.isEmpty {
            if pending.count >= configuration.maxBatchSize { flush() } else { armTimer() }
        }
        batchSize.record(batch.count)
        let upstream = self.upstream
        Task {
            do {
                let results = try await upstream.classify(batch.map(\.alert))
                guard results.count == batch.count else {
                    throw ClassifierError.resultCountMismatch(expected: batch.count, got: results.count)
                }
                for (waiter, result) in zip(batch, results) { waiter.answer.offer(.success(result)) }
            } catch {
                for waiter in batch { waiter.answer.offer(.failure(error)) }
            }
        }
    }
}
