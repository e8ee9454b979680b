import QuartetLedger

/// Proof that a log's origin signed two histories that cannot both be true: checkpoints
/// `first` (size a) and `second` (size b ≥ a), and a consistency proof that the tree signed by
/// `second` has, at size a, the root `prefixRoot`, which differs from `first`'s root. When the
/// sizes are equal the proof is empty and `prefixRoot` is `second`'s root.
public struct Evidence: Sendable, Equatable, Hashable {
    public var log: String
    public var first: String
    public var second: String
    public var prefixRoot: Hash
    public var proof: [Hash]

    public init(log: String, first: String, second: String, prefixRoot: Hash, proof: [Hash]) {
        self.log = log
        self.first = first
        self.second = second
        self.prefixRoot = prefixRoot
        self.proof = proof
    }

    /// Checks the evidence against the log's pinned key; returns the two checkpoints.
    public func verify(with verifier: NoteVerifier) throws(WireError) -> (Checkpoint, Checkpoint) {
        try verify(with: KeyChain(pinned: verifier))
    }

    /// Checks the evidence against the log's keys (each checkpoint by the key in force at its
    /// size); returns the two checkpoints.
    public func verify(with chain: KeyChain) throws(WireError) -> (Checkpoint, Checkpoint) {
        let a: Checkpoint, b: Checkpoint
        do {
            a = try chain.verifyCheckpoint(try SignedNote(parsing: first)).checkpoint
            b = try chain.verifyCheckpoint(try SignedNote(parsing: second)).checkpoint
        } catch {
            throw WireError("evidence for \(log): a checkpoint does not verify: \(error)")
        }
        guard a.size <= b.size else { throw WireError("evidence for \(log): the first checkpoint must not be larger") }
        guard prefixRoot != a.root else { throw WireError("evidence for \(log): the checkpoints agree") }
        if a.size == b.size {
            guard proof.isEmpty, prefixRoot == b.root else { throw WireError("evidence for \(log): same size needs no proof") }
        } else {
            do {
                try Merkle.verifyConsistency(from: a.size, to: b.size, firstRoot: prefixRoot, secondRoot: b.root, proof: proof)
            } catch {
                throw WireError("evidence for \(log): the consistency proof does not verify: \(error)")
            }
        }
        return (a, b)
    }
}
