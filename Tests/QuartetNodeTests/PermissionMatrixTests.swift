import Foundation
import Hummingbird
import HTTPTypes
import NIOCore
import Logging
import QuartetCrypto
@testable import QuartetNode
import QuartetTestKit
import Synchronization
import Testing

/// A request context for router tests: the "client certificate" comes in a test header (PEM,
/// base64) and is checked against the federation CA the way the TLS handshake checks it — a
/// certificate the CA did not issue gives no identity (on a real socket the handshake fails:
/// ServeTests). Only tests have this context; the node's reads the TLS handler.
struct CertificateHeaderContext: APIRequestContext {
    var coreContext: CoreRequestContextStorage
    var authentication: Authentication = .anonymous
    var remoteAddress: SocketAddress? { nil }
    static let header = HTTPField.Name("x-test-client-certificate")!
    /// The CAs of the in-process nodes under test (each test adds its own: suites run at once).
    static let trusted = Mutex<[Certificate]>([])

    init(source: ApplicationRequestContextSource) { coreContext = .init(source: source) }

    static func trust(_ pki: TestPKI) throws {
        let ca = try Certificate(pem: String(contentsOfFile: pki.caCertificate, encoding: .utf8))
        trusted.withLock { $0.append(ca) }
    }

    /// A client certificate `pki`'s CA issues to `identity`, as the header carries it.
    static func issue(_ identity: FederationIdentity, from pki: TestPKI) throws -> String {
        let dir = pki.root.appendingPathComponent("clients").path
        let issued = try FederationPKI.issue(identity, caDirectory: pki.root.appendingPathComponent("ca").path, in: dir)
        return Data(try String(contentsOfFile: issued.certificate, encoding: .utf8).utf8).base64EncodedString()
    }

    func clientCertificate(for request: Request) async throws -> (identity: FederationIdentity, serial: String)? {
        guard let field = request.headers[Self.header], let pemData = Data(base64Encoded: field),
              let certificate = try? Certificate(pem: String(decoding: pemData, as: UTF8.self)),
              Self.trusted.withLock({ $0 }).contains(where: { (try? certificate.verify(issuedBy: $0)) != nil }) else { return nil }
        return FederationIdentity(certificate: certificate).map { ($0, certificate.serialHex) }
    }
}

/// Every route of the API × every kind of caller, in process (Hummingbird's router test mode,
/// no sockets). The routes come from the router's own table, so a route added later is in the
/// matrix without anyone remembering to add it.
@Suite struct PermissionMatrixTests {
    /// A kind of caller: the headers it sends.
    struct Caller: CustomStringConvertible, Sendable {
        let description: String
        let headers: HTTPFields
    }

    enum Outcome: Equatable { case unauthorized, forbidden, admitted }

    /// What each access level gives each caller (by the caller's name below).
    static func expected(_ access: RouteAccess, _ caller: String, method: HTTPRequest.Method) -> Outcome {
        switch caller {
        case "none", "bad token", "certificate from another CA":
            return access == .public ? .admitted : .unauthorized
        case "reader":
            return [.public, .reader].contains(access) ? .admitted : .forbidden
        case "auditor", "operator of another log":
            return access == .operator ? .forbidden : .admitted
        case "operator of this log", "operator of this log (token)":
            return .admitted
        case "operator of this log (token, form post)":
            // A token in the Authorization header is never sent by a browser on its own.
            return .admitted
        case "operator of this log (cookie, no Origin)", "operator of this log (form post, no token)", "operator of this log (certificate, no content type)":
            // A write needs this node's origin (and a form its token); reading a form does not.
            return access == .operator && method != .get ? .forbidden : .admitted
        case "member node":
            return [.public, .reader].contains(access) ? .admitted : .forbidden
        case "node outside the federation":
            return access == .public ? .admitted : .forbidden
        case "auditor (another site's fetch)":
            // A browser's own credential on another site's request (finding 290).
            return access == .public ? .admitted : .forbidden
        case "operator of this log (cookie, another site's form)":
            // A link followed reads; anything else another site's page sends is refused.
            return access == .public || method == .get ? .admitted : .forbidden
        case "auditor (another site's iframe)":
            // Framed by another site: refused like any other request it makes.
            return access == .public ? .admitted : .forbidden
        case "auditor (a link from another site)":
            return access == .public || (method == .get && access != .operator) ? .admitted : .forbidden
        case "reader (token, another site)":
            // A token in the Authorization header: no browser sends it by itself.
            return [.public, .reader].contains(access) ? .admitted : .forbidden
        default:
            Issue.record("no expectation for \(caller)")
            return .admitted
        }
    }

    /// Stands for a new sign-in session of wales's operator in a caller's `Cookie` header.
    static let newSession = "new-session"

    /// A path the API has asked with a method none of its routes takes: 405 naming the
    /// methods it takes, whoever asks; a path no route has, and a route's own 404, stay 404.
    @Test func aMethodNoRouteOfThePathTakesIsRefusedWithTheMethodsItTakes() async throws {
        let node = try InProcessNode()
        defer { node.remove() }
        try await node.test(CertificateHeaderContext.self) { client, routes in
            let operatorToken: HTTPFields = [.authorization: "Bearer token-wales-op"]
            func concrete(_ path: String) -> String {
                path.replacingOccurrences(of: "{log}", with: "wales").replacingOccurrences(of: "{nation}", with: "wales")
                    .replacingOccurrences(of: "{id}", with: "none-such").replacingOccurrences(of: "{figure}", with: "none-such")
                    .replacingOccurrences(of: "{owner}", with: "heiw")
            }
            var tried = 0
            for route in routes {
                let path = concrete(route.path)
                let takes = Set(routes.filter { concrete($0.path) == path }.map(\.method))
                for method in [HTTPRequest.Method.get, .post, .put, .delete, .patch] where !takes.contains(method) {
                    // (An unknown method is a parser refusal before the router: not asked here.)
                    let (status, allow) = try await client.execute(uri: path, method: method, headers: operatorToken,
                                                                   body: method == .get ? nil : ByteBuffer(string: "{}")) { ($0.status, $0.headers[.allow]) }
                    #expect(status == .methodNotAllowed, "\(method) \(path): \(status)")
                    let allowed = Set((allow ?? "").split(separator: ",").map { HTTPRequest.Method(String($0.trimmingCharacters(in: .whitespaces)))! })
                    #expect(allowed == takes.union(takes.contains(.get) ? [.head] : []), "\(method) \(path): Allow \(allow ?? "none")")
                    tried += 1
                }
            }
            #expect(tried > routes.count * 3, "only \(tried) refusals asked")
            // Without credentials too (the routes are documented; the methods tell nothing more).
            let anonymous = try await client.execute(uri: "/v1/logs/wales/entries", method: .delete) { ($0.status, $0.headers[.allow]) }
            #expect(anonymous.0 == .methodNotAllowed && Set((anonymous.1 ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }) == ["GET", "HEAD", "POST"],
                    "\(anonymous)")
            // The same path with empty segments as the router reads it.
            #expect(try await client.execute(uri: "/v1//view/", method: .post, headers: operatorToken) { $0.status } == .methodNotAllowed)
            // A path no route has, and a route's own 404 (no such log), are 404 as before.
            #expect(try await client.execute(uri: "/v1/logs/wales/nothing", method: .delete, headers: operatorToken) { $0.status } == .notFound)
            #expect(try await client.execute(uri: "/v1/logs/wales", method: .post, headers: operatorToken) { $0.status } == .notFound)
            #expect(try await client.execute(uri: "/v1/logs/none-such/checkpoint", method: .get, headers: operatorToken) { $0.status } == .notFound)
        }
    }

    @Test func everyRouteRefusesEveryCallerItsAccessLevelDoesNotAdmit() async throws {
        let node = try InProcessNode()
        defer { node.remove() }
        let files = node.files
        let otherCA = try TestPKI()
        defer { otherCA.remove() }
        try CertificateHeaderContext.trust(files.pki)

        func certificate(_ identity: FederationIdentity, from pki: TestPKI) throws -> String { try CertificateHeaderContext.issue(identity, from: pki) }
        func headers(_ pairs: [(HTTPField.Name, String)]) -> HTTPFields {
            var fields = HTTPFields()
            for (name, value) in pairs { fields.append(HTTPField(name: name, value: value)) }
            return fields
        }
        let walesOperator = try certificate(.operator("wales"), from: files.pki)
        let auditorCertificate = try certificate(.auditor("heiw"), from: files.pki)
        let callers = [
            Caller(description: "none", headers: [:]),
            Caller(description: "bad token", headers: headers([(.authorization, "Bearer not-a-token")])),
            Caller(description: "reader", headers: headers([(.authorization, "Bearer token-reader")])),
            Caller(description: "auditor", headers: headers([(CertificateHeaderContext.header, auditorCertificate)])),
            Caller(description: "operator of this log", headers: headers([(CertificateHeaderContext.header, walesOperator), (.contentType, "application/json")])),
            Caller(description: "operator of this log (token)", headers: headers([(.authorization, "Bearer token-wales-op")])),
            // A browser signed in with the operator's token (a new session for each request:
            // `POST /logout` ends the one it is sent with).
            Caller(description: "operator of this log (cookie, no Origin)", headers: headers([(.cookie, Self.newSession), (.contentType, "application/json")])),
            Caller(description: "operator of this log (form post, no token)", headers: headers([(CertificateHeaderContext.header, walesOperator), (.contentType, "application/x-www-form-urlencoded")])),
            Caller(description: "operator of this log (certificate, no content type)", headers: headers([(CertificateHeaderContext.header, walesOperator)])),
            Caller(description: "operator of this log (token, form post)", headers: headers([(.authorization, "Bearer token-wales-op"), (.contentType, "application/x-www-form-urlencoded")])),
            Caller(description: "operator of another log", headers: headers([(.authorization, "Bearer token-england-op")])),
            Caller(description: "member node", headers: headers([(CertificateHeaderContext.header, try certificate(.node("uk"), from: files.pki))])),
            Caller(description: "node outside the federation", headers: headers([(CertificateHeaderContext.header, try certificate(.node("mallory"), from: files.pki))])),
            Caller(description: "certificate from another CA", headers: headers([(CertificateHeaderContext.header, try certificate(.operator("wales"), from: otherCA))])),
            Caller(description: "auditor (another site's fetch)", headers: headers([(CertificateHeaderContext.header, auditorCertificate),
                                                                                    (Gate.secFetchSite, "cross-site"), (Gate.secFetchMode, "no-cors"), (.contentType, "text/plain")])),
            Caller(description: "auditor (a link from another site)", headers: headers([(CertificateHeaderContext.header, auditorCertificate),
                                                                                       (Gate.secFetchSite, "cross-site"), (Gate.secFetchMode, "navigate"), (Gate.secFetchDest, "document")])),
            Caller(description: "auditor (another site's iframe)", headers: headers([(CertificateHeaderContext.header, auditorCertificate),
                                                                                    (Gate.secFetchSite, "cross-site"), (Gate.secFetchMode, "navigate"), (Gate.secFetchDest, "iframe")])),
            Caller(description: "operator of this log (cookie, another site's form)", headers: headers([(.cookie, Self.newSession), (Gate.secFetchSite, "same-site"),
                                                                                                         (Gate.secFetchMode, "navigate"), (.contentType, "application/json")])),
            Caller(description: "reader (token, another site)", headers: headers([(.authorization, "Bearer token-reader"), (Gate.secFetchSite, "cross-site"), (Gate.secFetchMode, "cors")])),
        ]

        try await node.test(CertificateHeaderContext.self) { client, routes in
            // Every route the API has is in the table, with a level; the ones this test knows of
            // must be there (a route missing from the table would be one the matrix never tries).
            let table = Set(routes.map { "\($0.method) \($0.path)" })
            for known in ["GET /healthz", "GET /v1/logs", "POST /v1/logs/{log}/entries", "GET /v1/view", "GET /v1/agreements/{id}/disclosures",
                          "GET /", "POST /login", "GET /metrics", "POST /v1/record/reading", "GET /measures/{id}", "GET /figures/{figure}",
                          "GET /record/reading", "POST /record/reading", "GET /assets/verify.js"] {
                #expect(table.contains(known), "the route table lacks \(known)")
            }
            #expect(routes.count == table.count, "a route is registered twice")
            // The levels of the routes that write, or read what only some may read, pinned here:
            // the matrix below tests each route against the level it declares, so a route
            // registered at the wrong level would pass it.
            let pinned: [String: RouteAccess] = [
                "POST /v1/logs/{log}/entries": .operator, "POST /v1/record/reading": .operator, "POST /record/reading": .operator,
                "GET /record/reading": .operator, "GET /status": .operator, "GET /v1/agreements/{id}/disclosures": .auditor,
                "GET /owners/{owner}": .auditor, "GET /metrics": .reader, "GET /v1/alerts": .reader, "POST /witness/add-checkpoint": .reader,
                "GET /healthz": .public, "POST /login": .public,
            ]
            for (key, level) in pinned {
                #expect(routes.first { "\($0.method) \($0.path)" == key }?.access == level, "\(key) is not registered at \(level)")
            }
            // Every other route that takes a body writes: the operator's alone.
            for route in routes where route.method == .post && !["/login", "/logout", "/witness/add-checkpoint"].contains(route.path) {
                #expect(route.access == .operator, "POST \(route.path) is registered at \(route.access)")
            }

            for route in routes {
                let path = route.path
                    .replacingOccurrences(of: "{log}", with: "wales").replacingOccurrences(of: "{nation}", with: "wales")
                    .replacingOccurrences(of: "{id}", with: "none-such").replacingOccurrences(of: "{figure}", with: "none-such")
                for caller in callers {
                    let body: ByteBuffer? = route.method == .post ? ByteBuffer(string: "{}") : nil
                    var sent = caller.headers
                    if sent[.cookie] == Self.newSession {
                        sent[.cookie] = "__Host-quartet-wales=" + (try node.node.sessions.open(digest: TokenGrant.digest("token-wales-op")))
                    }
                    let status = try await client.execute(uri: path, method: route.method, headers: sent, body: body) { $0.status }
                    let outcome: Outcome = status == .unauthorized ? .unauthorized : status == .forbidden ? .forbidden : .admitted
                    // The sign-in and sign-out forms: a post another site's page made is refused
                    // whoever posts it (finding 304).
                    let crossSiteForm = route.method == .post && ["/login", "/logout"].contains(route.path)
                        && (sent[API.fetchSite].map { $0.lowercased() != "same-origin" } ?? false)
                    #expect(outcome == (crossSiteForm ? .forbidden : Self.expected(route.access, caller.description, method: route.method)),
                            "\(route.method) \(route.path) [\(route.access)] as \(caller): \(status)")
                }
            }
            // A path no route has: 404 whoever asks, credentials or not.
            for caller in callers {
                let status = try await client.execute(uri: "/v1/no-such-route", method: .get, headers: caller.headers) { $0.status }
                #expect(status == .notFound, "unknown route as \(caller): \(status)")
            }
        }
    }
}
