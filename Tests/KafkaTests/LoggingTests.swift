import Kafka
import Logging
import Locking
import Testing
import TriageTestSupport

/// Collects log records for assertions.
final class CapturedLogs: Sendable {
    struct Record: Sendable {
        let level: Logger.Level
        let message: String
        let metadata: Logger.Metadata
        let source: String
    }

    let records = LockedValue<[Record]>([])

    var logger: Logger {
        var logger = Logger(label: "captured") { _ in Handler(logs: self) }
        logger.logLevel = .trace
        return logger
    }

    struct Handler: LogHandler {
        let logs: CapturedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let record = Record(
                level: event.level,
                message: "\(event.message)",
                metadata: metadata.merging(event.metadata ?? [:]) { $1 },
                source: event.source
            )
            logs.records.withLock { $0.append(record) }
        }
    }
}

@Suite("Kafka logging")
struct LoggingTests {
    @Test func librdkafkaLogLinesGoToSwiftLogWithoutSecrets() async throws {
        let logs = CapturedLogs()
        var configuration = KafkaProducerConfiguration(common: TestKafka.common("127.0.0.1:1"))
        configuration.common.properties["sasl.password"] = "hunter2"
        configuration.common.properties["debug"] = "conf"
        let producer = try KafkaProducer(configuration: configuration, logger: logs.logger)
        // Connection refused to port 1 is logged by librdkafka's broker thread.
        let logged = await eventually(within: .seconds(30)) {
            logs.records.withLock { $0.contains { $0.source == "librdkafka" && $0.metadata["librdkafka.facility"] != nil } }
        }
        #expect(logged)
        await producer.close(flushTimeout: .zero)
        let all = logs.records.withLock { $0 }
        #expect(!all.contains { $0.message.contains("hunter2") || "\($0.metadata)".contains("hunter2") })
    }
}
