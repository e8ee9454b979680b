import QuartetLedger

/// Own commits waiting for the replication engine, merged while they wait.
///
/// Every batch pushed costs each replica a transaction, an fsync and signature checks, and
/// under load the writer commits small batches (about seven entries at 2,000 appends/s). The
/// shell queues each commit here and drains the queue when its serial queue gets to it: commits
/// that arrived meanwhile leave as one batch (consecutive entries of one log, the newest
/// checkpoint), so merging adds no wait of its own; when the engine keeps up, each commit
/// leaves alone, as before. Merged batches keep to the wire's limits
/// (`ProtocolLimits.maxBatchEntries`, `batchBytesBudget`). Pure.
public struct CommitCoalescer: Sendable {
    /// One batch ready to push, with the checkpoint its note carries.
    public struct Commit: Sendable, Equatable {
        public var batch: Batch
        public var checkpoint: Checkpoint
        /// The checkpoints of the commits merged into it, oldest first (the last is `checkpoint`).
        public var checkpoints: [Checkpoint]

        public init(batch: Batch, checkpoint: Checkpoint) {
            self.batch = batch
            self.checkpoint = checkpoint
            self.checkpoints = [checkpoint]
        }
    }

    private var waiting: [Commit] = []
    private var waitingBytes: [Int] = []
    let maxEntries: Int
    let maxBytes: Int

    public init(maxEntries: Int = ProtocolLimits.maxBatchEntries, maxBytes: Int = ProtocolLimits.batchBytesBudget) {
        self.maxEntries = maxEntries
        self.maxBytes = maxBytes
    }

    /// Whether nothing waits.
    public var isEmpty: Bool { waiting.isEmpty }

    /// Queues a commit. Returns true when the queue was empty (the shell schedules a drain then,
    /// and only then).
    public mutating func add(_ batch: Batch, checkpoint: Checkpoint) -> Bool {
        let bytes = Self.bytes(batch.entries)
        let wasEmpty = waiting.isEmpty
        if let last = waiting.last, last.batch.log == batch.log, last.batch.end == batch.from,
           last.batch.entries.count + batch.entries.count <= maxEntries, waitingBytes[waitingBytes.count - 1] + bytes <= maxBytes {
            waiting[waiting.count - 1].batch.entries += batch.entries
            waiting[waiting.count - 1].batch.note = batch.note
            waiting[waiting.count - 1].checkpoint = checkpoint
            waiting[waiting.count - 1].checkpoints.append(checkpoint)
            waitingBytes[waitingBytes.count - 1] += bytes
        } else {
            waiting.append(Commit(batch: batch, checkpoint: checkpoint))
            waitingBytes.append(bytes)
        }
        return wasEmpty
    }

    /// Everything waiting, merged, oldest first; the queue is empty after.
    public mutating func drain() -> [Commit] {
        defer {
            waiting.removeAll(keepingCapacity: true)
            waitingBytes.removeAll(keepingCapacity: true)
        }
        return waiting
    }

    public static func bytes(_ entries: [WireEntry]) -> Int {
        entries.reduce(0) { $0 + $1.headerBytes.count + ($1.payload.map { $0.bytes.count + $0.salt.count } ?? 0) + 16 }
    }
}
