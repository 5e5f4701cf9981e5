/// Keyword heuristics that guess an alert's ``Category`` from its text.
///
/// The alert name, summary and description are lower-cased and searched for each
/// entry's keywords as substrings (so `HighLatency` matches `latency`); the first entry,
/// in order, with a keyword found wins.
public struct CategoryKeywords: Sendable {
    /// The ordered entries: a category and the lower-case keywords that suggest it.
    public let entries: [(category: Category, keywords: [String])]

    /// Creates heuristics from ordered entries; keywords are lower-cased here.
    public init(_ entries: [(category: Category, keywords: [String])]) {
        self.entries = entries.map { ($0.category, $0.keywords.map { $0.lowercased() }) }
    }

    /// The built-in heuristics, used when a rule file has no `keywords` section.
    public static let standard = CategoryKeywords([
        (.security, ["security", "unauthorized", "forbidden", "intrusion", "brute", "certificate", "cert expir", "tls", "vulnerab", "cve-"]),
        (.deployment, ["deploy", "rollout", "rollback", "release", "canary", "crashloop", "imagepull"]),
        (.data, ["replication", "corrupt", "backup", "consistency", "data loss", "schema", "etl", "stale data"]),
        (.capacity, ["disk full", "diskspace", "disk space", "quota", "capacity", "filesystem", "inode", "out of space"]),
        (.saturation, ["cpu", "memory", "saturat", "throttl", "queue depth", "backlog", "lag", "oom", "load average", "connection pool"]),
        (.latency, ["latency", "slow", "timeout", "p99", "p95", "response time", "duration"]),
        (.errors, ["error", "exception", "5xx", "failure", "failed", "panic"]),
        (.availability, ["down", "unavailable", "unreachable", "outage", "health check", "healthcheck", "probe", "not responding", "absent"]),
    ])

    /// The category the alert's text suggests, `nil` when no keyword occurs.
    public func category(for alert: Alert) -> Category? {
        let text = [alert.alertName, alert.summary, alert.description]
            .compactMap { $0?.lowercased() }
            .joined(separator: "\n")
        guard !text.isEmpty else { return nil }
        for entry in entries where entry.keywords.contains(where: { text.contains($0) }) {
            return entry.category
        }
        return nil
    }
}
