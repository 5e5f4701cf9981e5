extension Duration {
    /// Whole milliseconds, rounded down, clamped to `Int32.max` (librdkafka's limit).
    var wholeMilliseconds: Int32 {
        let (seconds, attoseconds) = components
        let millis = seconds * 1_000 + attoseconds / 1_000_000_000_000_000
        return Int32(clamping: max(millis, 0))
    }
}
