import QuartetAPI

/// Actions, measures and readings as the answers show them.
extension ViewQueries {
    public func action(_ a: ActionState, log: String, withMeasures: Bool) -> ViewAction {
        var out = ViewAction(log: log, id: a.payload.id, priority: a.payload.priority, title: a.payload.title,
                             ukActions: a.payload.uk_actions ?? [], revisions: a.refs.count - 1,
                             figure: "status:\(log):\(a.payload.id)", evidence: a.evidence.count, timeframe: a.payload.timeframe?.text)
        if let s = a.status {
            out.status = s.payload.status.rawValue
            out.asOf = s.payload.as_of
            out.note = s.payload.note
        }
        out.withdrawn = Self.withdrawal(a)
        if withMeasures {
            // Each measure once, however often the action lists it (a list of one id a hundred
            // times made every page showing the action do its work a hundred times).
            var listed = Set<String>()
            out.measures = (a.payload.measures ?? []).filter { listed.insert($0).inserted }.compactMap { id -> ViewMeasure? in
                guard let m = view.logs[log]?.measures[id] else { return nil }
                var item = measureSummary(m, log: log)
                if let latest = m.latest { item.latest = reading(latest.reading, period: latest.period, log: log, kind: m.payload.kind) }
                return item
            }
        }
        return out
    }

    /// An action's withdrawal as the answers show it, if it was withdrawn.
    static func withdrawal(_ a: ActionState) -> ViewWithdrawal? {
        a.withdrawn.map { ViewWithdrawal(reason: $0.payload.reason, asOf: $0.payload.as_of) }
    }

    public func measureSummary(_ m: MeasureState, log: String) -> ViewMeasure {
        ViewMeasure(id: m.payload.id, log: log, text: m.payload.text, kind: m.payload.kind.rawValue, unit: m.payload.unit,
                    ukMeasure: m.payload.uk_measure, cadence: m.payload.cadence?.rawValue,
                    target: m.payload.target.map { ViewTarget(value: $0.value, per: $0.per, scope: $0.scope, quote: $0.quote) },
                    overTime: m.payload.over_time?.rawValue)
    }

    /// Reading `r` of a measure of kind `kind` now (a reading admitted under another kind says so).
    public func reading(_ r: ReadingState, period: Period, log: String, kind: MeasureKind) -> ViewReading {
        ViewReading(period: period.description, figure: "reading:\(log):\(r.payload.measure):\(period)",
                    entry: ViewEntryPointer(log: r.ref.log, index: r.ref.index), value: r.payload.value, achieved: r.payload.achieved,
                    categories: r.payload.categories, text: r.payload.text, note: r.payload.note,
                    replaced: r.replaced > 0 ? r.replaced : nil, admittedAs: r.admittedAs == kind ? nil : r.admittedAs.rawValue)
    }
}
