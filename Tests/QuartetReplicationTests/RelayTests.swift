import QuartetCrypto
import QuartetLedger
@testable import QuartetReplication
import Testing

/// What a member passes on of another's log once it stored a batch: nothing per batch when the
/// log's writer pushed it (the writer pushed it to every member it reaches), the batch or its head
/// when it came from anyone else, and every head at the anti-entropy round either way.
@Suite struct RelayTests {
    /// wales's log with a checkpoint at size 2; england connected to and greeted by every peer.
    func setUp() throws -> (batch: Batch, checkpoint: Checkpoint, england: Replicator) {
        var sim = try Simulation(ids: ["uk", "wales", "england", "scotland"], seed: 5)
        try sim.append("wales", count: 2)
        let log = sim.nodes["wales"]!.logs["wales"]!
        let batch = Batch(log: "wales", from: 0, note: log.checkpoints[2]!, entries: log.entries.map(WireEntry.init))
        var england = sim.nodes["england"]!.replicator
        for peer in ["uk", "wales", "scotland"] {
            _ = england.connected(peer)
            _ = england.received(.hello(version: ProtocolLimits.version, node: peer, federation: "sim"), from: peer)
        }
        return (batch, try Checkpoint(parsing: try SignedNote(parsing: batch.note).text), england)
    }

    /// The messages about wales's log that `directives` send, by peer.
    func sent(_ directives: [Directive]) -> [String: [String]] {
        var out: [String: [String]] = [:]
        for case .send(let peer, let message) in directives {
            switch message {
            case .entries(let batch) where batch.log == "wales": out[peer, default: []].append("entries")
            case .heads(let heads) where heads.contains(where: { $0.log == "wales" }): out[peer, default: []].append("heads")
            default: continue
            }
        }
        return out
    }

    @Test func aBatchTheWriterPushedIsNotRelayed() throws {
        var (batch, checkpoint, england) = try setUp()
        let received = england.received(.entries(batch), from: "wales")
        #expect(received.contains { if case .store = $0 { return true }; return false })
        let stored = england.stored(batch, checkpoint: checkpoint, from: "wales")
        #expect(sent(stored).isEmpty, "\(sent(stored))")
        #expect(england.heads["wales"]?.size == 2)
        // The anti-entropy round still tells every peer the head.
        let told = sent(england.tick())
        #expect(Set(told.keys) == ["uk", "wales", "scotland"], "\(told)")
    }

    /// A member announcing heads of wales's log under a key nobody has (no signature check can
    /// fail it: the log may have rotated) is asked only while no one verifiably holds more, and
    /// its request gives way to a peer whose head verified.
    @Test func anUnverifiedClaimantGivesWayToAPeerThatVerifiablyHoldsMore() throws {
        var (batch, _, england) = try setUp()
        let origin = try #require(england.chains["wales"]).origin
        let madeUp = try NoteSigner(name: origin, key: try Ed25519PrivateKey())
            .sign(Checkpoint(origin: origin, size: 1_000_000, root: Hash.leaf([1]), timeMillis: 1)).serialized
        func requests(_ directives: [Directive]) -> [String] {
            directives.compactMap { if case .send(let peer, .request(log: "wales", from: _)) = $0 { return peer }; return nil }
        }
        #expect(requests(england.received(.heads([Message.Head(log: "wales", note: madeUp)]), from: "uk")) == ["uk"])
        // uk never answers; scotland's head verifies: the request moves to scotland.
        #expect(requests(england.received(.heads([Message.Head(log: "wales", note: batch.note)]), from: "scotland")) == ["scotland"])
        // uk's next made-up head does not take the request back.
        #expect(requests(england.received(.heads([Message.Head(log: "wales", note: madeUp)]), from: "uk")).isEmpty)
    }

    @Test func aBatchFromAnotherMemberIsPassedOn() throws {
        var (batch, checkpoint, england) = try setUp()
        _ = england.received(.entries(batch), from: "uk")
        let stored = sent(england.stored(batch, checkpoint: checkpoint, from: "uk"))
        // scotland (cut off from wales, perhaps) hears of it; uk sent it, and wales wrote it.
        #expect(stored["scotland"]?.isEmpty == false, "\(stored)")
        #expect(stored["uk"] == nil)
        #expect(stored["wales"]?.contains("entries") != true)
    }
}
