import ArgumentParser
import BreakwaterApp
import Foundation
import Logging
import Triage

/// `breakwater classify`: the worker's classification of records from a file, offline.
struct Classify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify records from a file exactly as a worker would, and print every verdict per alert.",
        discussion: """
            Reads one record per line, {"value": <record value as JSON>, "headers": {...}} (other keys are \
            ignored), decodes it with the worker's decoder and classifies each alert with the worker's \
            classification step (ml.*, breakers.ml, features, rules.file from the configuration). Prints one \
            JSON line per alert: line, alert, text, published, model, rules, fallbacks; a record the decoder \
            rejects prints {line, rejected, detail}. No Kafka, PostgreSQL or dedup is used. Used by \
            scripts/eval-classifier. Exits 65 if any line was rejected.
            """
    )

    @OptionGroup var options: ConfigOptions

    @Argument(help: ArgumentHelp("File of records (one JSON object per line).", valueName: "file"))
    var file: String

    @Option(name: .long, help: "Records classified at once (the ML micro-batcher batches across them).")
    var concurrency = 32

    func validate() throws {
        if concurrency < 1 { throw ValidationError("--concurrency must be at least 1 (got \(concurrency))") }
    }

    func run() async throws {
        let configuration = try options.load().configuration
        let contents: [UInt8]
        do {
            contents = Array(try Data(contentsOf: URL(fileURLWithPath: file)))
        } catch {
            printError("cannot read \(file): \(error.localizedDescription)")
            throw ExitCode.failure
        }
        let assembly = WorkerAssembly(configuration: configuration, logger: Logger(label: "breakwater.classify"))
        let client = try assembly.makeMLClient()
        let results: [OfflineClassification.Result]
        do {
            let tool = try OfflineClassification(assembly: assembly, mlClient: client)
            results = await tool.run(contents, concurrency: concurrency)
        } catch {
            try? await client?.shutdown()
            printError("\(error)")
            throw configurationExitCode
        }
        try? await client?.shutdown()
        var rejected = 0
        for result in results {
            if case .rejected = result { rejected += 1 }
            print(try result.jsonLine())
        }
        if rejected > 0 {
            printError("\(rejected) line(s) rejected")
            throw dataErrorExitCode
        }
    }
}
