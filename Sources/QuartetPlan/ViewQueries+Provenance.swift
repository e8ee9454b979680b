/// Figures: which entries each figure of the answers rests on.
extension ViewQueries {
    /// The entries behind a figure, in log order.
    public func provenance(_ figure: String) throws(PlanError) -> [EntryRef] {
        let parts = figure.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let unknown = PlanError("figure \"\(figure)\": expected status:<log>:<action>, reading:<log>:<measure>:<period>, total:<measure>:<year>, cell:<priority>:<log> or priority:<id>")
        switch (parts.first, parts.count) {
        case ("priority", 2):
            guard let p = view.priorities[parts[1]] else { throw PlanError("figure \(figure): no priority \(parts[1])") }
            return [p.ref]
        case ("aggregate", 3):
            guard let index = UInt64(parts[2]), publishedAggregate(log: parts[1], index: index) != nil else {
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
            return (Set(Self.definitions(m, before: [r.ref]) + action(of: m, in: parts[1])).union([r.ref])).sorted()
        case ("total", 3):
            guard let period = Period(parts[2]), let t = ukTotals(parts[1])?[period] else { throw PlanError("figure \(figure): no UK total of \(parts[1]) for \(parts[2])") }
            // What the total rests on and a reader's recompute needs: the readings summed, the
            // UK measure's definitions (first and newest), and of each nation measure whose
            // readings are among them its definitions that decide them (`definitions`). Not
            // every revision of every measure mapped to it: a nation's thousand redefinitions,
            // or measures mapped with nothing this period, crowded out the rest (a review).
            let summed = Set(t.refs)
            var refs = summed
            if let uk = view.logs[view.ukLog]?.measures[parts[1]] {
                refs.formUnion([uk.refs.first, uk.refs.last].compactMap { $0 } + action(of: uk, in: view.ukLog))
            }
            for key in view.rollups[parts[1]] ?? [] {
                guard let m = view.logs[key.log]?.measures[key.measure] else { continue }
                let readings = m.readings.values.map(\.ref).filter(summed.contains)
                guard !readings.isEmpty else { continue }
                refs.formUnion(Self.definitions(m, before: readings) + action(of: m, in: key.log))
            }
            return refs.sorted()
        default:
            throw unknown
        }
    }
    /// The entry that defined the action measure `m` belongs to, and its withdrawal if it was
    /// withdrawn: a measure counts only under an action its log has, and takes readings only of
    /// periods begun by its action's withdrawal; a reader's recompute checks both (an action the
    /// page left out makes the measure count for nothing there, and without the withdrawal a
    /// reading after it would pass the page's check).
    func action(of m: MeasureState, in log: String) -> [EntryRef] {
        guard let action = view.logs[log]?.actions[m.payload.action] else { return [] }
        return (action.refs.first.map { [$0] } ?? []) + (action.withdrawn.map { [$0.ref] } ?? [])
    }

    /// The definitions of measure `m` that decide how `readings` of it are read: the first (a
    /// reading counts only after it), the newest (its mapping and kind now), and the newest
    /// before each reading (the kind it was judged by).
    static func definitions(_ m: MeasureState, before readings: [EntryRef]) -> [EntryRef] {
        var out = [m.refs.first, m.refs.last].compactMap { $0 }
        for reading in readings {
            // `refs` are in log order: the last one before the reading.
            var low = 0, high = m.refs.count
            while low < high {
                let mid = (low + high) / 2
                if m.refs[mid] < reading { low = mid + 1 } else { high = mid }
            }
            if low > 0 { out.append(m.refs[low - 1]) }
        }
        return out
    }

    /// The value this node states for a figure whose value a reader can recompute from the
    /// entries behind it (`reading:`, `total:`, `status:`), or nil for other kinds. The "How do
    /// we know?" page recomputes it in the reader's browser from the verified entries and shows
    /// both, as `quartet verify-figure` does: a node stating one value while its entries give
    /// another is caught there.
    public func stated(_ figure: String) -> JSONValue? {
        let parts = figure.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        switch (parts.first, parts.count) {
        case ("reading", 4):
            guard let p = Period(parts[3]), let r = view.logs[parts[1]]?.measures[parts[2]]?.readings[p] else { return nil }
            let v = r.payload
            return v.value.map { .number($0) } ?? v.achieved.map { .bool($0) }
                ?? v.categories.map { .object($0.mapValues { .number($0) }) } ?? v.text.map { .string($0) } ?? .null
        case ("total", 3):
            guard let period = Period(parts[2]), let t = ukTotals(parts[1])?[period] else { return nil }
            return .number(t.value)
        case ("status", 3):
            guard let a = view.logs[parts[1]]?.actions[parts[2]] else { return nil }
            // An action no status was recorded for yet: null.
            return a.status.map { .string($0.payload.status.rawValue) } ?? .null
        default:
            return nil
        }
    }

    /// `stated`, as JSON text (the page's data).
    public func statedValue(_ figure: String) -> String? {
        stated(figure).map { String(decoding: $0.encoded(), as: UTF8.self) }
    }
}
