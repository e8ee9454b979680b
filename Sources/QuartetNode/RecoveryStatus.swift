import QuartetReplication

/// Where a node rebuilding its data directory from the federation stands (`quartet recover`
/// polls it while the node runs in its process): its own log synced with what peers hold
/// (`OwnLogSync`), the payloads of own-log stubs asked of the other peers (`PayloadBackfill`),
/// and every log held at least to the largest checkpoint of it any peer has shown.
public struct RecoveryStatus: Sendable {
    public struct Log: Sendable {
        public var name: String
        public var own: Bool
        /// Entries held here.
        public var held: UInt64
        /// The largest checkpoint of it seen signed (its writer's signature verified).
        public var seen: UInt64
        /// Entries stored here since start, per peer that sent them.
        public var from: [String: UInt64]
    }

    /// The own log may be appended to (no peer holds more of it).
    public var ownSynced: Bool
    /// Peers that have said what they hold of the own log.
    public var heard: Int
    /// Peers that must have said it before the own log opens (`OwnLogStatus.needed`).
    public var needed: Int = 1
    /// Peers connected (and greeted) now.
    public var connected: [String]
    /// Payloads of own-log stubs still being asked for.
    public var backfilling: Bool
    /// Payloads of own-log stubs filled, per peer that sent them.
    public var filledFrom: [String: Int]
    public var logs: [Log]
    /// Peers the payload backfill is done with (asked through, or given up on): each is
    /// progress, so peers that hold nothing, each taking its time, do not fail the wait.
    public var backfillPeersDone: Int = 0

    /// Everything the peers showed is here.
    public var complete: Bool { ownComplete && logs.allSatisfy { $0.held >= $0.seen } }
    /// The own log is whole: synced with what peers hold, its stubs' payloads asked for, and
    /// held to the largest checkpoint of it seen. What `recover` cannot finish without; other
    /// members' logs catch up after the node starts, as they would for a node that was away.
    public var ownComplete: Bool { ownSynced && heard > 0 && !backfilling && logs.allSatisfy { !$0.own || $0.held >= $0.seen } }
    /// Other members' logs held short of a checkpoint seen signed.
    public var short: [Log] { logs.filter { !$0.own && $0.held < $0.seen } }
    /// Entries held over every log.
    public var held: UInt64 { logs.reduce(0) { $0 + $1.held } }
}

/// When `quartet recover` stops waiting, decided from the node's status polled now and then;
/// pure (the clock is an argument), so its timings are tested without a node
/// (`RecoveryStatusTests`).
/// - Everything the peers showed is here: finished.
/// - The own log is whole: the other logs get at most `limit` more, progress or not (a member
///   trickling a batch of its own log now and then must not keep the recovery running; the
///   node fetches what is left after it starts, and the report says so).
/// - Nothing moved for `limit` (a peer answering, entries stored, payloads filled): finished if
///   the own log is whole, else failed, saying what was missing.
public struct RecoveryWatch: Sendable {
    public enum Decision: Sendable, Equatable {
        case wait
        case finished
        case failed(String)
    }

    public let limit: Duration
    private var lastProgress: ContinuousClock.Instant
    private var last = ""
    private var ownCompleteSince: ContinuousClock.Instant?

    public init(limit: Duration, now: ContinuousClock.Instant) {
        self.limit = limit
        lastProgress = now
    }

    public mutating func next(_ status: RecoveryStatus, now: ContinuousClock.Instant) -> Decision {
        if status.complete { return .finished }
        if !status.ownComplete {
            ownCompleteSince = nil
        } else if let since = ownCompleteSince {
            if now - since > limit { return .finished }
        } else {
            ownCompleteSince = now
        }
        // Progress on the own log only (answers about it, its entries, its payloads): while it is
        // short, another member appending to its own log must not keep a stuck recovery running
        // past the wait (and once it is whole the wait above bounds the rest).
        let ownHeld = status.logs.filter(\.own).map(\.held).reduce(0, +)
        let moved = "\(status.heard) \(ownHeld) \(status.ownSynced) \(status.filledFrom.values.reduce(0, +)) \(status.backfillPeersDone)"
        if moved != last {
            last = moved
            lastProgress = now
        }
        guard now - lastProgress > limit else { return .wait }
        // Only other members' logs short, and nothing came for them in the whole wait: a
        // checkpoint their writer signed that no peer backs with entries (a writer may sign what
        // it never sends) must not fail, and so wipe, a recovery whose own log is whole.
        if status.ownComplete { return .finished }
        let seconds = limit.components.seconds
        let connected = status.connected.isEmpty ? "none" : status.connected.joined(separator: ", ")
        return .failed(status.heard == 0
            ? (status.connected.isEmpty ? "no peer answered within \(seconds) s (connected: none)"
                : "none of this log's witnesses answered within \(seconds) s (connected: \(connected); only the witnesses' answers count)")
            : !status.ownSynced && status.heard < status.needed
            ? "only \(status.heard) of the \(status.needed) peers that must say what they hold of this node's log answered within \(seconds) s (connected: \(connected))"
            : "no progress for \(seconds) s (holds \(status.held) entries; "
                + status.logs.filter { $0.held < $0.seen }.map { "\($0.name) \($0.held) of \($0.seen)" }.joined(separator: ", ") + ")")
    }
}

extension ReplicationEngine {
    func recoveryStatus() -> RecoveryStatus {
        queue.sync {
            let own = replicator.ownLogStatus
            return RecoveryStatus(ownSynced: own.synced, heard: own.heard, needed: own.needed, connected: replicator.connectedPeers, backfilling: backfilling,
                                  filledFrom: backfill?.filled ?? [:],
                                  logs: logs.values.sorted { $0.name < $1.name }.map { log in
                                      RecoveryStatus.Log(name: log.name, own: log.isOwn, held: replicator.heads[log.name]?.size ?? 0,
                                                         seen: replicator.seen[log.name]?.size ?? 0, from: storedFrom[log.name] ?? [:])
                                  }, backfillPeersDone: backfill?.done.count ?? 0)
        }
    }
}

extension Node {
    /// Where this node stands in rebuilding its data from the federation (`quartet recover`).
    public func recoveryStatus() -> RecoveryStatus { engine.recoveryStatus() }
}
