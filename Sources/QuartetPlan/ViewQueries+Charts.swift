/// Which measures the dashboard charts.
extension ViewQueries {
    /// UK measure ids (or `<log>:<id>` for a nation's measure that maps to none) that have a
    /// reading somewhere, in plan order.
    public func chartedMeasures() -> [String] {
        var ids = Set<String>()
        for (log, v) in view.logs {
            for m in v.measures.values where !m.readings.isEmpty {
                ids.insert(log == view.ukLog ? m.payload.id : (m.payload.uk_measure ?? "\(log):\(m.payload.id)"))
            }
        }
        // Each key's id is taken once, not in every comparison (this runs for every overview).
        return ids.map { (key: $0, id: $0.split(separator: ":").last.map(String.init) ?? $0) }
            .sorted { $0.id == $1.id ? $0.key < $1.key : Self.idOrder($0.id, $1.id) }
            .map(\.key)
    }
}
