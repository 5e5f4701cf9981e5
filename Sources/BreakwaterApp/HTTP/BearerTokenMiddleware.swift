import Hummingbird

/// Admits a request only with `Authorization: Bearer <token>` matching the configured
/// token; anything else gets 401 with `WWW-Authenticate: Bearer` and a JSON error, and the
/// handler never runs (so nothing changes).
struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    private let expected: [UInt8]

    init(token: String) { self.expected = Array(token.utf8) }

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard let presented = Self.bearerToken(in: request.headers[.authorization]),
            Self.constantTimeEquals(Array(presented.utf8), expected)
        else {
            throw APIError(
                status: .unauthorized,
                message: "a valid bearer token is required",
                headers: [.wwwAuthenticate: #"Bearer realm="breakwater-admin""#]
            )
        }
        return try await next(request, context)
    }

    /// The credentials of a `Bearer` authorization header (scheme case-insensitive), or nil.
    static func bearerToken(in header: String?) -> Substring? {
        guard let header else { return nil }
        let trimmed = header.drop { $0 == " " }
        guard let space = trimmed.firstIndex(of: " "),
            trimmed[..<space].lowercased() == "bearer"
        else { return nil }
        let token = trimmed[space...].drop { $0 == " " }
        return token.isEmpty ? nil : token
    }

    /// Compares two byte strings in time that depends only on `presented.count`, never on
    /// where they differ or on the expected token's content.
    static func constantTimeEquals(_ presented: [UInt8], _ expected: [UInt8]) -> Bool {
        var difference: UInt8 = presented.count == expected.count ? 0 : 1
        let expectedCount = expected.count
        for index in presented.indices {
            // Reads a valid index of `expected` on every iteration (0 when it is empty).
            let expectedByte = expectedCount == 0 ? 0 : expected[index % expectedCount]
            difference |= presented[index] ^ expectedByte
        }
        return difference == 0 && !expected.isEmpty
    }
}
