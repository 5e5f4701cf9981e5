import Kafka

/// What a worker tells its owner about itself (for readiness and logs).
public enum PipelineWorkerState: Sendable, Hashable {
    /// The consumer received its first assignment: it is a member of the group.
    case joinedGroup
    /// Stopped fetching; finishing in-flight work.
    case draining
    /// Done: offsets committed, producer flushed, group left.
    case stopped
    /// The consumer keeps polling errors and no records (e.g. a fetch response it
    /// refuses, a broker it cannot reach): it is not making progress. `error` is the last.
    case consumerFailing(error: String)
    /// After ``consumerFailing(error:)``: a check passed without a new error.
    case consumerRecovered
}

/// What a worker does moment to moment, in either delivery mode: for tests, logs and
/// debugging, never needed for correct operation. The worker's `onEvent` hook hears
/// each; see ``PipelineWorker`` for the one event whose hook may fail the step.
public enum PipelineWorkerEvent: Sendable, Hashable {
    /// The in-flight bound was hit: these partitions were paused.
    case partitionsPaused([KafkaTopicPartition])
    /// Enough in-flight work finished: these partitions were resumed.
    case partitionsResumed([KafkaTopicPartition])
    /// At-least-once: publishing the outputs of `source` failed (attempt `attempt`); it
    /// is retried after a backoff and the input is not marked done meanwhile.
    case publishFailed(source: KafkaMessageReference, attempt: Int, error: String)
    /// At-least-once: the cluster rejected an output of `source` for good (e.g. too large
    /// for `topic`): the input is dead-lettered with reason `publish_failed` instead.
    case publishRejected(source: KafkaMessageReference, topic: String, error: String)
    /// Exactly-once: the open transaction, holding `records` input records, is about to
    /// send its offsets and commit. A hook that throws here makes the commit fail (the
    /// transaction is aborted and its records processed again).
    case transactionCommitting(records: Int)
    /// Exactly-once: a transaction committed `records` input records.
    case transactionCommitted(records: Int)
    /// Exactly-once: a transaction was aborted; its records will be processed again.
    case transactionAborted(reason: String)
    /// The broker did not know these subscribed topics; the worker created its topics
    /// again (the consumer is assigned them at its next metadata refresh).
    case topicsRestored([String])
    /// The producer hit a fatal error (e.g. a broker that lost the idempotent producer's
    /// state) and was replaced by a new one; unacknowledged outputs are sent again.
    case producerReplaced(error: String)
}
