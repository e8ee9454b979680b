import Foundation

extension ViewQueries {
    // MARK: CSV

    /// The tables analysts want: actions, totals and readings.
    public enum Table: String, CaseIterable, Sendable { case actions, totals, readings }

    /// One table, scoped as its route is (finding 290: the scope was dropped for totals and
    /// periods, so a file named for one nation, priority or year held others'): `log` (actions
    /// and readings of that log; totals it contributes to), `priority`, `measure` (readings of
    /// it and mapped into it; its totals) and `period` (a year takes its quarters and months).
    public func csv(_ table: Table, log: String? = nil, priority: String? = nil, measure: String? = nil, period: Period? = nil) -> String {
        func inPeriod(_ p: Period) -> Bool {
            guard let period else { return true }
            return period.granularity == .year ? p.year == period.year : p == period
        }
        var rows: [[String]] = []
        switch table {
        case .actions:
            rows.append(["priority", "nation", "action", "uk_actions", "status", "as_of", "withdrawn", "evidence", "title"])
            for l in order where log == nil || l == log {
                for a in (view.logs[l]?.actions.values.map { $0 } ?? []).sorted(by: { Self.idOrder($0.payload.id, $1.payload.id) })
                where priority == nil || a.payload.priority == priority {
                    rows.append([a.payload.priority, l, a.payload.id, (a.payload.uk_actions ?? []).joined(separator: " "),
                                 a.status?.payload.status.rawValue ?? "", a.status?.payload.as_of ?? "", a.withdrawn == nil ? "" : "yes",
                                 String(a.evidence.count), a.payload.title])
                }
            }
        case .totals:
            rows.append(["measure", "period", "value", "target", "progress"] + nations + ["entries"])
            for uk in totalMeasures where (measure == nil || uk == measure) && (priority == nil || uk.hasPrefix(priority! + ".")) {
                for period in view.totals[uk]!.keys.sorted() where inPeriod(period) {
                    let t = view.totals[uk]![period]!
                    // A nation's: the totals it adds into (the UK log's are all its own).
                    if let log, log != view.ukLog, t.contributions[log] == nil { continue }
                    // Target and progress as the JSON total states them (`total`: none per nation).
                    let stated = total(t)
                    rows.append([uk, period.description, Self.number(t.value), stated.target.map(Self.number) ?? "",
                                 stated.progress.map(Self.number) ?? ""]
                                + nations.map { t.contributions[$0].map(Self.number) ?? "" } + [String(t.refs.count)])
                }
            }
        case .readings:
            rows.append(["nation", "measure", "uk_measure", "kind", "period", "value", "note", "log", "index"])
            for l in order where log == nil || l == log {
                for m in (view.logs[l]?.measures.values.map { $0 } ?? []).sorted(by: { Self.idOrder($0.payload.id, $1.payload.id) })
                // One log's: its own measure of the id alone, as its page shows it (a nation's
                // plan may use the id for another measure than the one it maps into the UK's).
                where measure == nil || m.payload.id == measure || (log == nil && m.payload.uk_measure == measure) {
                    if let priority, !m.payload.id.hasPrefix(priority + ".") { continue }
                    for p in m.readings.keys.sorted() where inPeriod(p) {
                        let r = m.readings[p]!
                        let value = r.payload.value.map(Self.number) ?? r.payload.achieved.map { $0 ? "achieved" : "not achieved" }
                            ?? r.payload.categories.map { Self.categories($0) }
                            ?? r.payload.text ?? ""
                        rows.append([l, m.payload.id, m.payload.uk_measure ?? "", m.payload.kind.rawValue, p.description, value,
                                     r.payload.note ?? "", r.ref.log, String(r.ref.index)])
                    }
                }
            }
        }
        return rows.map { CSV.line($0) }.joined()
    }
}
