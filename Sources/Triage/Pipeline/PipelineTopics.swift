/// The topics a worker reads and writes.
public struct PipelineTopics: Sendable, Hashable {
    /// The default topic names, the one place they are written (the configuration's
    /// defaults, the tools and the tests use these).
    public enum DefaultName {
        public static let alerts = "alerts"
        public static let classified = "incidents.classified"
        public static let fallbackEvents = "incidents.fallback-events"
        public static let deadLetter = "alerts.dlq"
        public static let repair = "incidents.repair"
    }

    public var alerts: String
    public var classified: String
    public var fallbackEvents: String
    public var deadLetter: String
    /// The repair log: one record per incident a fallback served, for the healer.
    public var repair: String

    /// The topic names; each defaults to its ``DefaultName``.
    public init(
        alerts: String = DefaultName.alerts,
        classified: String = DefaultName.classified,
        fallbackEvents: String = DefaultName.fallbackEvents,
        deadLetter: String = DefaultName.deadLetter,
        repair: String = DefaultName.repair
    ) {
        self.alerts = alerts
        self.classified = classified
        self.fallbackEvents = fallbackEvents
        self.deadLetter = deadLetter
        self.repair = repair
    }

    /// The healer's view: it reads the repair log and writes the same outputs.
    public var healing: PipelineTopics {
        PipelineTopics(alerts: repair, classified: classified, fallbackEvents: fallbackEvents, deadLetter: deadLetter, repair: repair)
    }

    /// The topic an output of `kind` goes to.
    public func topic(for kind: OutputKind) -> String {
        switch kind {
        case .incident: classified
        case .fallbackEvent: fallbackEvents
        case .deadLetter: deadLetter
        case .repair: repair
        }
    }

    /// The output kind written to `topic`, or `nil` when `topic` is not an output topic.
    public func kind(of topic: String) -> OutputKind? {
        OutputKind.allCases.first { self.topic(for: $0) == topic }
    }

    /// Every topic, the input first, then the outputs in ``OutputKind`` order.
    public var all: [String] { [alerts] + OutputKind.allCases.map(topic(for:)) }
}
