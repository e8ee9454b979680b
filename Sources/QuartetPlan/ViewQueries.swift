import Foundation

/// What the node knows of a log beyond its entries: whether what it holds verified and the
/// alerts raised about it.
public struct LogHealth: Sendable {
    public var verified: Bool
    public var alerts: [String]
    public init(verified: Bool, alerts: [String]) {
        self.verified = verified
        self.alerts = alerts
    }
}

/// The queries over the view, as JSON-ready dictionaries and CSV tables (docs/openapi.yaml
/// describes the shapes). Figures carry an id that `/v1/view/figures/{id}/provenance` resolves
/// to the entries behind them.
public struct ViewQueries {
    public let view: StrategyView
    public let health: [String: LogHealth]
    public let nowMillis: UInt64
    /// Log names in display order: the UK log first, then the nations as configured.
    public let order: [String]

    /// Whether an aggregate of `label` held by `log` is published: some agreement in force gives
    /// some node access to it. Others stay the holder's (default: all are).
    public var published: @Sendable (_ log: String, _ label: String) -> Bool = { _, _ in true }

    public init(view: StrategyView, health: [String: LogHealth], nowMillis: UInt64, order: [String]) {
        self.view = view
        self.health = health
        self.nowMillis = nowMillis
        let known = Set(order)
        self.order = order + view.logs.keys.filter { !known.contains($0) }.sorted()
    }

    public static func displayName(_ log: String) -> String {
        switch log {
        case "uk": return "UK"
        case "wales": return "Wales"
        case "england": return "England"
        case "scotland": return "Scotland"
        case "northern-ireland": return "Northern Ireland"
        default: return log
        }
    }

    /// The nations (logs other than the UK log) in display order.
    public var nations: [String] { order.filter { $0 != view.ukLog } }

    // MARK: Whole view

    public func whole() -> [String: Any] {
        [
            "view_version": view.version,
            "logs": order.map(logSummary),
            "priorities": view.priorities.keys.sorted(by: Self.idOrder).map(priority),
            "totals": totalsList(yearsOnly: true),
            "aggregates": aggregatesList(),
        ]
    }

    public func logSummary(_ log: String) -> [String: Any] {
        let v = view.logs[log] ?? LogView(log: log)
        var out: [String: Any] = [
            "log": log, "name": Self.displayName(log), "entries": v.size, "stubs": v.stubs, "unreadable": v.unreadable,
            "actions": v.actions.count, "measures": v.measures.count,
            "verified": health[log]?.verified ?? false, "alerts": health[log]?.alerts ?? [],
        ]
        if let c = v.checkpoint {
            var cp: [String: Any] = ["size": c.size, "root": c.rootBase64]
            if let t = c.timeMillis {
                cp["time"] = Self.iso(t)
                cp["age_seconds"] = nowMillis > t ? Double(nowMillis - t) / 1000 : 0
            }
            out["checkpoint"] = cp
        } else {
            out["checkpoint"] = NSNull()
        }
        if !v.unreadableSamples.isEmpty {
            out["unreadable_samples"] = v.unreadableSamples.map { ["index": $0.index, "reason": $0.reason] as [String: Any] }
        }
        return out
    }

    /// One cell of the priorities × nations matrix.
    public struct Cell: Sendable {
        public var actions = 0
        public var counts: [ActionStatus: Int] = [:]
        public var reported: Int { counts.values.reduce(0, +) }
        /// Share of the actions done or on track.
        public var progress: Double { actions == 0 ? 0 : Double((counts[.done] ?? 0) + (counts[.onTrack] ?? 0)) / Double(actions) }
        /// red: an action off track; amber: one at risk; green: every action reported and on
        /// track or done; blue: some reported, none at risk; grey: nothing reported.
        public var colour: String {
            if (counts[.offTrack] ?? 0) > 0 { return "red" }
            if (counts[.atRisk] ?? 0) > 0 { return "amber" }
            if reported == 0 { return "grey" }
            if reported == actions && (counts[.notStarted] ?? 0) == 0 { return "green" }
            return "blue"
        }
    }

    public func cell(priority: String, log: String) -> Cell {
        var cell = Cell()
        for action in (view.logs[log]?.actions.values).map(Array.init) ?? [] where action.payload.priority == priority && action.withdrawn == nil {
            cell.actions += 1
            if let s = action.status?.payload.status { cell.counts[s, default: 0] += 1 }
        }
        return cell
    }

    public func priority(_ id: String) -> [String: Any] {
        guard let p = view.priorities[id] else { return ["id": id, "known": false] }
        var cells: [String: Any] = [:]
        for log in order {
            let c = cell(priority: id, log: log)
            cells[log] = ["actions": c.actions, "reported": c.reported, "progress": c.progress, "colour": c.colour,
                          "statuses": Dictionary(uniqueKeysWithValues: c.counts.map { ($0.key.rawValue, $0.value) }),
                          "figure": "cell:\(id):\(log)"]
        }
        let ukActions = (view.logs[view.ukLog]?.actions.values.filter { $0.payload.priority == id } ?? []).sorted { Self.idOrder($0.payload.id, $1.payload.id) }
        let mapped: [[String: Any]] = ukActions.map { ua in
            var byNation: [String: Any] = [:]
            for log in nations(mappedTo: ua.payload.id) { byNation[log.log] = log.actions }
            return ["id": ua.payload.id, "title": ua.payload.title, "nations": byNation,
                    "status": ua.status?.payload.status.rawValue ?? NSNull()]
        }
        var actions: [[String: Any]] = []
        for log in order {
            for a in (view.logs[log]?.actions.values.filter { $0.payload.priority == id } ?? []).sorted(by: { Self.idOrder($0.payload.id, $1.payload.id) }) {
                actions.append(action(a, log: log, withMeasures: true))
            }
        }
        return ["id": id, "title": p.payload.title, "number": p.payload.number ?? NSNull(), "goals": p.payload.goals ?? [],
                "figure": "priority:\(id)", "nations": cells, "uk_actions": mapped, "actions": actions]
    }

    func nations(mappedTo ukAction: String) -> [(log: String, actions: [String])] {
        nations.compactMap { log in
            let ids = (view.logs[log]?.actions.values.filter { $0.withdrawn == nil && ($0.payload.uk_actions ?? []).contains(ukAction) }.map(\.payload.id) ?? [])
                .sorted(by: Self.idOrder)
            return ids.isEmpty ? nil : (log, ids)
        }
    }

    public func action(_ a: ActionState, log: String, withMeasures: Bool) -> [String: Any] {
        var out: [String: Any] = [
            "log": log, "id": a.payload.id, "priority": a.payload.priority, "title": a.payload.title,
            "uk_actions": a.payload.uk_actions ?? [], "revisions": a.refs.count - 1,
            "figure": "status:\(log):\(a.payload.id)", "evidence": a.evidence.count,
        ]
        if let t = a.payload.timeframe?.text { out["timeframe"] = t }
        if let s = a.status {
            out["status"] = s.payload.status.rawValue
            out["as_of"] = s.payload.as_of
            if let note = s.payload.note { out["note"] = note }
        } else {
            out["status"] = NSNull()
        }
        if let w = a.withdrawn { out["withdrawn"] = ["reason": w.payload.reason, "as_of": w.payload.as_of] }
        if withMeasures {
            out["measures"] = (a.payload.measures ?? []).compactMap { id -> [String: Any]? in
                guard let m = view.logs[log]?.measures[id] else { return nil }
                var item = measureSummary(m, log: log)
                if let latest = m.latest { item["latest"] = reading(latest.reading, period: latest.period, log: log) }
                return item
            }
        }
        return out
    }

    func measureSummary(_ m: MeasureState, log: String) -> [String: Any] {
        var out: [String: Any] = ["id": m.payload.id, "log": log, "text": m.payload.text, "kind": m.payload.kind.rawValue]
        if let unit = m.payload.unit { out["unit"] = unit }
        if let uk = m.payload.uk_measure { out["uk_measure"] = uk }
        if let c = m.payload.cadence { out["cadence"] = c.rawValue }
        if let t = m.payload.target {
            var target: [String: Any] = ["value": t.value, "per": t.per]
            if let s = t.scope { target["scope"] = s }
            if let q = t.quote { target["quote"] = q }
            out["target"] = target
        }
        return out
    }

    func reading(_ r: ReadingState, period: Period, log: String) -> [String: Any] {
        var out: [String: Any] = ["period": period.description, "figure": "reading:\(log):\(r.payload.measure):\(period)",
                                  "entry": ["log": r.ref.log, "index": r.ref.index]]
        if let v = r.payload.value { out["value"] = v }
        if let a = r.payload.achieved { out["achieved"] = a }
        if let c = r.payload.categories { out["categories"] = c }
        if let t = r.payload.text { out["text"] = t }
        if let n = r.payload.note { out["note"] = n }
        if r.replaced > 0 { out["replaced"] = r.replaced }
        return out
    }

    // MARK: Totals

    /// Every UK total (the whole view carries the yearly ones; quarters are in
    /// `/v1/view/totals` and the measure query).
    public func totalsList(yearsOnly: Bool = false) -> [[String: Any]] {
        view.totals.keys.sorted(by: Self.idOrder).flatMap { uk in
            view.totals[uk]!.keys.sorted().filter { !yearsOnly || $0.granularity == .year }.map { total(view.totals[uk]![$0]!) }
        }
    }

    public func total(_ t: UKTotal) -> [String: Any] {
        var out: [String: Any] = ["figure": "total:\(t.measure):\(t.period)", "measure": t.measure, "period": t.period.description,
                                  "year": t.year, "value": t.value,
                                  "contributions": t.contributions, "entries": t.refs.count]
        if let m = view.logs[view.ukLog]?.measures[t.measure] {
            out["text"] = m.payload.text
            if let unit = m.payload.unit { out["unit"] = unit }
            if let target = m.payload.target, target.per == "year", t.period.granularity == .year {
                out["target"] = target.value
                out["progress"] = target.value > 0 ? t.value / target.value : NSNull()
                if let q = target.quote { out["target_quote"] = q }
            }
        }
        return out
    }

    /// The published aggregates of restricted datasets held here (suppressed cells are null).
    public func aggregatesList() -> [[String: Any]] {
        order.flatMap { log -> [[String: Any]] in
            (view.logs[log]?.aggregates ?? [:]).sorted { $0.key < $1.key }.compactMap { index, value in
                var out = value.native as? [String: Any] ?? [:]
                guard published(log, out["label"] as? String ?? "") else { return nil }
                out["figure"] = "aggregate:\(log):\(index)"
                out["log"] = log
                out["index"] = index
                return out
            }
        }
    }

    // MARK: Nation and measure

    public func nation(_ log: String) throws(PlanError) -> [String: Any] {
        guard let v = view.logs[log] else { throw PlanError.notFound("no log named \(log) in the view") }
        let actions = v.actions.values.sorted { Self.idOrder($0.payload.id, $1.payload.id) }.map { a -> [String: Any] in
            var out = action(a, log: log, withMeasures: true)
            out["evidence_items"] = a.evidence.map { e -> [String: Any] in
                ["kind": e.payload.kind.rawValue, "title": e.payload.title, "link": e.payload.link, "entry": ["log": e.ref.log, "index": e.ref.index]]
            }
            return out
        }
        return ["log": logSummary(log), "actions": actions]
    }

    /// A measure across the logs: the measure of that id in each log, the nation measures that
    /// add up into it (when it is a UK measure), their readings (those of `period` and, for a
    /// year, of its quarters and months), and the UK totals.
    public func measure(_ id: String, period: String?) throws(PlanError) -> [String: Any] {
        guard IDPattern.measure.matches(id) else { throw PlanError("measure: expected \(IDPattern.measure.description), got \"\(id)\"") }
        var filter: Period?
        if let period {
            guard let p = Period(period) else { throw PlanError("period: expected a year (2025), a quarter (2025-Q2) or a month (2025-03), got \"\(period)\"") }
            filter = p
        }
        var series: [[String: Any]] = []
        for log in order {
            guard let v = view.logs[log] else { continue }
            let matching = v.measures.values.filter { $0.payload.id == id || (log != view.ukLog && $0.payload.uk_measure == id) }
                .sorted { Self.idOrder($0.payload.id, $1.payload.id) }
            for m in matching {
                var item = measureSummary(m, log: log)
                item["readings"] = m.readings.keys.sorted().filter { p in
                    guard let filter else { return true }
                    return filter.granularity == .year ? p.year == filter.year : p == filter
                }.map { reading(m.readings[$0]!, period: $0, log: log) }
                series.append(item)
            }
        }
        guard !series.isEmpty else { throw PlanError.notFound("no log in the view has measure \(id)") }
        let totals = (view.totals[id] ?? [:]).values.filter { t in
            guard let filter else { return true }
            switch filter.granularity {
            case .year: return t.year == filter.year
            case .quarter: return t.period == filter
            case .month: return t.period.granularity == .quarter && t.year == filter.year && t.period.number == (filter.number - 1) / 3 + 1
            }
        }.sorted { $0.period < $1.period }.map(total)
        return ["measure": id, "period": period ?? NSNull(), "series": series, "totals": totals]
    }

    // MARK: Provenance

    /// The entries behind a figure, in log order.
    public func provenance(_ figure: String) throws(PlanError) -> [EntryRef] {
        let parts = figure.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let unknown = PlanError("figure \"\(figure)\": expected status:<log>:<action>, reading:<log>:<measure>:<period>, total:<measure>:<year>, cell:<priority>:<log> or priority:<id>")
        switch (parts.first, parts.count) {
        case ("priority", 2):
            guard let p = view.priorities[parts[1]] else { throw PlanError("figure \(figure): no priority \(parts[1])") }
            return [p.ref]
        case ("aggregate", 3):
            guard let index = UInt64(parts[2]), view.logs[parts[1]]?.aggregates[index] != nil else {
                throw PlanError("figure \(figure): no published aggregate at \(parts[1])/\(parts[2])")
            }
            return [EntryRef(log: parts[1], index: index)]
        case ("cell", 3):
            guard view.priorities[parts[1]] != nil, let v = view.logs[parts[2]] else { throw PlanError("figure \(figure): no priority \(parts[1]) or no log \(parts[2])") }
            var refs: [EntryRef] = []
            for a in v.actions.values where a.payload.priority == parts[1] && a.withdrawn == nil {
                refs += a.refs + (a.status.map { [$0.ref] } ?? [])
            }
            return refs.sorted()
        case ("status", 3):
            guard let a = view.logs[parts[1]]?.actions[parts[2]] else { throw PlanError("figure \(figure): log \(parts[1]) has no action \(parts[2])") }
            return a.refs + (a.status.map { [$0.ref] } ?? []) + (a.withdrawn.map { [$0.ref] } ?? [])
        case ("reading", 4):
            guard let m = view.logs[parts[1]]?.measures[parts[2]] else { throw PlanError("figure \(figure): log \(parts[1]) has no measure \(parts[2])") }
            guard let p = Period(parts[3]), let r = m.readings[p] else { throw PlanError("figure \(figure): no reading for period \(parts[3])") }
            return m.refs + [r.ref]
        case ("total", 3):
            guard let period = Period(parts[2]), let t = view.totals[parts[1]]?[period] else { throw PlanError("figure \(figure): no UK total of \(parts[1]) for \(parts[2])") }
            var refs = Set(t.refs)
            refs.formUnion(view.logs[view.ukLog]?.measures[parts[1]]?.refs ?? [])
            for key in view.rollups[parts[1]] ?? [] { refs.formUnion(view.logs[key.log]?.measures[key.measure]?.refs ?? []) }
            return refs.sorted()
        default:
            throw unknown
        }
    }

    // MARK: CSV

    /// The tables analysts want: actions, totals and readings.
    public enum Table: String, CaseIterable, Sendable { case actions, totals, readings }

    public func csv(_ table: Table, log: String? = nil, priority: String? = nil, measure: String? = nil) -> String {
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
            for uk in view.totals.keys.sorted(by: Self.idOrder) where measure == nil || uk == measure {
                for period in view.totals[uk]!.keys.sorted() {
                    let t = view.totals[uk]![period]!
                    let target = view.logs[view.ukLog]?.measures[uk]?.payload.target.flatMap { $0.per == "year" && period.granularity == .year ? $0.value : nil }
                    rows.append([uk, period.description, Self.number(t.value), target.map(Self.number) ?? "",
                                 target.map { $0 > 0 ? Self.number(t.value / $0) : "" } ?? ""]
                                + nations.map { t.contributions[$0].map(Self.number) ?? "" } + [String(t.refs.count)])
                }
            }
        case .readings:
            rows.append(["nation", "measure", "uk_measure", "kind", "period", "value", "note", "log", "index"])
            for l in order where log == nil || l == log {
                for m in (view.logs[l]?.measures.values.map { $0 } ?? []).sorted(by: { Self.idOrder($0.payload.id, $1.payload.id) })
                where measure == nil || m.payload.id == measure || m.payload.uk_measure == measure {
                    if let priority, !m.payload.id.hasPrefix(priority + ".") { continue }
                    for p in m.readings.keys.sorted() {
                        let r = m.readings[p]!
                        let value = r.payload.value.map(Self.number) ?? r.payload.achieved.map { $0 ? "achieved" : "not achieved" }
                            ?? r.payload.categories.map { c in c.keys.sorted().map { k in "\(k)=\(Self.number(c[k]!))" }.joined(separator: "; ") }
                            ?? r.payload.text ?? ""
                        rows.append([l, m.payload.id, m.payload.uk_measure ?? "", m.payload.kind.rawValue, p.description, value,
                                     r.payload.note ?? "", r.ref.log, String(r.ref.index)])
                    }
                }
            }
        }
        return rows.map { $0.map(Self.csvField).joined(separator: ",") }.joined(separator: "\r\n") + "\r\n"
    }

    /// RFC 4180 quoting; a field starting with = + - @, tab or carriage return is prefixed with '
    /// so spreadsheets do not run it as a formula.
    static func csvField(_ text: String) -> String {
        var t = text
        if let first = t.first, "=+-@\t\r".contains(first), Double(t) == nil { t = "'" + t }
        guard t.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return t }
        return "\"" + t.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    public static func number(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(format: "%.4g", v)
    }

    /// Orders plan ids numerically part by part (P2.A10 after P2.A9).
    public static func idOrder(_ a: String, _ b: String) -> Bool {
        let pa = a.split(separator: "."), pb = b.split(separator: ".")
        for (x, y) in zip(pa, pb) where x != y {
            if let nx = Int(x.dropFirst()), let ny = Int(y.dropFirst()), x.first == y.first { return nx < ny }
            return x < y
        }
        return pa.count < pb.count
    }

    public static func iso(_ millis: UInt64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        // Times come from entries a writer chose: clamped to 9999-12-31T23:59:59Z.
        return formatter.string(from: Date(timeIntervalSince1970: Double(min(millis, 253_402_300_799_000)) / 1000))
    }
}
