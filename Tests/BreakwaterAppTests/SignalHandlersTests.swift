import BreakwaterApp
import Dispatch
import Foundation
import Testing

/// SIGUSR2 is this suite's own: nothing else in the test process handles it.
@Suite(.serialized, .timeLimit(.minutes(1))) struct SignalHandlersTests {
    @Test func anIgnoredSignalHasNoHandler() {
        signal(SIGUSR2, SIG_IGN)
        #expect(!SignalHandlers.isHandled(SIGUSR2))
        signal(SIGUSR2, SIG_DFL)
        #expect(!SignalHandlers.isHandled(SIGUSR2))
    }

    @Test func waitsUntilADispatchSourceHandlesTheSignal() async throws {
        signal(SIGUSR2, SIG_IGN)
        let (received, receiver) = AsyncStream.makeStream(of: Void.self)
        let source = DispatchSource.makeSignalSource(signal: SIGUSR2, queue: .global())
        source.setEventHandler { receiver.yield() }
        source.resume()
        defer { source.cancel() }
        // libdispatch installs its handler after resume() returns; once this says it is in
        // place, a signal reaches the source instead of being ignored.
        #expect(await SignalHandlers.waitUntilHandled([SIGUSR2], within: .seconds(30)))
        #expect(SignalHandlers.isHandled(SIGUSR2))
        kill(getpid(), SIGUSR2)
        var iterator = received.makeAsyncIterator()
        #expect(await iterator.next() != nil)
    }

    @Test func givesUpAtItsBound() async {
        signal(SIGUSR2, SIG_IGN)
        #expect(await !SignalHandlers.waitUntilHandled([SIGUSR2], within: .milliseconds(5)))
    }
}
