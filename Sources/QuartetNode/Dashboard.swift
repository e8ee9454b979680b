import Foundation
import Hummingbird
import NIOCore
import QuartetPlan

/// The dashboard at `/`: the combined view as server-rendered HTML with inline SVG charts and
/// inline CSS — no scripts, fonts or other external assets (nodes may have no internet).
struct Dashboard {
    let queries: ViewQueries
    let node: String
    let role: String
    let viewer: String
    let alerts: [(time: Date, kind: String, message: String)]
    /// The data-sharing agreements (API.agreementJSON shapes) and how many were ignored.
    var agreements: [[String: Any]] = []
    var ignoredAgreements = 0

    static let palette: [String: String] = [
        "uk": "#1d3557", "wales": "#c8102e", "england": "#b07d00", "scotland": "#0065bd", "northern-ireland": "#2a9d8f",
    ]
    static let statusColours: [String: String] = [
        "red": "#d62828", "amber": "#f4a261", "green": "#2a9d8f", "blue": "#4d7ea8", "grey": "#c9ccd1",
    ]

    func colour(_ log: String) -> String { Self.palette[log] ?? "#6c757d" }

    func response() -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.init("content-security-policy")!] = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'"
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html())))
    }

    func html() -> String {
        let view = queries.view
        var out = Self.head(title: "Quartet — \(ViewQueries.displayName(node)) node")
        out += "<header><h1>UK occupational therapy workforce strategy</h1>"
        out += "<p class=sub>Combined strategy view at node <b>\(e(node))</b> (\(e(role))) · \(e(ViewQueries.iso(queries.nowMillis))) · signed in as \(e(viewer))</p></header>"
        out += "<main>"
        // Freshness and verification per nation.
        out += "<section><h2>Nations</h2><div class=badges>"
        for log in queries.order {
            let s = queries.logSummary(log)
            let verified = s["verified"] as? Bool ?? false
            let cp = s["checkpoint"] as? [String: Any]
            let age = cp?["age_seconds"] as? Double
            let fresh = age.map { $0 < 300 ? "fresh" : ($0 < 3600 ? "stale" : "old") } ?? "none"
            let alertsCount = (s["alerts"] as? [String])?.count ?? 0
            out += "<div class=\"badge\" style=\"border-top:4px solid \(colour(log))\"><h3>\(e(ViewQueries.displayName(log)))</h3>"
            out += "<p>\(s["entries"] ?? 0) entries · \(s["actions"] ?? 0) actions · \(s["measures"] ?? 0) measures</p>"
            out += "<p><span class=\"pill \(verified ? "ok" : "bad")\">\(verified ? "✓ verified" : "✗ not verified")</span> "
            out += "<span class=\"pill \(fresh)\">\(age.map { "checkpoint \(Self.age($0)) old" } ?? "no checkpoint")</span>"
            if alertsCount > 0 { out += " <span class=\"pill bad\">\(alertsCount) alert\(alertsCount == 1 ? "" : "s")</span>" }
            out += "</p>"
            if let cp { out += "<p class=mono>size \(cp["size"] ?? 0) · root \(e(String((cp["root"] as? String ?? "").prefix(16))))…</p>" }
            out += "</div>"
        }
        out += "</div></section>"
        // Priorities × nations.
        out += "<section><h2>Priorities × nations</h2><table class=matrix><thead><tr><th>UK workforce priority</th>"
        for log in queries.order { out += "<th>\(e(ViewQueries.displayName(log)))</th>" }
        out += "</tr></thead><tbody>"
        for id in view.priorities.keys.sorted(by: ViewQueries.idOrder) {
            out += "<tr><th><span class=pid>\(e(id))</span> \(e(view.priorities[id]!.payload.title))</th>"
            for log in queries.order {
                let cell = queries.cell(priority: id, log: log)
                let fill = Self.statusColours[cell.colour] ?? "#ccc"
                out += "<td class=\"cell \(cell.colour)\" style=\"border-left:6px solid \(fill)\">"
                if cell.actions == 0 {
                    out += "<span class=muted>no actions</span>"
                } else {
                    let parts = ActionStatus.allCases.compactMap { s in cell.counts[s].map { "\($0) \(s.rawValue)" } }
                    out += "<b>\(Int((cell.progress * 100).rounded()))%</b> on track or done<br><span class=small>\(cell.actions) actions\(parts.isEmpty ? ", none reported" : ": " + e(parts.joined(separator: ", ")))</span>"
                    out += "<div class=bar><div style=\"width:\(Int((cell.progress * 100).rounded()))%;background:\(fill)\"></div></div>"
                }
                out += "</td>"
            }
            out += "</tr>"
        }
        if view.priorities.isEmpty { out += "<tr><td colspan=\(queries.order.count + 1) class=muted>The UK plan has not reached this node yet.</td></tr>" }
        out += "</tbody></table><p class=legend>"
        for (name, c) in [("off track", "red"), ("at risk", "amber"), ("all on track or done", "green"), ("in progress", "blue"), ("nothing reported", "grey")] {
            out += "<span><i style=\"background:\(Self.statusColours[c]!)\"></i>\(name)</span>"
        }
        out += "</p></section>"
        // UK totals against targets, then every measure with readings.
        let measures = measuresWithReadings()
        let targeted = measures.filter { id in !id.contains(":") && view.logs[view.ukLog]?.measures[id]?.payload.target != nil }
        let shared = measures.filter { !$0.contains(":") && !targeted.contains($0) }
        let local = measures.filter { $0.contains(":") }
        out += "<section><h2>UK measures with a target</h2><div class=charts>"
        out += targeted.map(chart(for:)).joined()
        if targeted.isEmpty { out += "<p class=muted>No readings of a measure with a target yet.</p>" }
        out += "</div></section>"
        out += "<section><h2>UK measures</h2><div class=charts>"
        out += shared.map(chart(for:)).joined()
        if shared.isEmpty { out += "<p class=muted>No measure readings yet.</p>" }
        out += "</div></section>"
        if !local.isEmpty {
            out += "<section><details><summary><h2 style=\"display:inline\">Measures of one nation's own plan (\(local.count))</h2></summary><div class=charts>"
            out += local.map(chart(for:)).joined()
            out += "</div></details></section>"
        }
        // Data-sharing agreements.
        out += "<section><h2>Data-sharing agreements</h2>"
        if agreements.isEmpty {
            out += "<p class=muted>No countersigned agreement on the ledger.</p>"
        } else {
            out += "<table class=matrix><thead><tr><th>Agreement</th><th>Data owner</th><th>Holder</th><th>Data</th><th>Recipients</th><th>Valid</th><th>State</th><th>Disclosures</th></tr></thead><tbody>"
            for a in agreements {
                let status = a["status"] as? String ?? "?"
                let pill = status == "in-force" ? "ok" : (status == "pending" ? "stale" : "bad")
                let recipients = (a["recipients"] as? [String: String] ?? [:]).sorted { $0.key < $1.key }.map { "\(ViewQueries.displayName($0.key)): \($0.value)" }.joined(separator: ", ")
                out += "<tr><td class=mono>\(e(a["id"] as? String ?? ""))</td><td>\(e(a["owner"] as? String ?? ""))</td><td>\(e(ViewQueries.displayName(a["holder"] as? String ?? "")))</td>"
                out += "<td class=mono>\(e((a["labels"] as? [String] ?? []).joined(separator: " ")))</td><td>\(e(recipients))</td>"
                out += "<td class=small>\(e(String((a["valid_from"] as? String ?? "").prefix(10)))) to \(e(String((a["valid_until"] as? String ?? "").prefix(10))))</td>"
                out += "<td><span class=\"pill \(pill)\">\(e(status))</span></td>"
                // Where the data went is for the owner's auditors and the holder's operator
                // (AuditRule); the dashboard is the same page for every reader.
                out += "<td class=small>for auditors: <code>/v1/agreements/\(e(a["id"] as? String ?? ""))/disclosures</code></td></tr>"
            }
            out += "</tbody></table>"
        }
        if ignoredAgreements > 0 { out += "<p class=\"pill bad\">\(ignoredAgreements) agreement entr\(ignoredAgreements == 1 ? "y" : "ies") ignored (no valid countersignature, wrong holder, or repeated): see /v1/agreements</p>" }
        out += "<p class=small>Restricted data reaches a node only where an agreement in force gives it full access; elsewhere the entries are stubs. Disclosure records are in each sender's log; auditors read them at <code>/v1/agreements/{id}/disclosures</code>.</p></section>"
        // Published aggregates of restricted datasets held here.
        let aggregates = queries.aggregatesList()
        if !aggregates.isEmpty {
            out += "<section><h2>Published aggregates (restricted data, small counts suppressed)</h2><div class=charts>"
            for a in aggregates.suffix(12) {
                let rows = (a["rows"] as? [String: Any])?["labels"] as? [String] ?? []
                let columns = (a["columns"] as? [String: Any])?["labels"] as? [String] ?? []
                let cells = a["cells"] as? [[Any]] ?? []
                let rowTotals = a["row_totals"] as? [Any] ?? []
                func show(_ v: Any?) -> String { (v as? Int).map(String.init) ?? "<span title=suppressed>*</span>" }
                out += "<figure class=chart><figcaption>\(e(a["dataset"] as? String ?? "dataset")) \(e(a["period"] as? String ?? "")) — \(e(ViewQueries.displayName(a["log"] as? String ?? ""))), \(e(a["label"] as? String ?? ""))</figcaption>"
                out += "<table class=matrix><thead><tr><th></th>" + columns.map { "<th>\(e($0))</th>" }.joined() + "<th>total</th></tr></thead><tbody>"
                for (r, label) in rows.enumerated() {
                    out += "<tr><th>\(e(label))</th>"
                    out += (r < cells.count ? cells[r] : []).map { "<td>\(show($0))</td>" }.joined()
                    out += "<td><b>\(show(r < rowTotals.count ? rowTotals[r] : nil))</b></td></tr>"
                }
                let hidden = (a["suppressed"] as? [String: Any])?["cells"] as? Int ?? 0
                let method = a["method"] as? [String: Any] ?? [:]
                let minimum = (method["min_cell_size"] as? Int ?? a["min_cell_size"] as? Int).map(String.init) ?? "?"
                let rounding = (method["rounding"] as? Int).map(String.init) ?? "?"
                out += "</tbody></table><p class=small>* hidden: \(hidden) cell\(hidden == 1 ? "" : "s") (counts below \(minimum), zero included, or whose rounded value would give them away); other counts rounded to a multiple of \(rounding); totals are sums of the published cells · figure <code>\(e(a["figure"] as? String ?? ""))</code></p></figure>"
            }
            out += "</div></section>"
        }
        // Alerts.
        out += "<section><h2>Alerts</h2>"
        if alerts.isEmpty {
            out += "<p class=muted>No replication alerts since this node started.</p>"
        } else {
            out += "<ul class=alerts>"
            for a in alerts.reversed() {
                out += "<li><span class=mono>\(e(ISO8601DateFormatter().string(from: a.time)))</span> <b>\(e(a.kind))</b> \(e(a.message))</li>"
            }
            out += "</ul>"
        }
        out += "</section></main><footer>Every figure traces to signed ledger entries: <code>GET /v1/view/figures/{id}/provenance</code> · JSON at <code>/v1/view</code> · CSV with <code>?format=csv</code></footer></body></html>\n"
        return out
    }

    /// UK measure ids (or nation measure ids where they map to none) that have a reading
    /// somewhere, in plan order.
    func measuresWithReadings() -> [String] {
        var ids = Set<String>()
        for (log, v) in queries.view.logs {
            for m in v.measures.values where !m.readings.isEmpty {
                ids.insert(log == queries.view.ukLog ? m.payload.id : (m.payload.uk_measure ?? "\(log):\(m.payload.id)"))
            }
        }
        return ids.sorted { a, b in
            let x = a.split(separator: ":").last.map(String.init) ?? a, y = b.split(separator: ":").last.map(String.init) ?? b
            return x == y ? a < b : ViewQueries.idOrder(x, y)
        }
    }

    /// A chart for one UK measure: the UK total per year against the target when it is a
    /// summed count, else each nation's readings per period.
    func chart(for key: String) -> String {
        let view = queries.view
        let parts = key.split(separator: ":").map(String.init)
        let (onlyLog, id) = parts.count == 2 ? (Optional(parts[0]), parts[1]) : (nil, key)
        let definition = view.logs[onlyLog ?? view.ukLog]?.measures[id]?.payload
            ?? queries.order.lazy.compactMap { view.logs[$0]?.measures.values.first { $0.payload.uk_measure == id }?.payload }.first
        var title = "\(onlyLog.map { ViewQueries.displayName($0) + " " } ?? "")\(id)"
        if let text = definition?.text { title += " — " + text }
        var out = "<figure class=chart><figcaption>\(e(title))</figcaption>"
        if onlyLog == nil, let all = view.totals[id], !all.isEmpty {
            let totals = Dictionary(uniqueKeysWithValues: all.filter { $0.key.granularity == .year }.map { ($0.key.year, $0.value) })
            let years = totals.keys.sorted()
            let target = definition?.target.flatMap { $0.per == "year" ? $0.value : nil }
            let series = queries.nations.map { log in (log, years.map { totals[$0]?.contributions[log] }) }.filter { $0.1.contains { $0 != nil } }
            out += svgBars(categories: years.map(String.init), series: series, stacked: true, target: target)
            let latest = totals[years.last!]!
            out += "<p class=small>UK total \(years.last!): <b>\(ViewQueries.number(latest.value))</b>\(target.map { " of a target of \(ViewQueries.number($0)) a year" } ?? "") · figure <code>total:\(e(id)):\(years.last!)</code></p>"
        } else {
            var series: [(String, [Period: Double])] = []
            for log in queries.order where onlyLog == nil || log == onlyLog {
                guard let v = view.logs[log] else { continue }
                let belongs: (MeasureState) -> Bool = { m in
                    onlyLog != nil ? m.payload.id == id : (log == view.ukLog ? m.payload.id == id : m.payload.uk_measure == id)
                }
                for m in v.measures.values.sorted(by: { ViewQueries.idOrder($0.payload.id, $1.payload.id) }) where belongs(m) {
                    var values: [Period: Double] = [:]
                    for (p, r) in m.readings {
                        if let v = r.payload.value { values[p] = v } else if let a = r.payload.achieved { values[p] = a ? 1 : 0 }
                    }
                    if !values.isEmpty { series.append((log, values)) }
                }
            }
            let periods = Set(series.flatMap { $0.1.keys }).sorted()
            if periods.isEmpty {
                out += "<p class=muted>Readings of this measure are text or categories; see <code>/v1/view/measures/\(e(id))</code>.</p>"
            } else {
                let target = definition?.kind == .percentage ? definition?.target?.value : nil
                out += svgBars(categories: periods.map(\.description), series: series.map { s in (s.0, periods.map { s.1[$0] }) }, stacked: false, target: target)
                if definition?.kind == .milestone { out += "<p class=small>1 = achieved, 0 = not achieved</p>" }
            }
        }
        return out + "</figure>"
    }

    /// A bar chart in SVG: categories along the bottom, one colour per log, bars stacked or side
    /// by side, an optional dashed target line.
    func svgBars(categories: [String], series: [(String, [Double?])], stacked: Bool, target: Double?) -> String {
        let width = 420.0, height = 190.0, left = 36.0, bottom = 26.0, top = 10.0
        let plotW = width - left - 8, plotH = height - bottom - top
        var maxValue = target ?? 0
        for i in categories.indices {
            let values = series.map { $0.1[i] ?? 0 }
            maxValue = max(maxValue, stacked ? values.reduce(0, +) : (values.max() ?? 0))
        }
        maxValue = Self.niceCeiling(maxValue * 1.05)
        let slot = plotW / Double(max(categories.count, 1))
        var svg = "<svg viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=img xmlns=\"http://www.w3.org/2000/svg\">"
        // Axis and grid.
        for step in 0...4 {
            let v = maxValue * Double(step) / 4
            let y = top + plotH - plotH * Double(step) / 4
            svg += "<line x1=\"\(f(left))\" x2=\"\(f(width - 8))\" y1=\"\(f(y))\" y2=\"\(f(y))\" stroke=\"#e3e5e8\"/>"
            svg += "<text x=\"\(f(left - 4))\" y=\"\(f(y + 3))\" text-anchor=end class=ax>\(ViewQueries.number(v))</text>"
        }
        for (i, category) in categories.enumerated() {
            let x0 = left + slot * Double(i)
            var base = 0.0
            let barCount = Double(max(series.count, 1))
            for (j, s) in series.enumerated() {
                guard let value = s.1[i], value > 0 else { continue }
                let h = plotH * value / maxValue
                let x: Double, w: Double, y: Double
                if stacked {
                    w = slot * 0.6
                    x = x0 + slot * 0.2
                    y = top + plotH - plotH * (base + value) / maxValue
                    base += value
                } else {
                    w = slot * 0.8 / barCount
                    x = x0 + slot * 0.1 + w * Double(j)
                    y = top + plotH - h
                }
                svg += "<rect x=\"\(f(x))\" y=\"\(f(y))\" width=\"\(f(max(w, 1)))\" height=\"\(f(h))\" fill=\"\(colour(s.0))\"><title>\(e(ViewQueries.displayName(s.0))) \(e(category)): \(ViewQueries.number(value))</title></rect>"
            }
            if categories.count <= 16 || i % max(1, categories.count / 12) == 0 {
                svg += "<text x=\"\(f(x0 + slot / 2))\" y=\"\(f(height - 8))\" text-anchor=middle class=ax>\(e(category))</text>"
            }
        }
        if let target {
            let y = top + plotH - plotH * target / maxValue
            svg += "<line x1=\"\(f(left))\" x2=\"\(f(width - 8))\" y1=\"\(f(y))\" y2=\"\(f(y))\" stroke=\"#111\" stroke-dasharray=\"5 4\" stroke-width=\"1.5\"/>"
            svg += "<text x=\"\(f(width - 10))\" y=\"\(f(y - 4))\" text-anchor=end class=tg>target \(ViewQueries.number(target))</text>"
        }
        svg += "</svg><p class=keys>"
        for s in series { svg += "<span><i style=\"background:\(colour(s.0))\"></i>\(e(ViewQueries.displayName(s.0)))</span>" }
        return svg + "</p>"
    }

    func f(_ v: Double) -> String { String(format: "%.1f", v) }

    /// The smallest of 1, 2, 4, 5 or 8 times a power of ten at or above `v` (at least 1), so the
    /// four grid steps fall on round numbers.
    static func niceCeiling(_ v: Double) -> Double {
        guard v > 1 else { return 1 }
        let magnitude = pow(10, floor(log10(v)))
        for m in [1.0, 2, 4, 5, 8, 10] where m * magnitude >= v { return m * magnitude }
        return 10 * magnitude
    }

    func e(_ text: String) -> String { Self.escape(text) }

    /// Escapes text for HTML element content and quoted attributes, by Unicode scalar: a
    /// `Character` can merge `<` with a preceding prepend mark (U+0600) or a following combining
    /// mark into one grapheme that compares unequal to "<", and would be copied through.
    /// Control characters other than tab and newline become U+FFFD.
    static func escape(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out.append(contentsOf: "&amp;".unicodeScalars)
            case "<": out.append(contentsOf: "&lt;".unicodeScalars)
            case ">": out.append(contentsOf: "&gt;".unicodeScalars)
            case "\"": out.append(contentsOf: "&quot;".unicodeScalars)
            case "'": out.append(contentsOf: "&#39;".unicodeScalars)
            case "\t", "\n": out.append(scalar)
            default:
                if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) { out.append("\u{FFFD}") } else { out.append(scalar) }
            }
        }
        return String(out)
    }

    static func age(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0, seconds < 1e12 else { return "a very long time" }
        if seconds < 90 { return "\(Int(seconds)) s" }
        if seconds < 5400 { return "\(Int(seconds / 60)) min" }
        if seconds < 172_800 { return "\(Int(seconds / 3600)) h" }
        return "\(Int(seconds / 86400)) days"
    }

    static func head(title: String) -> String {
        """
        <!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport content="width=device-width,initial-scale=1">
        <title>\(escape(title))</title><style>
        body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
        header{background:#1d3557;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}.sub{margin:4px 0 0;opacity:.85}
        main{padding:8px 24px}section{margin:16px 0}h2{font-size:16px;margin:0 0 8px}
        .badges{display:flex;flex-wrap:wrap;gap:10px}.badge{background:#fff;border-radius:6px;padding:8px 12px;min-width:190px;box-shadow:0 1px 2px #0002}
        .badge h3{margin:0 0 4px;font-size:15px}.badge p{margin:2px 0}
        .pill{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;background:#e9ecef}.ok,.fresh{background:#d8f3dc;color:#1b4332}
        .bad,.old{background:#ffd6d6;color:#7a0000}.stale{background:#fff3bf;color:#5c4400}.none{background:#e9ecef}
        table.matrix{border-collapse:separate;border-spacing:4px;width:100%}.matrix th{text-align:left;font-weight:600;vertical-align:top}
        .matrix td{background:#fff;padding:6px 8px;border-radius:4px;vertical-align:top;min-width:120px}
        .pid{display:inline-block;background:#1d3557;color:#fff;border-radius:3px;padding:0 5px;font-size:12px}
        .bar{height:6px;background:#eceff3;border-radius:3px;margin-top:4px}.bar div{height:6px;border-radius:3px}
        .small{font-size:12px;color:#444}.muted{color:#777}.mono{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12px}
        .legend span,.keys span{margin-right:12px;font-size:12px}.legend i,.keys i{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}
        .charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(440px,1fr));gap:12px}
        figure.chart{background:#fff;margin:0;padding:8px 10px;border-radius:6px;box-shadow:0 1px 2px #0002}
        figcaption{font-size:13px;font-weight:600;margin-bottom:4px}svg{width:100%;height:auto}.ax{font-size:10px;fill:#555}.tg{font-size:10px;fill:#111}
        .alerts{padding-left:18px}footer{padding:12px 24px;color:#555;font-size:12px}code{font-size:12px}
        form{background:#fff;padding:16px;border-radius:6px;max-width:420px}input{width:100%;padding:6px;margin:6px 0}
        </style></head><body>
        """
    }

    /// The page a browser without credentials sees: a form to sign in with a bearer token.
    static func signInPage(message: String?, status: HTTPResponse.Status) -> Response {
        var html = head(title: "Quartet — sign in")
        html += "<header><h1>Quartet</h1><p class=sub>Sign in to the combined strategy view</p></header><main>"
        if let message { html += "<p class=\"pill bad\">\(escape(message))</p>" }
        html += "<form method=post action=\"/login\"><label>Reader or operator token<input name=token type=password autocomplete=off></label><button type=submit>Sign in</button></form>"
        html += "<p class=small>Or present a client certificate issued by the federation CA.</p></main></body></html>\n"
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        headers[.init("content-security-policy")!] = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer realm=\"quartet\"" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}
