import Locking
import Testing

@Suite struct LockedValueTests {
    @Test func concurrentIncrementsAreNeitherLostNorTorn() async {
        final class Counter: Sendable {
            let value = LockedValue(0)
        }
        let counter = Counter()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    for _ in 0..<10_000 { counter.value.withLock { $0 += 1 } }
                }
            }
        }
        #expect(counter.value.withLock { $0 } == 80_000)
    }

    @Test func anErrorFromTheBodyIsRethrownAndTheLockReleased() {
        struct Refused: Error {}
        let locked = LockedValue([1, 2])
        #expect(throws: Refused.self) {
            try locked.withLock { (values: inout [Int]) throws(Refused) -> Void in
                values.append(3)
                throw Refused()
            }
        }
        // The change made before the throw stays, and the lock can be taken again.
        #expect(locked.withLock { $0 } == [1, 2, 3])
    }

    @Test func holdsANoncopyableValue() {
        struct Token: ~Copyable { var uses = 0 }
        let locked = LockedValue(Token())
        let uses = locked.withLock { token in
            token.uses += 1
            return token.uses
        }
        #expect(uses == 1)
    }
}
