import Foundation
import Locking

#if canImport(Glibc)
import Glibc
#endif

extension UUID {
    /// A random (version 4, RFC 9562) UUID drawn from `generator`.
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

    /// A random (version 4) UUID from the kernel's generator, read in blocks
    /// (``BufferedSystemRandom``).
    ///
    /// The worker makes one per fallback event. Foundation's `UUID()` on Linux opens and
    /// reads `/dev/urandom` on every call, and `SystemRandomNumberGenerator` makes one
    /// `getrandom` system call per 8 bytes: either cost more than writing the event.
    package static func version4() -> UUID {
        var generator = BufferedSystemRandom()
        return version4(using: &generator)
    }
}

/// Random numbers from the kernel's generator, fetched 4 KiB at a time (glibc's
/// `arc4random_buf`, one `getrandom` system call) into one process-wide buffer and handed
/// out 8 bytes per call, so a system call serves 512 draws instead of one. Each value is
/// handed out once. Where `arc4random_buf` is missing it draws from
/// `SystemRandomNumberGenerator` directly.
package struct BufferedSystemRandom: RandomNumberGenerator {
    private struct Pool: ~Copyable {
        var words = [UInt64](repeating: 0, count: 512)
        var next = 512

        mutating func draw() -> UInt64 {
            #if canImport(Glibc)
            if next == words.count {
                words.withUnsafeMutableBytes { bytes in
                    if let base = bytes.baseAddress { arc4random_buf(base, bytes.count) }
                }
                next = 0
            }
            defer { next += 1 }
            return words[next]
            #else
            var system = SystemRandomNumberGenerator()
            return system.next()
            #endif
        }
    }

    private static let pool = LockedValue(Pool())

    package init() {}

    package mutating func next() -> UInt64 {
        Self.pool.withLock { $0.draw() }
    }
}
