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
        return ids.sorted { a, b in
            let x = a.split(separator: ":").last.map(String.init) ?? a, y = b.split(separator: ":").last.map(String.init) ?? b
            return x == y ? a < b : Self.idOrder(x, y)
        }
    }
}
