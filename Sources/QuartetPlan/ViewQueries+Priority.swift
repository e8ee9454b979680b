import QuartetAPI

/// The priorities × nations matrix.
extension ViewQueries {
    /// The UK actions a nation's action serves: those its `uk_actions` names (adopters' imports
    /// name the UK action they adopt), none once withdrawn. The one rule for the priority's
    /// list and a UK action's page (a nation action naming none was listed on the page under
    /// the UK action of its own id, not in the priority). As listed (no set made: a UK
    /// action's page asks it of every action of every nation).
    public static func mappedUKActions(_ action: ActionState) -> [String] {
        action.withdrawn == nil ? action.payload.uk_actions ?? [] : []
    }

    /// One cell of the priorities × nations matrix.
    public struct Cell: Sendable {
        public var actions = 0
        public var counts: [ActionStatus: Int] = [:]
        public var reported: Int { counts.values.reduce(0, +) }
        /// The oldest as-of date of the actions' latest statuses: a cell green from statuses a
        /// year old says so.
        public var oldestAsOf: String?
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

    /// A cell whose oldest update is this many reporting quarters or more behind the newest
    /// update in the view is stale: its colour speaks of then, not now.
    public static let staleQuarters = 2

    /// The newest status date of the matrix, as a second log bears it out: per log it shows
    /// (`order`), the newest of the latest statuses of its live actions under a UK priority,
    /// each dated by its as-of date but no later than the day its entry was written; then the
    /// second newest of those (the newest when one log reported). Entry times are each writer's
    /// own word, so no one member — a hostile one, or one whose clock ran ahead — can move the
    /// line past what another reports. Relative to what the federation reports, not to the
    /// clock (cached answers hold no time): a plan's statuses as a whole are as old as its last
    /// reporting round. Nil when none reported.
    public var newestUpdate: String? {
        var perLog: [String] = []
        for log in order {
            var newest: String?
            for action in view.logs[log]?.actions.values ?? [:].values where action.withdrawn == nil && view.priorities[action.payload.priority] != nil {
                guard let status = action.status else { continue }
                let dated = min(status.payload.as_of, String(Self.iso(status.recordedMillis).prefix(10)))
                if dated > newest ?? "" { newest = dated }
            }
            if let newest { perLog.append(newest) }
        }
        let sorted = perLog.sorted(by: >)
        return sorted.count > 1 ? sorted[1] : sorted.first
    }

    /// What a stale cell lags (`ViewCell.stale`), said alike by the pages and the CLI; nil for
    /// a cell not stale.
    public static func staleText(_ cell: ViewCell) -> String? {
        guard cell.stale == true else { return nil }
        return "two quarters or more behind the newest update of the matrix, as a second log bears it out" + (cell.newestUpdate.map { ": \($0)" } ?? "")
    }

    /// The reporting quarter of a YYYY-MM-DD date, counted from year 0 (`year × 4 + quarter`).
    static func quarter(of date: String) -> Int? {
        let parts = date.split(separator: "-")
        guard parts.count == 3, let year = Int(parts[0]), let month = Int(parts[1]), (1...12).contains(month) else { return nil }
        return year * 4 + (month - 1) / 3
    }

    public func cell(priority: String, log: String) -> Cell {
        var cell = Cell()
        for action in (view.logs[log]?.actions.values).map(Array.init) ?? [] where action.payload.priority == priority && action.withdrawn == nil {
            cell.actions += 1
            if let s = action.status?.payload {
                cell.counts[s.status, default: 0] += 1
                cell.oldestAsOf = min(cell.oldestAsOf ?? s.as_of, s.as_of)
            }
        }
        return cell
    }

    /// One UK priority across the logs, or nil when the view has no priority `id`.
    public func priority(_ id: String) -> ViewPriority? { priority(id, newest: newestUpdate) }

    /// `priority(_:)`, its cells judged stale against `newest` (`newestUpdate`, found once for
    /// every priority of the whole view).
    func priority(_ id: String, newest: String?) -> ViewPriority? {
        guard let p = view.priorities[id] else { return nil }
        var cells: [String: ViewCell] = [:]
        let line = newest.flatMap(Self.quarter).map { $0 - Self.staleQuarters }
        for log in order {
            let c = cell(priority: id, log: log)
            let stale = c.oldestAsOf.flatMap(Self.quarter).flatMap { oldest in line.map { oldest <= $0 } } ?? false
            cells[log] = ViewCell(actions: c.actions, reported: c.reported, progress: c.progress, colour: c.colour,
                                  statuses: Dictionary(uniqueKeysWithValues: c.counts.map { ($0.key.rawValue, $0.value) }),
                                  figure: "cell:\(id):\(log)", oldestAsOf: c.oldestAsOf, stale: stale ? true : nil, newestUpdate: stale ? newest : nil)
        }
        let ukActions = (view.logs[view.ukLog]?.actions.values.filter { $0.payload.priority == id } ?? []).sorted { Self.idOrder($0.payload.id, $1.payload.id) }
        // The nations' actions mapped to each UK action, in one pass over them (a pass per UK
        // action cost UK actions × nation actions × their mappings, each list up to 100 long).
        let wanted = Set(ukActions.map(\.payload.id))
        var byUKAction: [String: [String: [String]]] = [:]
        for log in nations {
            for a in view.logs[log]?.actions.values ?? [:].values {
                for ua in Set(Self.mappedUKActions(a)) where wanted.contains(ua) { byUKAction[ua, default: [:]][log, default: []].append(a.payload.id) }
            }
        }
        let mapped = ukActions.map { ua in
            ViewUKAction(id: ua.payload.id, title: ua.payload.title, nations: (byUKAction[ua.payload.id] ?? [:]).mapValues { $0.sorted(by: Self.idOrder) },
                         status: ua.status?.payload.status.rawValue, withdrawn: Self.withdrawal(ua))
        }
        var actions: [ViewAction] = []
        for log in order {
            for a in (view.logs[log]?.actions.values.filter { $0.payload.priority == id } ?? []).sorted(by: { Self.idOrder($0.payload.id, $1.payload.id) }) {
                actions.append(action(a, log: log, withMeasures: true))
            }
        }
        return ViewPriority(id: id, title: p.payload.title, number: p.payload.number, goals: p.payload.goals ?? [],
                            figure: "priority:\(id)", nations: cells, ukActions: mapped, actions: actions)
    }

}
