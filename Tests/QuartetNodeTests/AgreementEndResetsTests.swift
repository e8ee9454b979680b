@testable import QuartetNode
import Testing

/// Finding 286: an ended agreement resets the connections to its recipients that still have
/// frames queued, at most once per peer per spacing; staggered ends cannot keep a peer
/// reconnecting, and a peer that keeps up is never reset.
@Suite struct AgreementEndResetsTests {
    @Test func onlyAQueuedPeerIsResetAndAtMostOncePerSpacing() {
        var resets = AgreementEndResets()
        let start = ContinuousClock.now
        #expect(resets.decide("uk", queued: 0, at: start) == .skip, "nothing queued: nothing to drop")
        #expect(resets.decide("uk", queued: 10, at: start) == .now)
        // An end two seconds later waits for the spacing's end; a third meanwhile adds nothing.
        #expect(resets.decide("uk", queued: 10, at: start + .seconds(2)) == .after(.seconds(3)))
        #expect(resets.decide("uk", queued: 10, at: start + .seconds(3)) == .skip)
        // Another peer is decided on its own.
        #expect(resets.decide("england", queued: 1, at: start + .seconds(3)) == .now)
        // The wait over: reset then if frames are still queued, not if the peer took them.
        resets.waited("uk")
        #expect(resets.decide("uk", queued: 0, at: start + .seconds(5)) == .skip)
        #expect(resets.decide("uk", queued: 4, at: start + .seconds(5)) == .now)
        #expect(resets.decide("uk", queued: 4, at: start + .seconds(11)) == .now, "past the spacing: at once")
    }
}
