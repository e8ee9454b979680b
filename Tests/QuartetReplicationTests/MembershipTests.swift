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

    /// The federation file's statement (protocol 4): told first when a version-4 peer is
    /// greeted and to every one at a reload that changes it; a peer's statement goes to the
    /// node to check once a round; a peer at version 3 is told none and may send none.
    @Test func theFederationStatementIsToldAtGreetingAndReloadToVersionFourPeers() throws {
        let verifiers = ["uk": try verifier("uk"), "wales": try verifier("wales"), "england": try verifier("england")]
        var settings = ReplicationSettings(node: "uk", federation: "sim", ownLog: "uk", verifiers: verifiers, peers: ["wales", "england"])
        settings.federationStatement = "v1"
        var replicator = Replicator(settings: settings, heads: [:], seed: 1)
        func told(_ out: [Directive]) -> [String: String] {
            var told: [String: String] = [:]
            for directive in out { if case .send(let peer, .federation(let statement)) = directive { told[peer] = statement } }
            return told
        }
        _ = replicator.connected("wales")
        let greeted = replicator.received(.hello(version: ProtocolLimits.version, node: "wales", federation: "sim"), from: "wales")
        guard case .send("wales", .federation("v1")) = greeted.first else { Issue.record("not told first: \(greeted)"); return }
        _ = replicator.connected("england")
        #expect(told(replicator.received(.hello(version: 3, node: "england", federation: "sim"), from: "england")).isEmpty)

        // A reload: the new statement to wales only; the same again tells no one.
        #expect(told(replicator.stated(federation: "v2")) == ["wales": "v2"])
        #expect(replicator.stated(federation: "v2").isEmpty)

        // Wales's statement is checked once a round, the newest of more in the next one (a
        // reload right after a greeting is not lost); england's, at version 3, is a violation.
        #expect(replicator.received(.federation(statement: "w"), from: "wales") == [.federationStated(peer: "wales", statement: "w")])
        #expect(replicator.received(.federation(statement: "w2"), from: "wales").isEmpty)
        #expect(replicator.received(.federation(statement: "w3"), from: "wales").isEmpty)
        #expect(replicator.tick().filter { if case .federationStated = $0 { return true }; return false } == [.federationStated(peer: "wales", statement: "w3")])
        #expect(replicator.received(.federation(statement: "w4"), from: "wales").isEmpty)
        _ = replicator.tick()
        #expect(!replicator.tick().contains { if case .federationStated = $0 { return true }; return false })
        #expect(replicator.received(.federation(statement: "w5"), from: "wales") == [.federationStated(peer: "wales", statement: "w5")])
        let refused = replicator.received(.federation(statement: "e"), from: "england")
        #expect(refused.contains { if case .alert(let alert) = $0 { return alert.kind == .protocolViolation }; return false }, "\(refused)")
        #expect(!refused.contains { if case .federationStated = $0 { return true }; return false })
    }
}
