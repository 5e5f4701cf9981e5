import Logging

/// swift-log wiring for the worker and the CLI.
public enum BreakwaterLogging {
    private static let once = OnceBootstrap<Bool>()

    /// What `LoggingSystem.bootstrap` receives: a handler factory by label.
    typealias HandlerFactory = @Sendable (String, Logger.MetadataProvider?) -> any LogHandler

    /// A handler for `label` as `settings` ask (format and level).
    public static func makeHandler(
        label: String,
        settings: LoggingSettings,
        output: LogOutput = .standardError,
        metadataProvider: Logger.MetadataProvider? = nil
    ) -> BreakwaterLogHandler {
        BreakwaterLogHandler(
            label: label,
            format: settings.format,
            level: Logger.Level(settings.level),
            output: output,
            metadataProvider: metadataProvider
        )
    }

    /// Makes every `Logger` in the process write ``BreakwaterLogHandler`` lines as
    /// `settings` ask (`LoggingSystem.bootstrap`). Call it once, first thing at start.
    ///
    /// swift-log allows one bootstrap per process; a repeated call changes nothing and
    /// returns `false` (instead of crashing).
    /// - Returns: Whether this call installed the handlers.
    @discardableResult
    public static func bootstrap(
        _ settings: LoggingSettings,
        output: LogOutput = .standardError,
        metadataProvider: Logger.MetadataProvider? = nil
    ) -> Bool {
        bootstrap(settings, output: output, once: once) { factory in
            LoggingSystem.bootstrap(factory, metadataProvider: metadataProvider)
        }
    }

    /// ``bootstrap(_:output:metadataProvider:)`` with the installation and its once-guard
    /// injectable (tests never touch the global `LoggingSystem`).
    static func bootstrap(
        _ settings: LoggingSettings,
        output: LogOutput,
        once: OnceBootstrap<Bool>,
        install: (@escaping HandlerFactory) -> Void
    ) -> Bool {
        once.run {
            install { label, provider in
                makeHandler(label: label, settings: settings, output: output, metadataProvider: provider)
            }
            return true
        }.installed
    }
}

extension Logger.Level {
    /// The swift-log level of a configured level.
    public init(_ setting: LogLevelSetting) {
        switch setting {
        case .trace: self = .trace
        case .debug: self = .debug
        case .info: self = .info
        case .notice: self = .notice
        case .warning: self = .warning
        case .error: self = .error
        case .critical: self = .critical
        }
    }
}
