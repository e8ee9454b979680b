/// RFC 9162 (RFC 6962) Merkle trees: roots, inclusion and consistency proofs, and their verifiers.
///
/// Proof generation is written against a source of *perfect subtree* hashes: the hash of the
/// `2^level` leaves starting at `index << level`. A store keeps those on disk and answers a
/// proof with O(log n) reads; tests pass a closure over an in-memory list of leaves.
public enum Merkle {
    /// The hash of the perfect subtree of `2^level` leaves starting at leaf `index << level`.
    public typealias SubtreeHashes = (_ level: Int, _ index: UInt64) throws -> Hash

    /// The largest power of two strictly less than `n` (n ≥ 2): RFC 9162's split point k.
    @inlinable
    public static func splitPoint(_ n: UInt64) -> UInt64 {
        precondition(n >= 2)
        return UInt64(1) << (63 - (n - 1).leadingZeroBitCount)
    }

    /// The Merkle tree hash of `leaves` (leaf hashes), computed directly. For tests and small trees.
    public static func root(ofLeaves leaves: [Hash]) -> Hash {
        if leaves.isEmpty { return .emptyTree }
        return try! rangeHash(0, UInt64(leaves.count)) { level, index in
            try subtreeHash(of: leaves, level: level, index: index)
        }
    }

    /// The hash of a perfect subtree of an in-memory list of leaf hashes.
    public static func subtreeHash(of leaves: [Hash], level: Int, index: UInt64) throws(LedgerError) -> Hash {
        let begin = Int(index << UInt64(level))
        let count = 1 << level
        guard begin >= 0, begin + count <= leaves.count else {
            throw LedgerError(.invalidArgument, "subtree \(level)/\(index) is outside a tree of \(leaves.count) leaves")
        }
        var level0 = Array(leaves[begin..<begin + count])
        while level0.count > 1 {
            var next = [Hash]()
            next.reserveCapacity(level0.count / 2)
            var i = 0
            while i < level0.count { next.append(.node(level0[i], level0[i + 1])); i += 2 }
            level0 = next
        }
        return level0[0]
    }

    /// MTH(D[begin:end]) for a range that is a subtree of some RFC 9162 tree (its `begin` is a
    /// multiple of the largest power of two not exceeding its size, as every such subtree's is).
    public static func rangeHash(_ begin: UInt64, _ end: UInt64, subtree: SubtreeHashes) throws -> Hash {
        precondition(end > begin)
        let n = end - begin
        if n & (n - 1) == 0 && begin % n == 0 {
            let level = n.trailingZeroBitCount
            return try subtree(level, begin >> UInt64(level))
        }
        let k = splitPoint(n)
        return Hash.node(try rangeHash(begin, begin + k, subtree: subtree), try rangeHash(begin + k, end, subtree: subtree))
    }

    /// The RFC 9162 inclusion proof (audit path) of leaf `index` in the tree of the first `size`
    /// leaves, nearest the leaf first.
    public static func inclusionProof(index: UInt64, size: UInt64, subtree: SubtreeHashes) throws -> [Hash] {
        guard index < size else {
            throw LedgerError(.invalidArgument, "index \(index) is not below tree size \(size)")
        }
        var proof: [Hash] = []
        try path(index, 0, size, subtree, &proof)
        return proof
    }

    private static func path(_ m: UInt64, _ begin: UInt64, _ end: UInt64, _ subtree: SubtreeHashes, _ proof: inout [Hash]) throws {
        let n = end - begin
        if n <= 1 { return }
        let k = splitPoint(n)
        if m < begin + k {
            try path(m, begin, begin + k, subtree, &proof)
            proof.append(try rangeHash(begin + k, end, subtree: subtree))
        } else {
            try path(m, begin + k, end, subtree, &proof)
            proof.append(try rangeHash(begin, begin + k, subtree: subtree))
        }
    }

    /// The RFC 9162 consistency proof between the trees of the first `from` and `to` leaves.
    /// Empty when `from` is 0 or equals `to`.
    public static func consistencyProof(from m: UInt64, to n: UInt64, subtree: SubtreeHashes) throws -> [Hash] {
        guard m <= n else {
            throw LedgerError(.invalidArgument, "consistency from size \(m) to the smaller size \(n)")
        }
        if m == 0 || m == n { return [] }
        var proof: [Hash] = []
        try subproof(m, 0, n, true, subtree, &proof)
        return proof
    }

    private static func subproof(_ m: UInt64, _ begin: UInt64, _ end: UInt64, _ complete: Bool, _ subtree: SubtreeHashes, _ proof: inout [Hash]) throws {
        let n = end - begin
        if m == n {
            if !complete { proof.append(try rangeHash(begin, end, subtree: subtree)) }
            return
        }
        let k = splitPoint(n)
        if m <= k {
            try subproof(m, begin, begin + k, complete, subtree, &proof)
            proof.append(try rangeHash(begin + k, end, subtree: subtree))
        } else {
            try subproof(m - k, begin + k, end, false, subtree, &proof)
            proof.append(try rangeHash(begin, begin + k, subtree: subtree))
        }
    }

    /// Checks an inclusion proof (RFC 9162 section 2.1.3.2); throws `proofMismatch` if it fails.
    public static func verifyInclusion(index: UInt64, size: UInt64, leaf: Hash, proof: [Hash], root: Hash) throws(LedgerError) {
        guard index < size else {
            throw LedgerError(.proofMismatch, "inclusion proof: index \(index) is not below tree size \(size)")
        }
        var fn = index
        var sn = size - 1
        var r = leaf
        for p in proof {
            guard sn != 0 else { throw LedgerError(.proofMismatch, "inclusion proof is longer than the tree is deep") }
            if fn & 1 == 1 || fn == sn {
                r = .node(p, r)
                if fn & 1 == 0 {
                    repeat { fn >>= 1; sn >>= 1 } while fn & 1 == 0 && fn != 0
                }
            } else {
                r = .node(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        guard sn == 0 else { throw LedgerError(.proofMismatch, "inclusion proof is shorter than the tree is deep") }
        guard r == root else { throw LedgerError(.proofMismatch, "inclusion proof does not lead to the root") }
    }

    /// Checks a consistency proof (RFC 9162 section 2.1.4.2); throws `proofMismatch` if it fails.
    public static func verifyConsistency(from first: UInt64, to second: UInt64, firstRoot: Hash, secondRoot: Hash, proof: [Hash]) throws(LedgerError) {
        guard first <= second else {
            throw LedgerError(.proofMismatch, "consistency proof from size \(first) to the smaller size \(second)")
        }
        if first == second {
            guard proof.isEmpty else { throw LedgerError(.proofMismatch, "consistency proof between equal sizes must be empty") }
            guard firstRoot == secondRoot else { throw LedgerError(.proofMismatch, "two roots for the same tree size differ") }
            return
        }
        if first == 0 {
            guard proof.isEmpty else { throw LedgerError(.proofMismatch, "consistency proof from the empty tree must be empty") }
            guard firstRoot == .emptyTree else { throw LedgerError(.proofMismatch, "the empty tree's root is not SHA-256 of nothing") }
            return
        }
        guard !proof.isEmpty else { throw LedgerError(.proofMismatch, "consistency proof is empty") }
        var path = proof
        if first & (first - 1) == 0 { path.insert(firstRoot, at: 0) }
        var fn = first - 1
        var sn = second - 1
        while fn & 1 == 1 { fn >>= 1; sn >>= 1 }
        var fr = path[0]
        var sr = path[0]
        for c in path.dropFirst() {
            guard sn != 0 else { throw LedgerError(.proofMismatch, "consistency proof is too long") }
            if fn & 1 == 1 || fn == sn {
                fr = .node(c, fr)
                sr = .node(c, sr)
                if fn & 1 == 0 {
                    repeat { fn >>= 1; sn >>= 1 } while fn & 1 == 0 && fn != 0
                }
            } else {
                sr = .node(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        guard sn == 0 else { throw LedgerError(.proofMismatch, "consistency proof is too short") }
        guard fr == firstRoot else { throw LedgerError(.proofMismatch, "consistency proof does not lead to the first root") }
        guard sr == secondRoot else { throw LedgerError(.proofMismatch, "consistency proof does not lead to the second root") }
    }
}

/// The right edge of an append-only Merkle tree: the hashes of the perfect subtrees that make up
/// its first `size` leaves, largest first. Appending costs amortised O(1) hashes, and the root
/// costs O(log n); this is how a writer or a replica extends a tree without rereading it.
public struct MerkleFrontier: Sendable, Equatable {
    /// Number of leaves.
    public private(set) var size: UInt64
    /// Perfect subtree hashes, one per set bit of `size`, from the largest (leftmost) down.
    public private(set) var subtrees: [Hash]

    /// The empty tree.
    public init() {
        size = 0
        subtrees = []
    }

    /// Rebuilds the frontier of a tree of `size` leaves from its stored perfect subtrees.
    public init(size: UInt64, subtree: Merkle.SubtreeHashes) throws {
        self.size = size
        subtrees = []
        var offset: UInt64 = 0
        for level in stride(from: 63, through: 0, by: -1) where size >> UInt64(level) & 1 == 1 {
            subtrees.append(try subtree(level, offset >> UInt64(level)))
            offset += UInt64(1) << UInt64(level)
        }
    }

    /// Appends a leaf hash.
    public mutating func append(_ leaf: Hash) {
        append(leaf) { _, _, _ in }
    }

    /// Appends a leaf hash. `completed` is called for every perfect subtree the leaf completes,
    /// from the leaf itself (level 0) upwards, with its level, index and hash.
    public mutating func append(_ leaf: Hash, completed: (_ level: Int, _ index: UInt64, _ hash: Hash) throws -> Void) rethrows {
        var hash = leaf
        var level = 0
        try completed(0, size, hash)
        while size >> UInt64(level) & 1 == 1 {
            hash = .node(subtrees.removeLast(), hash)
            level += 1
            try completed(level, size >> UInt64(level), hash)
        }
        subtrees.append(hash)
        size += 1
    }

    /// The Merkle tree hash of the leaves appended so far.
    public var root: Hash {
        guard var r = subtrees.last else { return .emptyTree }
        for s in subtrees.dropLast().reversed() { r = .node(s, r) }
        return r
    }
}
