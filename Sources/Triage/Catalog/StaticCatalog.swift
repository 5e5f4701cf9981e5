import Foundation
import Yams

/// A service catalog held in memory, loaded from a YAML file (the last-resort
/// fallback before the "unowned" default, and the seed for the PostgreSQL catalog).
///
/// File format (`deploy/catalog.yaml` ships a default):
/// ```yaml
/// services:
///   - name: checkout            # required, unique
///     owner_team: payments      # required
///     tier: 1                   # optional, integer >= 1
///     runbook_url: https://...  # optional, http(s) URL
///     on_call: payments-primary # optional
///     chat_channel: "#payments" # optional
///     tags: [web, pci]          # optional, list of strings
/// ```
/// Unknown keys are rejected, so a typo never silently drops a field.
public struct StaticCatalog: ServiceCatalog, Sendable, Equatable {
    /// All entries, in file order.
    public let services: [ServiceInfo]
    private let byName: [String: ServiceInfo]

    /// Builds a catalog from entries.
    /// - Throws: ``CatalogFileError`` (with file `<memory>`) when two entries share a name
    ///   or an entry has an empty name or owner team.
    public init(services: [ServiceInfo]) throws {
        try self.init(validating: services, file: "<memory>")
    }

    private init(validating services: [ServiceInfo], file: String) throws {
        var byName: [String: ServiceInfo] = [:]
        for (index, service) in services.enumerated() {
            if service.name.trimmingCharacters(in: .whitespaces).isEmpty {
                throw CatalogFileError(file: file, entryIndex: index, problem: "`name` is empty")
            }
            if service.ownerTeam.trimmingCharacters(in: .whitespaces).isEmpty {
                throw CatalogFileError(file: file, entryIndex: index, problem: "`owner_team` is empty")
            }
            if byName[service.name] != nil {
                throw CatalogFileError(file: file, entryIndex: index, problem: "duplicate service name `\(service.name)`")
            }
            byName[service.name] = service
        }
        self.services = services
        self.byName = byName
    }

    /// Loads and validates a catalog file.
    /// - Throws: ``CatalogFileError`` naming the file, the entry index (0-based) when an
    ///   entry is at fault, and the problem: unreadable file, invalid YAML, missing or
    ///   wrongly typed field, unknown key, bad tier or URL, duplicate name.
    public init(contentsOf url: URL) throws {
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw CatalogFileError(file: url.path, entryIndex: nil, problem: "cannot read file: \(error.localizedDescription)")
        }
        try self.init(yaml: text, file: url.path)
    }

    /// Parses and validates catalog YAML.
    /// - Parameter file: the name used in error messages.
    /// - Throws: ``CatalogFileError`` as for ``init(contentsOf:)``.
    public init(yaml: String, file: String = "<string>") throws {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw CatalogFileError(file: file, entryIndex: nil, problem: "invalid YAML: \(error)")
        }
        guard let root, let mapping = root.mapping else {
            throw CatalogFileError(file: file, entryIndex: nil, problem: "top level must be a mapping with a `services` list")
        }
        for key in mapping.keys where key.string != "services" {
            throw CatalogFileError(file: file, entryIndex: nil, problem: "unknown top-level key `\(key.string ?? "?")`")
        }
        guard let list = mapping["services"] else {
            throw CatalogFileError(file: file, entryIndex: nil, problem: "missing `services` list")
        }
        guard let entries = list.sequence else {
            throw CatalogFileError(file: file, entryIndex: nil, problem: "`services` must be a list")
        }
        let services = try entries.enumerated().map { index, node in
            try Self.parseEntry(node, index: index, file: file)
        }
        try self.init(validating: services, file: file)
    }

    /// Returns the entry named `service`, or `nil` when the file does not list it. Never throws.
    public func lookup(service: String) async throws -> ServiceInfo? {
        byName[service]
    }

    /// The same lookup without `async`, for callers outside a fallback chain.
    public func entry(named service: String) -> ServiceInfo? {
        byName[service]
    }

    /// Two catalogs are equal when they list the same entries in the same order.
    public static func == (lhs: StaticCatalog, rhs: StaticCatalog) -> Bool {
        lhs.services == rhs.services
    }

    private static let knownKeys: Set<String> = ["name", "owner_team", "tier", "runbook_url", "on_call", "chat_channel", "tags"]

    private static func parseEntry(_ node: Node, index: Int, file: String) throws -> ServiceInfo {
        func fail(_ problem: String) -> CatalogFileError {
            CatalogFileError(file: file, entryIndex: index, problem: problem)
        }
        guard let mapping = node.mapping else { throw fail("entry must be a mapping") }
        for key in mapping.keys {
            guard let name = key.string, knownKeys.contains(name) else {
                throw fail("unknown key `\(key.string ?? "?")` (known: \(knownKeys.sorted().joined(separator: ", ")))")
            }
        }
        func optionalString(_ key: String) throws -> String? {
            guard let value = mapping[key] else { return nil }
            if value.null != nil { return nil }
            guard value.scalar != nil, let string = value.string else { throw fail("`\(key)` must be a string") }
            let trimmed = string.trimmingCharacters(in: .whitespaces)
            return trimmed.isEmpty ? nil : trimmed
        }
        guard let name = try optionalString("name") else { throw fail("missing `name`") }
        guard let owner = try optionalString("owner_team") else { throw fail("missing `owner_team`") }
        var tier: Int?
        if let value = mapping["tier"], value.null == nil {
            guard let int = value.int else { throw fail("`tier` must be an integer") }
            guard int >= 1 else { throw fail("`tier` must be 1 or more, got \(int)") }
            tier = int
        }
        let runbook = try optionalString("runbook_url")
        if let runbook {
            guard let url = URL(string: runbook), let scheme = url.scheme?.lowercased(),
                  scheme == "http" || scheme == "https", url.host?.isEmpty == false
            else { throw fail("`runbook_url` must be an http(s) URL, got `\(runbook)`") }
        }
        var tags: [String] = []
        if let value = mapping["tags"], value.null == nil {
            guard let sequence = value.sequence else { throw fail("`tags` must be a list of strings") }
            for tag in sequence {
                guard tag.scalar != nil, let string = tag.string, !string.isEmpty else {
                    throw fail("`tags` must be a list of non-empty strings")
                }
                tags.append(string)
            }
        }
        return ServiceInfo(
            name: name, ownerTeam: owner, tier: tier, runbookURL: runbook,
            onCall: try optionalString("on_call"), chatChannel: try optionalString("chat_channel"), tags: tags
        )
    }
}

/// A catalog file (or in-memory catalog) that cannot be used.
public struct CatalogFileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Path of the file (or `<memory>` / `<string>`).
    public let file: String
    /// 0-based index of the offending entry in `services`; `nil` for file-level problems.
    public let entryIndex: Int?
    /// What is wrong.
    public let problem: String

    /// Creates the error.
    public init(file: String, entryIndex: Int?, problem: String) {
        self.file = file
        self.entryIndex = entryIndex
        self.problem = problem
    }

    /// `<file>: services[<index>]: <problem>`, or `<file>: <problem>` for file-level problems.
    public var description: String {
        if let entryIndex {
            return "\(file): services[\(entryIndex)]: \(problem)"
        }
        return "\(file): \(problem)"
    }
}
