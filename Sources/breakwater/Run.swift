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
