import QuartetLedger
@testable import QuartetReplication
import Testing

/// A writer that signs a checkpoint of its log far beyond what it sends: after a minute of rounds
/// with no entries coming while it is connected, the gap is `unbacked` (readiness stops counting
/// it) and one alert names the writer; entries coming back clear it.
@Suite struct UnbackedCheckpointTests {
    @Test func aCheckpointItsWriterNeverBacksIsFlaggedOnceAndClearedByEntries() throws {
        var sim = try Simulation(ids: ["a", "b", "c"], seed: 3)
        sim.connectAll()
        try sim.append("a", count: 10)
        sim.runUntil(200)
        #expect(sim.sizes("a") == [10, 10, 10])
        // `a` shows `b` a checkpoint of a million entries it never sends.
        let lie = try sim.nodes["a"]!.signer.sign(Checkpoint(origin: Simulation.origin + "a", size: 1_000_000, root: Hash.leaf([9]))).serialized
        sim.run("b", sim.nodes["b"]!.replicator.received(.heads([Message.Head(log: "a", note: lie)]), from: "a"))
        #expect(sim.nodes["b"]!.replicator.seen["a"]?.size == 1_000_000)
        // Fewer rounds than the bound: still a gap.
        sim.runUntil(sim.now + 50 * UInt64(Replicator.unbackedRounds - 5))
        #expect(sim.nodes["b"]!.replicator.unbacked["a"] == nil)
        sim.runUntil(sim.now + 50 * 10)
        #expect(sim.nodes["b"]!.replicator.unbacked["a"] == 1_000_000)
        #expect(sim.nodes["c"]!.replicator.unbacked.isEmpty, "c never saw the lie")
        sim.runUntil(sim.now + 50 * 40)
        let flagged = sim.nodes["b"]!.alerts.filter { $0.kind == .unbacked }
        #expect(flagged.count == 1 && flagged.first?.peer == "a" && flagged.first?.log == "a", "\(flagged)")
        // Entries come: the gap counts again.
        try sim.append("a", count: 3)
        sim.runUntil(sim.now + 200)
        #expect(sim.sizes("a") == [13, 13, 13])
        #expect(sim.nodes["b"]!.replicator.unbacked["a"] == nil)
    }
}
