/// What the group-commit state machine needs to know of a queued append.
protocol GroupCommitItem {
    /// The enqueue call (ticket) the item came with: a ticket's items are never split across
    /// batches, so they commit, or fail, together.
    var ticket: UInt64 { get }
    /// Payload bytes, for the batch byte limit.
    var byteCount: Int { get }
}

/// The group commit of one log as a pure state machine (no IO, no locks, no clock): callers'
/// appends queue up, a *prepare stage* takes them as batches and builds each on the tree the
/// batch before it will leave, and a *commit stage* makes one batch durable at a time. Each
/// input returns the action the shell (`LogWriter`) must perform; the shell holds the lock
/// around every call and does the work (preparing, SQLite, answering callers) outside it.
///
/// One batch is built at a time, by either stage: the prepare stage builds the next batch while
/// one commits; a commit stage that finds nothing ready builds what is queued itself, on its
/// own thread, rather than stop and wait for the prepare stage to be woken and hand a batch
/// back across threads (that hand-off left the commit stage idle before half the batches);
/// one that finds the prepare stage building waits for that batch.
///
/// `Tree` is what a batch is built on (the writer's Merkle frontier and last time); `Batch` is a
/// prepared batch, opaque here.
struct GroupCommitState<Item: GroupCommitItem, Tree, Batch> {
    /// Appends queued and not yet taken into a batch, in enqueue order.
    private(set) var pending: [Item] = []
    /// Payload bytes of `pending`.
    private(set) var pendingBytes = 0
    /// Whether the prepare stage is running (started, and not yet stopped for lack of work).
    private(set) var draining = false
    /// Whether the commit stage is running.
    private(set) var committing = false
    /// Whether a batch is being built (by either stage) and not yet handed back.
    private(set) var preparing = false
    /// A batch prepared on top of the one committing, waiting for the commit stage (at most one).
    private(set) var ready: Prepared?
    /// The tree as of the last committed batch.
    private(set) var committed: Tree
    /// The tree as the last prepared batch leaves it, while that batch is committing or ready.
    private var tip: Tree?
    /// Size of the batch whose callers were answered last: while a batch commits, the prepare
    /// stage waits for about that many callers to come back before it takes the next batch, so
    /// batches stay large without a timer.
    private(set) var lastAnswered = 0
    /// Counts failed commits. A batch records the generation it was prepared in; one from an
    /// older generation was built on a batch that never committed and is prepared again.
    private(set) var generation = 0
    /// How many batches of each size were committed.
    private(set) var batchSizes: [Int: Int] = [:]
    private var nextTicket: UInt64 = 0

    /// Entries in one batch (a single ticket over the limit still goes whole).
    let maxBatch: Int
    /// Payload bytes in one batch (the first item of a batch is always taken).
    let maxBatchBytes: Int
    /// Payload bytes queued at most: a ticket that would pass it is refused (`accepts`) unless
    /// nothing is queued, so callers that outrun the disk (or leave, their entries still
    /// queued) are told to come back instead of growing the queue without end.
    let maxQueuedBytes: Int

    /// A batch the prepare stage built, with the items it holds and the tree it leaves.
    struct Prepared {
        let batch: Batch
        let items: [Item]
        let tree: Tree
        let generation: Int
    }

    init(committed: Tree, maxBatch: Int, maxBatchBytes: Int, maxQueuedBytes: Int = 64 << 20) {
        precondition(maxBatch > 0 && maxBatchBytes > 0 && maxQueuedBytes > 0)
        self.committed = committed
        self.maxBatch = maxBatch
        self.maxBatchBytes = maxBatchBytes
        self.maxQueuedBytes = maxQueuedBytes
    }

    /// Whether a ticket of `bytes` payload bytes may queue now: always when nothing is queued
    /// (a ticket alone over the bound still goes), else while the queue stays within the bound.
    func accepts(bytes: Int) -> Bool {
        pending.isEmpty || pendingBytes + bytes <= maxQueuedBytes
    }

    private mutating func requeue(_ items: [Item]) {
        pending.insert(contentsOf: items, at: 0)
        pendingBytes += items.reduce(0) { $0 + $1.byteCount }
    }

    /// A fresh ticket number for the next `enqueue`.
    mutating func issueTicket() -> UInt64 {
        nextTicket += 1
        return nextTicket
    }

    // MARK: Callers

    /// What the shell does after an enqueue.
    enum EnqueueAction: Equatable {
        /// Start the prepare stage (it was idle).
        case startPrepareStage
        /// Wake the prepare stage: it may be waiting and now has enough to act on.
        case wakePrepareStage
        /// Nothing: the prepare stage runs and would not act yet, so a wake-up would be wasted.
        case none
    }

    /// Queues items (one ticket's) behind everything queued before.
    mutating func enqueue(_ items: [Item]) -> EnqueueAction {
        pending.append(contentsOf: items)
        pendingBytes += items.reduce(0) { $0 + $1.byteCount }
        if !draining {
            draining = true
            return .startPrepareStage
        }
        // A futex wake per append costs more than the append's own work: wake only when the
        // prepare stage's wait condition has become false.
        return ready == nil && !preparing && pending.count >= max(1, lastAnswered) ? .wakePrepareStage : .none
    }

    // MARK: Prepare stage

    /// What the prepare stage does next.
    enum PrepareAction {
        /// Wait for an enqueue, or for the commit stage to take the ready batch or finish.
        case wait
        /// Build `items` as a batch on top of `tree` (in `generation`), then call `prepared`.
        case prepare(items: [Item], on: Tree, generation: Int)
        /// Nothing queued, ready or committing: the stage ends (a later enqueue starts it).
        case stop
    }

    /// The prepare stage asks for its next batch.
    mutating func nextBatch() -> PrepareAction {
        precondition(draining, "the prepare stage runs only while draining")
        // At most one batch waits ready and one is built at a time; while one commits, give the
        // callers just answered the time to come back, so batches stay large.
        if ready != nil || preparing || (committing && pending.count < max(1, lastAnswered)) { return .wait }
        let n = batchLength()
        if n == 0 {
            // Here nothing is committing (or the wait above would have held us).
            draining = false
            return .stop
        }
        let (items, base) = takeBatch(n)
        return .prepare(items: items, on: base, generation: generation)
    }

    /// Takes the first `n` queued items as the batch to build next, on the tree the batch
    /// committing (if any) leaves.
    private mutating func takeBatch(_ n: Int) -> (items: [Item], base: Tree) {
        let items = Array(pending.prefix(n))
        pending.removeFirst(n)
        pendingBytes -= items.reduce(0) { $0 + $1.byteCount }
        preparing = true
        return (items, committing ? (tip ?? committed) : committed)
    }

    /// How many queued items the next batch takes: up to `maxBatch` and `maxBatchBytes`, never
    /// splitting a ticket (a ticket alone over the limits is taken whole).
    private func batchLength() -> Int {
        var n = min(pending.count, maxBatch)
        var bytes = 0
        for i in 0..<n {
            bytes += pending[i].byteCount
            if bytes > maxBatchBytes && i > 0 { n = i; break }
        }
        if n > 0, n < pending.count, pending[n].ticket == pending[n - 1].ticket {
            let ticket = pending[n].ticket
            var start = n - 1
            while start > 0, pending[start - 1].ticket == ticket { start -= 1 }
            if start > 0 {
                n = start
            } else {
                while n < pending.count, pending[n].ticket == ticket { n += 1 }
            }
        }
        return n
    }

    /// What the shell does with a batch just prepared.
    enum PreparedAction {
        /// Hand it to the commit stage, which was idle and is now running.
        case startCommitStage(Batch)
        /// Nothing: the batch waits as `ready` for the commit stage running.
        case parked
        /// Nothing: a commit failed meanwhile, the items are back in front of the queue.
        case requeued
    }

    /// The prepare stage built `batch` from `items`, leaving `tree`, in `generation`.
    mutating func prepared(_ batch: Batch, items: [Item], tree: Tree, generation: Int) -> PreparedAction {
        preparing = false
        guard generation == self.generation else {
            // Built on a batch that failed: its callers go back in line, in their order.
            requeue(items)
            return .requeued
        }
        tip = tree
        let prepared = Prepared(batch: batch, items: items, tree: tree, generation: generation)
        if committing {
            precondition(ready == nil, "at most one batch waits ready")
            ready = prepared
            return .parked
        }
        committing = true
        return .startCommitStage(batch)
    }

    /// Building a batch failed (its callers get the error from the shell); nothing else changes.
    mutating func prepareFailed() {
        preparing = false
    }

    // MARK: Commit stage

    /// What the commit stage does next. After each of these decisions the shell wakes the
    /// prepare stage, which may be waiting for the ready slot, for callers (enqueues do not wake
    /// it while a batch is built or waits ready) or for the commit stage to end (then it stops,
    /// so the next enqueue starts it).
    enum CommitAction {
        /// Commit this batch next, straight away (no thread hop between transactions).
        case commit(Batch)
        /// Nothing is ready or being built: build `items` on `tree` here, hand the batch to
        /// `prepared` (it waits ready) and ask again.
        case prepare(items: [Item], on: Tree, generation: Int)
        /// The prepare stage is building the next batch: wait for `prepared` (or
        /// `prepareFailed`) and ask again.
        case wait
        /// Nothing is ready, being built or queued: the commit stage ends.
        case stop
    }

    /// The batch of `count` items committed, leaving `tree`: its callers are answered by the
    /// shell. Returns what the commit stage does next.
    mutating func committed(count: Int, tree: Tree) -> CommitAction {
        precondition(committing)
        committed = tree
        lastAnswered = count
        batchSizes[count, default: 0] += 1
        return nextCommit()
    }

    /// What the running commit stage does next: the ready batch, else the batch being built,
    /// else what is queued (built by the commit stage itself), else it ends.
    mutating func nextCommit() -> CommitAction {
        precondition(committing)
        if let next = ready {
            ready = nil
            return .commit(next.batch)
        }
        if preparing { return .wait }
        let n = batchLength()
        if n > 0 {
            let (items, base) = takeBatch(n)
            return .prepare(items: items, on: base, generation: generation)
        }
        committing = false
        tip = nil
        return .stop
    }

    /// The batch's transaction failed (its callers get the error from the shell). Anything
    /// prepared on top of it is stale: the ready batch's items go back in front of the queue and
    /// a batch being prepared is requeued when it comes back. `reloaded` is the tree read back
    /// from disk, if that worked.
    mutating func commitFailed(reloaded: Tree?) {
        precondition(committing)
        generation += 1
        if let stale = ready {
            ready = nil
            requeue(stale.items)
        }
        if let reloaded { committed = reloaded }
        tip = nil
        committing = false
    }

    /// Every item still queued, taken out of line (the writer takes no more appends for good:
    /// the shell fails them). Batches being built, ready or committing are not touched.
    mutating func takeQueued() -> [Item] {
        let items = pending
        pending = []
        pendingBytes = 0
        return items
    }

    /// The log was extended outside this writer while it took no appends (entries recovered
    /// from peers): later batches build on `tree`. Only when nothing is queued or in flight.
    mutating func restart(committed tree: Tree) {
        precondition(pending.isEmpty && !draining && !committing && !preparing && ready == nil && tip == nil, "restart with appends in flight")
        committed = tree
    }
}
