// Consume -> produce pass-through through the Kafka layer vs kcat, same broker, same run.
//
//   cd Benchmarks && swift run -c release KafkaBenchmark [bootstrap] [records] [bytes]
//
// Defaults: $BREAKWATER_TEST_KAFKA_BOOTSTRAP or 127.0.0.1:9092, 200000 records, 500 bytes.
// BENCH_PHASES=1 prints when our pass-through saw its first/last record; BENCH_DEBUG=<librdkafka
// debug contexts> (e.g. cgrp,fetch) turns on librdkafka debug logs.
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
    logger.logLevel = ProcessInfo.processInfo.environment["BENCH_DEBUG"] != nil ? .debug : .warning
    return logger
}()
// noida-db ignores fetch size limits and answers with everything up to the high
// watermark (~114 MB here), above librdkafka's default 100 MB receive limit.
var largeResponses = ["receive.message.max.bytes": "1000000000"]
if let debug = ProcessInfo.processInfo.environment["BENCH_DEBUG"] { largeResponses["debug"] = debug }
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

/// Our layer: group consumer -> producer, each record marked done on its delivery report;
/// done offsets committed every 5 s (the default, like kcat's auto-commit interval);
/// up to 100 000 records in flight, like kcat's librdkafka queue (queue.buffering.max.messages).
func passThroughOurs(group: String, output: String) async throws -> Duration {
    let start = ContinuousClock.now
    let consumer = try KafkaConsumer(
        configuration: KafkaConsumerConfiguration(common: common, groupID: group, pollBatchSize: 1_000),
        topics: [input],
        logger: logger
    )
    let producer = try KafkaProducer(
        configuration: KafkaProducerConfiguration(common: common, maxInFlight: 100_000),
        logger: logger
    )
    let delivered = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
    var received = 0
    var firstAt = Duration.zero
    for try await event in consumer.events {
        guard case .message(let message) = event else { continue }
        let reference = message.reference
        try await producer.enqueue(KafkaProducerRecord(topic: output, key: message.key, value: message.value, headers: message.headers)) { result in
            if case .failure = result { failed.add(1, ordering: .relaxed) }
            consumer.markDone(reference)
            delivered.add(1, ordering: .relaxed)
        }
        received += 1
        if received == 1 { firstAt = ContinuousClock.now - start }
        if received == recordCount { break }
    }
    let lastAt = ContinuousClock.now - start
    try await producer.flush(timeout: .seconds(120))
    if ProcessInfo.processInfo.environment["BENCH_PHASES"] != nil {
        print("  ours: first message after \(firstAt), last received after \(lastAt), all acknowledged after \(ContinuousClock.now - start)")
    }
    let elapsed = ContinuousClock.now - start
    await producer.close()
    await consumer.close()
    if failed.load(ordering: .relaxed) > 0 { fail("\(failed.load(ordering: .relaxed)) records failed in our pass-through") }
    if delivered.load(ordering: .relaxed) != recordCount { fail("our pass-through delivered \(delivered.load(ordering: .relaxed)) of \(recordCount)") }
    return elapsed
}

/// Baseline: kcat in balanced-consumer mode piped into kcat as producer.
func passThroughKcat(group: String, output: String) -> Duration {
    let start = ContinuousClock.now
    shell(
        "kcat -b \(bootstrap) -G \(group) -X receive.message.max.bytes=1000000000 -o beginning -e -q -c \(recordCount) -f '%s\\n' \(input)"
            + " | kcat -b \(bootstrap) -P -t \(output) -X enable.idempotence=true"
    )
    return ContinuousClock.now - start
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

let admin = try KafkaAdmin(configuration: common, logger: logger)
try await admin.createTopics([KafkaTopicSpecification(name: input, partitions: 1)])
print("librdkafka \(librdkafkaVersion), broker \(bootstrap), \(recordCount) records x \(recordSize) bytes")
try await fill(topic: input, count: recordCount, size: recordSize)

// Interleaved rounds (ABBA BA), each into a fresh output topic that is deleted after,
// so the broker's state stays the same size; medians are compared.
var kcatTimes: [Double] = []
var ourTimes: [Double] = []
for (round, useKcat) in [true, false, false, true, true, false].enumerated() {
    let output = useKcat ? "\(outputKcat)-\(round)" : "\(outputOurs)-\(round)"
    try await admin.createTopics([KafkaTopicSpecification(name: output, partitions: 1)])
    if useKcat {
        kcatTimes.append(seconds(passThroughKcat(group: "bench-kcat-\(run)-\(round)", output: output)))
    } else {
        ourTimes.append(seconds(try await passThroughOurs(group: "bench-ours-\(run)-\(round)", output: output)))
    }
    try await admin.deleteTopics([output], ignoreMissing: true)
}
func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
let oursRate = Double(recordCount) / median(ourTimes)
let kcatRate = Double(recordCount) / median(kcatTimes)
let format = { (times: [Double]) in times.map { String(format: "%.2fs", $0) }.joined(separator: ", ") }
print(String(format: "kcat pass-through:  %.0f records/s (median; runs: %@)", kcatRate, format(kcatTimes)))
print(String(format: "Kafka layer:        %.0f records/s (median; runs: %@)", oursRate, format(ourTimes)))
print(String(format: "ratio (ours/kcat):  %.2fx (target >= 0.80x)", oursRate / kcatRate))
try await admin.deleteTopics([input], ignoreMissing: true)
admin.close()
