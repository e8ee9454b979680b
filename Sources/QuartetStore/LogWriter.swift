import Dispatch
import Foundation
import GRDB
import QuartetCrypto
import QuartetLedger
import Synchronization

/// What an operator asks to append.
public struct AppendRequest: Sendable {
    /// Entry type, e.g. `progress.reading`.
    public var type: String
    /// `public`, or a data label under an agreement.
    public var classification: String
    /// The operator submitting it.
    public var author: String
    /// UTF-8 JSON; must be an object.
    public var payload: [UInt8]

    public init(type: String, classification: String = EntryHeader.publicClassification, author: String = "", payload: [UInt8]) {
        self.type = type
        self.classification = classification
        self.author = author
        self.payload = payload
    }

    /// Checks the fields and that the payload is a JSON object, naming what is wrong.
    public func validate() throws(StoreError) {
        do {
            try EntryHeader(log: "x", index: 0, timeMillis: 0, type: type, classification: classification, author: author,
                            payloadCommitment: .emptyTree, payloadLength: UInt32(clamping: payload.count)).validate()
        } catch {
            throw StoreError(.invalidInput, error.message)
        }
        do { try JSONValidator.validateObject(payload) } catch {
            throw StoreError(.invalidInput, "payload: \(error.message)")
        }
    }
}

/// The answer to an acknowledged append: the entry is durable when this is returned.
public struct AppendReceipt: Sendable {
    /// The log.
    public let log: String
    /// The entry's index.
    public let index: UInt64
    /// The entry's leaf hash.
    public let leafHash: Hash
    /// The signed checkpoint of the batch that holds the entry.
    public let checkpoint: StoredCheckpoint
}

/// The single writer of one log: batches concurrent appends into one SQLite transaction and
/// one signed checkpoint (group commit), and answers each caller only once its batch is durable.
public final class LogWriter: Sendable {
    /// The log written.
    public let log: LogInfo
    private let store: LedgerStore
    private let signer: NoteSigner
    private let clock: @Sendable () -> UInt64
    private let salts: @Sendable (Int) throws -> [UInt8]
    private let queue: DispatchQueue
    private let resumer: DispatchQueue
    private let maxBatch: Int

    private struct Pending {
        let request: AppendRequest
        /// Salted and committed to on the caller's thread, keeping hashing off the writer.
        let payload: EntryPayload
        let continuation: UnsafeContinuation<AppendReceipt, any Error>
    }

    private struct State {
        var pending: [Pending] = []
        var draining = false
        /// The tree as of the last committed batch; only the drain loop changes it.
        var frontier: MerkleFrontier
        var lastTime: UInt64
        var batchSizes: [Int: Int] = [:]
    }

    private let state: Mutex<State>

    /// Opens the writer of an own log. `clock` gives milliseconds since the epoch; `salts` gives
    /// random bytes (both injectable for tests). `maxBatch` bounds one transaction
    /// (default 4,096 entries).
    public init(store: LedgerStore, log name: String,
                clock: @escaping @Sendable () -> UInt64 = wallClockMillis,
                salts: @escaping @Sendable (Int) throws -> [UInt8] = { try SecureRandom.bytes(count: $0) },
                maxBatch: Int = 4096) throws(StoreError) {
        guard store.isWriter else { throw StoreError(.locked, "the store was opened for reading; open it as a writer to append") }
        let log = try store.log(named: name)
        guard log.isOwn else { throw StoreError(.notOwnLog, "log \(name) is a replica here; only its origin appends to it") }
        let key = try store.directory.readSigningKey(log: name)
        guard key.publicKey == log.publicKey else {
            throw StoreError(.key, "the signing key at \(store.directory.keyPath(log: name)) is not the key registered for log \(name)")
        }
        do { signer = try NoteSigner(name: log.origin, key: key) } catch {
            throw StoreError(.key, "cannot sign checkpoints for \(log.origin)", cause: error)
        }
        let (frontier, lastTime) = try store.read("load the tree of \(name)") { db in
            (try LedgerStore.frontier(db, log),
             try Int64.fetchOne(db, sql: "SELECT MAX(time_ms) FROM checkpoints WHERE log_id = ?", arguments: [log.id]) ?? 0)
        }
        self.log = log
        self.store = store
        self.clock = clock
        self.salts = salts
        self.maxBatch = maxBatch
        self.queue = DispatchQueue(label: "quartet.writer.\(name)")
        self.resumer = DispatchQueue(label: "quartet.writer.\(name).resume")
        self.state = Mutex(State(frontier: frontier, lastTime: UInt64(lastTime)))
    }

    /// The number of entries committed so far.
    public var size: UInt64 { state.withLock { $0.frontier.size } }

    /// How many batches of each size were committed (for benchmarks).
    public var batchSizeHistogram: [Int: Int] { state.withLock { $0.batchSizes } }

    /// Appends one entry and returns once it is durable. Bad input is refused before batching,
    /// so it never fails anyone else's append.
    public func append(_ request: AppendRequest) async throws -> AppendReceipt {
        try request.validate()
        let payload: EntryPayload
        do { payload = try EntryPayload(salt: try salts(EntryPayload.saltLength), bytes: request.payload) } catch {
            throw StoreError(.io, "cannot salt the payload", cause: error)
        }
        return try await withUnsafeThrowingContinuation { continuation in
            let start = state.withLock { state -> Bool in
                state.pending.append(Pending(request: request, payload: payload, continuation: continuation))
                if state.draining { return false }
                state.draining = true
                return true
            }
            if start { queue.async { self.drain() } }
        }
    }

    /// Commits batches until no caller is waiting. Runs on `queue` only.
    private func drain() {
        while true {
            let (batch, frontier, lastTime) = state.withLock { state -> ([Pending], MerkleFrontier, UInt64) in
                let n = min(state.pending.count, maxBatch)
                let batch = Array(state.pending.prefix(n))
                state.pending.removeFirst(n)
                if batch.isEmpty { state.draining = false }
                return (batch, state.frontier, state.lastTime)
            }
            if batch.isEmpty { return }
            do {
                let (receipts, newFrontier, time) = try commit(batch, frontier: frontier, lastTime: lastTime)
                state.withLock {
                    $0.frontier = newFrontier
                    $0.lastTime = time
                    $0.batchSizes[batch.count, default: 0] += 1
                }
                // Waking callers costs a task enqueue each; do it off the writer so the next
                // batch starts committing at once.
                resumer.async { for (pending, receipt) in zip(batch, receipts) { pending.continuation.resume(returning: receipt) } }
            } catch {
                // The transaction rolled back; reload the tree from disk in case the failure
                // came after SQLite had made some of it durable.
                if let reloaded = try? store.read("reload the tree of \(log.name)", { db in try LedgerStore.frontier(db, log) }) {
                    state.withLock { $0.frontier = reloaded }
                }
                resumer.async { for pending in batch { pending.continuation.resume(throwing: error) } }
            }
        }
    }

    /// Writes one batch and its signed checkpoint in one transaction.
    private func commit(_ requests: [Pending], frontier start: MerkleFrontier, lastTime: UInt64) throws -> ([AppendReceipt], MerkleFrontier, UInt64) {
        // Time never runs backwards within a log, even if the wall clock does.
        let time = max(clock(), lastTime)
        var frontier = start
        var leafHashes: [Hash] = []
        leafHashes.reserveCapacity(requests.count)
        let log = self.log
        let signed: StoredCheckpoint = try store.pool.write { db in
            let insertEntry = try RawStatement(db, sql: "INSERT INTO entries (key, header, leaf_hash, salt, payload) VALUES (?, ?, ?, ?, ?)")
            let insertNode = try RawStatement(db, sql: "INSERT INTO nodes (log_id, level, idx, hash) VALUES (?, ?, ?, ?)")
            for pending in requests {
                let request = pending.request
                let entry = try Entry(log: log.name, index: frontier.size, timeMillis: time, type: request.type,
                                      classification: request.classification, author: request.author, payload: pending.payload)
                try insertEntry.execute(.integer(Schema.entryKey(logID: log.id, index: entry.header.index)),
                                        .blob(entry.headerBytes), .blob(entry.leafHash.bytes), .blob(pending.payload.salt), .blob(request.payload))
                try frontier.append(entry.leafHash) { level, index, hash in
                    guard level > 0, level % Schema.nodeLevelStride == 0 else { return }
                    try insertNode.execute(.integer(log.id), .integer(Int64(level)), .integer(Int64(index)), .blob(hash.bytes))
                }
                leafHashes.append(entry.leafHash)
            }
            let checkpoint = Checkpoint(origin: log.origin, size: frontier.size, root: frontier.root, timeMillis: time)
            let note = try signer.sign(checkpoint).serialized
            try RawStatement(db, sql: "INSERT INTO checkpoints (log_id, size, root, note, time_ms) VALUES (?, ?, ?, ?, ?)")
                .execute(.integer(log.id), .integer(Int64(checkpoint.size)), .blob(checkpoint.root.bytes), .text(note), .integer(Int64(time)))
            return StoredCheckpoint(checkpoint: checkpoint, note: note)
        }
        let first = start.size
        let receipts = leafHashes.enumerated().map { i, leaf in
            AppendReceipt(log: log.name, index: first + UInt64(i), leafHash: leaf, checkpoint: signed)
        }
        return (receipts, frontier, time)
    }
}

/// Milliseconds since the Unix epoch from the system's real-time clock.
@Sendable public func wallClockMillis() -> UInt64 {
    UInt64(Date().timeIntervalSince1970 * 1000)
}
