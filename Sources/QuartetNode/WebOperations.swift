import Foundation
import Hummingbird
import NIOCore
import QuartetAPI
import QuartetPlan
import QuartetPolicy
import QuartetStore

/// Two more pages (docs/web.md): the node's status for its operator (peers, connections, lag
/// per log, alerts, the certificate's expiry) and a data owner's audit page (its agreements,
/// every disclosure and purge of its data, CSV) — what `quartet status` and `quartet audit
/// --owner` print, in the browser.
extension API {
    func addOperationsPages<Context: APIRequestContext>(to routes: Routes<Context>) {
        routes.get("/status", .operator) { _, _, who -> Response in
            let now = Date()
            let status = await engine.status()
            let peers = status.peers.map { p in
                StatusBody.Peer(id: p.id, role: p.role, address: p.address, connected: p.connected,
                                since: p.since.map { ISO8601DateFormatter().string(from: $0) } ?? "", version: p.protocolVersion.map(String.init) ?? "")
            }
            let lag = status.lag
            let logs = status.logs.map { s -> StatusBody.Log in
                let held = s.head?.size ?? 0, seen = s.seenSize ?? 0
                let behindPeers = lag.filter { $0.log == s.log.name && $0.behind > 0 }.map { "\($0.peer) \($0.behind)" }
                // A checkpoint dated ahead of this clock (another member's clock a little fast,
                // or a log dated ahead) is said to be, not shown as "a very long time" old.
                let now = wallClockMillis()
                let age = s.head?.checkpoint.timeMillis.map { t in
                    t > now ? "dated \(ViewQueries.age(Double(t - now) / 1000)) ahead of this node's clock" : ViewQueries.age(Double(now - t) / 1000)
                } ?? "no checkpoint"
                return StatusBody.Log(name: s.log.name, own: s.log.isOwn, held: String(held), behind: String(seen > held ? seen - held : 0), age: age,
                                      quarantined: s.quarantined, disowned: s.disowned, peersBehind: behindPeers.isEmpty ? "none" : behindPeers.joined(separator: ", "))
            }
            // The node's certificate, and its CA chain (amber sooner: a CA rollover needs every
            // member's new certificate; the alerts' thresholds).
            let certificate = StatusBody.expiry(live.contexts.notAfter, now: now, amberDays: 30)
            let ca = StatusBody.expiry(live.contexts.caNotAfter, now: now, amberDays: 90)
            let body = StatusBody(peers: peers, logs: logs,
                                  alerts: AlertLog.summary(status.alerts).map { item in
                                      "\(ISO8601DateFormatter().string(from: item.time)) \(item.alert.kind.rawValue)\(item.alert.peer.map { " (from \($0))" } ?? ""): \(item.alert.message)"
                                          + (item.count > 1 ? " (and \(item.count - 1) more of this kind from this peer kept: GET /v1/alerts lists them)" : "")
                                  },
                                  certificate: certificate.text, certificateTag: certificate.tag, ca: ca.text, caTag: ca.tag,
                                  federation: "\(federation.name) version \(federation.version)")
            let html = WebPage.Frame(node: node, viewer: who.identity.uri).render("status", title: "Node status", crumbs: [WebPage.home, WebPage.Crumb(name: "Node status")],
                                                                                   script: false, body: body)
            return WebPage.response(html, status: .ok)
        }
        routes.get("/owners/{owner}", .auditor) { request, context, who -> Response in
            let owner = try context.parameters.segment("owner")
            let wantsCSV = request.uri.queryParameters.get("format") == "csv"
            // Grows with every disclosure record: off the event loops (`ReadWork`).
            return try await reads.run(who) {
                let policy = view.policy
                let mine = policy.listed.filter { $0.agreement.owner.lowercased() == owner.lowercased() }
                guard !mine.isEmpty else { throw HTTPError(.notFound, message: "no agreement of data owner \(owner) on the ledger at this node") }
                let readable = mine.filter { AuditRule.mayReadRecords(ofID: $0.agreement.id, policy: policy, who.identity) }
                guard !readable.isEmpty else {
                    throw HTTPError(.forbidden, message: "the records of \(owner)'s data are for its auditors (quartet://auditor/\(owner.lowercased())) and the holders' operators; this is \(who.identity.uri)")
                }
                let now = wallClockMillis()
                let agreements = readable.map { state -> OwnerBody.Agreement in
                    let a = state.agreement
                    let id = a.id
                    let status = policy.status(of: state, at: now)
                    return OwnerBody.Agreement(
                        id: id, status: status, tag: status == "in-force" ? "green" : (status == "pending" ? "amber" : "grey"), holder: ViewQueries.displayName(a.holder),
                        recipients: a.recipients.sorted { $0.key < $1.key }.map { "\(ViewQueries.displayName($0.key)): \($0.value.rawValue)" }.joined(separator: ", "),
                        valid: "\(Timestamp.format(a.validFrom).prefix(10)) to \(Timestamp.format(a.validUntil).prefix(10))", labels: a.labels.sorted().joined(separator: " "),
                        disclosures: (policy.disclosures[id] ?? []).map { d in
                            OwnerBody.Disclosure(time: d.time, recipient: ViewQueries.displayName(d.recipient), access: d.access, log: d.log,
                                                 ranges: d.ranges.map { "\($0.lowerBound)–\($0.upperBound)" }.joined(separator: ", "), count: String(d.count),
                                                 record: "\(d.recordLog)/\(d.recordIndex)")
                        },
                        purges: (policy.purges[id] ?? []).map { p in
                            // Who purged (the record's log) and which entries, as ranges: set
                            // against the disclosures to that node.
                            OwnerBody.Purge(time: p.time, by: ViewQueries.displayName(p.recordLog), log: p.log, entries: OwnerBody.ranges(p.entries),
                                            count: String(p.entries.count), reason: p.reason, record: "\(p.recordLog)/\(p.recordIndex)")
                        })
                }
                if wantsCSV {
                    var csv = "agreement,kind,time,recipient_or_log,access_or_reason,log,ranges_or_entries,count,record\n"
                    for a in agreements {
                        for d in a.disclosures { csv += CSVRow.line([a.id, "disclosure", d.time, d.recipient, d.access, d.log, d.ranges, d.count, d.record]) }
                        for p in a.purges { csv += CSVRow.line([a.id, "purge", p.time, p.by, p.reason, p.log, p.entries, p.count, p.record]) }
                    }
                    return Self.csv(csv, name: "audit-\(owner.lowercased())")
                }
                let body = OwnerBody(owner: owner, agreements: agreements, csvHref: "/owners/\(WebPage.path(owner))?format=csv",
                                     hidden: mine.count > readable.count ? String(mine.count - readable.count) : nil)
                let html = WebPage.Frame(node: node, viewer: who.identity.uri).render("owner", title: "Data owner \(owner)",
                                                                                       crumbs: [WebPage.home, WebPage.Crumb(name: "Data owner \(owner)")], script: false, body: body)
                return WebPage.response(html, status: .ok)
            }
        }
    }
}

/// A CSV line of the owner's audit download: every field quoted (`CSV`, by Unicode scalar).
enum CSVRow {
    static func line(_ fields: [String]) -> String { CSV.line(fields, quoteAll: true, terminator: "\n") }
}

struct StatusBody {
    struct Peer { var id: String; var role: String; var address: String; var connected: Bool; var since: String; var version: String }
    struct Log {
        var name: String; var own: Bool; var held: String; var behind: String; var age: String
        /// One tag each: quarantined (red), else disowned (red: a checkpoint signed past a
        /// revocation is held; recover the copy), else verified (green).
        var quarantined: Bool; var disowned: Bool; var verified: Bool
        var peersBehind: String

        init(name: String, own: Bool, held: String, behind: String, age: String, quarantined: Bool, disowned: Bool, peersBehind: String) {
            self.name = name
            self.own = own
            self.held = held
            self.behind = behind
            self.age = age
            self.quarantined = quarantined
            self.disowned = disowned && !quarantined
            self.verified = ReplicationEngine.LogStatus.verified(quarantined: quarantined, disowned: disowned)
            self.peersBehind = peersBehind
        }
    }
    var peers: [Peer]
    var logs: [Log]
    var alerts: [String]
    var certificate: String
    var certificateTag: String
    var ca: String
    var caTag: String
    var federation: String

    /// An expiry date as the status page shows it: the date and whole days left (counted down:
    /// a certificate that ended an hour ago is red, "-1 days"), red once past, amber within
    /// `amberDays`; nil (no CA in tls.ca signed the certificate) red.
    static func expiry(_ date: Date?, now: Date, amberDays: Int) -> (text: String, tag: String) {
        guard let date else { return ("no CA in tls.ca signed the node's certificate", "red") }
        let days = Int((date.timeIntervalSince(now) / 86400).rounded(.down))
        return ("\(ISO8601DateFormatter().string(from: date)) (\(days) days)", days < 0 ? "red" : (days < amberDays ? "amber" : "green"))
    }
}

struct OwnerBody {
    struct Disclosure { var time: String; var recipient: String; var access: String; var log: String; var ranges: String; var count: String; var record: String }
    struct Purge { var time: String; var by: String; var log: String; var entries: String; var count: String; var reason: String; var record: String }

    /// Entry indices as ranges (`3–7, 9`), in order.
    static func ranges(_ entries: [UInt64]) -> String {
        var out: [String] = []
        var run: (UInt64, UInt64)?
        for e in entries.sorted() {
            if let (a, b) = run, e == b || (b < UInt64.max && e == b + 1) { run = (a, e); continue }
            if let (a, b) = run { out.append(a == b ? "\(a)" : "\(a)–\(b)") }
            run = (e, e)
        }
        if let (a, b) = run { out.append(a == b ? "\(a)" : "\(a)–\(b)") }
        return out.joined(separator: ", ")
    }
    struct Agreement { var id: String; var status: String; var tag: String; var holder: String; var recipients: String; var valid: String; var labels: String
                       var disclosures: [Disclosure]; var purges: [Purge] }
    var owner: String
    var agreements: [Agreement]
    var csvHref: String
    /// How many agreements of this owner the caller may not read the records of (another
    /// holder's), nil for none (a section shows for any value, 0 included).
    var hidden: String?
}
