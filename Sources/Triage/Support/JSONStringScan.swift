/// Finds where a run of bytes a JSON string holds as they are ends: at the first `"`, `\`
/// or control character below 0x20, the bytes both the parser and ``JSONByteWriter`` must
/// stop at. Reads eight bytes at a time: label values, summaries and URLs rarely hold any
/// of the three, and a byte-by-byte loop over them was a visible share of the rules path's
/// decode and encode.
enum JSONStringScan {
    /// The index of the first byte at or after `start` that is `"`, `\` or below 0x20, or
    /// `bytes.count` when there is none. `highBits` is OR-ed with every byte before it, so
    /// its bit 7 says whether the run holds a non-ASCII byte.
    static func plainRunEnd(in bytes: UnsafeBufferPointer<UInt8>, from start: Int, highBits: inout UInt8) -> Int {
        var index = start
        let raw = UnsafeRawBufferPointer(bytes)
        var wordBits: UInt64 = 0
        while index + 8 <= bytes.count {
            let word = raw.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            if mayHoldStopByte(word) { break }
            wordBits |= word
            index += 8
        }
        if wordBits & 0x8080_8080_8080_8080 != 0 { highBits |= 0x80 }
        while index < bytes.count {
            let byte = bytes[index]
            if isStopByte(byte) { break }
            highBits |= byte
            index += 1
        }
        return index
    }

    /// Whether a JSON string cannot hold `byte` as it is.
    @inline(__always)
    static func isStopByte(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
    }

    /// Whether one of the eight bytes of `word` may be a stop byte. Never `false` when one
    /// is (the lowest such byte always sets its high bit below, as no borrow reaches it);
    /// a `true` only sends the word to the byte-by-byte loop.
    @inline(__always)
    static func mayHoldStopByte(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let quote = word ^ (ones &* UInt64(UInt8(ascii: "\"")))
        let backslash = word ^ (ones &* UInt64(UInt8(ascii: "\\")))
        let below0x20 = (word &- ones &* 0x20) & ~word
        let zeroQuote = (quote &- ones) & ~quote
        let zeroBackslash = (backslash &- ones) & ~backslash
        return (below0x20 | zeroQuote | zeroBackslash) & highs != 0
    }
}
