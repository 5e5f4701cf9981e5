import ArgumentParser

/// `breakwater run`: the worker.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a worker: consume alerts, enrich, classify, publish incidents and fallback events.",
        discussion: "Needs only BREAKWATER_KAFKA_BOOTSTRAP_SERVERS; everything else has a default."
    )

    @OptionGroup var options: ConfigOptions

    mutating func run() async throws {
        _ = try options.load()
        try notImplementedYet("run")
    }
}

/// `breakwater produce`: sends alerts from a file or generated samples.
struct Produce: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send alerts to the input topic from a file or as generated samples, with progress and final rate."
    )

    @OptionGroup var options: ConfigOptions

    @Option(name: .long, help: ArgumentHelp(
        "File of payloads: one JSON payload per line, or one JSON array of payloads.", valueName: "file"))
    var file: String?

    @Option(name: .long, help: ArgumentHelp(
        "Generate this many realistic sample alerts, covering every input format.", valueName: "count"))
    var generate: Int?

    @Option(name: .long, help: "Topic to send to (default: topics.alerts from the configuration).")
    var topic: String?

    @Option(name: .long, help: "Seed of the sample generator, for reproducible runs.")
    var seed: UInt64 = 1

    @Flag(name: .long, help: "Do not draw the progress bar.")
    var noProgress = false

    func validate() throws {
        if (file == nil) == (generate == nil) {
            throw ValidationError("give exactly one of --file <file> or --generate <count>")
        }
        if let generate, generate < 1 { throw ValidationError("--generate must be at least 1 (got \(generate))") }
    }

    mutating func run() async throws {
        _ = try options.load()
        try notImplementedYet("produce")
    }
}

/// `breakwater tail`: prints incidents and fallback events as they arrive.
struct Tail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print classified incidents and fallback events as they arrive (aligned table, or JSON lines)."
    )

    @OptionGroup var options: ConfigOptions

    @Flag(name: .long, help: "Print JSON lines instead of a table.")
    var json = false

    @Flag(name: .long, help: "Start from the earliest retained records instead of new ones.")
    var fromBeginning = false

    @Option(name: .long, help: "Stop after this many records.")
    var limit: Int?

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1 (got \(limit))") }
    }

    mutating func run() async throws {
        _ = try options.load()
        try notImplementedYet("tail")
    }
}
