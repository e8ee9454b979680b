import Foundation
import Logging
import QuartetCrypto
import QuartetReplication

/// The replication alerts raised since start, per kind and peer, oldest first: each is logged
/// (critical for an equivocation, warning otherwise), counted in the metrics and kept for
/// `GET /v1/alerts` and the dashboard. Not thread-safe: the engine holds it on its queue.
struct AlertLog {
    /// Alerts kept per (kind, peer) — peers are federation members, so the total is bounded —
    /// so a member flooding one kind cannot push out the evidence against it or anyone else.
    static let perKindAndPeer = 200

    private let logger: Logger
    private let metrics: NodeMetrics
    private var alerts: [String: [(time: Date, alert: ReplicationAlert)]] = [:]

    init(logger: Logger, metrics: NodeMetrics) {
        self.logger = logger
        self.metrics = metrics
    }

    /// Records `raw` (its message made safe to log) at `time`.
    mutating func record(_ raw: ReplicationAlert, at time: Date = Date()) {
        var alert = raw
        alert.message = PeerText.clean(raw.message)
        // A log name can come from a peer (a log this federation does not have): kept cleaned
        // and short, as it is logged, not as the peer sent it (up to 64 KiB).
        alert.log = raw.log.map { PeerText.clean($0, limit: 64) }
        let metadata: Logger.Metadata = ["alert": "\(alert.kind.rawValue)", "log": "\(alert.log ?? "-")", "peer": "\(alert.peer ?? "-")"]
        switch alert.kind {
        case .equivocation: logger.critical("\(alert.message)", metadata: metadata)
        default: logger.warning("\(alert.message)", metadata: metadata)
        }
        let key = "\(alert.kind.rawValue)\u{0}\(alert.peer ?? "")"
        alerts[key, default: []].append((time, alert))
        // The first alerts of a kind from a peer are the evidence; the newest show it goes on.
        if alerts[key]!.count > Self.perKindAndPeer {
            alerts[key]!.remove(at: Self.perKindAndPeer / 2)
        }
        metrics.alertCounter(alert.kind).increment()
        if alert.kind == .rejected { metrics.rejectedBatches.increment() }
    }

    /// Every alert kept, oldest first.
    var list: [(time: Date, alert: ReplicationAlert)] {
        alerts.values.flatMap { $0 }.sorted { $0.time < $1.time }
    }
}

extension ReplicationAlert {
    /// This alert as `viewer` may read it. A violation names who sent which restricted entries
    /// of a holder's log to this node, which is a disclosure record's content: it is for this
    /// node's operator (`ownLog`'s) and the holder's operator, as records are (finding 238);
    /// anyone else (a reader, an auditor, another log's operator, a member node, the log
    /// health every reader's view carries: `viewer` nil) reads its kind and log only.
    func shown(to viewer: FederationIdentity?, ownLog: String) -> ReplicationAlert {
        guard kind == .violation else { return self }
        if case .operator(let log)? = viewer, log == ownLog || log == self.log { return self }
        var out = self
        out.peer = nil
        out.message = "a peer sent \(log ?? "a log")'s restricted entries or aggregates that no agreement lets this node hold; kept the stubs only (this node's operator and the log's see which, and from whom)"
        return out
    }
}
