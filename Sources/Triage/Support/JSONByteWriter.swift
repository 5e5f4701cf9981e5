/// Compact JSON written straight into a byte buffer, for the output records' hot path.
///
/// Output records used to go through `JSONEncoder` (`[.sortedKeys, .withoutEscapingSlashes]`),
/// which builds a tree of boxed values and then serializes it: most of an incident's
/// encode time. This writer appends the same bytes directly, so the wire format does not
/// change: strings are escaped exactly as Foundation's `JSONWriter` escapes them (`"`, `\`,
/// the control characters below 0x20 with the `\b \f \n \r \t` short forms and lowercase
/// `\u00xx` otherwise; `/`, DEL and non-ASCII as they are) and doubles are spelled as its
/// `JSONEncoder` spells them. It differs on purpose from ``JSONValue/appendStringLiteral(_:to:)``,
/// whose escaping is meant for logs and hashing, not for matching `JSONEncoder`.
///
/// The writer does not check structure or key order: callers write keys in ascending
/// UTF-8 byte order (what `.sortedKeys` does on Linux) and balance every begin with an end.
package struct JSONByteWriter: ~Copyable {
    // The bytes live in a buffer of the writer's own, not an `[UInt8]`: each
    // `Array.append` checks that the array is uniquely referenced and has room, in calls the
    // optimizer does not inline, and those checks were ~40% of an incident's encoding (a
    // few hundred appends each). Noncopyable, so the buffer has one owner and is freed
    // once, with no reference counting or exclusivity checks on the way.
    private var storage: UnsafeMutablePointer<UInt8>
    private var count = 0
    private var capacity: Int
    /// Whether `storage` is the writer's to free: not while it writes straight into the
    /// array ``bytes(capacity:_:)`` returns.
    private var ownsStorage = true
    /// Whether the last thing written ended a value, so the next key or array element
    /// needs a comma first. One flag is enough: a comma is due exactly when the previous
    /// token was a complete value, never after `{`, `[` or `:`.
    private var afterValue = false

    /// Creates an empty writer whose buffer can hold `capacity` bytes before it grows.
    package init(capacity: Int = 1024) {
        self.capacity = max(capacity, 16)
        storage = .allocate(capacity: self.capacity)
    }

    /// A writer into `buffer`, which it does not own: growing moves it to a buffer it does.
    private init(borrowing buffer: UnsafeMutableBufferPointer<UInt8>, at base: UnsafeMutablePointer<UInt8>) {
        storage = base
        capacity = buffer.count
        ownsStorage = false
    }

    deinit {
        if ownsStorage { storage.deallocate() }
    }

    /// The JSON `write` writes, made directly in the array returned when it fits in
    /// `capacity` bytes (one allocation and no copy, where ``bytes`` copies); larger JSON
    /// is written on in a buffer of the writer's own and copied out.
    /// - Throws: what `write` throws; nothing is returned then.
    package static func bytes(capacity: Int, _ write: (inout JSONByteWriter) throws -> Void) rethrows -> [UInt8] {
        var grown: [UInt8]?
        let direct = try [UInt8](unsafeUninitializedCapacity: max(capacity, 16)) { buffer, initialized in
            guard let base = buffer.baseAddress else { return }
            var writer = JSONByteWriter(borrowing: buffer, at: base)
            try write(&writer)
            if writer.ownsStorage {
                grown = writer.bytes
            } else {
                initialized = writer.count
            }
        }
        return grown ?? direct
    }

    /// The JSON written so far (a copy).
    package var bytes: [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            if let base = buffer.baseAddress { base.initialize(from: storage, count: count) }
            initialized = count
        }
    }

    /// Starts an object (as a value: after a key, as an array element or at the top).
    package mutating func beginObject() { open(UInt8(ascii: "{")) }

    /// Ends the innermost object.
    package mutating func endObject() { close(UInt8(ascii: "}")) }

    /// Starts an array (as a value).
    package mutating func beginArray() { open(UInt8(ascii: "[")) }

    /// Ends the innermost array.
    package mutating func endArray() { close(UInt8(ascii: "]")) }

    /// Writes an object key: a record's field, by the same `CodingKey` its decoder reads,
    /// so each field name is spelled once.
    ///
    /// Field names are plain ASCII identifiers, so they are copied without looking for
    /// bytes to escape (a record writes dozens of them).
    package mutating func key(_ key: some CodingKey) {
        var name = key.stringValue
        separate()
        append(UInt8(ascii: "\""))
        name.withUTF8 { utf8 in
            assert(!utf8.contains(where: JSONStringScan.isStopByte), "field name \(key.stringValue) needs escaping")
            append(utf8)
        }
        append(UInt8(ascii: "\""))
        append(UInt8(ascii: ":"))
        afterValue = false
    }

    /// Writes an object key from data (escaped like any string).
    package mutating func key(_ key: String) {
        separate()
        appendQuoted(key)
        append(UInt8(ascii: ":"))
        afterValue = false
    }

    /// Writes a string value, escaped.
    package mutating func string(_ value: String) {
        separate()
        appendQuoted(value)
        afterValue = true
    }

    /// Writes a string value, or `null` when it is `nil`.
    package mutating func stringOrNull(_ value: String?) {
        if let value { string(value) } else { null() }
    }

    /// Writes a string value of exactly `byteCount` bytes that `body` writes into the
    /// buffer it is given, unescaped: for text of a known length that needs no escaping
    /// (timestamps, ids), written without an intermediate `String`.
    package mutating func unescapedString(byteCount: Int, _ body: (UnsafeMutableBufferPointer<UInt8>) -> Void) {
        separate()
        append(UInt8(ascii: "\""))
        reserve(byteCount)
        body(UnsafeMutableBufferPointer(start: storage + count, count: byteCount))
        count += byteCount
        append(UInt8(ascii: "\""))
        afterValue = true
    }

    /// Writes an integer in decimal.
    package mutating func int(_ value: Int) {
        separate()
        if value < 0 { append(UInt8(ascii: "-")) }
        // Digits come out least significant first; reversing in place needs no scratch
        // buffer, and `magnitude` keeps `Int.min` from overflowing.
        var low = count
        var rest = value.magnitude
        repeat {
            append(UInt8(ascii: "0") + UInt8(truncatingIfNeeded: rest % 10))
            rest /= 10
        } while rest > 0
        var high = count - 1
        while low < high {
            let byte = storage[low]
            storage[low] = storage[high]
            storage[high] = byte
            low += 1
            high -= 1
        }
        afterValue = true
    }

    /// Writes an integer, or `null` when it is `nil`.
    package mutating func intOrNull(_ value: Int?) {
        if let value { int(value) } else { null() }
    }

    /// Writes a double as `JSONEncoder` does: Swift's shortest round-tripping `description`
    /// without a trailing `.0` (`1`, `0.5`, `1e-07`, `1e+16`).
    ///
    /// - Parameter field: where the value sits (e.g. `classification.confidence`), named in
    ///   the error.
    /// - Throws: `EncodingError.invalidValue` when `value` is NaN or infinite (JSON has no
    ///   spelling for them), leaving the buffer as it was.
    package mutating func double(_ value: Double, field: StaticString) throws(EncodingError) {
        guard value.isFinite else {
            throw EncodingError.invalidValue(value, EncodingError.Context(
                codingPath: [], debugDescription: "\(field) is \(value), which JSON cannot represent"))
        }
        separate()
        // `description` is what Foundation uses; a short one (nearly every value we write)
        // is a small string, so this allocates nothing.
        var text = value.description
        text.withUTF8 { utf8 in
            let dropPointZero = utf8.count > 2 && utf8[utf8.count - 2] == UInt8(ascii: ".") && utf8[utf8.count - 1] == UInt8(ascii: "0")
            append(dropPointZero ? UnsafeBufferPointer(rebasing: utf8.dropLast(2)) : utf8)
        }
        afterValue = true
    }

    /// Writes a double (see ``double(_:field:)``), or `null` when it is `nil`.
    /// - Throws: `EncodingError.invalidValue` when `value` is NaN or infinite.
    package mutating func doubleOrNull(_ value: Double?, field: StaticString) throws(EncodingError) {
        if let value { try double(value, field: field) } else { null() }
    }

    /// Writes `true` or `false`.
    package mutating func bool(_ value: Bool) {
        separate()
        appendLiteral(value ? "true" : "false")
        afterValue = true
    }

    /// Writes `json`, one complete JSON value another writer produced, as it is (a record
    /// nested in another record).
    package mutating func value(encoded json: [UInt8]) {
        separate()
        json.withUnsafeBufferPointer { append($0) }
        afterValue = true
    }

    /// Writes `null`.
    package mutating func null() {
        separate()
        appendLiteral("null")
        afterValue = true
    }

    /// Writes an object of string members with keys in UTF-8 byte order, as `.sortedKeys`
    /// orders them on Linux (not `String` `<`, which follows Unicode canonical ordering).
    package mutating func stringObject(_ members: [String: String]) {
        beginObject()
        members.forEachInUTF8KeyOrder { key, value in member(key, value) }
        endObject()
    }

    /// Writes an array of strings.
    package mutating func stringArray(_ elements: [String]) {
        beginArray()
        for element in elements { string(element) }
        endArray()
    }

    private mutating func member(_ key: String, _ value: String) {
        self.key(key)
        string(value)
    }

    private mutating func open(_ bracket: UInt8) {
        separate()
        append(bracket)
        afterValue = false
    }

    private mutating func close(_ bracket: UInt8) {
        append(bracket)
        afterValue = true
    }

    @inline(__always)
    private mutating func separate() {
        if afterValue { append(UInt8(ascii: ",")) }
    }

    private mutating func appendLiteral(_ text: StaticString) {
        text.withUTF8Buffer { append($0) }
    }

    /// Appends `text` quoted, copying runs that need no escape in one go.
    private mutating func appendQuoted(_ text: String) {
        append(UInt8(ascii: "\""))
        // Read through the borrowed string: a mutable copy for `withUTF8` cost a retain
        // and a release per string written.
        let written: Void? = text.utf8.withContiguousStorageIfAvailable { appendEscaped($0) }
        if written == nil {
            var text = text
            text.withUTF8 { appendEscaped($0) }
        }
        append(UInt8(ascii: "\""))
    }

    /// Appends `utf8`, escaping what JSON requires, copying runs that need no escape in one go.
    private mutating func appendEscaped(_ utf8: UnsafeBufferPointer<UInt8>) {
        var runStart = 0
        var unused: UInt8 = 0
        while true {
            let stop = JSONStringScan.plainRunEnd(in: utf8, from: runStart, highBits: &unused)
            if runStart < stop { append(UnsafeBufferPointer(rebasing: utf8[runStart..<stop])) }
            guard stop < utf8.count else { break }
            appendEscape(utf8[stop])
            runStart = stop + 1
        }
    }

    private mutating func appendEscape(_ byte: UInt8) {
        append(UInt8(ascii: "\\"))
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): append(byte)
        case 0x08: append(UInt8(ascii: "b"))
        case 0x09: append(UInt8(ascii: "t"))
        case 0x0A: append(UInt8(ascii: "n"))
        case 0x0C: append(UInt8(ascii: "f"))
        case 0x0D: append(UInt8(ascii: "r"))
        default:
            append(UInt8(ascii: "u"))
            append(UInt8(ascii: "0"))
            append(UInt8(ascii: "0"))
            append(Self.lowercaseHexDigit(byte >> 4))
            append(Self.lowercaseHexDigit(byte & 0x0F))
        }
    }

    /// The lowercase hexadecimal digit of `nibble` (0...15).
    package static func lowercaseHexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }

    // Always inlined: a call per byte (~6% of the per-record processing) costs more than
    // the store; growing stays out of line.
    @inline(__always)
    private mutating func append(_ byte: UInt8) {
        if count == capacity { grow(toHold: count + 1) }
        storage[count] = byte
        count += 1
    }

    private mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        reserve(bytes.count)
        (storage + count).initialize(from: base, count: bytes.count)
        count += bytes.count
    }

    /// Makes room for `more` bytes after the ones written.
    private mutating func reserve(_ more: Int) {
        if count + more > capacity { grow(toHold: count + more) }
    }

    @inline(never)
    private mutating func grow(toHold needed: Int) {
        let newCapacity = max(needed, capacity * 2)
        let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        grown.initialize(from: storage, count: count)
        if ownsStorage { storage.deallocate() }
        storage = grown
        capacity = newCapacity
        ownsStorage = true
    }
}
