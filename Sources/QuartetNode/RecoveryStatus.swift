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

extension ReplicationEngine {
    func recoveryStatus() -> RecoveryStatus {
        queue.sync {
            let own = replicator.ownLogStatus
            return RecoveryStatus(ownSynced: own.synced, heard: own.heard, needed: own.needed, connected: replicator.connectedPeers, backfilling: backfilling,
                                  filledFrom: backfill?.filled ?? [:],
                                  logs: logs.values.sorted { $0.name < $1.name }.map { log in
                                      RecoveryStatus.Log(name: log.name, own: log.isOwn, held: replicator.heads[log.name]?.size ?? 0,
                                                         seen: replicator.seen[log.name]?.size ?? 0, from: storedFrom[log.name] ?? [:])
                                  })
        }
    }
}

extension Node {
    /// Where this node stands in rebuilding its data from the federation (`quartet recover`).
    public func recoveryStatus() -> RecoveryStatus { engine.recoveryStatus() }
}
