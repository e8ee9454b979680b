import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import QuartetAPI
import QuartetReplication
import QuartetTLS

/// The answer header that carries the request id (made once).
let requestIDHeader = HTTPField.Name("x-request-id")!
let nosniffHeader = HTTPField.Name("x-content-type-options")!
private let hstsHeader = HTTPField.Name("strict-transport-security")!
let resourcePolicyHeader = HTTPField.Name("cross-origin-resource-policy")!
private let hostHeader = HTTPField.Name("host")!

/// Every request: a request id (Hummingbird's, also sent back as `x-request-id`), errors as a
/// JSON body `{"error": {"status", "message"}, "request_id"}`, one structured log line per
/// request (refusals at notice level, so every 401 and 403 is logged with who and why), and the
/// responses counted and timed for `/metrics`.
struct RequestLogMiddleware<Context: APIRequestContext>: RouterMiddleware {
    let metrics: NodeMetrics
    /// This node's id (named on the sign-in page a refusal of the dashboard shows).
    let node: String
    /// The budgets of refusal lines (401, 403) and failure lines (5xx): anyone can cause either
    /// (an anonymous `/readyz` asked while the node is not ready is a 503), so each is bounded
    /// on its own, and neither crowds the other out.
    var refusals: LogBudget = refusalLines
    var failures: LogBudget = failureLines
    /// Unexpected errors (a 500 the route did not mean): a budget of their own, so the 503s
    /// anyone can ask for cannot keep a real fault's cause out of the log.
    var faults: LogBudget = faultLines

    /// The `Strict-Transport-Security` value for an answer to a request for `host` (its Host
    /// header, port and all), or nil: a year, this name only (other names under it may be other
    /// services), never for `localhost` or an IP address.
    static func strictTransportSecurity(host authority: String?) -> String? {
        // Read as bytes, allocating nothing: every answer asks, and the Host header is the
        // caller's (only its own answer changes with what it says).
        guard var host = authority?.utf8[...], let first = host.first, first != UInt8(ascii: "[") else { return nil }  // none, or IPv6
        if let colon = host.lastIndex(of: UInt8(ascii: ":")) { host = host[..<colon] }
        // An IPv4 address: digits and dots.
        if host.allSatisfy({ $0 == UInt8(ascii: ".") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) { return nil }
        // `localhost`, or a name under it, in any case.
        let last = host.lastIndex(of: UInt8(ascii: ".")).map { host[host.index(after: $0)...] } ?? host
        if last.elementsEqual("localhost".utf8, by: { $0 | 0x20 == $1 }) { return nil }
        return "max-age=31536000"
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        var context = context
        context.logger[metadataKey: "hb.request.id"] = .string(Self.opaqueID(context.id))
        var response: Response
        var reason: String?
        var fault = false
        do {
            response = try await next(request, context)
        } catch let error as HTTPError {
            reason = error.body ?? "\(error.status)"
            response = Self.errorResponse(node: node, status: error.status, message: reason!, requestID: context.id, request: request)
            // The fields the error carries (`Retry-After` on a 429, 503 or a repeat still being
            // appended, `WWW-Authenticate`): they were dropped, all but the last, so a client
            // was never told when to come back. Not those of the body it replaced.
            for field in error.headers where ![.contentType, .contentLength, .transferEncoding].contains(field.name) {
                response.headers[field.name] = field.value
            }
        } catch let error as NIOTooManyBytesError {
            // A body over what the route reads (`collect(upTo:)`): the client's fault, not ours.
            reason = "request body too large"
            let limit = error.maxBytes.map { " (at most \($0) bytes)" } ?? ""
            response = Self.errorResponse(node: node, status: .contentTooLarge, message: "the request body is larger than \(request.uri.path) takes\(limit)",
                                          requestID: context.id, request: request)
            response.headers[.connection] = "close"
        } catch let error as HTTPParserError {
            // A body that does not parse (a bad chunk size, an unknown transfer coding).
            reason = "malformed HTTP: \(error)"
            response = Self.errorResponse(node: node, status: .badRequest, message: Self.notWellFormed(error), requestID: context.id, request: request)
            response.headers[.connection] = "close"
        } catch where (error is IOError || error is ChannelError || error is TLSError) && context.connectionClosed {
            // The connection failed under the request (a reset, a bad TLS record while its body
            // came): the client's leaving, answered to no one, not a fault of the node's —
            // anyone could use up the fault lines' budget with resets (finding 335).
            reason = "the connection closed under the request: \(error)"
            response = Self.errorResponse(node: node, status: NodeRequestContext.clientClosed, message: "the connection closed before the request was answered",
                                          requestID: context.id, request: request)
        } catch {
            // Said in the request's line below (budgeted, as every failure is), not to the caller.
            reason = "internal error: \(error)"
            fault = true
            response = Self.errorResponse(node: node, status: .internalServerError, message: "internal error (request \(context.id))", requestID: context.id, request: request)
        }
        response.headers[requestIDHeader] = context.id
        // Every answer may carry what only its caller may see (restricted payloads, disclosure
        // records, CSV downloads): no cache keeps it, unless the route said otherwise, and no
        // browser takes it for another type than it says.
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        if response.headers[nosniffHeader] == nil { response.headers[nosniffHeader] = "nosniff" }
        // No other site's page may embed an answer (an image, a script): it would be loaded
        // with the browser's credential (finding 290).
        if response.headers[resourcePolicyHeader] == nil { response.headers[resourcePolicyHeader] = "same-origin" }
        // The API is HTTPS only: a browser that has been here once never tries plain HTTP for
        // the name again (an on-path attacker's downgrade). Not for `localhost`, which other
        // services on a person's machine answer over HTTP; browsers ignore it for IP addresses.
        if let value = Self.strictTransportSecurity(host: request.head.authority) { response.headers[hstsHeader] = value }
        let status = Int(response.status.code)
        let elapsed = started.duration(to: .now)
        metrics.httpResponse(status: status, duration: elapsed)
        // Most answers are logged at debug, usually off: the line is built only when it is kept.
        let level: Logger.Level = status == 401 || status == 403 ? .notice : status >= 500 ? .error : .debug
        guard context.logger.logLevel <= level else { return response }
        // Anyone can be refused, or cause a 5xx: at most 120 lines a minute of each (the
        // metric counts all); a log flooded with them hid the lines that matter, and a
        // journal's rate limit dropped those too.
        var dropped = 0
        if let budget = level == .notice ? refusals : fault ? faults : level == .error ? failures : nil {
            let taken = budget.take()
            guard taken.write else { return response }
            dropped = taken.dropped
        }
        // A path is at most 256 bytes in the log (the rest is the client's, not the log's), its
        // controls and bidirectional overrides escaped: the text log writes it as it is, and
        // the HTTP parser passes bytes from 0x80 up (U+009B, U+202E) from anyone.
        var metadata: Logger.Metadata = [
            "method": "\(request.method)", "path": "\(PeerText.clean(request.uri.path, limit: 256))",
            "status": "\(status)", "ms": "\(String(format: "%.2f", elapsed.milliseconds))",
        ]
        if dropped > 0 { metadata[level == .notice ? "refusals_not_logged" : fault ? "faults_not_logged" : "failures_not_logged"] = "\(dropped)" }
        if let remote = context.remoteAddress { metadata["remote"] = "\(remote)" }
        if let reason { metadata["reason"] = "\(PeerText.clean(reason))" }
        context.logger.log(level: level, level == .debug ? "request" : level == .notice ? "refused" : "request", metadata: metadata)
        return response
    }

    /// Hummingbird's request id is a per-process prefix and a counter: sent back as
    /// `x-request-id` (to anyone, `/healthz` included) it would tell an outsider how many
    /// requests the node served between two of theirs. The id logged and sent is a keyed hash
    /// of it instead (`Hasher` is seeded at random per process): as unique, and opaque.
    static func opaqueID(_ id: String) -> String {
        var hasher = Hasher()
        hasher.combine(id)
        return hexID(UInt64(bitPattern: Int64(hasher.finalize())))
    }

    /// A request id's form: 16 hex digits.
    static func hexID(_ value: UInt64) -> String {
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// What a request the HTTP parser refused is told.
    static func notWellFormed(_ error: HTTPParserError) -> String { "the request is not well-formed HTTP/1.1 (\(error))" }

    static func errorResponse(node: String, status: HTTPResponse.Status, message: String, requestID: String, request: Request) -> Response {
        // The dashboard (a browser asking for HTML) gets a page with a sign-in form instead.
        if status == .unauthorized, request.uri.path == "/" || request.uri.path == "/login" {
            return Dashboard.signInPage(node: node, message: message, status: status)
        }
        var response = API.json(APIErrorBody(status: Int(status.code), message: message, requestID: requestID), status: status)
        if status == .unauthorized { response.headers[.wwwAuthenticate] = "Bearer realm=\"quartet\"" }
        return response
    }
}

/// The request's Host (RFC 9112 §3.2): a second one refused (a proxy in front may have routed
/// the request by the other), and one that is no host (`a, b`: two joined by a proxy). Inside
/// the first-request check (`FirstRequestCheck`), so that a provisional connection refused here
/// still closes after its answer.
struct HostCheck<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // The first `Host` is the request's authority; a second one is left among its fields.
        guard request.headers[hostHeader] == nil else { throw HTTPError(.badRequest, message: "the request has more than one Host header") }
        // HTTP/1.0 may leave it out (`HTTPVersionRules` refuses HTTP/1.1 without one).
        if let host = request.head.authority, !Self.isHost(host) {
            throw HTTPError(.badRequest, message: "the Host header is not a host[:port]: \(PeerText.clean(host, limit: 64))")
        }
        return try await next(request, context)
    }

    /// Whether `authority` is a Host value (RFC 9112 §3.2, RFC 3986 `host [":" port]`): a name or
    /// IPv4 address (letters, digits, `-`, `.`, `_`, `~`: a DNS name's, punycode for an IDN), or an
    /// IP literal in brackets (hex digits, `:`, `.`, and a `%25` zone), then at most one `:` and a
    /// port of up to five digits, at most 65535; or an IPv6 address without brackets (as clients
    /// before 0.3.8 sent it). Not empty: an `https` target has an authority.
    /// Read as bytes (every request asks).
    static func isHost(_ authority: String) -> Bool {
        var rest = authority.utf8[...]
        func isName(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"): true
            default: false
            }
        }
        // An IP literal's bytes: hex digits, `:`, `.`, a zone's `%` and name.
        func isAddress(_ byte: UInt8) -> Bool { isName(byte) || byte == UInt8(ascii: ":") || byte == UInt8(ascii: "%") }
        // An IPv6 address unbracketed (two colons or more): what this node's own clients before
        // 0.3.8 send for a node at an IPv6 literal (`Host: ::1`); no port can follow one. Hex
        // digits, colons and dots (an embedded IPv4), then a zone's `%` and name.
        if rest.first != UInt8(ascii: "["), rest.lazy.filter({ $0 == UInt8(ascii: ":") }).count >= 2 {
            let address = rest.prefix { $0 != UInt8(ascii: "%") }
            func isIPv6(_ byte: UInt8) -> Bool {
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"), UInt8(ascii: "A")...UInt8(ascii: "F"),
                     UInt8(ascii: ":"), UInt8(ascii: "."): true
                default: false
                }
            }
            return address.allSatisfy(isIPv6) && rest.allSatisfy(isAddress)
        }
        if rest.first == UInt8(ascii: "[") {
            guard let close = rest.firstIndex(of: UInt8(ascii: "]")) else { return false }
            let literal = rest[rest.index(after: rest.startIndex)..<close]
            guard !literal.isEmpty, literal.allSatisfy(isAddress) else { return false }
            rest = rest[rest.index(after: close)...]
        } else {
            let name = rest.prefix(while: isName)
            guard !name.isEmpty else { return false }
            rest = rest[name.endIndex...]
        }
        guard let colon = rest.first else { return true }
        let port = rest.dropFirst()
        guard colon == UInt8(ascii: ":"), (1...5).contains(port.count), port.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else { return false }
        return port.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) } <= 65535
    }
}

/// The refusal lines of the API, per process (`LogBudget`).
let refusalLines = LogBudget(lines: 120, per: .seconds(60))
/// The failure lines (5xx) of the API, per process.
let failureLines = LogBudget(lines: 120, per: .seconds(60))
/// The lines of unexpected errors (500s no route meant), per process.
let faultLines = LogBudget(lines: 120, per: .seconds(60))
