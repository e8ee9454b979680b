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

// (Over ~350 lines: the view's routes and the pages built from it are registered together, each
// with its access group beside it.)

/// The combined strategy view's routes, the dashboard and its sign-in.
extension API {
    func addViewRoutes<Context: APIRequestContext>(to routes: Routes<Context>) {
        // Every answer that grows with the data runs on `reads` (off the event loops, within
        // each credential's and the node's bounds); the request's parameters are read first.
        routes.get("/v1/view", .reader) { request, context, caller -> Response in
            let csv = Self.wantsCSV(request) ? Self.table(request, default: .actions) : nil
            return try await reads.run(caller.author, privileged: caller.isNodeOrOperator) {
                if let csv { return Self.csv(queries().csv(csv), name: "view") }
                // A member's node or operator may be barred from aggregates readers see: its
                // view is rendered for it (the cached one is the readers').
                if let recipient = recipient(of: caller.identity) {
                    // Kept per member and second, as the readers' is per second.
                    let q = queries(for: caller)
                    return ViewEncoding.response(bytes: view.page("view.json|\(recipient.node)|\(q.nowMillis / 1000)|\(ViewMaintainer.healthKey(q.health))",
                                                                           family: ("view.json|\(recipient.node)", q.nowMillis / 1000), version: q.view.version) {
                        ViewEncoding.data(q.whole(node: node, generatedAt: ViewQueries.iso(q.nowMillis)))
                    })
                }
                return ViewEncoding.response(bytes: view.wholeJSON(node: node, health: health()))
            }
        }
        routes.get("/v1/view/totals", .reader) { request, context, caller -> Response in
            let csv = Self.wantsCSV(request)
            return try await reads.run(caller.author, privileged: caller.isNodeOrOperator) {
                let q = queries(withHealth: false)
                if csv { return Self.csv(q.csv(.totals), name: "totals") }
                return ViewEncoding.response(ViewTotals(node: node, totals: q.totalsList()))
            }
        }
        routes.get("/v1/view/aggregates", .reader) { request, context, caller -> Response in
            try await reads.run(caller.author, privileged: caller.isNodeOrOperator) {
                ViewEncoding.response(ViewAggregates(node: node, aggregates: queries(withHealth: false, for: caller).aggregatesList()))
            }
        }
        routes.get("/v1/view/priorities/{id}", .reader) { request, context, caller -> Response in
            let id = try context.parameters.require("id")
            let csv = Self.wantsCSV(request) ? Self.table(request, default: .actions) : nil
            return try await reads.run(caller.author, privileged: caller.isNodeOrOperator) {
                let q = queries(withHealth: false)
                guard q.view.priorities[id] != nil else { throw HTTPError(.notFound, message: "no priority \(id) in the view (the UK plan's priorities are P1 to P4)") }
                if let csv { return Self.csv(q.csv(csv, priority: id), name: "priority-\(id)") }
                // Built only when the view's version has no answer kept (it was built before the
                // cache was asked, so the cache saved only the encoding).
                return ViewEncoding.response(bytes: view.answer("priority \(id)", version: q.view.version) { q.priority(id).map(ViewEncoding.body) ?? Data() })
            }
        }
        routes.get("/v1/view/nations/{nation}", .reader) { request, context, caller -> Response in
            let nation = try context.parameters.require("nation")
            let csv = Self.wantsCSV(request) ? Self.table(request, default: .actions) : nil
            return try await reads.run(caller.author, privileged: caller.isNodeOrOperator) {
                let q = queries()
                if let csv {
                    guard q.view.logs[nation] != nil else { throw HTTPError(.notFound, message: "no log named \(nation) in the view") }
                    return Self.csv(q.csv(csv, log: nation), name: nation)
                }
                do { return ViewEncoding.response(try q.nation(nation)) } catch let error as PlanError { throw HTTPError(.notFound, message: error.message) }
            }
        }
        routes.get("/v1/view/measures/{id}", .reader) { request, context, caller -> Response in
            let id = try context.parameters.require("id")
            let period = request.uri.queryParameters.get("period").map { String($0) }
            let csv = Self.wantsCSV(request)
            // An answer already rendered for this view is sent from here (no render to move).
            let key = "measure \(id) \(period ?? "")"
            if !csv, let bytes = view.cachedAnswer(key, version: view.snapshot.version) { return ViewEncoding.response(bytes: bytes) }
            return try await reads.run(caller.author, privileged: caller.isNodeOrOperator) {
                let q = queries(withHealth: false)
                if csv {
                    do { _ = try q.measure(id, period: period) } catch let error as PlanError {
                        throw HTTPError(error.kind == .notFound ? .notFound : .badRequest, message: error.message)
                    }
                    return Self.csv(q.csv(.readings, measure: id), name: "measure-\(id)")
                }
                // The answer depends on the view alone: rendered once per view version.
                do {
                    return ViewEncoding.response(bytes: try view.answer(key, version: q.view.version) {
                        ViewEncoding.body(try q.measure(id, period: period))
                    })
                } catch let error as PlanError {
                    throw HTTPError(error.kind == .notFound ? .notFound : .badRequest, message: error.message)
                }
            }
        }
        routes.get("/v1/view/figures/{id}/provenance", .reader) { request, context, caller -> Response in
            let figure = try context.parameters.require("id")
            return try await reads.run(caller.author, privileged: caller.isNodeOrOperator) {
                let refs: [EntryRef]
                let q = queries(withHealth: false, for: caller)
                do { refs = try q.provenance(figure) } catch let error as PlanError { throw HTTPError(.notFound, message: error.message) }
                var answer = try provenance(figure: figure, refs: refs, identity: caller.identity)
                // The figure's value from the same view as its entries.
                answer.stated = q.stated(figure)
                return ViewEncoding.response(answer)
            }
        }
        routes.get("/", .reader) { request, context, caller -> Response in
            // Rendered at most once per view version, viewer, 10 seconds (the ages it shows),
            // agreement boundary passed (an aggregate whose agreement ended leaves the page at
            // once), alerts and log health.
            try await reads.run(caller.author, privileged: caller.isNodeOrOperator) {
                let health = health()
                let alerts = engine.alertList()
                let q = view.queries(view.snapshot, health: health, now: wallClockMillis(), for: recipient(of: caller.identity))
                let key = "page:/|\(caller.identity.uri)|\(q.nowMillis / 10_000)|\(view.policy.boundariesPassed(by: q.nowMillis))|\(alerts.count)|\(alerts.last.map { "\($0.time.timeIntervalSince1970)" } ?? "")|"
                    + health.keys.sorted().map { "\($0):\(health[$0]!.verified):\(health[$0]!.alerts.count)" }.joined(separator: ",")
                let html = view.page(key, family: ("page:/|\(caller.identity.uri)", q.nowMillis / 10_000), version: q.view.version) { Data(overview(q, caller: caller, alerts: alerts).html().utf8) }
                return Dashboard.response(html: html)
            }
        }
        // Signing in to the dashboard with a bearer token: a session (`WebSessions`) whose id
        // goes into an HttpOnly, Secure, SameSite=Strict cookie named after this node, then back
        // to the dashboard. The token itself never goes into a cookie (cookies go to every port
        // of the host).
        // Neither signs a browser in from another site (login CSRF: a page elsewhere signing
        // its visitor in under the attacker's token, so what they then record is the attacker's).
        routes.public(.get, "/login") { request, context -> Response in
            let certificate = await Self.certificateNote(request, context)
            guard let token = request.uri.queryParameters.get("token") else { return Dashboard.signInPage(message: certificate, status: .ok) }
            if let certificate { return Dashboard.signInPage(message: certificate, status: .conflict) }
            // A link followed from another site says so (Fetch Metadata); one typed, pasted or
            // opened from a terminal says `none`, and tools send nothing.
            if let site = request.headers[Self.fetchSite], site != "none", site != "same-origin" {
                throw HTTPError(.forbidden, message: "a sign-in link works only when opened directly (typed or pasted), not from another site")
            }
            return try signIn(token: token, byLink: true, replacing: Gate.cookie(gate.cookieName, in: request))
        }
        routes.public(.post, "/login") { request, context -> Response in
            // Browsers send Origin with every form post; tools may send none.
            if let origin = request.headers[.origin], origin != request.head.authority.map({ "https://\($0)" }) {
                throw HTTPError(.forbidden, message: "sign in from this node's own page (the form was posted from another origin)")
            }
            let body = try await request.body.collect(upTo: 4096)
            let form = String(buffer: body)
            let token = form.split(separator: "&").compactMap { pair -> String? in
                let kv = pair.split(separator: "=", maxSplits: 1)
                guard kv.count == 2, kv[0] == "token" else { return nil }
                return String(kv[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
            }.first
            guard let token, !token.isEmpty else { return Dashboard.signInPage(message: "enter a token", status: .badRequest) }
            if let certificate = await Self.certificateNote(request, context) { return Dashboard.signInPage(message: certificate, status: .conflict) }
            return try signIn(token: token, byLink: false, replacing: Gate.cookie(gate.cookieName, in: request))
        }
        // Signing out: the session ends here and the cookie is cleared (the token itself stays
        // valid until the operator removes it from the configuration). Only from this node's
        // own pages, like signing in: a page elsewhere cannot sign its visitor out.
        routes.public(.post, "/logout") { request, context -> Response in
            if let origin = request.headers[.origin], origin != request.head.authority.map({ "https://\($0)" }) {
                throw HTTPError(.forbidden, message: "sign out from this node's own page (the form was posted from another origin)")
            }
            if let session = Gate.cookie(gate.cookieName, in: request) { sessions.close(session) }
            // A browser presenting a client certificate is who the certificate says on its next
            // request still: it is told so, not shown a sign-in page that reads as signed out.
            let certificate = await Self.certificateNote(request, context)
            var response = certificate.map { Dashboard.signInPage(message: "Your session is closed. " + $0, status: .ok) }
                ?? Response(status: .seeOther, headers: [.location: "/login"])
            response.headers.append(HTTPField(name: .setCookie, value: "\(gate.cookieName)=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0"))
            // The cookie of versions before 2026-12-02, which held the token itself.
            response.headers.append(HTTPField(name: .setCookie, value: "\(Self.legacyCookie)=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0"))
            return response
        }
    }

    /// The overview page (`/`): nations, the priorities × nations matrix, the measures with a
    /// target drawn (their answers computed), every other charted measure a link to its page.
    func overview(_ q: ViewQueries, caller: Caller, alerts: [(time: Date, alert: ReplicationAlert)]) -> Dashboard {
        var charts: [(key: String, answer: MeasureView)] = []
        var links: [(key: String, title: String)] = []
        for key in q.chartedMeasures() {
            let parts = key.split(separator: ":").map(String.init)
            let id = parts.last ?? key
            // A chart against a UK yearly target (`ViewTarget.isUKYearly`; any other: a link).
            if parts.count == 1, q.view.logs[q.view.ukLog]?.measures[id]?.payload.target?.isUKYearly == true {
                // Only the chart's window of readings (the totals are all there).
                let thisYear = MeasureCharts.year(ofMillis: q.nowMillis)
                // (A year wider each side: the charts read the system clock, this the view's.)
                if let answer = try? q.measure(id, period: nil, readingYears: (thisYear - MeasureCharts.chartedYears)...(thisYear + 1)) { charts.append((key, answer)) }
            } else {
                let log = parts.count == 2 ? parts[0] : q.view.ukLog
                let text = q.view.logs[log]?.measures[id]?.payload.text
                    ?? q.order.lazy.compactMap { q.view.logs[$0]?.measures.values.first { $0.payload.uk_measure == id }?.payload.text }.first
                links.append((key, "\(parts.count == 2 ? ViewQueries.displayName(parts[0]) + " " : "")\(id)" + (text.map { " — " + $0 } ?? "")))
            }
        }
        var page = Dashboard(whole: q.whole(node: node, generatedAt: ViewQueries.iso(q.nowMillis)), charts: charts,
                             ukLog: q.view.ukLog, nations: q.nations, role: federation.member(node)?.role.rawValue ?? "node",
                             viewer: caller.identity.uri, alerts: alerts.suffix(20).map { ($0.time, $0.alert.kind.rawValue, $0.alert.shown(to: caller.identity, ownLog: ownLog).message) })
        let policy = view.policy
        page.links = links
        page.agreements = Dashboard.agreements(policy, now: q.nowMillis)
        page.ignoredAgreements = policy.ignored.count
        for log in q.view.logs.keys {
            guard let summary = collector.summary(log: log) else { continue }
            let age = q.nowMillis / 1000 > summary.time ? q.nowMillis / 1000 - summary.time : 0
            page.witnessed[log] = (text: "witnessed by \(summary.witnesses.count) of \(summary.of) at size \(summary.size) · \(ViewQueries.age(Double(age))) ago",
                                   quorum: summary.quorum)
        }
        return page
    }

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

    /// Opens a session for `token` and sets its cookie. The session the browser held
    /// (`replacing`) ends here: signing in again, say with a reader's token to drop an
    /// operator's rights, must not leave the operator's session valid for its remaining hours.
    /// `byLink`: a link leaves its token in the browser's history (and synced history) for as
    /// long as the token is listed, past the session and "Sign out", so only a reader's token,
    /// which writes nothing, signs in that way; operators and auditors use the form.
    /// `afterCheck`: runs between the token's check and the session's opening (a test's reload).
    func signIn(token: String, byLink: Bool, replacing previous: String?, afterCheck: () -> Void = {}) throws -> Response {
        let digest = TokenGrant.digest(token)
        guard let grant = gate.grant(digest: digest) else {
            throw HTTPError(.unauthorized, message: "the token is not one this node accepts")
        }
        if byLink {
            guard case .reader = grant.identity else {
                throw HTTPError(.forbidden, message: "a sign-in link works only with a reader's token; sign in with this token through the form at /login (a link leaves the token in the browser's history)")
            }
        }
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

    /// The view as it stands, with each log's health when the answer reports it.
    func queries(withHealth: Bool = true, for caller: Caller? = nil) -> ViewQueries {
        view.queries(view.snapshot, health: withHealth ? health() : [:], now: wallClockMillis(), for: caller.flatMap { recipient(of: $0.identity) })
    }

    /// The member node `identity` speaks for, if any: a member's node certificate, or the
    /// operator of a member's log. Readers and auditors speak for no node.
    func recipient(of identity: FederationIdentity) -> ViewMaintainer.Recipient? {
        let members = federation.members
        switch identity {
        case .node(let id): return members.first { $0.id == id }.map { .init(node: $0.id, log: $0.log) }
        case .operator(let log): return members.first { $0.log == log }.map { .init(node: $0.id, log: $0.log) }
        default: return nil
        }
    }

    /// Per log: verified (held, neither quarantined nor disowned) and the replication alerts about it.
    func health() -> [String: LogHealth] {
        let alerts = engine.alertList()
        var out: [String: LogHealth] = [:]
        for status in engine.logStatus() {
            // (Every reader's view carries it: a violation's sender and entries are left out.)
            let mine = alerts.filter { $0.alert.log == status.log.name }.map { "\($0.alert.kind.rawValue): \($0.alert.shown(to: nil, ownLog: ownLog).message)" }
            out[status.log.name] = LogHealth(verified: status.head != nil && status.verified, alerts: Array(mine.suffix(10)))
        }
        return out
    }

    /// The entries behind a figure, each with its inclusion proof against the latest checkpoint
    /// of its log, and those checkpoints (signed notes) so anyone can check them offline.
    func provenance(figure: String, refs all: [EntryRef], identity: FederationIdentity) throws -> ViewProvenance {
        // Bounded like a page of entries: a figure a log's operator inflated (an action revised
        // thousands of times) costs one answer, not one read, proof and payload per revision.
        let refs = Self.boundedRefs(all)
        var checkpoints: [String: String] = [:]
        var witnessed: [String: ViewProvenance.Witnessed] = [:]
        var sizes: [String: UInt64] = [:]
        var entries: [ViewProvenance.Item] = []
        let logs = Dictionary(uniqueKeysWithValues: try store.logs().map { ($0.name, $0) })
        // Per log, the checkpoint the proofs go to: the newest that a quorum of its witnesses
        // cosigned and that holds every entry of the figure (with those cosignatures), or else
        // the latest, with whatever cosignatures it has.
        var needed: [String: UInt64] = [:]
        for ref in refs { needed[ref.log] = max(needed[ref.log] ?? 0, ref.index + 1) }
        for (name, least) in needed {
            guard let log = logs[name], let chosen = try witnessedCheckpoint(log, covering: least) else { continue }
            checkpoints[name] = chosen.note
            sizes[name] = chosen.size
            if let w = chosen.witnessed { witnessed[name] = w }
        }
        // Newest first, so the payload budget keeps the entries that make the figure now.
        var bytes = 0
        var left = all.count - refs.count
        for (position, ref) in refs.enumerated().reversed() {
            guard let log = logs[ref.log], let size = sizes[ref.log] else { continue }
            guard let entry = try store.entries(log, from: ref.index, limit: 1).first else { continue }
            bytes += entry.payload?.bytes.count ?? 0
            if bytes > API.maxResponsePayloadBytes, !entries.isEmpty {
                left += position + 1
                break
            }
            let proof = try store.inclusionProof(log, index: ref.index, size: size)
            entries.append(ViewProvenance.Item(entry: EntryBody(disclosable(entry, to: identity, policy: view.policy)),
                                               inclusion: InclusionProofBody(proof)))
        }
        entries.reverse()
        return ViewProvenance(figure: figure, entries: entries, checkpoints: checkpoints, witnessed: witnessed, omitted: left > 0 ? left : nil)
    }

    /// The checkpoint of `log` to show as covering its first `least` entries: the newest that a
    /// quorum of its witnesses cosigned and that holds them, with those cosignatures, or else the
    /// latest, with whatever cosignatures it has; nil when the log has no checkpoint. Only lines
    /// that verify over the note under the witness keys the federation lists are served (the
    /// log's own node's line too: a policy of every log counts it, though it is not one of the
    /// log's witnesses). Served by provenance and by `GET /v1/logs/{log}/checkpoint?covering=N`.
    func witnessedCheckpoint(_ log: LogInfo, covering least: UInt64) throws -> (note: String, size: UInt64, witnessed: ViewProvenance.Witnessed?)? {
        guard let head = try store.latestCheckpoint(log) else { return nil }
        let name = log.name
        let federation = self.federation
        let keys = Dictionary(federation.members.compactMap { m in m.witness.map { (m.id, $0) } }, uniquingKeysWith: { a, _ in a })
        let of = federation.members.filter { $0.log != name && $0.witness != nil }.count
        let quorum = WitnessPolicy.majority(of: of)
        var chosen = head
        let owners = WitnessCollector.owners(of: name, federation)
        if of > 0, let rows = try? witness.store.witnessed(log: name, excluding: owners) {
            // Only members listed now, by the witness key listed now (the lines' signatures
            // are checked below, over the note chosen).
            for row in rows where row.witnesses.filter({ keys[$0] != nil }).count >= quorum && row.size >= least && row.size <= head.checkpoint.size {
                let lines = (try? witness.store.cosignatures(log: name, size: row.size)) ?? [:]
                guard WitnessCollector.underListedKeys(row.witnesses, lines: lines, keys: keys).count >= quorum else { continue }
                if let stored = try store.checkpoint(log, size: row.size) { chosen = stored; break }
            }
        }
        let text = (try? SignedNote(parsing: chosen.note))?.text ?? ""
        let kept = (try? witness.store.cosignatures(log: name, size: chosen.checkpoint.size)) ?? [:]
        let lines = kept.filter { id, entry in
            guard let verifier = federation.member(id)?.witness,
                  let line = (try? SignedNote(parsing: text + "\n" + entry.line + "\n"))?.signatures.first else { return false }
            return (try? verifier.verify(line, body: text)) != nil
        }
        let others = lines.keys.filter { !owners.contains($0) }.sorted()
        return (chosen.note + lines.keys.sorted().map { lines[$0]!.line + "\n" }.joined(), chosen.checkpoint.size,
                of > 0 ? .init(witnesses: others, of: of, quorum: others.count >= quorum) : nil)
    }

    /// At most `maxProvenanceEntries` of a figure's entries (`refs` in order), a fair share per
    /// log — each log's smaller need met first, the rest split evenly — and of each log its
    /// first (what made it) and its newest, in order. One log's thousands of entries behind a
    /// UK total no longer push the other nations' off the answer.
    static func boundedRefs(_ refs: [EntryRef], max: Int = maxProvenanceEntries) -> [EntryRef] {
        guard refs.count > max else { return refs }
        guard max > 1 else { return Array(refs.suffix(max)) }
        let byLog = Dictionary(grouping: refs, by: \.log)
        var left = max
        var kept: [EntryRef] = []
        for (i, log) in byLog.keys.sorted(by: { (byLog[$0]!.count, $0) < (byLog[$1]!.count, $1) }).enumerated() {
            let list = byLog[log]!
            let n = min(list.count, left / (byLog.count - i))
            left -= n
            switch n {
            case list.count: kept += list
            case 0: break
            case 1: kept.append(list.last!)
            default: kept += [list[0]] + list.suffix(n - 1)
            }
        }
        return kept.sorted()
    }

    /// The most entries one provenance answer holds (as a page of `/v1/logs/{log}/entries`).
    static let maxProvenanceEntries = 1000

    static func wantsCSV(_ request: Request) -> Bool {
        if let format = request.uri.queryParameters.get("format") { return format == "csv" }
        return request.headers[.accept]?.contains("text/csv") == true
    }

    static func table(_ request: Request, default table: ViewQueries.Table) -> ViewQueries.Table {
        request.uri.queryParameters.get("table").flatMap { ViewQueries.Table(rawValue: String($0)) } ?? table
    }

    static func csv(_ text: String, name: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/csv; charset=utf-8; header=present"
        headers[.contentDisposition] = "attachment; filename=\"quartet-\(name).csv\""
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
