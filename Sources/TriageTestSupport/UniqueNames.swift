import Foundation

/// A name no other test (or earlier run against the same broker or database) uses:
/// `prefix-` and 12 random lower-case hex digits.
public func uniqueName(_ prefix: String) -> String {
    "\(prefix)-\(UUID().uuidString.lowercased().prefix(12))"
}
