/// A log's newest leaves over the frontier of the tree below them: consistency proofs between
/// sizes among them, with no store read (a witness round's request body, `WitnessCollector`).
///
/// Every hash a proof from `m` to `n` needs is a perfect subtree of the `n`-tree that is either
/// one of the `m`-tree's frontier subtrees or lies wholly within the leaves `m..<n` (RFC 9162's
/// SUBPROOF never splits a subtree at `m`), so the frontier at `m` and those leaves are enough.
/// A proof built is checked before it is given: it must lead from the `m`-frontier's root to the
/// `n`-tree's root, which the caller compares with the signed checkpoint's (a consistency proof
/// to a known root pins the root at `m`).
public struct RecentTree: Sendable, Equatable {
    /// The frontier below the kept leaves.
    public private(set) var base: MerkleFrontier
    /// The leaf hashes from `base.size` on, in order.
    public private(set) var leaves: [Hash] = []

    /// At most this many leaves are kept (a gap or a longer run starts again from the newest
    /// frontier: proofs across it are read from the store).
    public static let maxLeaves = 1 << 14

    public init(frontier: MerkleFrontier = MerkleFrontier()) {
        base = frontier
    }

    /// The size of the tree the kept leaves make.
    public var size: UInt64 { base.size + UInt64(leaves.count) }

    /// A committed batch: its leaves, the first at index `from`, and the frontier after it. A
    /// batch that does not follow the kept leaves, or one that would keep more than `maxLeaves`,
    /// starts the tree again from `after`.
    public mutating func committed(from: UInt64, leaves batch: [Hash], after: MerkleFrontier) {
        guard from == size, after.size == from + UInt64(batch.count), leaves.count + batch.count <= Self.maxLeaves else {
            self = RecentTree(frontier: after)
            return
        }
        leaves += batch
    }

    /// The consistency proof from size `m` to size `n`, and the `n`-tree's root; nil when `m`
    /// is below the kept leaves, `n` beyond them, or the proof does not check (never expected).
    public func proof(from m: UInt64, to n: UInt64) -> (proof: [Hash], root: Hash)? {
        guard base.size <= m, m <= n, n <= size else { return nil }
        var frontier = base
        for leaf in leaves[0..<Int(m - base.size)] { frontier.append(leaf) }
        let firstRoot = frontier.root
        var nodes: [NodeKey: Hash] = [:]
        var offset: UInt64 = 0
        var next = frontier.subtrees.makeIterator()
        for level in stride(from: 63, through: 0, by: -1) where m >> UInt64(level) & 1 == 1 {
            guard let hash = next.next() else { return nil }
            nodes[NodeKey(level: level, index: offset >> UInt64(level))] = hash
            offset += UInt64(1) << UInt64(level)
        }
        for leaf in leaves[Int(m - base.size)..<Int(n - base.size)] {
            frontier.append(leaf) { level, index, hash in nodes[NodeKey(level: level, index: index)] = hash }
        }
        let root = frontier.root
        guard let proof = try? Merkle.consistencyProof(from: m, to: n, subtree: { level, index in
            guard let hash = nodes[NodeKey(level: level, index: index)] else {
                throw LedgerError(.invalidArgument, "subtree \(level)/\(index) is not among the kept ones")
            }
            return hash
        }) else { return nil }
        guard m == 0 || (try? Merkle.verifyConsistency(from: m, to: n, firstRoot: firstRoot, secondRoot: root, proof: proof)) != nil else { return nil }
        return (proof, root)
    }

    /// Forgets the leaves below size `m` (the base moves up to it); nothing if `m` is not
    /// within the kept leaves.
    public mutating func advance(to m: UInt64) {
        guard base.size < m, m <= size else { return }
        let dropped = Int(m - base.size)
        for leaf in leaves[0..<dropped] { base.append(leaf) }
        leaves.removeFirst(dropped)
    }

    private struct NodeKey: Hashable {
        var level: Int
        var index: UInt64
    }
}
