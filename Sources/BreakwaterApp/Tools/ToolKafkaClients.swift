import Foundation
import Kafka
import Logging
import Locking

/// Reads output topics for `breakwater tail` as a throwaway consumer-group member: a
/// fresh, unique group id (`breakwater-tail-<uuid>`), manual offset commits that are never
/// made, so it never disturbs the workers' group and leaves no offsets behind.
public struct OutputTopicReader<C: Clock>: Sendable where C.Duration == Duration {
    /// Why a read stopped.
    public enum Stop: Sendable, Equatable {
        /// `limit` records were handled.
        case limit
        /// No record (or assignment) arrived for the idle timeout.
        case idle
        /// The group assigned no partitions within the join timeout (broker unreachable?).
        case notAssigned
        /// The consumer's event stream ended, or the task was cancelled (Ctrl-C).
        case ended
    }

    /// Client settings (brokers, security).
    public var kafka: KafkaConfiguration
    /// The consumer group id this reader uses.
    public let groupID: String
    /// Clock for the idle timeout.
    public var clock: C
    /// Logger for the consumer.
    public var logger: Logger

    /// Creates a reader with a fresh group id.
    public init(kafka: KafkaConfiguration, clock: C, logger: Logger) {
        self.kafka = kafka
        self.clock = clock
        self.logger = logger
        groupID = "breakwater-tail-\(UUID().uuidString.lowercased())"
    }

    /// Reads `topics` with one consumer, calling `handle` for every record in arrival order,
    /// until `limit` records were handled, or nothing arrived for `idleTimeout` (counted from
    /// the last assignment change or record), or the task is cancelled.
    /// - Parameters:
    ///   - fromBeginning: start at the oldest retained records; otherwise only records
    ///     produced after the assignment are read.
    ///   - joinTimeout: with an `idleTimeout`, how long to wait for the group to assign
    ///     partitions before giving up as idle (joining takes seconds, so the idle clock
    ///     only starts once partitions are assigned); at least `idleTimeout`.
    /// - Returns: why it stopped and how many records were handled.
    /// - Throws: ``KafkaError`` when the consumer cannot be created or fails fatally.
    public func read(
        topics: [String], fromBeginning: Bool, idleTimeout: Duration? = nil, joinTimeout: Duration = .seconds(30),
        limit: Int? = nil, handle: @escaping @Sendable (KafkaMessage) -> Void
    ) async throws -> (stop: Stop, records: Int) {
        let configuration = KafkaConsumerConfiguration(
            common: kafka, groupID: groupID, offsetReset: fromBeginning ? .earliest : .latest,
            sessionTimeout: .seconds(10), offsetCommits: .manual)
        let consumer = try KafkaConsumer(configuration: configuration, topics: topics, logger: logger, clock: clock)
        let lastActivity = SharedValue<(at: C.Instant, assigned: Bool)>((clock.now, false))
        let handled = SharedValue(0)
        let stop: Stop
        do {
            stop = try await withThrowingTaskGroup(of: Stop.self) { group in
                group.addTask { [clock] in
                    for try await event in consumer.events {
                        lastActivity.withLock { $0 = (clock.now, true) }
                        guard case .message(let message) = event else { continue }
                        handle(message)
                        let count = handled.withLock { count in
                            count += 1
                            return count
                        }
                        if let limit, count >= limit { return .limit }
                    }
                    return .ended
                }
                if let idleTimeout {
                    group.addTask { [clock] in
                        while true {
                            let (deadline, assigned) = lastActivity.withLock { last in
                                (last.at.advanced(by: last.assigned ? idleTimeout : max(idleTimeout, joinTimeout)), last.assigned)
                            }
                            let now = clock.now
                            if now >= deadline { return assigned ? .idle : .notAssigned }
                            // Wake at least every idleTimeout: an assignment moves a join deadline closer.
                            do {
                                try await clock.sleep(until: min(deadline, now.advanced(by: idleTimeout)), tolerance: nil)
                            } catch {
                                return .ended  // cancelled: the read is over anyway
                            }
                        }
                    }
                }
                let first = try await group.next() ?? .ended
                group.cancelAll()
                // Let the reader finish the record in hand, so the count is final.
                try await group.waitForAll()
                return first
            }
        } catch {
            _ = await consumer.close()
            throw error
        }
        let result = (stop: stop, records: handled.withLock { $0 })
        _ = await consumer.close()
        return result
    }
}

/// A value shared between tasks behind a lock.
final class SharedValue<Value: Sendable>: Sendable {
    private let storage: LockedValue<Value>

    init(_ value: Value) { storage = LockedValue(value) }

    /// Runs `body` with exclusive access to the value.
    func withLock<R>(_ body: (inout Value) -> R) -> R {
        storage.withLock { body(&$0) }
    }
}

/// A logger for an operator tool's Kafka client: warnings and worse, to standard error
/// (standard output carries the tool's results).
public func toolLogger(label: String) -> Logger {
    var logger = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
    logger.logLevel = .warning
    return logger
}
