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
        // A trickle of real entries (the liar appending now and then) does not clear it.
        for _ in 0..<3 {
            try sim.append("a", count: 1)
            sim.runUntil(sim.now + 400)
        }
        #expect(sim.sizes("a") == [13, 13, 13])
        #expect(sim.nodes["b"]!.replicator.unbacked["a"] == 1_000_000)
        #expect(sim.nodes["b"]!.alerts.filter { $0.kind == .unbacked }.count == 1)
        // Entries at a catch-up's pace do: the gap counts again.
        for _ in 0..<5 { try sim.append("a", count: Int(Replicator.unbackedEntries) / 5) }
        let start = sim.now
        while sim.sizes("a") != [10_013, 10_013, 10_013], sim.now < start + 2_000 { sim.runUntil(sim.now + 50) }
        sim.runUntil(sim.now + 100)
        #expect(sim.sizes("a") == [10_013, 10_013, 10_013])
        #expect(sim.nodes["b"]!.replicator.unbacked["a"] == nil)
        // And when nothing more comes for a window, flagged again.
        sim.runUntil(sim.now + 50 * UInt64(Replicator.unbackedRounds + 5))
        #expect(sim.nodes["b"]!.replicator.unbacked["a"] == 1_000_000)
    }

    /// A writer showing one checkpoint far beyond anything it could send, then appending real
    /// entries at `unbackedEntries` a window: the gap would take far longer than a day to
    /// close at that pace, so it is flagged all the same (was: every window reset, every node's
    /// readiness held at 503 for as long as the writer kept appending, no alert).
    @Test func aLieFarAheadBackedByATrickleAtTheCatchUpBoundIsFlagged() throws {
        var sim = try Simulation(ids: ["a", "b"], seed: 5)
        sim.connectAll()
        try sim.append("a", count: 10)
        sim.runUntil(200)
        let lie = try sim.nodes["a"]!.signer.sign(Checkpoint(origin: Simulation.origin + "a", size: 1 << 50, root: Hash.leaf([9]))).serialized
        sim.run("b", sim.nodes["b"]!.replicator.received(.heads([Message.Head(log: "a", note: lie)]), from: "a"))
        for _ in 0..<3 {
            for _ in 0..<5 { try sim.append("a", count: Int(Replicator.unbackedEntries) / 5) }
            sim.runUntil(sim.now + 50 * UInt64(Replicator.unbackedRounds - 2))
        }
        #expect(sim.nodes["b"]!.replicator.unbacked["a"] == 1 << 50)
        #expect(sim.nodes["b"]!.alerts.contains { $0.kind == .unbacked && $0.log == "a" })
    }

    @Test func aNodeCatchingUpOnAWriterFarAheadIsNeverFlagged() throws {
        var sim = try Simulation(ids: ["a", "b"], seed: 4)
        sim.connectAll()
        try sim.append("a", count: 5)
        sim.runUntil(200)
        sim.disconnect("a", "b")
        for _ in 0..<10 { try sim.append("a", count: Int(Replicator.unbackedEntries) / 5) }
        sim.runUntil(sim.now + 100)
        sim.connect("a", "b")
        sim.runUntil(sim.now + 50 * UInt64(Replicator.unbackedRounds) * 3)
        #expect(sim.sizes("a") == [20_005, 20_005])
        #expect(!sim.nodes["b"]!.alerts.contains { $0.kind == .unbacked }, "\(sim.nodes["b"]!.alerts.map(\.message))")
    }
}
