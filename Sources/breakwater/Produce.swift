import ArgumentParser
import BreakwaterApp
import Foundation
import Kafka
import Triage

/// Exit status for an input file with invalid lines (sysexits `EX_DATAERR`).
let dataErrorExitCode = ExitCode(65)

/// `breakwater produce`: sends alerts from a file or generated samples.
struct Produce: AsyncParsableCommand, Sendable {
    static let configuration = CommandConfiguration(
        abstract: "Send alerts to the input topic from a file or as generated samples, with progress and final rate.",
        discussion: """
            Waits for the broker to acknowledge every record, then prints one line: records sent, alerts \
            carried, malformed records, failures and the rate. Exits 1 if any record failed, 65 if the file \
            has lines that are not JSON (nothing is sent unless --send-invalid), 130 when Ctrl-C stopped it \
            early (what was queued is still awaited and reported).
            """
    )

    @OptionGroup var options: ConfigOptions

    @Option(name: .long, help: ArgumentHelp(
        "File of payloads: one JSON payload per line, or one JSON array of payloads.", valueName: "file"))
    var file: String?

    @Option(name: [.customLong("count"), .customLong("generate")], help: ArgumentHelp(
        "Generate this many realistic sample records, cycling through every input format.", valueName: "N"))
    var count: Int?

    @Option(name: .long, help: ArgumentHelp(
        "Also generate this many malformed records (the workers dead-letter them).", valueName: "M"))
    var malformed = 0

    @Option(name: .long, help: ArgumentHelp(
        "Comma-separated input formats to generate (default: all): \(InputFormat.allCases.map(\.rawValue).joined(separator: ", ")).",
        valueName: "list"))
    var formats: String?

    @Option(name: .long, help: "Seed of the sample generator: one seed, the same alerts (timestamps relative to the time of the run).")
    var seed: UInt64 = 1

    @Flag(name: .long, help: "With --file, also send the lines that are not JSON (as malformed records).")
    var sendInvalid = false

    @Option(name: .long, help: "Topic to send to (default: topics.alerts from the configuration).")
    var topic: String?

    @Option(name: .long, help: ArgumentHelp(
        "Write what was sent (records, alerts carried, malformed, failures) as JSON to this file.", valueName: "file"))
    var expectFile: String?

    @Flag(name: .long, help: "Print no progress while sending.")
    var noProgress = false

    func validate() throws {
        if (file == nil) == (count == nil) {
            throw ValidationError("give exactly one of --file <file> or --count <N>")
        }
        if let count, count < 0 { throw ValidationError("--count must be at least 0 (got \(count))") }
        if malformed < 0 { throw ValidationError("--malformed must be at least 0 (got \(malformed))") }
        if file != nil, malformed > 0 || formats != nil {
            throw ValidationError("--malformed and --formats only apply to generated samples (--count)")
        }
        if let count, count + malformed == 0 { throw ValidationError("nothing to send: --count and --malformed are both 0") }
        if sendInvalid, file == nil { throw ValidationError("--send-invalid only applies to --file") }
        _ = try chosenFormats()
    }

    /// The formats `--formats` names (all when it is absent).
    private func chosenFormats() throws -> [InputFormat] {
        do {
            return try formats.map(SampleBatch.formats(from:)) ?? InputFormat.allCases
        } catch {
            throw ValidationError(error.description)
        }
    }

    mutating func run() async throws {
        let command = self
        try await cancellingOnInterrupt { try await command.produce() }
    }

    /// The command's work; Ctrl-C stops queuing, awaits the queued records' reports and
    /// reports what was sent.
    private func produce() async throws {
        let configuration = try options.load().configuration
        let records = try makeRecords(decoder: AlertDecoder.configured(by: configuration.pipeline))
        let topic = topic ?? configuration.topics.alerts
        let producer: KafkaProducer
        do {
            producer = try KafkaProducer(
                configuration: KafkaProducerConfiguration(common: configuration.kafka.clientConfiguration(clientID: "breakwater-produce")),
                logger: toolLogger(label: "breakwater.produce"))
        } catch {
            printError("breakwater produce: cannot create the Kafka producer: \(error)")
            throw ExitCode.failure
        }
        let progress = ProgressOutput(enabled: !noProgress)
        let summary = await AlertProducerRun(topic: topic, clock: ContinuousClock(), progressInterval: progress.interval)
            .send(records, to: producer, onProgress: progress.enabled ? progress.report : nil)
        progress.finish()
        _ = await producer.close()
        print(summary.finalLine)
        for (message, times) in summary.errors.sorted(by: { $0.value > $1.value }) {
            printError("  \(times) × \(message)")
        }
        if let expectFile {
            do {
                try ProduceExpectation(summary).write(to: expectFile)
            } catch {
                printError("breakwater produce: \(error)")
                throw ExitCode.failure
            }
        }
        if summary.failed > 0 { throw ExitCode.failure }
        if summary.notSent > 0 { throw ExitCode(130) }
    }

    /// The records to send, from the file (classified by `decoder`, as the workers will) or the generator.
    private func makeRecords(decoder: AlertDecoder) throws -> [OutgoingAlertRecord] {
        if let file {
            let payloads: PayloadFile
            do {
                payloads = try PayloadFile(path: file)
            } catch {
                printError("breakwater produce: \(error)")
                throw ExitCode.failure
            }
            for problem in payloads.problems { printError("\(file):\(problem.line): \(problem.message)") }
            if !payloads.problems.isEmpty, !sendInvalid {
                printError("breakwater produce: \(payloads.problems.count) line(s) of \(file) are not JSON; nothing was sent "
                    + "(fix them, or pass --send-invalid to send them for the dead-letter topic)")
                throw dataErrorExitCode
            }
            return payloads.records(includingInvalid: sendInvalid, decoder: decoder)
        }
        return SampleBatch.records(count: count ?? 0, malformed: malformed, formats: try chosenFormats(), seed: seed, now: Date())
    }
}
