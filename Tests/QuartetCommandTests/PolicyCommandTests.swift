import Foundation
import QuartetCrypto
import QuartetLedger
import QuartetNode
@testable import quartet
import Testing

/// `quartet policy` writes a C2SP tlog-policy file that parses, whatever the members are called:
/// witnesses and groups share one namespace, and `none` is the spec's own name.
@Suite struct PolicyCommandTests {
    func federation(_ ids: [String]) throws -> Federation {
        var nodes: [[String: Any]] = []
        for (i, id) in ids.enumerated() {
            let log = try Ed25519PrivateKey(), witness = try Ed25519PrivateKey()
            nodes.append(["id": id, "role": i == 0 ? "aggregator" : "nation", "peer": "\(id).example:\(7400 + i)",
                          "api": "https://\(id).example:\(8400 + i)",
                          "vkey": NoteVerifier(name: "quartet.test/\(id)", publicKey: log.publicKey).vkey,
                          "witness": CosignatureVerifier(name: "quartet.test/\(id)/witness", publicKey: witness.publicKey).vkey])
        }
        let object: [String: Any] = ["federation": "quartet-test", "version": 1, "nodes": nodes, "owners": [[String: Any]]()]
        return try Federation.parse(try JSONSerialization.data(withJSONObject: object), file: "federation.json")
    }

    @Test func aMemberCalledLikeTheGroupGetsAGroupOfAnotherName() throws {
        let policy = try PolicyCommand.policy(try federation(["uk", "members", "wales"]), log: nil, quorum: nil)
        let reparsed = try WitnessPolicy(parsing: policy.text)
        #expect(reparsed.quorum == "members-2")
        #expect(reparsed.groups.first?.members.contains("members") == true)
        // The usual name otherwise.
        #expect(try PolicyCommand.policy(try federation(["uk", "wales", "england"]), log: nil, quorum: nil).quorum == "members")
    }

    @Test func aMemberCalledNoneIsRefusedWithTheReason() throws {
        let error = #expect(throws: CLIError.self) { try PolicyCommand.policy(try federation(["uk", "none", "wales"]), log: nil, quorum: nil) }
        #expect(error.map { "\($0)" }?.contains("reserves") == true)
    }
}

/// `verify-checkpoint --max-age`: how late the quorum's witnesses had seen no larger tree,
/// against the reader's clock.
@Suite struct MaxAgeTests {
    @Test func anOldOrFarFutureQuorumTimeIsRefusedAndAFreshOneTaken() {
        let now: UInt64 = 1_764_000_000
        #expect(VerifyCheckpointCommand.ageRefusal(quorumTime: now - 3600, now: now, maxAge: 3600) == nil)
        #expect(VerifyCheckpointCommand.ageRefusal(quorumTime: now - 3601, now: now, maxAge: 3600)?.contains("more than --max-age 3600 s") == true)
        #expect(VerifyCheckpointCommand.ageRefusal(quorumTime: now + 60, now: now, maxAge: 0) == nil, "a witness's clock a little fast")
        #expect(VerifyCheckpointCommand.ageRefusal(quorumTime: now + 601, now: now, maxAge: 3600)?.contains("ahead of this clock") == true)
        #expect(VerifyCheckpointCommand.ageRefusal(quorumTime: UInt64.max, now: now, maxAge: UInt64.max)?.contains("ahead") == true)
        #expect(VerifyCheckpointCommand.ageRefusal(quorumTime: nil, now: now, maxAge: 3600) != nil)
    }
}
