// Consume -> produce pass-through through the Kafka layer vs kcat, same broker, same run.
//
//   cd Benchmarks && swift run -c release KafkaBenchmark [bootstrap] [records] [bytes]
//
// Defaults: $BREAKWATER_TEST_KAFKA_BOOTSTRAP or 127.0.0.1:9092, 200000 records, 500 bytes.
import Foundation
import Kafka
import Logging
import Synchronization

let arguments = CommandLine.arguments
let bootstrap = arguments.count > 1 ? arguments[1]
    : ProcessInfo.processInfo.environment["BREAKWATER_TEST_KAFKA_BOOTSTRAP"] ?? "127.0.0.1:9092"
let recordCount = arguments.count > 2 ? Int(arguments[2]) ?? 200_000 : 200_000
let recordSize = arguments.count > 3 ? Int(arguments[3]) ?? 500 : 500

let logger: Logger = {
    var logger = Logger(label: "kafka-benchmark")
    logger.logLevel = .warning
    return logger
}()
// noida-db ignores fetch size limits and answers with everything up to the high
// watermark (~114 MB here), above librdkafka's default 100 MB receive limit.
let largeResponses = ["receive.message.max.bytes": "1000000000"]
let common = KafkaConfiguration(bootstrapServers: [bootstrap], clientID: "kafka-benchmark", properties: largeResponses)
let run = UUID().uuidString.prefix(8).lowercased()
let input = "bench-in-\(run)"
let outputOurs = "bench-out-ours-\(run)"
let outputKcat = "bench-out-kcat-\(run)"

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    exit(1)
}

/// Runs a shell pipeline, failing the benchmark when it fails.
func shell(_ command: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/bash")
    process.arguments = ["-o", "pipefail", "-c", command]
    do { try process.run() } catch { fail("cannot run \(command): \(error)") }
    process.waitUntilExit()
    if process.terminationStatus != 0 { fail("\(command) exited with \(process.terminationStatus)") }
}

/// Produces `count` records of `size` printable bytes (newline-free, so kcat can frame them).
func fill(topic: String, count: Int, size: Int) async throws {
    let producer = try KafkaProducer(
        configuration: KafkaProducerConfiguration(common: common, maxInFlight: 50_000),
        logger: logger
    )
    let failures = Atomic<Int>(0)
    for index in 0..<count {
        let prefix = Array("\(index):".utf8)
        let value = prefix + [UInt8](repeating: UInt8(ascii: "x"), count: max(size - prefix.count, 0))
        try await producer.enqueue(KafkaProducerRecord(topic: topic, key: nil, value: value)) { result in
            if case .failure = result { failures.add(1, ordering: .relaxed) }
        }
    }
    try await producer.flush(timeout: .seconds(120))
    await producer.close()
    if failures.load(ordering: .relaxed) > 0 { fail("\(failures.load(ordering: .relaxed)) input records failed") }
}

/// Our layer: group consumer -> producer, each record marked done on its delivery report.
func passThroughOurs() async throws -> Duration {
    let start = ContinuousClock.now
    let consumer = try KafkaConsumer(
        configuration: KafkaConsumerConfiguration(common: common, groupID: "bench-ours-\(run)", commitInterval: .seconds(1), pollBatchSize: 1_000),
        topics: [input],
        logger: logger
    )
    let producer = try KafkaProducer(
        configuration: KafkaProducerConfiguration(common: common, maxInFlight: 50_000),
        logger: logger
    )
    let delivered = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
    var received = 0
    for try await event in consumer.events {
        guard case .message(let message) = event else { continue }
        let reference = message.reference
        try await producer.enqueue(KafkaProducerRecord(topic: outputOurs, key: message.key, value: message.value, headers: message.headers)) { result in
            if case .failure = result { failed.add(1, ordering: .relaxed) }
            consumer.markDone(reference)
            delivered.add(1, ordering: .relaxed)
        }
        received += 1
        if received == recordCount { break }
    }
    try await producer.flush(timeout: .seconds(120))
    let elapsed = ContinuousClock.now - start
    await producer.close()
    await consumer.close()
    if failed.load(ordering: .relaxed) > 0 { fail("\(failed.load(ordering: .relaxed)) records failed in our pass-through") }
    if delivered.load(ordering: .relaxed) != recordCount { fail("our pass-through delivered \(delivered.load(ordering: .relaxed)) of \(recordCount)") }
    return elapsed
}

/// Baseline: kcat in balanced-consumer mode piped into kcat as producer.
func passThroughKcat() -> Duration {
    let start = ContinuousClock.now
    shell(
        "kcat -b \(bootstrap) -G bench-kcat-\(run) -X receive.message.max.bytes=1000000000 -o beginning -e -q -c \(recordCount) -f '%s\\n' \(input)"
            + " | kcat -b \(bootstrap) -P -t \(outputKcat) -X enable.idempotence=true"
    )
    return ContinuousClock.now - start
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

let admin = try KafkaAdmin(configuration: common, logger: logger)
try await admin.createTopics([input, outputOurs, outputKcat].map { KafkaTopicSpecification(name: $0, partitions: 1) })
print("librdkafka \(librdkafkaVersion), broker \(bootstrap), \(recordCount) records x \(recordSize) bytes")
try await fill(topic: input, count: recordCount, size: recordSize)

// Alternate order would need more data; run the baseline first, then ours, then the
// baseline again, and compare with the baselines' mean.
let kcatFirst = passThroughKcat()
let ours = try await passThroughOurs()
let kcatSecond = passThroughKcat()
let kcatMean = (seconds(kcatFirst) + seconds(kcatSecond)) / 2
let oursRate = Double(recordCount) / seconds(ours)
let kcatRate = Double(recordCount) / kcatMean
print(String(format: "kcat pass-through:  %.0f records/s (runs: %.2fs, %.2fs)", kcatRate, seconds(kcatFirst), seconds(kcatSecond)))
print(String(format: "Kafka layer:        %.0f records/s (%.2fs)", oursRate, seconds(ours)))
print(String(format: "ratio (ours/kcat):  %.2fx (target >= 0.80x)", oursRate / kcatRate))
try await admin.deleteTopics([input, outputOurs, outputKcat], ignoreMissing: true)
admin.close()
