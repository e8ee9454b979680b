import QuartetPolicy
import Testing

/// This node's clock against its witnesses' (finding 289), without IO: a majority of fresh
/// witnesses beyond the tolerance on one side makes it disagree; one witness cannot.
@Suite struct ClockCheckTests {
    let wall: UInt64 = 1_780_000_000_000
    var wallSeconds: UInt64 { wall / 1000 }

    func sample(_ witness: String, offset: Int64, since: Double = 3) -> ClockCheck.Sample {
        // A witness whose clock reads `wall − offset` now, its answer `since` seconds old.
        ClockCheck.Sample(witness: witness, signedSeconds: UInt64(Int64(wallSeconds) - offset - Int64(since)), secondsSinceArrival: since)
    }

    @Test func clocksWithinTheToleranceAgree() {
        let verdict = ClockCheck.judge(wallMillis: wall, samples: [sample("england", offset: 0), sample("scotland", offset: 2), sample("uk", offset: -29)])
        #expect(verdict == .agrees(offsetSeconds: 0, witnesses: 3))
        #expect(!verdict.suspect && verdict.holdReason == nil)
    }

    @Test func aClockSetBackOrRunFastDisagreesWithAMajority() throws {
        // Set back a day: every witness is a day ahead of it.
        let back = ClockCheck.judge(wallMillis: wall, samples: [sample("england", offset: -86_400), sample("scotland", offset: -86_401), sample("uk", offset: -86_399)])
        #expect(back == .disagrees(offsetSeconds: -86_400, witnesses: ["england", "scotland", "uk"]))
        #expect(try #require(back.holdReason).contains("86400 s behind its witnesses'"))
        // Run a year fast, two witnesses of three answering: a majority still.
        let fast = ClockCheck.judge(wallMillis: wall, samples: [sample("england", offset: 31_536_000), sample("scotland", offset: 31_536_000), sample("uk", offset: 0)])
        #expect(fast == .disagrees(offsetSeconds: 31_536_000, witnesses: ["england", "scotland"]))
        #expect(try #require(fast.holdReason).contains("31536000 s ahead of"))
        // Just past the tolerance, both of two.
        #expect(ClockCheck.judge(wallMillis: wall, samples: [sample("england", offset: 32), sample("scotland", offset: 40)]).suspect)
    }

    /// A witness with a wrong clock, or a lying one, cannot make the node hold alone; nor can
    /// two that disagree in opposite directions.
    @Test func oneWitnessCannotMakeTheNodeHold() {
        #expect(!ClockCheck.judge(wallMillis: wall, samples: [sample("england", offset: -86_400), sample("scotland", offset: 0), sample("uk", offset: 1)]).suspect)
        #expect(!ClockCheck.judge(wallMillis: wall, samples: [sample("england", offset: -86_400), sample("scotland", offset: 0)]).suspect)
        #expect(!ClockCheck.judge(wallMillis: wall, samples: [sample("england", offset: -86_400), sample("scotland", offset: 86_400), sample("uk", offset: 0)]).suspect)
        // Two of four is not a majority.
        #expect(!ClockCheck.judge(wallMillis: wall, samples: [sample("a", offset: 600), sample("b", offset: 600), sample("c", offset: 0), sample("d", offset: 0)]).suspect)
    }

    /// Too few fresh answers: no verdict, and nothing held (the node acts on its clock as
    /// before). An answer that arrived long ago says nothing of the clock now.
    @Test func staleOrTooFewAnswersGiveNoVerdict() {
        #expect(ClockCheck.judge(wallMillis: wall, samples: []) == .unknown(fresh: 0))
        #expect(ClockCheck.judge(wallMillis: wall, samples: [sample("england", offset: 86_400)]) == .unknown(fresh: 1))
        let stale = [sample("england", offset: 86_400, since: ClockCheck.freshSeconds + 1), sample("scotland", offset: 86_400, since: ClockCheck.freshSeconds + 1)]
        #expect(ClockCheck.judge(wallMillis: wall, samples: stale) == .unknown(fresh: 0))
        let broken = [sample("england", offset: 86_400, since: -1),
                      ClockCheck.Sample(witness: "scotland", signedSeconds: 0, secondsSinceArrival: .nan),
                      ClockCheck.Sample(witness: "uk", signedSeconds: 0, secondsSinceArrival: .infinity)]
        #expect(ClockCheck.judge(wallMillis: wall, samples: broken) == .unknown(fresh: 0))
        #expect(ClockCheck.judge(wallMillis: wall, samples: []).holdReason == nil)
    }

    /// The time since an answer arrived counts: a cosignature a witness made ten minutes ago,
    /// read now, is ten minutes behind this clock and agrees.
    @Test func theTimeSinceAnAnswerArrivedIsCounted() {
        let old = [ClockCheck.Sample(witness: "england", signedSeconds: wallSeconds - 600, secondsSinceArrival: 600),
                   ClockCheck.Sample(witness: "scotland", signedSeconds: wallSeconds - 601, secondsSinceArrival: 600)]
        #expect(ClockCheck.judge(wallMillis: wall, samples: old) == .agrees(offsetSeconds: 0.5, witnesses: 2))
        #expect(ClockCheck.judge(wallMillis: 0, samples: old).suspect)
        #expect(!ClockCheck.judge(wallMillis: UInt64.max, samples: [sample("england", offset: 0)]).suspect)
    }
}
