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
}
