import QuartetAPI

/// One nation's answer and one measure's answer.
extension ViewQueries {
    /// Who a UK total adds and who it lacks: the nations (of `nations`, in order) with a part in
    /// it and what each added, and those with none for the period — the one split the measure
    /// page's totals and the overview's headline both say.
    public static func parts(of contributions: [String: Double], nations: [String]) -> (added: [(log: String, value: Double)], none: [String]) {
        (nations.compactMap { log in contributions[log].map { (log, $0) } }, nations.filter { contributions[$0] == nil })
    }

    /// Evidence items per action in a nation's answer: the newest.
    public static let evidenceShown = 200

    /// `GET /v1/view/nations/{nation}`: the log's actions with their measures and evidence.
    public func nation(_ log: String) throws(PlanError) -> NationView {
        guard let v = view.logs[log] else { throw PlanError.notFound("no log named \(log) in the view") }
        let actions = v.actions.values.sorted { Self.idOrder($0.payload.id, $1.payload.id) }.map { a -> ViewAction in
            var out = action(a, log: log, withMeasures: true)
            // The newest `evidenceShown` of each action (`evidence` counts them all): a log may
            // append any number, and this answer is built whole per request.
            out.evidenceItems = a.evidence.suffix(Self.evidenceShown).map { e in
                ViewEvidence(kind: e.payload.kind.rawValue, title: e.payload.title, link: e.payload.link,
                             entry: ViewEntryPointer(log: e.ref.log, index: e.ref.index))
            }
            return out
        }
        return NationView(log: logSummary(log), actions: actions)
    }

    /// A measure across the logs: the measure of that id in each log, the nation measures that
    /// add up into it (when it is a UK measure), their readings (those of `period` and, for a
    /// year, of its quarters and months), and the UK totals.
    /// `readingYears`: only the readings of those years (each year's 17 periods looked up), for
    /// a chart's window — a measure may hold readings of a thousand years, every one sorted and
    /// made otherwise; the totals are all there.
    public func measure(_ id: String, period: String?, readingYears: ClosedRange<Int>? = nil) throws(PlanError) -> MeasureView {
        guard IDPattern.measure.matches(id) else { throw PlanError("measure: expected \(IDPattern.measure.description), got \"\(id)\"") }
        var filter: Period?
        if let period {
            guard let p = Period(period) else { throw PlanError("period: expected a year (2025), a quarter (2025-Q2) or a month (2025-03), got \"\(period)\"") }
            filter = p
        }
        var series: [ViewMeasure] = []
        for log in order {
            guard let v = view.logs[log] else { continue }
            let matching = v.measures.values.filter { $0.payload.id == id || (log != view.ukLog && $0.payload.uk_measure == id) }
                .sorted { Self.idOrder($0.payload.id, $1.payload.id) }
            for m in matching {
                var item = measureSummary(m, log: log)
                // A period asked for: its own periods looked up (a year's 17), not every reading
                // of the measure sorted and passed over (a measure may hold a thousand years').
                func yearsPeriods(_ year: Int) -> [Period] {
                    [Period(year: year)] + (1...4).map { Period(year: year, quarter: $0) } + (1...12).map { Period(year: year, month: $0) }
                }
                let periods: [Period]
                if let filter {
                    let candidates = filter.granularity == .year ? yearsPeriods(filter.year) : [filter]
                    periods = candidates.filter { m.readings[$0] != nil }.sorted()
                } else if let readingYears, readingYears.count <= 100 {
                    periods = readingYears.flatMap(yearsPeriods).filter { m.readings[$0] != nil }.sorted()
                } else {
                    periods = m.readings.keys.sorted()
                }
                item.readings = periods.map { reading(m.readings[$0]!, period: $0, log: log, kind: m.payload.kind) }
                series.append(item)
            }
        }
        guard !series.isEmpty else { throw PlanError.notFound("no log in the view has measure \(id)") }
        let totals = (ukTotals(id) ?? [:]).values.filter { t in
            guard let filter else { return true }
            switch filter.granularity {
            case .year: return t.year == filter.year
            case .quarter: return t.period == filter
            case .month: return t.period.granularity == .quarter && t.year == filter.year && t.period.number == (filter.number - 1) / 3 + 1
            }
        }.sorted { $0.period < $1.period }.map(total)
        return MeasureView(measure: id, period: period, series: series, totals: totals)
    }
}
