import QuartetCrypto
import QuartetLedger

/// What the replicator needs to know about its node and federation.
public struct ReplicationSettings: Sendable {
    /// This node's id.
    public var node: String
    /// The federation's name (both sides of a connection must agree).
    public var federation: String
    /// The log this node writes; entries for it are never accepted from anyone.
    public var ownLog: String
    /// Every log of the federation and its pinned note verifier key.
    public var verifiers: [String: NoteVerifier]
    /// Keys the federation revoked, per log: checkpoints beyond the size given signed by the
    /// key, and rotations it signs from that index on, are refused (`KeyChain`); so is a
    /// rotation it signs at any index to a key the federation does not name for the log.
    public var revoked: [String: [Ed25519PublicKey: UInt64]] = [:]
    /// The keys the federation names for each log besides its pinned and revoked keys (its
    /// `current_vkey`): the keys a revoked key may still rotate to (`KeyChain.named`).
    public var named: [String: Set<Ed25519PublicKey>] = [:]
    /// The other members.
    public var peers: [String]
    /// Which node writes each log (by default a log is named after its node).
    public var writers: [String: String] = [:]
    /// Anti-entropy period.
    public var antiEntropyMillis: UInt64 = 2_000
    /// Reconnect backoff: first delay, ceiling (each failure doubles it, plus up to 50% jitter).
    public var backoffBaseMillis: UInt64 = 100
    public var backoffMaxMillis: UInt64 = 1_000
    /// Rejected batches or bad signatures from one peer before it is disconnected.
    public var penaltyLimit = 10
    /// Hold this node's own log until a peer has said what it holds of it, and take from peers
    /// any tail of it this node lacks (a restored old copy), before the first append
    /// (`Replicator.ownLogSynced`). Off: the node is the only copy of its log.
    public var syncOwnLog = false
    /// With `syncOwnLog`: how many peers must have said what they hold of the own log before
    /// the node may append — enough that every witness quorum of the log includes one of them
    /// (`ownSyncAnswers(witnesses:)`), so no single stale or hostile peer can open a restored copy
    /// alone. With fewer peers than this, every peer must answer.
    public var ownSyncAnswers = 1
    /// The peers whose answers count for `ownSyncAnswers`: the own log's witnesses (their
    /// answers are what meets every witness quorum). Nil: every peer's.
    public var ownSyncWitnesses: Set<String>?
    /// When this process started (milliseconds since 1970, its wall clock): during the own-log
    /// sync, a checkpoint of the own log signed well after it, beyond what the first round
    /// showed, was signed by another live copy of this node (`OwnLogSync.liveSigner`). Nil: not
    /// checked.
    public var startedMillis: UInt64?
    /// The highest protocol version this node speaks (`ProtocolLimits.version`; lower only to
    /// test a federation in which one node still runs the previous version).
    public var protocolVersion = ProtocolLimits.version
    /// The signatures of the federation file in force here (its `federation.json.sig`, the
    /// signed statement of its version and SHA-256), told to peers of protocol version 4 on
    /// (`Message.federation`). Nil: none told.
    public var federationStatement: String?

    public init(node: String, federation: String, ownLog: String, verifiers: [String: NoteVerifier], peers: [String]) {
        self.node = node
        self.federation = federation
        self.ownLog = ownLog
        self.verifiers = verifiers
        self.peers = peers
    }

    /// The answers `ownSyncAnswers` asks for with `witnesses` witnesses of the own log and the
    /// federation's default quorum (a majority): `witnesses - quorum + 1`, the fewest witnesses
    /// that meet every quorum (4 witnesses: 2; 2: 1), and 1 with none.
    public static func ownSyncAnswers(witnesses: Int) -> Int {
        guard witnesses > 0 else { return 1 }
        return witnesses - WitnessPolicy.majority(of: witnesses) + 1
    }

    /// The node that writes `log`.
    public func writer(of log: String) -> String { writers[log] ?? log }

    /// A connection between two members is redialled by the one with the smaller id.
    public func dials(_ peer: String) -> Bool { node < peer }
}

/// Which of two connections with the same peer a node keeps. Every node starts by dialling
/// every peer, and afterwards the member with the smaller id redials, so two connections can
/// exist for a moment; both sides must keep the same one.
public enum ConnectionChoice {
    /// How long after a connection was made a rival from the start-up race may still appear.
    public static let startRaceMillis: UInt64 = 2_000

    /// Whether a newly verified connection replaces the one held with the same peer.
    /// - Parameters:
    ///   - newCanonical: the new one was dialled by the member with the smaller id.
    ///   - heldCanonical: so was the one held.
    ///   - heldAgeMillis: how long the one held has been up.
    public static func keepsNew(newCanonical: Bool, heldCanonical: Bool, heldAgeMillis: UInt64) -> Bool {
        // A connection the smaller id dialled always wins (it redials only when it has lost
        // the link, and it wins the start-up race); the newer of two of a kind wins. A
        // connection the larger id dialled loses to a young canonical one (both dialled at
        // start) but replaces an old one: the larger id dials only when it starts, so it has
        // restarted and the old link may be half-open.
        newCanonical || !heldCanonical || heldAgeMillis >= startRaceMillis
    }
}
