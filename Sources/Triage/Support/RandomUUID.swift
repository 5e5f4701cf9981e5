import Foundation

extension UUID {
    /// A random (version 4, RFC 9562) UUID drawn from `generator`.
    ///
    /// The worker makes one per fallback event: Foundation's `UUID()` on Linux opens and
    /// reads `/dev/urandom` on every call, which cost more than writing the event.
    package static func version4(using generator: inout some RandomNumberGenerator) -> UUID {
        let high = generator.next() as UInt64
        let low = generator.next() as UInt64
        let b = { (word: UInt64, index: Int) in UInt8(truncatingIfNeeded: word >> (8 * index)) }
        return UUID(uuid: (
            b(high, 0), b(high, 1), b(high, 2), b(high, 3), b(high, 4), b(high, 5),
            b(high, 6) & 0x0F | 0x40, b(high, 7),
            b(low, 0) & 0x3F | 0x80, b(low, 1), b(low, 2), b(low, 3), b(low, 4), b(low, 5), b(low, 6), b(low, 7)
        ))
    }

    /// A random (version 4) UUID from the system's generator (`getrandom`).
    package static func version4() -> UUID {
        var generator = SystemRandomNumberGenerator()
        return version4(using: &generator)
    }
}
