import Foundation
import Hummingbird

/// An API failure as clients see it: `{"error": {"type": …, "message": …}}` with its status code
/// (and `Retry-After` when trying again later can succeed).
public struct APIError: Error, HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    /// A stable, machine-readable kind: `invalid_request`, `unauthorized`, `not_found`,
    /// `too_large`, `unsupported_media`, `queue_full`, `timeout`, `not_ready`, `internal`.
    public var type: String
    public var message: String
    public var retryAfter: Int?

    public init(_ status: HTTPResponse.Status, _ type: String, _ message: String, retryAfter: Int? = nil) {
        self.status = status
        self.type = type
        self.message = message
        self.retryAfter = retryAfter
    }

    static func invalid(_ message: String) -> APIError { APIError(.badRequest, "invalid_request", message) }
    static func notFound(_ message: String) -> APIError { APIError(.notFound, "not_found", message) }
    static func tooLarge(_ limit: Int) -> APIError {
        APIError(.contentTooLarge, "too_large", "the request body is larger than the limit of \(limit) bytes")
    }
    static func queueFull(_ what: String) -> APIError {
        APIError(.tooManyRequests, "queue_full", "\(what) queue is full; try again later", retryAfter: 1)
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        let data = try JSONSerialization.data(
            withJSONObject: ["error": ["type": type, "message": message]],
            options: [.sortedKeys, .withoutEscapingSlashes])
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Turns every error a handler or Hummingbird itself throws into an ``APIError`` response, so no
/// route answers in another shape; unexpected errors are logged and reported without detail.
struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return try error.response(from: request, context: context)
        } catch let error as HTTPError {
            let type =
                switch error.status {
                case .notFound: "not_found"
                case .contentTooLarge: "too_large"
                case .methodNotAllowed: "method_not_allowed"
                default: error.status.code < 500 ? "invalid_request" : "internal"
                }
            return try APIError(error.status, type, error.body ?? error.status.reasonPhrase).response(
                from: request, context: context)
        } catch {
            context.logger.error("unexpected error: \(error)")
            return try APIError(.internalServerError, "internal", "internal error").response(
                from: request, context: context)
        }
    }
}
