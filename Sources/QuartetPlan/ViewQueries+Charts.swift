/// Which measures the dashboard charts.
extension ViewQueries {
    /// UK measure ids (or `<log>:<id>` for a nation's measure that maps to none the UK log
    /// defines) that have a reading somewhere, in plan order. A nation's `uk_measure` naming a
    /// measure the UK plan lacks does not make a UK chart: its wording would stand on the UK
    /// overview as the UK's (finding 212).
    public func chartedMeasures() -> [String] {
        var ids = Set<String>()
        let ukMeasures = view.logs[view.ukLog]?.measures
        for log in order {
            guard let v = view.logs[log] else { continue }
            for m in v.measures.values where !m.readings.isEmpty {
                if log == view.ukLog {
                    ids.insert(m.payload.id)
                } else if let uk = m.payload.uk_measure, ukMeasures?[uk] != nil {
                    ids.insert(uk)
                } else {
                    ids.insert("\(log):\(m.payload.id)")
                }
            }
        }
        // Each key's id is taken once, not in every comparison (this runs for every overview).
        return ids.map { (key: $0, id: $0.split(separator: ":").last.map(String.init) ?? $0) }
            .sorted { $0.id == $1.id ? $0.key < $1.key : Self.idOrder($0.id, $1.id) }
            .map(\.key)
    }
}
