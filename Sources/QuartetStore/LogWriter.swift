import Dispatch
import Foundation
import GRDB
import GRDBSQLite
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
///
/// Two stages overlap: while one batch's transaction is committing (its fsync), the next batch
/// is prepared (entries encoded and hashed, the tree extended, the checkpoint signed). A
/// transaction then does nothing but insert rows. If a commit fails, the batch prepared on top
/// of it is prepared again from the tree on disk.
public final class LogWriter: Sendable {
    /// The log written.
    public let log: LogInfo
    private let store: LedgerStore
    private let signer: NoteSigner
    private let clock: @Sendable () -> UInt64
    private let salts: @Sendable (Int) throws -> [UInt8]
    private let prepareQueue: DispatchQueue
    private let commitQueue: DispatchQueue
    private let resumer: DispatchQueue
    private let maxBatch: Int
    /// Payload bytes in one batch (the first entry of a batch is always taken).
    static let maxBatchBytes = 8 << 20
    private let onCommit: (@Sendable (_ entries: [Entry], _ checkpoint: StoredCheckpoint) -> Void)?

    private struct Pending {
        let request: AppendRequest
        /// Salted and committed to on the caller's thread, keeping hashing off the writer.
        let payload: EntryPayload
        /// Who is waiting: one caller, or one entry of a caller's batch.
        let waiter: Waiter

        /// The caller's batch this entry belongs to, if it came with others.
        var group: ObjectIdentifier? {
            if case .batch(let collector, _) = waiter { return ObjectIdentifier(collector) }
            return nil
        }

        /// Answers the caller (exactly once).
        func complete(_ result: Result<AppendReceipt, any Error>) {
            switch waiter {
            case .single(let continuation): continuation.resume(with: result)
            case .batch(let collector, let i): collector.set(i, result)
            }
        }
    }

    private enum Waiter {
        case single(UnsafeContinuation<AppendReceipt, any Error>)
        case batch(ReceiptCollector, Int)
    }

    /// A batch ready to commit: every entry built, the tree extended, the checkpoint signed.
    private struct PreparedBatch {
        let pending: [Pending]
        let entries: [Entry]
        let nodes: [(level: Int, index: UInt64, hash: Hash)]
        let frontier: MerkleFrontier
        let time: UInt64
        let checkpoint: StoredCheckpoint
        let generation: Int
    }

    private struct State {
        var pending: [Pending] = []
        var draining = false
        /// The tree as of the last committed batch.
        var frontier: MerkleFrontier
        var lastTime: UInt64
        var batchSizes: [Int: Int] = [:]
        /// A batch prepared on top of the one committing, waiting for the commit stage.
        var ready: PreparedBatch?
        /// Whether the commit stage is running.
        var committing = false
        /// Size of the batch whose callers were answered last: the prepare stage waits for about
        /// that many to come back before it takes the next batch.
        var lastAnswered = 0
        /// Counts failed commits. A batch records the generation it was prepared in; one from an
        /// older generation was built on a batch that never committed and is prepared again.
        var generation = 0
    }

    /// Guards `state`. The stages wait on it for callers, for the commit stage, or for work.
    private let condition = NSCondition()
    nonisolated(unsafe) private var state: State

    /// Opens the writer of an own log. `clock` gives milliseconds since the epoch; `salts` gives
    /// random bytes (both injectable for tests). `maxBatch` bounds one transaction
    /// (default 4,096 entries).
    public init(store: LedgerStore, log name: String,
                clock: @escaping @Sendable () -> UInt64 = wallClockMillis,
                salts: @escaping @Sendable (Int) throws -> [UInt8] = { try SaltPool.shared.bytes(count: $0) },
                maxBatch: Int = 4096,
                onCommit: (@Sendable (_ entries: [Entry], _ checkpoint: StoredCheckpoint) -> Void)? = nil) throws(StoreError) {
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
        self.onCommit = onCommit
        self.prepareQueue = DispatchQueue(label: "quartet.writer.\(name).prepare")
        self.commitQueue = DispatchQueue(label: "quartet.writer.\(name).commit")
        self.resumer = DispatchQueue(label: "quartet.writer.\(name).resume")
        self.state = State(frontier: frontier, lastTime: UInt64(lastTime))
    }

    /// Runs `body` on the state under the lock. `body` must not wait on `condition`.
    private func withState<T>(_ body: (inout State) throws -> T) rethrows -> T {
        condition.lock()
        defer { condition.unlock() }
        return try body(&state)
    }

    /// The number of entries committed so far.
    public var size: UInt64 { withState { $0.frontier.size } }

    /// How many batches of each size were committed (for benchmarks).
    public var batchSizeHistogram: [Int: Int] { withState { $0.batchSizes } }

    /// Appends one entry and returns once it is durable. Bad input is refused before batching,
    /// so it never fails anyone else's append.
    public func append(_ request: AppendRequest) async throws -> AppendReceipt {
        try request.validate()
        let payload: EntryPayload
        do { payload = try EntryPayload(salt: try salts(EntryPayload.saltLength), bytes: request.payload) } catch {
            throw StoreError(.io, "cannot salt the payload", cause: error)
        }
        return try await withUnsafeThrowingContinuation { continuation in
            let start = withState { state -> Bool in
                state.pending.append(Pending(request: request, payload: payload, waiter: .single(continuation)))
                // Wake the prepare stage only when it would act: a futex wake per append costs
                // more than the append's own work.
                if state.ready == nil && state.pending.count >= max(1, state.lastAnswered) { condition.signal() }
                if state.draining { return false }
                state.draining = true
                return true
            }
            if start { prepareQueue.async { self.prepareLoop() } }
        }
    }

    /// Appends entries in the given order (consecutive indices unless other callers' appends
    /// fall between) and returns once all are durable. Every request is checked before any is
    /// queued, so one bad request appends none of them; and the entries are committed in one
    /// transaction (even beyond the usual batch limits), so they are all durable or none is.
    public func append(contentsOf requests: [AppendRequest]) async throws -> [AppendReceipt] {
        guard !requests.isEmpty else { return [] }
        var payloads: [EntryPayload] = []
        payloads.reserveCapacity(requests.count)
        for request in requests {
            try request.validate()
            do { payloads.append(try EntryPayload(salt: try salts(EntryPayload.saltLength), bytes: request.payload)) } catch {
                throw StoreError(.io, "cannot salt the payload", cause: error)
            }
        }
        return try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<[AppendReceipt], any Error>) in
            let collector = ReceiptCollector(count: requests.count, continuation: continuation)
            enqueue(requests.enumerated().map { i, request in
                Pending(request: request, payload: payloads[i], waiter: .batch(collector, i))
            })
        }
    }

    /// Queues appends in order and starts the prepare stage if it is idle.
    private func enqueue(_ items: [Pending]) {
        let start = withState { state -> Bool in
            state.pending.append(contentsOf: items)
            if state.ready == nil && state.pending.count >= max(1, state.lastAnswered) { condition.signal() }
            if state.draining { return false }
            state.draining = true
            return true
        }
        if start { prepareQueue.async { self.prepareLoop() } }
    }

    /// The prepare stage, on `prepareQueue`: takes waiting callers as a batch, prepares it on top
    /// of the batch committing, and hands it to the commit stage. Ends when nothing is waiting,
    /// ready or committing.
    private func prepareLoop() {
        // What the next batch builds on, and in which generation that was true.
        var tip: (frontier: MerkleFrontier, time: UInt64, generation: Int)?
        while true {
            condition.lock()
            // At most one batch waits ready; while one commits, give the callers just answered
            // the time to come back, so batches stay large.
            while state.ready != nil || (state.committing && state.pending.count < max(1, state.lastAnswered)) {
                condition.wait()
            }
            if !state.committing || tip?.generation != state.generation {
                tip = (state.frontier, state.lastTime, state.generation)
            }
            var n = min(state.pending.count, maxBatch)
            // A batch is also bounded by payload bytes, so that it (and the replication message
            // that carries it to peers) stays far below the protocol's frame limit.
            var bytes = 0
            for i in 0..<n {
                bytes += state.pending[i].request.payload.count
                if bytes > Self.maxBatchBytes && i > 0 { n = i; break }
            }
            // A caller's batch is never split across transactions: it commits, or fails, whole.
            if n > 0, n < state.pending.count, let group = state.pending[n].group, state.pending[n - 1].group == group {
                var start = n - 1
                while start > 0, state.pending[start - 1].group == group { start -= 1 }
                if start > 0 {
                    n = start
                } else {
                    // The batch alone is over the limits: it goes as one transaction anyway.
                    while n < state.pending.count, state.pending[n].group == group { n += 1 }
                }
            }
            if n == 0 {
                // Here nothing is committing (or the wait above would have held us).
                state.draining = false
                condition.unlock()
                return
            }
            let batch = Array(state.pending.prefix(n))
            state.pending.removeFirst(n)
            let base = tip!
            condition.unlock()

            let prepared: PreparedBatch
            do { prepared = try prepare(batch, after: base.frontier, lastTime: base.time, generation: base.generation) } catch {
                fail(batch, error)
                continue
            }

            condition.lock()
            if prepared.generation != state.generation {
                // A commit failed while this was prepared on top of it: put the callers back.
                state.pending.insert(contentsOf: batch, at: 0)
                condition.unlock()
                continue
            }
            tip = (prepared.frontier, prepared.time, prepared.generation)
            if state.committing {
                state.ready = prepared
                condition.unlock()
            } else {
                state.committing = true
                condition.unlock()
                commitQueue.async { self.commitLoop(prepared) }
            }
        }
    }

    /// The commit stage, on `commitQueue`: commits a batch, answers its callers, and goes straight
    /// on to the batch prepared meanwhile, with no thread hop between transactions.
    private func commitLoop(_ first: PreparedBatch) {
        var batch = first
        while true {
            let result = Result { try write(batch) }
            condition.lock()
            switch result {
            case .success:
                state.frontier = batch.frontier
                state.lastTime = batch.time
                state.batchSizes[batch.pending.count, default: 0] += 1
                state.lastAnswered = batch.pending.count
                succeed(batch)
                if let next = state.ready {
                    state.ready = nil
                    condition.broadcast()
                    condition.unlock()
                    batch = next
                    continue
                }
            case .failure(let error):
                fail(batch.pending, error)
                // Anything prepared on top of this batch is stale: its callers go back in line.
                state.generation += 1
                if let stale = state.ready {
                    state.ready = nil
                    state.pending.insert(contentsOf: stale.pending, at: 0)
                }
                // The transaction rolled back; rebuild the tree from disk in case the failure
                // came after SQLite had made some of it durable.
                if let reloaded = try? store.read("reload the tree of \(log.name)", { db in try LedgerStore.frontier(db, log) }) {
                    state.frontier = reloaded
                }
            }
            state.committing = false
            condition.broadcast()
            condition.unlock()
            return
        }
    }

    /// Builds a batch's entries on top of `start`, extends the tree and signs the checkpoint.
    private func prepare(_ batch: [Pending], after start: MerkleFrontier, lastTime: UInt64, generation: Int) throws -> PreparedBatch {
        // Time never runs backwards within a log, even if the wall clock does.
        let time = max(clock(), lastTime)
        var frontier = start
        var entries: [Entry] = []
        var nodes: [(level: Int, index: UInt64, hash: Hash)] = []
        entries.reserveCapacity(batch.count)
        for pending in batch {
            let request = pending.request
            let entry = try Entry(log: log.name, index: frontier.size, timeMillis: time, type: request.type,
                                  classification: request.classification, author: request.author, payload: pending.payload)
            frontier.append(entry.leafHash) { level, index, hash in
                if level > 0, level % Schema.nodeLevelStride == 0 { nodes.append((level, index, hash)) }
            }
            entries.append(entry)
        }
        let checkpoint = Checkpoint(origin: log.origin, size: frontier.size, root: frontier.root, timeMillis: time)
        let note = try signer.sign(checkpoint).serialized
        return PreparedBatch(pending: batch, entries: entries, nodes: nodes, frontier: frontier, time: time,
                             checkpoint: StoredCheckpoint(checkpoint: checkpoint, note: note), generation: generation)
    }

    /// The commit stage: one transaction holding the batch's entries, subtree hashes and checkpoint.
    private func write(_ batch: PreparedBatch) throws {
        let log = self.log
        try store.pool.writeWithoutTransaction { db in
            // The transaction is driven through the C API too: GRDB's transaction bookkeeping
            // costs more than the inserts of a small batch. Any failure rolls it back whole.
            try RawStatement(db, sql: "BEGIN IMMEDIATE").execute()
            do {
                try insertBatch(db, batch, log)
                try RawStatement(db, sql: "COMMIT").execute()
            } catch {
                if let connection = db.sqliteConnection, sqlite3_get_autocommit(connection) == 0 {
                    _ = sqlite3_exec(connection, "ROLLBACK", nil, nil, nil)
                }
                throw error
            }
        }
    }

    private func insertBatch(_ db: Database, _ batch: PreparedBatch, _ log: LogInfo) throws {
        let insertEntry = try RawStatement(db, sql: "INSERT INTO entries (key, header, leaf_hash, salt, payload) VALUES (?, ?, ?, ?, ?)")
        for entry in batch.entries {
            let payload = entry.payload!
            try insertEntry.execute(.integer(Schema.entryKey(logID: log.id, index: entry.header.index)), .blob(entry.headerBytes),
                                    .blob(entry.leafHash.bytes), .blob(payload.salt), .blob(payload.bytes))
        }
        if !batch.nodes.isEmpty {
            let insertNode = try RawStatement(db, sql: "INSERT INTO nodes (log_id, level, idx, hash) VALUES (?, ?, ?, ?)")
            for node in batch.nodes {
                try insertNode.execute(.integer(log.id), .integer(Int64(node.level)), .integer(Int64(node.index)), .blob(node.hash.bytes))
            }
        }
        let checkpoint = batch.checkpoint.checkpoint
        try RawStatement(db, sql: "INSERT INTO checkpoints (log_id, size, root, note, time_ms) VALUES (?, ?, ?, ?, ?)")
            .execute(.integer(log.id), .integer(Int64(checkpoint.size)), .blob(checkpoint.root.bytes),
                     .text(batch.checkpoint.note), .integer(Int64(batch.time)))
    }

    // Waking callers costs a task enqueue each; it is done off both stages.
    private func succeed(_ batch: PreparedBatch) {
        let log = self.log.name
        let onCommit = self.onCommit
        resumer.async {
            // Batches reach the observer in commit order (this queue is serial).
            onCommit?(batch.entries, batch.checkpoint)
            for (pending, entry) in zip(batch.pending, batch.entries) {
                pending.complete(.success(AppendReceipt(log: log, index: entry.header.index, leafHash: entry.leafHash,
                                                           checkpoint: batch.checkpoint)))
            }
        }
    }

    private func fail(_ batch: [Pending], _ error: any Error) {
        resumer.async { for pending in batch { pending.complete(.failure(error)) } }
    }
}

/// Milliseconds since the Unix epoch from the system's real-time clock.
@Sendable public func wallClockMillis() -> UInt64 {
    UInt64(Date().timeIntervalSince1970 * 1000)
}

/// Random bytes for salts, drawn from OpenSSL's DRBG 8 KiB at a time: one `RAND_bytes` call per
/// 256 salts instead of one per append. Each byte is handed out once.
public final class SaltPool: Sendable {
    /// The process-wide pool.
    public static let shared = SaltPool()
    private let buffer = Mutex<(bytes: [UInt8], offset: Int)>(([], 0))
    private let refill = 8192

    /// `count` fresh random bytes.
    public func bytes(count: Int) throws -> [UInt8] {
        guard count <= refill else { return try SecureRandom.bytes(count: count) }
        return try buffer.withLock { state in
            if state.offset + count > state.bytes.count {
                state.bytes = try SecureRandom.bytes(count: refill)
                state.offset = 0
            }
            defer { state.offset += count }
            return Array(state.bytes[state.offset ..< state.offset + count])
        }
    }
}

/// Gathers the receipts of one caller's appends and answers it once all are in (or at the first
/// failure).
private final class ReceiptCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var receipts: [AppendReceipt?]
    private var remaining: Int
    private var continuation: UnsafeContinuation<[AppendReceipt], any Error>?

    init(count: Int, continuation: UnsafeContinuation<[AppendReceipt], any Error>) {
        receipts = Array(repeating: nil, count: count)
        remaining = count
        self.continuation = continuation
    }

    func set(_ i: Int, _ result: Result<AppendReceipt, any Error>) {
        lock.lock()
        var resume: (UnsafeContinuation<[AppendReceipt], any Error>, Result<[AppendReceipt], any Error>)?
        switch result {
        case .success(let receipt):
            receipts[i] = receipt
            remaining -= 1
            if remaining == 0, let c = continuation {
                continuation = nil
                resume = (c, .success(receipts.map { $0! }))
            }
        case .failure(let error):
            if let c = continuation {
                continuation = nil
                resume = (c, .failure(error))
            }
        }
        lock.unlock()
        if let (c, r) = resume { c.resume(with: r) }
    }
}
