import ArgumentParser
import BreakwaterApp

/// `breakwater check-config`: validates a configuration and prints the effective values.
struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate the configuration and print the effective values (secrets masked).",
        discussion: """
            Reads the file (--config or $BREAKWATER_CONFIG), then BREAKWATER_* environment variables, \
            then --set flags. Exits 0 and prints every setting with where it came from, or exits 78 \
            and prints each problem with its key, value and what is allowed.
            """
    )

    @OptionGroup var options: ConfigOptions

    @Flag(name: .long, help: "Also print the environment variable of each setting.")
    var env = false

    mutating func run() throws {
        let loaded = try options.load()
        print("configuration is valid\n")
        if env {
            let width = loaded.effectiveValues.map(\.key.count).max() ?? 0
            for value in loaded.effectiveValues {
                print("\(value.key.padding(toLength: width, withPad: " ", startingAt: 0))  \(value.environmentVariable)")
            }
        } else {
            print(loaded.maskedDescription)
        }
    }
}
