import Foundation
import Hummingbird
import NIOCore
import QuartetAPI
import QuartetPlan
import QuartetPolicy

/// The dashboard at `/`: the combined view as server-rendered HTML with inline SVG charts and
/// inline CSS — no scripts, fonts or other external assets (nodes may have no internet).
/// Built from QuartetAPI's typed answers (the whole view, and the measure answer of each
/// charted measure) into `DashboardPage`, rendered by the Mustache template in
/// DashboardTemplate.swift; the charts are `BarChart`s.
struct Dashboard {
    let whole: CombinedView
    /// Per charted measure (a UK measure id, or `<log>:<id>` for a nation's own): its answer.
    let charts: [(key: String, answer: MeasureView)]
    /// The UK log's name and the nations in display order.
    let ukLog: String
    let nations: [String]
    let role: String
    let viewer: String
    let alerts: [(time: Date, kind: String, message: String)]
    /// The other charted measures: key (as `charts`) and title, each a link to its page.
    var links: [(key: String, title: String)] = []
    var agreements: [DashboardPage.Agreement] = []
    var ignoredAgreements = 0
    /// Per log: "witnessed by k of n at size S · age", and whether k is a quorum (a majority).
    var witnessed: [String: (text: String, quorum: Bool)] = [:]

    static let palette: [String: String] = [
        "uk": "#1d3557", "wales": "#c8102e", "england": "#b07d00", "scotland": "#0065bd", "northern-ireland": "#2a9d8f",
    ]
    static let statusColours: [String: String] = [
        "red": "#d62828", "amber": "#f4a261", "green": "#2a9d8f", "blue": "#4d7ea8", "grey": "#c9ccd1",
    ]

    static func colour(_ log: String) -> String { palette[log] ?? "#6c757d" }

    /// Kept for the escaping tests: the dashboard's escaper.
    static func escape(_ text: String) -> String { HTMLText.escape(text) }

    func response() -> Response { Self.response(html: Data(html().utf8)) }

    static func response(html: Data) -> Response {
        Response(status: .ok, headers: WebPage.htmlHeaders(scripts: false), body: .init(byteBuffer: ByteBuffer(data: html)))
    }

    func html() -> String { DashboardTemplate.render("page", page()) }

    /// The page's values, everything the template shows already worded.
    func page() -> DashboardPage {
        let logs = whole.logs
        let badges = logs.map { s -> DashboardPage.Badge in
            let age = s.checkpoint?.ageSeconds
            let alerts = s.alerts.count
            return DashboardPage.Badge(
                name: s.name, href: WebPage.nationHref(s.log), colour: Self.colour(s.log), counts: "\(s.entries) entries · \(s.actions) actions · \(s.measures) measures",
                verified: s.verified, freshness: age.map { $0 < 300 ? "fresh" : ($0 < 3600 ? "stale" : "old") } ?? "none",
                checkpointAge: age.map { "checkpoint \(ViewQueries.age($0)) old" } ?? "no checkpoint",
                alertCount: alerts > 0 ? "\(alerts) alert\(alerts == 1 ? "" : "s")" : nil,
                checkpoint: s.checkpoint.map { "size \($0.size) · root \(String($0.root.prefix(16)))…" },
                witnessed: witnessed[s.log]?.text ?? "not witnessed yet", witnessQuorum: witnessed[s.log]?.quorum ?? false)
        }
        let rows = whole.priorities.map { p in
            DashboardPage.Row(id: p.id, href: WebPage.priorityHref(p.id), title: p.title, cells: logs.map { log in
                let cell = p.nations[log.log] ?? ViewCell(actions: 0, reported: 0, progress: 0, colour: "grey", statuses: [:], figure: "")
                let percent = ViewQueries.wholePercent(cell.progress)
                let parts = ActionStatus.allCases.compactMap { s in cell.statuses[s.rawValue].map { "\($0) \(s.rawValue)" } }
                return DashboardPage.Cell(href: WebPage.priorityHref(p.id) + "#nation-\(log.log)", colour: cell.colour, fill: Self.statusColours[cell.colour] ?? "#ccc", empty: cell.actions == 0, percent: percent,
                                          detail: "\(cell.actions) actions" + (parts.isEmpty ? ", none reported" : ": " + parts.joined(separator: ", "))
                                              + (cell.oldestAsOf.map { "; oldest update \($0)" } ?? ""),
                                          stale: ViewQueries.staleText(cell).map { "its oldest update is " + $0 })
            })
        }
        let keys = charts.map(\.key)
        let targeted = keys.filter { key in !key.contains(":") && MeasureCharts(charts: charts, ukLog: ukLog, nations: nations).lookup(key)?.answer.series.first { $0.log == ukLog && $0.id == key }?.target != nil }
        let linked = keys.filter { !targeted.contains($0) }.map { (key: $0, title: chart($0).title) } + links
        let shared = linked.filter { !$0.key.contains(":") }
        let local = linked.filter { $0.key.contains(":") }
        let ignored = ignoredAgreements
        return DashboardPage(
            title: "Quartet — \(ViewQueries.displayName(whole.node)) node", node: whole.node, role: role, generatedAt: whole.generatedAt,
            viewer: viewer, badges: badges, columns: logs.map(\.name), rows: rows, columnCount: logs.count + 1,
            legend: [("off track", "red"), ("at risk", "amber"), ("all on track or done", "green"), ("in progress", "blue"), ("nothing reported", "grey")]
                .map { DashboardPage.Legend(name: $0.0, colour: Self.statusColours[$0.1]!) },
            targetedCharts: targeted.map(chart), sharedCharts: shared.map(link), localCharts: local.map(link), localCount: local.count,
            agreements: agreements,
            ignoredAgreements: ignored > 0 ? "\(ignored) agreement entr\(ignored == 1 ? "y" : "ies") ignored (no valid countersignature, wrong holder, or repeated): see /v1/agreements" : nil,
            aggregates: whole.aggregates.suffix(12).map(aggregate),
            alerts: alerts.reversed().map { DashboardPage.Alert(time: ISO8601DateFormatter().string(from: $0.time), kind: $0.kind, message: $0.message) })
    }

    /// The agreements as the dashboard lists them.
    static func agreements(_ policy: Policy, now: UInt64) -> [DashboardPage.Agreement] {
        policy.listed.map { state in
            let a = state.agreement
            let status = policy.status(of: state, at: now)
            return DashboardPage.Agreement(
                id: a.id, owner: a.owner, ownerHref: "/owners/\(WebPage.path(a.owner))", holder: ViewQueries.displayName(a.holder), labels: a.labels.sorted().joined(separator: " "),
                recipients: a.recipients.sorted { $0.key < $1.key }.map { "\(ViewQueries.displayName($0.key)): \($0.value.rawValue)" }.joined(separator: ", "),
                validFrom: String(Timestamp.format(a.validFrom).prefix(10)), validUntil: String(Timestamp.format(a.validUntil).prefix(10)),
                status: status, pill: status == "in-force" ? "ok" : (status == "pending" ? "stale" : "bad"))
        }
    }

    /// A measure listed by its title with a link to its page (only measures with a target are
    /// drawn on the overview; every other chart is on its measure's page).
    func link(_ item: (key: String, title: String)) -> DashboardPage.Chart {
        let parts = item.key.split(separator: ":").map(String.init)
        return DashboardPage.Chart(title: item.title, href: WebPage.measureHref(parts.last ?? item.key, log: parts.count == 2 ? parts[0] : nil),
                            svg: "", total: nil, note: nil)
    }

    /// The chart of a charted measure (`MeasureCharts`).
    func chart(_ key: String) -> DashboardPage.Chart {
        MeasureCharts(charts: charts, ukLog: ukLog, nations: nations).chart(key)
    }

    func aggregate(_ a: ViewAggregate) -> DashboardPage.Aggregate {
        func show(_ v: Int?) -> DashboardPage.Count { DashboardPage.Count(value: v.map(String.init)) }
        let rows = a.rows.labels.enumerated().map { r, label in
            DashboardPage.AggregateRow(label: label, cells: (r < a.cells.count ? a.cells[r] : []).map(show),
                                       total: show(r < a.rowTotals.count ? a.rowTotals[r] : nil))
        }
        let hidden = a.suppressed.cells
        return DashboardPage.Aggregate(
            caption: "\(a.dataset ?? "dataset") \(a.period ?? "") — \(ViewQueries.displayName(a.log)), \(a.label)", columns: a.columns.labels, rows: rows,
            hidden: "\(hidden) cell\(hidden == 1 ? "" : "s")", minimum: String(a.method.minCellSize), rounding: String(a.method.rounding), figure: a.figure)
    }

    /// The page a browser without credentials sees: a form to sign in with a bearer token.
    /// The sign-in page of node `node`. `link`: a sign-in link's token and whom it signs in as,
    /// asked to be confirmed (a link signs in only by its page's post).
    static func signInPage(node: String, message: String?, status: HTTPResponse.Status, link: SignInLink? = nil) -> Response {
        var headers = WebPage.htmlHeaders(scripts: false)
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer realm=\"quartet\"" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: signInHTML(node: node, message: message, link: link))))
    }

    /// A sign-in link's token, whom it signs in as, and whom the browser is signed in as at
    /// this node now (the confirmation ends that session).
    struct SignInLink { var token: String; var who: String; var current: String? }

    static func signInHTML(node: String, message: String?, link: SignInLink? = nil) -> String {
        struct SignIn { var title: String; var node: String; var pattern: String; var message: String?; var link: SignInLink? }
        return DashboardTemplate.render("signIn", SignIn(title: "Quartet — sign in at node \(node)", node: node, pattern: TokenGrant.signInPattern(node: node),
                                                         message: message, link: link))
    }
}
