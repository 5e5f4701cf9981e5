/// What the service catalog knows about the service an alert is about.
public struct ServiceInfo: Sendable, Codable, Equatable {
    public var name: String
    public var ownerTeam: String
    /// Criticality tier, 1 (most critical) upward; `nil` when unknown.
    public var tier: Int?
    public var runbookURL: String?
    public var onCall: String?
    public var chatChannel: String?
    public var tags: [String]

    public init(name: String, ownerTeam: String, tier: Int? = nil, runbookURL: String? = nil, onCall: String? = nil, chatChannel: String? = nil, tags: [String] = []) {
        self.name = name
        self.ownerTeam = ownerTeam
        self.tier = tier
        self.runbookURL = runbookURL
        self.onCall = onCall
        self.chatChannel = chatChannel
        self.tags = tags
    }

    /// The entry used when no source knows the service: owned by nobody.
    public static func unowned(_ name: String) -> ServiceInfo {
        ServiceInfo(name: name, ownerTeam: "unowned")
    }
}
