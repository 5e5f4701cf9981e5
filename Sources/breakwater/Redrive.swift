import ArgumentParser
import BreakwaterApp
import Foundation
import Kafka
import Triage

/// `breakwater redrive`: sends dead letters back to the input topic.
struct Redrive: AsyncParsableCommand, Sendable {
    static let configuration = CommandConfiguration(
        abstract: "Send dead letters back to the input topic with their original key, bytes and headers.",
        discussion: """
            Reads the dead-letter topic (topics.deadLetter) as it is when the command starts and re-produces \
            the selected records to the input topic (topics.alerts, or --topic), each with a \
            breakwater-redrive-count header one higher than before. Records already redriven --max-redrives \
            times are skipped and counted (the loop guard). Progress is kept in a consumer group (--group; by \
            default one per selection, e.g. breakwater-redrive.reason=invalid_json): a record's offset is \
            committed only once the broker acknowledged its copy, so the same command run again after Ctrl-C, \
            --limit or a failure continues where it stopped without sending anything twice. --dry-run prints \
            what would go, grouped by reason, and changes nothing. Exits 1 when a record failed, 130 when \
            interrupted.
            """
    )

    @OptionGroup var options: ConfigOptions

    @Option(name: .long, help: ArgumentHelp(
        "Only dead letters with these reasons (comma-separated, repeatable): \(DeadLetter.reasonCodes.joined(separator: ", ")).",
        valueName: "reason"))
    var reason: [String] = []

    @Option(name: .long, help: ArgumentHelp(
        "Only records dead-lettered at or after this time: RFC 3339 (2026-11-29T10:00:00Z) or a duration ago (30m, 2h).",
        valueName: "time"))
    var since: String?

    @Option(name: .long, help: ArgumentHelp("Only records dead-lettered before this time (same forms as --since).", valueName: "time"))
    var until: String?

    @Option(name: .long, help: "Send at most this many records (run again to continue).")
    var limit: Int?

    @Flag(name: .long, help: "Print what would be sent, grouped by reason; send nothing and keep the group's progress as it is.")
    var dryRun = false

    @Option(name: .long, help: "Skip records already redriven this many times (their breakwater-redrive-count header).")
    var maxRedrives = RedriveSelection.defaultMaxRedrives

    @Option(name: .long, help: "Consumer group keeping the progress (default: one per selection, named after it).")
    var group: String?

    @Option(name: .long, help: "Topic to send to (default: topics.alerts from the configuration).")
    var topic: String?

    @Option(name: .long, help: ArgumentHelp("Stop when nothing arrived for this many seconds before the end.", valueName: "seconds"))
    var idleTimeout: Double = 10

    @Flag(name: .long, help: "Print no progress while redriving.")
    var noProgress = false

    /// The reason codes given, each checked.
    private func reasons() throws -> Set<String> {
        let names = Set(reason.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        let unknown = names.subtracting(DeadLetter.reasonCodes).sorted()
        guard unknown.isEmpty else {
            throw ValidationError("unknown --reason \(unknown.joined(separator: ", ")); expected any of \(DeadLetter.reasonCodes.joined(separator: ", "))")
        }
        return names
    }

    private func time(_ text: String?, option: String, now: Date) throws -> Date? {
        guard let text else { return nil }
        guard let date = RedriveSelection.time(from: text, now: now) else {
            throw ValidationError("\(option) \(text) is neither an RFC 3339 time (2026-11-29T10:00:00Z) nor a duration (30m, 2h)")
        }
        return date
    }

    /// The selection the options describe, with relative times taken from `now`.
    private func selection(now: Date) throws -> RedriveSelection {
        let selection = RedriveSelection(
            reasons: try reasons(), since: try time(since, option: "--since", now: now), until: try time(until, option: "--until", now: now),
            maxRedrives: maxRedrives)
        if let since = selection.since, let until = selection.until, since >= until {
            throw ValidationError("--since must be before --until")
        }
        return selection
    }

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1 (got \(limit))") }
        if maxRedrives < 1 { throw ValidationError("--max-redrives must be at least 1 (got \(maxRedrives))") }
        if !(idleTimeout > 0) { throw ValidationError("--idle-timeout must be a positive number of seconds") }
        if let group, group.isEmpty { throw ValidationError("--group must not be empty") }
        _ = try selection(now: Date())
    }

    mutating func run() async throws {
        let command = self
        try await cancellingOnInterrupt { try await command.redrive() }
    }

    private func redrive() async throws {
        let configuration = try options.load().configuration
        let selection = try selection(now: Date())
        let redrive = DeadLetterRedrive(
            kafka: configuration.kafka.clientConfiguration(clientID: "breakwater-redrive"),
            deadLetterTopic: configuration.topics.deadLetter, targetTopic: topic ?? configuration.topics.alerts,
            groupID: group ?? RedriveSelection.defaultGroupID(reasons: selection.reasons, since: since, until: until),
            selection: selection, limit: limit, idleTimeout: .milliseconds(Int64(idleTimeout * 1000)),
            logger: toolLogger(label: "breakwater.redrive"))
        let progress = ProgressOutput(enabled: !noProgress, tool: "redrive")
        let summary: RedriveSummary
        do {
            if dryRun {
                summary = try await redrive.dryRun(onProgress: progress.enabled ? progress.report : nil)
            } else {
                let producer = try KafkaProducer(
                    configuration: KafkaProducerConfiguration(common: configuration.kafka.clientConfiguration(clientID: "breakwater-redrive")),
                    logger: toolLogger(label: "breakwater.redrive"))
                summary = try await redrive.run(to: producer, onProgress: progress.enabled ? progress.report : nil)
                _ = await producer.close()
            }
        } catch {
            progress.finish()
            printError("breakwater redrive: \(error)")
            throw ExitCode.failure
        }
        progress.finish()
        print(summary.text)
        if !summary.succeeded { throw ExitCode.failure }
        if summary.stop == .interrupted { throw ExitCode(130) }
    }
}
