/// Where a node stands with its own log (for the writer's hold reason and `/readyz`).
public struct OwnLogStatus: Sendable, Equatable {
    /// The node may append.
    public var synced: Bool
    /// Entries of its own log it holds.
    public var held: UInt64
    /// The largest checkpoint of its own log seen signed (its own or a peer's).
    public var seen: UInt64
    /// Peers that have said what they hold of it.
    public var heard: Int
    /// Peers that must have said it before the node may append (`ReplicationSettings.ownSyncAnswers`,
    /// at most the peers there are).
    public var needed: Int
    /// The largest size of it a peer claims under a key this node has not seen yet (0: none).
    public var claimed: UInt64
    /// Why the peers hold another history of it than this copy (nil: none seen).
    public var conflict: String?
    /// Held because members run a newer federation file than this node (`Replicator.holdOwnSync`).
    public var heldForFederation = false
    /// Why the node takes no more appends though it opened (`OwnLogSync.superseded`), or nil.
    public var superseded: String?
    /// Rounds a claimant may give nothing before its claim no longer counts (`OwnLogSync.claimRounds`).
    public static let claimRounds = OwnLogSync.claimRounds

    public init(synced: Bool, held: UInt64, seen: UInt64, heard: Int, needed: Int = 1, claimed: UInt64 = 0, conflict: String? = nil, heldForFederation: Bool = false,
                superseded: String? = nil) {
        self.conflict = conflict
        self.superseded = superseded
        self.heldForFederation = heldForFederation
        self.synced = synced
        self.held = held
        self.seen = seen
        self.heard = heard
        self.needed = needed
        self.claimed = claimed
    }
}
