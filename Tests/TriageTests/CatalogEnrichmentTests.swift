import Resilience
import Testing
@testable import Triage
import TriageTestSupport

/// Every position of the enrichment chain, with in-memory catalogs that fail on command
/// and breakers on a manual clock.
@Suite struct CatalogEnrichmentTests {
    static let checkout = ServiceInfo(name: "checkout", ownerTeam: "payments", tier: 1)
    static let checkoutReplica = ServiceInfo(name: "checkout", ownerTeam: "payments-replica", tier: 1)
    static let checkoutStatic = ServiceInfo(name: "checkout", ownerTeam: "payments-static", tier: 2)
    static let search = ServiceInfo(name: "search", ownerTeam: "discovery")

    let clock = ManualClock()
    let primary = ScriptedCatalog(entries: ["checkout": checkout])
    let replica = ScriptedCatalog(entries: ["checkout": checkoutReplica])
    let breaker: CircuitBreaker
    let replicaBreaker: CircuitBreaker
    let cache: StaleCache<String, ServiceInfo>

    init() throws {
        breaker = try makeBreaker(.tripping(after: 2, callTimeout: .seconds(2)), clock: clock, name: "catalog")
        replicaBreaker = try makeBreaker(.tripping(after: 1), clock: clock, name: "catalog_secondary")
        cache = try StaleCache(freshFor: .seconds(60), staleFor: .seconds(3600), clock: clock)
    }

    func step(secondary: Bool = false, staticEntries: [ServiceInfo] = [checkoutStatic, search]) throws -> CatalogEnrichment {
        CatalogEnrichment(
            primary: primary,
            breaker: breaker,
            secondary: secondary ? (catalog: replica, breaker: replicaBreaker) : nil,
            staticCatalog: try StaticCatalog(services: staticEntries),
            cache: cache
        )
    }

    @Test func primaryServesThenFreshCacheWithoutCallingAgain() async throws {
        let step = try step()
        let first = await step.enrich(stepAlert())
        #expect(first.value == Self.checkout)
        #expect(first.provenance == StepProvenance(source: .primary, fallbackUsed: false))
        #expect(first.fallbacks.isEmpty)

        clock.advance(by: .seconds(59))
        let second = await step.enrich(stepAlert())
        #expect(second.value == Self.checkout)
        #expect(second.provenance == StepProvenance(source: .cache, fallbackUsed: false))
        #expect(second.fallbacks.isEmpty)
        #expect(primary.script.calls == 1)
    }

    @Test func staleCacheServesWithItsExactAgeWhenThePrimaryFails() async throws {
        let step = try step()
        _ = await step.enrich(stepAlert())
        primary.script.set(.fail)
        clock.advance(by: .seconds(90))

        let outcome = await step.enrich(stepAlert())
        #expect(outcome.value == Self.checkout)
        #expect(outcome.provenance == StepProvenance(source: .stale, fallbackUsed: true, staleAgeSeconds: 90))
        #expect(outcome.fallbacks == [FallbackNote(breaker: "catalog", strategy: "stale_cache", reason: .error, staleAgeSeconds: 90)])
    }

    @Test func openBreakerSkipsThePrimaryAndSaysCircuitOpen() async throws {
        let step = try step()
        _ = await step.enrich(stepAlert())
        primary.script.set(.fail)
        clock.advance(by: .seconds(120))
        _ = await step.enrich(stepAlert())
        _ = await step.enrich(stepAlert())
        #expect(breaker.state == .open)
        let callsWhenOpened = primary.script.calls

        clock.advance(by: .seconds(5))
        let outcome = await step.enrich(stepAlert())
        #expect(primary.script.calls == callsWhenOpened)
        #expect(outcome.provenance == StepProvenance(source: .stale, fallbackUsed: true, staleAgeSeconds: 125))
        #expect(outcome.fallbacks == [FallbackNote(breaker: "catalog", strategy: "stale_cache", reason: .circuitOpen, staleAgeSeconds: 125)])
    }

    @Test func timedOutPrimaryFallsBackWithReasonTimeout() async throws {
        let step = try step()
        primary.script.set(.hang(clock))
        let outcome = await advancing(clock, sleepers: 2, by: .seconds(2)) { await step.enrich(stepAlert()) }
        #expect(outcome.value == Self.checkoutStatic)
        #expect(outcome.provenance == StepProvenance(source: .static, fallbackUsed: true))
        #expect(outcome.fallbacks == [FallbackNote(breaker: "catalog", strategy: "static_catalog", reason: .timeout)])
        #expect(breaker.snapshot().totals.timeouts == 1)
    }

    @Test func secondaryServesAfterACacheMiss() async throws {
        let step = try step(secondary: true)
        primary.script.set(.fail)
        let outcome = await step.enrich(stepAlert())
        #expect(outcome.value == Self.checkoutReplica)
        #expect(outcome.provenance == StepProvenance(source: .secondary, fallbackUsed: true))
        #expect(outcome.fallbacks == [FallbackNote(breaker: "catalog", strategy: "secondary", reason: .error)])
    }

    @Test func failingOrOpenSecondaryGivesWayToTheStaticCatalog() async throws {
        let step = try step(secondary: true)
        primary.script.set(.fail)
        replica.script.set(.fail)
        let failed = await step.enrich(stepAlert())
        #expect(failed.value == Self.checkoutStatic)
        #expect(failed.provenance == StepProvenance(source: .static, fallbackUsed: true))
        #expect(failed.fallbacks == [FallbackNote(breaker: "catalog", strategy: "static_catalog", reason: .error)])
        #expect(replicaBreaker.state == .open)

        let replicaCalls = replica.script.calls
        let skipped = await step.enrich(stepAlert())
        #expect(skipped.value == Self.checkoutStatic)
        #expect(replica.script.calls == replicaCalls)
    }

    @Test func defaultUnownedWhenNoSourceKnowsTheService() async throws {
        let step = try step(staticEntries: [Self.search])
        primary.script.set(.fail)
        let outcome = await step.enrich(stepAlert())
        #expect(outcome.value == ServiceInfo.unowned("checkout"))
        #expect(outcome.provenance == StepProvenance(source: .default, fallbackUsed: true))
        #expect(outcome.fallbacks == [FallbackNote(breaker: "catalog", strategy: "default", reason: .error)])
    }

    @Test func unknownServiceFromThePrimaryIsUnownedWithoutFallback() async throws {
        let step = try step()
        let outcome = await step.enrich(stepAlert(service: "search"))
        // The static file knows `search`, but the primary answered: its answer wins.
        #expect(outcome.value == ServiceInfo.unowned("search"))
        #expect(outcome.provenance == StepProvenance(source: .primary, fallbackUsed: false))
        #expect(outcome.fallbacks.isEmpty)
    }

    @Test func alertWithoutServiceLabelIsNotLookedUp() async throws {
        let step = try step()
        let outcome = await step.enrich(stepAlert(service: nil))
        #expect(outcome.value == nil)
        #expect(outcome.provenance == StepProvenance(source: .default, fallbackUsed: false))
        #expect(outcome.fallbacks.isEmpty)
        #expect(primary.script.calls == 0)
    }

    @Test(arguments: ["app", "job", "component"])
    func serviceNameFallsBackToOtherLabels(_ key: String) async throws {
        let outcome = try await step().enrich(stepAlert(labelKey: key))
        #expect(outcome.value == Self.checkout)
        #expect(outcome.provenance.source == .primary)
    }

    @Test func answersWithoutWaitingOnlyWhatNeedsNoCall() async throws {
        let step = try step()
        // Nothing cached, breaker closed: the primary must be asked.
        #expect(step.enrichWithoutWaiting(stepAlert()) == nil)
        #expect(primary.script.calls == 0)
        #expect(breaker.snapshot().totals.rejections == 0)
        #expect(step.enrichWithoutWaiting(stepAlert(service: nil))?.value == .some(nil))

        _ = await step.enrich(stepAlert())
        let cached = try #require(step.enrichWithoutWaiting(stepAlert()))
        #expect(cached.value == Self.checkout)
        #expect(cached.provenance == StepProvenance(source: .cache, fallbackUsed: false))

        // Open breaker, nothing fresh: the stale cache answers at once, as enrich() would.
        primary.script.set(.fail)
        clock.advance(by: .seconds(120))
        _ = await step.enrich(stepAlert())
        _ = await step.enrich(stepAlert())
        #expect(breaker.state == .open)
        let calls = primary.script.calls
        let rejections = breaker.snapshot().totals.rejections
        let answered = try #require(step.enrichWithoutWaiting(stepAlert()))
        let awaited = await step.enrich(stepAlert())
        #expect(answered.value == awaited.value)
        #expect(answered.provenance == awaited.provenance)
        #expect(answered.fallbacks == [FallbackNote(breaker: "catalog", strategy: "stale_cache", reason: .circuitOpen, staleAgeSeconds: 120)])
        #expect(answered.fallbacks == awaited.fallbacks)
        #expect(primary.script.calls == calls)
        #expect(breaker.snapshot().totals.rejections == rejections + 2)

        // Nothing cached for it: the static file answers at once.
        let fromFile = try #require(step.enrichWithoutWaiting(stepAlert(service: "search")))
        #expect(fromFile.value == Self.search)
        #expect(fromFile.provenance == StepProvenance(source: .static, fallbackUsed: true))
        #expect(fromFile.fallbacks == [FallbackNote(breaker: "catalog", strategy: "static_catalog", reason: .circuitOpen)])
    }

    @Test func aSecondaryCatalogMeansWaitingEvenWhenOpen() async throws {
        let step = try step(secondary: true)
        primary.script.set(.fail)
        _ = await step.enrich(stepAlert())
        _ = await step.enrich(stepAlert())
        #expect(breaker.state == .open)
        let rejections = breaker.snapshot().totals.rejections
        #expect(step.enrichWithoutWaiting(stepAlert()) == nil)
        #expect(breaker.snapshot().totals.rejections == rejections)
    }
}
