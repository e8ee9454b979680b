import Foundation
import QuartetAPI
import QuartetPlan
import QuartetStore

/// The charts of measures, shared by the dashboard and the measure pages: per charted measure
/// (a UK measure id, or `<log>:<id>` for a nation's own) its answer, drawn as a `BarChart`.
struct MeasureCharts {
    let charts: [(key: String, answer: MeasureView)]
    let ukLog: String
    let nations: [String]
    /// The year now (UTC): a headline is never of a later one.
    var thisYear: Int = Self.year(ofMillis: wallClockMillis())
    /// The month now (UTC, 1–12): no period that has not begun is drawn.
    var thisMonth: Int = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar.component(.month, from: Date())
    }()

    /// The UTC year of a time in milliseconds since 1970.
    static func year(ofMillis millis: UInt64) -> Int {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar.component(.year, from: Date(timeIntervalSince1970: Double(millis) / 1000))
    }

    /// A chart shows the `chartedYears` years up to this one: a reading or total for a year
    /// long past (periods run from 1900) or not begun set the scale for the real ones. Every
    /// period stays on the measure's page, in its table.
    static let chartedYears = 10
    /// At most this many periods are drawn (the newest).
    static let maxPeriods = 40

    func charted(_ year: Int) -> Bool { year <= thisYear && year > thisYear - Self.chartedYears }

    /// A period of the window that has begun (a month or quarter later this year has not).
    func charted(_ period: Period) -> Bool {
        guard charted(period.year) else { return false }
        guard period.year == thisYear else { return true }
        switch period.granularity {
        case .year: return true
        case .quarter: return (period.number - 1) * 3 + 1 <= thisMonth
        case .month: return period.number <= thisMonth
        }
    }

    func lookup(_ key: String) -> (log: String?, id: String, answer: MeasureView)? {
        guard let found = charts.first(where: { $0.key == key }) else { return nil }
        let parts = key.split(separator: ":").map(String.init)
        return parts.count == 2 ? (parts[0], parts[1], found.answer) : (nil, key, found.answer)
    }

    /// The measure a chart is titled by: the UK's (or the nation's own), else the first nation
    /// measure that adds up into it.
    func chartDefinition(_ key: String) -> ViewMeasure? {
        guard let (log, id, answer) = lookup(key) else { return nil }
        return answer.series.first { $0.log == (log ?? ukLog) && $0.id == id } ?? answer.series.first { $0.log != ukLog && $0.ukMeasure == id }
    }

    /// The UK headline under a summed measure's chart: the newest year that has ended (a year
    /// just begun holds whichever nations reported first, set against a whole year's target),
    /// else the one under way, said "so far"; never a year not begun (a reading for 2999 would
    /// stand as the UK's figure). Where the UK log records its own figure for the year, that is
    /// the headline and the nations' sum is said beside it (one nation mapping a measure onto
    /// the UK's must not replace the UK's own figure with its part); else the nations' sum,
    /// naming who it adds up and who did not report.
    func headline(_ id: String, totals: [ViewTotal], answer: MeasureView, target: Double?) -> DashboardPage.Total? {
        let own = (answer.series.first { $0.log == ukLog && $0.id == id }?.readings ?? []).filter { r in
            r.admittedAs == nil && r.value != nil && Period(r.period)?.granularity == .year
        }
        let candidates = Set(totals.map(\.year) + own.compactMap { Period($0.period)?.year }).filter { $0 <= thisYear }
        guard let year = candidates.filter({ $0 < thisYear }).max() ?? candidates.max() else { return nil }
        let sum = totals.first { $0.year == year }
        let parts = ViewQueries.parts(of: sum?.contributions ?? [:], nations: nations)
        let reported = parts.added.map { ViewQueries.displayName($0.log) }, silent = parts.none.map(ViewQueries.displayName)
        let targetText = target.map { " of a target of \(ViewQueries.number($0)) a year" } ?? ""
        let label = year == thisYear ? "so far in \(year)" : String(year)
        if let mine = own.first(where: { $0.period == String(year) }), let value = mine.value {
            return DashboardPage.Total(label: "UK figure", year: year, value: ViewQueries.number(value), target: targetText,
                                       detail: sum.map { " (the UK's own reading; the nations' readings add up to \(ViewQueries.number($0.value)): \(reported.joined(separator: ", ")))" }
                                           ?? " (the UK's own reading)",
                                       figure: mine.figure, figureHref: WebPage.figureHref(mine.figure), period: label)
        }
        guard let sum else { return nil }
        return DashboardPage.Total(label: "UK total", year: year, value: ViewQueries.number(sum.value), target: targetText,
                                   detail: " (the sum of \(reported.joined(separator: ", "))'s readings" + (silent.isEmpty ? "" : "; none from \(silent.joined(separator: ", "))") + ")",
                                   figure: sum.figure, figureHref: WebPage.figureHref(sum.figure), period: label)
    }

    /// A chart for one measure: the UK total per year against the target when it is a summed
    /// count, else each log's readings per period.
    func chart(_ key: String) -> DashboardPage.Chart {
        guard let (onlyLog, id, answer) = lookup(key) else { return DashboardPage.Chart(title: key, svg: "", total: nil, note: nil) }
        let definition = chartDefinition(key)
        var title = "\(onlyLog.map { ViewQueries.displayName($0) + " " } ?? "")\(id)"
        if let definition {
            // Worded by a nation for a UK measure: said to be its wording, never the UK's.
            title += " — " + definition.text + (definition.log == (onlyLog ?? ukLog) ? "" : " (\(ViewQueries.displayName(definition.log))'s wording)")
        }
        // The years of the window (`charted`): a far year's total (periods run from 1900 to
        // 2999) would set the scale and flatten the real ones (it stays on the measure's page,
        // in the list of totals).
        let yearly = answer.totals.filter { !$0.period.contains("-") && charted($0.year) }.sorted { $0.year < $1.year }
        let years = answer.totals.filter { !$0.period.contains("-") }
        if onlyLog == nil, !years.isEmpty {
            // (A per-nation target is not the UK total's: not drawn against it.)
            let target = definition?.target.flatMap { $0.isUKYearly ? $0.value : nil }
            let series = nations.map { log in BarChart.Series(name: ViewQueries.displayName(log), colour: Dashboard.colour(log), values: yearly.map { $0.contributions[log] }) }
                .filter { $0.values.contains { $0 != nil } }
            let svg = BarChart(categories: yearly.map { String($0.year) }, series: series, stacked: true, target: target,
                               links: yearly.map { WebPage.measureHref(id, year: $0.year) }).svg()
            return DashboardPage.Chart(title: title, href: WebPage.measureHref(id, log: onlyLog), svg: svg,
                                       total: headline(id, totals: years, answer: answer, target: target), note: nil)
        }
        var series: [(log: String, values: [Period: Double])] = []
        for m in answer.series {
            // A nation's measure is drawn with a UK measure only when it is of the UK measure's
            // kind: a count mapped to a percentage set the scale at its own size and flattened
            // every nation's percentages (it is listed on the measure's page).
            let belongs = onlyLog != nil ? (m.log == onlyLog && m.id == id)
                : (m.log == ukLog ? m.id == id : m.ukMeasure == id && m.kind == (definition?.kind ?? m.kind))
            guard belongs else { continue }
            var values: [Period: Double] = [:]
            for r in m.readings ?? [] {
                // Only readings admitted under the measure's kind now (a count of 45 before the
                // measure became a percentage is no 45 %), and only values that kind takes: the
                // others are in the page's table, not drawn.
                guard r.admittedAs == nil, let p = Period(r.period), charted(p) else { continue }
                switch m.kind {
                case "percentage": if let v = r.value, (0...100).contains(v) { values[p] = v }
                case "milestone": if let a = r.achieved { values[p] = a ? 1 : 0 }
                case "count": if let v = r.value, v >= 0 { values[p] = v }
                default: break
                }
            }
            if !values.isEmpty { series.append((m.log, values)) }
        }
        // Each series its newest periods, an equal share of `maxPeriods` (at least 4): a nation
        // reporting every month and quarter pushed the others' years out of the newest 40.
        let share = max(4, Self.maxPeriods / max(1, series.count))
        let periods = Array(Set(series.flatMap { $0.values.keys.sorted().suffix(share) }).sorted().suffix(Self.maxPeriods))
        guard !periods.isEmpty else {
            return DashboardPage.Chart(title: title, href: WebPage.measureHref(id, log: onlyLog), svg: "", total: nil, note: nil, textOnly: "/v1/view/measures/\(id)")
        }
        let target = definition?.kind == "percentage" ? definition?.target?.value : nil
        let chart = BarChart(categories: periods.map(\.description),
                             series: series.map { s in BarChart.Series(name: ViewQueries.displayName(s.log), colour: Dashboard.colour(s.log), values: periods.map { s.values[$0] }) },
                             stacked: false, target: target)
        return DashboardPage.Chart(title: title, href: WebPage.measureHref(id, log: onlyLog), svg: chart.svg(), total: nil, note: definition?.kind == "milestone" ? "1 = achieved, 0 = not achieved" : nil)
    }
}
