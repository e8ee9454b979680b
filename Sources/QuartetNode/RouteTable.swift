import HTTPTypes
import Hummingbird
import QuartetReplication
import Synchronization

/// Every route registered (`Routes`: the only way to add one), with its access level: the table
/// the permission tests walk, and the methods each path takes, so that a request for a path the
/// API has with a method it does not take is told so — 405 with `Allow` (RFC 9110 §15.5.6: the
/// origin server MUST send `Allow`) — not the 404 of a path no route has, which reads as a
/// mistyped address (`DELETE /v1/logs/wales/entries`, `POST /v1/view`). Filled as routes are
/// registered; asked for methods only on a 404.
final class RouteTable: Sendable {
    private struct Row {
        let entry: RouteEntry
        /// The path's segments, a `{name}` segment standing for any one segment.
        let segments: [Substring]
    }
    private let rows = Mutex<[Row]>([])

    func add(_ entry: RouteEntry) {
        rows.withLock { $0.append(Row(entry: entry, segments: Self.segments(entry.path))) }
    }

    /// The routes, in the order they were registered.
    var entries: [RouteEntry] { rows.withLock { $0.map(\.entry) } }

    /// The methods the routes matching `path` take (`HEAD` beside every `GET`: the router
    /// answers it, `Routes`), in the order they were registered; empty if no route's path
    /// matches.
    func allowed(_ path: String) -> [HTTPRequest.Method] {
        let segments = Self.segments(path)
        let methods = rows.withLock { rows in
            rows.filter { Self.matches($0.segments, segments) }.map(\.entry.method)
        }
        var allowed: [HTTPRequest.Method] = []
        for method in methods where !allowed.contains(method) {
            allowed.append(method)
            if method == .get, !methods.contains(.head) { allowed.append(.head) }
        }
        return allowed
    }

    /// A path's segments as the router splits it (empty ones left out: `/v1//logs/` is
    /// `/v1/logs`).
    private static func segments(_ path: String) -> [Substring] {
        path.split(separator: "/", omittingEmptySubsequences: true)
    }

    private static func matches(_ pattern: [Substring], _ segments: [Substring]) -> Bool {
        guard pattern.count == segments.count else { return false }
        for (expected, given) in zip(pattern, segments) where !(expected.first == "{" && expected.last == "}") && expected != given {
            return false
        }
        return true
    }
}

/// A request no route answers: if a route has its path under another method, 405 naming the
/// methods (`Allow`), else the router's 404 as it was. A 404 a route gave (no such log, no such
/// figure) passes unchanged: a route takes the request's own method there.
struct MethodNotAllowed<Context: RequestContext>: RouterMiddleware {
    let routes: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let allowed = routes.allowed(request.uri.path)
            guard !allowed.isEmpty, !allowed.contains(request.method) else { throw error }
            let names = allowed.map(\.rawValue).joined(separator: ", ")
            throw HTTPError(.methodNotAllowed, headers: [.allow: names],
                            message: "\(PeerText.clean(request.method.rawValue, limit: 32)) is not a method of this path; it takes \(names)")
        }
    }
}
