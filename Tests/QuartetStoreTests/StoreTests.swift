import Foundation
import GRDB
import QuartetCrypto
import QuartetLedger
@testable import QuartetStore
import QuartetTestKit
import Testing

@Suite struct StoreTests {
    /// A new store whose writer appended `count` entries to wales (the caller removes it).
    func walesStore(appending count: Int) async throws -> (store: LedgerStore, writer: LogWriter, log: LogInfo) {
        let store = try TestKit.makeStore()
        let writer = try LogWriter(store: store, log: "wales")
        for i in 0..<count { _ = try await writer.append(AppendRequest(type: "t", payload: TestKit.payload(i))) }
        return (store, writer, try store.log(named: "wales"))
    }

    /// A reader (`quartet log`, `verify`, `checkpoint`) opens the database read-only: on a copy
    /// holding a write-ahead log it reads what the log holds and leaves both files as they were
    /// (it used to fold the WAL into the main file and delete it when it closed — `verify`
    /// changing the bytes it checks, on a damaged directory the one copy of those pages).
    @Test func aReaderLeavesTheDatabaseAndItsWriteAheadLogAsTheyWere() async throws {
        let (store, _, _) = try await walesStore(appending: 5)
        defer { try? store.close() }
        let source = store.directory
        let wal = source.databasePath + "-wal"
        let walBytes = (try? FileManager.default.attributesOfItem(atPath: wal)[.size] as? Int) ?? 0
        try #require(walBytes > 0, "the writer's appends are not in a write-ahead log")
        // A copy of the files as they are (the writer still open: its WAL not folded in).
        let copy = try TestKit.temporaryDirectory("reader-copy")
        defer { try? FileManager.default.removeItem(at: copy) }
        let target = DataDirectory(path: copy.path)
        for suffix in ["", "-wal"] { try FileManager.default.copyItem(atPath: source.databasePath + suffix, toPath: target.databasePath + suffix) }
        try FileManager.default.createDirectory(atPath: target.keysPath, withIntermediateDirectories: true)
        let before = try [target.databasePath, target.databasePath + "-wal"].map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        do {
            let reader = try LedgerStore.open(target, mode: .reader)
            #expect(try reader.size(try reader.log(named: "wales")) == 5, "the reader did not see what the WAL holds")
            try reader.close()
        }  // (its connections closed here, as the command's end closes them)
        let after = try [target.databasePath, target.databasePath + "-wal"].map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        #expect(after == before, "the reader changed the database or its WAL")
        // A damaged copy (its main file cut short, as a full disk or a bad copy leaves it): the
        // reader is refused, and the files stay as they were for whoever recovers them.
        let cut = Data(before[0].prefix(8192))
        try cut.write(to: URL(fileURLWithPath: target.databasePath))
        for name in ["-shm"] { try? FileManager.default.removeItem(atPath: target.databasePath + name) }
        do { _ = try? LedgerStore.open(target, mode: .reader) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: target.databasePath)) == cut, "the reader rewrote a damaged database")
        #expect(try Data(contentsOf: URL(fileURLWithPath: target.databasePath + "-wal")) == before[1], "the reader folded in or removed a damaged database's WAL")
    }

    /// An open writer told that another process signs its log takes no more appends, at once,
    /// with the reason; what it committed before stays (was: `hold` changed nothing once open).
    @Test func anOpenWriterRefusedTakesNoMoreAppends() async throws {
        let (store, writer, _) = try await walesStore(appending: 3)
        defer { try? store.close() }
        writer.hold(reason: "ignored once open", until: .now + .seconds(60))
        #expect(writer.unavailableReason == nil)
        writer.refuse(reason: "another process signs this log")
        #expect(writer.unavailableReason == "another process signs this log")
        do {
            _ = try await writer.append(AppendRequest(type: "t", payload: TestKit.payload(9)))
            Issue.record("appended after it was refused")
        } catch let error as StoreError {
            #expect(error.code == .unavailable && "\(error)".contains("another process signs this log"), "\(error)")
        }
        #expect(writer.size == 3)
    }

    /// Appends queued when the writer is refused are not committed (was: every one queued was
    /// written and published after the refusal): at most the transactions already under way
    /// end; every other ticket fails `unavailable`, and the log ends where they left it.
    @Test func appendsQueuedWhenTheWriterIsRefusedAreNotCommitted() async throws {
        let dir = try TestKit.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try TestKit.makeStore(at: dir)
        defer { try? store.close() }
        let writer = try LogWriter(store: store, log: "wales", maxBatch: 8)
        // The store's write connection held, so the refusal surely falls with the queue full:
        // the writer's first transaction waits for it (a writer that drained the queue before
        // the refusal would prove nothing).
        let entered = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            store.pool.writeWithoutTransaction { _ in
                entered.signal()
                release.wait()
            }
        }
        entered.wait()
        // 200 tickets of 10 entries, queued at once: 250 transactions of work.
        let tickets = try (0..<200).map { t in try writer.enqueue(contentsOf: (0..<10).map { AppendRequest(type: "t", payload: TestKit.payload(t * 10 + $0)) }) }
        writer.refuse(reason: "another process signs this log")
        let atRefusal = writer.size
        release.signal()
        #expect(atRefusal == 0)
        var committed = 0, refused = 0
        for ticket in tickets {
            do {
                committed += try await ticket.receipts().count
            } catch let error as StoreError {
                #expect(error.code == .unavailable, "\(error)")
                refused += 1
            }
        }
        // Tickets taken whole: what was committing or ready when refused (a ticket over the
        // batch limit goes alone), nothing after.
        #expect(writer.size == UInt64(committed))
        #expect(writer.size - atRefusal <= 20, "\(writer.size - atRefusal) entries committed after the refusal")
        #expect(committed / 10 + refused == 200, "\(committed) entries committed, \(refused) tickets refused")
        #expect(refused >= 198, "\(refused) tickets refused")
        // What is in the store is the writer's size (nothing prepared was half written).
        #expect(try store.latestCheckpoint(try store.log(named: "wales"))?.checkpoint.size ?? 0 == writer.size)
    }

    @Test func aCallersBatchIsAppendedInOrderInOneTransaction() async throws {
        let dir = try TestKit.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try TestKit.makeStore(at: dir)
        defer { try? store.close() }
        // A small maxBatch, so that without the rule the batches would be split.
        let writer = try LogWriter(store: store, log: "wales", maxBatch: 8)
        try await withThrowingTaskGroup(of: [AppendReceipt].self) { group in
            for caller in 0..<6 {
                group.addTask {
                    let requests = (0..<(caller == 0 ? 50 : 5)).map { AppendRequest(type: "t\(caller)", payload: TestKit.payload($0)) }
                    return try await writer.append(contentsOf: requests)
                }
                // Single appends in between.
                group.addTask { [try await writer.append(AppendRequest(type: "single", payload: TestKit.payload(caller)))] }
            }
            for try await receipts in group where receipts.count > 1 {
                // Consecutive indices in request order, all under one checkpoint.
                #expect(receipts.map(\.index) == Array(receipts[0].index..<receipts[0].index + UInt64(receipts.count)))
                #expect(Set(receipts.map(\.checkpoint.note)).count == 1)
                #expect(receipts[0].checkpoint.checkpoint.size >= receipts.last!.index + 1)
            }
        }
        #expect(writer.size == 50 + 5 * 5 + 6)
    }

    @Test func ticketsEnqueuedOneAfterTheOtherGetConsecutiveIndicesInThatOrder() async throws {
        let store = try TestKit.makeStore()
        defer { try? FileManager.default.removeItem(at: store.directory.url) }
        let writer = try LogWriter(store: store, log: "wales")
        _ = try await writer.append(AppendRequest(type: "t", payload: TestKit.payload(0)))
        // Queued without waiting for durability; other callers append concurrently.
        let others = Task { try await withThrowingTaskGroup(of: AppendReceipt.self) { group in
            for i in 0..<20 { group.addTask { try await writer.append(AppendRequest(type: "other", payload: TestKit.payload(i))) } }
            try await group.waitForAll()
        } }
        let first = try writer.enqueue(contentsOf: (0..<3).map { AppendRequest(type: "first", payload: TestKit.payload($0)) })
        let second = try writer.enqueue(contentsOf: (0..<2).map { AppendRequest(type: "second", payload: TestKit.payload($0)) })
        // Awaited in the other order: the order in the log is the enqueue order.
        let secondReceipts = try await second.receipts()
        let firstReceipts = try await first.receipts()
        try await others.value
        let start = firstReceipts[0].index
        #expect(firstReceipts.map(\.index) == [start, start + 1, start + 2])
        #expect(secondReceipts.map(\.index) == [start + 3, start + 4])
        // Answered once durable: the checkpoint that covers them is stored.
        let log = try store.log(named: "wales")
        #expect(try store.entries(log, from: start, limit: 5).map(\.header.type) == ["first", "first", "first", "second", "second"])
        #expect(try store.latestCheckpoint(log)!.checkpoint.size >= secondReceipts[1].checkpoint.checkpoint.size)
        #expect(try await first.receipts().map(\.index) == firstReceipts.map(\.index), "a ticket can be awaited again")
        #expect(try await writer.enqueue(contentsOf: []).receipts().isEmpty)
        let bad = #expect(throws: StoreError.self) {
            try writer.enqueue(contentsOf: [AppendRequest(type: "t", payload: TestKit.payload(1)), AppendRequest(type: "t", payload: Array("[]".utf8))])
        }
        #expect(bad?.code == .invalidInput)
        #expect(writer.size == 26)
    }

    @Test func aTicketReportsAFailedCommitToItsWaiter() async throws {
        let store = try TestKit.makeStore()
        defer { try? FileManager.default.removeItem(at: store.directory.url) }
        let writer = try LogWriter(store: store, log: "wales")
        let log = try store.log(named: "wales")
        try syncExecute(store, "INSERT INTO entries (key, header, leaf_hash) VALUES (?, x'00', x'00')", [Schema.entryKey(logID: log.id, index: 1)])
        let ticket = try writer.enqueue(contentsOf: (0..<3).map { AppendRequest(type: "t", payload: TestKit.payload($0)) })
        await #expect(throws: (any Error).self) { try await ticket.receipts() }
        #expect(writer.size == 0)
        #expect(try store.size(log) == 0)
    }

    @Test func appendReadProveAndReopen() async throws {
        let dir = try TestKit.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var leaves: [Hash] = []
        do {
            let store = try TestKit.makeStore(at: dir)
            let writer = try LogWriter(store: store, log: "wales", clock: { 1_000 })
            for i in 0..<37 {
                let receipt = try await writer.append(AppendRequest(type: "progress.reading", author: "op", payload: TestKit.payload(i)))
                #expect(receipt.index == UInt64(i))
                #expect(receipt.checkpoint.checkpoint.size == UInt64(i + 1))
                leaves.append(receipt.leafHash)
            }
            let log = try store.log(named: "wales")
            let entries = try store.entries(log, from: 0, limit: 100)
            #expect(entries.map(\.leafHash) == leaves)
            #expect(entries[5].payload?.bytes == TestKit.payload(5))
            #expect(try store.entries(log, from: 30, limit: 3).map(\.header.index) == [30, 31, 32])
            try store.close()
        }
        // Reopen: the tree continues where the last checkpoint left it.
        let store = try LedgerStore.open(DataDirectory(path: dir.path), mode: .writer)
        let writer = try LogWriter(store: store, log: "wales", clock: { 500 })
        #expect(writer.size == 37)
        for i in 37..<75 {
            leaves.append(try await writer.append(AppendRequest(type: "progress.reading", payload: TestKit.payload(i))).leafHash)
        }
        let log = try store.log(named: "wales")
        let latest = try #require(try store.latestCheckpoint(log))
        #expect(latest.checkpoint.root == Merkle.root(ofLeaves: leaves))
        #expect(latest.checkpoint.timeMillis == 1_000, "time must not run backwards after reopening")
        // Every inclusion and consistency proof served from stored subtrees equals the one
        // computed from the leaves, and verifies.
        for size in [1, 2, 15, 16, 17, 37, 64, 75] {
            let root = Merkle.root(ofLeaves: Array(leaves.prefix(size)))
            for index in 0..<size {
                let proof = try store.inclusionProof(log, index: UInt64(index), size: UInt64(size))
                #expect(proof.root == root && proof.leafHash == leaves[index])
                try Merkle.verifyInclusion(index: UInt64(index), size: UInt64(size), leaf: leaves[index], proof: proof.proof, root: root)
            }
            for from in 0...size {
                let proof = try store.consistencyProof(log, from: UInt64(from), to: UInt64(size))
                try Merkle.verifyConsistency(from: UInt64(from), to: UInt64(size), firstRoot: Merkle.root(ofLeaves: Array(leaves.prefix(from))),
                                             secondRoot: root, proof: proof.proof)
            }
        }
        #expect(throws: StoreError.self) { try store.inclusionProof(log, index: 75) }
        #expect(throws: StoreError.self) { try store.inclusionProof(log, index: 0, size: 76) }
        #expect(throws: StoreError.self) { try store.consistencyProof(log, from: 10, to: 5) }
        #expect(store.verify().isValid)
    }

    @Test func theWriterIsWALWithSynchronousFull() throws {
        let store = try TestKit.makeStore()
        defer { try? FileManager.default.removeItem(at: store.directory.url) }
        let durability = try store.writerDurability()
        #expect(durability.synchronous == 2, "an acknowledged append must survive power loss: synchronous must be FULL")
        #expect(durability.journalMode == "wal")
        // A WAL is cut back when it starts over, not kept at its largest (finding 276).
        #expect(durability.walSizeLimit == 67_108_864)
        #expect(store.walSizes()["quartet.sqlite"] != nil, "\(store.walSizes())")
        try store.close()
        let reopened = try LedgerStore.open(store.directory, mode: .writer)
        #expect(try reopened.writerDurability().synchronous == 2)
    }

    @Test func concurrentAppendsAreGroupCommitted() async throws {
        let store = try TestKit.makeStore()
        defer { try? FileManager.default.removeItem(at: store.directory.url) }
        let writer = try LogWriter(store: store, log: "wales")
        let receipts = try await withThrowingTaskGroup(of: AppendReceipt.self) { group in
            for i in 0..<400 {
                group.addTask { try await writer.append(AppendRequest(type: "t", payload: TestKit.payload(i))) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(receipts.map(\.index)) == Set(0..<400))
        let histogram = writer.batchSizeHistogram
        let batches = histogram.values.reduce(0, +)
        #expect(histogram.reduce(0) { $0 + $1.key * $1.value } == 400)
        #expect(batches < 400, "400 concurrent appends were committed one by one")
        // One signed checkpoint per batch, shared by the batch's receipts.
        let log = try store.log(named: "wales")
        let checkpoints = try syncRead(store) { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM checkpoints WHERE log_id = ?", arguments: [log.id]) }
        #expect(checkpoints == batches)
        #expect(Set(receipts.map(\.checkpoint.note)).count == batches)
        for receipt in receipts {
            #expect(receipt.index < receipt.checkpoint.checkpoint.size)
            let proof = try store.inclusionProof(log, index: receipt.index, size: receipt.checkpoint.checkpoint.size)
            try Merkle.verifyInclusion(index: receipt.index, size: proof.size, leaf: receipt.leafHash, proof: proof.proof, root: receipt.checkpoint.checkpoint.root)
        }
        #expect(store.verify().isValid)
    }

    @Test func aFailedCommitFailsItsCallersAndTheWriterRecovers() async throws {
        let (store, writer, log) = try await walesStore(appending: 5)
        defer { try? FileManager.default.removeItem(at: store.directory.url) }
        // A row in the way of index 5 makes every transaction fail until it is gone.
        try syncExecute(store, "INSERT INTO entries (key, header, leaf_hash) VALUES (?, x'00', x'00')", [Schema.entryKey(logID: log.id, index: 5)])
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for i in 0..<40 {
                group.addTask { (try? await writer.append(AppendRequest(type: "t", payload: TestKit.payload(i)))) != nil }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.allSatisfy { !$0 }, "an append was acknowledged though no transaction could commit")
        #expect(writer.size == 5)
        try syncExecute(store, "DELETE FROM entries WHERE key = ?", [Schema.entryKey(logID: log.id, index: 5)])
        let receipts = try await withThrowingTaskGroup(of: AppendReceipt.self) { group in
            for i in 0..<40 { group.addTask { try await writer.append(AppendRequest(type: "t", payload: TestKit.payload(i))) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(receipts.map(\.index)) == Set(5..<45))
        #expect(writer.size == 45)
        #expect(store.verify().isValid)
    }

    @Test func badInputChangesNothing() async throws {
        let store = try TestKit.makeStore()
        defer { try? FileManager.default.removeItem(at: store.directory.url) }
        let writer = try LogWriter(store: store, log: "wales")
        _ = try await writer.append(AppendRequest(type: "t", payload: TestKit.payload(0)))
        let bad: [(AppendRequest, String)] = [
            (AppendRequest(type: "t", payload: Array("[1,2]".utf8)), "expected a JSON object, got an array"),
            (AppendRequest(type: "t", payload: Array("{\"a\":".utf8)), "invalid JSON at byte 5"),
            (AppendRequest(type: "Bad Type", payload: TestKit.payload(1)), "type:"),
            (AppendRequest(type: "t", classification: "", payload: TestKit.payload(1)), "classification:"),
        ]
        for (request, fragment) in bad {
            let error = await #expect(throws: StoreError.self) { try await writer.append(request) }
            #expect(error?.code == .invalidInput)
            #expect(error?.message.contains(fragment) == true, "\(error?.message ?? "")")
        }
        #expect(writer.size == 1)
        #expect(try store.size(store.log(named: "wales")) == 1)
        let unknown = #expect(throws: StoreError.self) { try store.log(named: "england") }
        #expect(unknown?.code == .unknownLog && unknown?.message.contains("logs here: wales") == true)
    }

    @Test func replicasAndKeysAreChecked() throws {
        let store = try TestKit.makeStore()
        defer { try? FileManager.default.removeItem(at: store.directory.url) }
        let other = try Ed25519PrivateKey()
        try store.addLog(name: "england", origin: "quartet.test/england", publicKey: other.publicKey, own: false, nowMillis: 1)
        #expect((#expect(throws: StoreError.self) { try LogWriter(store: store, log: "england") })?.code == .notOwnLog)
        #expect((#expect(throws: StoreError.self) {
            try store.addLog(name: "england", origin: "x/y", publicKey: other.publicKey, own: false, nowMillis: 1)
        })?.code == .logExists)
        // A key file that is missing, unreadable, or not the registered key.
        let keyPath = store.directory.keyPath(log: "wales")
        let original = try String(contentsOfFile: keyPath, encoding: .utf8)
        try FileManager.default.removeItem(atPath: keyPath)
        let missing = #expect(throws: StoreError.self) { try LogWriter(store: store, log: "wales") }
        #expect(missing?.code == .key && missing?.message.contains(keyPath) == true)
        try "garbage".write(toFile: keyPath, atomically: true, encoding: .utf8)
        chmod(keyPath, 0o600)
        #expect((#expect(throws: StoreError.self) { try LogWriter(store: store, log: "wales") })?.code == .key)
        try FileManager.default.removeItem(atPath: keyPath)
        try store.directory.writeSigningKey(other, log: "wales")
        #expect((#expect(throws: StoreError.self) { try LogWriter(store: store, log: "wales") })?.code == .key)
        try FileManager.default.removeItem(atPath: keyPath)
        try original.write(toFile: keyPath, atomically: true, encoding: .utf8)
        chmod(keyPath, 0o600)
        _ = try LogWriter(store: store, log: "wales")
    }

    @Test func proofsRefuseHashesThatContradictTheSignedCheckpoint() async throws {
        let (store, _, log) = try await walesStore(appending: 20)
        defer { try? FileManager.default.removeItem(at: store.directory.url) }
        try syncExecute(store, "UPDATE entries SET leaf_hash = zeroblob(32) WHERE key = ?", [Schema.entryKey(logID: log.id, index: 3)])
        let error = #expect(throws: StoreError.self) { try store.inclusionProof(log, index: 3) }
        #expect(error?.code == .corrupt)
        // A changed stored subtree hash shifts the root, which no longer matches the signature.
        try syncExecute(store, "UPDATE nodes SET hash = zeroblob(32) WHERE log_id = ? AND level = 4 AND idx = 0", [log.id])
        #expect((#expect(throws: StoreError.self) { try store.consistencyProof(log, from: 17) })?.code == .corrupt)
        #expect((#expect(throws: StoreError.self) { try store.inclusionProof(log, index: 18) })?.code == .corrupt)
    }

    /// Rows someone with the disk edited into other types or sizes (a text for an integer, a
    /// payload past the limit) are reported by `verify`, which reads nothing further, and a
    /// logs row of the wrong type is a clear error where the logs are read, not a trap.
    @Test func rowsOfOtherTypesOrSizesAreReportedNotTrappedOn() async throws {
        for (edit, table) in [("UPDATE entries SET payload = zeroblob(2000000) WHERE key = (SELECT max(key) FROM entries)", "entries"),
                              ("UPDATE entries SET leaf_hash = 7 WHERE key = (SELECT max(key) FROM entries)", "entries"),
                              ("UPDATE checkpoints SET size = -size", "checkpoints")] {
            let (store, _, _) = try await walesStore(appending: 5)
            defer { try? FileManager.default.removeItem(at: store.directory.url) }
            try syncExecute(store, edit, [])
            let problems = store.verify().problems
            #expect(problems.contains { $0.message.contains("of \(table) hold values of other types or sizes") }, "\(edit): \(problems)")
        }
        let (store, _, _) = try await walesStore(appending: 2)
        defer { try? FileManager.default.removeItem(at: store.directory.url) }
        try syncExecute(store, "UPDATE logs SET own = 'yes'", [])
        #expect(store.verify().problems.contains { $0.message.contains("of logs hold values") })
        // Where the logs are read it is an error or SQLite's own conversion, never a trap (a
        // trap would end this test's process).
        _ = try? store.log(named: "wales")
    }

    /// A checkpoint read once is not verified again while its note is unchanged; a note changed
    /// on disk afterwards (another signature, another size) is verified, and refused.
    @Test func aCheckpointChangedOnDiskAfterItWasReadIsStillRefused() async throws {
        let (store, _, log) = try await walesStore(appending: 5)
        defer { try? FileManager.default.removeItem(at: store.directory.url) }
        let read = try #require(try store.latestCheckpoint(log))
        #expect(try store.latestCheckpoint(log)?.note == read.note)
        // The same text under a signature by another key of the same name.
        let forged = try NoteSigner(name: log.origin, key: try Ed25519PrivateKey()).sign(read.checkpoint).serialized
        try syncExecute(store, "UPDATE checkpoints SET note = ? WHERE log_id = ? AND size = ?", [forged, log.id, Int64(read.checkpoint.size)])
        #expect((#expect(throws: StoreError.self) { try store.latestCheckpoint(log) })?.code == .corrupt)
        #expect((#expect(throws: StoreError.self) { try store.checkpoint(log, size: read.checkpoint.size) })?.code == .corrupt)
        #expect((#expect(throws: StoreError.self) { try store.size(log) })?.code == .corrupt)
        // Put back, it verifies again.
        try syncExecute(store, "UPDATE checkpoints SET note = ? WHERE log_id = ? AND size = ?", [read.note, log.id, Int64(read.checkpoint.size)])
        #expect(try store.size(log) == 5)
    }

    @Test func verifyChecksTheDatabaseKeyAgainstTheKeyFile() throws {
        let store = try TestKit.makeStore()
        defer { try? FileManager.default.removeItem(at: store.directory.url) }
        let impostor = try Ed25519PrivateKey()
        try syncExecute(store, "UPDATE logs SET public_key = ? WHERE name = 'wales'", [Data(impostor.publicKey.rawRepresentation)])
        let problem = store.verify().problems.first
        #expect(problem?.log == "wales" && problem?.message.contains("not that of") == true)
    }

    @Test func keyFilesAreOwnerOnly() throws {
        let store = try TestKit.makeStore()
        defer { try? FileManager.default.removeItem(at: store.directory.url) }
        let attributes = try FileManager.default.attributesOfItem(atPath: store.directory.keyPath(log: "wales"))
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect(throws: StoreError.self) { try store.directory.writeSigningKey(try Ed25519PrivateKey(), log: "wales") }
    }

    @Test func oneWriterProcessPerDirectory() throws {
        let store = try TestKit.makeStore()
        defer { try? FileManager.default.removeItem(at: store.directory.url) }
        // flock is per open file description: a second writer, even in this process, is refused.
        let error = #expect(throws: StoreError.self) { try LedgerStore.open(store.directory, mode: .writer) }
        #expect(error?.code == .locked)
        _ = try LedgerStore.open(store.directory, mode: .reader)
    }

    @Test func otherFormatVersionsAndNonDirectoriesAreRefused() throws {
        let dir = try TestKit.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect((#expect(throws: StoreError.self) { try LedgerStore.open(DataDirectory(path: dir.path)) })?.code == .notADataDirectory)
        #expect((#expect(throws: StoreError.self) { try LedgerStore.open(DataDirectory(path: dir.path + "/nope")) })?.code == .notADataDirectory)
        do {
            let store = try TestKit.makeStore(at: dir)
            try store.pool.write { try $0.execute(sql: "UPDATE meta SET value = '\(Schema.formatVersion + 1)' WHERE key = 'format_version'") }
        }
        for mode in [LedgerStore.OpenMode.reader, .writer] {
            let error = #expect(throws: StoreError.self) { try LedgerStore.open(DataDirectory(path: dir.path), mode: mode) }
            #expect(error?.code == .formatVersion && error?.message.contains("format version \(Schema.formatVersion + 1), written by a newer quartet") == true)
        }
    }

    /// A crash in the middle of a durable write leaves a `.partial-` copy beside the file (a key
    /// among them): the next writer to hold the directory removes such copies, in the directory
    /// and its keys, and nothing else; a reader leaves them.
    @Test func copiesACrashLeftMidWriteAreRemovedByTheNextWriter() throws {
        let dir = try TestKit.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try TestKit.makeStore(at: dir).close()
        let directory = DataDirectory(path: dir.path)
        try FileManager.default.createDirectory(atPath: directory.url.path + "/evidence", withIntermediateDirectories: true)
        let leftovers = [directory.url.path + "/purges-done.partial-0123456789abcdef", directory.keysPath + "/wales.pem.partial-fedcba9876543210",
                         directory.url.path + "/evidence/england.json.partial-00112233445566ff"]
        let kept = [directory.keysPath + "/wales.pem.partial-notours", directory.url.path + "/notes.partial-0123456789ABCDEF",
                    directory.url.path + "/x.partial-0123456789abcdef0"]
        for path in leftovers + kept { try Data("secret\n".utf8).write(to: URL(fileURLWithPath: path)) }
        // A link named like a copy is not followed (its target stays).
        let target = dir.appendingPathComponent("target").path
        try Data("target\n".utf8).write(to: URL(fileURLWithPath: target))
        #expect(symlink(target, directory.url.path + "/link.partial-00112233445566aa") == 0)
        try LedgerStore.open(directory, mode: .reader).close()
        #expect(leftovers.allSatisfy { FileManager.default.fileExists(atPath: $0) }, "a reader removed a copy")
        try LedgerStore.open(directory, mode: .writer).close()
        #expect(leftovers.allSatisfy { !FileManager.default.fileExists(atPath: $0) })
        #expect(kept.allSatisfy { FileManager.default.fileExists(atPath: $0) })
        #expect(FileManager.default.fileExists(atPath: target))
        #expect(RegularFile.isPartialCopy("wales.pem.partial-0123456789abcdef") && !RegularFile.isPartialCopy(".partial-0123456789abcdef"))
    }

    /// A directory whose format says this one but whose schema lacks one of its migrations, or
    /// has one this quartet does not know, is refused at open (it failed later on a missing
    /// table), by readers and writers, and `create` does not quietly finish it.
    @Test func aSchemaThatIsNotItsFormatIsRefusedAtOpen() throws {
        for change in ["DROP TABLE log_keys; DELETE FROM grdb_migrations WHERE identifier = 'v2'",
                       "INSERT INTO grdb_migrations (identifier) VALUES ('v99')"] {
            let dir = try TestKit.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            do {
                let store = try TestKit.makeStore(at: dir)
                try store.pool.write { try $0.execute(sql: change) }
                try store.close()
            }
            for mode in [LedgerStore.OpenMode.reader, .writer] {
                let error = #expect(throws: StoreError.self) { try LedgerStore.open(DataDirectory(path: dir.path), mode: mode) }
                #expect(error?.code == .corrupt && error?.message.contains("its tables were changed") == true, "\(change): \(String(describing: error))")
            }
            #expect(throws: StoreError.self) { try LedgerStore.create(DataDirectory(path: dir.path)) }
        }
    }

    /// A directory of format 1 (as the previous release wrote it): a reader is told to let the
    /// node migrate it; a writer copies it aside, migrates it in place, and keeps every entry.
    @Test func anOlderFormatIsMigratedAtOpenAfterACopy() async throws {
        let dir = try TestKit.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let directory = DataDirectory(path: dir.path)
        do {
            let store = try TestKit.makeStore(at: dir)
            let writer = try LogWriter(store: store, log: "wales")
            for i in 0..<5 { _ = try await writer.append(AppendRequest(type: "test.note", payload: Array(#"{"i":\#(i)}"#.utf8))) }
            // Format 1 as released: no log_keys, only migration v1, format_version 1.
            try await store.pool.write { db in
                try db.execute(sql: "DROP TABLE log_keys; DELETE FROM grdb_migrations WHERE identifier = 'v2'; UPDATE meta SET value = '1' WHERE key = 'format_version'")
            }
            try store.close()
        }
        let refused = #expect(throws: StoreError.self) { try LedgerStore.open(directory, mode: .reader) }
        #expect(refused?.code == .formatVersion && refused?.message.contains("start the node once") == true)
        // What a copy killed half-way left is removed, never taken for a copy.
        let leftover = dir.appendingPathComponent("before-format-\(Schema.formatVersion)-1.sqlite.partial").path
        #expect(FileManager.default.createFile(atPath: leftover, contents: Data("half a copy".utf8)))

        let store = try LedgerStore.open(directory, mode: .writer)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(!names.contains { $0.hasSuffix(".partial") }, "\(names)")
        #expect(names.filter { $0.hasPrefix("before-format-") }.count == 1, "\(names)")
        let migration = try #require(store.migration)
        #expect(migration.from == 1)
        let version = try await store.pool.read { try String.fetchOne($0, sql: "SELECT value FROM meta WHERE key = 'format_version'") }
        #expect(version == String(Schema.formatVersion))
        #expect(try store.size(try store.log(named: "wales")) == 5)
        #expect(store.verify().problems.isEmpty)
        try store.close()
        // The copy is the directory as it was: format 1, the same five entries.
        let copy = try DatabaseQueue(path: migration.backup)
        #expect(try await copy.read { try String.fetchOne($0, sql: "SELECT value FROM meta WHERE key = 'format_version'") } == "1")
        #expect(try await copy.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM entries") } == 5)
        // Opened again, nothing more is migrated.
        let again = try LedgerStore.open(directory, mode: .writer)
        #expect(again.migration == nil)
        try again.close()
    }

    @Test func verifyFindsTamperingByLogAndIndex() async throws {
        func tampered(_ sql: String, _ arguments: (LogInfo) -> StatementArguments) async throws -> VerificationProblem? {
            let (store, _, _) = try await walesStore(appending: 40)
            defer { try? FileManager.default.removeItem(at: store.directory.url) }
            #expect(store.verify().isValid)
            let log = try store.log(named: "wales")
            try syncExecute(store, sql, arguments(log))
            return store.verify().problems.first
        }
        let key = { (log: LogInfo, index: UInt64) in Schema.entryKey(logID: log.id, index: index) }
        // A payload changed under its commitment.
        let payload = try await tampered("UPDATE entries SET payload = ? WHERE key = ?") { [Data(TestKit.payload(999)), key($0, 17)] }
        #expect(payload?.log == "wales" && payload?.index == 17)
        // A header byte changed (and its stored leaf hash with it, so only the roots can tell).
        let header = try await tampered("UPDATE entries SET header = ?, leaf_hash = ? WHERE key = ?") { log in
            let entry = try! Entry(log: "wales", index: 23, timeMillis: 1, type: "forged", classification: "public", author: "",
                                   payload: TestKit.payload(23), salt: [UInt8](repeating: 1, count: 32))
            return [Data(entry.headerBytes), Data(entry.leafHash.bytes), key(log, 23)]
        }
        #expect(header?.log == "wales" && header?.index == 23)
        // An entry removed.
        let missing = try await tampered("DELETE FROM entries WHERE key = ?") { [key($0, 31)] }
        #expect(missing?.index == 31 && missing?.message.contains("missing") == true)
        // The tail truncated.
        let truncated = try await tampered("DELETE FROM entries WHERE key >= ?") { [key($0, 35)] }
        #expect(truncated?.index == 35)
        // A stored subtree hash changed (proofs would lie).
        let node = try await tampered("UPDATE nodes SET hash = zeroblob(32) WHERE log_id = ? AND level = 4 AND idx = 1") { [$0.id] }
        #expect(node?.index == 31 && node?.message.contains("subtree") == true)
        // A payload deleted from the writer's own log.
        let deleted = try await tampered("UPDATE entries SET payload = NULL, salt = NULL WHERE key = ?") { [key($0, 12)] }
        #expect(deleted?.index == 12 && deleted?.message.contains("missing") == true)
        // A checkpoint signature changed.
        let note = try await tampered("UPDATE checkpoints SET note = replace(note, 'quartet-time', 'quartet-tame') WHERE log_id = ? AND size = 10") { [$0.id] }
        #expect(note?.index == 9 && note?.message.contains("checkpoint at size 10") == true)
    }
}

/// Synchronous database access from async tests (GRDB picks its async overloads there).
func syncRead<T>(_ store: LedgerStore, _ body: (Database) throws -> T) throws -> T { try store.pool.read(body) }
func syncExecute(_ store: LedgerStore, _ sql: String, _ arguments: StatementArguments) throws {
    try store.pool.write { try $0.execute(sql: sql, arguments: arguments) }
}
