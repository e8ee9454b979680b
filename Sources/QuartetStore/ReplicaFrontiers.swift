import QuartetLedger
import Synchronization

/// The frontier of each log as the last batch `ingest` stored left it (a replica's, or a tail of
/// the own log taken from peers), so that storing the next batch does not rebuild it from the
/// stored subtrees (`LedgerStore.frontier` answers from it).
///
/// Rebuilding read a few hundred hashes across a dozen queries and hashed them again: a third
/// of a replica's CPU per small batch under load. To extend it, a kept frontier is used only
/// while it has the size and root of the log's latest stored checkpoint (read, and verified, in
/// the same transaction), so anything else that wrote the log (a stub fill, a recovery, another
/// process before this one) makes it rebuilt, never trusted. As the size and root a witness
/// checks a request against (`LedgerStore.heldTip`) it is used as it is: kept only after its
/// batch committed and dropped when storing a batch fails (which may be after its commit), it is
/// the latest or a moment behind it.
final class ReplicaFrontiers: Sendable {
    private struct Kept {
        var frontier: MerkleFrontier
        /// The sizes and roots of the last `rootsKept` batches stored, oldest first: a stored
        /// root never changes (a log's checkpoints are never deleted, and another root at a
        /// size stored is a split view the store refuses), so these answer for as long as kept.
        var roots: [(size: UInt64, root: Hash)]
    }
    private let frontiers = Mutex<[Int64: Kept]>([:])

    /// Batch roots kept per log: a witness sets what it cosigned last against its copy, a
    /// batch or two behind the copy's newest.
    static let rootsKept = 8

    /// The kept frontier of `log` if it is at `size` with `root`.
    func frontier(log: Int64, size: UInt64, root: Hash) -> MerkleFrontier? {
        frontiers.withLock { frontiers in
            guard let kept = frontiers[log]?.frontier, kept.size == size, kept.root == root else { return nil }
            return kept
        }
    }

    /// The kept frontier of `log`, whatever its size: the log as the last batch stored left it
    /// (kept only after that batch committed, so it may lag the store by the moment between a
    /// commit and this, never lead it).
    func kept(log: Int64) -> MerkleFrontier? {
        frontiers.withLock { $0[log]?.frontier }
    }

    /// The root of `log` at `size` if one of the last batches stored ended there (nil: not
    /// known here; the store says).
    func root(log: Int64, size: UInt64) -> Hash? {
        frontiers.withLock { frontiers in frontiers[log]?.roots.last { $0.size == size }?.root }
    }

    /// Forgets the frontier kept for `log` (storing a batch failed, perhaps after its commit).
    func forget(log: Int64) {
        _ = frontiers.withLock { $0.removeValue(forKey: log) }
    }

    /// Keeps `frontier` for `log` (after the batch that made it committed).
    func stored(log: Int64, _ frontier: MerkleFrontier) {
        frontiers.withLock { frontiers in
            var kept = frontiers.removeValue(forKey: log) ?? Kept(frontier: frontier, roots: [])
            if kept.roots.count == Self.rootsKept { kept.roots.removeFirst() }
            kept.roots.append((frontier.size, frontier.root))
            kept.frontier = frontier
            frontiers[log] = kept
        }
    }
}
