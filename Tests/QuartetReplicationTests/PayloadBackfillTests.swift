import QuartetReplication
import Testing

/// Asking peers for the payloads of own-log stubs (`PayloadBackfill`), without IO: one request
/// at a time, each peer through the end of the stubs, and what no peer filled is lost.
@Suite struct PayloadBackfillTests {
    @Test func eachPeerIsAskedFromItsNextStubAndWhatNoPeerHoldsIsLost() {
        var state = PayloadBackfill(log: "wales", stubs: [40, 5, 900, 41, 5])
        let peers = ["england", "uk"]
        #expect(state.lost == [5, 40, 41, 900])
        let first = state.next(peers: peers)
        #expect(first == .init(peer: "england", from: 5))
        // One request at a time.
        #expect(state.next(peers: peers) == nil)
        #expect(state.isAnswer(log: "wales", from: 5, peer: "england"))
        #expect(!state.isAnswer(log: "wales", from: 5, peer: "uk"))
        #expect(!state.isAnswer(log: "england", from: 5, peer: "england"))
        #expect(!state.isAnswer(log: "wales", from: 6, peer: "england"))

        // england's batch [5, 100) held 5 and 41 in full; it is asked on from the next stub.
        #expect(state.answered(end: 100, stored: [5, 41], peers: peers) == .init(peer: "england", from: 900))
        #expect(state.filled == ["england": 2])
        // It has nothing from 900: uk is asked from the first stub still missing.
        #expect(state.unavailable(peers: peers) == .init(peer: "uk", from: 40))
        // uk sends stubs only: nothing filled, asked on past its batch.
        #expect(state.answered(end: 64, stored: [], peers: peers) == .init(peer: "uk", from: 900))
        #expect(!state.finished(offered: peers))
        #expect(state.answered(end: 1_000, stored: [], peers: peers) == nil)
        #expect(state.finished(offered: peers))
        #expect(state.lost == [40, 900])
    }

    /// A peer that stays connected and never answers holds the backfill only for
    /// `patienceRounds` rounds; then the next peer is asked, and a late answer is not taken.
    @Test func aPeerThatNeverAnswersIsGivenUpAfterItsRounds() {
        var state = PayloadBackfill(log: "wales", stubs: [7, 8])
        let peers = ["england", "uk"]
        #expect(state.tick(peers: peers) == .init(peer: "england", from: 7))
        for _ in 1..<PayloadBackfill.patienceRounds { #expect(state.tick(peers: peers) == nil) }
        #expect(state.silent.isEmpty && !state.finished(offered: peers))
        #expect(state.tick(peers: peers) == .init(peer: "uk", from: 7))
        #expect(state.silent == ["england"])
        #expect(!state.isAnswer(log: "wales", from: 7, peer: "england"), "england's late answer is not the backfill's")
        // uk answers within its rounds: its clock starts afresh with each request.
        #expect(state.tick(peers: peers) == nil)
        #expect(state.answered(end: 8, stored: [7], peers: peers) == .init(peer: "uk", from: 8))
        for _ in 1..<PayloadBackfill.patienceRounds { #expect(state.tick(peers: peers) == nil) }
        #expect(state.answered(end: 9, stored: [8], peers: peers) == nil)
        #expect(state.finished(offered: peers) && state.lost.isEmpty)
    }

    /// A member answering each request just in time with one entry that fills nothing: its
    /// patience is counted over all its requests too, so it is given up after
    /// `patienceInAllRounds` in all (per request only, it held the backfill ~8 s a stub, and
    /// every `quartet recover` failed); one that answers at once is asked on.
    @Test func aPeerDrippingAnswersThatFillNothingIsGivenUpOnItsRoundsInAll() {
        var state = PayloadBackfill(log: "wales", stubs: Array(10...60))
        let peers = ["england", "uk"]
        #expect(state.next(peers: peers) == .init(peer: "england", from: 10))
        var from: UInt64 = 10
        var rounds = 0
        // Each answer just inside a request's own patience, one entry, nothing filled.
        while rounds + PayloadBackfill.patienceRounds - 1 < PayloadBackfill.patienceInAllRounds {
            for _ in 1..<PayloadBackfill.patienceRounds { #expect(state.tick(peers: peers) == nil) }
            rounds += PayloadBackfill.patienceRounds - 1
            from += 1
            #expect(state.answered(end: from, stored: [], peers: peers) == .init(peer: "england", from: from))
        }
        // The rounds in all run out on the next request: uk is asked, england named slow (not silent).
        var next: PayloadBackfill.Ask?
        while next == nil { next = state.tick(peers: peers) }
        #expect(next == .init(peer: "uk", from: 10))
        #expect(state.slow == ["england"] && state.silent.isEmpty && state.waitedInAll["england"] == PayloadBackfill.patienceInAllRounds)
        // uk fills as it goes: its rounds start afresh with each answer that fills.
        for i in 0..<8 {
            for _ in 1..<PayloadBackfill.patienceRounds { #expect(state.tick(peers: peers) == nil) }
            let at = UInt64(10 + i)
            #expect(state.answered(end: at + 1, stored: [at], peers: peers) == .init(peer: "uk", from: at + 1))
        }
        #expect(state.slow == ["england"] && state.filled["uk"] == 8)
    }

    @Test func aPeerThatDisconnectsIsAskedAgainWhenBackAndANewPeerIsAskedLater() {
        var state = PayloadBackfill(log: "wales", stubs: [7, 9])
        #expect(state.next(peers: ["uk"]) == .init(peer: "uk", from: 7))
        // uk goes away with the request: nobody else is connected yet. Not finished while it
        // may come back (`quartet recover` concluded at once, before it could reconnect).
        #expect(state.disconnected("uk", peers: []) == nil)
        #expect(!state.finished(offered: []) && state.away["uk"] == 0)
        // Back (a lossy link drops a connection now and then): asked again from where it was,
        // and it fills what it holds (was: done at the first drop, the stubs only it held lost).
        #expect(state.tick(peers: ["uk"]) == .init(peer: "uk", from: 7))
        #expect(state.away.isEmpty)
        #expect(state.answered(end: 8, stored: [7], peers: ["uk"]) == .init(peer: "uk", from: 9))
        // A connection replaced under the request: asked again at once on the new one; a peer
        // whose connection drops under every request is done at the third.
        #expect(state.disconnected("uk", peers: ["uk"]) == .init(peer: "uk", from: 9))
        #expect(state.disconnected("uk", peers: ["uk"]) == nil)
        #expect(state.done.contains("uk") && state.dropped["uk"] == PayloadBackfill.maxDisconnects)
        // A peer with no request outstanding is not done when it goes.
        #expect(state.disconnected("scotland", peers: ["uk"]) == nil && !state.done.contains("scotland"))
        // One that does not come back is awaited for the patience rounds, then finishes it.
        var waiting = PayloadBackfill(log: "wales", stubs: [3])
        _ = waiting.next(peers: ["wales-peer"])
        _ = waiting.disconnected("wales-peer", peers: [])
        for _ in 1..<PayloadBackfill.patienceRounds { #expect(waiting.tick(peers: []) == nil && !waiting.finished(offered: [])) }
        #expect(waiting.tick(peers: []) == nil && waiting.finished(offered: []) && waiting.lapsedNow == ["wales-peer"] && waiting.lost == [3])
        // england connects: asked at the next round; it fills the stub.
        #expect(state.next(peers: ["england", "uk"]) == .init(peer: "england", from: 9))
        #expect(!state.finished(offered: ["england"]))
        #expect(state.answered(end: 10, stored: [9], peers: ["england"]) == nil)
        #expect(state.finished(offered: ["england"]) && state.lost.isEmpty)
        // Nothing more is asked once nothing is missing.
        #expect(state.next(peers: ["scotland"]) == nil)
    }

    @Test func indicesAStoreDidNotFillStayMissingEvenIfAPeerClaimsThem() {
        var state = PayloadBackfill(log: "wales", stubs: [3])
        _ = state.next(peers: ["uk"])
        // The store reports what it filled; an index that was never a stub counts for nothing.
        _ = state.answered(end: 10, stored: [4], peers: ["uk"])
        #expect(state.lost == [3] && state.filled.isEmpty)
        #expect(state.finished(offered: ["uk"]))
    }
}
