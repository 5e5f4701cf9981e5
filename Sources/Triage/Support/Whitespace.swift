extension Unicode.Scalar {
    /// Whether Foundation's `.whitespacesAndNewlines` holds this scalar: Unicode
    /// `White_Space`, plus U+200B ZERO WIDTH SPACE, which Foundation counts too.
    package var isWhitespaceOrNewline: Bool {
        properties.isWhitespace || self == "\u{200B}"
    }
}

extension StringProtocol {
    /// Whether the text is empty or only white space (``Unicode/Scalar/isWhitespaceOrNewline``),
    /// checked without bridging to `NSString` as `trimmingCharacters(in:)` does on Linux.
    package var isBlank: Bool {
        unicodeScalars.allSatisfy(\.isWhitespaceOrNewline)
    }

    /// The text without leading and trailing white space (as ``isBlank`` defines it).
    package func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.isWhitespaceOrNewline }),
              let last = scalars.lastIndex(where: { !$0.isWhitespaceOrNewline })
        else { return "" }
        return String(String.UnicodeScalarView(scalars[first...last]))
    }
}
