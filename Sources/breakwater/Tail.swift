import ArgumentParser
import BreakwaterApp
import Foundation
import Kafka
import Locking
import Triage

/// `breakwater tail`: prints incidents and fallback events as they arrive.
struct Tail: AsyncParsableCommand, Sendable {
    static let configuration = CommandConfiguration(
        abstract: "Print classified incidents and fallback events as they arrive (aligned table, or JSON lines).",
        discussion: """
            Reads as a member of a fresh, unique consumer group and never commits offsets, so the workers' \
            group is never disturbed. With --summary, reads all three output topics from the beginning until \
            nothing arrives for --until-idle seconds, then prints counts: incidents by classifier and severity, \
            fallback events by breaker, strategy and reason, DLQ records by reason, distinct incidents. \
            --expect compares that with `produce --expect-file` and exits 1 when something is missing. \
            Ctrl-C ends a tail cleanly (an interrupted summary is printed as partial, status 130).
            """
    )

    @OptionGroup var options: ConfigOptions

    @Flag(name: .long, help: "Print JSON lines instead of a table.")
    var json = false

    @Flag(name: .long, help: "Start from the earliest retained records instead of new ones.")
    var fromBeginning = false

    @Flag(name: .long, help: "Also print records of the dead-letter topic (reason from their headers).")
    var dlq = false

    @Option(name: .long, help: "Stop after this many records.")
    var limit: Int?

    @Option(name: .long, help: ArgumentHelp("Stop when no record arrived for this many seconds.", valueName: "seconds"))
    var untilIdle: Double?

    @Flag(name: .long, help: "Print a summary instead of the records (all three topics from the beginning; needs --until-idle).")
    var summary = false

    @Option(name: .long, help: ArgumentHelp("Write the summary as JSON to this file (implies --summary).", valueName: "file"))
    var summaryJson: String?

    @Option(name: .long, help: ArgumentHelp(
        "Compare the summary with this file from `produce --expect-file`; exit 1 when alerts or dead letters are missing.",
        valueName: "file"))
    var expect: String?

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1 (got \(limit))") }
        if let untilIdle, !(untilIdle > 0) { throw ValidationError("--until-idle must be a positive number of seconds") }
        if summary || summaryJson != nil || expect != nil, untilIdle == nil {
            throw ValidationError("--summary needs --until-idle <seconds> (when to consider the topics drained)")
        }
    }

    /// How long `--until-idle` waits for the group to assign partitions before failing.
    static let joinTimeout = Duration.seconds(30)

    mutating func run() async throws {
        let command = self
        try await cancellingOnInterrupt { try await command.tail() }
    }

    /// The command's work; Ctrl-C cancels it, which ends the read and leaves the group.
    private func tail() async throws {
        let configuration = try options.load().configuration
        let topics = configuration.topics.pipelineTopics
        let summarizing = summary || summaryJson != nil || expect != nil
        let expectation = try expect.map { path in
            do {
                return try ProduceExpectation(path: path)
            } catch {
                throw ValidationError("\(error)")
            }
        }
        var kinds: [OutputKind] = [.incident, .fallbackEvent]
        if dlq || summarizing { kinds.append(.deadLetter) }
        let reader = OutputTopicReader(
            kafka: configuration.kafka.clientConfiguration(clientID: "breakwater-tail"),
            clock: ContinuousClock(), logger: toolLogger(label: "breakwater.tail"))
        let totals = LockedValue(OutputSummary())
        let decoder = AlertDecoder.configured(by: configuration.pipeline)
        if !summarizing, !json { printLine(TailRow.table.header) }
        let json = json
        let outcome: (stop: OutputTopicReader<ContinuousClock>.Stop, records: Int)
        do {
            outcome = try await reader.read(
                topics: kinds.map(topics.topic(for:)), fromBeginning: fromBeginning || summarizing,
                idleTimeout: untilIdle.map { .milliseconds(Int64($0 * 1000)) }, joinTimeout: Self.joinTimeout, limit: limit
            ) { message in
                guard let kind = topics.kind(of: message.topic) else { return }
                let headers = message.headers.map { RecordHeader(key: $0.name, value: $0.value) }
                let record = PublishedRecord(kind: kind, value: message.value, headers: headers, decoder: decoder)
                if summarizing {
                    totals.withLock { $0.add(record) }
                    return
                }
                let row = TailRow(record, recordTime: message.timestamp.map { Date(timeIntervalSince1970: Double($0.milliseconds) / 1000) })
                printLine(json
                    ? row.jsonLine(topic: message.topic, partition: message.partition, offset: message.offset,
                                   key: message.key, value: message.value, headers: headers)
                    : row.tableLine)
            }
        } catch {
            printError("breakwater tail: \(error)")
            throw ExitCode.failure
        }
        if outcome.stop == .notAssigned {
            printError("breakwater tail: no partition of \(kinds.map(topics.topic(for:)).joined(separator: ", ")) was assigned within "
                + "\(Self.joinTimeout); is kafka.bootstrapServers (\(configuration.kafka.bootstrapServers)) reachable and do the topics exist?")
            throw ExitCode.failure
        }
        guard summarizing else { return }
        let result = totals.withLock { $0 }
        if summary || summaryJson == nil { printLine(result.text) }
        if let summaryJson {
            do {
                try result.write(to: summaryJson)
            } catch {
                printError("breakwater tail: \(error)")
                throw ExitCode.failure
            }
        }
        if let expectation {
            let check = DeliveryCheck(expectation: expectation, summary: result)
            printLine(check.text)
            if !check.nothingLost { throw ExitCode.failure }
        }
        if outcome.stop == .ended {
            printError("breakwater tail: interrupted before the topics were idle; the summary is partial")
            throw ExitCode(130)
        }
    }
}

/// Writes a line to standard output at once (unbuffered, also into a pipe), so a tail
/// piped into another program shows each record as it arrives.
func printLine(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
