import Resilience
import Testing

@Suite("ManualClock")
struct ManualClockTests {
    /// What a sleep ended with.
    enum Ending: Equatable {
        case reachedDeadline
        case cancelled
    }

    static func sleep(_ clock: ManualClock, for duration: Duration) async -> Ending {
        do {
            try await clock.sleep(for: duration)
            return .reachedDeadline
        } catch {
            return .cancelled
        }
    }

    /// Waits for `task`, advancing the clock past any sleeper it registers, so a sleep
    /// that wrongly waits is ended (and reported) instead of hanging the test.
    static func outcome(of task: Task<Ending, Never>, on clock: ManualClock) async -> Ending {
        let finished = Collected<Ending>()
        let waiter = Task { finished.append(await task.value) }
        while finished.all.isEmpty {
            if clock.sleeperCount > 0 { clock.advance(by: .seconds(3_600)) }
            await Task.yield()
        }
        await waiter.value
        return finished.all[0]
    }

    @Test func aSleepInAnAlreadyCancelledTaskThrowsAtOnce() async {
        let clock = ManualClock()
        // Cancelled before the sleep starts: the cancellation handler runs before the
        // sleeper exists, so the sleep itself must notice.
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await Self.sleep(clock, for: .seconds(1))
        }
        #expect(await Self.outcome(of: task, on: clock) == .cancelled)
        #expect(clock.sleeperCount == 0)
    }

    @Test func cancellingASuspendedSleeperThrowsAndRemovesIt() async {
        let clock = ManualClock()
        let task = Task { await Self.sleep(clock, for: .seconds(1)) }
        await clock.waitForSleepers(count: 1)
        task.cancel()
        #expect(await task.value == .cancelled)
        #expect(clock.sleeperCount == 0)
        #expect(clock.now == ManualClock.Instant(offset: .zero))
    }

    @Test func advancingResumesExactlyTheSleepersThatAreDue() async {
        let clock = ManualClock()
        let short = Task { await Self.sleep(clock, for: .seconds(1)) }
        let long = Task { await Self.sleep(clock, for: .seconds(2)) }
        await clock.waitForSleepers(count: 2)
        clock.advance(by: .milliseconds(999))
        #expect(clock.sleeperCount == 2)
        clock.advance(by: .milliseconds(1))
        #expect(await short.value == .reachedDeadline)
        #expect(clock.sleeperCount == 1)
        clock.advance(to: ManualClock.Instant(offset: .seconds(2)))
        #expect(await long.value == .reachedDeadline)
        // Time never goes back, and a sleep to a past deadline returns at once.
        clock.advance(by: .seconds(-5))
        #expect(clock.now == ManualClock.Instant(offset: .seconds(2)))
        #expect(await Self.sleep(clock, for: .zero) == .reachedDeadline)
    }

    @Test func waitingForSleepersEndsWhenTheWaiterIsCancelled() async {
        let clock = ManualClock()
        let waiter = Task { await clock.waitForSleepers(count: 1) }
        waiter.cancel()
        await waiter.value
        #expect(clock.sleeperCount == 0)
    }
}
