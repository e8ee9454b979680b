/// Samples of one measurement (latencies in ms, say), sorted once, with the one percentile rule
/// every benchmark uses (`bench append`, `bench replication`, `bench view`; medians are
/// `percentile(0.5)`).
struct Samples {
    let sorted: [Double]

    init(_ values: [Double]) { sorted = values.sorted() }

    /// The sample at rank ⌊n·p⌋ of the sorted samples (the last one for p = 1, the maximum);
    /// nil when there are none.
    func percentile(_ p: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
    }

    var count: Int { sorted.count }
}

/// A figure to three decimals, as the benchmarks print them.
func threeDecimals(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }
