import Foundation
import GRDB
import QuartetLedger

/// Proofs and roots from the stored subtrees (RFC 9162): inclusion and consistency proofs, the
/// root at a size, and the frontier a writer or a replica batch extends.
extension LedgerStore {
    /// The inclusion proof of entry `index` in the tree of `size` leaves (default: the latest checkpoint's).
    public func inclusionProof(_ log: LogInfo, index: UInt64, size: UInt64? = nil) throws(StoreError) -> InclusionProof {
        try read("prove inclusion in \(log.name)") { db in
            let current = try latestCheckpoint(db, log)?.checkpoint.size ?? 0
            let n = size ?? current
            guard n <= current else { throw StoreError(.outOfRange, "log \(log.name) has \(current) entries; no tree of size \(n)") }
            guard index < n else { throw StoreError(.outOfRange, "log \(log.name): index \(index) is not below tree size \(n)") }
            let subtree = Self.subtreeReader(db, log)
            let proof = try Merkle.inclusionProof(index: index, size: n, subtree: subtree)
            let leaf = try subtree(0, index)
            let root = try Self.checkedRoot(db, log, size: n, subtree: subtree)
            // Never serve a proof that does not verify: it would mean stored rows disagree.
            do { try Merkle.verifyInclusion(index: index, size: n, leaf: leaf, proof: proof, root: root) } catch {
                throw StoreError(.corrupt, "log \(log.name): stored hashes near index \(index) are inconsistent; run `quartet verify`", cause: error)
            }
            return InclusionProof(log: log.name, index: index, size: n, leafHash: leaf, root: root, proof: proof)
        }
    }

    /// The consistency proof from the tree of `from` leaves to that of `to` (default: the latest).
    public func consistencyProof(_ log: LogInfo, from: UInt64, to: UInt64? = nil) throws(StoreError) -> ConsistencyProof {
        try read("prove consistency in \(log.name)") { db in
            let latest = try latestCheckpoint(db, log)
            let current = latest?.checkpoint.size ?? 0
            let n = to ?? current
            guard n <= current else { throw StoreError(.outOfRange, "log \(log.name) has \(current) entries; no tree of size \(n)") }
            guard from <= n else { throw StoreError(.outOfRange, "log \(log.name): consistency from \(from) to the smaller size \(n)") }
            let subtree = Self.subtreeReader(db, log)
            // At the latest size its signed root; below, the root hashed from stored subtrees.
            // The smaller size's root may come from its stored checkpoint row: the proof must
            // still lead from it to the larger root, which pins both (a wrong row is refused).
            let root = n == current ? latest?.checkpoint.root ?? .emptyTree : try Self.checkedRoot(db, log, size: n, subtree: subtree)
            let fromRoot = try Self.storedRoot(db, log, size: from) ?? Self.checkedRoot(db, log, size: from, subtree: subtree)
            let proof = try Merkle.consistencyProof(from: from, to: n, subtree: subtree)
            do { try Merkle.verifyConsistency(from: from, to: n, firstRoot: fromRoot, secondRoot: root, proof: proof) } catch {
                throw StoreError(.corrupt, "log \(log.name): stored hashes between sizes \(from) and \(n) are inconsistent; run `quartet verify`", cause: error)
            }
            return ConsistencyProof(log: log.name, from: from, to: n, fromRoot: fromRoot, root: root, proof: proof)
        }
    }

    /// The root of `log`'s first `size` leaves as this store holds them; nil when it holds fewer.
    /// At the latest checkpoint's size, that checkpoint's (verified) root, with no hashing;
    /// below it, from stored subtrees, checked against a checkpoint of that size if one is stored.
    public func root(_ log: LogInfo, size: UInt64) throws(StoreError) -> Hash? {
        try read("read a root of \(log.name)") { db in
            let latest = try latestCheckpoint(db, log)
            let current = latest?.checkpoint.size ?? 0
            guard size <= current else { return nil }
            if size == current { return latest?.checkpoint.root ?? .emptyTree }
            return try Self.checkedRoot(db, log, size: size, subtree: Self.subtreeReader(db, log))
        }
    }

    /// The root of `log`'s checkpoint of `size` as stored, if a checkpoint of that size is
    /// stored; its signature not checked again (it was when the checkpoint was stored): one
    /// indexed read, for checks on a hot path that a wrong row can only make refuse.
    public func storedCheckpointRoot(_ log: LogInfo, size: UInt64) throws(StoreError) -> Hash? {
        try read("read a checkpoint root of \(log.name)") { db in try Self.storedRoot(db, log, size: size) }
    }

    /// The root column of `log`'s stored checkpoint of `size`, if one is stored (not checked:
    /// only for use where a proof checks it against a signed root).
    static func storedRoot(_ db: Database, _ log: LogInfo, size: UInt64) throws -> Hash? {
        if size == 0 { return .emptyTree }
        guard let stored = try Data.fetchOne(db.cachedStatement(sql: "SELECT root FROM checkpoints WHERE log_id = ? AND size = ?"), arguments: [log.id, Int64(clamping: size)]) else { return nil }
        return try Hash(Array(stored))
    }

    /// The root of the first `size` leaves from stored subtrees; where a signed checkpoint of that
    /// size is stored, the two must agree, so a proof never rests on a tampered row.
    static func checkedRoot(_ db: Database, _ log: LogInfo, size: UInt64, subtree: Merkle.SubtreeHashes) throws -> Hash {
        if size == 0 { return .emptyTree }
        let root = try Merkle.rangeHash(0, size, subtree: subtree)
        if let signed = try storedRoot(db, log, size: size), signed != root {
            throw StoreError(.corrupt, "log \(log.name): stored hashes give a root for size \(size) that differs from the signed checkpoint; run `quartet verify`")
        }
        return root
    }

    /// Reads perfect subtree hashes from the stored levels: leaf hashes from `entries`, every
    /// `nodeLevelStride`-th level from `nodes`, and the levels between by hashing at most
    /// 2^(stride-1) stored hashes read in one range query.
    static func subtreeReader(_ db: Database, _ log: LogInfo) -> Merkle.SubtreeHashes {
        return { level, index in
            let base = level - level % Schema.nodeLevelStride
            let span = UInt64(1) << UInt64(level - base)
            let first = index * span
            let hashes: [Data]
            // Cached statements: a proof or a frontier reads a dozen of these.
            if base == 0 {
                hashes = try Data.fetchAll(db.cachedStatement(sql: "SELECT leaf_hash FROM entries WHERE key BETWEEN ? AND ? ORDER BY key"),
                                           arguments: [Schema.entryKey(logID: log.id, index: first), Schema.entryKey(logID: log.id, index: first + span - 1)])
            } else {
                hashes = try Data.fetchAll(db.cachedStatement(sql: "SELECT hash FROM nodes WHERE log_id = ? AND level = ? AND idx BETWEEN ? AND ? ORDER BY idx"),
                                           arguments: [log.id, base, Int64(first), Int64(first + span - 1)])
            }
            guard hashes.count == Int(span) else {
                throw StoreError(.corrupt, "log \(log.name): stored hashes missing at level \(base) from index \(first) (have \(hashes.count) of \(span))")
            }
            var layer: [Hash]
            do { layer = try hashes.map { try Hash(Array($0)) } } catch {
                throw StoreError(.corrupt, "log \(log.name): a stored hash at level \(base) near index \(first) is not 32 bytes", cause: error)
            }
            while layer.count > 1 {
                layer = stride(from: 0, to: layer.count, by: 2).map { Hash.node(layer[$0], layer[$0 + 1]) }
            }
            return layer[0]
        }
    }

    /// The frontier of `log` at its latest checkpoint: the one a stored replica batch left
    /// (`ReplicaFrontiers`) while it has that checkpoint's size and root, else rebuilt from
    /// stored subtrees.
    func frontier(_ db: Database, _ log: LogInfo) throws -> MerkleFrontier {
        guard let latest = try latestCheckpoint(db, log)?.checkpoint else { return MerkleFrontier() }
        if let kept = replicaFrontiers.frontier(log: log.id, size: latest.size, root: latest.root) { return kept }
        return try MerkleFrontier(size: latest.size, subtree: Self.subtreeReader(db, log))
    }
}
