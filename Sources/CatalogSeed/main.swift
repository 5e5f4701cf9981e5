// breakwater-catalog-seed: creates the `services` table (if missing) in a PostgreSQL
// database and upserts every entry of a catalog YAML file into it. Independent of the
// `breakwater` service; the demo and operators use it to prepare the catalog database.
//
//   swift run breakwater-catalog-seed [--url postgres://…] [--file deploy/catalog.yaml]
//
// The URL defaults to $BREAKWATER_CATALOG_URL. Exit codes: 0 seeded, 1 failed, 2 usage.
import Foundation
import Logging
import Triage
import TriagePostgres

func fail(_ message: String, code: Int32) -> Never {
    FileHandle.standardError.write(Data("breakwater-catalog-seed: \(message)\n".utf8))
    exit(code)
}

var url = ProcessInfo.processInfo.environment["BREAKWATER_CATALOG_URL"]
var file = "deploy/catalog.yaml"
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--url": url = arguments.popFirst()
    case "--file": file = arguments.popFirst() ?? ""
    case "-h", "--help":
        print("usage: breakwater-catalog-seed [--url postgres://user:pass@host:port/db] [--file catalog.yaml]")
        exit(0)
    default: fail("unknown argument `\(argument)` (see --help)", code: 2)
    }
}
guard let url, !url.isEmpty else { fail("no database: pass --url or set BREAKWATER_CATALOG_URL", code: 2) }
guard !file.isEmpty else { fail("--file needs a path", code: 2) }

do {
    let configuration = try PostgresConfiguration(url: url)
    let catalog = try StaticCatalog(contentsOf: URL(fileURLWithPath: file))
    var logger = Logger(label: "breakwater.catalog-seed")
    logger.logLevel = .warning  // postgres-nio logs every failed connection attempt at info
    let pool = try PostgresPool(configuration: configuration, logger: logger)
    let count = try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await pool.run() }
        defer { group.cancelAll() }
        return try await PostgresCatalog(pool: pool).seed(from: catalog)
    }
    print("seeded \(count) services from \(file) into \(configuration.endpoint)")
} catch {
    fail("\(error)", code: 1)
}
