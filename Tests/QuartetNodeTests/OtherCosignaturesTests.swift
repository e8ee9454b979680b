@testable import QuartetNode
import Testing

/// The reads of the other members' checkpoints (`OtherCosignatures`): each member's on its own,
/// a member whose read is under way (slow, or black-holing the connection) not read again until
/// it ends, and the others read at every refresh meanwhile.
@Suite struct OtherCosignaturesInFlightTests {
    @Test func aMemberWhoseReadIsUnderWayIsSkippedAndTheOthersAreRead() {
        var inFlight = OtherCosignatures.InFlight()
        #expect(inFlight.start(["england", "scotland", "uk"]) == ["england", "scotland", "uk"])
        inFlight.end("england")
        inFlight.end("uk")
        // Scotland's read has not ended (its node does not answer): the others are read again.
        #expect(inFlight.start(["england", "scotland", "uk"]) == ["england", "uk"])
        #expect(inFlight.start(["england", "scotland", "uk"]) == [])
        inFlight.end("scotland")
        #expect(inFlight.start(["england", "scotland", "uk", "northern-ireland"]) == ["scotland", "northern-ireland"])
        #expect(inFlight.members == ["england", "scotland", "uk", "northern-ireland"])
    }
}
