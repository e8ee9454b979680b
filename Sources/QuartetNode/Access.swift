import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import QuartetCrypto
import QuartetTLS

// (Over ~350 lines: the access groups, the authentication middleware and the callers it recognises
// are the one rule of who may call what.)

// Access to the API, closed by default: every route is registered through `Routes`, which
// knows only the four access levels below, each a route group whose middleware
// (`RequireAccess`) works out who is asking and admits or refuses before the route runs. A route cannot be added to the router in any
// other way (the router itself stays private to `Routes`), so a new route is never open
// because someone forgot a check. Tests/QuartetNodeTests/PermissionMatrixTests.swift walks
// every registered route with every kind of caller.

/// Who may call a route.
public enum RouteAccess: String, Sendable, CaseIterable {
    /// Anyone, with or without credentials (the credentials are not even looked at):
    /// `/healthz` and the sign-in page.
    case `public`
    /// Any federation identity: a member node, the operator of a federation log, a reader or an
    /// auditor. A certificate from the federation CA that names anything else (a node removed
    /// from the federation file, an operator of a log that is not in it) is refused.
    case reader
    /// The records of where data went: auditors (the route then checks it is the data owner's)
    /// and the operators of federation logs (the holder's, checked by the route).
    case auditor
    /// The operator of this node's own log; a write signed in by the dashboard's cookie must
    /// also come from this node's own pages.
    case `operator`
}

/// Who is asking and by which credential.
public struct Caller: Sendable, Equatable {
    public var identity: FederationIdentity
    /// Recorded as the author of what the caller appends, e.g. `operator-wales cert 1A2B…`.
    public var author: String
    /// Whether the token came in the dashboard's cookie (not the `Authorization` header).
    public var viaCookie: Bool
    /// Whether the credential was a token in the `Authorization` header (not a cookie or a
    /// client certificate, which a browser sends by itself).
    public var viaAuthorizationHeader: Bool = false
    /// Whether the same caller is still admitted to the route's level: set by the access
    /// middleware (`RequireAccess`), asked by `ReadWork` when a request that waited gets its
    /// turn (a reload may have removed the token, sign-in or member meanwhile; finding 282).
    /// Not part of the caller's equality.
    var stillAdmitted: (@Sendable () -> Bool)? = nil
    /// The SHA-256 of the token the caller came with (header or sign-in), nil for a certificate.
    var token: [UInt8]? = nil

    /// What the API port's slots count this caller's connections by (`ConnectionSlots`): its
    /// token (one token, one credential: a token replaced under the same name is another), else
    /// its certificate's author.
    var slotCredential: String { token.map(Self.tokenCredential) ?? author }
    static func tokenCredential(_ sha256: [UInt8]) -> String { "token " + TokenGrant.hex(sha256) }

    public static func == (a: Caller, b: Caller) -> Bool {
        a.identity == b.identity && a.author == b.author && a.viaCookie == b.viaCookie && a.viaAuthorizationHeader == b.viaAuthorizationHeader
    }
}

/// What the authentication middleware found: nothing, a caller, or credentials it refused (a
/// token the node does not know). Only routes that need a caller turn the last into a 401;
/// the public ones (sign-in with a stale cookie) go on.
public enum Authentication: Sendable {
    case anonymous
    case caller(Caller)
    case refused(String)
}

/// A request context the API can run in: it tells which verified client certificate the
/// connection presented, and carries what the authentication middleware found.
public protocol APIRequestContext: RequestContext where Source == ApplicationRequestContextSource {
    /// The identity and serial number (hex) of the client's verified certificate, if any.
    func clientCertificate(for request: Request) async throws -> (identity: FederationIdentity, serial: String)?
    var authentication: Authentication { get set }
    /// The client's address, for the request log.
    var remoteAddress: SocketAddress? { get }
    /// The connection the request came on (its port's slots know it by this), if any.
    var connectionID: ObjectIdentifier? { get }
    /// Whether the request's connection has closed (the client left, or its connection failed).
    var connectionClosed: Bool { get }
    /// The route is about to read the request's body (`Request.collectBody`).
    func continueBody()
}

extension APIRequestContext {
    public var connectionID: ObjectIdentifier? { nil }
    public var connectionClosed: Bool { false }
    /// The route is about to read the request's body: its `100 Continue`, if it asked for one,
    /// is sent (`ExchangeHandler`). Nothing where no connection is.
    public func continueBody() {}
}

extension APIRequestContext {
    /// The caller the route's access level admitted (set by `RequireAccess` before the route).
    func caller() throws -> Caller {
        guard case .caller(let caller) = authentication else {
            throw HTTPError(.internalServerError, message: "a route ran without the caller its access level admits")
        }
        return caller
    }
}

/// The node's request context: Hummingbird's core storage plus the connection, whose TLS
/// handler holds the verified client certificate.
public struct NodeRequestContext: APIRequestContext {
    public var coreContext: CoreRequestContextStorage
    public var authentication: Authentication = .anonymous
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// A fault of the node's own, answered 500 (`RequestLogMiddleware`).
    struct NodeFault: Error, CustomStringConvertible {
        let description: String
    }

    /// The status a request whose connection closed before its answer is counted as (nginx's).
    static let clientClosed = HTTPResponse.Status(code: 499, reasonPhrase: "Client Closed Request")

    public var remoteAddress: SocketAddress? { channel.remoteAddress }
    public var connectionID: ObjectIdentifier? { ObjectIdentifier(channel) }
    public var connectionClosed: Bool { !channel.isActive }
    public func continueBody() { channel.triggerUserOutboundEvent(ExchangeHandler.ContinueEvent(), promise: nil) }

    public func clientCertificate(for request: Request) async throws -> (identity: FederationIdentity, serial: String)? {
        let channel = self.channel
        @Sendable func read() throws -> (identity: FederationIdentity, serial: String)? {
            // The TLS handler leaves the pipeline when the connection closes (a client's
            // close_notify right behind its request): no one is left to answer, and it is no
            // fault of the node's (a 500 and an error line each, which anyone could ask for).
            guard let handler = try? channel.pipeline.syncOperations.handler(type: TLSHandler.self) else {
                // Gone with the connection; on one still open it would be a fault of the node's.
                guard !channel.isActive else { throw NodeFault(description: "the API connection has no TLS handler") }
                throw HTTPError(Self.clientClosed, message: "the connection closed before the request was answered")
            }
            return handler.peerIdentity.map { ($0, handler.peerCertificateSerial ?? "?") }
        }
        // On the connection's own event loop (the usual case when `serve` runs Swift
        // concurrency on NIO's threads) it is read in place, without a hop.
        if channel.eventLoop.inEventLoop { return try read() }
        return try await channel.eventLoop.submit(read).get()
    }
}

/// The node's rules for who is who and who may do what: the token grants of its configuration,
/// the federation's members, its own log.
struct Gate: Sendable {
    let node: String
    let ownLog: String
    /// The federation and the token grants in force are read at each request: a member or a
    /// token removed by a reload is refused from its next request on.
    let live: LiveSettings
    /// The browsers signed in (`WebSessions`).
    let sessions: WebSessions
    /// The API port's connection slots: a connection let in provisionally keeps a slot past
    /// its first request only if that request brings credentials (`ConnectionSlots`).
    var slots: ConnectionCap.Counter?

    var federation: Federation { live.federation }

    /// The sign-in cookie: named after the node, since a browser sends a host's cookies to
    /// every port of it (`__Host-`: only ever set Secure, for the whole host, by the host).
    var cookieName: String { Self.cookieName(node: node) }
    static func cookieName(node: String) -> String { "__Host-quartet-" + node }

    /// Who is asking: the identity in the client's certificate, else the holder of a bearer
    /// token listed in the configuration (the `Authorization` header), else a browser signed in
    /// with one (the sign-in cookie names a session, `WebSessions`).
    func authenticate(_ request: Request, certificate: (identity: FederationIdentity, serial: String)?) -> Authentication {
        if let (identity, serial) = certificate {
            return .caller(Caller(identity: identity, author: Self.author(identity, "cert \(serial)"), viaCookie: false))
        }
        if let token = Self.bearerToken(request) {
            let grant: TokenGrant
            switch self.grant(token: token) {
            case .success(let found): grant = found
            case .failure(let refusal): return .refused(refusal.message)
            }
            return .caller(Caller(identity: grant.identity, author: Self.author(grant.identity, "token \(grant.name)"), viaCookie: false,
                                  viaAuthorizationHeader: true, token: grant.sha256))
        }
        guard let session = Self.cookie(cookieName, in: request) else { return .anonymous }
        guard let digest = sessions.digest(of: session) else {
            return .refused("the sign-in has ended (it expired, was signed out, or the node restarted); sign in again")
        }
        guard let grant = grant(digest: digest) else { return .refused("the token signed in with is no longer one this node accepts") }
        return .caller(Caller(identity: grant.identity, author: Self.author(grant.identity, "token \(grant.name)"), viaCookie: true, token: grant.sha256))
    }

    /// Why a token is refused (`grant(token:)`).
    struct TokenRefusal: Error { let message: String }

    /// The grant of `token` (in an `Authorization` header, the sign-in form or a sign-in link),
    /// or why it is refused: made for another node (`TokenGrant.boundNode`) — that node's
    /// credential even where a configuration here lists it, and whoever sent it should know
    /// this node now holds it — or not listed here.
    func grant(token: String) -> Result<TokenGrant, TokenRefusal> {
        if let bound = TokenGrant.boundNode(of: token), bound != node {
            return .failure(TokenRefusal(message: "this token was issued for node \(bound), not this node (\(node)), and has now been sent here: have node \(bound)'s operator replace it (quartet token new --node \(bound), then remove the old one from its configuration)"))
        }
        guard let grant = grant(digest: TokenGrant.digest(token)) else { return .failure(TokenRefusal(message: "the token is not one this node accepts")) }
        return .success(grant)
    }

    /// The grant of the token whose SHA-256 is `digest`; every grant's digest is compared in
    /// full (no early exit on the first byte that differs).
    func grant(digest: [UInt8]) -> TokenGrant? {
        var found: TokenGrant?
        for grant in live.tokens {
            var difference: UInt8 = 0
            for (a, b) in zip(grant.sha256, digest) { difference |= a ^ b }
            if difference == 0 && grant.sha256.count == digest.count { found = grant }
        }
        return found
    }

    /// The caller if `access` admits it; 401 without credentials (or with refused ones), 403 for
    /// a caller the level does not admit.
    func admit(_ access: RouteAccess, _ authentication: Authentication, _ request: Request) throws -> Caller? {
        if access == .public { return nil }
        let caller: Caller
        switch authentication {
        case .anonymous:
            throw HTTPError(.unauthorized, message: "this endpoint needs a client certificate issued by the federation CA or a bearer token")
        case .refused(let reason):
            throw HTTPError(.unauthorized, message: reason)
        case .caller(let c):
            caller = c
        }
        // A credential the browser sends by itself (a client certificate, a cookie) goes with
        // another site's requests too: refused unless the browser says the request is this
        // node's own or a link followed to one of its pages (finding 290).
        if !caller.viaAuthorizationHeader { try Self.checkFetchSite(request) }
        let identity = try member(caller.identity)
        switch access {
        case .public, .reader:
            break
        case .auditor:
            switch identity {
            case .auditor, .operator: break
            case .node, .reader:
                throw HTTPError(.forbidden, message: "the records of where data went are for the data owners' auditors and the holders' operators; this is \(identity.uri)")
            }
        case .operator:
            guard identity == .operator(ownLog) else {
                throw HTTPError(.forbidden, message: "this needs the operator of \(ownLog) (certificate quartet://operator/\(ownLog) or an operator token of this node); this is \(identity.uri)")
            }
            // A write with a credential a browser sends by itself (a cookie, or a client
            // certificate: browsers send both to any site's forms and fetches) must come from
            // this node's pages: a form with this node's origin and the form's token, or JSON
            // (a cross-site page cannot send JSON without a preflight this node never answers)
            // — from this node's origin too when signed in by cookie. A token in the
            // Authorization header is sent only by a client that holds it. Reading (GET, HEAD:
            // the forms themselves) changes nothing and needs none of this.
            if request.method != .get && request.method != .head && !caller.viaAuthorizationHeader {
                if FormToken.isForm(request) {
                    try FormToken.check(request, author: caller.author)
                } else if caller.viaCookie {
                    try Self.checkSameOrigin(request)
                } else {
                    try Self.checkJSON(request)
                }
            }
        }
        return caller
    }

    /// `identity` if it may read at all: a member node, the operator of a federation log, a
    /// reader or an auditor; 403 otherwise.
    func member(_ identity: FederationIdentity) throws -> FederationIdentity {
        switch identity {
        case .node(let id):
            guard federation.member(id) != nil else { throw HTTPError(.forbidden, message: "\(identity.uri) is not a member of the federation") }
        case .operator(let log):
            guard federation.members.contains(where: { $0.log == log }) else {
                throw HTTPError(.forbidden, message: "\(identity.uri) operates no log of this federation")
            }
        case .reader, .auditor:
            break
        }
        return identity
    }

    /// The token of an `Authorization: Bearer` header.
    static func bearerToken(_ request: Request) -> String? {
        guard let header = request.headers[.authorization] else { return nil }
        // `Bearer <token>`, the scheme in any case, spaces and tabs around the token ignored.
        let bytes = Array(header.utf8)
        guard bytes.count > 7, bytes[6] == UInt8(ascii: " "), zip(bytes[0..<6], "bearer".utf8).allSatisfy({ $0 | 0x20 == $1 }) else { return nil }
        return String(decoding: trimmingBlanks(bytes[7...]), as: UTF8.self)
    }

    /// The value of cookie `name` in `request`'s `Cookie` headers.
    static func cookie(_ name: String, in request: Request) -> String? {
        let prefix = Array((name + "=").utf8)
        for header in request.headers[values: .cookie] {
            for pair in Array(header.utf8).split(separator: UInt8(ascii: ";")) {
                let pair = trimmingBlanks(pair)
                if pair.starts(with: prefix) { return String(decoding: pair.dropFirst(prefix.count), as: UTF8.self) }
            }
        }
        return nil
    }

    /// `bytes` without the spaces and tabs at either end.
    private static func trimmingBlanks(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        func blank(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        var slice = bytes
        while let first = slice.first, blank(first) { slice = slice.dropFirst() }
        while let last = slice.last, blank(last) { slice = slice.dropLast() }
        return slice
    }

    /// An entry's author: the role and the credential, printable and at most 255 bytes.
    static func author(_ identity: FederationIdentity, _ credential: String) -> String {
        let text = "\(identity.fileLabel) \(credential)"
        // The usual case, printable ASCII within the limit, is the text itself.
        if text.utf8.count <= 255, text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return text }
        let clean = String(String.UnicodeScalarView(text.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F && !(0x80...0x9F).contains($0.value) }))
        var out = ""
        for character in clean where out.utf8.count + String(character).utf8.count <= 255 { out.append(character) }
        return out
    }

    /// A write authenticated by the dashboard's cookie must come from this node's own pages: a
    /// JSON body (a cross-site form cannot send one without a preflight) and an `Origin` naming
    /// this very host and port (cookies are shared by every port of a host; the origin is not).
    /// A write by client certificate without a form token must be JSON (so a cross-site page
    /// could only send it after a preflight): a missing or other content type is refused.
    static func checkJSON(_ request: Request) throws {
        let type = request.headers[.contentType]?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard type == "application/json" else {
            throw HTTPError(.forbidden, message: "a write signed in by client certificate needs Content-Type: application/json (or, from this node's pages, a form with its token)")
        }
    }

    /// Fetch Metadata (`Sec-Fetch-Site`, sent by every current browser): a request another
    /// site's page made — a form posted, an image or script loaded, a no-cors fetch — runs as
    /// whoever's certificate or cookie the browser holds, so it costs that credential's reads and
    /// witness lane and shows its timing to the page. Refused, but for a link followed to one of
    /// this node's pages (a GET navigation). A request without the header (a tool, a member's
    /// node, an older browser) is judged as before.
    static func checkFetchSite(_ request: Request) throws {
        guard let site = request.headers[secFetchSite]?.lowercased(), site == "cross-site" || site == "same-site" else { return }
        // A link followed to a page: a top-level document (an iframe's navigation is one too,
        // with its destination `iframe`: refused, its answer would be framed by another site).
        if request.method == .get, request.headers[secFetchMode]?.lowercased() == "navigate",
           request.headers[secFetchDest].map({ $0.lowercased() == "document" }) ?? true { return }
        throw HTTPError(.forbidden, message: "a request made by another site's page (Sec-Fetch-Site: \(site)) is not answered with the credential the browser holds; open this node's pages directly")
    }

    static let secFetchSite = HTTPField.Name("sec-fetch-site")!
    static let secFetchMode = HTTPField.Name("sec-fetch-mode")!
    static let secFetchDest = HTTPField.Name("sec-fetch-dest")!

    static func checkSameOrigin(_ request: Request) throws {
        let type = request.headers[.contentType]?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard type == "application/json" else {
            throw HTTPError(.forbidden, message: "a write signed in by cookie needs Content-Type: application/json")
        }
        guard let origin = request.headers[.origin], let host = request.head.authority,
              origin == "https://\(host)" else {
            throw HTTPError(.forbidden, message: "a write signed in by cookie must come from this node's own pages (Origin https://<this host:port>)")
        }
    }
}

/// The middleware of one access level's route group: works out who is asking (once per
/// request: a request reaches one route, so one group) and admits the caller or refuses the
/// request. The public group looks at no credentials at all.
struct RequireAccess<Context: APIRequestContext>: RouterMiddleware {
    let access: RouteAccess
    let gate: Gate

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard access != .public else { return try await next(request, context) }
        var context = context
        let certificate = try await context.clientCertificate(for: request)
        var found = gate.authenticate(request, certificate: certificate)
        let admitted = try gate.admit(access, found, request)
        // Work that waits its turn (`ReadWork`) asks again whether the same caller is still
        // admitted (a reload may have removed its token, sign-in or member meanwhile). Carried
        // on the caller: a task-local set around `next` crashed release builds (Swift 6.3.1,
        // `TaskLocal.withValue` specialised in a middleware).
        if case .caller(var caller) = found {
            caller.stillAdmitted = { [gate, access] in
                guard let now = try? gate.admit(access, gate.authenticate(request, certificate: certificate), request) else { return false }
                return now == admitted
            }
            found = .caller(caller)
        }
        context.authentication = found
        return try await next(request, context)
    }
}

/// The first request of a connection let in provisionally (the API port was full): it keeps
/// its place only if the request brings credentials the node accepts — a federation identity
/// the reader level admits (a token, a sign-in, a certificate of a listed member or of a
/// reader, auditor or member log's operator); otherwise this response is its last
/// (`ConnectionSlots`). Router-level, so every request passes it, an unknown route's too.
/// One atomic read for every other connection.
struct FirstRequestCheck<Context: APIRequestContext>: RouterMiddleware {
    let gate: Gate

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let slots = gate.slots, let id = context.connectionID, slots.awaitsFirstRequest(id) {
            let found = gate.authenticate(request, certificate: try await context.clientCertificate(for: request))
            let credential: String? = if case .caller(let caller) = found, (try? gate.admit(.reader, found, request)) != nil { caller.slotCredential } else { nil }
            _ = slots.request(on: id, credential: credential)
        }
        return try await next(request, context)
    }
}

/// One registered route: for the route table the permission tests walk.
public struct RouteEntry: Sendable, Hashable {
    public let method: HTTPRequest.Method
    public let path: String
    public let access: RouteAccess
}

/// The only way to add a route to the API: by access level, each level a route group behind
/// its `RequireAccess` middleware; each group's middleware authenticates the caller.
final class Routes<Context: APIRequestContext> {
    private let router: Router<Context>
    private let groups: [RouteAccess: RouterGroup<Context>]
    /// The routes added so far (and the methods of each path, for a 405).
    private let table: RouteTable

    init(gate: Gate, outermost: [any MiddlewareProtocol<Request, Response, Context>]) {
        // HEAD of every GET route: the GET route's responder (its group's access check included)
        // with the body left out (RFC 9110 §9.3.2; monitoring probes use it).
        let router = Router(context: Context.self, options: .autoGenerateHeadEndpoints)
        for middleware in outermost { router.add(middleware: middleware) }
        router.add(middleware: FirstRequestCheck<Context>(gate: gate))
        router.add(middleware: HostCheck<Context>())
        let table = RouteTable()
        router.add(middleware: MethodNotAllowed<Context>(routes: table))
        var groups: [RouteAccess: RouterGroup<Context>] = [:]
        for access in RouteAccess.allCases {
            groups[access] = router.group().add(middleware: RequireAccess<Context>(access: access, gate: gate))
        }
        self.router = router
        self.table = table
        self.groups = groups
    }

    /// A route anyone may call; it gets no caller.
    func `public`(_ method: HTTPRequest.Method, _ path: String,
                  use handler: @escaping @Sendable (Request, Context) async throws -> Response) {
        table.add(RouteEntry(method: method, path: path, access: .public))
        groups[.public]!.on(RouterPath(path), method: method, use: handler)
    }

    /// A route for callers `access` admits; the handler gets the caller.
    func on(_ method: HTTPRequest.Method, _ path: String, _ access: RouteAccess,
            use handler: @escaping @Sendable (Request, Context, Caller) async throws -> Response) {
        precondition(access != .public, "public routes are added with `public(_:_:use:)`")
        table.add(RouteEntry(method: method, path: path, access: access))
        groups[access]!.on(RouterPath(path), method: method) { request, context in
            try await handler(request, context, try context.caller())
        }
    }

    func get(_ path: String, _ access: RouteAccess, use handler: @escaping @Sendable (Request, Context, Caller) async throws -> Response) {
        on(.get, path, access, use: handler)
    }

    func post(_ path: String, _ access: RouteAccess, use handler: @escaping @Sendable (Request, Context, Caller) async throws -> Response) {
        on(.post, path, access, use: handler)
    }

    /// The router with every route added so far, and the table of those routes.
    var built: (router: Router<Context>, routes: [RouteEntry]) { (router, table.entries) }
}
