import Locking
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

    /// Alerts of `services`, enriched at once; outcomes in the same order.
    private func enrichTogether(_ services: [String], by step: CatalogEnrichment) -> Task<[StepOutcome<ServiceInfo?>], Never> {
        Task {
            await withTaskGroup(of: (Int, StepOutcome<ServiceInfo?>).self) { group in
                for (index, service) in services.enumerated() {
                    group.addTask { (index, await step.enrich(stepAlert(service: service, fingerprint: "fp-\(index)"))) }
                }
                var outcomes = [(Int, StepOutcome<ServiceInfo?>)]()
                for await outcome in group { outcomes.append(outcome) }
                return outcomes.sorted { $0.0 < $1.0 }.map(\.1)
            }
        }
    }

    @Test(.timeLimit(.minutes(1))) func alertsWaitingForTheirServicesLookupShareItsAnswer() async throws {
        let gated = GatedCatalog(entries: ["checkout": Self.checkout, "search": Self.search])
        let step = CatalogEnrichment(primary: gated, breaker: breaker, cache: cache)
        let services = ["checkout", "checkout", "search", "checkout", "search", "checkout"]
        let outcomes = enrichTogether(services, by: step)
        // One lookup per service goes out; the other four alerts wait for those.
        #expect(await eventually(polling: .yielding) { gated.calls == 2 && step.sharedLookups == 4 })
        gated.open(failing: false)
        let answered = await outcomes.value
        #expect(answered.map(\.value) == services.map { $0 == "checkout" ? Self.checkout : Self.search })
        #expect(answered.allSatisfy { $0.provenance == StepProvenance(source: .primary, fallbackUsed: false) })
        #expect(gated.calls == 2)
        #expect(breaker.snapshot().totals.successes == 2)
        // The answer is cached: the next alert does not ask again, nor wait.
        #expect(await step.enrich(stepAlert()).provenance == StepProvenance(source: .cache, fallbackUsed: false))
    }

    @Test(.timeLimit(.minutes(1))) func aFailedSharedLookupFallsBackForEveryAlertThatWaitedAndCountsOnce() async throws {
        let gated = GatedCatalog(entries: ["checkout": Self.checkout])
        let step = CatalogEnrichment(primary: gated, breaker: breaker, staticCatalog: try StaticCatalog(services: [Self.checkoutStatic]), cache: cache)
        let outcomes = enrichTogether(["checkout", "checkout", "checkout"], by: step)
        #expect(await eventually(polling: .yielding) { gated.calls == 1 && step.sharedLookups == 2 })
        gated.open(failing: true)
        for outcome in await outcomes.value {
            #expect(outcome.value == Self.checkoutStatic)
            #expect(outcome.fallbacks == [FallbackNote(breaker: "catalog", strategy: "static_catalog", reason: .error)])
        }
        #expect(breaker.snapshot().totals.failures == 1, "one lookup failed, whatever waited for it")
        // Nothing is cached from a fallback: the next alert sends a new lookup.
        let next = Task { await step.enrich(stepAlert()) }
        #expect(await eventually(polling: .yielding) { gated.calls == 2 })
        gated.open(failing: false)
        #expect(await next.value.value == Self.checkout)
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

/// A catalog whose lookups wait until the test opens the gate, then answer or fail.
private final class GatedCatalog: ServiceCatalog {
    private let entries: [String: ServiceInfo]
    private let state = LockedValue<(calls: Int, waiting: [CheckedContinuation<Bool, Never>])>((0, []))

    init(entries: [String: ServiceInfo]) { self.entries = entries }

    /// Lookups begun so far.
    var calls: Int { state.withLock { $0.calls } }

    /// Lets every waiting lookup go on: each answers, or throws when `failing`.
    func open(failing: Bool) {
        for lookup in state.withLock({ state in defer { state.waiting = [] }; return state.waiting }) { lookup.resume(returning: failing) }
    }

    func lookup(service: String) async throws -> ServiceInfo? {
        let fails = await withCheckedContinuation { continuation in
            state.withLock { state in
                state.calls += 1
                state.waiting.append(continuation)
            }
        }
        if fails { throw ScriptedFailure() }
        return entries[service]
    }
}
