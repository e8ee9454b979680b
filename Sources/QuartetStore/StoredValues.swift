import QuartetCrypto
import QuartetLedger

/// A log held in a data directory.
public struct LogInfo: Sendable, Equatable {
    /// Row id, internal to this directory.
    let id: Int64
    /// The log's name, e.g. `wales`.
    public let name: String
    /// The checkpoint origin (and note key name) of the log.
    public let origin: String
    /// The log's pinned Ed25519 signing key.
    public let publicKey: Ed25519PublicKey
    /// Whether this directory writes the log (holds its signing key).
    public let isOwn: Bool

    /// The note verifier of the log's checkpoints.
    public var verifier: NoteVerifier { NoteVerifier(name: origin, publicKey: publicKey) }
}

/// A signed checkpoint as stored.
public struct StoredCheckpoint: Sendable, Equatable {
    /// The parsed checkpoint.
    public let checkpoint: Checkpoint
    /// The signed note exactly as signed.
    public let note: String
}

/// An RFC 9162 inclusion proof of one entry.
public struct InclusionProof: Sendable, Equatable {
    public let log: String
    public let index: UInt64
    public let size: UInt64
    public let leafHash: Hash
    public let root: Hash
    /// Audit path, nearest the leaf first.
    public let proof: [Hash]
}

/// An RFC 9162 consistency proof between two sizes of one log.
public struct ConsistencyProof: Sendable, Equatable {
    public let log: String
    public let from: UInt64
    public let to: UInt64
    public let fromRoot: Hash
    public let root: Hash
    public let proof: [Hash]
}
