/// Keyword heuristics that guess an alert's ``Category`` from its text.
///
/// The alert name, summary and description are lower-cased and searched for each
/// entry's keywords as substrings (so `HighLatency` matches `latency`); the first entry,
/// in order, with a keyword found wins.
public struct CategoryKeywords: Sendable {
    /// The ordered entries: a category and the lower-case keywords that suggest it.
    public let entries: [(category: Category, keywords: [String])]

    /// Every keyword's UTF-8 bytes with the index of its entry, bucketed by its first
    /// byte: a field is scanned once, and at each position only the keywords that start
    /// with that byte are compared (an entry order of 60 keywords made this the costliest
    /// part of classifying by the rules when each keyword scanned every field).
    private let byFirstByte: [[(entry: Int, keyword: [UInt8])]]

    /// Creates heuristics from ordered entries; keywords are lower-cased here.
    public init(_ entries: [(category: Category, keywords: [String])]) {
        self.entries = entries.map { ($0.category, $0.keywords.map { $0.lowercased() }) }
        var buckets = [[(entry: Int, keyword: [UInt8])]](repeating: [], count: 256)
        for (index, entry) in self.entries.enumerated() {
            for keyword in entry.keywords {
                let bytes = Array(keyword.utf8)
                // An empty keyword never matches (as with Foundation's `contains`).
                guard let first = bytes.first else { continue }
                buckets[Int(first)].append((index, bytes))
            }
        }
        byFirstByte = buckets
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

    /// The category the alert's text suggests, `nil` when no keyword occurs: the first
    /// entry with a keyword that is a substring of the lower-cased alert name, summary or
    /// description.
    public func category(for alert: Alert) -> Category? {
        var first = entries.count
        for field in [alert.alertName, alert.summary, alert.description] {
            guard first > 0, let field else { continue }
            first = firstEntry(in: field, before: first)
        }
        return first < entries.count ? entries[first].category : nil
    }

    /// The lowest entry index below `limit` with a keyword in `text` lower-cased, else `limit`.
    private func firstEntry(in text: String, before limit: Int) -> Int {
        var text = text
        let isASCII = text.withUTF8 { utf8 in utf8.allSatisfy { $0 < 0x80 } }
        guard isASCII else {
            // Unicode case mapping can change lengths; only the standard library does it right.
            var lowered = text.lowercased()
            return lowered.withUTF8 { firstEntry(inLowercased: $0, before: limit) }
        }
        return text.withUTF8 { utf8 in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: utf8.count) { lowered in
                for (index, byte) in utf8.enumerated() {
                    lowered[index] = byte &- UInt8(ascii: "A") < 26 ? byte | 0x20 : byte
                }
                return firstEntry(inLowercased: UnsafeBufferPointer(lowered), before: limit)
            }
        }
    }

    private func firstEntry(inLowercased haystack: UnsafeBufferPointer<UInt8>, before limit: Int) -> Int {
        var best = limit
        for start in haystack.indices {
            for candidate in byFirstByte[Int(haystack[start])] where candidate.entry < best {
                let keyword = candidate.keyword
                guard haystack.count - start >= keyword.count else { continue }
                var offset = 1
                while offset < keyword.count, haystack[start + offset] == keyword[offset] { offset += 1 }
                if offset == keyword.count {
                    best = candidate.entry
                    if best == 0 { return 0 }
                }
            }
        }
        return best
    }
}
