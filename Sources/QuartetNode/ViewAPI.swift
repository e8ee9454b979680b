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

/// The combined strategy view's routes, the dashboard and its sign-in.
extension API {
    func addViewRoutes<Context: APIRequestContext>(to routes: Routes<Context>) {
        // Every answer that grows with the data runs on `reads` (off the event loops, within
        // each credential's and the node's bounds); the request's parameters are read first.
        routes.get("/v1/view", .reader) { request, context, caller -> Response in
            let csv = Self.wantsCSV(request) ? try Self.table(request, default: .actions) : nil
            return try await reads.run(caller) {
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
            return try await reads.run(caller) {
                let q = queries(withHealth: false)
                if csv { return Self.csv(q.csv(.totals), name: "totals") }
                // (The totals' JSON takes no parameters either.)
                return ViewEncoding.response(ViewTotals(node: node, totals: q.totalsList()))
            }
        }
        routes.get("/v1/view/aggregates", .reader) { request, context, caller -> Response in
            try await reads.run(caller) {
                ViewEncoding.response(ViewAggregates(node: node, aggregates: queries(withHealth: false, for: caller).aggregatesList()))
            }
        }
        routes.get("/v1/view/priorities/{id}", .reader) { request, context, caller -> Response in
            let id = try context.parameters.segment("id")
            let csv = Self.wantsCSV(request) ? try Self.table(request, default: .actions) : nil
            return try await reads.run(caller) {
                let q = queries(withHealth: false)
                guard q.view.priorities[id] != nil else { throw HTTPError(.notFound, message: "no priority \(id) in the view (the UK plan's priorities are P1 to P4)") }
                if let csv { return Self.csv(q.csv(csv, priority: id), name: "priority-\(id)") }
                // Built only when the view's version has no answer kept (it was built before the
                // cache was asked, so the cache saved only the encoding).
                return ViewEncoding.response(bytes: view.answer("priority \(id)", version: q.view.version) { q.priority(id).map(ViewEncoding.body) ?? Data() })
            }
        }
        routes.get("/v1/view/nations/{nation}", .reader) { request, context, caller -> Response in
            let nation = try context.parameters.segment("nation")
            let csv = Self.wantsCSV(request) ? try Self.table(request, default: .actions) : nil
            return try await reads.run(caller) {
                let q = queries()
                if let csv {
                    guard q.view.logs[nation] != nil else { throw HTTPError(.notFound, message: "no log named \(nation) in the view") }
                    return Self.csv(q.csv(csv, log: nation), name: nation)
                }
                do { return ViewEncoding.response(try q.nation(nation)) } catch let error as PlanError { throw HTTPError(.notFound, message: error.message) }
            }
        }
        routes.get("/v1/view/measures/{id}", .reader) { request, context, caller -> Response in
            let id = try context.parameters.segment("id")
            let period = request.uri.queryParameters.get("period").map { String($0) }
            let csv = Self.wantsCSV(request)
            // A measure's CSV is its readings: another table asked for is refused, not ignored.
            if csv, try Self.table(request, default: .readings) != .readings {
                throw HTTPError(.badRequest, message: "table: a measure's CSV is its readings (table=readings); the totals are at /v1/view/totals?format=csv")
            }
            // The CSV of one nation's measure (the page's own link), as the page shows it.
            let log = csv ? request.uri.queryParameters.get("log").map { String($0) } : nil
            // An answer already rendered for this view is sent from here (no render to move).
            let key = "measure \(id) \(period ?? "")"
            if !csv, let bytes = view.cachedAnswer(key, version: view.snapshot.version) { return ViewEncoding.response(bytes: bytes) }
            return try await reads.run(caller) {
                let q = queries(withHealth: false)
                if csv {
                    do { _ = try q.measure(id, period: period) } catch let error as PlanError {
                        throw HTTPError(error.kind == .notFound ? .notFound : .badRequest, message: error.message)
                    }
                    if let log, q.view.logs[log] == nil { throw HTTPError(.notFound, message: "no log named \(String(log.prefix(64))) in the view") }
                    return Self.csv(q.csv(.readings, log: log, measure: id, period: period.flatMap(Period.init)),
                                    name: "measure-\(id)" + (log.map { "-\($0)" } ?? "") + (period.map { "-\($0)" } ?? ""))
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
            let figure = try context.parameters.segment("id")
            return try await reads.run(caller) {
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
            try await reads.run(caller) {
                let alerts = engine.alertSnapshot()
                let health = health(alerts)
                let q = view.queries(view.snapshot, health: health, now: wallClockMillis(), for: recipient(of: caller.identity))
                let key = "page:/|\(caller.identity.uri)|\(q.nowMillis / 10_000)|\(view.policy.boundariesPassed(by: q.nowMillis))|\(alerts.generation)|"
                    + health.keys.sorted().map { "\($0):\(health[$0]!.verified):\(health[$0]!.alerts.count)" }.joined(separator: ",")
                let html = view.page(key, family: ("page:/|\(caller.identity.uri)", q.nowMillis / 10_000), version: q.view.version) { Data(overview(q, caller: caller, alerts: alerts.list).html().utf8) }
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
            guard let token = request.uri.queryParameters.get("token").map({ String($0) }) else { return Dashboard.signInPage(node: node, message: certificate, status: .ok) }
            // A link followed from another site says so (Fetch Metadata); one typed, pasted or
            // opened from a terminal says `none`, and tools send nothing.
            if let site = request.headers[Self.fetchSite], site != "none", site != "same-origin" {
                throw HTTPError(.forbidden, message: "a sign-in link works only when opened directly (typed or pasted), not from another site")
            }
            // The token first (another node's is said to be one: this node now holds it).
            let grant = try acceptedGrant(token: token)
            if let certificate { return Dashboard.signInPage(node: node, message: certificate, status: .conflict) }
            // A link leaves its token in the browser's history (and synced history) for as long
            // as the token is listed, past the session and "Sign out": only a reader's token,
            // which writes nothing; operators and auditors use the form.
            guard case .reader = grant.identity else {
                throw HTTPError(.forbidden, message: "a sign-in link works only with a reader's token; sign in with this token through the form at /login (a link leaves the token in the browser's history)")
            }
            // A link changes nothing by itself: `none` is also what a browser says of a link
            // opened from a mail or chat application, which anyone can send (it signed an
            // operator out and into the sender's reader). It asks, and its page's post signs in.
            // The page says whom the browser is signed in as here now: the button ends that.
            let current = Gate.cookie(gate.cookieName, in: request).flatMap(sessions.digest(of:)).flatMap(gate.grant(digest:))
            return Dashboard.signInPage(node: node, message: nil, status: .ok,
                                        link: Dashboard.SignInLink(token: token, who: grant.identity.uri, current: current?.identity.uri))
        }
        routes.public(.post, "/login") { request, context -> Response in
            try Self.checkOwnFormPost(request, "sign in")
            let body = try await request.collectBody(upTo: 4096, context: context)
            let form = String(buffer: body)
            let token = form.split(separator: "&").compactMap { pair -> String? in
                let kv = pair.split(separator: "=", maxSplits: 1)
                guard kv.count == 2, kv[0] == "token" else { return nil }
                return String(kv[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
            }.first
            guard let token, !token.isEmpty else { return Dashboard.signInPage(node: node, message: "enter a token", status: .badRequest) }
            // The token first (another node's is said to be one: this node now holds it).
            let grant = try acceptedGrant(token: token)
            if let certificate = await Self.certificateNote(request, context) { return Dashboard.signInPage(node: node, message: certificate, status: .conflict) }
            return try signIn(grant, replacing: Gate.cookie(gate.cookieName, in: request))
        }
        // Signing out: the session ends here and the cookie is cleared (the token itself stays
        // valid until the operator removes it from the configuration). Only from this node's
        // own pages, like signing in: a page elsewhere cannot sign its visitor out.
        routes.public(.post, "/logout") { request, context -> Response in
            try Self.checkOwnFormPost(request, "sign out")
            if let session = Gate.cookie(gate.cookieName, in: request) { sessions.close(session) }
            // A browser presenting a client certificate is who the certificate says on its next
            // request still: it is told so, not shown a sign-in page that reads as signed out.
            let certificate = await Self.certificateNote(request, context)
            var response = certificate.map { Dashboard.signInPage(node: node, message: "Your session is closed. " + $0, status: .ok) }
                ?? Response(status: .seeOther, headers: [.location: "/login"])
            response.headers.append(HTTPField(name: .setCookie, value: "\(gate.cookieName)=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0"))
            // The cookie of versions before 2026-12-02, which held the token itself.
            response.headers.append(HTTPField(name: .setCookie, value: "\(Self.legacyCookie)=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0"))
            return response
        }
    }

    /// A sign-in or sign-out form comes from this node's own page. Browsers say where a form was
    /// posted from (`Origin`; Fetch Metadata's `Sec-Fetch-Site` too); tools may send neither.
    /// Either naming another origin refuses it, and so does a browser's post that says where it
    /// came from by Fetch Metadata but carries no `Origin` (removed on its way: was taken with
    /// no check at all, so a page elsewhere could sign its visitor in or out).
    static func checkOwnFormPost(_ request: Request, _ action: String) throws {
        let site = request.headers[fetchSite]?.lowercased()
        if let site, site != "same-origin" {
            throw HTTPError(.forbidden, message: "\(action) from this node's own page (the form was posted by another site: Sec-Fetch-Site \(site))")
        }
        if let origin = request.headers[.origin] {
            guard origin == request.head.authority.map({ "https://\($0)" }) else {
                throw HTTPError(.forbidden, message: "\(action) from this node's own page (the form was posted from another origin)")
            }
        } else if site != nil {
            throw HTTPError(.forbidden, message: "\(action) from this node's own page (the browser's post carried no Origin)")
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
    func health(_ alerts: ReplicationEngine.AlertSnapshot? = nil) -> [String: LogHealth] {
        // (Every reader's view carries it: a violation's sender and entries are left out.)
        let recent = (alerts ?? engine.alertSnapshot()).recent
        var out: [String: LogHealth] = [:]
        for status in engine.logStatus() {
            out[status.log.name] = LogHealth(verified: status.head != nil && status.verified, alerts: recent[status.log.name] ?? [])
        }
        return out
    }

    static func wantsCSV(_ request: Request) -> Bool {
        if let format = request.uri.queryParameters.get("format") { return format == "csv" }
        return request.headers[.accept]?.contains("text/csv") == true
    }

    /// The CSV table asked for (`table`), or `table` when none is: an unknown one is refused,
    /// not answered with the default under the name asked for.
    static func table(_ request: Request, default table: ViewQueries.Table) throws -> ViewQueries.Table {
        guard let asked = request.uri.queryParameters.get("table") else { return table }
        guard let known = ViewQueries.Table(rawValue: String(asked)) else {
            throw HTTPError(.badRequest, message: "table: expected one of \(ViewQueries.Table.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(String(asked.prefix(40)))\"")
        }
        return known
    }

    static func csv(_ text: String, name: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/csv; charset=utf-8; header=present"
        headers[.contentDisposition] = "attachment; filename=\"quartet-\(name).csv\""
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
