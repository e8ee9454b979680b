import Foundation
import QuartetCrypto
import QuartetLedger
@testable import QuartetStore
import QuartetTestKit
import Testing

/// Replica logs: batches stored only when they extend the stored tree to the signed root.
@Suite struct ReplicaTests {
    /// An origin with `batches` committed batches of `perBatch` entries, and an empty replica.
    func pair(batches: Int, perBatch: Int) async throws -> (origin: LedgerStore, replica: LedgerStore, log: LogInfo, replicaLog: LogInfo) {
        let origin = try TestKit.makeStore()
        let writer = try LogWriter(store: origin, log: "wales")
        var next = 0
        for _ in 0..<batches {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<perBatch {
                    let i = next
                    next += 1
                    group.addTask { _ = try await writer.append(AppendRequest(type: "t", payload: TestKit.payload(i))) }
                }
                try await group.waitForAll()
            }
        }
        let log = try origin.log(named: "wales")
        let replica = try LedgerStore.create(DataDirectory(path: try TestKit.temporaryDirectory("replica").path))
        let replicaLog = try replica.addLog(name: "wales", origin: log.origin, publicKey: log.publicKey, own: false, nowMillis: 1)
        return (origin, replica, log, replicaLog)
    }

    func checkpoint(_ note: String, _ log: LogInfo) throws -> Checkpoint {
        try log.verifier.verifyCheckpoint(try SignedNote(parsing: note))
    }

    @Test func batchesServedByTheOriginAreStoredAndTheReplicaVerifies() async throws {
        let (origin, replica, log, replicaLog) = try await pair(batches: 6, perBatch: 5)
        var from: UInt64 = 0
        while let (entries, note) = try origin.decodedBatch(log, from: from, maxEntries: 12, maxBytes: 1 << 20) {
            #expect(entries.count <= 12)
            try replica.ingest(replicaLog, from: from, entries: entries, note: note, checkpoint: try checkpoint(note, log))
            from += UInt64(entries.count)
        }
        #expect(try replica.size(replicaLog) == (try origin.size(log)))
        #expect(try replica.latestCheckpoint(replicaLog)?.checkpoint.root == (try origin.latestCheckpoint(log))?.checkpoint.root)
        let report = replica.verify()
        #expect(report.problems.isEmpty, "\(report.problems)")
        // A replica proves inclusion as the origin does.
        #expect(try replica.inclusionProof(replicaLog, index: 7) == (try origin.inclusionProof(log, index: 7)))
        let prefix = try replica.prefix(replicaLog, size: 10)
        #expect(prefix.root == (try origin.consistencyProof(log, from: 10)).fromRoot)
    }

    /// What a purge journalled before a crash cleared: only entries stored as stubs. An entry
    /// not stored at all (its batch lost with the purge in a power cut) was cleared by no purge.
    @Test func onlyAStoredStubCountsAsAPayloadNotHeld() async throws {
        let (origin, replica, log, replicaLog) = try await pair(batches: 1, perBatch: 4)
        var (entries, note) = try #require(try origin.decodedBatch(log, from: 0, maxEntries: 4, maxBytes: 1 << 20))
        entries[1] = entries[1].stub
        try replica.ingest(replicaLog, from: 0, entries: entries, note: note, checkpoint: try checkpoint(note, log))
        #expect(try replica.payloadsHeld(replicaLog, indices: [0, 1, 2, 3, 10, 1 << 41]) == [0, 2, 3, 10, 1 << 41])
    }

    /// A purge takes its caller's lock (`holding`: the view's, at a node) only once the writer
    /// is its own, and holds it through the commit: waiting behind another writer (a long
    /// ingest) with the view's lock held stalled appends and replication meanwhile.
    @Test func aPurgeTakesItsCallersLockOnlyOnceItHoldsTheWriter() async throws {
        let (origin, replica, log, replicaLog) = try await pair(batches: 1, perBatch: 4)
        let (entries, note) = try #require(try origin.decodedBatch(log, from: 0, maxEntries: 4, maxBytes: 1 << 20))
        try replica.ingest(replicaLog, from: 0, entries: entries, note: note, checkpoint: try checkpoint(note, log))
        let candidates = try replica.purgeCandidates(replicaLog, labels: [EntryHeader.publicClassification])
        #expect(candidates.count == 4)
        // Another writer holds the store's writer until told to go.
        let writerHeld = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        Thread {
            try? replica.pool.write { _ in
                writerHeld.signal()
                release.wait()
            }
        }.start()
        await withCheckedContinuation { continuation in DispatchQueue.global().async { writerHeld.wait(); continuation.resume() } }
        let entered = LockedBox<[String]>([])
        let done = DispatchSemaphore(value: 0)
        let result = LockedBox<[UInt64]?>(nil)
        Thread {
            let purged = try? replica.purge(replicaLog, candidates: candidates, labels: [EntryHeader.publicClassification], keep: { _, _ in false },
                                            holding: { transaction in
                                                entered.withLockedValue { $0.append("entered") }
                                                let purged = try transaction()
                                                entered.withLockedValue { $0.append("committed") }
                                                return purged
                                            })
            result.withLockedValue { $0 = purged }
            done.signal()
        }.start()
        try await Task.sleep(for: .milliseconds(300))
        #expect(entered.withLockedValue { $0 }.isEmpty, "the caller's lock was taken while the purge waited for the writer")
        release.signal()
        await withCheckedContinuation { continuation in DispatchQueue.global().async { done.wait(); continuation.resume() } }
        #expect(entered.withLockedValue { $0 } == ["entered", "committed"])
        #expect(result.withLockedValue { $0 } == [0, 1, 2, 3])
        #expect(try replica.payloadsHeld(replicaLog, indices: [0, 1, 2, 3]).isEmpty)
    }

    /// The roots a witness sets what it cosigned against come from memory for the copy's last
    /// batches, and agree with the store; other sizes are left to the store.
    @Test func theLastBatchesRootsAreKnownWithoutARead() async throws {
        let (origin, replica, log, replicaLog) = try await pair(batches: 12, perBatch: 2)
        var from: UInt64 = 0
        var ends: [UInt64] = []
        while let (entries, note) = try origin.decodedBatch(log, from: from, maxEntries: 2, maxBytes: 1 << 20) {
            try replica.ingest(replicaLog, from: from, entries: entries, note: note, checkpoint: try checkpoint(note, log))
            from += UInt64(entries.count)
            ends.append(from)
        }
        #expect(ends.count > ReplicaFrontiers.rootsKept)
        for size in ends.suffix(ReplicaFrontiers.rootsKept) {
            let root = try #require(replica.recentRoot(replicaLog, size: size), "size \(size)")
            #expect(root == (try replica.storedCheckpointRoot(replicaLog, size: size)))
            #expect(root == (try origin.root(log, size: size)))
        }
        // Older batches, and sizes inside a batch, are the store's to say.
        for size in ends.dropLast(ReplicaFrontiers.rootsKept) { #expect(replica.recentRoot(replicaLog, size: size) == nil) }
        #expect(replica.recentRoot(replicaLog, size: from - 1) == nil)
        // A failed store forgets them (as it forgets the frontier).
        replica.replicaFrontiers.forget(log: replicaLog.id)
        #expect(replica.recentRoot(replicaLog, size: from) == nil)
    }

    @Test func batchesThatDoNotFitAreRefusedWholeAndNothingIsStored() async throws {
        let (origin, replica, log, replicaLog) = try await pair(batches: 2, perBatch: 4)
        let (entries, note) = try #require(try origin.decodedBatch(log, from: 0, maxEntries: 100, maxBytes: 1 << 20))
        let signed = try checkpoint(note, log)
        // A changed entry: its leaf no longer leads to the signed root.
        var changed = entries
        changed[2] = try Entry(log: "wales", index: 2, timeMillis: 1, type: "t", classification: "public", author: "", payload: Array("{}".utf8),
                               salt: [UInt8](repeating: 0, count: 32))
        let leaf = #expect(throws: StoreError.self) { try replica.ingest(replicaLog, from: 0, entries: changed, note: note, checkpoint: signed) }
        #expect(leaf?.message.contains("do not give the signed root") == true)
        // Reordered: entry 0 where entry 1 belongs.
        var reordered = entries
        reordered.swapAt(0, 1)
        let order = #expect(throws: StoreError.self) { try replica.ingest(replicaLog, from: 0, entries: reordered, note: note, checkpoint: signed) }
        #expect(order?.message.contains("expected wales/0") == true)
        // Not where the stored log ends.
        #expect(throws: StoreError.self) { try replica.ingest(replicaLog, from: 1, entries: Array(entries.dropFirst()), note: note, checkpoint: signed) }
        // Truncated: does not reach the checkpoint's size.
        #expect(throws: StoreError.self) { try replica.ingest(replicaLog, from: 0, entries: Array(entries.dropLast()), note: note, checkpoint: signed) }
        #expect(try replica.size(replicaLog) == 0)
        #expect(try replica.entries(replicaLog, from: 0, limit: 100).isEmpty)
        // The origin's own log never takes a batch.
        #expect(throws: StoreError.self) { try origin.ingest(log, from: 8, entries: entries, note: note, checkpoint: signed) }
        // A note that is not the log's (signed by another key) is refused, whatever key the
        // caller says it checked it with.
        let stranger = try Ed25519PrivateKey()
        let forged = try NoteSigner(name: log.origin, key: stranger).sign(text: try SignedNote(parsing: note).text)
        let wrongKey = #expect(throws: StoreError.self) {
            try replica.ingest(replicaLog, from: 0, entries: entries, note: forged.serialized, checkpoint: signed, verifiedWith: stranger.publicKey)
        }
        #expect(wrongKey?.message.contains("does not verify with the key in force") == true)
        // Signed by the log's own key, but with extension lines a Quartet writer never signs
        // (a modified writer's, up to 64 KiB kept with every batch): refused.
        let padded = Checkpoint(origin: signed.origin, size: signed.size, root: signed.root,
                                extensions: signed.extensions + [String(repeating: "x", count: 40_000)])
        let extended = try NoteSigner(name: log.origin, key: try origin.directory.readSigningKey(log: "wales")).sign(padded)
        let lines = #expect(throws: StoreError.self) {
            try replica.ingest(replicaLog, from: 0, entries: entries, note: extended.serialized, checkpoint: padded)
        }
        #expect(lines?.message.contains("2 extension lines") == true)
        // And the right batch still goes in afterwards.
        try replica.ingest(replicaLog, from: 0, entries: entries, note: note, checkpoint: signed)
        #expect(try replica.size(replicaLog) == 8)
        // Replica batches commit without waiting for the disk; the connection is back to
        // synchronous=FULL after each, refused ones included, so own appends stay durable.
        #expect(try replica.writerDurability().synchronous == 2)
    }

    /// The frontier kept from one stored batch to the next is used only while it matches the
    /// latest stored checkpoint: a store reopened (or written by anything else) rebuilds it.
    @Test func theKeptFrontierFollowsTheStoredLog() async throws {
        let (origin, replica, log, replicaLog) = try await pair(batches: 4, perBatch: 3)
        var from: UInt64 = 0
        var batches: [(entries: [Entry], note: String)] = []
        while let batch = try origin.decodedBatch(log, from: from, maxEntries: 3, maxBytes: 1 << 20) {
            batches.append(batch)
            from += UInt64(batch.entries.count)
        }
        #expect(batches.count == 4)
        try replica.ingest(replicaLog, from: 0, entries: batches[0].entries, note: batches[0].note, checkpoint: try checkpoint(batches[0].note, log))
        try replica.ingest(replicaLog, from: 3, entries: batches[1].entries, note: batches[1].note, checkpoint: try checkpoint(batches[1].note, log))
        try replica.close()
        let reopened = try LedgerStore.open(replica.directory, mode: .writer)
        try reopened.ingest(replicaLog, from: 6, entries: batches[2].entries, note: batches[2].note, checkpoint: try checkpoint(batches[2].note, log))
        try reopened.ingest(replicaLog, from: 9, entries: batches[3].entries, note: batches[3].note, checkpoint: try checkpoint(batches[3].note, log))
        #expect(try reopened.latestCheckpoint(replicaLog)?.checkpoint.root == (try origin.latestCheckpoint(log))?.checkpoint.root)
        #expect(reopened.verify().problems.isEmpty)
        #expect(try reopened.writerDurability().synchronous == 2)
    }

    /// A batch is served as the stored bytes, not decoded or hashed again: a payload corrupted
    /// on the sender's disk travels as it is, and the receiver's checks refuse it.
    @Test func aPayloadCorruptedOnTheSendersDiskIsRefusedByTheReceiver() async throws {
        let (origin, replica, log, replicaLog) = try await pair(batches: 1, perBatch: 4)
        try syncExecute(origin, "UPDATE entries SET payload = ? WHERE key = ?", [Data(TestKit.payload(999)), Schema.entryKey(logID: log.id, index: 2)])
        let (stored, note) = try #require(try origin.batch(log, from: 0, maxEntries: 100, maxBytes: 1 << 20))
        #expect(stored.count == 4)
        let refusal = #expect(throws: LedgerError.self) { try stored[2].decoded() }
        #expect(refusal?.message.contains("entry wales/2: payload") == true, "\(String(describing: refusal))")
        // The other entries decode; without entry 2's payload (a stub) the batch still verifies.
        let entries = try stored.enumerated().map { $0.offset == 2 ? try Entry(headerBytes: $0.element.headerBytes, payload: nil) : try $0.element.decoded() }
        try replica.ingest(replicaLog, from: 0, entries: entries, note: note, checkpoint: try checkpoint(note, log))
        #expect(try replica.stubIndices(replicaLog) == [2])
    }

    @Test func aServedBatchEndsAtAStoredCheckpointWithinTheBudgets() async throws {
        // One entry per batch: a checkpoint at every size from 1 to 15.
        let (origin, _, log, _) = try await pair(batches: 15, perBatch: 1)
        let (entries, note) = try #require(try origin.decodedBatch(log, from: 2, maxEntries: 7, maxBytes: 1 << 20))
        let size = try checkpoint(note, log).size
        #expect(entries.count == 7 && size == 9 && entries.first?.header.index == 2)
        // A byte budget smaller than one entry still sends up to the first checkpoint.
        let (small, smallNote) = try #require(try origin.decodedBatch(log, from: 0, maxEntries: 100, maxBytes: 1))
        let smallSize = try checkpoint(smallNote, log).size
        #expect(small.count == 1 && smallSize == 1)
        // A budget of about three entries stops at the checkpoint before it is exceeded.
        let one = entries[0].headerBytes.count + (entries[0].payload?.bytes.count ?? 0)
        let (three, _) = try #require(try origin.decodedBatch(log, from: 0, maxEntries: 100, maxBytes: one * 3 + one / 2))
        #expect(three.count == 3)
        let none = try origin.decodedBatch(log, from: 15, maxEntries: 100, maxBytes: 1 << 20)
        #expect(none == nil)
    }
}

/// A value shared between a test and its threads.
final class LockedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLockedValue<T>(_ body: (inout Value) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}
