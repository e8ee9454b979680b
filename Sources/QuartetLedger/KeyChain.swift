import QuartetCrypto

/// The signing keys of one log over its history: the key the federation file pins (from size 0),
/// then each key a `key.rotation` entry moved to (for checkpoints of a size beyond the entry's
/// index), and the keys the federation revoked beyond a size. Peers, `quartet verify` and the
/// writer follow it; a checkpoint must carry a valid signature by the key in force at its size
/// (signatures by other keys, such as the previous key's during an overlap, are ignored).
///
/// A chain that checks anything a peer, a witness or a reader relies on is built with the
/// federation's word on the log (`followed(pinned:rotations:revoked:named:)`, or the
/// initialiser that takes `revoked` and `named`): its revocations and the keys it names for the
/// log. `init(pinned:)` is the chain as a store holds it, with no federation (its writer's keys,
/// offline checks of the bytes), and a reader's from its policy file's key, which carries no
/// revocations either (`WitnessPolicy.verify(_:following:)` follows one only where the policy's
/// witnesses, who apply them, vouch for the checkpoint).
public struct KeyChain: Sendable, Equatable {
    /// The log's origin (every key signs under this name).
    public let origin: String
    /// The rotations applied, in index order.
    public private(set) var rotations: [KeyRotation] = []
    /// The pinned key.
    public let pinned: Ed25519PublicKey
    /// Keys revoked beyond a size: a checkpoint larger than that signed by the key, and a
    /// rotation it signs at an index at or beyond it, are refused; a rotation it signs at any
    /// index to a key the federation does not name for the log (`names`) is refused too.
    public private(set) var revoked: [Ed25519PublicKey: UInt64] = [:]
    /// The keys the federation names for the log besides the pinned key and the revoked ones
    /// (its `current_vkey`): with them, the only keys a revoked key may rotate to.
    public private(set) var named: Set<Ed25519PublicKey> = []

    /// The chain's keys (pinned, then each rotated to), and the note key ids of those and of the
    /// revoked and named keys, kept as the chain grows: a rotation is checked against them in
    /// constant time, so following a chain costs one key id per rotation, not one per key.
    /// (In an immutable box, replaced on change: stored beside the chain's other fields as
    /// three collections, the test process crashed destroying chains, a compiler or runtime
    /// fault not found; the box keeps the struct's layout as it was.)
    private var index = KeyIndex()

    final class KeyIndex: Sendable {
        let chainKeys: Set<Ed25519PublicKey>
        let chainKeyIDs: Set<[UInt8]>
        let otherKeyIDs: [[UInt8]: Ed25519PublicKey]

        init(chainKeys: Set<Ed25519PublicKey> = [], chainKeyIDs: Set<[UInt8]> = [], otherKeyIDs: [[UInt8]: Ed25519PublicKey] = [:]) {
            self.chainKeys = chainKeys
            self.chainKeyIDs = chainKeyIDs
            self.otherKeyIDs = otherKeyIDs
        }
    }

    private var chainKeys: Set<Ed25519PublicKey> { index.chainKeys }
    private var chainKeyIDs: Set<[UInt8]> { index.chainKeyIDs }
    private var otherKeyIDs: [[UInt8]: Ed25519PublicKey] { index.otherKeyIDs }

    private mutating func indexKeys() {
        var others: [[UInt8]: Ed25519PublicKey] = [:]
        for key in Array(revoked.keys) + named where !index.chainKeys.contains(key) {
            others[noteKeyID(name: origin, publicKey: key)] = key
        }
        index = KeyIndex(chainKeys: index.chainKeys, chainKeyIDs: index.chainKeyIDs, otherKeyIDs: others)
    }

    private mutating func addToChain(_ key: Ed25519PublicKey) {
        index = KeyIndex(chainKeys: index.chainKeys.union([key]), chainKeyIDs: index.chainKeyIDs.union([noteKeyID(name: origin, publicKey: key)]),
                         otherKeyIDs: index.otherKeyIDs.filter { $0.value != key })
    }

    public static func == (a: KeyChain, b: KeyChain) -> Bool {
        a.origin == b.origin && a.rotations == b.rotations && a.pinned == b.pinned && a.revoked == b.revoked && a.named == b.named
    }

    /// A chain with the federation's word on the log: `revoked` (its revoked keys and their
    /// sizes) and `named` (the other keys it names for the log: `current_vkey`). Throws if a
    /// rotation does not hold (`apply`); `followed` stops there instead.
    public init(origin: String, pinned: Ed25519PublicKey, rotations: [KeyRotation] = [], revoked: [Ed25519PublicKey: UInt64],
                named: Set<Ed25519PublicKey>) throws(LedgerError) {
        self.origin = origin
        self.pinned = pinned
        self.revoked = revoked
        self.named = named
        addToChain(pinned)
        indexKeys()
        for rotation in rotations { try apply(rotation) }
    }

    /// Where `followed` stopped a chain: the first rotation that does not hold with the
    /// federation's word on the log, why, and the rotations left out (it and every later one).
    public struct Stop: Sendable, Equatable {
        public var rotation: KeyRotation
        public var reason: String
        public var leftOut: [KeyRotation]
    }

    /// The one way a log's chain is built from rotations already stored (or carried over) with
    /// the federation's word on the log: its revocations and the keys it names for it
    /// (`named`: `current_vkey`; the pinned key and revoked keys count as named). Rotations are
    /// applied in index order; the first that does not hold — such as a thief's rotation, signed
    /// by a key the federation revoked, to a key it names nowhere — stops the chain before it:
    /// it and every later rotation are left out, so no key from there on is in force anywhere
    /// (checkpoints beyond it verify under the key before it, within that key's revocation, or
    /// not at all). The caller says so (`Stop`); nothing stored is changed.
    public static func followed(pinned: NoteVerifier, rotations: [KeyRotation], revoked: [Ed25519PublicKey: UInt64],
                                named: Set<Ed25519PublicKey>) -> (chain: KeyChain, stopped: Stop?) {
        var chain = KeyChain(pinned: pinned)
        chain.revoked = revoked
        chain.named = named
        chain.indexKeys()
        let ordered = rotations.sorted { $0.index < $1.index }
        for (position, rotation) in ordered.enumerated() {
            do { try chain.apply(rotation) } catch {
                return (chain, Stop(rotation: rotation, reason: "\(error)", leftOut: Array(ordered[position...])))
            }
        }
        return (chain, nil)
    }

    /// Whether the federation names `key` for this log: the pinned key, a key it revoked, or
    /// one of `named`. A key the federation revoked may rotate only to such a key.
    public func names(_ key: Ed25519PublicKey) -> Bool {
        key == pinned || revoked[key] != nil || named.contains(key)
    }

    public init(pinned verifier: NoteVerifier) {
        origin = verifier.name
        pinned = verifier.publicKey
        addToChain(pinned)
    }

    /// A chain from `verifier`'s key, which the log reached after the keys `earlier` (those of
    /// the rotations that led to it): none of them may come back, by `checkLimits`, as on a
    /// chain followed from the pinned key. A reader's chain from its policy's key.
    public init(pinned verifier: NoteVerifier, after earlier: [Ed25519PublicKey]) {
        self.init(pinned: verifier)
        for key in earlier { addToChain(key) }
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

    /// The most rotations a log holds (one a month for twenty years): every node follows each
    /// log's chain for every checkpoint it checks, so a writer may not make it long.
    public static let maxRotations = 256

    /// Adds a rotation found in the log. The same rotation again changes nothing; it must come
    /// after the last one, be signed by the key in force at its index, by a key not revoked there,
    /// rotate to a key new to the chain whose key id (the 4 bytes a note's line names it by)
    /// is no other key's of the log, within `maxRotations`;
    /// and a rotation signed by a key the federation revoked (at any index) must rotate to a key
    /// the federation names for the log (`names`): whoever holds a revoked key can sign rotations
    /// below its limit, forking the log under a key of their own that no evidence would tie to
    /// the honest history, on every node whose copy is below the fork (docs/security.md, 115).
    public mutating func apply(_ rotation: KeyRotation) throws(LedgerError) {
        if holds(rotation) { return }
        try check(rotation)
        append(rotation)
    }

    /// Adds a rotation this store already holds, checked by the rules of the chain before
    /// 2026-12-05 only (order, origin, the key in force, revocations), not `checkLimits`: a node
    /// upgraded over a copy that took a long or cycling chain still opens it (its peers refuse
    /// such rotations from now on, and stop following the log there: `followed`).
    public mutating func applyStored(_ rotation: KeyRotation) throws(LedgerError) {
        if holds(rotation) { return }
        try checkStructure(rotation)
        append(rotation)
    }

    private mutating func append(_ rotation: KeyRotation) {
        rotations.append(rotation)
        addToChain(rotation.key)
    }

    /// Whether the chain holds `rotation` already (applying it again changes nothing; at most
    /// `maxRotations` to look through).
    public func holds(_ rotation: KeyRotation) -> Bool { rotations.contains(rotation) }

    /// `apply`'s checks of `rotation` against the chain, without its signatures (cheap: a caller
    /// with a rotation whose signatures it has not checked runs these first).
    public func check(_ rotation: KeyRotation) throws(LedgerError) {
        try checkLimits(rotation)
        try checkStructure(rotation)
    }

    /// The rules that keep a chain short and its keys distinct (`LedgerError.Code.chainLimit`).
    public func checkLimits(_ rotation: KeyRotation) throws(LedgerError) {
        guard rotations.count < Self.maxRotations else {
            throw LedgerError(.chainLimit, "key.rotation at index \(rotation.index) of \(origin): the log holds \(rotations.count) rotations, the most a log may")
        }
        // A key the log signed with before comes back to no use (a thief of an old key, never
        // revoked after a routine rotation, would fork from there; a writer cycling two keys
        // would make the chain, and every check of a note against it, as long as it liked).
        guard !chainKeys.contains(rotation.key) else {
            throw LedgerError(.chainLimit, "key.rotation at index \(rotation.index) of \(origin) rotates to \(rotation.verifier.vkey), a key the log signed with before")
        }
        // A note's line names its key by name and 4-byte id: two keys of one log under one id
        // make a note of one look like a bad signature of the other (an honest relay blamed).
        let id = noteKeyID(name: origin, publicKey: rotation.key)
        if chainKeyIDs.contains(id) {
            throw LedgerError(.chainLimit, "key.rotation at index \(rotation.index) of \(origin) rotates to \(rotation.verifier.vkey), whose key id is also that of a key the log signed with")
        }
        if let other = otherKeyIDs[id], other != rotation.key {
            throw LedgerError(.chainLimit, "key.rotation at index \(rotation.index) of \(origin) rotates to \(rotation.verifier.vkey), whose key id is also \(NoteVerifier(name: origin, publicKey: other).vkey)'s")
        }
    }

    /// The rules of the chain itself: origin, order, the key in force, revocations.
    public func checkStructure(_ rotation: KeyRotation) throws(LedgerError) {
        guard rotation.origin == origin else { throw LedgerError(.malformed, "key.rotation names \(rotation.origin), not \(origin)") }
        if let last = rotations.last, rotation.index <= last.index {
            throw LedgerError(.badSignature, "key.rotation at index \(rotation.index) of \(origin) contradicts the rotation at \(last.index) this node holds")
        }
        let inForce = key(forSize: rotation.index)
        guard rotation.previous == inForce else {
            throw LedgerError(.badSignature, "key.rotation at index \(rotation.index) of \(origin) is not signed by the key in force there (\(NoteVerifier(name: origin, publicKey: inForce).vkey))")
        }
        if let limit = revoked[inForce] {
            if rotation.index >= limit {
                throw LedgerError(.badSignature, "key.rotation at index \(rotation.index) of \(origin) is signed by a key revoked from size \(limit) on")
            }
            guard names(rotation.key) else {
                throw LedgerError(.badSignature, "key.rotation at index \(rotation.index) of \(origin) is signed by \(NoteVerifier(name: origin, publicKey: inForce).vkey), a key the federation revoked, and rotates to \(rotation.verifier.vkey), a key the federation names nowhere for this log (not its pinned key, current_vkey or a revoked key)")
            }
        }
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
        note.signatures.contains { $0.keyName == origin && !chainKeyIDs.contains($0.keyID) }
    }
}

