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
}
