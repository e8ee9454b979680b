import Foundation

/// What `bench replication` prints: every figure a `Codable` field, printed with snake_case
/// keys (`printJSON(_:snakeCaseKeys:)`).
extension BenchReplication {
    struct Report: Encodable {
        var benchmark = "replication"
        var cores: Int
        var nodes = 5
        var rounds: Int
        var propagation: Propagation
        var catchUp: CatchUpRun?
        var policy: PolicyReport?
    }

    /// Latency figures in ms; `max` only over every append.
    struct Latency: Encodable {
        var p50: Double
        var p99: Double
        var max: Double?
    }

    struct Propagation: Encodable {
        var appends: Int
        var ratePerSecond: Int
        var from = "acknowledged at wales"
        var to = "durable at uk"
        var latencyMs: Latency
        var roundsMs: [Latency]
        var targetsMs = Latency(p50: 3, p99: 10)
    }

    /// The runs with half of the entries restricted, and what they cost.
    struct PolicyReport: Encodable {
        var restrictedFraction = 0.5
        var propagation: Propagation
        var propagationOverhead: Latency
        var catchUp: CatchUpRun?
        var catchUpThroughputOverhead: Double?
        var target = "overheads under 0.10"
    }
}

/// One catch-up round's figures.
struct CatchUpRun: Encodable {
    struct Targets: Encodable {
        var entriesPerSecond = 100_000
        var peakRssMb = 200
    }

    var entries: Int
    var logs: Int
    var fillSeconds: Double
    var nationsReplicatedEachOtherSeconds: Double
    var seconds: Double
    var entriesPerSecond: Double
    var ukPeakRssMb: Double
    var targets = Targets()
    /// Over several rounds: every round's rate (in the report, not in one round's figures).
    var roundsEntriesPerSecond: [Double]?

    /// The median round's figures (with an even number of rounds, the slower middle round's,
    /// and the rate the mean of the middle two), every round's rate, and the highest peak RSS.
    static func median(of runs: [CatchUpRun]) -> CatchUpRun {
        let sorted = runs.sorted { $0.entriesPerSecond < $1.entriesPerSecond }
        var report = sorted[(sorted.count - 1) / 2]
        if sorted.count % 2 == 0 {
            report.entriesPerSecond = ((sorted[sorted.count / 2 - 1].entriesPerSecond + sorted[sorted.count / 2].entriesPerSecond) / 2).rounded()
        }
        report.roundsEntriesPerSecond = runs.map(\.entriesPerSecond)
        report.ukPeakRssMb = runs.map(\.ukPeakRssMb).max()!
        return report
    }
}
