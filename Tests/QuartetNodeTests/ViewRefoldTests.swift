import Foundation
import Logging
import QuartetLedger
@testable import QuartetNode
import QuartetPlan
import QuartetPolicy
@testable import QuartetStore
import QuartetTestKit
import Testing

/// The view folded again from the store when stubs it folded get their payloads while the node
/// serves (own-log stubs filled by peers): what they hold reaches the view without a restart,
/// and nothing folded in the meantime is lost.
@Suite struct ViewRefoldTests {
    func priority(_ id: String) -> AppendRequest {
        AppendRequest(type: "plan.priority", payload: Array(#"{"id":"\#(id)","title":"Priority \#(id)"}"#.utf8))
    }

    /// Waits (up to 10 s) until `done` holds of the view's snapshot.
    func waitFor(_ view: ViewMaintainer, _ done: (StrategyView) -> Bool) async throws -> Bool {
        for _ in 0..<200 {
            if done(view.snapshot) { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return done(view.snapshot)
    }

    @Test func filledStubsReachTheViewAndLaterEntriesStay() async throws {
        // The origin of log uk, with three priorities; a replica holding P2 as a stub.
        let origin = try TestKit.makeStore(log: "uk")
        let writer = try LogWriter(store: origin, log: "uk")
        _ = try await writer.append(contentsOf: ["P1", "P2", "P3"].map(priority))
        let originLog = try origin.log(named: "uk")
        let (entries, note) = try #require(try origin.decodedBatch(originLog, from: 0, maxEntries: 100, maxBytes: 1 << 20))
        let replica = try LedgerStore.create(DataDirectory(path: try TestKit.temporaryDirectory("refold").path))
        let log = try replica.addLog(name: "uk", origin: originLog.origin, publicKey: originLog.publicKey, own: false, nowMillis: 1)
        try replica.ingest(log, from: 0, entries: [entries[0], entries[1].stub, entries[2]], note: note,
                           checkpoint: log.verifier.verifyCheckpoint(try SignedNote(parsing: note)))

        let view = ViewMaintainer(ukLog: "uk", order: ["uk"], owners: [:], labels: try LabelOwnership([:]), store: replica,
                                  metrics: NodeMetrics(ownLog: "uk"), logger: Logger(label: "test"))
        try view.load(from: replica)
        let before = view.snapshot
        #expect(Set(before.priorities.keys) == ["P1", "P3"])
        #expect(before.logs["uk"]?.stubs == 1)

        // The payload comes back; one more entry is folded before the refold runs.
        #expect(try replica.fillStubs(log, with: [entries[1]]) == [1])
        _ = try await writer.append(contentsOf: [priority("P4")])
        let (more, moreNote) = try #require(try origin.decodedBatch(originLog, from: 3, maxEntries: 100, maxBytes: 1 << 20))
        let checkpoint = try log.verifier.verifyCheckpoint(try SignedNote(parsing: moreNote))
        try replica.ingest(log, from: 3, entries: more, note: moreNote, checkpoint: checkpoint)
        view.absorbReplica(log: "uk", entries: more, checkpoint: checkpoint)
        #expect(try await waitFor(view) { $0.priorities["P4"] != nil })
        #expect(view.snapshot.priorities["P2"] == nil, "the stub's payload is not in the view before the refold")

        view.refold(reason: "test")
        #expect(try await waitFor(view) { $0.priorities["P2"] != nil }, "the filled payload did not reach the view")
        let after = view.snapshot
        #expect(Set(after.priorities.keys) == ["P1", "P2", "P3", "P4"])
        #expect(after.logs["uk"]?.stubs == 0)
        #expect(after.logs["uk"]?.size == 4)
        #expect(after.logs["uk"]?.checkpoint?.size == 4, "the refolded view keeps the checkpoint it stood on")
        #expect(after.version > before.version, "caches keyed on the version must see a new one")
    }

    /// Three published aggregates, the second under `restrictedOne` (which a purge removes).
    static func aggregates(restrictedOne: String) -> [AppendRequest] {
        // Each classified with the label its payload names (the view holds only those).
        [AppendRequest(type: "dataset.aggregate", classification: "owner-a.rows", payload: Array(#"{"label":"owner-a.rows"}"#.utf8)),
         AppendRequest(type: "dataset.aggregate", classification: restrictedOne, payload: Array(#"{"label":"\#(restrictedOne)"}"#.utf8)),
         AppendRequest(type: "dataset.aggregate", classification: "owner-c.rows", payload: Array(#"{"label":"owner-c.rows"}"#.utf8))]
    }

    /// Log uk's origin store and writer, an empty replica of it, and the replica's view.
    func replicaAndView(_ name: String) throws -> (origin: LedgerStore, writer: LogWriter, replica: LedgerStore, view: ViewMaintainer) {
        let origin = try TestKit.makeStore(log: "uk")
        let writer = try LogWriter(store: origin, log: "uk")
        let originLog = try origin.log(named: "uk")
        let replica = try LedgerStore.create(DataDirectory(path: try TestKit.temporaryDirectory(name).path))
        _ = try replica.addLog(name: "uk", origin: originLog.origin, publicKey: originLog.publicKey, own: false, nowMillis: 1)
        let view = ViewMaintainer(ukLog: "uk", order: ["uk"], owners: [:], labels: try LabelOwnership([:]), store: replica,
                                  metrics: NodeMetrics(ownLog: "uk"), logger: Logger(label: "test"))
        try view.load(from: replica)
        return (origin, writer, replica, view)
    }

    /// Replicated batches wait for a fold pass and are folded in the order they were stored,
    /// each once, whatever pass takes them.
    @Test func replicatedBatchesFoldInTheOrderTheyWereStored() async throws {
        let (origin, writer, replica, view) = try replicaAndView("fold-passes")
        let originLog = try origin.log(named: "uk"), log = try replica.log(named: "uk")
        let folded = view.foldCount
        // Three batches of 3, 1 and 2 entries, stored and handed to the view one after another.
        var sizes: [Int] = []
        for ids in [["P1", "P2", "P3"], ["P4"], ["P5", "P6"]] {
            let from = try origin.size(originLog)
            _ = try await writer.append(contentsOf: ids.map(priority))
            let (entries, note) = try #require(try origin.decodedBatch(originLog, from: from, maxEntries: 100, maxBytes: 1 << 20))
            let checkpoint = try log.verifier.verifyCheckpoint(try SignedNote(parsing: note))
            try replica.ingest(log, from: from, entries: entries, note: note, checkpoint: checkpoint)
            view.absorbReplica(log: "uk", entries: entries, checkpoint: checkpoint)
            sizes.append(entries.count)
        }
        // Folded, and each fold recorded (a fold is recorded before it leaves the backlog).
        #expect(try await waitFor(view) { $0.logs["uk"]?.size == 6 && view.unfolded == 0 })
        #expect(Set(view.snapshot.priorities.keys) == ["P1", "P2", "P3", "P4", "P5", "P6"])
        #expect(view.snapshot.logs["uk"]?.checkpoint?.size == 6, "the view stands on the newest batch's checkpoint")
        let folds = view.recentFolds.filter { $0.sequence > folded }
        #expect(folds.map(\.entries) == sizes, "each batch folded once, in the order it was stored")
    }

    /// A purge of a replicated batch's entry while the batch is on its way to the view: waiting
    /// for its fold pass, or stored and not yet handed to the view. Either way the batch is
    /// read again from the store, and the view does not fold what the purge removed from the
    /// batch's copy in memory.
    @Test(arguments: [false, true]) func aPurgeIsNotUndoneByABatchOnItsWayToTheView(purgeBeforeHandOver: Bool) async throws {
        let (origin, writer, replica, view) = try replicaAndView("fold-purge")
        let originLog = try origin.log(named: "uk"), log = try replica.log(named: "uk")
        let restricted = "heiw.workforce.headcount"
        _ = try await writer.append(contentsOf: Self.aggregates(restrictedOne: restricted))
        let (entries, note) = try #require(try origin.decodedBatch(originLog, from: 0, maxEntries: 100, maxBytes: 1 << 20))
        let checkpoint = try log.verifier.verifyCheckpoint(try SignedNote(parsing: note))
        try replica.ingest(log, from: 0, entries: entries, note: note, checkpoint: checkpoint)
        // The purge of entry 1 (as an ended agreement's).
        let purge = { try view.purge(log: "uk") { try replica.purge(log, labels: [restricted]) { _, _ in false } } }
        if purgeBeforeHandOver { #expect(try purge() == [1]) }
        view.absorbReplica(log: "uk", entries: entries, checkpoint: checkpoint)
        if !purgeBeforeHandOver { #expect(try purge() == [1]) }
        #expect(try await waitFor(view) { $0.logs["uk"]?.size == 3 && view.unfolded == 0 })
        #expect(view.snapshot.logs["uk"]?.aggregates.keys.sorted() == [0, 2], "the purged aggregate came back from the batch's copy in memory")
    }

    /// A page of entries ends where the headers' payload lengths pass the bound, whether this
    /// node holds the payloads or stubs of them: where the API's page ends does not tell a
    /// reader which payloads a node holds (a purge done or not).
    @Test func aPageEndsWhereTheHeadersSayNotWhereHeldPayloadsDo() async throws {
        let (origin, writer, replica, _) = try replicaAndView("page-cut")
        let originLog = try origin.log(named: "uk"), log = try replica.log(named: "uk")
        let restricted = "heiw.workforce.headcount"
        _ = try await writer.append(contentsOf: Self.aggregates(restrictedOne: restricted))
        let (entries, note) = try #require(try origin.decodedBatch(originLog, from: 0, maxEntries: 100, maxBytes: 1 << 20))
        try replica.ingest(log, from: 0, entries: entries, note: note, checkpoint: try log.verifier.verifyCheckpoint(try SignedNote(parsing: note)))
        // Bound: one byte short of the first two payloads' lengths; the page takes the entry
        // that passes it, and stops.
        let bound = entries.prefix(2).reduce(0) { $0 + Int($1.header.payloadLength) } - 1
        let before = try replica.entries(log, from: 0, limit: 10, maxPayloadBytes: bound).count
        #expect(try replica.purge(log, labels: [restricted]) { _, _ in false } == [1])
        let after = try replica.entries(log, from: 0, limit: 10, maxPayloadBytes: bound)
        #expect(after[1].payload == nil, "entry 1 is a stub now")
        #expect(after.count == before, "the page ended elsewhere once a payload was purged")
        #expect(before == 2)
    }
}
