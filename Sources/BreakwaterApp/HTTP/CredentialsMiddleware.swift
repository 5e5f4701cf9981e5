import Foundation
import Hummingbird

/// What a protected route requires in its `Authorization` header.
enum RequiredCredentials: Sendable, Equatable {
    /// `Authorization: Bearer <token>`.
    case bearer(token: String)
    /// `Authorization: Basic <base64(username:password)>`.
    case basic(username: String, password: String)

    /// The credentials `settings` of an ingest route require, or `nil` when it is open.
    init?(_ settings: IngestRouteSettings) {
        if let token = settings.bearerToken?.value, !token.isEmpty {
            self = .bearer(token: token)
        } else if let username = settings.username, let password = settings.password?.value {
            self = .basic(username: username, password: password)
        } else {
            return nil
        }
    }
}

/// Admits a request only when its `Authorization` header carries the required credentials;
/// anything else gets 401 with `WWW-Authenticate` naming the scheme and `realm`, and a JSON
/// error, and the handler never runs (so nothing changes). Credentials are compared in
/// constant time.
struct CredentialsMiddleware<Context: RequestContext>: RouterMiddleware {
    private let scheme: String
    private let expected: [UInt8]
    private let realm: String

    init(_ credentials: RequiredCredentials, realm: String) {
        switch credentials {
        case .bearer(let token):
            scheme = "bearer"
            expected = Array(token.utf8)
        case .basic(let username, let password):
            scheme = "basic"
            expected = Array("\(username):\(password)".utf8)
        }
        self.realm = realm
    }

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard let presented = Self.presented(request.headers[.authorization], scheme: scheme),
            Self.constantTimeEquals(presented, expected)
        else {
            throw APIError(
                status: .unauthorized,
                message: scheme == "bearer" ? "a valid bearer token is required" : "a valid user name and password are required",
                headers: [.wwwAuthenticate: "\(scheme == "bearer" ? "Bearer" : "Basic") realm=\"\(realm)\""]
            )
        }
        return try await next(request, context)
    }

    /// The credential bytes of `header` for `scheme`: a bearer token as is, basic
    /// credentials base64-decoded; `nil` when the header is absent, of another scheme or
    /// not valid base64.
    static func presented(_ header: String?, scheme: String) -> [UInt8]? {
        guard let credentials = credentials(in: header, scheme: scheme) else { return nil }
        if scheme == "bearer" { return Array(credentials.utf8) }
        return Data(base64Encoded: String(credentials)).map(Array.init)
    }

    /// The credentials of an authorization header of `scheme` (case-insensitive), or nil.
    static func credentials(in header: String?, scheme: String) -> Substring? {
        guard let header else { return nil }
        let trimmed = header.drop { $0 == " " }
        guard let space = trimmed.firstIndex(of: " "),
            trimmed[..<space].lowercased() == scheme
        else { return nil }
        let credentials = trimmed[space...].drop { $0 == " " }
        return credentials.isEmpty ? nil : credentials
    }

    /// Compares two byte strings in time that depends only on `presented.count`, never on
    /// where they differ or on the expected credentials' content.
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
