import Mustache
@testable import QuartetNode
import Testing

/// The dashboard's values answer their template by name (`MustacheParent`, not reflection): every
/// stored property must be found under its own name, or the template would show nothing for it.
@Suite struct DashboardPageNamesTests {
    @Test func everyValueOfTheOverviewIsFoundByItsName() {
        let total = DashboardPage.Total(label: "UK total", year: 2025, value: "1", target: "t", detail: "d", figure: "f", figureHref: "/f", period: "2025")
        let chart = DashboardPage.Chart(title: "c", href: "/m", svg: "<svg/>", total: total, note: "n", textOnly: "x")
        let count = DashboardPage.Count(value: "3")
        let row = DashboardPage.AggregateRow(label: "l", cells: [count], total: count)
        let cell = DashboardPage.Cell(href: "/p", colour: "c", fill: "#fff", empty: false, percent: 5, detail: "d", stale: "s")
        let page = DashboardPage(
            title: "t", node: "uk", role: "aggregator", generatedAt: "now", viewer: "v",
            badges: [.init(name: "Wales", href: "/n", colour: "#c", counts: "1", verified: true, freshness: "fresh",
                           checkpointAge: "1 s", alertCount: "1 alert", checkpoint: "cp",
                           witnessed: "witnessed by 3 of 4", witnessQuorum: true)],
            columns: ["Wales"], rows: [.init(id: "P1", href: "/p", title: "t", cells: [cell])], columnCount: 2,
            legend: [.init(name: "on track", colour: "#0f0")], targetedCharts: [chart], sharedCharts: [chart],
            localCharts: [chart], localCount: 1,
            agreements: [.init(id: "a", owner: "o", ownerHref: "/o", holder: "h", labels: "l", recipients: "r",
                               validFrom: "f", validUntil: "u", status: "s", pill: "ok")],
            ignoredAgreements: "i",
            aggregates: [.init(caption: "c", columns: ["x"], rows: [row], hidden: "h", minimum: "5", rounding: "5", figure: "f")],
            alerts: [.init(time: "t", kind: "k", message: "m")])
        everyPropertyIsNamed(page)
        everyPropertyIsNamed(page.badges[0])
        everyPropertyIsNamed(page.rows[0])
        everyPropertyIsNamed(cell)
        everyPropertyIsNamed(page.legend[0])
        everyPropertyIsNamed(chart)
        everyPropertyIsNamed(total)
        everyPropertyIsNamed(page.agreements[0])
        everyPropertyIsNamed(count)
        everyPropertyIsNamed(row)
        everyPropertyIsNamed(page.aggregates[0])
        everyPropertyIsNamed(page.alerts[0])
    }
}

/// Every stored property of `value` (all set) is answered under its name.
func everyPropertyIsNamed(_ value: some MustacheParent, sourceLocation: SourceLocation = #_sourceLocation) {
    let labels = Mirror(reflecting: value).children.compactMap(\.label)
    #expect(!labels.isEmpty, sourceLocation: sourceLocation)
    for label in labels {
        #expect(value.child(named: label) != nil, "\(type(of: value)).\(label) is not answered by name", sourceLocation: sourceLocation)
    }
    #expect(value.child(named: "noSuchName") == nil, sourceLocation: sourceLocation)
}

/// The same for the web pages read most (WebPage+Mustache.swift).
@Suite struct WebPageNamesTests {
    @Test func everyValueOfTheFrameAMeasureAndAFigureIsFoundByItsName() {
        let crumb = WebPage.Crumb(name: "UK", href: "/")
        everyPropertyIsNamed(crumb)
        everyPropertyIsNamed(WebPage.Frame.Page(title: "t", node: "uk", viewer: "v", breadcrumbs: [crumb], script: true, body: "b"))
        let definition = WebPage.MeasureBody.Definition(nation: "n", text: "t", unit: "u", target: "t", overTime: "o")
        let total = WebPage.MeasureBody.Total(period: "2025", value: "1", target: "2", parts: "p", entries: "3", href: "/f")
        let reading = WebPage.MeasureBody.Reading(period: "2025", nation: "n", measure: "m", value: "v", note: "n", corrections: ["c"], href: "/f")
        let year = WebPage.MeasureBody.Year(year: "2025", href: "/m", current: true)
        everyPropertyIsNamed(definition)
        everyPropertyIsNamed(total)
        everyPropertyIsNamed(reading)
        everyPropertyIsNamed(year)
        everyPropertyIsNamed(WebPage.MeasureBody(heading: "h", definitions: [definition], chartTitle: "c", svg: "<svg/>", year: "2025", years: [year],
                                  totals: [total], readings: [reading], csvHref: "/c"))
        let checkpoint = WebPage.FigureBody.Checkpoint(position: 1, log: "wales", size: "1", root: "r", vkey: "k", rotated: false, pinned: "p",
                                                       witnessed: "3 of 4", quorum: true)
        let entry = WebPage.FigureBody.Entry(position: 1, log: "wales", index: "0", type: "t", time: "t", author: "a", content: "c")
        everyPropertyIsNamed(checkpoint)
        everyPropertyIsNamed(entry)
        everyPropertyIsNamed(WebPage.FigureBody(figure: "f", count: 1, stated: "45", omitted: "3", checkpoints: [checkpoint], entries: [entry], data: "{}"))
    }
}
