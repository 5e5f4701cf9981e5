import Logging

/// The rule that keeps secrets out of Breakwater's logs, applied by ``BreakwaterLogHandler``
/// to every event:
///
/// 1. A metadata value whose key names a secret (``isSensitiveKey(_:)``: password,
///    passphrase, secret, token, authorization, api key, access key, private key,
///    credential, cookie — any case, with or without `_`, `-` or `.`) is replaced by
///    `********`, at any depth of nested dictionaries.
/// 2. In every other value, in the message and in the error text, the password of a URL
///    (`scheme://user:password@host`, or a `password=`/`secret=` query item) is masked.
///
/// Code should still pass secrets around as ``Secret`` / ``DatabaseURL``, whose
/// descriptions are masked, and never interpolate a raw secret into a message.
public enum LogRedaction {
    /// What a redacted value is replaced with.
    public static let mask = "********"

    private static let sensitiveFragments = [
        "password", "passwd", "passphrase", "secret", "token", "authorization", "apikey", "accesskey",
        "privatekey", "credential", "cookie",
    ]

    /// Whether a metadata key names a secret (so its value is never shown).
    public static func isSensitiveKey(_ key: String) -> Bool {
        let normalized = String(key.lowercased().filter { $0 != "_" && $0 != "-" && $0 != "." })
        return sensitiveFragments.contains { normalized.contains($0) }
    }

    /// `metadata` with sensitive keys masked (recursively) and URL passwords masked in
    /// every other string.
    public static func redact(_ metadata: Logger.Metadata) -> Logger.Metadata {
        metadata.reduce(into: [:]) { result, entry in
            result[entry.key] = isSensitiveKey(entry.key) ? .string(mask) : redact(entry.value)
        }
    }

    /// `value` with sensitive dictionary keys masked and URL passwords masked in strings.
    public static func redact(_ value: Logger.MetadataValue) -> Logger.MetadataValue {
        switch value {
        case .string(let string):
            return .string(maskingURLPasswords(in: string))
        case .stringConvertible(let convertible):
            let string = convertible.description
            let masked = maskingURLPasswords(in: string)
            return masked == string ? value : .string(masked)
        case .dictionary(let dictionary):
            return .dictionary(redact(dictionary))
        case .array(let array):
            return .array(array.map(redact))
        }
    }

    /// `text` with the password of every URL in it masked. Text without `://` is
    /// returned unchanged; a URL that cannot be parsed is masked whole.
    public static func maskingURLPasswords(in text: String) -> String {
        guard text.contains("://") else { return text }
        var result = ""
        var token = ""
        func flush() {
            result += needsMasking(token) ? Sensitivity.url.mask(token) : token
            token = ""
        }
        for character in text {
            if character.isWhitespace || character == "\"" || character == "'" || character == "<" || character == ">" {
                flush()
                result.append(character)
            } else {
                token.append(character)
            }
        }
        flush()
        return result
    }

    /// A URL-looking token that carries user info or a secret-looking query item.
    private static func needsMasking(_ token: String) -> Bool {
        guard token.contains("://") else { return false }
        if token.contains("@") { return true }
        guard token.contains("?") else { return false }
        let lower = token.lowercased()
        return lower.contains("password") || lower.contains("secret")
    }
}
