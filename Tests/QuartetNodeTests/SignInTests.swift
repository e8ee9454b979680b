import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
@testable import QuartetNode
import QuartetCrypto
import QuartetLedger
import Testing

/// Signing a browser in: never from another site (login CSRF), and a body too large for the
/// route is the client's error (413), not the node's.
@Suite(.serialized) struct SignInTests {
    static let form = ByteBuffer(string: "token=token-reader")

    func headers(_ fields: [(HTTPField.Name, String)]) -> HTTPFields {
        var h = HTTPFields()
        for (name, value) in fields { h.append(HTTPField(name: name, value: value)) }
        return h
    }

    @Test func aSignInFromAnotherSiteIsRefusedAndALinkOpenedDirectlyAsks() async throws {
        let node = try InProcessNode()
        defer { node.remove() }
        let formType: (HTTPField.Name, String) = (.contentType, "application/x-www-form-urlencoded")
        try await node.test(CertificateHeaderContext.self) { client, _ in
            // A form posted from another origin: refused, no cookie set.
            try await client.execute(uri: "/login", method: .post, headers: headers([formType, (.origin, "https://evil.example")]), body: Self.form) { response in
                #expect(response.status == .forbidden)
                #expect(response.headers[.setCookie] == nil)
            }
            // A browser's post that says by Fetch Metadata it came from another site, or that
            // carries Sec-Fetch-Site but no Origin (removed on its way): refused (finding 304).
            for fields in [[formType, (API.fetchSite, "cross-site")], [formType, (API.fetchSite, "same-origin")],
                           [formType, (API.fetchSite, "same-site"), (.origin, "https://127.0.0.1")]] {
                try await client.execute(uri: "/login", method: .post, headers: headers(fields), body: Self.form) { response in
                    #expect(response.status == .forbidden, "\(fields)")
                    #expect(response.headers[.setCookie] == nil)
                }
            }
            // A tool's post (no Origin): signed in, with a session id, not the token.
            try await client.execute(uri: "/login", method: .post, headers: headers([formType]), body: Self.form) { response in
                #expect(response.status == .seeOther)
                let cookie = response.headers[.setCookie] ?? ""
                #expect(cookie.hasPrefix("__Host-quartet-wales=") && !cookie.contains("token-reader") && cookie.contains("Secure; HttpOnly; SameSite=Strict"), "\(cookie)")
            }
            // The sign-in link followed from another site: refused; opened directly: a page
            // that asks, whose post signs in. No link signs in (or out) by itself: `none` is
            // also a link opened from a mail or chat application.
            for (site, status) in [("cross-site", HTTPResponse.Status.forbidden), ("same-site", .forbidden), ("none", .ok), ("same-origin", .ok)] {
                let sessions = node.node.sessions.count
                try await client.execute(uri: "/login?token=token-reader", method: .get, headers: headers([(API.fetchSite, site)])) { response in
                    #expect(response.status == status, "Sec-Fetch-Site: \(site)")
                    #expect(response.headers[.setCookie] == nil)
                    let page = String(buffer: response.body)
                    #expect(status != .ok || (page.contains("as <b>quartet://reader/analyst</b>") && page.contains("<input type=hidden name=token value=\"token-reader\">")
                                              && page.contains("<form method=post action=\"/login\">")), "\(page)")
                }
                #expect(node.node.sessions.count == sessions)
            }
        }
    }

    /// Signs in with `token` and returns the `Cookie` header the browser then sends (checked:
    /// it reads `/v1/logs`).
    func signIn(_ client: RouterClient, token: String) async throws -> String {
        let cookie = try await client.execute(uri: "/login", method: .post, headers: headers([(.contentType, "application/x-www-form-urlencoded")]),
                                              body: ByteBuffer(string: "token=" + token)) { response in
            String((response.headers[.setCookie] ?? "").prefix { $0 != ";" })
        }
        try await client.execute(uri: "/v1/logs", method: .get, headers: headers([(.cookie, cookie)])) { response in
            #expect(response.status == .ok, "signed in with \(token), the cookie does not read")
        }
        return cookie
    }

    /// Signing out ends the session (the same cookie is refused after) and clears the cookie,
    /// and only from this node's own pages; the cookie of earlier versions, which held the
    /// token itself, is no longer taken.
    @Test func signingOutEndsTheSessionOnlyFromThisNodesPages() async throws {
        let node = try InProcessNode()
        defer { node.remove() }
        try await node.test(CertificateHeaderContext.self) { client, _ in
            let cookie = try await signIn(client, token: "token-reader")
            try await client.execute(uri: "/logout", method: .post, headers: headers([(.origin, "https://evil.example"), (.cookie, cookie)])) { response in
                #expect(response.status == .forbidden)
                #expect(response.headers[.setCookie] == nil)
            }
            try await client.execute(uri: "/logout", method: .post, headers: headers([(API.fetchSite, "same-site"), (.cookie, cookie)])) { response in
                #expect(response.status == .forbidden)
            }
            try await client.execute(uri: "/v1/logs", method: .get, headers: headers([(.cookie, cookie)])) { response in
                #expect(response.status == .ok, "a sign-out from another site ended the session")
            }
            try await client.execute(uri: "/logout", method: .post, headers: headers([(.cookie, cookie)])) { response in
                #expect(response.status == .seeOther && response.headers[.location] == "/login")
                let cleared = response.headers[values: .setCookie]
                #expect(cleared.contains { $0.hasPrefix("__Host-quartet-wales=;") && $0.contains("Max-Age=0") }, "\(cleared)")
            }
            try await client.execute(uri: "/v1/logs", method: .get, headers: headers([(.cookie, cookie)])) { response in
                #expect(response.status == .unauthorized && String(buffer: response.body).contains("sign-in has ended"))
            }
            try await client.execute(uri: "/v1/logs", method: .get, headers: headers([(.cookie, "quartet_token=token-reader")])) { response in
                #expect(response.status == .unauthorized, "the token itself in a cookie was taken")
            }
        }
    }

    /// A browser presenting a client certificate is who the certificate says on every request
    /// (it comes before any sign-in): a sign-in is refused saying so rather than taken and never
    /// used (an operator signing in as a reader to drop rights would stay the operator), and
    /// "Sign out" says the certificate still signs the browser in rather than showing a
    /// sign-in page that reads as signed out. The session cookie is a session cookie (no
    /// Max-Age: gone when the browser closes).
    @Test func aBrowserPresentingACertificateIsToldItCannotSignInOrOutAsAnother() async throws {
        let node = try InProcessNode()
        defer { node.remove() }
        try CertificateHeaderContext.trust(node.files.pki)
        let operatorCertificate = (CertificateHeaderContext.header, try CertificateHeaderContext.issue(.operator("wales"), from: node.files.pki))
        let formType: (HTTPField.Name, String) = (.contentType, "application/x-www-form-urlencoded")
        try await node.test(CertificateHeaderContext.self) { client, _ in
            let cookie = try await client.execute(uri: "/login", method: .post, headers: headers([formType]), body: Self.form) { response in
                let set = response.headers[values: .setCookie].first { $0.hasPrefix("__Host-quartet-wales=") } ?? ""
                #expect(!set.isEmpty && !set.contains("Max-Age") && !set.contains("Expires"), "the session cookie outlives the browser: \(set)")
                return String(set.prefix { $0 != ";" })
            }
            try await client.execute(uri: "/login", method: .get, headers: headers([operatorCertificate])) { response in
                #expect(response.status == .ok && String(buffer: response.body).contains("client certificate for quartet://operator/wales"))
            }
            try await client.execute(uri: "/login", method: .post, headers: headers([formType, operatorCertificate]), body: Self.form) { response in
                #expect(response.status == .conflict && response.headers[.setCookie] == nil)
                #expect(String(buffer: response.body).contains("whatever you sign in with"))
            }
            try await client.execute(uri: "/login?token=token-reader", method: .get, headers: headers([operatorCertificate, (API.fetchSite, "none")])) { response in
                #expect(response.status == .conflict && response.headers[.setCookie] == nil)
            }
            try await client.execute(uri: "/logout", method: .post, headers: headers([operatorCertificate, (.cookie, cookie)])) { response in
                #expect(response.status == .ok && response.headers[.location] == nil)
                #expect(String(buffer: response.body).contains("Your session is closed. This browser presents a client certificate for quartet://operator/wales"))
                #expect(response.headers[values: .setCookie].contains { $0.hasPrefix("__Host-quartet-wales=;") && $0.contains("Max-Age=0") })
            }
            // The session itself ended all the same.
            try await client.execute(uri: "/v1/logs", method: .get, headers: headers([(.cookie, cookie)])) { response in
                #expect(response.status == .unauthorized)
            }
        }
    }

    /// A token removed from the configuration and reloaded (SIGHUP) is refused from the next
    /// request on, and so is every browser signed in with it; the reload says so.
    @Test func aTokenRemovedByAReloadEndsItsSignIns() async throws {
        let node = try InProcessNode()
        defer { node.remove() }
        try await node.test(CertificateHeaderContext.self) { client, _ in
            let cookie = try await signIn(client, token: "token-reader")
            // The configuration file lists no tokens (the test gave them to the node in memory).
            let report = try node.node.reload()
            #expect(report.tokensRemoved.contains("reader (reader-analyst)") || report.tokensRemoved.contains { $0.hasPrefix("reader ") }, "\(report)")
            for credential in [(HTTPField.Name.cookie, cookie), (.authorization, "Bearer token-reader")] {
                try await client.execute(uri: "/v1/logs", method: .get, headers: headers([credential])) { response in
                    #expect(response.status == .unauthorized, "\(credential.0) still admitted after the reload")
                }
            }
            // The token listed again: the browser signed in before stays signed out.
            #expect(node.node.sessions.count == 0)
            node.node.live.replace(federation: node.node.live.federation, contexts: node.node.live.contexts,
                                   tokens: [TokenGrant(name: "reader", identity: .reader("analyst"), sha256: TokenGrant.digest("token-reader"))])
            try await client.execute(uri: "/v1/logs", method: .get, headers: headers([(.cookie, cookie)])) { response in
                #expect(response.status == .unauthorized, "a sign-in came back with its token")
            }
        }
    }

    /// A token removed from the configuration is refused even when the reload is refused for
    /// a reason of its own (here a federation file that no longer parses): a stolen token must
    /// not outlive a refused reload. The rest stays as it was, and the error says both.
    @Test func aTokenRemovedIsRefusedEvenWhenTheReloadIsNot() async throws {
        let node = try InProcessNode()
        defer { node.remove() }
        try await node.test(CertificateHeaderContext.self) { client, _ in
            let cookie = try await signIn(client, token: "token-reader")
            let version = node.node.live.federation.version
            try Data("{".utf8).write(to: URL(fileURLWithPath: node.node.configuration.federationFile))
            do {
                _ = try node.node.reload()
                Issue.record("a federation file that does not parse was reloaded")
            } catch {
                #expect("\(error)".contains("refused all the same") && "\(error)".contains("reader"), "\(error)")
            }
            #expect(node.node.live.federation.version == version)
            for credential in [(HTTPField.Name.cookie, cookie), (.authorization, "Bearer token-reader")] {
                try await client.execute(uri: "/v1/logs", method: .get, headers: headers([credential])) { response in
                    #expect(response.status == .unauthorized, "\(credential.0) still admitted after the refused reload")
                }
            }
            #expect(node.node.sessions.count == 0)
            // A token whose role changed in the file is refused as well (not left at its old
            // role) when the reload is refused: here an operator's token made a reader's.
            let operatorToken = "token-operator-changed"
            let digest = TokenGrant.digest(operatorToken)
            node.node.live.replace(federation: node.node.live.federation, contexts: node.node.live.contexts,
                                   tokens: [TokenGrant(name: "op", identity: .operator("wales"), sha256: digest)])
            #expect(node.node.live.dropTokens(keeping: [TokenGrant(name: "op", identity: .reader("op"), sha256: digest)]).count == 1)
            #expect(node.node.live.tokens.isEmpty)
        }
    }

    /// A token pasted where its SHA-256 goes is refused without being repeated (the error goes
    /// to the journal and `config check`'s output: a helper's review, finding 292).
    @Test func aTokenPastedForItsDigestIsNotEchoed() throws {
        let node = try InProcessNode()
        defer { node.remove() }
        let path = node.node.configuration.file
        var root = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        root["tokens"] = [["name": "analyst", "role": "reader", "sha256": "Bearer qt_0RtWlPkGNiV6BOTNKS8DYMFbUdJcyXpM2b0g1pJxcIo"]]
        try JSONSerialization.data(withJSONObject: root).write(to: URL(fileURLWithPath: path))
        do {
            _ = try NodeConfiguration.load(path: path)
            Issue.record("a token in place of its digest was taken")
        } catch {
            #expect("\(error)".contains("looks like a token itself") && !"\(error)".contains("0RtWlPk"), "\(error)")
        }
    }

    /// Finding 281: a token taken out in the same edit that makes the configuration fail to
    /// load (a revocation list named before it was copied into place, a typo) is refused all the
    /// same, and the tokens still listed are kept; a file whose token list does not read keeps
    /// only the tokens whose SHA-256 is still in it.
    @Test func aTokenRemovedIsRefusedWhenTheConfigurationDoesNotLoad() async throws {
        let node = try InProcessNode()
        defer { node.remove() }
        let path = node.node.configuration.file
        try await node.test(CertificateHeaderContext.self) { client, _ in
            let cookie = try await signIn(client, token: "token-reader")
            // The reader's token taken out, the others listed, and a revocation list not there.
            var root = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
            root["tokens"] = [["name": "wales-op", "role": "operator", "sha256": TokenGrant.hex(TokenGrant.digest("token-wales-op"))]]
            var tls = root["tls"] as! [String: Any]
            tls["crl"] = "/nonexistent/quartet-crl.pem"
            root["tls"] = tls
            try JSONSerialization.data(withJSONObject: root).write(to: URL(fileURLWithPath: path))
            do {
                _ = try node.node.reload()
                Issue.record("a configuration naming a missing revocation list was reloaded")
            } catch {
                #expect("\(error)".contains("refused all the same") && "\(error)".contains("reader") && !"\(error)".contains("wales-op"), "\(error)")
                #expect("\(error)".contains("is not put in force"), "\(error)")
            }
            for credential in [(HTTPField.Name.cookie, cookie), (.authorization, "Bearer token-reader")] {
                try await client.execute(uri: "/v1/logs", method: .get, headers: headers([credential])) { response in
                    #expect(response.status == .unauthorized, "\(credential.0) still admitted after the configuration that dropped it failed to load")
                }
            }
            #expect(node.node.sessions.count == 0)
            #expect(node.node.live.tokens.map(\.name) == ["wales-op"])
            try await client.execute(uri: "/v1/logs", method: .get, headers: headers([(.authorization, "Bearer token-wales-op")])) { response in
                #expect(response.status == .ok)
            }
            node.node.live.replace(federation: node.node.live.federation, contexts: node.node.live.contexts,
                                   tokens: InProcessNode.tokens.map { TokenGrant(name: $0.key, identity: $0.value, sha256: TokenGrant.digest("token-\($0.key)")) })
            // Not JSON at all: the tokens whose digest is still in the bytes are kept, the rest refused.
            let kept = TokenGrant.hex(TokenGrant.digest("token-auditor"))
            try Data("{\"tokens\": [{\"name\": \"auditor\", \"sha256\": \"\(kept)\"".utf8).write(to: URL(fileURLWithPath: path))
            #expect(throws: (any Error).self) { try node.node.reload() }
            #expect(node.node.live.tokens.map(\.name) == ["auditor"])
            // Unreadable: none is confirmed.
            try FileManager.default.removeItem(atPath: path)
            #expect(throws: (any Error).self) { try node.node.reload() }
            #expect(node.node.live.tokens.isEmpty)
        }
    }

    /// Finding 282 through the access middleware: a request for an entries page waiting behind
    /// its token's other expensive requests is refused (401) once a reload drops the token, not
    /// answered when its turn comes.
    @Test func aRequestWaitingItsTurnIsRefusedOnceItsTokenIsDropped() async throws {
        let node = try InProcessNode()
        defer { node.remove() }
        try await node.test(CertificateHeaderContext.self) { client, _ in
            // The reader's two turns held by work of its own.
            let author = Gate.author(.reader("analyst"), "token reader")
            let hold = DispatchSemaphore(value: 0)
            let holding = (0..<2).map { _ in Task { try await node.node.reads.run(author) { hold.wait() } } }
            // The token is dropped only once the request passed the access check and waits
            // behind the two.
            try await eventually({ node.node.reads.load(author).running == 2 }, "\(node.node.reads.load(author))")
            let waiting = Task {
                try await client.execute(uri: "/v1/logs/wales/entries?from=0&limit=1", method: .get,
                                         headers: headers([(.authorization, "Bearer token-reader")])) { ($0.status, String(buffer: $0.body)) }
            }
            try await eventually({ node.node.reads.load(author).waiting == 1 }, "\(node.node.reads.load(author))")
            _ = node.node.live.dropTokens(keeping: node.node.live.tokens.filter { $0.name != "reader" })
            hold.signal(); hold.signal()
            for task in holding { try await task.value }
            let (status, body) = try await waiting.value
            #expect(status == .unauthorized && body.contains("withdrawn while it waited for its turn"), "\(status) \(body)")
        }
    }

    /// A sign-in link leaves its token in the browser's history for as long as the token is
    /// listed: only a reader's token signs in by link; an operator's or an auditor's is refused
    /// there (no session, no cookie) and taken by the form.
    @Test func onlyAReadersTokenHasASignInLink() async throws {
        let node = try InProcessNode()
        defer { node.remove() }
        try await node.test(CertificateHeaderContext.self) { client, _ in
            for token in ["token-wales-op", "token-auditor"] {
                let sessions = node.node.sessions.count
                try await client.execute(uri: "/login?token=\(token)", method: .get, headers: headers([(API.fetchSite, "none")])) { response in
                    #expect(response.status == .forbidden && response.headers[.setCookie] == nil, "\(token)")
                    #expect(String(buffer: response.body).contains("works only with a reader's token"), "\(String(buffer: response.body))")
                }
                #expect(node.node.sessions.count == sessions)
                _ = try await signIn(client, token: token)
            }
            try await client.execute(uri: "/login?token=token-reader", method: .get, headers: headers([(API.fetchSite, "none")])) { response in
                #expect(response.status == .ok && response.headers[.setCookie] == nil)
            }
            // A link does not end the session the browser holds: the operator stays signed in.
            let operatorCookie = try await signIn(client, token: "token-wales-op")
            try await client.execute(uri: "/login?token=token-reader", method: .get, headers: headers([(API.fetchSite, "none"), (.cookie, operatorCookie)])) { response in
                #expect(response.status == .ok && response.headers[.setCookie] == nil)
                #expect(String(buffer: response.body).contains("signed in at this node as <b>quartet://operator/wales</b>: signing in with the link ends that session"),
                        "\(String(buffer: response.body))")
            }
            try await client.execute(uri: "/record/status", method: .get, headers: headers([(.cookie, operatorCookie)])) { response in
                #expect(response.status == .ok, "the operator's session outlives a link")
            }
            // A token the node does not know: 401, as from the form (not "use the form").
            try await client.execute(uri: "/login?token=token-nobody", method: .get, headers: headers([(API.fetchSite, "none")])) { response in
                #expect(response.status == .unauthorized, "\(response.status)")
            }
        }
    }

    /// A token made for another node (`qt_<node>_…`) is refused here whatever the
    /// configuration lists, saying it was sent to the wrong node and must be replaced — at
    /// sign-in and as a bearer token; the sign-in page names this node, and its field takes
    /// only this node's tokens or tokens of no one node.
    @Test func aTokenOfAnotherNodeIsRefusedAndNamedAsSuch() async throws {
        let englands = try TokenGrant.newToken(node: "england"), wales = try TokenGrant.newToken(node: "wales"), anyNode = try TokenGrant.newToken()
        #expect(TokenGrant.boundNode(of: englands) == "england" && TokenGrant.boundNode(of: wales) == "wales" && TokenGrant.boundNode(of: anyNode) == nil)
        #expect(TokenGrant.boundNode(of: "qt_northern-ireland_" + String(repeating: "A", count: 43)) == "northern-ireland")
        #expect(TokenGrant.boundNode(of: "qt_a_" + String(repeating: "A", count: 43)) == "a" && TokenGrant.boundNode(of: "qt__" + String(repeating: "A", count: 43)) == nil)
        #expect(TokenGrant.boundNode(of: "qt_Wales_" + String(repeating: "A", count: 43)) == nil && TokenGrant.boundNode(of: "qt_wales_" + String(repeating: "A", count: 42)) == nil)
        // The page's pattern, as a browser applies it (anchored, with the v flag's escapes).
        let pattern = try Regex("^(?:" + TokenGrant.signInPattern(node: "wales") + ")$")
        #expect(wales.wholeMatch(of: pattern) != nil && anyNode.wholeMatch(of: pattern) != nil && englands.wholeMatch(of: pattern) == nil)
        // England's token listed at wales too (a configuration copied): still england's.
        let node = try InProcessNode(extraTokens: [TokenGrant(name: "copied", identity: .reader("analyst"), sha256: TokenGrant.digest(englands))])
        defer { node.remove() }
        try await node.test(CertificateHeaderContext.self) { client, _ in
            try await client.execute(uri: "/login", method: .post, headers: headers([(.contentType, "application/x-www-form-urlencoded")]),
                                     body: ByteBuffer(string: "token=" + englands)) { response in
                let page = String(buffer: response.body)
                #expect(response.status == .unauthorized && response.headers[.setCookie] == nil
                        && page.contains("issued for node england, not this node (wales), and has now been sent here"), "\(page)")
                #expect(page.contains("Sign in at node <b>wales</b>") && page.contains("pattern=\"qt_(wales_)?[A-Za-z0-9_\\-]{43}\""), "\(page)")
            }
            try await client.execute(uri: "/v1/logs", method: .get, headers: headers([(.authorization, "Bearer " + englands)])) { response in
                #expect(response.status == .unauthorized && String(buffer: response.body).contains("issued for node england"), "\(String(buffer: response.body))")
            }
            // From a browser presenting a client certificate too: said first (not only "the
            // certificate is who you are").
            try CertificateHeaderContext.trust(node.files.pki)
            let certificate = (CertificateHeaderContext.header, try CertificateHeaderContext.issue(.operator("wales"), from: node.files.pki))
            try await client.execute(uri: "/login", method: .post, headers: headers([(.contentType, "application/x-www-form-urlencoded"), certificate]),
                                     body: ByteBuffer(string: "token=" + englands)) { response in
                #expect(response.status == .unauthorized && String(buffer: response.body).contains("issued for node england"), "\(String(buffer: response.body))")
            }
        }
    }

    /// Signing in again (say with a reader's token, to drop an operator's rights) ends the
    /// session the browser held: its id, captured before, no longer reads.
    @Test func signingInAgainEndsTheSessionTheBrowserHeld() async throws {
        let node = try InProcessNode()
        defer { node.remove() }
        try await node.test(CertificateHeaderContext.self) { client, _ in
            let operatorCookie = try await signIn(client, token: "token-wales-op")
            try await client.execute(uri: "/login", method: .post, headers: headers([(.contentType, "application/x-www-form-urlencoded"), (.cookie, operatorCookie)]),
                                     body: Self.form) { response in
                #expect(response.status == .seeOther)
            }
            try await client.execute(uri: "/v1/logs", method: .get, headers: headers([(.cookie, operatorCookie)])) { response in
                #expect(response.status == .unauthorized, "the operator's session outlived a sign-in as a reader")
            }
            #expect(node.node.sessions.count == 1)
        }
    }

    /// A sign-in that checked its token just before a reload removed it, and opened its
    /// session just after the reload dropped the token's sessions, is refused and leaves no
    /// session (which would come back if the token were listed again).
    @Test func aSignInRacingTheReloadThatRemovesItsTokenLeavesNoSession() async throws {
        let node = try InProcessNode()
        defer { node.remove() }
        // The token list switched after the check: as the reload does, before dropping sessions.
        let api = node.node.api()
        let live = node.node.live
        var refused = false
        do {
            _ = try api.signIn(try api.acceptedGrant(token: "token-reader"), replacing: nil, afterCheck: {
                live.replace(federation: live.federation, contexts: live.contexts, tokens: [])
            })
        } catch { refused = true }
        #expect(refused)
        #expect(node.node.sessions.count == 0)
    }

    @Test func aBodyOverTheRoutesLimitIs413WithTheLimit() async throws {
        let node = try InProcessNode()
        defer { node.remove() }
        try await node.test(CertificateHeaderContext.self) { client, _ in
            let big = ByteBuffer(string: "token=" + String(repeating: "a", count: 5000))
            try await client.execute(uri: "/login", method: .post, headers: headers([(.contentType, "application/x-www-form-urlencoded")]), body: big) { response in
                #expect(response.status == .contentTooLarge)
                let text = String(buffer: response.body)
                #expect(text.contains("/login") && text.contains("4096"), "\(text)")
            }
        }
    }

    /// Every answer is kept by no cache and sniffed by no browser unless its route says
    /// otherwise (restricted payloads and audit CSVs reached disk caches); every HTML page,
    /// the overview and the sign-in page too, refuses to be framed; and the request id says
    /// nothing of how many requests the node served.
    @Test func everyAnswerIsNoStoreAndNosniffAndPagesAreNotFramed() async throws {
        let node = try InProcessNode()
        defer { node.remove() }
        let reader = (HTTPField.Name.authorization, "Bearer token-reader")
        try await node.test(CertificateHeaderContext.self) { client, _ in
            var ids: [String] = []
            for (uri, auth) in [("/healthz", false), ("/v1/logs", true), ("/v1/view", true), ("/nowhere", true), ("/v1/logs", false)] {
                try await client.execute(uri: uri, method: .get, headers: headers(auth ? [reader] : [])) { response in
                    #expect(response.headers[.cacheControl] == "no-store", "\(uri)")
                    #expect(response.headers[HTTPField.Name("x-content-type-options")!] == "nosniff", "\(uri)")
                    if let id = response.headers[HTTPField.Name("x-request-id")!] { ids.append(id) }
                }
            }
            // Sixteen hex digits each, none the one before plus one (Hummingbird's are a counter).
            #expect(ids.count == 5 && ids.allSatisfy { $0.count == 16 && UInt64($0, radix: 16) != nil }, "\(ids)")
            let numbers = ids.compactMap { UInt64($0, radix: 16) }
            #expect(zip(numbers, numbers.dropFirst()).allSatisfy { $1 != $0 &+ 1 }, "\(ids)")
            // The sign-in page (no credentials) and the overview (a reader).
            for auth in [false, true] {
                try await client.execute(uri: "/", method: .get, headers: headers(auth ? [reader] : [])) { response in
                    #expect(response.status == (auth ? .ok : .unauthorized))
                    let policy = response.headers[HTTPField.Name("content-security-policy")!] ?? ""
                    #expect(policy.contains("frame-ancestors 'none'") && policy.contains("base-uri 'none'") && !policy.contains("script-src"), "\(policy)")
                    #expect(response.headers[.cacheControl] == "no-store" && response.headers[HTTPField.Name("referrer-policy")!] == "same-origin")
                    // No other site embeds an answer or keeps a handle on a page (finding 290).
                    #expect(response.headers[HTTPField.Name("cross-origin-opener-policy")!] == "same-origin")
                }
                try await client.execute(uri: "/healthz", method: .get, headers: headers([])) { response in
                    #expect(response.headers[HTTPField.Name("cross-origin-resource-policy")!] == "same-origin")
                }
            }
        }
    }
}

/// What a reload (SIGHUP) decides again besides the federation and the tokens.
@Suite(.serialized) struct ReloadTests {
    /// A reload decides again whether the node witnesses: a file that lists the node's witness
    /// key turns it on (it stayed off until a restart), one listing another key turns it off.
    @Test func aReloadDecidesAgainWhetherTheNodeWitnesses() async throws {
        let node = try InProcessNode()
        defer { node.remove() }
        let witness = node.node.witness
        #expect(witness.disabled.withLockedValue { $0 } == nil)
        let other = try CosignatureSigner(name: "quartet.ot-workforce.uk/wales/witness", key: try Ed25519PrivateKey()).verifier
        let refused = Node.witnessDisabled(witness, listed: other, configuration: node.node.configuration)
        #expect(refused?.shown.contains(other.vkey) == true && refused?.shown.contains(witness.signer.verifier.vkey) == true, "\(String(describing: refused))")
        // What the witness answers anyone names no file of the host; the log's detail does (finding 287).
        #expect(refused?.shown.contains(node.node.configuration.dataDirectory) == false && refused?.detail.contains(node.node.configuration.dataDirectory) == true)
        witness.disabled.withLockedValue { $0 = refused?.shown }
        _ = try node.node.reload()
        #expect(witness.disabled.withLockedValue { $0 } == nil, "the reload of a file listing the node's key left witnessing off")
    }

    /// What only a start reads (the federation file's path, the listen addresses, the log
    /// level), changed in the file, is said in the reload's report, not ignored in silence.
    @Test func aReloadSaysWhatOnlyARestartTakes() throws {
        let node = try InProcessNode()
        defer { node.remove() }
        let path = node.node.configuration.file
        #expect(!(try node.node.reload().description.contains("NOT TAKEN")))
        var root = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        let level = node.node.configuration.logLevel == .debug ? "trace" : "debug"
        root["log_level"] = level
        try JSONSerialization.data(withJSONObject: root).write(to: URL(fileURLWithPath: path))
        let report = try node.node.reload().description
        #expect(report.contains("NOT TAKEN until a restart: log_level \(node.node.configuration.logLevel) → \(level)"), "\(report)")
    }
}
