/// Derives alert fingerprints and incident ids.
///
/// **Algorithm** (stable across processes, platforms and releases; changing it changes
/// every derived key, so don't):
/// 1. Take the label set. Sort the keys by their UTF-8 bytes (not by `String` `<`, which
///    follows Unicode collation).
/// 2. For each key write one line `key=value\n` where, in the key, `\` → `\\`, `=` → `\=`,
///    newline → `\n`; and in the value `\` → `\\`, newline → `\n`. So no two label sets
///    give the same text.
/// 3. Hash the UTF-8 bytes of the text with 64-bit FNV-1a (offset basis
///    `0xcbf29ce484222325`, prime `0x100000001b3`).
/// 4. Write the hash as 16 lowercase hexadecimal digits, zero-padded.
///
/// Example: `["alertname": "InstanceDown", "job": "api"]` hashes the text
/// `"alertname=InstanceDown\njob=api\n"`.
public enum Fingerprint {
    /// The fingerprint of a label set (see the type's documentation for the algorithm).
    public static func derive(labels: [String: String]) -> String {
        // Hashes the canonical text's bytes as they come instead of building the text: it
        // cost an allocation and several appends per label, ~6% of a rules-path record's
        // CPU for alerts that come without a fingerprint.
        var hash = FNV1a64()
        forEachCanonicalByte(of: labels) { hash.add($0) }
        return hex(hash.value)
    }

    /// The fingerprint of a PagerDuty dedup key: ``derive(labels:)`` of the one-label set
    /// `["pagerduty_dedup_key": dedupKey]`, so all PagerDuty events with one dedup key share a
    /// fingerprint whatever their payload says.
    public static func derive(dedupKey: String) -> String {
        derive(labels: ["pagerduty_dedup_key": dedupKey])
    }

    /// The canonical `key=value\n` text hashed by ``derive(labels:)`` (for tests and
    /// debugging; `derive` hashes its bytes without building it).
    package static func canonicalText(_ labels: [String: String]) -> String {
        var bytes: [UInt8] = []
        forEachCanonicalByte(of: labels) { bytes.append($0) }
        // Escaping inserts ASCII only, so valid UTF-8 stays valid and nothing is repaired.
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Calls `emit` with each byte of the canonical text of `labels`, in order (steps 1-2
    /// of the algorithm). Escaping byte by byte is the same as character by character:
    /// the escaped characters are ASCII, and no byte of a multi-byte UTF-8 sequence is.
    @inline(__always)
    private static func forEachCanonicalByte(of labels: [String: String], _ emit: (UInt8) -> Void) {
        func escaped(_ text: String, isKey: Bool) {
            var text = text  // `withUTF8` is mutating; a native string is not copied
            text.withUTF8 { bytes in
                for byte in bytes {
                    if byte == UInt8(ascii: "\\") || (isKey && byte == UInt8(ascii: "=")) {
                        emit(UInt8(ascii: "\\"))
                        emit(byte)
                    } else if byte == UInt8(ascii: "\n") {
                        emit(UInt8(ascii: "\\"))
                        emit(UInt8(ascii: "n"))
                    } else {
                        emit(byte)
                    }
                }
            }
        }
        labels.forEachInUTF8KeyOrder { key, value in
            escaped(key, isKey: true)
            emit(UInt8(ascii: "="))
            escaped(value, isKey: false)
            emit(UInt8(ascii: "\n"))
        }
    }

    /// 64-bit FNV-1a of the UTF-8 bytes of `text`.
    package static func fnv1a64(_ text: String) -> UInt64 {
        var hash = FNV1a64()
        hash.add(text)
        return hash.value
    }

    /// `value` as 16 lowercase hexadecimal digits.
    package static func hex(_ value: UInt64) -> String {
        hex(value, after: "")
    }

    /// `prefix` (ASCII) followed by `value` as 16 lowercase hexadecimal digits, made in
    /// one allocation.
    package static func hex(_ value: UInt64, after prefix: StaticString) -> String {
        let prefixLength = prefix.utf8CodeUnitCount
        return String(unsafeUninitializedCapacity: prefixLength + 16) { buffer in
            prefix.withUTF8Buffer { bytes in
                for index in 0..<prefixLength { buffer[index] = bytes[index] }
            }
            for index in 0..<16 {
                buffer[prefixLength + index] = JSONByteWriter.lowercaseHexDigit(UInt8(truncatingIfNeeded: value >> UInt64(60 - 4 * index)) & 0x0F)
            }
            return prefixLength + 16
        }
    }
}

/// 64-bit FNV-1a (offset basis `0xcbf29ce484222325`, prime `0x100000001b3`), fed in
/// pieces: hashing text made by concatenation gives the same value without making it.
package struct FNV1a64: Sendable {
    /// The hash of everything added so far.
    package private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    package init() {}

    package mutating func add(_ byte: UInt8) {
        value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
    }

    package mutating func add(_ bytes: UnsafeBufferPointer<UInt8>) {
        for byte in bytes { add(byte) }
    }

    package mutating func add(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { add($0) }
    }

    /// Adds the UTF-8 bytes of `text` (contiguous for native strings: no per-byte index
    /// arithmetic).
    package mutating func add(_ text: String) {
        var text = text
        text.withUTF8 { add($0) }
    }
}
