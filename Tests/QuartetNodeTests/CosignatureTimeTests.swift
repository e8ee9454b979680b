import Foundation
@testable import QuartetNode
import QuartetCrypto
import QuartetLedger
import Testing

/// The times a witness's cosignature may carry, against the checkpoint's signing time: both
/// are chosen by others (a witness, a log), so the extremes must refuse, never trap or pass.
@Suite struct CosignatureTimeTests {
    @Test func aCosignatureMayNotBeDatedWellBeforeItsCheckpoint() {
        let skew = WitnessCollector.maxClockSkewSeconds
        let signed: UInt64 = 1_764_000_000_000
        #expect(WitnessCollector.datedAfterSigning(signed / 1000, signedMillis: signed))
        #expect(WitnessCollector.datedAfterSigning(signed / 1000 + 5, signedMillis: signed))
        #expect(WitnessCollector.datedAfterSigning(signed / 1000 - skew, signedMillis: signed))
        #expect(!WitnessCollector.datedAfterSigning(signed / 1000 - skew - 1, signedMillis: signed))
        #expect(!WitnessCollector.datedAfterSigning(0, signedMillis: signed))
        // Values a hostile peer picks: no overflow, the answer still right.
        #expect(WitnessCollector.datedAfterSigning(UInt64.max, signedMillis: signed))
        #expect(!WitnessCollector.datedAfterSigning(0, signedMillis: UInt64.max))
        #expect(WitnessCollector.datedAfterSigning(UInt64.max, signedMillis: UInt64.max))
    }

    /// A quiet log's witnesses are asked to cosign its newest checkpoint again once their
    /// cosignature is `recosignSeconds` old (so `verify-checkpoint --max-age` tells a quiet log
    /// from an old checkpoint served) — and at most once per that period on the monotonic clock,
    /// whatever times they answer with (a witness whose clock is behind, or a replayed old line,
    /// must not be asked in a loop).
    @Test func aQuietLogsWitnessesAreAskedAgainOncePerPeriodWhateverTheirTimes() {
        let wall: UInt64 = 1_764_000_000, age = UInt64(WitnessCollector.recosignSeconds)
        let now = ContinuousClock.now
        typealias W = WitnessCollector.Witness
        #expect(!WitnessCollector.due(W(cosigned: 5, cosignedTime: wall - age + 1), round: 5, newest: 5, wall: wall, now: now), "fresh")
        #expect(WitnessCollector.due(W(cosigned: 5, cosignedTime: wall - age), round: 5, newest: 5, wall: wall, now: now), "old: asked again")
        #expect(!WitnessCollector.due(W(cosigned: 5, cosignedTime: wall - age), round: 5, newest: 6, wall: wall, now: now), "a newer checkpoint's round comes instead")
        #expect(!WitnessCollector.due(W(cosigned: 5), round: 5, newest: 5, wall: wall, now: now), "no time known")
        #expect(!WitnessCollector.due(W(cosigned: 5, cosignedTime: UInt64.max), round: 5, newest: 5, wall: wall, now: now), "a time ahead does not wrap")
        // Asked a moment ago, and answered with a time as old as before (a clock behind): not again
        // until the period has passed on this node's own clock.
        var asked = W(cosigned: 5, cosignedTime: 0)
        asked.recosignAsked = now - .seconds(5)
        #expect(!WitnessCollector.due(asked, round: 5, newest: 5, wall: wall, now: now))
        asked.recosignAsked = now - .seconds(WitnessCollector.recosignSeconds)
        #expect(WitnessCollector.due(asked, round: 5, newest: 5, wall: wall, now: now))
    }

    /// A wall clock set back (a day) keeps every cosignature "new" by it: the witnesses are asked
    /// again once their answer arrived a period ago on the monotonic clock, or a quiet log's
    /// freshness lapses at every reader's `--max-age` for the day (finding 289).
    @Test func aClockSetBackDoesNotStopAQuietLogsWitnessesBeingAskedAgain() {
        let wall: UInt64 = 1_764_000_000
        let now = ContinuousClock.now
        var w = WitnessCollector.Witness(cosigned: 5, cosignedTime: wall + 86_400)
        w.cosignedAt = now - .seconds(WitnessCollector.recosignSeconds - 1)
        #expect(!WitnessCollector.due(w, round: 5, newest: 5, wall: wall, now: now), "arrived less than a period ago")
        w.cosignedAt = now - .seconds(WitnessCollector.recosignSeconds)
        #expect(WitnessCollector.due(w, round: 5, newest: 5, wall: wall, now: now), "arrived a period ago: asked again")
        w.recosignAsked = now - .seconds(5)
        #expect(!WitnessCollector.due(w, round: 5, newest: 5, wall: wall, now: now), "still once per period")
    }

    /// A request to cosign the same size again that fails (the witness down a moment, a
    /// timeout) is tried again after the back-off, not a whole period later: a quiet log's
    /// `--max-age` would otherwise want twice the period.
    @Test func aFailedRecosignIsTriedAgainAfterTheBackOffNotAPeriodLater() {
        let wall: UInt64 = 1_764_000_000, age = UInt64(WitnessCollector.recosignSeconds)
        let now = ContinuousClock.now
        var w = WitnessCollector.Witness(cosigned: 5, cosignedTime: wall - age)
        #expect(WitnessCollector.due(w, round: 5, newest: 5, wall: wall, now: now))
        w.recosignAsked = now
        #expect(!WitnessCollector.due(w, round: 5, newest: 5, wall: wall, now: now + .seconds(2)), "asked: not again at once")
        w.failed(WitnessCollector.WitnessFailure(message: "timed out"), now: now + .seconds(1), recosign: true)
        #expect(w.retryAt == now + .seconds(2), "the first back-off is 1 s")
        #expect(WitnessCollector.due(w, round: 5, newest: 5, wall: wall, now: now + .seconds(2)), "due again once the back-off ends")
        // The back-off still grows: no tight loop against a witness that keeps failing, even
        // one answering 503 (its copy behind) with a short retry each time.
        for _ in 0..<10 { w.failed(WitnessCollector.WitnessFailure(message: "copy behind", retryAfter: .milliseconds(500)), now: now, recosign: true) }
        #expect(w.retryAt == now + .seconds(60))
        // A round's request (the witness behind) after a 503 is asked again soon, as before.
        var behind = WitnessCollector.Witness(cosigned: 4)
        behind.failed(WitnessCollector.WitnessFailure(message: "copy behind", retryAfter: .milliseconds(500)), now: now)
        #expect(behind.retryAt == now + .milliseconds(500))
    }

    /// The one rule both the log's answers and the other logs' cosigned checkpoints go by.
    @Test func aCosignatureDatedAheadOfTheClockOrBeforeSigningIsRefused() {
        let skew = WitnessCollector.maxClockSkewSeconds, now: UInt64 = 1_764_000_100
        let signed: UInt64 = 1_764_000_000_000
        #expect(WitnessCollector.dateRefusal(now, signedMillis: signed, now: now) == nil)
        #expect(WitnessCollector.dateRefusal(now + skew, signedMillis: signed, now: now) == nil)
        #expect(WitnessCollector.dateRefusal(now + skew + 1, signedMillis: signed, now: now)?.contains("ahead of this node's clock") == true)
        #expect(WitnessCollector.dateRefusal(UInt64.max, signedMillis: signed, now: now)?.contains("ahead") == true)
        #expect(WitnessCollector.dateRefusal(signed / 1000 - skew - 1, signedMillis: signed, now: now)?.contains("before the checkpoint was signed") == true)
        // A log whose clock ran a day fast once dates its checkpoints a day ahead; honest
        // witnesses date their cosignatures by their own clocks: taken, bounded by this node's
        // clock instead (a 1970 date still refused).
        let ahead = (now + 86_400) * 1000
        #expect(WitnessCollector.dateRefusal(now, signedMillis: ahead, now: now) == nil)
        #expect(WitnessCollector.dateRefusal(now - skew, signedMillis: ahead, now: now) == nil)
        #expect(WitnessCollector.dateRefusal(now - skew - 1, signedMillis: ahead, now: now)?.contains("before the checkpoint was signed") == true)
        #expect(WitnessCollector.dateRefusal(0, signedMillis: UInt64.max, now: now) != nil)
        // A checkpoint without a signing time: only the clock bounds it.
        #expect(WitnessCollector.dateRefusal(0, signedMillis: nil, now: now) == nil)
    }

    /// A witness's answer as checked where it arrives (off the collector's queue): only a line
    /// by the member's witness key that verifies and is dated within the skew is a cosignature.
    @Test func aWitnessAnswerIsACosignatureOnlyByItsKeyVerifiedAndInDate() throws {
        let origin = "example.org/wales"
        let log = try NoteSigner(name: origin, key: Ed25519PrivateKey())
        let now = UInt64(Date().timeIntervalSince1970)
        let checkpoint = Checkpoint(origin: origin, size: 7, root: (try Hash([UInt8](repeating: 3, count: 32))), timeMillis: now * 1000)
        let note = try log.sign(checkpoint)
        let witness = try CosignatureSigner(name: "example.org/england/witness", key: Ed25519PrivateKey())
        let other = try CosignatureSigner(name: "example.org/england/witness", key: Ed25519PrivateKey())
        let member = Federation.Member(id: "england", role: .nation, peer: HostPort(host: "127.0.0.1", port: 1), api: "https://127.0.0.1:2",
                                       log: "england", verifier: NoteVerifier(name: "example.org/england", publicKey: try Ed25519PrivateKey().publicKey),
                                       witness: witness.verifier)
        func check(_ status: Int, _ body: String, member: Federation.Member = member) -> WitnessCollector.Checked {
            WitnessCollector.check(member, note: note, signedMillis: checkpoint.timeMillis, status: status, answer: Data(body.utf8))
        }
        let line = try witness.cosign(body: note.text, time: now).line
        #expect(check(200, line + "\n") == .cosigned(line: line, time: now))
        // Beside another key's line, the member's is found.
        let stranger = try other.cosign(body: note.text, time: now).line
        #expect(check(200, stranger + "\n" + line + "\n") == .cosigned(line: line, time: now))
        // Another key under the same name (its key id differs), a line of another body, a
        // signature altered, a date past the skew, no witness key listed: refused.
        #expect(check(200, stranger + "\n").isFailure)
        #expect(check(200, try witness.cosign(body: "example.org/wales\n8\n" + (try Hash([UInt8](repeating: 3, count: 32))).base64 + "\n", time: now).line + "\n").isFailure)
        var bytes = Array(line.utf8)
        bytes[bytes.count - 5] = bytes[bytes.count - 5] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        #expect(check(200, String(decoding: bytes, as: UTF8.self) + "\n").isFailure)
        #expect(check(200, try witness.cosign(body: note.text, time: now + WitnessCollector.maxClockSkewSeconds + 60).line + "\n").isFailure)
        // Refused for its date, but verified: its time is still the witness's signed word on the
        // clock (`ClockCheck`, finding 289) — a clock far off is the case to tell.
        let ahead = now + WitnessCollector.maxClockSkewSeconds + 60
        guard case .misdated(_, let time) = check(200, try witness.cosign(body: note.text, time: ahead).line + "\n") else {
            Issue.record("a verified cosignature dated beyond the skew is not told apart")
            return
        }
        #expect(time == ahead)
        guard case .failed = check(200, String(decoding: bytes, as: UTF8.self) + "\n") else {
            Issue.record("a signature that does not verify gives no time")
            return
        }
        var unlisted = member
        unlisted.witness = nil
        #expect(check(200, line + "\n", member: unlisted).isFailure)
        #expect(check(200, "not a signature line\n").isFailure)
        // A 409 names the size held, or fails; other statuses fail.
        #expect(check(409, "5\n") == .holds(5))
        #expect(check(409, "five\n").isFailure)
        #expect(check(500, "the witness cannot store its state\n").isFailure)
    }

    /// A line read from a witness or a log's node is kept with the note it is over when the copy
    /// holds another note of the same tree at that size (a log can sign two, at other times), so
    /// `?cosigned-by` serves it over the note it verifies against; over the copy's own note,
    /// nothing more is kept; a note no trusted key signed is not kept at all.
    @Test func aLineIsKeptWithItsNoteWhenTheCopyHoldsAnotherOfTheSameTree() throws {
        let origin = "example.org/wales"
        let key = try NoteSigner(name: origin, key: Ed25519PrivateKey())
        let root = try Hash([UInt8](repeating: 9, count: 32))
        let copy = try key.sign(Checkpoint(origin: origin, size: 5, root: root, timeMillis: 1_000))
        let other = try key.sign(Checkpoint(origin: origin, size: 5, root: root, timeMillis: 2_000))
        let stranger = try NoteSigner(name: origin, key: Ed25519PrivateKey())
        // The copy's own note (with more lines beside the log's): nothing to keep with the line.
        let withLines = SignedNote(text: copy.text, signatures: copy.signatures + (try stranger.sign(text: copy.text)).signatures)
        let same = try #require(OtherCosignatures.noteKept(withLines, verifiedBy: [key.verifier], copyNote: copy.serialized))
        #expect(same.checkpoint.size == 5 && same.note == nil)
        // Another note of the same tree: kept, with the log's line alone.
        let kept = try #require(OtherCosignatures.noteKept(SignedNote(text: other.text, signatures: (try stranger.sign(text: other.text)).signatures + other.signatures),
                                                           verifiedBy: [key.verifier], copyNote: copy.serialized))
        #expect(kept.note == other.serialized)
        // No note held at that size: kept with the line too.
        #expect(OtherCosignatures.noteKept(other, verifiedBy: [key.verifier], copyNote: nil)?.note == other.serialized)
        // Signed by no trusted key.
        #expect(OtherCosignatures.noteKept(try stranger.sign(text: other.text), verifiedBy: [key.verifier], copyNote: copy.serialized) == nil)
    }

    /// A witness's line is found behind a line claiming its key (anyone passing a note on may add
    /// one), but only among the first `linesTried` such lines: a note full of them costs that many
    /// checks, no more.
    @Test func aWitnessLineIsFoundBehindAJunkLineOfItsKeyWithinTheLinesTried() throws {
        let text = "example.org/wales\n5\n" + (try Hash([UInt8](repeating: 2, count: 32))).base64 + "\n"
        let witness = try CosignatureSigner(name: "example.org/uk/witness", key: Ed25519PrivateKey())
        let real = try witness.cosign(body: text, time: 1_764_000_000)
        var junk = real
        junk.signature[20] ^= 0xFF
        func found(_ lines: [SignedNote.Signature]) -> UInt64? { OtherCosignatures.verifiedLine(SignedNote(text: text, signatures: lines), by: witness.verifier)?.1 }
        #expect(found([real]) == 1_764_000_000)
        #expect(found([junk, real]) == 1_764_000_000)
        #expect(found([junk]) == nil)
        #expect(found(Array(repeating: junk, count: OtherCosignatures.linesTried) + [real]) == nil)
    }

    @Test func theDefaultQuorumIsAMajority() {
        #expect([1, 2, 3, 4, 5].map(WitnessPolicy.majority(of:)) == [1, 2, 2, 3, 3])
    }

    /// "Witnessed by k of n" counts a kept line only if it is under the key listed for its
    /// witness now (finding 72): not a line under a key since replaced, nor one of a witness no
    /// longer listed, nor another witness's line filed under this one's id.
    @Test func onlyLinesUnderTheWitnessKeysListedNowAreCounted() throws {
        let body = "example.org/wales\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
        let old = try CosignatureSigner(name: "england-witness", key: Ed25519PrivateKey())
        let new = try CosignatureSigner(name: "england-witness", key: Ed25519PrivateKey())
        let scotland = try CosignatureSigner(name: "scotland-witness", key: Ed25519PrivateKey())
        func line(_ signer: CosignatureSigner) throws -> (line: String, time: UInt64) { (try signer.cosign(body: body, time: 1_764_000_000).line, 1_764_000_000) }
        let keys = ["england": new.verifier, "scotland": scotland.verifier]
        // Both under the keys listed now: both count.
        #expect(WitnessCollector.underListedKeys(["england", "scotland"], lines: ["england": try line(new), "scotland": try line(scotland)], keys: keys) == ["england", "scotland"])
        // England's line under its replaced key (same name, another key id): not counted.
        #expect(WitnessCollector.underListedKeys(["england", "scotland"], lines: ["england": try line(old), "scotland": try line(scotland)], keys: keys) == ["scotland"])
        // Scotland's line kept under England's id: not England's.
        #expect(WitnessCollector.underListedKeys(["england"], lines: ["england": try line(scotland)], keys: keys).isEmpty)
        // A witness no longer listed (no key), and a line that is not a signature line.
        #expect(WitnessCollector.underListedKeys(["wales"], lines: ["wales": try line(new)], keys: keys).isEmpty)
        #expect(WitnessCollector.underListedKeys(["england"], lines: ["england": ("not a line", 1)], keys: keys).isEmpty)
    }
}

extension WitnessCollector.Checked {
    var isFailure: Bool {
        switch self {
        case .failed, .misdated: true
        default: false
        }
    }
}
