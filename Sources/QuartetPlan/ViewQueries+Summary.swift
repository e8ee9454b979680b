import Foundation
import QuartetAPI

/// The whole view and the parts it lists: log summaries, UK totals, published aggregates.
extension ViewQueries {
    /// `GET /v1/view`: every log, priority, yearly total and published aggregate.
    public func whole(node: String, generatedAt: String) -> CombinedView {
        CombinedView(node: node, generatedAt: generatedAt, viewVersion: view.version, logs: order.map(logSummary),
                     priorities: view.priorities.keys.sorted(by: Self.idOrder).compactMap { [newest = newestUpdate] in priority($0, newest: newest) },
                     totals: totalsList(yearsOnly: true), aggregates: aggregatesList())
    }

    public func logSummary(_ log: String) -> ViewLogSummary {
        let v = view.logs[log] ?? LogView(log: log)
        let checkpoint = v.checkpoint.map { c in
            ViewCheckpointSummary(size: c.size, root: c.rootBase64, time: c.timeMillis.map(Self.iso),
                                  ageSeconds: c.timeMillis.map { t in nowMillis > t ? Double(nowMillis - t) / 1000 : 0 })
        }
        return ViewLogSummary(
            log: log, name: Self.displayName(log), entries: v.size, stubs: v.stubs, unreadable: v.unreadable,
            actions: v.actions.count, measures: v.measures.count,
            verified: health[log]?.verified ?? false, alerts: health[log]?.alerts ?? [], checkpoint: checkpoint,
            unreadableSamples: v.unreadableSamples.isEmpty ? nil : v.unreadableSamples.map { ViewUnreadableSample(index: $0.index, reason: $0.reason) })
    }

    /// The UK totals of `uk`, if the UK log defines it as a count measure: a nation mapping
    /// its measures to a UK measure the UK plan does not have (or has as another kind) makes
    /// no "UK total" anyone is shown.
    public func ukTotals(_ uk: String) -> [Period: UKTotal]? {
        guard view.logs[view.ukLog]?.measures[uk]?.payload.kind == .count else { return nil }
        return view.totals[uk]
    }

    /// The UK measures with totals to show (`ukTotals`), in id order.
    public var totalMeasures: [String] {
        view.totals.keys.filter { ukTotals($0) != nil }.sorted(by: Self.idOrder)
    }

    /// Every UK total (the whole view carries the yearly ones; quarters are in
    /// `/v1/view/totals` and the measure query).
    public func totalsList(yearsOnly: Bool = false) -> [ViewTotal] {
        totalMeasures.flatMap { uk in
            view.totals[uk]!.keys.sorted().filter { !yearsOnly || $0.granularity == .year }.map { total(view.totals[uk]![$0]!) }
        }
    }

    public func total(_ t: UKTotal) -> ViewTotal {
        var out = ViewTotal(figure: "total:\(t.measure):\(t.period)", measure: t.measure, period: t.period.description, year: t.year,
                            value: t.value, contributions: t.contributions, entries: t.refs.count)
        if let m = view.logs[view.ukLog]?.measures[t.measure] {
            out.text = m.payload.text
            out.unit = m.payload.unit
            if let target = m.payload.target, target.isUKYearly, t.period.granularity == .year {
                out.target = target.value
                out.progress = target.value > 0 ? t.value / target.value : nil
                out.targetQuote = target.quote
            }
        }
        return out
    }

    /// The published aggregates of restricted datasets held here (suppressed cells are null).
    /// A stored aggregate not of the shape `Suppression.aggregate` writes is left out.
    public func aggregatesList() -> [ViewAggregate] {
        order.flatMap { log -> [ViewAggregate] in
            (view.logs[log]?.aggregates ?? [:]).keys.sorted().compactMap { index in
                guard let held = publishedAggregate(log: log, index: index), case .object(var fields) = held.payload else { return nil }
                fields["figure"] = .string("aggregate:\(log):\(index)")
                fields["log"] = .string(log)
                fields["index"] = .number(Double(index))
                return try? JSONDecoder().decode(ViewAggregate.self, from: Data(JSONValue.object(fields).encoded()))
            }
        }
    }
}
