import QuartetLedger

/// The latest signed checkpoint of a log this node holds.
public struct LogHead: Sendable, Equatable {
    public var checkpoint: Checkpoint
    public var note: String
    public var size: UInt64 { checkpoint.size }

    public init(checkpoint: Checkpoint, note: String) {
        self.checkpoint = checkpoint
        self.note = note
    }
}

/// Something operators must hear about.
public struct ReplicationAlert: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        /// Two validly signed checkpoints of a log that cannot both be true.
        case equivocation
        /// A batch or checkpoint that failed verification.
        case rejected
        /// A peer broke the protocol.
        case protocolViolation = "protocol"
        /// Someone holds more of this node's own log than this node does.
        case ownLogAhead = "own-log-ahead"
        /// This node took a tail of its own log from a peer before appending (it had lost it).
        case ownLogRecovered = "own-log-recovered"
        /// A peer sent a payload no agreement lets this node hold (kept as a stub only).
        case violation
        /// A checkpoint its writer signed, which no entries have come towards for a minute while
        /// this node was connected to the writer and no other peer held more: not counted for
        /// readiness until entries come (`Replicator.unbacked`).
        case unbacked = "unbacked-checkpoint"
        /// A checkpoint validly signed by a key the log rotated away from, at a size beyond that
        /// rotation: a second history across the rotation (its writer, or whoever holds the old
        /// key, signed it). The peer showing it is not blamed: it may hold that history in good
        /// faith. No evidence form carries this yet (docs/security.md).
        case rotationFork = "rotation-fork"
        /// A peer runs a newer federation file than this node, or another one under the same
        /// version (`Message.federation`).
        case federationFile = "federation-file"
    }

    public var kind: Kind
    public var log: String?
    public var peer: String?
    public var message: String

    public init(kind: Kind, log: String?, peer: String?, message: String) {
        self.kind = kind
        self.log = log
        self.peer = peer
        self.message = message
    }
}

/// What the shell around the replicator must do.
public enum Directive: Sendable, Equatable {
    /// Send a message to a connected peer.
    case send(peer: String, Message)
    /// Verify the batch's leaves against `checkpoint` (already signature-checked) and store it
    /// atomically; then call `stored` or `rejected`.
    case store(peer: String, batch: Batch, checkpoint: Checkpoint)
    /// Read entries of `log` from `from` and send them to `peer` as an `entries` message that ends
    /// at a stored checkpoint.
    case serve(peer: String, log: String, from: UInt64)
    /// A peer showed a validly signed checkpoint no larger than this node's copy of the log:
    /// compare it with the stored tree and call `inconsistent` with evidence if it differs.
    case check(peer: String, log: String, note: String, checkpoint: Checkpoint)
    /// A peer showed a checkpoint no larger than this node's copy, signed only by the key the
    /// log rotated away from at entry `rotation`: compare it with the stored tree and call
    /// `checkedFork` with whether it matches.
    case checkFork(peer: String, log: String, note: String, checkpoint: Checkpoint, rotation: UInt64)
    /// A checkpoint of this node's own log beyond what the replicator holds, verified under its
    /// key, came after the node opened: unless the store holds it (this writer's own commit,
    /// read by a peer before the replicator was told of it), call `ownLogAheadConfirmed`.
    case checkOwnAhead(peer: String, checkpoint: Checkpoint, note: String)
    /// Keep this evidence (the log is now quarantined).
    case keepEvidence(Evidence)
    /// Tell operators.
    case alert(ReplicationAlert)
    /// Open a connection to `peer` after a delay.
    case dial(peer: String, afterMillis: UInt64)
    /// Close the connection to `peer`.
    case close(peer: String, reason: String)
    /// This node holds at least as much of its own log as any peer that answered has shown
    /// (`size` entries): it may append from here (`ReplicationSettings.syncOwnLog`).
    case ownLogSynced(size: UInt64)
    /// A peer stated the federation file it runs (`Message.federation`, at most once a round):
    /// check its signatures and version against the file in force here.
    case federationStated(peer: String, statement: String)
}
