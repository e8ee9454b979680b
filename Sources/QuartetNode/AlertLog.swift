import Foundation
import Logging
import QuartetCrypto
import QuartetReplication
import QuartetTLS

/// The replication alerts raised since start, per kind and peer, oldest first: each is logged
/// (critical for an equivocation, warning otherwise), counted in the metrics and kept for
/// `GET /v1/alerts` and the dashboard. Not thread-safe: the engine holds it on its queue.
struct AlertLog {
    /// Alerts kept per (kind, peer) — peers are federation members, so the total is bounded —
    /// so a member flooding one kind cannot push out the evidence against it or anyone else.
    static let perKindAndPeer = 200

    /// Log lines per (kind, peer) a minute. A member can raise alerts of its own as fast as it
    /// sends bad batches: unbudgeted, they filled the log (and tripped journald's rate limit,
    /// which then drops the node's other lines too). The kinds that are evidence of a second
    /// history (`alwaysLogged`) are never dropped: each is raised once per log and evidence.
    /// (`own-log-ahead` is budgeted: a peer holding more of the own log says so in every head.)
    static let linesPerMinute = 10
    static let alwaysLogged: Set<ReplicationAlert.Kind> = [.equivocation, .rotationFork]

    private let logger: Logger
    private let metrics: NodeMetrics
    private let clock: @Sendable () -> ContinuousClock.Instant
    /// Per (kind, peer): the numbers of the alerts kept, oldest first.
    private var kept: [String: [UInt64]] = [:]
    /// Every alert kept, oldest first, kept in order as each is recorded (sorting them all per
    /// read cost each status request, page and `/metrics` scrape a sort of up to thousands a
    /// member can raise: finding 271); `numbers` beside it, each alert's.
    private(set) var list: [(time: Date, alert: ReplicationAlert)] = []
    private var numbers: [UInt64] = []
    /// Alerts recorded since start: moves with every alert (what was read is stale when it has).
    private(set) var generation: UInt64 = 0
    private var budgets: [String: LogBudget] = [:]

    init(logger: Logger, metrics: NodeMetrics, clock: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.logger = logger
        self.metrics = metrics
        self.clock = clock
    }

    /// Records `raw` (its message made safe to log) at `time`. `counted` false: kept and
    /// logged, not counted in the metrics (a state carried over a restart, already counted).
    mutating func record(_ raw: ReplicationAlert, at time: Date = Date(), counted: Bool = true) {
        var alert = raw
        alert.message = PeerText.clean(raw.message)
        // A log name can come from a peer (a log this federation does not have): kept cleaned
        // and short, as it is logged, not as the peer sent it (up to 64 KiB).
        alert.log = raw.log.map { PeerText.clean($0, limit: 64) }
        var metadata: Logger.Metadata = ["alert": "\(alert.kind.rawValue)", "log": "\(alert.log ?? "-")", "peer": "\(alert.peer ?? "-")"]
        let key = "\(alert.kind.rawValue)\u{0}\(alert.peer ?? "")"
        var write = true
        if !Self.alwaysLogged.contains(alert.kind) {
            let budget = budgets[key] ?? LogBudget(lines: Self.linesPerMinute, per: .seconds(60), clock: clock)
            budgets[key] = budget
            let taken = budget.take()
            write = taken.write
            if taken.dropped > 0 { metadata["alerts_not_logged"] = "\(taken.dropped)" }
        }
        if write {
            switch alert.kind {
            case .equivocation: logger.critical("\(alert.message)", metadata: metadata)
            default: logger.warning("\(alert.message)", metadata: metadata)
            }
        }
        generation += 1
        // In time order, after every alert of the same time or earlier (at the end but for a
        // clock stepped back).
        var at = list.count
        if let last = list.last, last.time > time {
            var low = 0, high = list.count
            while low < high {
                let mid = (low + high) / 2
                if list[mid].time <= time { low = mid + 1 } else { high = mid }
            }
            at = low
        }
        list.insert((time, alert), at: at)
        numbers.insert(generation, at: at)
        kept[key, default: []].append(generation)
        // The first alerts of a kind from a peer are the evidence; the newest show it goes on.
        if kept[key]!.count > Self.perKindAndPeer {
            let dropped = kept[key]!.remove(at: Self.perKindAndPeer / 2)
            if let i = numbers.firstIndex(of: dropped) {
                list.remove(at: i)
                numbers.remove(at: i)
            }
        }
        guard counted else { return }
        metrics.alertCounter(alert.kind).increment()
        if alert.kind == .rejected { metrics.rejectedBatches.increment() }
    }

    /// The alerts as the status page lists them: the newest of each kind and peer with how many
    /// there were, the kinds that are evidence first (a second history, a stolen key, a newer
    /// federation file, data sent without an agreement), then newest first. A member raising
    /// hundreds of one kind takes one line, not the page: the newest 50 of all kinds let it
    /// push evidence against another log off the page an operator reads.
    static func summary(_ list: [(time: Date, alert: ReplicationAlert)]) -> [(time: Date, alert: ReplicationAlert, count: Int)] {
        var groups: [String: (time: Date, alert: ReplicationAlert, count: Int)] = [:]
        for item in list {
            // The kinds that are evidence apart per log as well: one peer relaying evidence about
            // two logs (or a rotation fork, which names no peer) is two lines.
            let perLog = Self.rank(item.alert.kind) <= Self.rank(.violation) ? item.alert.log ?? "" : ""
            let key = "\(item.alert.kind.rawValue)\u{0}\(item.alert.peer ?? "")\u{0}\(perLog)"
            let count = (groups[key]?.count ?? 0) + 1
            if let kept = groups[key], kept.time > item.time { groups[key]!.count = count } else { groups[key] = (item.time, item.alert, count) }
        }
        return groups.values.sorted { a, b in
            let ra = Self.rank(a.alert.kind), rb = Self.rank(b.alert.kind)
            return ra != rb ? ra < rb : a.time > b.time
        }
    }

    /// Evidence first: the order of the status page.
    static func rank(_ kind: ReplicationAlert.Kind) -> Int {
        switch kind {
        case .equivocation: 0
        case .rotationFork: 1
        case .ownLogAhead: 2
        case .federationFile: 3
        case .violation: 4
        case .unbacked: 5
        case .ownLogRecovered: 6
        case .rejected: 7
        case .protocolViolation: 8
        }
    }
}

extension ReplicationAlert {
    /// This alert as `viewer` may read it. A violation names who sent which restricted entries
    /// of a holder's log to this node, which is a disclosure record's content: it is for this
    /// node's operator (`ownLog`'s) and the holder's operator, as records are (finding 238);
    /// anyone else (a reader, an auditor, another log's operator, a member node, the log
    /// health every reader's view carries: `viewer` nil) reads its kind and log only. So does
    /// an own log's tail taken back from a peer after a restore: which entries came back in
    /// full from whom says which peer held which restricted rows in full (finding 287).
    func shown(to viewer: FederationIdentity?, ownLog: String) -> ReplicationAlert {
        switch kind {
        case .violation:
            if case .operator(let log)? = viewer, log == ownLog || log == self.log { return self }
            var out = self
            out.peer = nil
            out.message = "a peer sent \(log ?? "a log")'s restricted entries or aggregates that no agreement lets this node hold; kept the stubs only (this node's operator and the log's see which, and from whom)"
            return out
        case .ownLogRecovered:
            if case .operator(let log)? = viewer, log == ownLog { return self }
            var out = self
            out.peer = nil
            out.message = "took entries of this node's own log \(log ?? "") from peers that held more than its store (a restored older copy); this node's operator sees from whom, and which came back without their payload"
            return out
        default:
            return self
        }
    }
}
