import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import QuartetAPI
import QuartetCrypto
import QuartetLedger
import QuartetPlan
import QuartetReplication
import QuartetStore

/// Signing a browser in: a session for a token and its cookie, and what a browser presenting a
/// client certificate is told.
extension API {
    /// What a browser presenting a client certificate is told at sign-in and sign-out: the
    /// certificate comes before any sign-in (`Gate.authenticate`), on every request, for as long
    /// as the browser keeps it — no token signs it in as another identity (say a reader's, to
    /// drop an operator's rights) and no sign-out ends it. Nil without a certificate.
    static func certificateNote<Context: APIRequestContext>(_ request: Request, _ context: Context) async -> String? {
        guard let (identity, _) = try? await context.clientCertificate(for: request) else { return nil }
        return "This browser presents a client certificate for \(identity.uri), and the node takes it as who you are on every request, whatever you sign in with, for as long as the browser keeps it. To sign out, or to work as someone else, close the browser (every window) or use a browser profile without the certificate."
    }

    /// Fetch Metadata's `Sec-Fetch-Site` request header.
    static let fetchSite = HTTPField.Name("sec-fetch-site")!

    /// The grant of `token` here, or a 401 that says why (`Gate.grant(token:)`).
    func acceptedGrant(token: String) throws -> TokenGrant {
        switch gate.grant(token: token) {
        case .success(let grant): return grant
        case .failure(let refusal): throw HTTPError(.unauthorized, message: refusal.message)
        }
    }

    /// Opens a session for `grant` (`acceptedGrant`) and sets its cookie (the form at `/login`,
    /// or the page a sign-in link opens). The session the browser held (`replacing`) ends here: signing in
    /// again, say with a reader's token to drop an operator's rights, must not leave the
    /// operator's session valid for its remaining hours.
    /// `afterCheck`: runs before the session's opening (a test's reload after the token's check).
    func signIn(_ grant: TokenGrant, replacing previous: String?, afterCheck: () -> Void = {}) throws -> Response {
        let digest = grant.sha256
        afterCheck()
        if let previous { sessions.close(previous) }
        let session = try sessions.open(digest: digest)
        // A reload that removed the token between the check above and the open would have
        // dropped its sessions before this one existed: checked again once it is in the table
        // (the token list is switched before the reload drops sessions, so one of the two sees
        // the other).
        guard gate.grant(digest: digest) != nil else {
            sessions.close(session)
            throw HTTPError(.unauthorized, message: "the token is not one this node accepts")
        }
        var headers = HTTPFields()
        headers[.location] = "/"
        headers[.setCookie] = "\(gate.cookieName)=\(session); Path=/; Secure; HttpOnly; SameSite=Strict"
        // A cookie of versions before 2026-12-02 held the token itself: cleared.
        headers.append(HTTPField(name: .setCookie, value: "\(Self.legacyCookie)=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0"))
        return Response(status: .seeOther, headers: headers)
    }

    /// The sign-in cookie before 2026-12-02: the token itself, for every port of the host. No
    /// longer read; cleared at sign-in and sign-out.
    static let legacyCookie = "quartet_token"
}
