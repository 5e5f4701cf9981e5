import Foundation
import Hummingbird
import NIOCore

/// An error the HTTP API answers with a status and a JSON body `{"error": "<message>"}`.
struct APIError: HTTPResponseError, Sendable {
    var status: HTTPResponse.Status
    var message: String
    var headers: HTTPFields = [:]

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = JSONResponse.make(status: status, body: ErrorBody(error: message))
        response.headers.append(contentsOf: headers)
        return response
    }

    static func notFound(_ message: String) -> APIError { APIError(status: .notFound, message: message) }
    static func badRequest(_ message: String) -> APIError { APIError(status: .badRequest, message: message) }
}

/// `{"error": "..."}`.
struct ErrorBody: Codable, Sendable, Hashable {
    var error: String
}

/// JSON responses with a fixed key order, so bodies are stable for operators and tests.
enum JSONResponse {
    /// `body` encoded as JSON with `status`. Our bodies are plain structs of strings,
    /// numbers and booleans, which always encode; if one ever did not, the answer is a
    /// 500 with a JSON error rather than a crash.
    static func make(status: HTTPResponse.Status = .ok, body: some Encodable) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data: Data
        var status = status
        do {
            data = try encoder.encode(body)
        } catch {
            status = .internalServerError
            data = Data(#"{"error":"response could not be encoded"}"#.utf8)
        }
        return Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data))
        )
    }

    /// Decodes the JSON request body as `T`; an empty body decodes as `empty` when given.
    /// - Throws: ``APIError`` 400 when the body is missing (and `empty` is nil) or not valid
    ///   JSON of the expected shape, 413 when it is over 64 KiB; the transport's error when
    ///   the body cannot be read.
    static func decodeBody<T: Decodable>(_ type: T.Type, from request: Request, empty: T? = nil) async throws -> T {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: 64 * 1024)
        } catch is NIOTooManyBytesError {
            throw APIError(status: .contentTooLarge, message: "request body is larger than 64 KiB")
        }
        if buffer.readableBytes == 0 {
            if let empty { return empty }
            throw APIError.badRequest("a JSON body is required")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch {
            throw APIError.badRequest("invalid JSON body: \(Self.describe(error))")
        }
    }

    /// A short, client-facing description of a decoding error.
    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _):
            return "missing key '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let context) where context.codingPath.isEmpty:
            return "expected a JSON object"
        case DecodingError.typeMismatch(let type, let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return "'\(path)' must be \(type == Bool.self ? "true or false" : "of type \(type)")"
        case DecodingError.dataCorrupted:
            return "not valid JSON"
        default:
            return "does not have the expected shape"
        }
    }
}
