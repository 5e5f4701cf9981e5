/// Keyword heuristics that guess an alert's ``Category`` from its text.
///
/// The alert name, summary and description are lower-cased and searched for each
/// entry's keywords as substrings (so `HighLatency` matches `latency`); the first entry,
/// in order, with a keyword found wins.
public struct CategoryKeywords: Sendable {
    /// The ordered entries: a category and the lower-case keywords that suggest it.
    public let entries: [(category: Category, keywords: [String])]

    /// ``entries`` with each keyword as its UTF-8 bytes, ready to search.
    private let searchable: [(Category, [[UInt8]])]

    /// Creates heuristics from ordered entries; keywords are lower-cased here.
    public init(_ entries: [(category: Category, keywords: [String])]) {
        self.entries = entries.map { ($0.category, $0.keywords.map { $0.lowercased() }) }
        self.searchable = self.entries.map { ($0.category, $0.keywords.map { Array($0.utf8) }) }
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
    ///
    /// Keywords are found as UTF-8 substrings of the lower-cased fields (not through
    /// Foundation's `contains`, which bridges each search to `NSString`).
    public func category(for alert: Alert) -> Category? {
        let fields = [alert.alertName, alert.summary, alert.description].compactMap { $0?.lowercased() }
        guard !fields.isEmpty else { return nil }
        for (category, keywords) in searchable {
            for keyword in keywords where fields.contains(where: { Self.occurs(keyword, in: $0) }) {
                return category
            }
        }
        return nil
    }

    /// Whether `needle`'s bytes occur contiguously in `text`'s UTF-8; an empty keyword
    /// never does (as with Foundation's `contains`, which this replaced).
    private static func occurs(_ needle: [UInt8], in text: String) -> Bool {
        guard let first = needle.first else { return false }
        var text = text
        return text.withUTF8 { haystack in
            guard haystack.count >= needle.count else { return false }
            var start = 0
            let last = haystack.count - needle.count
            while start <= last {
                if haystack[start] == first {
                    var offset = 1
                    while offset < needle.count, haystack[start + offset] == needle[offset] { offset += 1 }
                    if offset == needle.count { return true }
                }
                start += 1
            }
            return false
        }
    }
}
