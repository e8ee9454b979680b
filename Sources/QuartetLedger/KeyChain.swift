import QuartetCrypto

/// The signing keys of one log over its history: the key the federation file pins (from size 0),
/// then each key a `key.rotation` entry moved to (for checkpoints of a size beyond the entry's
/// index), and the keys the federation revoked beyond a size. Peers, `quartet verify` and the
/// writer follow it; a checkpoint must carry a valid signature by the key in force at its size
/// (signatures by other keys, such as the previous key's during an overlap, are ignored).
public struct KeyChain: Sendable, Equatable {
    /// The log's origin (every key signs under this name).
    public let origin: String
    /// The rotations applied, in index order.
    public private(set) var rotations: [KeyRotation] = []
    /// The pinned key.
    public let pinned: Ed25519PublicKey
    /// Keys revoked beyond a size: a checkpoint larger than that signed by the key, and a
    /// rotation it signs at an index at or beyond it, are refused.
    public var revoked: [Ed25519PublicKey: UInt64] = [:]

    public init(origin: String, pinned: Ed25519PublicKey, rotations: [KeyRotation] = [], revoked: [Ed25519PublicKey: UInt64] = [:]) throws(LedgerError) {
        self.origin = origin
        self.pinned = pinned
        self.revoked = revoked
        for rotation in rotations { try apply(rotation) }
    }

    public init(pinned verifier: NoteVerifier) {
        origin = verifier.name
        pinned = verifier.publicKey
    }

    /// The key in force for checkpoints of `size`.
    public func key(forSize size: UInt64) -> Ed25519PublicKey {
        rotations.last(where: { $0.index < size })?.key ?? pinned
    }

    /// The key in force after every rotation.
    public var current: Ed25519PublicKey { rotations.last?.key ?? pinned }
    /// Every key the log has signed with: the pinned key, then each it rotated to.
    public var keys: [Ed25519PublicKey] { [pinned] + rotations.map(\.key) }

    /// The verifier for checkpoints of `size`.
    public func verifier(forSize size: UInt64) -> NoteVerifier { NoteVerifier(name: origin, publicKey: key(forSize: size)) }

    /// Adds a rotation found in the log. The same rotation again changes nothing; it must come
    /// after the last one, be signed by the key in force at its index, by a key not revoked there.
    public mutating func apply(_ rotation: KeyRotation) throws(LedgerError) {
        if rotations.contains(rotation) { return }
        guard rotation.origin == origin else { throw LedgerError(.malformed, "key.rotation names \(rotation.origin), not \(origin)") }
        if let last = rotations.last, rotation.index <= last.index {
            throw LedgerError(.badSignature, "key.rotation at index \(rotation.index) of \(origin) contradicts the rotation at \(last.index) this node holds")
        }
        let inForce = key(forSize: rotation.index)
        guard rotation.previous == inForce else {
            throw LedgerError(.badSignature, "key.rotation at index \(rotation.index) of \(origin) is not signed by the key in force there (\(NoteVerifier(name: origin, publicKey: inForce).vkey))")
        }
        if let limit = revoked[inForce], rotation.index >= limit {
            throw LedgerError(.badSignature, "key.rotation at index \(rotation.index) of \(origin) is signed by a key revoked from size \(limit) on")
        }
        rotations.append(rotation)
    }

    /// Verifies a checkpoint note against the key in force at its size. Returns the checkpoint
    /// and the note with only that key's signature line.
    public func verifyCheckpoint(_ note: SignedNote) throws(LedgerError) -> (checkpoint: Checkpoint, note: SignedNote) {
        let claimed = try Checkpoint(parsing: note.text)
        let verifier = verifier(forSize: claimed.size)
        let checkpoint = try verifier.verifyCheckpoint(note)
        if let limit = revoked[verifier.publicKey], checkpoint.size > limit {
            throw LedgerError(.badSignature, "checkpoint of \(origin) at size \(checkpoint.size) is signed by a key revoked beyond size \(limit)")
        }
        return (checkpoint, verifier.originOnly(note))
    }

    /// Whether `note` is signed under this origin by a key the chain does not hold (a rotation
    /// this node has not stored yet): worth asking for the entries, not a forgery to blame.
    public func signedByUnknownKey(_ note: SignedNote) -> Bool {
        let known = Set(keys.map { noteKeyID(name: origin, publicKey: $0) })
        return note.signatures.contains { $0.keyName == origin && !known.contains($0.keyID) }
    }
}
