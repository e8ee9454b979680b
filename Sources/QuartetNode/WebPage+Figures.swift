import Foundation
import QuartetAPI
import QuartetLedger
import QuartetPlan
import QuartetStore

/// The measure page, the "How do we know?" page and search.
extension WebPage {
    // MARK: Measure

    struct MeasureBody {
        struct Definition { var nation: String; var text: String; var unit: String?; var target: String?; var overTime: String? }
        struct Total { var period: String; var value: String; var target: String; var parts: String; var entries: String; var href: String }
        struct Reading { var period: String; var nation: String; var measure: String; var value: String; var note: String; var corrections: [String]; var href: String }
        struct Year { var year: String; var href: String; var current: Bool }
        var heading: String
        var definitions: [Definition]
        var chartTitle: String
        var svg: String?
        var year: String?
        var years: [Year]
        var totals: [Total]
        var readings: [Reading]
        var csvHref: String
    }

    /// A measure's page for one year (`year`, default the latest with readings that has begun,
    /// else the first with any: one nation's reading for 2999 made every reader of a UK
    /// measure land on that year, its chart empty): its chart,
    /// its totals and readings as tables (the chart's data as text), with links to the other
    /// years. Each corrected reading names the entry it replaced (one store read per row).
    /// With `log`, only that log's measure of the id (a nation's own measure: nations' plans
    /// may use the same id for different measures).
    static func measure(_ id: String, log: String? = nil, year requested: String?, _ q: ViewQueries, store: LedgerStore) throws -> Built {
        if let log, q.view.logs[log] == nil { throw NotFound("no log named \(log) in the view") }
        // The years with readings, from the view (the answer is computed for one year only).
        var yearSet = Set<Int>()
        // (Of the logs that count, `order`, unless one is asked for: a removed member's readings
        // set no year of a UK measure's page.)
        for name in log.map({ [$0] }) ?? q.order {
            guard let v = q.view.logs[name] else { continue }
            for m in v.measures.values where m.payload.id == id || (log == nil && m.payload.uk_measure == id) { yearSet.formUnion(m.readings.keys.map(\.year)) }
        }
        let years = yearSet.sorted()
        let thisYear = MeasureCharts.year(ofMillis: q.nowMillis)
        var year = years.last { $0 <= thisYear } ?? years.first
        if let requested {
            guard let p = Period(requested), p.granularity == .year else { throw NotFound("year: expected a year such as 2025, got \"\(requested)\"", status: .badRequest) }
            year = p.year
        }
        var answer: MeasureView
        do { answer = try q.measure(id, period: year.map(String.init)) } catch { throw NotFound(error.message) }
        if let log {
            answer.series = answer.series.filter { $0.log == log && $0.id == id }
            answer.totals = log == q.view.ukLog ? answer.totals : []
            guard !answer.series.isEmpty else { throw NotFound("log \(log) has no measure \(id)") }
        }
        // A UK measure is charted with its nations' contributions; a nation's own measure alone
        // (one mapped to a UK measure the UK log does not define too: its wording is the
        // nation's, and shown as the nation's).
        let key = log.map { $0 == q.view.ukLog ? id : "\($0):\(id)" }
            ?? (answer.series.contains { $0.log == q.view.ukLog } ? id : "\(answer.series[0].log):\(answer.series[0].id)")
        let chart = MeasureCharts(charts: [(key, answer)], ukLog: q.view.ukLog, nations: q.nations).chart(key)
        var latestReplaced: [EntryRef] = []
        for m in answer.series {
            for r in m.readings ?? [] {
                if let p = Period(r.period), let last = q.view.logs[m.log]?.measures[m.id]?.readings[p]?.superseded { latestReplaced.append(last) }
            }
        }
        let headers = try entryHeaders(latestReplaced, store: store)
        var readings: [MeasureBody.Reading] = []
        for m in answer.series {
            for r in m.readings ?? [] {
                var corrections: [String] = []
                if let p = Period(r.period), let reading = q.view.logs[m.log]?.measures[m.id]?.readings[p], let ref = reading.superseded {
                    let h = headers[ref]
                    corrections.append("corrected \(reading.replaced) time\(reading.replaced == 1 ? "" : "s"); replaces entry \(ref.log)/\(ref.index)"
                                       + (h.map { ", recorded \(ViewQueries.iso($0.timeMillis)) by \($0.author.isEmpty ? "(no author)" : $0.author)" } ?? ""))
                }
                // Admitted before the measure was redefined with another kind: not charted.
                if let kind = r.admittedAs { corrections.append("admitted as a \(kind), before the measure became a \(m.kind); not charted, nor in UK totals") }
                readings.append(MeasureBody.Reading(period: r.period, nation: ViewQueries.displayName(m.log), measure: m.id, value: readingText(r).replacingOccurrences(of: " (\(r.period))", with: ""),
                                                    note: r.note ?? "", corrections: corrections, href: figureHref(r.figure)))
            }
        }
        readings.sort { ($0.period, $0.nation) < ($1.period, $1.nation) }
        // Each total says what it adds and whom it lacks: a nation without a reading for the
        // period is not in it (a UK figure of three nations read as the UK's).
        let totals = answer.totals.map { t in
            let (added, none) = ViewQueries.parts(of: t.contributions, nations: q.nations)
            return MeasureBody.Total(period: t.period, value: ViewQueries.number(t.value), target: t.target.map(ViewQueries.number) ?? "",
                                     parts: added.map { "\(ViewQueries.displayName($0.log)) \(ViewQueries.number($0.value))" }.joined(separator: ", ")
                                         + (none.isEmpty ? "" : "; none from \(none.map(ViewQueries.displayName).joined(separator: ", "))"),
                                     entries: String(t.entries), href: figureHref(t.figure))
        }
        let definitions = answer.series.map { m in
            MeasureBody.Definition(nation: "\(ViewQueries.displayName(m.log)) \(m.id)", text: m.text, unit: m.unit,
                                   target: m.target.map { "\(ViewQueries.number($0.value)) per \($0.per)" + ($0.quote.map { " — “\($0)”" } ?? "") },
                                   // The UK measure's rule makes its totals (a nation's decides nothing).
                                   overTime: m.log == q.view.ukLog && m.overTime == OverTime.latest.rawValue
                                       ? "a level: each nation adds its latest period's reading to a year's or quarter's UK total, not the sum of its periods" : nil)
        }
        let shown = year.map(String.init) ?? ""
        let body = MeasureBody(heading: chart.title, definitions: definitions, chartTitle: chart.title, svg: chart.svg.isEmpty ? nil : chart.svg,
                               year: year.map(String.init), years: years.map { MeasureBody.Year(year: String($0), href: measureHref(id, log: log, year: $0), current: $0 == year) },
                               totals: totals, readings: readings, csvHref: "/v1/view/measures/\(path(id))?format=csv" + (log.map { "&log=\(path($0))" } ?? ""))
        let name = (log.map { ViewQueries.displayName($0) + " " } ?? "") + "measure \(id)"
        return (name.prefix(1).uppercased() + name.dropFirst() + (shown.isEmpty ? "" : ", \(shown)"),
                [home] + (log.map { [Crumb(name: ViewQueries.displayName($0), href: nationHref($0))] } ?? []) + [Crumb(name: "Measure \(id)")], "measure", body)
    }

    // MARK: How do we know?

    struct FigureBody {
        struct Checkpoint { var position: Int; var log: String; var size: String; var root: String; var vkey: String; var rotated: Bool; var pinned: String; var witnessed: String; var quorum: Bool }
        struct Entry { var position: Int; var log: String; var index: String; var type: String; var time: String; var author: String; var content: String }
        var figure: String
        var count: Int
        /// The value this node states for the figure (JSON), when the page recomputes it.
        var stated: String?
        /// How many of the figure's entries the answer left out, when it did.
        var omitted: String?
        var checkpoints: [Checkpoint]
        var entries: [Entry]
        /// The answer with the keys, as JSON safe inside a script element.
        var data: String
    }

    /// What the browser checks: the provenance answer and, per log, the verifier key.
    struct VerifyData: Encodable {
        struct Key: Encodable { var vkey: String; var pinned: String }
        /// A witness key (`name+hash+base64(0x04 || key)`) and the member it belongs to.
        struct Witness: Encodable { var member: String; var vkey: String }
        /// A log's witnesses and how many of them must cosign; `own`, the log's own node's
        /// witness, whose line (which a policy of every log counts) must verify if present but
        /// is not one of the log's witnesses.
        struct Witnesses: Encodable { var quorum: Int; var keys: [Witness]; var own: Witness? = nil }
        var figure: String
        /// The value this node states for the figure, as JSON text (`ViewQueries.statedValue`):
        /// the script sets it against the value it recomputes from the verified entries.
        var stated: String?
        /// How many of the figure's entries the answer left out (then it is not recomputed).
        var omitted: Int?
        /// The UK log, whose own measures are not among a UK total's nations.
        var ukLog: String
        /// Per log, how many of its entries this node's view had read when it stated the figure
        /// (the same snapshot): the whole-log check recomputes the figure from those entries,
        /// read up to a checkpoint that covers them, and says what any newer ones change.
        var folded: [String: UInt64]
        var entries: [ViewProvenance.Item]
        var checkpoints: [String: String]
        var keys: [String: Key]
        /// Per log signed by a key other than the pinned one: its rotation entries, each with
        /// its inclusion proof to the log's checkpoint on the page.
        var rotations: [String: [ViewProvenance.Item]]
        var witnesses: [String: Witnesses]
    }

    static func figure(_ answer: ViewProvenance, keys: [String: (vkey: String, pinned: String)],
                       witnesses: [String: VerifyData.Witnesses],
                       _ q: ViewQueries) throws -> Built {
        // In the order the script walks them (the JSON object's key order, which is sorted).
        let checkpoints = answer.checkpoints.keys.sorted().enumerated().map { position, log -> FigureBody.Checkpoint in
            let lines = answer.checkpoints[log]!.split(separator: "\n", omittingEmptySubsequences: false)
            let key = keys[log]
            let w = answer.witnessed?[log]
            let witnessed = w.map { "\($0.witnesses.count) of \($0.of)" + ($0.witnesses.isEmpty ? "" : ": " + $0.witnesses.map(ViewQueries.displayName).joined(separator: ", ")) }
                ?? "no witnesses listed"
            return FigureBody.Checkpoint(position: position, log: log, size: lines.count > 1 ? String(lines[1]) : "?", root: lines.count > 2 ? String(lines[2]) : "?",
                                         vkey: key?.vkey ?? "unknown", rotated: key.map { $0.vkey != $0.pinned } ?? false, pinned: key?.pinned ?? "",
                                         witnessed: witnessed, quorum: w?.quorum ?? false)
        }
        let entries = answer.entries.enumerated().map { i, item in
            let e = item.entry
            var content = "(payload not held here: a stub)"
            if e.payload != .null, let json = try? CompactJSONEncoder.encode(e.payload) {
                content = String(decoding: json.prefix(240), as: UTF8.self) + (json.count > 240 ? "…" : "")
            }
            return FigureBody.Entry(position: i, log: e.log, index: String(e.index), type: e.type, time: e.time, author: e.author, content: content)
        }
        let stated = q.statedValue(answer.figure)
        let data = VerifyData(figure: answer.figure, stated: stated, omitted: answer.omitted, ukLog: q.view.ukLog,
                              folded: q.view.logs.mapValues(\.size), entries: answer.entries, checkpoints: answer.checkpoints,
                              keys: keys.mapValues { VerifyData.Key(vkey: $0.vkey, pinned: $0.pinned) }, rotations: answer.rotations ?? [:], witnesses: witnesses)
        let body = FigureBody(figure: answer.figure, count: answer.entries.count, stated: stated, omitted: answer.omitted.map(String.init),
                              checkpoints: checkpoints, entries: entries,
                              data: scriptJSON(ViewEncoding.body(data)))
        return ("How do we know? \(answer.figure)", [home, Crumb(name: "How do we know? \(answer.figure)")], "figure", body)
    }

    /// JSON text made safe inside `<script type=application/json>`: no `<` can end the element
    /// or open a comment (a `<` only occurs inside JSON strings, where `\u003c` means the same).
    /// By byte: `<` is never part of a longer UTF-8 sequence, whereas a `Character` merges it
    /// with a combining mark after it (or a prepend mark before), and a Character-based
    /// replacement left such a `<` in place.
    static func scriptJSON(_ json: Data) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(json.count + 64)
        for byte in json {
            if byte == UInt8(ascii: "<") { out.append(contentsOf: Array("\\u003c".utf8)) } else { out.append(byte) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: Search

    struct SearchBody {
        struct Result { var label: String; var href: String; var detail: String }
        var query: String
        var searched: Bool
        var resultCount: String
        var results: [Result]
    }

    /// A query is at most this many bytes of UTF-8 (not characters: one character may carry
    /// thousands of combining marks) and at most `maxQueryWords` distinct words, each matched
    /// byte for byte after folding (`SearchIndex.folded`: lower case, compatibility form, no
    /// invisible characters), in linear time (`SearchIndex.contains`), against an index built once
    /// per view version (`SearchIndex`): a query costs at most its words times the titles'
    /// bytes whatever it holds.
    static let maxQueryBytes = 200, maxResults = 50, maxQueryWords = 16

    static func search(_ query: String?, index: SearchIndex) throws -> Built {
        let text = (query ?? "").trimmingCharacters(in: .whitespaces)
        guard text.utf8.count <= maxQueryBytes else {
            throw NotFound("search: at most \(maxQueryBytes) bytes of UTF-8, got \(text.utf8.count)", status: .badRequest)
        }
        var results: [SearchBody.Result] = []
        if !text.isEmpty {
            var seen = Set<[UInt8]>()
            let words = SearchIndex.folded(text).split(separator: UInt8(ascii: " ")).map(Array.init).filter { seen.insert($0).inserted }
            guard words.count <= maxQueryWords else {
                throw NotFound("search: at most \(maxQueryWords) different words, got \(words.count)", status: .badRequest)
            }
            results = index.matching(words, limit: maxResults).map { SearchBody.Result(label: $0.label, href: $0.href, detail: $0.detail) }
        }
        let count = results.count >= maxResults ? "The first \(maxResults) results" : "\(results.count) result\(results.count == 1 ? "" : "s")"
        let body = SearchBody(query: text, searched: !text.isEmpty, resultCount: count, results: results)
        return ("Search", [home, Crumb(name: "Search")], "search", body)
    }
}

/// What the search reads, built once per view version: each log's actions and measures in the
/// order the results show them (logs in the federation's order, ids in plan order), with the
/// lowercased bytes a query is matched against. Rebuilding it per request sorted and lowercased
/// every title each time, and the generic subsequence search was quadratic: one reader's query
/// over a log of long measure texts held a core for minutes.
struct SearchIndex: Sendable {
    struct Item: Sendable {
        let label: String
        let href: String
        let detail: String
        let hay: [UInt8]
    }

    let items: [Item]

    init(_ q: ViewQueries) {
        var items: [Item] = []
        for log in q.order {
            guard let v = q.view.logs[log] else { continue }
            for a in v.actions.values.sorted(by: { ViewQueries.idOrder($0.payload.id, $1.payload.id) }) {
                items.append(Item(label: "\(ViewQueries.displayName(log)) action \(a.payload.id)", href: WebPage.actionHref(log, a.payload.id), detail: a.payload.title,
                                  hay: Self.folded(a.payload.id + " " + a.payload.title)))
            }
            for m in v.measures.values.sorted(by: { ViewQueries.idOrder($0.payload.id, $1.payload.id) }) {
                items.append(Item(label: "\(ViewQueries.displayName(log)) measure \(m.payload.id)",
                                  href: WebPage.measureHref(m.payload.id, log: log == q.view.ukLog ? nil : log), detail: m.payload.text,
                                  hay: Self.folded(m.payload.id + " " + m.payload.text)))
            }
        }
        self.items = items
    }

    /// Text as searched, the index's and the query's alike: lower case, in its compatibility
    /// form, without invisible characters (a title written decomposed, "a" and a combining
    /// circumflex, is found by "â" typed; a word with a soft hyphen or a zero-width space put
    /// in it, by the word: finding 283). ASCII text is only lower-cased.
    static func folded(_ text: String) -> [UInt8] {
        if text.utf8.allSatisfy({ $0 < 0x80 }) { return Array(text.lowercased().utf8) }
        let scalars = text.precomposedStringWithCompatibilityMapping.lowercased().unicodeScalars.filter { !$0.properties.isDefaultIgnorableCodePoint }
        return Array(String(String.UnicodeScalarView(scalars)).utf8)
    }

    /// The first `limit` items whose bytes hold every one of `words`.
    func matching(_ words: [[UInt8]], limit: Int) -> [Item] {
        let needles = words.map(Needle.init)
        var out: [Item] = []
        for item in items where needles.allSatisfy({ $0.occurs(in: item.hay) }) {
            out.append(item)
            if out.count >= limit { break }
        }
        return out
    }

    /// Whether `needle` occurs in `hay`.
    static func contains(_ hay: [UInt8], _ needle: [UInt8]) -> Bool { Needle(needle).occurs(in: hay) }

    /// A word to find, with its Knuth–Morris–Pratt failure table made once per query: found in
    /// time linear in the bytes searched whatever they hold (a word is at most 200 bytes).
    struct Needle {
        let bytes: [UInt8]
        let failure: [Int]

        init(_ bytes: [UInt8]) {
            self.bytes = bytes
            var failure = [Int](repeating: 0, count: bytes.count)
            var k = 0
            for i in bytes.indices.dropFirst() {
                while k > 0 && bytes[i] != bytes[k] { k = failure[k - 1] }
                if bytes[i] == bytes[k] { k += 1 }
                failure[i] = k
            }
            self.failure = failure
        }

        func occurs(in hay: [UInt8]) -> Bool {
            guard !bytes.isEmpty else { return true }
            guard bytes.count <= hay.count else { return false }
            return Self.search(hay, bytes, failure)
        }

        private static func search(_ hay: [UInt8], _ needle: [UInt8], _ failure: [Int]) -> Bool {
            hay.withUnsafeBufferPointer { h in
                needle.withUnsafeBufferPointer { n in
                    var matched = 0
                    for byte in h {
                        while matched > 0 && byte != n[matched] { matched = failure[matched - 1] }
                        if byte == n[matched] {
                            matched += 1
                            if matched == n.count { return true }
                        }
                    }
                    return false
                }
            }
        }
    }
}
