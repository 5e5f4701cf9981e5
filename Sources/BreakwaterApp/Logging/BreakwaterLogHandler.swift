import Foundation
import Logging
import Locking

/// Where log lines go. Each line is written whole, with its newline, in one call.
public struct LogOutput: Sendable {
    /// Receives one complete line (without the trailing newline).
    public let write: @Sendable (String) -> Void

    /// A custom destination (tests collect lines with this).
    public init(_ write: @escaping @Sendable (String) -> Void) { self.write = write }

    /// Standard output.
    public static let standardOutput = LogOutput(fileHandle: .standardOutput)
    /// Standard error (the default: keeps stdout free for CLI output).
    public static let standardError = LogOutput(fileHandle: .standardError)

    /// Serialises writes of all file outputs so concurrent lines never interleave.
    private static let writeLock = LockedValue(())

    private init(fileHandle: FileHandle) {
        self.init { line in
            let data = Data((line + "\n").utf8)
            // A closed or full stream must not take the process down: the line is dropped.
            Self.writeLock.withLock { _ in try? fileHandle.write(contentsOf: data) }
        }
    }
}

/// A swift-log handler writing one line per event in JSON or logfmt (``LogFormat``).
///
/// Each line carries `ts` (RFC 3339 UTC, milliseconds), `level`, `logger` (the label),
/// `msg`, `source` (module), then the metadata — handler, provider and event metadata,
/// later ones winning — sorted by key, then `error` when the event has one. A metadata key
/// equal to a fixed field is written as `meta.<key>`. Secrets are redacted by
/// ``LogRedaction`` before formatting. Writing never fails loudly: an unwritable output
/// drops the line.
public struct BreakwaterLogHandler: LogHandler {
    /// The logger's label.
    public let label: String
    /// JSON or logfmt.
    public let format: LogFormat
    /// Where lines go.
    public let output: LogOutput
    /// The time source of `ts` (injectable for tests).
    public let now: @Sendable () -> Date
    /// The minimum level.
    public var logLevel: Logger.Level
    /// Metadata on every line of this handler.
    public var metadata: Logger.Metadata = [:]
    /// Contextual metadata (e.g. task-local) merged into each line.
    public var metadataProvider: Logger.MetadataProvider?

    /// A handler for `label` writing `format` lines at `level` and above to `output`.
    public init(
        label: String,
        format: LogFormat,
        level: Logger.Level = .info,
        output: LogOutput = .standardError,
        metadataProvider: Logger.MetadataProvider? = nil,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.label = label
        self.format = format
        self.logLevel = level
        self.output = output
        self.metadataProvider = metadataProvider
        self.now = now
    }

    /// Gets or sets one metadata value of this handler.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Formats and writes `event` as one line.
    public func log(event: LogEvent) {
        output.write(line(for: event))
    }

    /// The line `event` is written as (without the newline).
    public func line(for event: LogEvent) -> String {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let own = event.metadata { merged.merge(own) { _, new in new } }
        let record = LogRecord(
            timestamp: now(),
            level: event.level,
            label: label,
            message: LogRedaction.maskingURLPasswords(in: event.message.description),
            source: event.source,
            metadata: LogRedaction.redact(merged),
            error: event.error.map { LogRedaction.maskingURLPasswords(in: String(describing: $0)) }
        )
        return LogLineFormatter.line(record, format: format)
    }
}
