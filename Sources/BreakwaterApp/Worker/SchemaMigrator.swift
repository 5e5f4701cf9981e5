import Logging
import ServiceLifecycle
import TriagePostgres

/// Applies the PostgreSQL migrations (catalog and dedup tables) in the background,
/// retrying with backoff until they succeed, so a worker starts — and classifies with
/// its fallbacks — while the database is still unreachable.
struct SchemaMigrator: Service {
    let catalog: PostgresCatalog
    let dedup: PostgresDedupStore?
    let logger: Logger
    var initialBackoff: Duration = .seconds(1)
    var maxBackoff: Duration = .seconds(30)

    func run() async {
        var backoff = initialBackoff
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let applied = try await catalog.migrate() + (try await dedup?.migrate() ?? [])
                logger.info("database schema ready", metadata: ["applied": "\(applied)"])
                return
            } catch {
                logger.warning("database migration failed; retrying", metadata: [
                    "error": "\(error)", "retry_in": "\(backoff)",
                ])
            }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, maxBackoff)
        }
    }
}
