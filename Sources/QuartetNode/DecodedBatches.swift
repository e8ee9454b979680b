import QuartetLedger
import QuartetReplication
import QuartetStore

/// Entries of received batches, decoded and hashed ahead of storing. Decoding a batch (every
/// header parsed, every leaf hashed) is the largest part of storing it, and the engine stores
/// batches one at a time on its queue; done on the connection's event loop as a batch
/// arrives, it overlaps with the engine storing the batch before it (catch-up, `quartet
/// recover`). Only large batches are decoded ahead: a live push of a few entries is cheap, and
/// may be a duplicate the replicator drops. Bounded: at most `capacity` batches are held, the
/// oldest dropped first, each of at most the bytes a member serves in one batch (a batch not
/// found is decoded where it is stored, as before). A batch the replicator never stores (old
/// news, refused) stays until pushed out, so the bound is what a peer can make a node hold:
/// 8 × 8 MiB of payload (it was 8 batches of up to a 64 MiB frame each, ~0.5 GiB, an attack
/// found). Confined to the engine's queue.
struct DecodedBatches {
    /// Enough for a batch storing and the next of each of the logs a recovery takes at once.
    static let capacity = 8
    /// Batches with fewer entries are decoded where they are stored.
    static let minimumEntries = 64

    private var held: [(batch: Batch, entries: Result<[Entry], StoreError>)] = []

    static func worthDecodingAhead(_ batch: Batch) -> Bool {
        batch.entries.count >= minimumEntries && CommitCoalescer.bytes(batch.entries) <= ProtocolLimits.batchBytesBudget
    }

    mutating func add(_ batch: Batch, _ entries: Result<[Entry], StoreError>) {
        held.append((batch, entries))
        if held.count > Self.capacity { held.removeFirst(held.count - Self.capacity) }
    }

    /// The decoded entries of `batch` (the same entries, as received), removed from the store.
    mutating func take(_ batch: Batch) -> Result<[Entry], StoreError>? {
        guard let i = held.firstIndex(where: { $0.batch.log == batch.log && $0.batch.from == batch.from && $0.batch.entries == batch.entries }) else {
            return nil
        }
        return held.remove(at: i).entries
    }
}

extension ReplicationEngine {
    /// The entries of a batch to store: decoded ahead if they were (`DecodedBatches`).
    func decodedEntries(of batch: Batch) throws(StoreError) -> [Entry] {
        if let decoded = decodedAhead.take(batch) { return try decoded.get() }
        return try Self.entries(of: batch)
    }
}
