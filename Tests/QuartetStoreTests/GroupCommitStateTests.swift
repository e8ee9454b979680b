@testable import QuartetStore
import Testing

/// The group-commit state machine driven input by input, with no IO: the tree is the log size,
/// a batch is the range of indices it appends.
@Suite struct GroupCommitStateTests {
    struct Item: GroupCommitItem, Equatable {
        let ticket: UInt64
        let byteCount: Int
        let id: Int
    }

    typealias State = GroupCommitState<Item, Int, Range<Int>>

    /// Items of one ticket, with ids from `first`.
    static func ticket(_ ticket: UInt64, _ count: Int, first: Int, bytes: Int = 10) -> [Item] {
        (0..<count).map { Item(ticket: ticket, byteCount: bytes, id: first + $0) }
    }

    /// A state whose first batch (`count` items of ticket 1, ids from 0) was built and is
    /// committing.
    static func committingFirstBatch(of count: Int) -> State {
        var state = State(committed: 0, maxBatch: 100, maxBatchBytes: 1000)
        _ = state.enqueue(ticket(1, count, first: 0))
        let first = take(&state)!
        _ = state.prepared(0..<count, items: first.items, tree: count, generation: first.generation)
        return state
    }

    /// What the prepare stage is asked to build, or nil if it is told to wait or stop.
    static func take(_ state: inout State) -> (items: [Item], on: Int, generation: Int)? {
        if case .prepare(let items, let on, let generation) = state.nextBatch() { return (items, on, generation) }
        return nil
    }

    @Test func theFirstEnqueueStartsThePrepareStageAndAnIdleStageStops() {
        var state = State(committed: 0, maxBatch: 100, maxBatchBytes: 1000)
        #expect(state.enqueue(Self.ticket(1, 3, first: 0)) == .startPrepareStage)
        #expect(state.draining)
        // The stage runs: a caller wakes it only when its wait condition no longer holds.
        #expect(state.enqueue(Self.ticket(2, 1, first: 3)) == .wakePrepareStage)
        let batch = Self.take(&state)
        #expect(batch?.items.map(\.id) == [0, 1, 2, 3])
        #expect(batch?.on == 0)
        guard case .startCommitStage(let range) = state.prepared(0..<4, items: batch!.items, tree: 4, generation: batch!.generation) else {
            Issue.record("an idle commit stage is started")
            return
        }
        #expect(range == 0..<4)
        #expect(state.committing)
        // Nothing queued: the stage stops once nothing commits.
        guard case .stop = state.committed(count: 4, tree: 4) else { Issue.record("nothing was ready"); return }
        guard case .stop = state.nextBatch() else { Issue.record("the prepare stage should stop"); return }
        #expect(!state.draining && !state.committing)
        #expect(state.committed == 4)
        #expect(state.batchSizes == [4: 1])
        #expect(state.enqueue(Self.ticket(3, 1, first: 4)) == .startPrepareStage)
    }

    /// The queue is bounded in payload bytes: a ticket that would pass the bound waits for the
    /// queue to drain (the shell refuses it), one alone over it still goes, and the bytes taken
    /// into a batch, or put back when a commit fails, are counted out and in again.
    @Test func theQueueIsBoundedInBytesAndCountsWhatLeavesAndComesBack() {
        var state = State(committed: 0, maxBatch: 100, maxBatchBytes: 1000, maxQueuedBytes: 100)
        #expect(state.accepts(bytes: 500), "a ticket alone over the bound goes when nothing is queued")
        _ = state.enqueue(Self.ticket(1, 5, first: 0, bytes: 10))
        #expect(state.pendingBytes == 50)
        #expect(state.accepts(bytes: 50) && !state.accepts(bytes: 51))
        _ = state.enqueue(Self.ticket(2, 5, first: 5, bytes: 10))
        #expect(!state.accepts(bytes: 1), "full")
        let first = Self.take(&state)!
        #expect(state.pendingBytes == 0 && state.accepts(bytes: 100))
        _ = state.prepared(0..<10, items: first.items, tree: 10, generation: first.generation)
        _ = state.enqueue(Self.ticket(3, 2, first: 10, bytes: 30))
        let second = Self.take(&state)!
        _ = state.prepared(10..<12, items: second.items, tree: 12, generation: second.generation)
        #expect(state.pendingBytes == 0)
        // The first batch fails: the second, ready on top of it, goes back in line.
        state.commitFailed(reloaded: 0)
        #expect(state.pendingBytes == 60 && state.pending.map(\.id) == [10, 11])
        #expect(!state.accepts(bytes: 41))
    }

    @Test func whileABatchCommitsTheNextIsBuiltOnItsTipAndWaitsForAboutLastAnsweredCallers() {
        var state = State(committed: 10, maxBatch: 100, maxBatchBytes: 1000)
        _ = state.enqueue(Self.ticket(1, 5, first: 0))
        let first = Self.take(&state)!
        _ = state.prepared(10..<15, items: first.items, tree: 15, generation: first.generation)
        // Batch of 5 commits; nothing has been answered yet, so one caller is enough.
        #expect(state.enqueue(Self.ticket(2, 1, first: 5)) == .wakePrepareStage)
        let second = Self.take(&state)!
        #expect(second.on == 15, "built on the batch committing, not on the committed tree")
        guard case .parked = state.prepared(15..<16, items: second.items, tree: 16, generation: second.generation) else {
            Issue.record("a batch prepared during a commit waits ready")
            return
        }
        // With a batch ready, the stage waits and an enqueue does not wake it.
        #expect(state.enqueue(Self.ticket(3, 1, first: 6)) == .none)
        guard case .wait = state.nextBatch() else { Issue.record("at most one batch waits ready"); return }
        guard case .commit(let next) = state.committed(count: 5, tree: 15) else { Issue.record("the ready batch commits next"); return }
        #expect(next == 15..<16)
        #expect(state.lastAnswered == 5)
        // Five callers were just answered: the stage waits until about five are back.
        guard case .wait = state.nextBatch() else { Issue.record("one caller of five is not enough"); return }
        for i in 0..<3 { #expect(state.enqueue(Self.ticket(4 + UInt64(i), 1, first: 7 + i)) == .none) }
        #expect(state.enqueue(Self.ticket(7, 1, first: 10)) == .wakePrepareStage)
        let third = Self.take(&state)!
        #expect(third.items.map(\.id) == [6, 7, 8, 9, 10])
        #expect(third.on == 16)
    }

    @Test func aTicketIsNeverSplitAcrossBatches() {
        var state = State(committed: 0, maxBatch: 4, maxBatchBytes: 1000)
        _ = state.enqueue(Self.ticket(1, 2, first: 0))
        _ = state.enqueue(Self.ticket(2, 3, first: 2))
        _ = state.enqueue(Self.ticket(3, 6, first: 5))
        // 4 would cut ticket 2: the batch ends before it.
        let first = Self.take(&state)!
        #expect(first.items.map(\.ticket) == [1, 1])
        _ = state.prepared(0..<2, items: first.items, tree: 2, generation: first.generation)
        // The commit stage, finding nothing ready, cuts the next batches itself, the same way.
        guard case .prepare(let second, _, let generation) = state.committed(count: 2, tree: 2) else { Issue.record("ticket 2 is queued"); return }
        #expect(second.map(\.ticket) == [2, 2, 2])
        _ = state.prepared(2..<5, items: second, tree: 5, generation: generation)
        guard case .commit = state.nextCommit() else { Issue.record("the batch built commits"); return }
        // A ticket over the limit alone goes whole.
        guard case .prepare(let big, let base, _) = state.committed(count: 3, tree: 5) else { Issue.record("ticket 3 is queued"); return }
        #expect(big.count == 6 && Set(big.map(\.ticket)) == [3] && base == 5)
    }

    @Test func aBatchIsBoundedByPayloadBytesButTakesItsFirstItem() {
        var state = State(committed: 0, maxBatch: 100, maxBatchBytes: 25)
        for t in 1...4 { _ = state.enqueue(Self.ticket(UInt64(t), 1, first: t, bytes: 10)) }
        #expect(Self.take(&state)?.items.map(\.id) == [1, 2])
        var alone = State(committed: 0, maxBatch: 100, maxBatchBytes: 25)
        _ = alone.enqueue(Self.ticket(1, 1, first: 0, bytes: 100))
        _ = alone.enqueue(Self.ticket(2, 1, first: 1, bytes: 1))
        #expect(Self.take(&alone)!.items.map(\.id) == [0])
    }

    @Test func aFailedCommitRequeuesWhatWasBuiltOnItInOrder() {
        var state = Self.committingFirstBatch(of: 2)
        _ = state.enqueue(Self.ticket(2, 2, first: 2))
        let second = Self.take(&state)!
        _ = state.prepared(2..<4, items: second.items, tree: 4, generation: second.generation)
        _ = state.enqueue(Self.ticket(3, 1, first: 4))
        // The first batch's transaction fails: the ready batch was built on it.
        state.commitFailed(reloaded: 0)
        #expect(state.generation == 1)
        #expect(!state.committing && state.ready == nil)
        #expect(state.pending.map(\.id) == [2, 3, 4], "the ready batch's items go back in front, in order")
        let retry = Self.take(&state)!
        #expect(retry.on == 0, "rebuilt on the tree read back from disk")
        #expect(retry.generation == 1)
        #expect(retry.items.map(\.id) == [2, 3, 4])
    }

    @Test func aBatchPreparedWhileItsBaseFailedIsRequeued() {
        var state = Self.committingFirstBatch(of: 1)
        _ = state.enqueue(Self.ticket(2, 2, first: 1))
        let second = Self.take(&state)! // being prepared on top of batch 1...
        _ = state.enqueue(Self.ticket(3, 1, first: 3))
        state.commitFailed(reloaded: nil) // ...which fails meanwhile.
        #expect(state.committed == 0, "kept when the tree could not be reloaded")
        guard case .requeued = state.prepared(1..<3, items: second.items, tree: 3, generation: second.generation) else {
            Issue.record("a batch from an older generation must not commit")
            return
        }
        #expect(state.pending.map(\.id) == [1, 2, 3])
        let retry = Self.take(&state)!
        #expect(retry.on == 0 && retry.generation == 1)
        guard case .startCommitStage(let range) = state.prepared(0..<3, items: retry.items, tree: 3, generation: retry.generation) else {
            Issue.record("the rebuilt batch commits")
            return
        }
        #expect(range == 0..<3)
    }

    @Test func aCommitStageFindingNothingReadyBuildsWhatIsQueuedItself() {
        var state = Self.committingFirstBatch(of: 3)
        // Three callers answered: the prepare stage waits for about three to come back.
        guard case .stop = state.committed(count: 3, tree: 3) else { Issue.record("nothing was queued"); return }
        _ = state.enqueue(Self.ticket(2, 3, first: 3))
        let second = Self.take(&state)!
        _ = state.prepared(3..<6, items: second.items, tree: 6, generation: second.generation)
        #expect(state.enqueue(Self.ticket(3, 1, first: 6)) == .none, "one caller of three does not wake the prepare stage")
        guard case .wait = state.nextBatch() else { Issue.record("the prepare stage waits for callers"); return }
        // The commit ends with nothing ready: the commit stage takes the caller queued itself,
        // on the tree it just committed, rather than stop.
        guard case .prepare(let items, let base, let generation) = state.committed(count: 3, tree: 6) else {
            Issue.record("the commit stage builds what is queued")
            return
        }
        #expect(items.map(\.id) == [6] && base == 6 && generation == 0)
        #expect(state.committing && state.preparing)
        // One batch is built at a time: the prepare stage waits, and an enqueue does not wake it.
        #expect(state.enqueue(Self.ticket(4, 5, first: 7)) == .none)
        guard case .wait = state.nextBatch() else { Issue.record("one batch is built at a time"); return }
        guard case .parked = state.prepared(6..<7, items: items, tree: 7, generation: generation) else {
            Issue.record("the batch the commit stage built waits ready for it")
            return
        }
        guard case .commit(let range) = state.nextCommit() else { Issue.record("the commit stage commits what it built"); return }
        #expect(range == 6..<7)
        // The prepare stage goes on building on top of it.
        let next = Self.take(&state)!
        #expect(next.items.map(\.id) == [7, 8, 9, 10, 11] && next.on == 7)
    }

    @Test func aCommitStageWaitsForTheBatchThePrepareStageIsBuilding() {
        var state = Self.committingFirstBatch(of: 2)
        _ = state.enqueue(Self.ticket(2, 1, first: 2))
        let second = Self.take(&state)! // being built while the first batch commits...
        guard case .wait = state.committed(count: 2, tree: 2) else { Issue.record("the commit stage waits for the batch being built"); return }
        #expect(state.committing)
        guard case .parked = state.prepared(2..<3, items: second.items, tree: 3, generation: second.generation) else {
            Issue.record("the batch waits ready for the waiting commit stage")
            return
        }
        guard case .commit(let range) = state.nextCommit() else { Issue.record("...and then commits it"); return }
        #expect(range == 2..<3)
    }

    @Test func aCommitStageWaitingForABatchThatFailedToBuildGoesOn() {
        var state = Self.committingFirstBatch(of: 1)
        _ = state.enqueue(Self.ticket(2, 1, first: 1))
        _ = Self.take(&state)!
        guard case .wait = state.committed(count: 1, tree: 1) else { Issue.record("the commit stage waits"); return }
        _ = state.enqueue(Self.ticket(3, 2, first: 2))
        // Building failed (its callers were answered with the error): the commit stage takes
        // the callers queued since, and ends once nothing is left.
        state.prepareFailed()
        guard case .prepare(let items, let base, _) = state.nextCommit() else { Issue.record("the queued callers are built"); return }
        #expect(items.map(\.id) == [2, 3] && base == 1)
        state.prepareFailed()
        guard case .stop = state.nextCommit() else { Issue.record("nothing left: the commit stage ends"); return }
        #expect(!state.committing && !state.preparing)
    }

    @Test func aPrepareStageWokenAfterTheCommitStageEndedStopsSoTheNextEnqueueStartsIt() {
        var state = Self.committingFirstBatch(of: 5)
        _ = state.enqueue(Self.ticket(2, 1, first: 5))
        _ = Self.take(&state)!
        guard case .wait = state.committed(count: 5, tree: 5) else { Issue.record("the commit stage waits"); return }
        state.prepareFailed()
        // The prepare stage looks first: five callers were answered, none is back, a commit runs.
        guard case .wait = state.nextBatch() else { Issue.record("the prepare stage waits for callers"); return }
        guard case .stop = state.nextCommit() else { Issue.record("nothing left: the commit stage ends"); return }
        // A caller now would not wake the prepare stage (one of five), so the shell wakes it
        // when the commit stage ends; woken, it stops, and the caller starts it again.
        guard case .stop = state.nextBatch() else { Issue.record("woken, the prepare stage stops"); return }
        #expect(!state.draining)
        #expect(state.enqueue(Self.ticket(3, 1, first: 6)) == .startPrepareStage)
    }

    @Test func ticketsAreNumberedInIssueOrder() {
        var state = State(committed: 0, maxBatch: 1, maxBatchBytes: 1)
        let numbers = (0..<3).map { _ in state.issueTicket() }
        #expect(numbers == [1, 2, 3])
    }
}
