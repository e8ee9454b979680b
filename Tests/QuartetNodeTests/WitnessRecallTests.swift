import Foundation
import QuartetCrypto
import QuartetLedger
@testable import QuartetNode
import Testing

/// The answers a restored witness waits for before it cosigns a log again (`WitnessRecall`).
@Suite struct WitnessRecallTests {
    /// Answers count only from the members there are now: a reload that removed a member who
    /// answered leaves the log waiting for another answer, and a federation left with fewer peers
    /// than the answers asked waits for all of them.
    @Test func onlyAnswersOfTheMembersInForceOpenALog() {
        let recall = WitnessRecall(required: 2)
        let origin = "example.org/wales"
        #expect(recall.refusal(origin: origin, peers: ["england", "scotland", "uk"])?.contains("0 of the 2") == true)
        recall.heard(origin: origin, from: "england")
        recall.heard(origin: origin, from: "scotland")
        recall.heard(origin: origin, from: "scotland")
        #expect(recall.refusal(origin: origin, peers: ["england", "scotland", "uk"]) == nil)
        // Scotland removed by a reload: its answer no longer counts.
        #expect(recall.refusal(origin: origin, peers: ["england", "uk"])?.contains("1 of the 2") == true)
        // One peer left: its answer is all there is to wait for.
        #expect(recall.refusal(origin: origin, peers: ["england"]) == nil)
        #expect(recall.refusal(origin: origin, peers: ["uk"])?.contains("0 of the 1") == true)
        // Another log has heard nothing; a recall asking for none opens every log.
        #expect(recall.refusal(origin: "example.org/england", peers: ["england", "scotland", "uk"]) != nil)
        #expect(WitnessRecall(required: 0).refusal(origin: origin, peers: ["england"]) == nil)
    }

    /// An answer counts for the member as the file has it now: one removed and added again under
    /// its id with another log key (or API address) must answer again (finding 169).
    @Test func aMemberAddedAgainWithOtherKeysAnswersAgain() throws {
        func member(_ id: String, key: Ed25519PrivateKey, api: String) throws -> Federation.Member {
            let object: [String: Any] = ["federation": "quartet-test", "version": 1, "nodes": [
                ["id": id, "role": "nation", "peer": "\(id).example:7401", "api": api,
                 "vkey": NoteVerifier(name: "quartet.test/\(id)", publicKey: key.publicKey).vkey],
                ["id": "uk", "role": "aggregator", "peer": "uk.example:7400", "api": "https://uk.example:8400",
                 "vkey": NoteVerifier(name: "quartet.test/uk", publicKey: try Ed25519PrivateKey().publicKey).vkey]]]
            return try #require(try Federation.parse(try JSONSerialization.data(withJSONObject: object), file: "federation.json").member(id))
        }
        let key = try Ed25519PrivateKey()
        let before = try member("scotland", key: key, api: "https://scotland.example:8401")
        let recall = WitnessRecall(required: 1)
        let origin = "example.org/wales"
        recall.heard(origin: origin, from: WitnessRecall.answerer(before))
        #expect(recall.refusal(origin: origin, peers: [WitnessRecall.answerer(before)]) == nil)
        #expect(WitnessRecall.answerer(try member("scotland", key: key, api: "https://scotland.example:8401")) == WitnessRecall.answerer(before))
        for again in [try member("scotland", key: try Ed25519PrivateKey(), api: "https://scotland.example:8401"),
                      try member("scotland", key: key, api: "https://scotland.example:9401")] {
            #expect(recall.refusal(origin: origin, peers: [WitnessRecall.answerer(again)])?.contains("0 of the 1") == true)
        }
    }
}
