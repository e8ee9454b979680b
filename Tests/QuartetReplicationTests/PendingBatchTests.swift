import QuartetCrypto
import QuartetLedger
@testable import QuartetReplication
import Testing

/// Pushes that arrive while the batch before them is still being stored are kept and stored
/// next, not dropped as gaps and fetched again from the sender's store.
@Suite struct PendingBatchTests {
    /// wales's log with checkpoints at sizes 2, 4 and 5; a fresh uk replicator connected to wales.
    func setUp() throws -> (batches: [Batch], uk: Replicator) {
        var sim = try Simulation(ids: ["uk", "wales", "england"], seed: 3)
        try sim.append("wales", count: 2)
        try sim.append("wales", count: 2)
        try sim.append("wales", count: 1)
        let log = sim.nodes["wales"]!.logs["wales"]!
        let entries = log.entries.map(WireEntry.init)
        let batches = [(0, 2), (2, 4), (4, 5)].map { from, end in
            Batch(log: "wales", from: UInt64(from), note: log.checkpoints[UInt64(end)]!, entries: Array(entries[from..<end]))
        }
        var uk = sim.nodes["uk"]!.replicator
        _ = uk.connected("wales")
        _ = uk.received(.hello(version: ProtocolLimits.version, node: "wales", federation: "sim"), from: "wales")
        return (batches, uk)
    }

    func isStore(_ d: Directive, from: UInt64, end: UInt64) -> Bool {
        if case .store(_, let batch, _) = d { return batch.from == from && batch.end == end }
        return false
    }

    func isRequest(_ d: Directive) -> Bool {
        if case .send(_, .request) = d { return true }
        return false
    }

    @Test func pushesDuringAStoreAreKeptMergedAndStoredNext() throws {
        var (batches, uk) = try setUp()
        let first = uk.received(.entries(batches[0]), from: "wales")
        #expect(first.contains { isStore($0, from: 0, end: 2) })
        // Two more pushes while [0, 2) is being stored: kept, nothing asked of wales's store.
        #expect(uk.received(.entries(batches[1]), from: "wales").isEmpty)
        #expect(uk.received(.entries(batches[2]), from: "wales").isEmpty)
        let checkpoint = try Checkpoint(parsing: try SignedNote(parsing: batches[0].note).text)
        let next = uk.stored(batches[0], checkpoint: checkpoint, from: "wales")
        #expect(next.contains { isStore($0, from: 2, end: 5) }, "\(next)")
        #expect(!next.contains { isRequest($0) }, "\(next.map { "\($0)".prefix(120) })")
        // Once that is stored too, the log is whole and nothing is asked.
        var merged = batches[1]
        merged.entries += batches[2].entries
        merged.note = batches[2].note
        let last = uk.stored(merged, checkpoint: try Checkpoint(parsing: try SignedNote(parsing: batches[2].note).text), from: "wales")
        #expect(!last.contains { isRequest($0) } && !last.contains { if case .store = $0 { return true }; return false })
        #expect(uk.heads["wales"]?.size == 5)
    }

    @Test func anotherPeersPushIsNotMergedIntoWhatWaits() throws {
        var (batches, uk) = try setUp()
        _ = uk.connected("england")
        _ = uk.received(.hello(version: ProtocolLimits.version, node: "england", federation: "sim"), from: "england")
        _ = uk.received(.entries(batches[0]), from: "wales")
        #expect(uk.received(.entries(batches[1]), from: "wales").isEmpty)
        // england relays [4, 5): a refusal of the merged batch would be counted against wales.
        #expect(uk.received(.entries(batches[2]), from: "england").isEmpty)
        let checkpoint = try Checkpoint(parsing: try SignedNote(parsing: batches[0].note).text)
        let next = uk.stored(batches[0], checkpoint: checkpoint, from: "wales")
        #expect(next.contains { isStore($0, from: 2, end: 4) }, "\(next)")
        #expect(!next.contains { isStore($0, from: 2, end: 5) })
    }

    @Test func aRejectedBatchDropsWhatWaitedOnIt() throws {
        var (batches, uk) = try setUp()
        _ = uk.received(.entries(batches[0]), from: "wales")
        _ = uk.received(.entries(batches[1]), from: "wales")
        _ = uk.rejected(batches[0], from: "wales", reason: "test")
        // Nothing is stored on top of a batch that did not go in: the next push is a gap again.
        let again = uk.received(.entries(batches[2]), from: "wales")
        #expect(!again.contains { if case .store = $0 { return true }; return false })
        #expect(again.contains { isRequest($0) })
    }
}
