import Testing
import Triage

@Suite struct FirstOfferTests {
    @Test func theFirstOfferWinsAndLaterOnesAreIgnored() async {
        let offer = FirstOffer<Int>()
        #expect(!offer.isDecided)
        #expect(offer.offer(1))
        #expect(!offer.offer(2))
        #expect(offer.isDecided)
        #expect(await offer.value() == 1)
    }

    @Test func waitersBeforeTheDecisionAllGetIt() async {
        let offer = FirstOffer<String>()
        let waiters = (0..<5).map { _ in Task { await offer.value() } }
        // Let some of them start waiting first; either order must give every one the value.
        await Task.yield()
        offer.offer("decided")
        offer.offer("too late")
        for waiter in waiters { #expect(await waiter.value == "decided") }
    }

    @Test func aCancelledWaiterGetsNilAndOthersStillGetTheDecision() async throws {
        let offer = FirstOffer<Result<Int, any Error>>()
        let cancelled = Task { await offer.valueUnlessCancelled() }
        let patient = Task { await offer.valueUnlessCancelled() }
        cancelled.cancel()
        #expect(await cancelled.value == nil)
        offer.offer(.success(8080))
        #expect(try #require(await patient.value).get() == 8080)
    }

    @Test func aDecisionMadeBeforeTheCancellationWins() async {
        struct Stopped: Error {}
        let offer = FirstOffer<Result<Int, any Error>>()
        offer.offer(.failure(Stopped()))
        let waiter = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await offer.valueUnlessCancelled()
        }
        let result = await waiter.value
        #expect(throws: Stopped.self) { try result?.get() }
        #expect(result != nil)
    }

    @Test func everyWaiterGetsTheDecisionAfterTheFirstOneIsCancelled() async {
        let offer = FirstOffer<Int>()
        let first = Task { await offer.valueUnlessCancelled() }
        while offer.waitingCount < 1 { await Task.yield() }
        let others = (0..<3).map { index in
            Task { index.isMultiple(of: 2) ? await offer.valueUnlessCancelled() : await offer.value() }
        }
        while offer.waitingCount < 4 { await Task.yield() }
        first.cancel()
        #expect(await first.value == nil)
        #expect(offer.waitingCount == 3)
        let late = Task { await offer.valueUnlessCancelled() }
        while offer.waitingCount < 4 { await Task.yield() }
        #expect(offer.offer(7))
        #expect(offer.waitingCount == 0)
        for waiter in others { #expect(await waiter.value == 7) }
        #expect(await late.value == 7)
    }

    @Test func hundredsOfWaitersAllGetTheDecision() async {
        let offer = FirstOffer<Int>()
        let waiters = (0..<300).map { index in
            Task { index.isMultiple(of: 3) ? await offer.valueUnlessCancelled() : await offer.value() }
        }
        while offer.waitingCount < 300 { await Task.yield() }
        #expect(offer.offer(42))
        for waiter in waiters { #expect(await waiter.value == 42) }
    }
}
