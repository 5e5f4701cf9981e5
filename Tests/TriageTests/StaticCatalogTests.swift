import Foundation
import Testing
@testable import Triage

@Suite struct StaticCatalogTests {
    static var shippedCatalogURL: URL {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("deploy/catalog.yaml")
    }

    @Test func shippedCatalogLoads() async throws {
        let catalog = try StaticCatalog(contentsOf: Self.shippedCatalogURL)
        #expect(catalog.services.count >= 20)
        let checkout = try #require(try await catalog.lookup(service: "checkout"))
        #expect(checkout.ownerTeam == "payments")
        #expect(checkout.tier == 1)
        #expect(checkout.runbookURL == "https://runbooks.example.com/payments/checkout")
        #expect(checkout.chatChannel == "#payments-oncall")
        #expect(checkout.tags == ["web", "pci", "revenue"])
        let flags = try #require(catalog.entry(named: "feature-flags"))
        #expect(flags.runbookURL == nil)
    }

    @Test func unknownServiceIsNil() async throws {
        let catalog = try StaticCatalog(yaml: "services:\n  - {name: a, owner_team: t}\n")
        #expect(try await catalog.lookup(service: "b") == nil)
        #expect(try await catalog.lookup(service: "A") == nil)
        #expect(try await catalog.lookup(service: "a") == ServiceInfo(name: "a", ownerTeam: "t"))
    }

    @Test func emptyListIsValid() throws {
        #expect(try StaticCatalog(yaml: "services: []").services.isEmpty)
    }

    @Test(arguments: [
        ("services:\n  - {name: a, owner_team: t}\n  - {owner_team: t}\n", 1, "missing `name`"),
        ("services:\n  - {name: a}\n", 0, "missing `owner_team`"),
        ("services:\n  - {name: a, owner_team: t, tier: high}\n", 0, "`tier` must be an integer"),
        ("services:\n  - {name: a, owner_team: t, tier: 0}\n", 0, "`tier` must be 1 or more"),
        ("services:\n  - {name: a, owner_team: t, runbook_url: 'ftp://x/y'}\n", 0, "`runbook_url` must be an http(s) URL"),
        ("services:\n  - {name: a, owner_team: t, tags: web}\n", 0, "`tags` must be a list"),
        ("services:\n  - {name: a, owner_team: t, tags: [[x]]}\n", 0, "`tags` must be a list of non-empty strings"),
        ("services:\n  - {name: a, owner_team: t, owner: u}\n", 0, "unknown key `owner`"),
        ("services:\n  - {name: a, owner_team: t}\n  - {name: b, owner_team: t}\n  - {name: a, owner_team: u}\n", 2, "duplicate service name `a`"),
        ("services:\n  - just-a-string\n", 0, "entry must be a mapping"),
        ("services:\n  - {name: [a], owner_team: t}\n", 0, "`name` must be a string"),
    ])
    func invalidEntryNamesFileIndexAndProblem(yaml: String, index: Int, problem: String) {
        #expect {
            try StaticCatalog(yaml: yaml, file: "bad.yaml")
        } throws: { error in
            guard let error = error as? CatalogFileError else { return false }
            return error.file == "bad.yaml" && error.entryIndex == index && error.problem.contains(problem)
                && error.description.hasPrefix("bad.yaml: services[\(index)]: ")
        }
    }

    @Test(arguments: [
        ("services: [a, b", "invalid YAML"),
        ("- a\n- b\n", "top level must be a mapping"),
        ("other: 1\n", "unknown top-level key `other`"),
        ("{}", "missing `services` list"),
        ("services: 3\n", "`services` must be a list"),
        ("", "top level must be a mapping"),
    ])
    func invalidFileLevelProblems(yaml: String, problem: String) {
        #expect {
            try StaticCatalog(yaml: yaml, file: "bad.yaml")
        } throws: { error in
            guard let error = error as? CatalogFileError else { return false }
            return error.file == "bad.yaml" && error.entryIndex == nil && error.problem.contains(problem)
        }
    }

    @Test func unreadableFileNamesThePath() {
        let url = URL(fileURLWithPath: "/nonexistent/breakwater/catalog.yaml")
        #expect {
            try StaticCatalog(contentsOf: url)
        } throws: { error in
            guard let error = error as? CatalogFileError else { return false }
            return error.file == url.path && error.problem.hasPrefix("cannot read file")
        }
    }

    @Test func inMemoryCatalogRejectsDuplicates() {
        #expect(throws: CatalogFileError.self) {
            try StaticCatalog(services: [ServiceInfo(name: "a", ownerTeam: "t"), ServiceInfo(name: "a", ownerTeam: "u")])
        }
    }
}

@Suite struct InMemoryDedupStoreTests {
    @Test func countsAndKeepsEarliestAndLatest() async {
        let store = InMemoryDedupStore()
        let t0 = Date(timeIntervalSince1970: 1_000)
        #expect(await store.lookup(fingerprint: "f") == nil)
        let first = await store.record(fingerprint: "f", seenAt: t0)
        #expect(first == DedupRecord(fingerprint: "f", firstSeen: t0, lastSeen: t0, occurrences: 1))
        _ = await store.record(fingerprint: "f", seenAt: t0.addingTimeInterval(60))
        let third = await store.record(fingerprint: "f", seenAt: t0.addingTimeInterval(-30))
        #expect(third == DedupRecord(fingerprint: "f", firstSeen: t0.addingTimeInterval(-30), lastSeen: t0.addingTimeInterval(60), occurrences: 3))
        #expect(await store.lookup(fingerprint: "f") == third)
        #expect(await store.lookup(fingerprint: "g") == nil)
    }
}
