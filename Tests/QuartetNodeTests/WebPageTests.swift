import Foundation
import QuartetAPI
@testable import QuartetNode
import QuartetPlan
import QuartetTestKit
import Testing

/// The web pages rendered from a view without a node: what entries say is shown as text, the
/// measure page's table carries the chart's data and the corrections, the provenance data
/// cannot end its script element, and search is bounded.
@Suite struct WebPageTests {
    static let plans = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("config/plans").path
    static let hostile = "<script>alert(1)</script>\u{0600}<img src=x onerror=alert(2)>"

    /// The UK plan at uk, two status updates of P1.A1 (one with a hostile note) and a reading of
    /// P2.A2.M1 for 2025 recorded, then corrected.
    static func queries() throws -> ViewQueries {
        var view = StrategyView(ukLog: "uk", logs: ["uk", "wales"])
        var index: UInt64 = 0
        func apply(_ type: String, _ payload: [UInt8]) throws {
            try view.apply(ViewEntry(log: "uk", index: index, timeMillis: 1_767_225_600_000 + index, type: type, payload: payload))
            index += 1
        }
        for e in try PlanImport(planFile: "\(plans)/uk-plan.yaml").entries(for: "uk") { try apply(e.type.rawValue, e.payload.encoded()) }
        try apply("progress.status", Array(#"{"action":"P1.A1","as_of":"2025-03-31","status":"at-risk"}"#.utf8))
        let note = String(decoding: try JSONEncoder().encode(hostile), as: UTF8.self)
        try apply("progress.status", Array(#"{"action":"P1.A1","as_of":"2025-06-30","status":"on-track","note":\#(note)}"#.utf8))
        try apply("progress.reading", Array(#"{"measure":"P2.A2.M1","period":"2025","value":3}"#.utf8))
        try apply("progress.reading", Array(#"{"measure":"P2.A2.M1","period":"2025","value":4,"note":"corrected"}"#.utf8))
        // The Wales plan, whose own P2.A2.M1 is another measure than the UK's.
        var walesIndex: UInt64 = 0
        for e in try PlanImport(planFile: "\(plans)/wales-plan.yaml").entries(for: "wales") {
            try view.apply(ViewEntry(log: "wales", index: walesIndex, timeMillis: 1_767_225_600_000, type: e.type.rawValue, payload: e.payload.encoded()))
            walesIndex += 1
        }
        return ViewQueries(view: view, health: [:], nowMillis: 1_767_225_700_000, order: ["uk", "wales"])
    }

    static func render(_ built: WebPage.Built) -> String {
        WebPage.Frame(node: "uk", viewer: "quartet://reader/\(hostile)").render(built.template, title: built.title, crumbs: built.crumbs, script: false, body: built.body)
    }

    @Test func theActionPageShowsItsStatusHistoryAsText() throws {
        let html = Self.render(try WebPage.action("P1.A1", log: "uk", try Self.queries(), store: try TestKit.makeStore()))
        #expect(html.contains("<ol class=timeline>"))
        #expect(html.components(separatedBy: "<li><span class=\"tag tag-").count - 1 == 2, "two status updates, newest first")
        #expect(html.range(of: "on-track")!.lowerBound < html.range(of: "at-risk")!.lowerBound)
        #expect(!html.contains("<script>alert") && !html.contains("<img src=x"))
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(html.contains("href=\"/figures/status:uk:P1.A1\""))
        #expect(html.contains("aria-label=\"Breadcrumb\"") && html.contains("href=\"/nations/uk\""))
    }

    @Test func theMeasurePagesTableHasTheChartsDataAndTheCorrection() throws {
        let html = Self.render(try WebPage.measure("P2.A2.M1", year: nil, try Self.queries(), store: try TestKit.makeStore()))
        #expect(html.contains("<table class=data id=readings>") && html.contains("<caption>Readings per period per nation, 2025</caption>"))
        #expect(html.contains("<td>2025</td><td>UK</td><td>P2.A2.M1</td><td>4</td><td>corrected</td>"))
        #expect(html.contains("corrected 1 time; replaces entry uk/"), "the superseded reading is named")
        #expect(html.contains("href=\"/figures/reading:uk:P2.A2.M1:2025\""))
        #expect(html.contains("href=\"/v1/view/measures/P2.A2.M1?format=csv\""))
        #expect(throws: WebPage.NotFound.self) { try WebPage.measure("P9.A9.M9", year: nil, try Self.queries(), store: try TestKit.makeStore()) }
        let bad = #expect(throws: WebPage.NotFound.self) { try WebPage.measure("P2.A2.M1", year: "2025-Q1", try Self.queries(), store: try TestKit.makeStore()) }
        #expect(bad?.status == .badRequest)
        let empty = Self.render(try WebPage.measure("P2.A2.M1", year: "2024", try Self.queries(), store: try TestKit.makeStore()))
        #expect(empty.contains("No readings yet.") && empty.contains("href=\"/measures/P2.A2.M1?year=2025\""))
        // A level says how its years are made; a count that sums says nothing.
        #expect(!html.contains("<dt>Over time</dt>"))
        let level = Self.render(try WebPage.measure("P1.A1.M1", year: nil, try Self.queries(), store: try TestKit.makeStore()))
        let said = "<dt>Over time</dt><dd>a level: each nation adds its latest period&#39;s reading to a year&#39;s or quarter&#39;s UK total, not the sum of its periods</dd>"
        #expect(level.contains(said) || level.contains(said.replacingOccurrences(of: "&#39;", with: "&#x27;")), "\(level)")
        // Only under the UK's definition, whose rule makes the totals (Wales's own says nothing).
        #expect(level.contains("<dt>Wales P1.A1.M1</dt>") && level.components(separatedBy: "<dt>Over time</dt>").count == 2, "\(level)")
    }

    /// A reading for a far year (periods run to 2999) does not become the page a reader of the
    /// measure lands on: the newest year with readings that has begun does (a review found
    /// 2999's taking it, its chart empty); a measure with only future readings shows the first.
    @Test func theMeasurePageOpensOnTheNewestYearThatHasBegun() throws {
        let q = try Self.queries()
        var view = q.view
        try view.apply(ViewEntry(log: "uk", index: view.logs["uk"]!.size, timeMillis: 1_767_225_600_000, type: "progress.reading",
                                 payload: Array(#"{"measure":"P2.A2.M1","period":"2999","value":1000000000}"#.utf8)))
        let later = ViewQueries(view: view, health: [:], nowMillis: q.nowMillis, order: ["uk", "wales"])
        let html = Self.render(try WebPage.measure("P2.A2.M1", year: nil, later, store: try TestKit.makeStore()))
        #expect(html.contains("<caption>Readings per period per nation, 2025</caption>"), "the page opens on 2025, not 2999")
        #expect(html.contains("href=\"/measures/P2.A2.M1?year=2999\""), "the far year is still a link")
        let early = ViewQueries(view: view, health: [:], nowMillis: 1_700_000_000_000, order: ["uk", "wales"])
        #expect(Self.render(try WebPage.measure("P2.A2.M1", year: nil, early, store: try TestKit.makeStore())).contains("<caption>Readings per period per nation, 2025</caption>"),
                "with no year begun yet, the first")
    }

    /// Nations' plans reuse ids for other measures: `?log=` shows only that log's.
    /// A member the federation removed: its page is still served, and says it counts in no UK
    /// figure (finding 234).
    @Test func aRemovedMembersPageSaysItIsNoLongerAMember() throws {
        var view = try Self.queries().view
        #expect(!Self.render(try WebPage.nation("wales", try Self.queries())).contains("no longer a member"))
        view.countOnly(["uk"])
        let q = ViewQueries(view: view, health: [:], nowMillis: 1_767_225_700_000, order: ["uk", "wales"])
        #expect(Self.render(try WebPage.nation("wales", q)).contains("Wales (no longer a member: counts in no UK figure): plan and progress"))
        #expect(!Self.render(try WebPage.nation("uk", q)).contains("no longer a member"))
    }

    /// A priority's page leads with the UK plan's actions and the nations' actions serving each
    /// (it listed the nations' actions only); a withdrawn action says so where it is listed (it
    /// showed "not reported", as if still in the plan); a UK total says whom it adds and whom
    /// it lacks (read as the UK's, a total of one nation's readings).
    @Test func pagesShowTheUKPlanWithdrawalsAndWhomATotalLacks() throws {
        var view = try Self.queries().view
        let size = view.logs["wales"]!.size
        try view.apply(ViewEntry(log: "wales", index: size, timeMillis: 1_767_225_600_000, type: "plan.action.withdrawn",
                                 payload: Array(#"{"id":"P2.A1","reason":"merged","as_of":"2025-06-30"}"#.utf8)))
        try view.apply(ViewEntry(log: "wales", index: size + 1, timeMillis: 1_767_225_600_000, type: "progress.reading",
                                 payload: Array(#"{"measure":"P2.A4.M1","period":"2025","value":4}"#.utf8)))
        try view.apply(ViewEntry(log: "uk", index: view.logs["uk"]!.size, timeMillis: 1_767_225_600_000, type: "plan.action.withdrawn",
                                 payload: Array(#"{"id":"P2.A7","reason":"merged","as_of":"2025-09-30"}"#.utf8)))
        let q = ViewQueries(view: view, health: [:], nowMillis: 1_767_225_700_000, order: ["uk", "wales", "england"])
        // A withdrawn UK action says so in the answer and on the page.
        #expect(try #require(q.priority("P2")).ukActions.first { $0.id == "P2.A7" }?.withdrawn == ViewWithdrawal(reason: "merged", asOf: "2025-09-30"))
        #expect(try #require(q.priority("P2")).ukActions.first { $0.id == "P2.A6" }.map { $0.withdrawn == nil } == true)
        let priority = Self.render(try WebPage.priority("P2", q))
        let withdrawnRow = priority.components(separatedBy: "<tr>").first { $0.contains("<td><a href=\"/nations/uk/actions/P2.A7\">P2.A7</a></td>") }
        #expect(withdrawnRow?.contains("<span class=\"tag tag-grey\">withdrawn</span>") == true, "\(withdrawnRow ?? "no row")")
        #expect(priority.contains("<table class=data id=uk-plan>"))
        let ukPlan = try #require(priority.range(of: "id=uk-plan>")).lowerBound, walesTable = try #require(priority.range(of: "id=\"nation-wales\"")).lowerBound
        #expect(ukPlan < walesTable, "the UK plan first")
        #expect(priority.contains("<td><a href=\"/nations/uk/actions/P2.A6\">P2.A6</a></td>"))
        #expect(priority.contains("<a href=\"/nations/wales/actions/P2.A4\">Wales P2.A4</a>"), "Wales P2.A4 serves UK P2.A6")
        #expect(priority.contains("<td><a href=\"/nations/wales/actions/P2.A1\">P2.A1</a></td>") && priority.contains(">withdrawn</span></td><td>2025-06-30</td>"))
        let nation = Self.render(try WebPage.nation("wales", q))
        #expect(nation.contains("<span class=\"tag tag-grey\">withdrawn</span></td><td>2025-06-30</td>"))
        let measure = Self.render(try WebPage.measure("P2.A6.M1", year: nil, q, store: try TestKit.makeStore()))
        #expect(measure.contains("<td>Wales 4; none from England</td>"), "\(measure)")
        // A UK action served by many nations' actions names the first few; its page has them all.
        var many = view
        for n in 1...(WebPage.servedShown + 5) {
            try many.apply(ViewEntry(log: "wales", index: many.logs["wales"]!.size, timeMillis: 1_767_225_600_000, type: "plan.action",
                                     payload: Array(#"{"id":"P2.A\#(100 + n)","priority":"P2","statements":["s"],"uk_actions":["P2.A6"]}"#.utf8)))
        }
        let crowded = Self.render(try WebPage.priority("P2", ViewQueries(view: many, health: [:], nowMillis: 1_767_225_700_000, order: ["uk", "wales"])))
        let row = try #require(crowded.components(separatedBy: "<tr>").first { $0.contains("<td><a href=\"/nations/uk/actions/P2.A6\">P2.A6</a></td>") })
        #expect(row.components(separatedBy: "<a href=\"/nations/wales/actions/").count - 1 == WebPage.servedShown, "\(row)")
        #expect(row.contains("and 6 more (on the UK action&#39;s page)") || row.contains("and 6 more (on the UK action&#x27;s page)"), "\(row)")
        // That page lists them, up to `mappedShown` (a log may hold thousands).
        let action = Self.render(try WebPage.action("P2.A6", log: "uk", ViewQueries(view: many, health: [:], nowMillis: 1_767_225_700_000, order: ["uk", "wales"]), store: try TestKit.makeStore()))
        #expect(action.components(separatedBy: "<a href=\"/nations/wales/actions/").count - 1 == WebPage.servedShown + 5 + 1, "the 25 made here and Wales P2.A4")
        #expect(!action.contains("names them all"))
        for n in 1...WebPage.mappedShown {
            try many.apply(ViewEntry(log: "wales", index: many.logs["wales"]!.size, timeMillis: 1_767_225_600_000, type: "plan.action",
                                     payload: Array(#"{"id":"P2.A\#(200 + n)","priority":"P2","statements":["s"],"uk_actions":["P2.A6"]}"#.utf8)))
        }
        let crowdedAction = Self.render(try WebPage.action("P2.A6", log: "uk", ViewQueries(view: many, health: [:], nowMillis: 1_767_225_700_000, order: ["uk", "wales"]), store: try TestKit.makeStore()))
        #expect(crowdedAction.components(separatedBy: "<a href=\"/nations/wales/actions/").count - 1 == WebPage.mappedShown)
        #expect(crowdedAction.contains("The first 200 of 226; GET /v1/view/priorities/P2 names them all."), "\(crowdedAction.suffix(2000))")
        // A UK action no nation's live action serves says so (Wales's P2.A1 was withdrawn above).
        let unserved = try #require(q.priority("P2")).ukActions.filter { $0.nations.isEmpty }.map(\.id)
        #expect(!unserved.isEmpty)
        for id in unserved {
            let row = priority.components(separatedBy: "<tr>").first { $0.contains("<td><a href=\"/nations/uk/actions/\(id)\">\(id)</a></td>") }
            #expect(row?.contains(">none yet</td>") == true, "\(id): \(row ?? "no row")")
        }
    }

    @Test func aNationsOwnMeasureHasItsOwnPage() throws {
        let q = try Self.queries()
        let wales = try #require(q.view.logs["wales"]?.measures["P2.A2.M1"]?.payload)
        #expect(wales.text != q.view.logs["uk"]?.measures["P2.A2.M1"]?.payload.text)
        let html = Self.render(try WebPage.measure("P2.A2.M1", log: "wales", year: nil, q, store: try TestKit.makeStore()))
        #expect(html.contains(HTMLText.escape(wales.text)) && html.contains("Wales P2.A2.M1"))
        #expect(!html.contains("UK P2.A2.M1"), "only the log asked for")
        #expect(html.contains("href=\"/nations/wales\""), "the breadcrumbs go through the nation")
        #expect(throws: WebPage.NotFound.self) { try WebPage.measure("P2.A2.M1", log: "nowhere", year: nil, q, store: try TestKit.makeStore()) }
        #expect(WebPage.measureHref("P2.A2.M1", log: "wales", year: 2025) == "/measures/P2.A2.M1?log=wales&year=2025")
    }

    @Test func provenanceDataCannotEndItsScriptElement() throws {
        // Also a `<` merged into one Character with a mark before (U+0600) or after (U+0338).
        let note = "</script><script>alert(1)</script><!--\u{600}<\u{338}/script>a<\u{20D2}!--"
        let json = try JSONSerialization.data(withJSONObject: ["note": note])
        let safe = WebPage.scriptJSON(json)
        #expect(!safe.unicodeScalars.contains("<"), "no < scalar at all")
        let back = try JSONSerialization.jsonObject(with: Data(safe.utf8)) as? [String: String]
        #expect(back?["note"] == note, "the same JSON once parsed")
    }

    /// Finding 283: the index and the query are folded alike (compatibility form, lower case,
    /// no invisible characters): a decomposed title is found by the composed word, a word with a
    /// soft hyphen or a zero-width space in it by the plain word, full-width letters by ASCII.
    @Test func searchFoldsTheIndexAndTheQueryAlike() throws {
        func finds(_ hay: String, _ word: String) -> Bool { SearchIndex.contains(SearchIndex.folded(hay), SearchIndex.folded(word)) }
        #expect(finds("Gwa\u{0302}ith teg", "gwâith"))
        #expect(finds("Gwâith teg", "GWA\u{0302}ITH"))
        #expect(finds("the work\u{00AD}force plan", "workforce"))
        #expect(finds("the work\u{200B}force plan", "Workforce"))
        #expect(finds("ＯＴ staff", "ot"))
        #expect(!finds("the workforce plan", "workshop"))
    }

    @Test func searchFindsByWordsAndIsBounded() throws {
        let q = try Self.queries()
        let index = SearchIndex(q)
        let found = try WebPage.search("workforce reform", index: index)
        let html = Self.render(found)
        #expect(html.contains("href=\"/measures/P2.A2.M1\""), "the workshops measure's text has both words")
        // A nation's measure mapped to a UK measure links to its own page: its id alone is the
        // UK's measure of that id, another one (Wales P2.A4.M1 adds into UK P2.A6.M1).
        let wales = try #require(index.items.first { $0.label == "Wales measure P2.A4.M1" })
        #expect(wales.href == "/measures/P2.A4.M1?log=wales", "\(wales.href)")
        let none = Self.render(try WebPage.search("zzzz-no-such-thing", index: index))
        #expect(none.contains("0 results"))
        let long = #expect(throws: WebPage.NotFound.self) { try WebPage.search(String(repeating: "a", count: WebPage.maxQueryBytes + 1), index: index) }
        #expect(long?.status == .badRequest)
        // One character of 40,000 combining marks is refused by its bytes, not let through as
        // one character (each comparison of it would normalise the whole cluster).
        let marks = #expect(throws: WebPage.NotFound.self) { try WebPage.search("a" + String(repeating: "\u{301}", count: 40_000), index: index) }
        #expect(marks?.status == .badRequest)
        // Up to the bound it is matched byte for byte: a word with a mark finds nothing.
        let marked = Self.render(try WebPage.search("workforce" + String(repeating: "\u{301}", count: 90), index: index))
        #expect(marked.contains("0 results"))
        let html2 = Self.render(try WebPage.search(Self.hostile, index: index))
        #expect(!html2.contains("<script>alert") && html2.contains("value=\"&lt;script&gt;"))
        // At most 16 different words (a word given twice counts once): each word is a pass over
        // every title (finding 214).
        let words = (1...17).map { "w\($0)" }.joined(separator: " ")
        let many = #expect(throws: WebPage.NotFound.self) { try WebPage.search(words, index: index) }
        #expect(many?.status == .badRequest)
        #expect(Self.render(try WebPage.search(Array(repeating: "workforce", count: 20).joined(separator: " "), index: index)).contains("/measures/P2.A2.M1"))
    }

    /// The search's matching: a word anywhere in the bytes, in linear time whatever the bytes
    /// (the generic search it replaced was quadratic on "aaa…ab" in "aaa…a").
    @Test func searchMatchesWordsAnywhereInTheBytes() {
        let hay = Array(String(repeating: "a", count: 4000).utf8)
        #expect(SearchIndex.contains(hay, Array("aaa".utf8)))
        #expect(!SearchIndex.contains(hay, Array((String(repeating: "a", count: 199) + "b").utf8)))
        #expect(SearchIndex.contains(Array("p1.a1 workforce reform".utf8), Array("reform".utf8)))
        #expect(SearchIndex.contains(Array("x".utf8), []))
        #expect(!SearchIndex.contains(Array("ab".utf8), Array("abc".utf8)))
    }
}
