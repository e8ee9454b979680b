import QuartetLedger
import QuartetReplication
import QuartetStore

/// Entries of received batches, decoded and hashed ahead of storing. Decoding a batch (every
/// header parsed, every leaf hashed) is the largest part of storing it, and the engine stores
/// batches one at a time on its queue; done on the connection's event loop as a batch
/// arrives, it overlaps with the engine storing the batch before it (catch-up, `quartet
/// recover`). Only large batches are decoded ahead: a live push of a few entries is cheap, and
/// may be a duplicate the replicator drops. Bounded: at most `capacity` batches are held, the
/// oldest dropped first (a batch not found is decoded where it is stored, as before). Confined
/// to the engine's queue.
struct DecodedBatches {
    static let capacity = 8
    /// Batches with fewer entries are decoded where they are stored.
    static let minimumEntries = 64

    private var held: [(batch: Batch, entries: Result<[Entry], StoreError>)] = []

    static func worthDecodingAhead(_ batch: Batch) -> Bool { batch.entries.count >= minimumEntries }

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
