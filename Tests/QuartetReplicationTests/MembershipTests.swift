import QuartetCrypto
import QuartetLedger
import QuartetReplication
import Testing

/// The replicator when the federation changes under it (a reload): members removed are cut off,
/// members added are dialled, logs no longer in the federation are no longer announced.
@Suite struct MembershipTests {
    func verifier(_ log: String) throws -> NoteVerifier { try NoteSigner(name: "quartet.test/\(log)", key: try Ed25519PrivateKey()).verifier }

    @Test func aRemovedMemberIsClosedAndRefusedAndAnAddedOneIsDialled() throws {
        let verifiers = ["uk": try verifier("uk"), "wales": try verifier("wales"), "england": try verifier("england")]
        var replicator = Replicator(settings: ReplicationSettings(node: "uk", federation: "sim", ownLog: "uk", verifiers: verifiers, peers: ["wales", "england"]),
                                    heads: [:], seed: 1)
        _ = replicator.connected("england")
        _ = replicator.received(.hello(version: ProtocolLimits.version, node: "england", federation: "sim"), from: "england")
        #expect(replicator.connectedPeers == ["england"])

        var without = verifiers
        without["england"] = nil
        let removal = replicator.members(peers: ["wales"], verifiers: without, writers: ["uk": "uk", "wales": "wales"])
        #expect(removal.contains { if case .close(peer: "england", _) = $0 { return true }; return false })
        #expect(!removal.contains { if case .dial = $0 { return true }; return false })
        #expect(replicator.connectedPeers.isEmpty)
        #expect(replicator.settings.peers == ["wales"])
        // It cannot come back on its own: a new connection is closed, its messages ignored.
        #expect(replicator.connected("england").contains { if case .close(peer: "england", _) = $0 { return true }; return false })
        #expect(replicator.received(.heads([]), from: "england").isEmpty)

        let addition = replicator.members(peers: ["wales", "england"], verifiers: verifiers, writers: ["uk": "uk", "wales": "wales", "england": "england"])
        #expect(addition.contains { if case .dial(peer: "england", afterMillis: 0) = $0 { return true }; return false })
        #expect(replicator.connected("england").contains { if case .send(peer: "england", .hello) = $0 { return true }; return false })
    }
}
