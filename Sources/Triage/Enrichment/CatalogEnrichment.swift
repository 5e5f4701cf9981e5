import Locking
import Resilience

/// The enrichment step: looks up the alert's service in the catalog behind a circuit
/// breaker, with the fallback chain of the design, tried in this order:
///
/// 1. fresh cache (not a fallback: provenance `cache`),
/// 2. the primary catalog (PostgreSQL), through the `catalog` breaker,
/// 3. stale cache, with its age (`stale_cache`),
/// 4. an optional secondary catalog (a read replica), through its own breaker (`secondary`),
/// 5. the static catalog file (`static_catalog`),
/// 6. a default "unowned" entry (`default`).
///
/// Steps 3–6 run when the primary is open, fails or times out. A primary answer of
/// "unknown service" is an answer: the entry is `unowned` and no fallback runs.
///
/// One lookup per service at a time: alerts of a service whose lookup is out wait for
/// its outcome instead of sending their own. With a cold cache (a worker starting on a
/// backlog, or entries expiring under load) every record in flight would otherwise query
/// the primary, up to `pipeline.maxInFlight` (2,048) queries for a catalog of a few dozen
/// services, each holding its tasks and a pool lease meanwhile; while the primary was
/// unreachable that was most of a worker's peak memory at start (its heap profile:
/// ~36 KB of task memory per record waiting). The breaker then counts the lookups sent,
/// not the alerts that shared them; every alert still gets the outcome, with its
/// fallback notes.
public struct CatalogEnrichment: EnrichmentStep {
    private let primary: any ServiceCatalog
    private let breaker: CircuitBreaker
    private let secondary: (catalog: any ServiceCatalog, breaker: CircuitBreaker)?
    private let staticCatalog: StaticCatalog?
    private let cache: StaleCache<String, ServiceInfo>
    /// Fallback chains by service name; names beyond the bound are made again.
    private let chains = BoundedMemo<String, FallbackChain<ServiceInfo>>(capacity: 10_000)
    /// The lookups out now, by service name.
    private let lookups = LookupsInFlight()

    /// Creates the step.
    /// - Parameters:
    ///   - primary: the catalog of record.
    ///   - breaker: guards `primary`.
    ///   - secondary: a replica and the breaker guarding it, if configured.
    ///   - staticCatalog: the static file's entries, if configured.
    ///   - cache: fresh/stale cache of primary answers (its TTLs set what "fresh" means).
    public init(
        primary: any ServiceCatalog,
        breaker: CircuitBreaker,
        secondary: (catalog: any ServiceCatalog, breaker: CircuitBreaker)? = nil,
        staticCatalog: StaticCatalog? = nil,
        cache: StaleCache<String, ServiceInfo>
    ) {
        self.primary = primary
        self.breaker = breaker
        self.secondary = secondary
        self.staticCatalog = staticCatalog
        self.cache = cache
    }

    /// Answers at once when the alert names no service, its entry is cached and fresh, or
    /// the `catalog` breaker is open and the fallbacks need no waiting (no secondary
    /// catalog); otherwise `nil`, with nothing recorded.
    public func enrichWithoutWaiting(_ alert: Alert) -> StepOutcome<ServiceInfo?>? {
        guard let name = alert.serviceName else { return Self.noService }
        if let cached = cache.get(name), !cached.isStale { return Self.cached(cached.value) }
        return answerWhileOpen(name, fallbacks: fallbacks(for: name))
    }

    /// The fallbacks' answer when the breaker rejects the call at once; else `nil`.
    private func answerWhileOpen(_ name: String, fallbacks: FallbackChain<ServiceInfo>) -> StepOutcome<ServiceInfo?>? {
        do {
            guard let result = try breaker.fallBackIfOpen(to: fallbacks, policy: .onAnyFailure) else { return nil }
            return outcome(of: result, for: name)
        } catch {
            return Self.unowned(name)
        }
    }

    /// How many alerts waited for a lookup of their service that another alert sent.
    package var sharedLookups: Int { lookups.joined }

    /// Enriches `alert`; never fails (the default entry always serves).
    /// - Returns: `nil` value only when the alert names no service at all.
    public func enrich(_ alert: Alert) async -> StepOutcome<ServiceInfo?> {
        guard let name = alert.serviceName else { return Self.noService }
        if let cached = cache.get(name), !cached.isStale { return Self.cached(cached.value) }
        let fallbacks = fallbacks(for: name)
        if let answered = answerWhileOpen(name, fallbacks: fallbacks) { return answered }
        let (lookup, leads) = lookups.join(name)
        // Waits as long as the lookup it joined: the primary's deadline bounds it.
        guard leads else { return await lookup.value() }
        let outcome = await lookUp(name, fallbacks: fallbacks)
        lookups.end(name)
        lookup.offer(outcome)
        return outcome
    }

    /// Asks the primary through the breaker, falling back as the breaker decides.
    private func lookUp(_ name: String, fallbacks: FallbackChain<ServiceInfo>) async -> StepOutcome<ServiceInfo?> {
        let primary = self.primary
        do {
            let result = try await breaker.call(fallback: fallbacks, policy: .onAnyFailure) {
                try await primary.lookup(service: name) ?? .unowned(name)
            }
            return outcome(of: result, for: name)
        } catch {
            // Only an error the breaker does not count (it passes through untouched)
            // lands here; serve the default so the alert is still enriched.
            return Self.unowned(name)
        }
    }

    /// The primary catalog's answer for `alert`, through the `catalog` breaker and with
    /// no fallback: what a heal replaces a fallback's entry with. A primary answer is
    /// cached, as on the live path.
    /// - Throws: ``StepUnavailable`` when the breaker refuses the call or the primary fails
    ///   or times out (the breaker counts it, so a relapse opens it again).
    public func enrichFromPrimary(_ alert: Alert) async throws(StepUnavailable) -> StepOutcome<ServiceInfo?> {
        guard let name = alert.serviceName else { return Self.noService }
        let primary = self.primary
        let outcome = await breaker.execute { try await primary.lookup(service: name) ?? .unowned(name) }
        guard case .success(let entry) = outcome else { throw StepUnavailable(.enrichment, outcome) }
        cache.insert(entry, for: name)
        return StepOutcome(value: entry, provenance: StepProvenance(source: .primary, fallbackUsed: false))
    }

    private static let noService = StepOutcome<ServiceInfo?>(value: nil, provenance: StepProvenance(source: .default, fallbackUsed: false))

    private static func cached(_ entry: ServiceInfo) -> StepOutcome<ServiceInfo?> {
        StepOutcome(value: entry, provenance: StepProvenance(source: .cache, fallbackUsed: false))
    }

    private static func unowned(_ name: String) -> StepOutcome<ServiceInfo?> {
        StepOutcome(value: .unowned(name), provenance: StepProvenance(source: .default, fallbackUsed: true))
    }

    /// The step's outcome for what the breaker call returned; caches a primary answer.
    private func outcome(of result: GuardedResult<ServiceInfo>, for name: String) -> StepOutcome<ServiceInfo?> {
        guard let servedBy = result.servedBy else {
            cache.insert(result.value, for: name)
            return StepOutcome(value: result.value, provenance: StepProvenance(source: .primary, fallbackUsed: false))
        }
        return StepOutcome(
            value: result.value,
            provenance: StepProvenance(source: Self.source(of: servedBy), fallbackUsed: true, staleAgeSeconds: result.staleAge?.seconds),
            fallbacks: FallbackNote.served(in: result)
        )
    }

    /// The fallback chain of service `name`, made once per name (it holds nothing that
    /// changes: the caches and catalogs are read when it runs).
    private func fallbacks(for name: String) -> FallbackChain<ServiceInfo> {
        chains.value(for: name) { makeFallbacks(for: name) }
    }

    private func makeFallbacks(for name: String) -> FallbackChain<ServiceInfo> {
        var chain = FallbackChain<ServiceInfo>().adding(cache.strategy(for: name, name: StrategyName.staleCache).values)
        if let secondary {
            chain = chain.adding(AsyncFunctionFallback(name: StrategyName.secondary) { _ in
                try await secondary.breaker.call { try await secondary.catalog.lookup(service: name) }
            })
        }
        if let staticCatalog {
            chain = chain.adding(FunctionFallback(name: StrategyName.staticCatalog, orNothing: { _ in staticCatalog.entry(named: name) }))
        }
        return chain.adding(StaticFallback(ServiceInfo.unowned(name), name: StrategyName.defaultEntry))
    }

    private static func source(of strategy: String) -> ProvenanceSource {
        switch strategy {
        case StrategyName.staleCache: .stale
        case StrategyName.secondary: .secondary
        case StrategyName.staticCatalog: .static
        default: .default
        }
    }
}

/// The catalog lookups out now, by service name, each with the outcome its waiters get.
private final class LookupsInFlight: Sendable {
    private struct State {
        var running: [String: FirstOffer<StepOutcome<ServiceInfo?>>] = [:]
        var joined = 0
    }

    private let state = LockedValue(State())

    /// How many callers joined a lookup another caller made.
    var joined: Int { state.withLock { $0.joined } }

    /// The lookup of `name` out now, or a new one; `leads`: the caller made it and owes
    /// ``end(_:)`` and its outcome.
    func join(_ name: String) -> (lookup: FirstOffer<StepOutcome<ServiceInfo?>>, leads: Bool) {
        state.withLock { state in
            if let lookup = state.running[name] {
                state.joined += 1
                return (lookup, false)
            }
            let lookup = FirstOffer<StepOutcome<ServiceInfo?>>()
            state.running[name] = lookup
            return (lookup, true)
        }
    }

    /// The lookup of `name` has its outcome: the next alert of `name` that misses the
    /// cache sends a new one.
    func end(_ name: String) {
        state.withLock { _ = $0.running.removeValue(forKey: name) }
    }
}
