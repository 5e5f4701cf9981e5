import Foundation

/// RFC 3339 / ISO-8601 timestamps as the input formats and output records spell them.
///
/// Hand-written instead of `ISO8601DateFormatter` because inputs carry nanosecond
/// fractions (Alertmanager's Go `time.Time`), which the formatter rejects, and because
/// the output format must be exactly one shape: `2026-11-29T10:41:23.123Z`.
package enum Timestamp {
    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM|±HHMM)` (`t`/`z`/space also accepted).
    /// Fractions of any length are read; digits beyond the nanosecond are ignored.
    ///
    /// - Returns: `nil` when the text is not such a timestamp or names an impossible
    ///   date/time (month 13, hour 24, …).
    package static func parse(_ text: String) -> Date? {
        // Read in place: a copy into an array was an allocation per alert time.
        var text = text
        return text.withUTF8 { parse(utf8: $0) }
    }

    private static func parse(utf8 b: UnsafeBufferPointer<UInt8>) -> Date? {
        guard b.count >= 20 else { return nil }
        func number(_ start: Int, _ length: Int) -> Int? {
            guard start + length <= b.count else { return nil }
            var value = 0
            for byte in b[start..<start + length] {
                guard byte >= 48, byte <= 57 else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard let year = number(0, 4), b[4] == UInt8(ascii: "-"), let month = number(5, 2), b[7] == UInt8(ascii: "-"),
              let day = number(8, 2), b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t") || b[10] == UInt8(ascii: " "),
              let hour = number(11, 2), b[13] == UInt8(ascii: ":"), let minute = number(14, 2), b[16] == UInt8(ascii: ":"),
              let second = number(17, 2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year),
              hour < 24, minute < 60, second < 61
        else { return nil }
        var index = 19
        var nanos = 0
        if index < b.count, b[index] == UInt8(ascii: ".") {
            index += 1
            let start = index
            while index < b.count, b[index] >= 48, b[index] <= 57 {
                if index - start < 9 { nanos = nanos * 10 + Int(b[index] - 48) }
                index += 1
            }
            guard index > start else { return nil }
            for _ in min(index - start, 9)..<9 { nanos *= 10 }
        }
        guard index < b.count else { return nil }
        var offsetSeconds = 0
        switch b[index] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            index += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            // `+01:00` (RFC 3339) or `+0100` (ISO-8601 basic, as in PagerDuty's examples).
            let colon = index + 3 < b.count && b[index + 3] == UInt8(ascii: ":") ? 1 : 0
            guard let offsetHours = number(index + 1, 2), let offsetMinutes = number(index + 3 + colon, 2),
                  offsetHours < 24, offsetMinutes < 60
            else { return nil }
            offsetSeconds = (offsetHours * 3600 + offsetMinutes * 60) * (b[index] == UInt8(ascii: "-") ? -1 : 1)
            index += 5 + colon
        default:
            return nil
        }
        guard index == b.count else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        return Date(timeIntervalSince1970: Double(seconds) + Double(nanos) / 1_000_000_000)
    }

    /// Whether `text` is Go's zero time, `0001-01-01T00:00:00Z` (in any fraction/offset
    /// spelling), which Alertmanager sends as the `endsAt` of firing alerts.
    package static func isZeroTime(_ text: String) -> Bool {
        text.hasPrefix("0001-01-01T00:00:00")
    }

    /// An alert's optional time as the decoders read it.
    enum AlertTime {
        /// Empty, or Go's zero time: no time.
        case unset
        case at(Date)
        /// Not an RFC 3339 timestamp.
        case unreadable
    }

    /// Reads an alert time (`startsAt`, `endsAt`) given as `text`.
    static func alertTime(_ text: String) -> AlertTime {
        if text.isEmpty || isZeroTime(text) { return .unset }
        guard let date = parse(text) else { return .unreadable }
        return .at(date)
    }

    /// Formats `date` in UTC, rounded to the nearest millisecond: `2026-11-29T10:41:23.123Z`.
    /// Dates before year 1 or after 9999 are clamped to those years' bounds.
    package static func format(_ date: Date) -> String {
        String(unsafeUninitializedCapacity: formattedLength) { buffer in
            write(date, into: buffer)
            return formattedLength
        }
    }

    /// How many bytes ``write(_:into:)`` writes: always 24, as years are clamped to four digits.
    package static let formattedLength = 24

    /// Writes ``format(_:)`` of `date` as UTF-8 bytes (ASCII only) into the first
    /// ``formattedLength`` bytes of `bytes`, for writers that build bytes and would only
    /// take the `String` apart again.
    package static func write(_ date: Date, into bytes: UnsafeMutableBufferPointer<UInt8>) {
        precondition(bytes.count >= formattedLength, "a timestamp needs \(formattedLength) bytes")
        let minMillis: Double = -62_135_596_800_000  // 0001-01-01T00:00:00Z
        let maxMillis: Double = 253_402_300_799_999  // 9999-12-31T23:59:59.999Z
        let millis = (date.timeIntervalSince1970 * 1000).rounded()
        // Clamped as a Double first so Int64(_:) can never trap (NaN counts as the minimum).
        let clamped = Int64(millis.isNaN ? minMillis : min(max(millis, minMillis), maxMillis))
        var days = clamped / 86_400_000
        var millisOfDay = clamped % 86_400_000
        if millisOfDay < 0 { millisOfDay += 86_400_000; days -= 1 }
        let (year, month, day) = civilFromDays(Int(days))
        var at = 0
        func digits(_ value: Int, _ width: Int) {
            var rest = value
            for offset in stride(from: width - 1, through: 0, by: -1) {
                bytes[at + offset] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: rest % 10)
                rest /= 10
            }
            at += width
        }
        func literal(_ byte: UInt8) {
            bytes[at] = byte
            at += 1
        }
        digits(year, 4)
        literal(UInt8(ascii: "-"))
        digits(month, 2)
        literal(UInt8(ascii: "-"))
        digits(day, 2)
        literal(UInt8(ascii: "T"))
        digits(Int(millisOfDay / 3_600_000), 2)
        literal(UInt8(ascii: ":"))
        digits(Int(millisOfDay / 60_000 % 60), 2)
        literal(UInt8(ascii: ":"))
        digits(Int(millisOfDay / 1000 % 60), 2)
        literal(UInt8(ascii: "."))
        digits(Int(millisOfDay % 1000), 3)
        literal(UInt8(ascii: "Z"))
    }

    private static func isLeap(_ year: Int) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    // Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian, UTC).
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    private static func civilFromDays(_ days: Int) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
