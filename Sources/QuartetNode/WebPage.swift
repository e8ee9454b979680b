import Foundation
import Hummingbird
import NIOCore
import QuartetAPI
import QuartetLedger
import QuartetPlan
import QuartetStore

/// What each web page shows, every value already worded; the templates (WebTemplates.swift)
/// read these stored properties by name and escape them. Pure apart from the store reads the
/// action and measure pages make for who recorded what, and when.
enum WebPage {
    /// A page that cannot be shown: an unknown id (404) or a bad query (400), with the reason.
    struct NotFound: Error {
        let message: String
        var status: HTTPResponse.Status = .notFound
        init(_ message: String, status: HTTPResponse.Status = .notFound) { self.message = message; self.status = status }
    }

    struct Crumb { var name: String; var href: String? }

    /// The frame every page shares: header, breadcrumbs, footer.
    struct Frame {
        let node: String
        let viewer: String

        struct Page {
            var title: String
            var node: String
            var viewer: String
            var breadcrumbs: [Crumb]
            var script: Bool
            var body: Any
        }

        func render(_ template: String, title: String, crumbs: [Crumb], script: Bool, body: Any) -> String {
            WebTemplate.render(template, Page(title: title, node: ViewQueries.displayName(node), viewer: viewer, breadcrumbs: crumbs, script: script,
                                              body: TemplateValue.of(body)))
        }
    }

    typealias Built = (title: String, crumbs: [Crumb], template: String, body: Any)

    static func response(_ html: String, status: HTTPResponse.Status) -> Response { response(Data(html.utf8), status: status) }

    static func response(_ html: Data, status: HTTPResponse.Status) -> Response {
        Response(status: status, headers: htmlHeaders(scripts: true), body: .init(byteBuffer: ByteBuffer(data: html)))
    }

    /// The headers of every HTML answer (these pages, the overview, the sign-in page): a
    /// Content-Security-Policy that runs no script but the node's own (`scripts`; none
    /// otherwise), loads nothing from elsewhere and lets no other page frame it; no-store;
    /// nosniff; no Referer beyond this origin; no window another site opened keeps a handle.
    static func htmlHeaders(scripts: Bool) -> HTTPFields {
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.init("content-security-policy")!] =
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; \(scripts ? "script-src 'self'; connect-src 'self'; " : "")form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
        headers[.cacheControl] = "no-store"
        headers[.init("x-content-type-options")!] = "nosniff"
        // Form actions carry their anti-forgery token in the URL: never in a Referer elsewhere.
        headers[.init("referrer-policy")!] = "same-origin"
        // A page another site opened holds no handle on it (and it none on the opener).
        headers[.init("cross-origin-opener-policy")!] = "same-origin"
        return headers
    }

    static let home = Crumb(name: "UK overview", href: "/")

    /// A path segment made safe to put in a URL (ids are checked patterns, but escape anyway).
    static func path(_ segment: String) -> String {
        segment.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~:"))) ?? segment
    }

    static func nationHref(_ log: String) -> String { "/nations/\(path(log))" }
    static func actionHref(_ log: String, _ id: String) -> String { "/nations/\(path(log))/actions/\(path(id))" }
    /// A measure's page; `log` for a nation's own measure (one that adds into no UK measure),
    /// `year` for one year of it.
    static func measureHref(_ id: String, log: String? = nil, year: Int? = nil) -> String {
        let query = [log.map { "log=\(path($0))" }, year.map { "year=\($0)" }].compactMap { $0 }
        return "/measures/\(path(id))" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
    }
    static func priorityHref(_ id: String) -> String { "/priorities/\(path(id))" }
    static func figureHref(_ figure: String) -> String { "/figures/\(path(figure))" }

    /// The tag colour of an action status (GOV.UK tag colours: green done or on track, amber at
    /// risk, red off track, grey not started or not reported).
    static func tag(_ status: String?) -> String {
        switch status {
        case "on-track", "done": "green"
        case "at-risk": "amber"
        case "off-track": "red"
        default: "grey"
        }
    }

    // MARK: Priority

    struct PriorityBody {
        struct Row { var id: String; var href: String; var title: String; var status: String; var tag: String; var asOf: String }
        struct Nation { var log: String; var name: String; var summary: String; var actions: [Row] }
        struct Link { var name: String; var href: String }
        /// A UK action, with the nations' actions that serve it (`uk_actions`).
        struct UKRow { var id: String; var href: String; var title: String; var status: String; var tag: String; var served: [Link]; var more: String? }
        var heading: String
        var goals: [String]
        var figureHref: String
        var ukActions: [UKRow]
        var nations: [Nation]
    }

    /// An action's status as a page shows it: a withdrawn action's withdrawal (it has left the
    /// matrix and takes no more updates), else its latest status, else "not reported".
    static func shownStatus(_ status: String?, asOf: String?, withdrawn: ViewWithdrawal?) -> (status: String, tag: String, asOf: String) {
        if let w = withdrawn { return ("withdrawn", "grey", w.asOf) }
        return (status ?? "not reported", tag(status), asOf ?? "")
    }

    /// The nations' actions a priority's page names per UK action.
    static let servedShown = 20

    static func priority(_ id: String, _ q: ViewQueries) throws -> Built {
        guard let p = q.priority(id) else { throw NotFound("no priority \(id) in the view") }
        let nations = q.nations.map { log -> PriorityBody.Nation in
            let cell = p.nations[log]
            let rows = p.actions.filter { $0.log == log }.map { a in
                let shown = shownStatus(a.status, asOf: a.asOf, withdrawn: a.withdrawn)
                return PriorityBody.Row(id: a.id, href: actionHref(log, a.id), title: a.title, status: shown.status, tag: shown.tag, asOf: shown.asOf)
            }
            let summary = cell.map { "\($0.actions) action\($0.actions == 1 ? "" : "s"), \(ViewQueries.wholePercent($0.progress)) % on track or done"
                + ($0.oldestAsOf.map { ", oldest update \($0)" } ?? "") + (ViewQueries.staleText($0).map { " (stale: \($0))" } ?? "") } ?? "no actions"
            return PriorityBody.Nation(log: log, name: ViewQueries.displayName(log), summary: summary, actions: rows)
        }
        // The UK plan's actions first, each with the nations' actions that serve it (in the
        // nations' order): the combined strategy the nations' tables below report against.
        // At most `servedShown` of them per UK action (a nation's action may name a hundred UK
        // actions, and a log hold thousands of actions): the UK action's page lists more.
        let ukActions = p.ukActions.map { ua in
            let shown = shownStatus(ua.status, asOf: nil, withdrawn: ua.withdrawn)
            let served = q.nations.lazy.flatMap { log in (ua.nations[log] ?? []).lazy.map { (log, $0) } }
            let count = q.nations.reduce(0) { $0 + (ua.nations[$1]?.count ?? 0) }
            return PriorityBody.UKRow(id: ua.id, href: actionHref(q.view.ukLog, ua.id), title: ua.title,
                                      status: shown.status, tag: shown.tag,
                                      served: served.prefix(servedShown).map { PriorityBody.Link(name: "\(ViewQueries.displayName($0.0)) \($0.1)", href: actionHref($0.0, $0.1)) },
                                      more: count > servedShown ? "and \(count - servedShown) more (on the UK action's page)" : nil)
        }
        let heading = "\(p.id) \(p.title)"
        return (heading, [home, Crumb(name: "Priority \(p.id)")], "priority",
                PriorityBody(heading: heading, goals: p.goals, figureHref: figureHref(p.figure), ukActions: ukActions, nations: nations))
    }

    // MARK: Nation

    struct NationBody {
        struct Row { var id: String; var href: String; var title: String; var priority: String; var priorityHref: String; var status: String; var tag: String; var asOf: String; var measures: String }
        var heading: String
        var name: String
        var entries: String
        var actions: String
        var measures: String
        var verified: Bool
        var checkpoint: String
        var freshness: String
        var freshnessTag: String
        var rows: [Row]
        var alerts: [String]
        /// Shown only to the operator of this log at its own node.
        var canRecord: Bool = false
    }

    static func nation(_ log: String, _ q: ViewQueries, canRecord: Bool = false) throws -> Built {
        let answer: NationView
        do { answer = try q.nation(log) } catch { throw NotFound(error.message) }
        let s = answer.log
        let age = s.checkpoint?.ageSeconds
        let rows = answer.actions.map { a in
            let shown = shownStatus(a.status, asOf: a.asOf, withdrawn: a.withdrawn)
            return NationBody.Row(id: a.id, href: actionHref(log, a.id), title: a.title, priority: a.priority, priorityHref: priorityHref(a.priority),
                                  status: shown.status, tag: shown.tag, asOf: shown.asOf, measures: String(a.measures?.count ?? 0))
        }
        let name = ViewQueries.displayName(log)
        // A member the federation file no longer lists: its log is held and shown, but it counts
        // in no UK figure (finding 234), and its page says so.
        let former = !q.view.counts(log)
        let body = NationBody(
            heading: former ? "\(name) (no longer a member: counts in no UK figure): plan and progress" : "\(name): plan and progress", name: name, entries: "\(s.entries) (\(s.stubs) held as stubs)", actions: String(s.actions), measures: String(s.measures),
            verified: s.verified, checkpoint: s.checkpoint.map { "size \($0.size), root \($0.root)" } ?? "none yet",
            freshness: age.map { "checkpoint \(ViewQueries.age($0)) old" } ?? "no checkpoint",
            freshnessTag: age.map { $0 < 300 ? "green" : ($0 < 3600 ? "amber" : "red") } ?? "grey", rows: rows, alerts: s.alerts, canRecord: canRecord)
        return (body.heading, [home, Crumb(name: name)], "nation", body)
    }

    // MARK: Action

    struct ActionBody {
        struct Status { var status: String; var tag: String; var asOf: String; var time: String; var author: String; var entry: String; var note: String? }
        struct Evidence { var kind: String; var title: String; var link: String }
        struct Measure { var id: String; var href: String; var text: String; var latest: String; var target: String }
        var heading: String
        var nation: String
        var nationHref: String
        var priority: String
        var priorityHref: String
        var ukActions: String?
        var timeframe: String?
        var status: String
        var tag: String
        var asOf: String?
        var withdrawn: String?
        var figureHref: String
        var history: [Status]
        var evidence: [Evidence]
        var measures: [Measure]
        /// For a UK action: each nation's actions mapped to it (at most `mappedShown`).
        var mapped: [Mapped]
        /// How many more there are than `mapped` shows, said so.
        var moreMapped: String? = nil
        struct Mapped { var nation: String; var id: String; var href: String; var title: String; var status: String; var tag: String }
    }

    /// The nations' actions a UK action's page lists (a nation's log may hold thousands, each
    /// naming up to a hundred UK actions); the priority's answer names them all.
    static let mappedShown = 200

    static func action(_ id: String, log: String, _ q: ViewQueries, store: LedgerStore) throws -> Built {
        guard let state = q.view.logs[log]?.actions[id] else { throw NotFound("log \(log) has no action \(id)") }
        let a = q.action(state, log: log, withMeasures: true)
        let headers = try entryHeaders(state.history.map(\.ref), store: store)
        let history = state.history.reversed().map { s in
            let h = headers[s.ref]
            return ActionBody.Status(status: s.payload.status.rawValue, tag: tag(s.payload.status.rawValue), asOf: s.payload.as_of,
                                     time: h.map { ViewQueries.iso($0.timeMillis) } ?? "", author: h.map { $0.author.isEmpty ? "(no author)" : $0.author } ?? "",
                                     entry: "\(s.ref.log)/\(s.ref.index)", note: s.payload.note)
        }
        let measures = (a.measures ?? []).map { m in
            // A nation's measure links to its own page (one mapped to a UK measure went to the
            // page of its own id without the nation: the UK's measure of that id, another one).
            ActionBody.Measure(id: m.id, href: measureHref(m.id, log: log == q.view.ukLog ? nil : log), text: m.text, latest: m.latest.map(readingText) ?? "no reading",
                               target: m.target.map { "\(ViewQueries.number($0.value)) per \($0.per)" } ?? "")
        }
        let name = ViewQueries.displayName(log)
        var body = ActionBody(
            heading: "\(name) action \(a.id): \(a.title)", nation: name, nationHref: nationHref(log), priority: a.priority, priorityHref: priorityHref(a.priority),
            ukActions: a.ukActions.isEmpty ? nil : a.ukActions.joined(separator: ", "), timeframe: a.timeframe,
            status: a.status ?? "not reported", tag: tag(a.status), asOf: a.asOf, withdrawn: a.withdrawn.map { "\($0.reason) (as of \($0.asOf))" },
            figureHref: figureHref(a.figure), history: history,
            // The newest, as the nation's answer carries them (a log may append any number).
            evidence: state.evidence.suffix(ViewQueries.evidenceShown).map { ActionBody.Evidence(kind: $0.payload.kind.rawValue, title: $0.payload.title, link: $0.payload.link) },
            measures: measures,
            mapped: [])
        if log == q.view.ukLog {
            let mapped = q.nations.flatMap { nation in
                (q.view.logs[nation]?.actions.values ?? [:].values)
                    .filter { ViewQueries.mappedUKActions($0).contains(id) }
                    .sorted { ViewQueries.idOrder($0.payload.id, $1.payload.id) }
                    .map { (nation, $0) }
            }
            body.mapped = mapped.prefix(mappedShown).map { nation, m in
                ActionBody.Mapped(nation: ViewQueries.displayName(nation), id: m.payload.id, href: actionHref(nation, m.payload.id), title: m.payload.title,
                                  status: m.status?.payload.status.rawValue ?? "not reported", tag: tag(m.status?.payload.status.rawValue))
            }
            if mapped.count > mappedShown {
                body.moreMapped = "The first \(mappedShown) of \(mapped.count); GET /v1/view/priorities/\(a.priority) names them all."
            }
        }
        return (body.heading, [home, Crumb(name: name, href: nationHref(log)), Crumb(name: "Action \(a.id)")], "action", body)
    }

    /// The headers of `refs` (who recorded each, and when), read from the store.
    static func entryHeaders(_ refs: [EntryRef], store: LedgerStore) throws -> [EntryRef: EntryHeader] {
        guard !refs.isEmpty else { return [:] }
        let logs = Dictionary(uniqueKeysWithValues: try store.logs().map { ($0.name, $0) })
        var out: [EntryRef: EntryHeader] = [:]
        for ref in refs {
            guard let log = logs[ref.log], let entry = try store.entries(log, from: ref.index, limit: 1).first, entry.header.index == ref.index else { continue }
            out[ref] = entry.header
        }
        return out
    }

    static func readingText(_ r: ViewReading) -> String {
        var text = r.value.map(ViewQueries.number) ?? r.achieved.map { $0 ? "achieved" : "not achieved" } ?? r.text ?? ""
        if let c = r.categories, !c.isEmpty { text = ViewQueries.categories(c, pair: ": ", separator: ", ") }
        return "\(text) (\(r.period))"
    }
}
