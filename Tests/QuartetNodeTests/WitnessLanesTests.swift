import Foundation
@testable import QuartetNode
import Synchronization
import Testing

/// The witness's lanes: each member node its own, everyone else one, each bounded in requests
/// in hand and a second, so no caller puts its requests ahead of the members' own.
@Suite struct WitnessLanesTests {
    @Test func eachLaneIsBoundedInHandAndInRateAndTheOthersShareOne() {
        let now = Mutex(ContinuousClock.now)
        let lanes = WitnessLanes(clock: { now.withLock { $0 } })
        // Everyone else: one in hand at once, whoever they are.
        #expect(lanes.enter(.others))
        #expect(!lanes.enter(.others), "a second stranger's request waits for the first")
        // Members are not held by the strangers, nor by each other.
        for _ in 0..<WitnessLanes.member.inFlight { #expect(lanes.enter(.member("wales"))) }
        #expect(!lanes.enter(.member("wales")), "a member has \(WitnessLanes.member.inFlight) lanes")
        #expect(lanes.enter(.member("england")))
        lanes.leave(.others)
        for _ in 0..<WitnessLanes.member.inFlight { lanes.leave(.member("wales")) }
        #expect(lanes.enter(.member("wales")), "a lane left is free again")
        lanes.leave(.member("wales"))
        lanes.leave(.member("england"))
        // Rate: the others' bucket holds 10 (one taken above); emptied, it refills at 10 a second.
        for _ in 1..<Int(WitnessLanes.others.perSecond!) {
            #expect(lanes.enter(.others))
            lanes.leave(.others)
        }
        #expect(!lanes.enter(.others), "11 in one instant")
        now.withLock { $0 += .milliseconds(100) }
        #expect(lanes.enter(.others), "one more 0.1 s later")
        lanes.leave(.others)
        #expect(!lanes.enter(.others))
        // A member is bounded by its requests in hand alone: a thousand in one instant, one at a time.
        for _ in 0..<1000 {
            #expect(lanes.enter(.member("scotland")))
            lanes.leave(.member("scotland"))
        }
    }

    /// A member whose requests the witness refuses (forgeries) spends a budget of its own; spent,
    /// its requests wait until it refills, other members unaffected (finding 275).
    @Test func aMembersRefusedRequestsSpendABudgetOfTheirOwn() throws {
        let now = Mutex(ContinuousClock.now)
        let lanes = WitnessLanes(clock: { now.withLock { $0 } })
        let rate = try #require(WitnessLanes.member.refusedPerSecond)
        for _ in 0..<Int(2 * rate) {
            #expect(lanes.take(.member("wales")) == nil)
            lanes.leave(.member("wales"), refused: true)
        }
        #expect(lanes.take(.member("wales")) == .refused, "the budget (twice a second's) is spent")
        #expect(lanes.take(.member("england")) == nil, "another member's lanes are its own")
        lanes.leave(.member("england"), refused: false)
        now.withLock { $0 += .milliseconds(100) }
        #expect(lanes.take(.member("wales")) == nil, "one more refusal's worth 0.1 s later")
        lanes.leave(.member("wales"), refused: true)
        #expect(lanes.take(.member("wales")) == .refused)
        // Requests cosigned (or answered 409) spend nothing.
        now.withLock { $0 += .seconds(2) }
        for _ in 0..<1000 {
            #expect(lanes.take(.member("wales")) == nil)
            lanes.leave(.member("wales"), refused: false)
        }
    }
}
