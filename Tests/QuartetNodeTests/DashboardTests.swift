import Foundation
import QuartetAPI
@testable import QuartetNode
import Testing

/// The dashboard's SVG chart (pure) and its Mustache template.
@Suite struct BarChartTests {
    func rects(_ svg: String) -> [(y: Double, height: Double)] {
        let pattern = #/<rect x="[0-9.]+" y="([0-9.]+)" width="[0-9.]+" height="([0-9.]+)"/#
        return svg.matches(of: pattern).map { (Double($0.output.1)!, Double($0.output.2)!) }
    }

    /// Each year's column is one link, full height, when columns are wide enough to be a target;
    /// the chart is then a group of links, not an image.
    @Test func barsLinkToTheirYearWhenColumnsAreWideEnough() {
        let series = [BarChart.Series(name: "Wales", colour: "#c8102e", values: [3, 1])]
        let linked = BarChart(categories: ["2024", "2025"], series: series, stacked: true, target: nil,
                              links: ["/measures/P2.A2.M1?year=2024", "/measures/P2.A2.M1?year=2025\"><script>"]).svg()
        #expect(linked.contains("role=group") && !linked.contains("role=img"))
        #expect(linked.components(separatedBy: "<a href=").count - 1 == 2)
        #expect(linked.contains("aria-label=\"2025: Wales 1 — see the readings\""))
        #expect(!linked.contains("\"><script>") && linked.contains("&quot;&gt;&lt;script&gt;"))
        let many = (0..<40).map { String(2000 + $0) }
        let narrow = BarChart(categories: many, series: [BarChart.Series(name: "Wales", colour: "#c8102e", values: many.map { _ in 1 })], stacked: true, target: nil,
                              links: many.map { "/measures/X?year=\($0)" }).svg()
        #expect(narrow.contains("role=img") && !narrow.contains("<a href="), "columns under 24 px are not links")
    }

    @Test func barsScaleToARoundTopAboveTheTallestStackAndTheTarget() {
        let chart = BarChart(categories: ["2024", "2025"],
                             series: [.init(name: "Wales", colour: "#c8102e", values: [3, 10]), .init(name: "England", colour: "#b07d00", values: [nil, 20])],
                             stacked: true, target: 25)
        // Stacks of 3 and 30, target 25: 30 × 1.05 = 31.5, rounded up to 40.
        #expect(chart.maxValue == 40)
        let bars = rects(chart.svg())
        #expect(bars.count == 3, "no bar for a missing value")
        let plot = BarChart.plotHeight
        for (bar, value) in zip(bars, [3.0, 10, 20]) {
            #expect(abs(bar.height - plot * value / 40) < 0.11, "\(bar) for \(value)")
        }
        // Stacked: England's bar sits on Wales's in 2025.
        #expect(abs((bars[1].y) - (bars[2].y + bars[2].height)) < 0.11)
        #expect(chart.svg().contains("target 25"))
        // Side by side: not stacked, the top follows the tallest single bar.
        #expect(BarChart(categories: ["a"], series: [.init(name: "x", colour: "#000", values: [7]), .init(name: "y", colour: "#000", values: [9])],
                         stacked: false, target: nil).maxValue == 10)
    }

    @Test func niceCeilingsFallOnRoundNumbers() {
        #expect(BarChart.niceCeiling(0) == 1)
        #expect(BarChart.niceCeiling(1.5) == 2)
        #expect(BarChart.niceCeiling(31.5) == 40)
        #expect(BarChart.niceCeiling(450) == 500)
        #expect(BarChart.niceCeiling(8_100) == 10_000)
    }

    @Test func anEmptyChartIsAnEmptyPlotNotACrash() {
        for chart in [BarChart(categories: [], series: [], stacked: true, target: nil),
                      BarChart(categories: ["2025"], series: [.init(name: "Wales", colour: "#c8102e", values: [])], stacked: false, target: nil),
                      BarChart(categories: ["2025"], series: [.init(name: "Wales", colour: "#c8102e", values: [0])], stacked: false, target: nil)] {
            let svg = chart.svg()
            #expect(svg.hasPrefix("<svg") && svg.contains("</svg>"))
            #expect(rects(svg).isEmpty)
            #expect(!svg.contains("nan") && !svg.contains("inf"), "\(svg)")
        }
    }

    @Test func labelsAreEscapedByScalar() {
        let hostile = "\u{600}<script>alert(1)</script>"
        let chart = BarChart(categories: [hostile], series: [.init(name: "\"><img src=x>", colour: "red\" onload=\"x", values: [1])], stacked: false, target: nil)
        let svg = chart.svg()
        #expect(!svg.contains("<script") && !svg.contains("<img") && !svg.contains("\" onload"), "\(svg)")
        #expect(svg.contains("&lt;script&gt;"))
    }

    /// An entry's author or a peer's alert may hold bidirectional overrides and isolates (the
    /// header refuses only controls): shown as U+FFFD, so they cannot reorder the rest of the
    /// line (finding 212).
    @Test func bidirectionalOverridesAndIsolatesAreNotPassedToThePage() {
        let escaped = HTMLText.escape("operator-wales \u{202E}lanigiro\u{202C} \u{2067}x\u{2069} \u{9B}2J")
        #expect(!escaped.unicodeScalars.contains { (0x202A...0x202E).contains($0.value) || (0x2066...0x2069).contains($0.value) || $0.value == 0x9B }, "\(escaped)")
        #expect(escaped == "operator-wales \u{FFFD}lanigiro\u{FFFD} \u{FFFD}x\u{FFFD} \u{FFFD}2J")
    }
}

@Suite struct DashboardTemplateTests {
    func page(aggregateLabel: String, priorities: Bool, stale: Bool = false) -> Dashboard {
        let log = ViewLogSummary(log: "wales", name: "Wales", entries: 12, stubs: 0, unreadable: 0, actions: 2, measures: 1, verified: true,
                                 alerts: ["gap"], checkpoint: ViewCheckpointSummary(size: 12, root: "cm9vdA==", time: "2025-01-01T00:00:00.000Z", ageSeconds: 30),
                                 unreadableSamples: nil)
        let cell = ViewCell(actions: 2, reported: 1, progress: 0.5, colour: "blue", statuses: ["on-track": 1], figure: "cell:P2:wales", oldestAsOf: "2024-12-31",
                            stale: stale ? true : nil, newestUpdate: stale ? "2025-06-30" : nil)
        let priority = ViewPriority(id: "P2", title: "Grow <the> workforce", number: 2, goals: [], figure: "priority:P2",
                                    nations: ["wales": cell], ukActions: [], actions: [])
        let aggregate = ViewAggregate(figure: "aggregate:wales:9", log: "wales", index: 9, label: "workforce", agreement: "HEIW", dataset: "headcount",
                                      period: "2025", minCellSize: 10, method: .init(minCellSize: 10, rounding: 5, totals: "sums"),
                                      rows: .init(name: "board", labels: [aggregateLabel]), columns: .init(name: "band", labels: ["7"]),
                                      cells: [[nil]], rowTotals: [nil], columnTotals: [nil], grandTotal: nil, suppressed: .init(cells: 1))
        let whole = CombinedView(node: "uk", generatedAt: "2025-01-01T00:00:30.000Z", viewVersion: 1, logs: [log],
                                 priorities: priorities ? [priority] : [], totals: [], aggregates: [aggregate])
        let measure = MeasureView(measure: "P2.A2.M1", period: nil,
                                  series: [ViewMeasure(id: "P2.A2.M1", log: "uk", text: "Workshops", kind: "count", target: ViewTarget(value: 10, per: "year"))],
                                  totals: [ViewTotal(figure: "total:P2.A2.M1:2025", measure: "P2.A2.M1", period: "2025", year: 2025, value: 7,
                                                     contributions: ["wales": 7], entries: 1, target: 10, progress: 0.7)])
        return Dashboard(whole: whole, charts: [("P2.A2.M1", measure)], ukLog: "uk", nations: ["wales"], role: "aggregator",
                         viewer: "quartet://reader/<x>", alerts: [(Date(timeIntervalSince1970: 0), "gap", "wales <b>")])
    }

    @Test func thePageShowsTheTypedViewAndEscapesEveryLabel() {
        let html = page(aggregateLabel: "\u{600}<meta http-equiv=refresh content=0>", priorities: true).html()
        #expect(html.hasPrefix("<!doctype html>"))
        for needle in ["Priorities × nations", "Grow &lt;the&gt; workforce", "<b>50%</b> on track or done", "2 actions: 1 on-track; oldest update 2024-12-31", "✓ verified", "1 alert",
                       "UK measures with a target", "target 10", "UK total 2025: <b>7</b> of a target of 10 a year", "total:P2.A2.M1:2025",
                       "http-equiv=refresh", "<span title=suppressed>*</span>", "quartet://reader/&lt;x&gt;", "wales &lt;b&gt;"] {
            #expect(html.contains(needle), "\(needle)")
        }
        #expect(!html.contains("<meta http-equiv"), "a label became an element")
        #expect(html.components(separatedBy: "<svg").count - 1 == 1)
        #expect(!html.contains("<script") && !html.contains("{{"))
        // A cell two reporting quarters behind the newest status is tagged so.
        #expect(!html.contains(#"on track or done</a> <span class="pill stale""#))
        #expect(page(aggregateLabel: "x", priorities: true, stale: true).html().contains(#"on track or done</a> <span class="pill stale" title="its oldest update is two quarters or more behind the newest update of the matrix, as a second log bears it out: 2025-06-30">stale</span>"#))
    }

    /// A nation's reading for a far year (periods run to 2999) does not become the UK headline:
    /// the newest year that has begun does (a review found 2999's taking it).
    @Test func theHeadlineIsTheNewestYearThatHasBegun() {
        let series = [ViewMeasure(id: "P2.A2.M1", log: "uk", text: "Workshops", kind: "count", target: ViewTarget(value: 10, per: "year"))]
        func total(_ year: Int, _ value: Double) -> ViewTotal {
            ViewTotal(figure: "total:P2.A2.M1:\(year)", measure: "P2.A2.M1", period: "\(year)", year: year, value: value,
                      contributions: ["wales": value], entries: 1, target: 10, progress: value / 10)
        }
        let measure = MeasureView(measure: "P2.A2.M1", period: nil, series: series, totals: [total(2025, 7), total(2999, 1_000_000_000)])
        var charts = MeasureCharts(charts: [("P2.A2.M1", measure)], ukLog: "uk", nations: ["wales"])
        charts.thisYear = 2026
        #expect(charts.chart("P2.A2.M1").total?.year == 2025)
        let future = MeasureView(measure: "P2.A2.M1", period: nil, series: series, totals: [total(2999, 1)])
        var onlyFuture = MeasureCharts(charts: [("P2.A2.M1", future)], ukLog: "uk", nations: ["wales"])
        onlyFuture.thisYear = 2026
        #expect(onlyFuture.chart("P2.A2.M1").total == nil)
    }

    /// The headline is the newest year that has ended (one just begun holds whoever reported
    /// first, against a whole year's target), naming whose readings it sums; a year under way is
    /// said "so far". The UK log's own reading for the year is the UK figure, the nations' sum
    /// said beside it: one nation mapping a measure onto the UK's cannot replace it (a review).
    @Test func theHeadlineSaysWhoseFigureItIsAndNeverAYearJustBegunOverAnEndedOne() {
        func total(_ year: Int, _ contributions: [String: Double]) -> ViewTotal {
            let value = contributions.values.reduce(0, +)
            return ViewTotal(figure: "total:P2.A2.M1:\(year)", measure: "P2.A2.M1", period: "\(year)", year: year, value: value,
                             contributions: contributions, entries: contributions.count, target: 500, progress: value / 500)
        }
        let uk = ViewMeasure(id: "P2.A2.M1", log: "uk", text: "Graduates", kind: "count", target: ViewTarget(value: 500, per: "year"))
        let nations = ["wales", "england", "scotland"]
        var charts = MeasureCharts(charts: [("P2.A2.M1", MeasureView(measure: "P2.A2.M1", period: nil, series: [uk],
                                                                     totals: [total(2025, ["wales": 30, "england": 400, "scotland": 50]), total(2026, ["wales": 1])]))],
                                   ukLog: "uk", nations: nations)
        charts.thisYear = 2026
        let ended = charts.chart("P2.A2.M1").total
        #expect(ended?.year == 2025 && ended?.value == "480" && ended?.label == "UK total" && ended?.detail == " (the sum of Wales, England, Scotland's readings)", "\(String(describing: ended))")
        // Only the year under way: so far, and who has not reported.
        var early = MeasureCharts(charts: [("P2.A2.M1", MeasureView(measure: "P2.A2.M1", period: nil, series: [uk], totals: [total(2026, ["wales": 1])]))],
                                  ukLog: "uk", nations: nations)
        early.thisYear = 2026
        let soFar = early.chart("P2.A2.M1").total
        #expect(soFar?.period == "so far in 2026" && soFar?.detail == " (the sum of Wales's readings; none from England, Scotland)", "\(String(describing: soFar))")
        // The UK log's own reading of 420 for 2025, and Wales's 1 mapped onto it.
        var own = uk
        own.readings = [ViewReading(period: "2025", figure: "reading:uk:P2.A2.M1:2025", entry: ViewEntryPointer(log: "uk", index: 9), value: 420)]
        var mapped = MeasureCharts(charts: [("P2.A2.M1", MeasureView(measure: "P2.A2.M1", period: nil, series: [own], totals: [total(2025, ["wales": 1])]))],
                                   ukLog: "uk", nations: nations)
        mapped.thisYear = 2026
        let figure = mapped.chart("P2.A2.M1").total
        #expect(figure?.value == "420" && figure?.label == "UK figure" && figure?.figure == "reading:uk:P2.A2.M1:2025"
                && figure?.detail == " (the UK's own reading; the nations' readings add up to 1: Wales)", "\(String(describing: figure))")
        let html = Dashboard(whole: page(aggregateLabel: "x", priorities: false).whole, charts: [("P2.A2.M1", MeasureView(measure: "P2.A2.M1", period: nil, series: [own], totals: [total(2025, ["wales": 1])]))],
                             ukLog: "uk", nations: nations, role: "aggregator", viewer: "v", alerts: []).html()
        // (Escaped as every value the template writes: a nation's display name is the page's.)
        #expect(html.contains("UK figure 2025: <b>420</b> of a target of 500 a year (the UK&#39;s own reading; the nations&#39; readings add up to 1: Wales)"), "\(html)")
    }

    /// A UK measure's chart draws nation measures of its kind only, over the window's years, at
    /// most `maxPeriods` periods: one nation's count mapped to a UK percentage, its reading for
    /// 1990 or for every month set the scale or the width of everyone's bars.
    @Test func oneNationsReadingsDoNotSetAnotherNationsChart() {
        func reading(_ log: String, _ period: String, _ value: Double) -> ViewReading {
            ViewReading(period: period, figure: "reading:\(log):P2.A2.M3:\(period)", entry: ViewEntryPointer(log: log, index: 0), value: value)
        }
        let uk = ViewMeasure(id: "P2.A2.M3", log: "uk", text: "Share", kind: "percentage", target: ViewTarget(value: 100, per: "year"))
        let wales = ViewMeasure(id: "P2.A2.M3", log: "wales", text: "Share", kind: "percentage", ukMeasure: "P2.A2.M3",
                                readings: [reading("wales", "2025", 61), reading("wales", "1990", 99)])
        let scotland = ViewMeasure(id: "P2.A2.M3", log: "scotland", text: "Share", kind: "count", ukMeasure: "P2.A2.M3",
                                   readings: [reading("scotland", "2025", 1_000_000_000)])
        var charts = MeasureCharts(charts: [("P2.A2.M3", MeasureView(measure: "P2.A2.M3", period: nil, series: [uk, wales, scotland], totals: []))],
                                   ukLog: "uk", nations: ["wales", "scotland"])
        charts.thisYear = 2026
        let svg = charts.chart("P2.A2.M3").svg
        #expect(svg.contains("Wales 61") && !svg.contains("Scotland") && !svg.contains("1000000000") && !svg.contains("1990"), "\(svg)")
        // Every month of 2017–2026 from one nation: the newest 40 periods are drawn.
        let months = (2017...2026).flatMap { y in (1...12).map { reading("wales", String(format: "%d-%02d", y, $0), 50) } }
        var many = MeasureCharts(charts: [("P2.A2.M3", MeasureView(measure: "P2.A2.M3", period: nil, series: [uk, ViewMeasure(id: "P2.A2.M3", log: "wales", text: "Share", kind: "percentage", ukMeasure: "P2.A2.M3", readings: months)], totals: []))],
                                 ukLog: "uk", nations: ["wales"])
        many.thisYear = 2026
        many.thisMonth = 12
        let drawn = many.chart("P2.A2.M3").svg
        #expect(drawn.contains("2026-12") && drawn.contains("2023-09") && !drawn.contains("2023-08"), "the newest 40 months")
        // In March, April on has not begun; beside another nation's months, a nation's year stays.
        many.thisMonth = 3
        let march = many.chart("P2.A2.M3").svg
        #expect(march.contains("2026-03") && !march.contains("2026-04"))
        var mixed = MeasureCharts(charts: [("P2.A2.M3", MeasureView(measure: "P2.A2.M3", period: nil, series: [uk, wales,
                                  ViewMeasure(id: "P2.A2.M3", log: "scotland", text: "Share", kind: "percentage", ukMeasure: "P2.A2.M3", readings: months)], totals: []))],
                                  ukLog: "uk", nations: ["wales", "scotland"])
        mixed.thisYear = 2026
        mixed.thisMonth = 12
        let both = mixed.chart("P2.A2.M3").svg
        #expect(both.contains("Wales 61") && both.contains("2026-12") && !both.contains("2025-04"), "each series its newest 20 periods: Wales's year stays")
        // A count of 10^9 recorded before the measure became a percentage is not drawn.
        let redefined = ViewMeasure(id: "P2.A2.M3", log: "scotland", text: "Share", kind: "percentage", ukMeasure: "P2.A2.M3",
                                    readings: [reading("scotland", "2025", 1_000_000_000), reading("scotland", "2024", 40)])
        var afterRedefinition = MeasureCharts(charts: [("P2.A2.M3", MeasureView(measure: "P2.A2.M3", period: nil, series: [uk, wales, redefined], totals: []))],
                                              ukLog: "uk", nations: ["wales", "scotland"])
        afterRedefinition.thisYear = 2026
        let clamped = afterRedefinition.chart("P2.A2.M3").svg
        #expect(clamped.contains("Scotland 40") && !clamped.contains("1000000000") && !clamped.contains("1bn"), "\(clamped)")
        // A count of 45 admitted before: in the percentage range, yet no 45 % (the view says
        // which kind it was admitted under).
        var admittedAsCount = reading("scotland", "2023", 45)
        admittedAsCount.admittedAs = "count"
        let countThen = ViewMeasure(id: "P2.A2.M3", log: "scotland", text: "Share", kind: "percentage", ukMeasure: "P2.A2.M3",
                                    readings: [admittedAsCount, reading("scotland", "2024", 40)])
        var afterCount = MeasureCharts(charts: [("P2.A2.M3", MeasureView(measure: "P2.A2.M3", period: nil, series: [uk, wales, countThen], totals: []))],
                                       ukLog: "uk", nations: ["wales", "scotland"])
        afterCount.thisYear = 2026
        let drawnAfterCount = afterCount.chart("P2.A2.M3").svg
        #expect(drawnAfterCount.contains("Scotland 40") && !drawnAfterCount.contains("Scotland 45"), "\(drawnAfterCount)")
    }

    /// The overview draws the UK measures with a target; every other measure is a link to its
    /// page — a UK one among the shared, a nation's own among that nation's.
    @Test func theOverviewDrawsTargetedUKMeasuresAndLinksTheRest() {
        let base = page(aggregateLabel: "Cardiff", priorities: false)
        let untargeted = MeasureView(measure: "P2.A2.M2", period: nil,
                                     series: [ViewMeasure(id: "P2.A2.M2", log: "uk", text: "Placements <offered>", kind: "count")], totals: [])
        let own = MeasureView(measure: "W1.A1.M1", period: nil,
                              series: [ViewMeasure(id: "W1.A1.M1", log: "wales", text: "Welsh-medium posts", kind: "count", target: ViewTarget(value: 5, per: "year"))], totals: [])
        let dashboard = Dashboard(whole: base.whole, charts: base.charts + [("P2.A2.M2", untargeted), ("wales:W1.A1.M1", own)], ukLog: "uk", nations: ["wales"],
                                  role: "aggregator", viewer: "quartet://reader/x", alerts: [])
        let html = dashboard.html()
        // One chart (the targeted UK measure), however many measures are listed.
        #expect(html.components(separatedBy: "<svg").count - 1 == 1, "\(html)")
        #expect(html.contains("UK total 2025: <b>7</b>"))
        #expect(html.contains("<li><a href=\"/measures/P2.A2.M2\">P2.A2.M2 — Placements &lt;offered&gt;</a></li>"), "\(html)")
        // A nation's own measure, even with a target of its own, is a link in that nation's list.
        #expect(html.contains("Measures of one nation's own plan (1)"))
        #expect(html.contains("<a href=\"/measures/W1.A1.M1?log=wales\">Wales W1.A1.M1 — Welsh-medium posts</a>"), "\(html)")
    }

    @Test func anEmptyViewSaysSo() {
        let html = page(aggregateLabel: "Cardiff", priorities: false).html()
        #expect(html.contains("The UK plan has not reached this node yet."))
        #expect(html.contains("No countersigned agreement on the ledger."))
    }

    @Test func theSignInPageEscapesItsMessage() {
        let body = Dashboard.signInHTML(node: "wales", message: "\u{600}<b>bad</b>")
        #expect(body.contains("\u{600}&lt;b&gt;bad&lt;/b&gt;") && body.contains("<form method=post"))
    }
}
