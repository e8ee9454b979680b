import Foundation
import Hummingbird
import Logging
import NIOCore
import QuartetAPI

/// Every request: a request id (Hummingbird's, also sent back as `x-request-id`), errors as a
/// JSON body `{"error": {"status", "message"}, "request_id"}`, one structured log line per
/// request (refusals at notice level, so every 401 and 403 is logged with who and why), and the
/// responses counted and timed for `/metrics`.
struct RequestLogMiddleware<Context: APIRequestContext>: RouterMiddleware {
    let metrics: NodeMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        var response: Response
        var reason: String?
        do {
            response = try await next(request, context)
        } catch let error as HTTPError {
            reason = error.body ?? "\(error.status)"
            response = Self.errorResponse(status: error.status, message: reason!, requestID: context.id, request: request)
            if let headers = error.headers[.wwwAuthenticate] { response.headers[.wwwAuthenticate] = headers }
        } catch {
            reason = "internal error"
            context.logger.error("request failed", metadata: ["error": "\(error)"])
            response = Self.errorResponse(status: .internalServerError, message: "internal error (request \(context.id))", requestID: context.id, request: request)
        }
        response.headers[.init("x-request-id")!] = context.id
        let status = Int(response.status.code)
        let elapsed = started.duration(to: .now)
        metrics.httpResponse(status: status, duration: elapsed)
        let ms = elapsed.milliseconds
        var metadata: Logger.Metadata = [
            "method": "\(request.method)", "path": "\(request.uri.path)", "status": "\(status)",
            "ms": "\(String(format: "%.2f", ms))",
        ]
        if let remote = context.remoteAddress { metadata["remote"] = "\(remote)" }
        if let reason { metadata["reason"] = "\(reason)" }
        if status == 401 || status == 403 {
            context.logger.notice("refused", metadata: metadata)
        } else if status >= 500 {
            context.logger.error("request", metadata: metadata)
        } else {
            context.logger.debug("request", metadata: metadata)
        }
        return response
    }

    static func errorResponse(status: HTTPResponse.Status, message: String, requestID: String, request: Request) -> Response {
        // The dashboard (a browser asking for HTML) gets a page with a sign-in form instead.
        if status == .unauthorized, request.uri.path == "/" || request.uri.path == "/login" {
            return Dashboard.signInPage(message: message, status: status)
        }
        var response = API.json(APIErrorBody(status: Int(status.code), message: message, requestID: requestID), status: status)
        if status == .unauthorized { response.headers[.wwwAuthenticate] = "Bearer realm=\"quartet\"" }
        return response
    }
}
