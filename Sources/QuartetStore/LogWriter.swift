// One file over ~350 lines: the shell of GroupCommitState, whose two stages share the lock,
// the condition and the state, and read more clearly side by side.
import Dispatch
import Foundation
import GRDB
import QuartetCrypto
import QuartetLedger
import Synchronization

/// The single writer of one log: batches concurrent appends into one SQLite transaction and
/// one signed checkpoint (group commit), and answers each caller only once its batch is durable.
///
/// Two stages overlap: while one batch's transaction is committing (its fsync), the next batch
/// is prepared (entries encoded and hashed, the tree extended, the checkpoint signed). A
/// transaction then does nothing but insert rows. The decisions (what to batch, when to wait,
/// what a failed commit invalidates) are `GroupCommitState`'s; this class is the shell that
/// holds its lock, runs the stages on their queues and performs the actions it returns.
public final class LogWriter: Sendable {
    /// The log written.
    public let log: LogInfo
    private let store: LedgerStore
    /// The signing keys; nil only while a held writer's key file is not (yet) the key in
    /// force (resolved again by `release`, WriterKeys.swift).
    private let keys: Mutex<WriterKeys?>
    private let clock: @Sendable () -> UInt64
    private let salts: @Sendable (Int) throws -> [UInt8]
    private let prepareQueue: DispatchQueue
    private let commitQueue: DispatchQueue
    private let resumer: DispatchQueue
    /// Payload bytes in one batch (the first entry of a batch is always taken).
    static let maxBatchBytes = 8 << 20
    /// Payload bytes queued and not yet in a batch, at most (a request alone over it still
    /// goes): past it, appends are refused as unavailable (the API's 503 with Retry-After).
    static let maxQueuedBytes = 64 << 20
    /// Told of each batch once durable, in commit order, with the instant its checkpoint was
    /// signed (monotonic: the checkpoint's own time is whole milliseconds of the wall clock)
    /// and the tree's frontier after it.
    private let onCommit: (@Sendable (_ entries: [Entry], _ checkpoint: StoredCheckpoint, _ signedAt: ContinuousClock.Instant, _ tree: MerkleFrontier) -> Void)?

    /// One queued entry: its request, its salted payload and the ticket waiting for it.
    struct Pending: GroupCommitItem {
        let request: AppendRequest
        /// Salted and committed to on the caller's thread, keeping hashing off the writer.
        let payload: EntryPayload
        let waiter: AppendTicket
        /// The entry's position in its ticket.
        let position: Int
        var ticket: UInt64 { waiter.number }
        var byteCount: Int { request.payload.count }
    }

    /// What a batch is built on: the tree and the last checkpoint time.
    struct Tip {
        var frontier: MerkleFrontier
        var time: UInt64
    }

    /// A batch ready to commit: every entry built, the tree extended, the checkpoint signed.
    struct PreparedBatch {
        let pending: [Pending]
        let entries: [Entry]
        let nodes: [StoredNode]
        let tip: Tip
        let checkpoint: StoredCheckpoint
        /// When the checkpoint was signed.
        let signedAt: ContinuousClock.Instant
    }

    typealias State = GroupCommitState<Pending, Tip, PreparedBatch>

    /// Whether appends are taken now (`Availability`).
    private let availability: Mutex<Availability>
    /// Set by `refuse`: batches not yet written fail with it.
    private let refusal = Mutex<StoreError?>(nil)

    /// Guards `state`. The prepare stage waits on it for callers or for the commit stage.
    private let condition = NSCondition()
    nonisolated(unsafe) private var state: State

    /// Opens the writer of an own log. `clock` gives milliseconds since the epoch; `salts` gives
    /// random bytes (both injectable for tests). `maxBatch` bounds one transaction
    /// (default 4,096 entries).
    public init(store: LedgerStore, log name: String,
                clock: @escaping @Sendable () -> UInt64 = wallClockMillis,
                salts: @escaping @Sendable (Int) throws -> [UInt8] = { try SaltPool.shared.bytes(count: $0) },
                maxBatch: Int = 4096,
                held: Availability = .open,
                onCommit: (@Sendable (_ entries: [Entry], _ checkpoint: StoredCheckpoint, _ signedAt: ContinuousClock.Instant, _ tree: MerkleFrontier) -> Void)? = nil) throws(StoreError) {
        guard store.isWriter else { throw StoreError(.locked, "the store was opened for reading; open it as a writer to append") }
        let log = try store.log(named: name)
        guard log.isOwn else { throw StoreError(.notOwnLog, "log \(name) is a replica here; only its origin appends to it") }
        // The key in force after the log's rotations (KeyChain), and the previous one in the
        // overlap. A held writer may start without it: the tail its peers hold may rotate the
        // log to the key the data directory has (`quartet recover` with a rotated log's key).
        do {
            keys = Mutex(try WriterKeys.resolve(store: store, log: log))
        } catch {
            // Only a readable key that is not (yet) the key in force; a missing or broken key
            // file, or anything else, stops the start.
            guard case .held = held, error.code == .key, (try? store.directory.readSigningKey(log: name)) != nil else { throw error }
            keys = Mutex(nil)
        }
        let (frontier, lastTime) = try store.read("load the tree of \(name)") { db in
            (try store.frontier(db, log),
             try Int64.fetchOne(db, sql: "SELECT MAX(time_ms) FROM checkpoints WHERE log_id = ?", arguments: [log.id]) ?? 0)
        }
        self.log = log
        self.store = store
        self.clock = clock
        self.salts = salts
        self.onCommit = onCommit
        self.prepareQueue = DispatchQueue(label: "quartet.writer.\(name).prepare")
        self.commitQueue = DispatchQueue(label: "quartet.writer.\(name).commit")
        self.resumer = DispatchQueue(label: "quartet.writer.\(name).resume")
        self.state = State(committed: Tip(frontier: frontier, time: UInt64(lastTime)), maxBatch: maxBatch, maxBatchBytes: Self.maxBatchBytes,
                           maxQueuedBytes: Self.maxQueuedBytes)
        self.availability = Mutex(held)
    }

    /// Whether a writer takes appends. A node starts its writer held until it has learnt from a
    /// peer that no peer holds more of its own log (a restored old copy would otherwise sign a
    /// second history, docs/operations.md); while held, appends wait a little and are then
    /// refused with the reason (`StoreError.Code.unavailable`, 503 at the API).
    public enum Availability: Sendable, Equatable {
        /// Appends are taken.
        case open
        /// Appends wait (at most until `until`) and are then refused with `reason`.
        case held(reason: String, until: ContinuousClock.Instant)
    }

    /// Why appends are refused now (nil: they are taken).
    public var unavailableReason: String? {
        availability.withLock { state in
            guard case .held(let reason, _) = state else { return nil }
            return reason
        }
    }

    /// Changes why appends are held (no effect once they are taken).
    public func hold(reason: String, until: ContinuousClock.Instant) {
        availability.withLock { state in
            guard case .held = state else { return }
            state = .held(reason: reason, until: until)
        }
    }

    /// Takes no more appends, for good (another process signs this log: a second copy of the
    /// node, or its key's thief): each is refused at once with `reason`, and so is every append
    /// queued or prepared and not yet committed — its batch is not written (was: committed and
    /// published, signing the very entry the refusal is there to keep out). A batch whose
    /// transaction is already under way ends as it would have.
    public func refuse(reason: String) {
        let error = StoreError(.unavailable, reason)
        refusal.withLock { $0 = error }
        availability.withLock { $0 = .held(reason: reason, until: .now) }
        let queued = withState { state in
            defer { condition.broadcast() }
            return state.takeQueued()
        }
        if !queued.isEmpty { fail(queued, error) }
    }

    /// Whether the writer was refused for good (`refuse`).
    public var isRefused: Bool { refusal.withLock { $0 != nil } }

    /// Takes appends from now on, after reading the log's tree and its signing keys again from
    /// the store: while held, the node may have stored entries of this log that peers held and
    /// it had lost, rotations among them. Nothing was queued while held, so no batch is built
    /// on the old tree. Throws (and stays held) when the key file is not the key in force.
    public func release() throws(StoreError) {
        // Refused for good: never opened again this run.
        if let error = refusal.withLock({ $0 }) { throw error }
        let log = self.log
        let (frontier, lastTime) = try store.read("reload the tree of \(log.name)") { db in
            (try store.frontier(db, log),
             try Int64.fetchOne(db, sql: "SELECT MAX(time_ms) FROM checkpoints WHERE log_id = ?", arguments: [log.id]) ?? 0)
        }
        guard case .held = availability.withLock({ $0 }) else { return }
        // The tail taken while held may hold rotations: sign with the key in force after them.
        let resolved = try WriterKeys.resolve(store: store, log: log)
        availability.withLock { state in
            guard case .held = state else { return }
            keys.withLock { $0 = resolved }
            withState { $0.restart(committed: Tip(frontier: frontier, time: UInt64(lastTime))) }
            state = .open
        }
    }

    /// Waits while appends are held and the wait has not run out; throws the reason if they
    /// are still held then.
    public func waitUntilAvailable() async throws {
        while true {
            let held = availability.withLock { state -> (String, ContinuousClock.Instant)? in
                guard case .held(let reason, let until) = state else { return nil }
                return (reason, until)
            }
            guard let (reason, until) = held else { return }
            guard ContinuousClock.now < until else { throw StoreError(.unavailable, reason) }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    private func checkAvailable() throws(StoreError) {
        if let reason = unavailableReason { throw StoreError(.unavailable, reason) }
    }

    /// Runs `body` on the state under the lock. `body` must not wait on `condition`.
    private func withState<T>(_ body: (inout State) throws -> T) rethrows -> T {
        condition.lock()
        defer { condition.unlock() }
        return try body(&state)
    }

    /// The number of entries committed so far.
    public var size: UInt64 { withState { $0.committed.frontier.size } }

    /// The time (ms since 1970) of the newest committed entry: the earliest time the next one
    /// can carry (a log's times never go back, whatever the clock does).
    public var committedTime: UInt64 { withState { $0.committed.time } }

    /// How many batches of each size were committed (for benchmarks).
    public var batchSizeHistogram: [Int: Int] { withState { $0.batchSizes } }

    /// Queues entries for appending and returns at once, before they are durable: the entries
    /// take consecutive indices (no other caller's entry falls between them), and entries
    /// queued by one call come before those of any call that starts after it returns. Every
    /// request is checked first, so one bad request queues none; the entries are committed in
    /// one transaction (even beyond the usual batch limits), so they are all durable or none is.
    /// `AppendTicket.receipts()` answers once they are durable, or with the commit's error.
    /// - Parameter bounded: refused as unavailable while more than `maxQueuedBytes` wait (the
    ///   API's appends; the node's own records are not held back by what clients queued).
    public func enqueue(contentsOf requests: [AppendRequest], bounded: Bool = false) throws(StoreError) -> AppendTicket {
        try checkAvailable()
        if requests.contains(where: { $0.type == KeyRotation.entryType }) {
            throw StoreError(.invalidInput, "type: key.rotation entries are made by `quartet key rotate`, not appended")
        }
        var payloads: [EntryPayload] = []
        payloads.reserveCapacity(requests.count)
        for request in requests {
            try request.validate()
            do { payloads.append(try EntryPayload(salt: try salts(EntryPayload.saltLength), bytes: request.payload)) } catch {
                throw StoreError(.io, "cannot salt the payload", cause: error)
            }
        }
        guard !requests.isEmpty else { return AppendTicket(number: 0, count: 0) }
        let bytes = requests.reduce(0) { $0 + $1.payload.count }
        let queued = withState { state -> (AppendTicket, State.EnqueueAction)? in
            guard !bounded || state.accepts(bytes: bytes) else { return nil }
            let ticket = AppendTicket(number: state.issueTicket(), count: requests.count)
            let items = requests.indices.map { Pending(request: requests[$0], payload: payloads[$0], waiter: ticket, position: $0) }
            let action = state.enqueue(items)
            // One waiter is enough: the commit stage waits only while a batch is being built,
            // and then no enqueue wakes anyone.
            if action == .wakePrepareStage { condition.signal() }
            return (ticket, action)
        }
        guard let (ticket, action) = queued else {
            throw StoreError(.unavailable, "log \(log.name) has more appends queued than its disk has taken (\(Self.maxQueuedBytes >> 20) MiB waiting): try again shortly")
        }
        if action == .startPrepareStage { prepareQueue.async { self.prepareLoop() } }
        return ticket
    }

    /// Appends one entry and returns once it is durable. Bad input is refused before batching,
    /// so it never fails anyone else's append.
    public func append(_ request: AppendRequest) async throws -> AppendReceipt {
        try await waitUntilAvailable()
        return try await enqueue(contentsOf: [request]).receipts()[0]
    }

    /// Appends entries in the given order (consecutive indices) and returns once all are
    /// durable: `enqueue(contentsOf:)`, then its ticket's receipts.
    public func append(contentsOf requests: [AppendRequest], bounded: Bool = false) async throws -> [AppendReceipt] {
        try await waitUntilAvailable()
        return try await enqueue(contentsOf: requests, bounded: bounded).receipts()
    }

    /// The prepare stage, on `prepareQueue`: takes waiting callers as a batch, prepares it on top
    /// of the batch committing, and hands it to the commit stage. Ends when nothing is waiting,
    /// ready or committing.
    private func prepareLoop() {
        while true {
            condition.lock()
            var next = state.nextBatch()
            while case .wait = next {
                condition.wait()
                next = state.nextBatch()
            }
            condition.unlock()
            guard case .prepare(let items, let base, let generation) = next else { return }

            let prepared: PreparedBatch
            do { prepared = try prepare(items, on: base) } catch {
                fail(items, error)
                // A commit stage may be waiting for this batch.
                withState { $0.prepareFailed(); condition.broadcast() }
                continue
            }
            let action = withState { state in
                let action = state.prepared(prepared, items: items, tree: prepared.tip, generation: generation)
                // A commit stage may be waiting for this batch.
                if case .parked = action { condition.broadcast() }
                return action
            }
            if case .startCommitStage(let batch) = action {
                commitQueue.async { self.commitLoop(batch) }
            }
        }
    }

    /// The commit stage, on `commitQueue`: commits a batch, answers its callers, and goes straight
    /// on to the batch prepared meanwhile, with no thread hop between transactions; with none
    /// ready it waits for the one being built, or builds what is queued itself.
    private func commitLoop(_ first: PreparedBatch) {
        var next = State.CommitAction.commit(first)
        while true {
            switch next {
            case .commit(let batch):
                // Refused for good since it was prepared (checked again inside the transaction,
                // before its COMMIT): not written; what is queued behind it fails too (a batch
                // being built comes back requeued and fails here in turn).
                func refused(_ error: StoreError) {
                    fail(batch.pending, error)
                    let queued = withState { state in
                        defer { condition.broadcast() }
                        state.commitFailed(reloaded: nil)
                        return state.takeQueued()
                    }
                    if !queued.isEmpty { fail(queued, error) }
                }
                if let error = refusal.withLock({ $0 }) { return refused(error) }
                do {
                    try write(batch)
                } catch let error as WriterRefused {
                    return refused(error.error)
                } catch {
                    store.writes.failed(.ownLog, error, nowMillis: wallClockMillis())
                    fail(batch.pending, error)
                    // The transaction rolled back; rebuild the tree from disk in case the failure
                    // came after SQLite had made some of it durable.
                    let log = self.log
                    let reloaded = try? store.read("reload the tree of \(log.name)") { db in try store.frontier(db, log) }
                    withState { state in
                        state.commitFailed(reloaded: reloaded.map { Tip(frontier: $0, time: state.committed.time) })
                        condition.broadcast()
                    }
                    return
                }
                // The state first, so a caller answered sees the writer's new size.
                next = withState { state in
                    defer { condition.broadcast() }
                    return state.committed(count: batch.pending.count, tree: batch.tip)
                }
                store.writes.succeeded(.ownLog)
                succeed(batch)
            case .prepare(let items, let base, let generation):
                do {
                    let prepared = try prepare(items, on: base)
                    next = withState { state in
                        // Only this stage fails commits (bumping the generation), and it runs:
                        // the batch waits ready for it.
                        guard case .parked = state.prepared(prepared, items: items, tree: prepared.tip, generation: generation) else {
                            preconditionFailure("a batch the commit stage built must wait ready for it")
                        }
                        // The prepare stage did not build while this one did: it may have callers enough now.
                        condition.broadcast()
                        return state.nextCommit()
                    }
                } catch {
                    fail(items, error)
                    next = withState { state in
                        state.prepareFailed()
                        condition.broadcast()
                        return state.nextCommit()
                    }
                }
            case .wait:
                condition.lock()
                next = state.nextCommit()
                while case .wait = next {
                    condition.wait()
                    next = state.nextCommit()
                }
                // The prepare stage may be waiting too, for callers or for the ready slot this
                // stage has just taken or the commit stage to end: enqueues did not wake it
                // while a batch was being built or waited ready.
                condition.broadcast()
                condition.unlock()
            case .stop:
                return
            }
        }
    }

    /// Builds a batch's entries on top of `start`, extends the tree and signs the checkpoint.
    private func prepare(_ batch: [Pending], on start: Tip) throws -> PreparedBatch {
        // Time never runs backwards within a log, even if the wall clock does.
        let time = max(clock(), start.time)
        var frontier = start.frontier
        var entries: [Entry] = []
        var nodes: [StoredNode] = []
        entries.reserveCapacity(batch.count)
        for pending in batch {
            let request = pending.request
            let entry = try Entry(log: log.name, index: frontier.size, timeMillis: time, type: request.type,
                                  classification: request.classification, author: request.author, payload: pending.payload)
            LedgerStore.extend(&frontier, with: entry.leafHash, collecting: &nodes)
            entries.append(entry)
        }
        let checkpoint = Checkpoint(origin: log.origin, size: frontier.size, root: frontier.root, timeMillis: time)
        guard let keys = keys.withLock({ $0 }) else { throw StoreError(.key, "log \(log.name) has no signing key in force here") }
        let note = try keys.sign(checkpoint, time: time).serialized
        return PreparedBatch(pending: batch, entries: entries, nodes: nodes, tip: Tip(frontier: frontier, time: time),
                             checkpoint: StoredCheckpoint(checkpoint: checkpoint, note: note), signedAt: .now)
    }

    /// The commit stage: one transaction holding the batch's entries, subtree hashes and checkpoint.
    private func write(_ batch: PreparedBatch) throws {
        let log = self.log
        try store.pool.writeWithoutTransaction { db in
            try RawStatement.transaction(db) {
                try LedgerStore.insertBatch(db, log: log, entries: batch.entries, nodes: batch.nodes, checkpoint: batch.checkpoint.checkpoint,
                                            note: batch.checkpoint.note, timeMillis: batch.tip.time)
                // Refused while it was written: rolled back (only a COMMIT already under way ends).
                if let error = self.refusal.withLock({ $0 }) { throw WriterRefused(error: error) }
            }
        }
    }

    /// A batch's transaction rolled back because the writer was refused meanwhile (`refuse`).
    private struct WriterRefused: Error { let error: StoreError }

    // Waking callers costs a task enqueue each; it is done off both stages.
    private func succeed(_ batch: PreparedBatch) {
        let log = self.log.name
        let onCommit = self.onCommit
        // The note this writer signed and committed: readers need not verify it again.
        store.verifiedNotes.verified(log: self.log.id, note: batch.checkpoint.note, checkpoint: batch.checkpoint.checkpoint)
        resumer.async {
            // Batches reach the observer in commit order (this queue is serial).
            onCommit?(batch.entries, batch.checkpoint, batch.signedAt, batch.tip.frontier)
            for (pending, entry) in zip(batch.pending, batch.entries) {
                pending.waiter.set(pending.position, .success(AppendReceipt(log: log, index: entry.header.index, leafHash: entry.leafHash,
                                                                             checkpoint: batch.checkpoint)))
            }
        }
    }

    private func fail(_ batch: [Pending], _ error: any Error) {
        resumer.async { for pending in batch { pending.waiter.set(pending.position, .failure(error)) } }
    }
}
