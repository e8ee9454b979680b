import Foundation
import QuartetLedger
import QuartetReplication
import QuartetStore

extension WitnessCollector {
    /// A witness's answer as checked where it arrived, with no state of the collector.
    enum Checked: Equatable {
        /// A cosignature line by the member's witness key that verifies, dated `time`.
        case cosigned(line: String, time: UInt64)
        /// 409 naming the size the witness holds.
        case holds(UInt64)
        case failed(String)
        /// A cosignature that verifies, dated beyond the skew (`dateRefusal`): refused, with its time.
        case misdated(String, time: UInt64)
        /// 503 because the witness's copy of the log has not caught up: asked again soon, not
        /// after a back-off. `holds`: the entries its copy holds, as its answer states them.
        case notYet(String, holds: UInt64?)
    }

    /// When a witness that answered 503 is asked again (`Checked.notYet`).
    static let notYetRetry = Duration.milliseconds(500)

    /// Checks a witness's answer to the request for `note`: for a 200, the cosignature line by
    /// `member`'s witness key must verify and be dated within the skew (`dateRefusal`); a 409
    /// must name a size. Pure (a signature verified): run off `queue`, in parallel.
    static func check(_ member: Federation.Member, note: SignedNote, signedMillis: UInt64?, status: Int, answer: Data) -> Checked {
        guard let verifier = member.witness else { return .failed("\(member.id) has no witness key") }
        let text = String(decoding: answer, as: UTF8.self)
        switch status {
        case 200:
            // The answer is signature lines; those of this member's witness key must verify.
            guard let cosigned = try? SignedNote(parsing: note.text + "\n" + text), let line = cosigned.signatures.first(where: verifier.owns) else {
                return .failed("witness \(member.id) answered without a cosignature by its key \(verifier.name)")
            }
            let time: UInt64
            do { time = try verifier.verify(line, body: note.text) } catch {
                return .failed("witness \(member.id): \(error.message)")
            }
            if let refusal = dateRefusal(time, signedMillis: signedMillis) {
                return .misdated("witness \(member.id) dated its cosignature \(time), \(refusal)", time: time)
            }
            return .cosigned(line: line.line, time: time)
        case 409:
            guard let held = Witnessing.decimal(Substring(text.hasSuffix("\n") ? String(text.dropLast()) : text)) else {
                return .failed("witness \(member.id) answered 409 without a size: \(PeerText.clean(String(text.prefix(200))))")
            }
            return .holds(held)
        case 503 where text.contains("fewer than the checkpoint's"):
            // Its copy of this log has not caught up (`Witnessing.copyGate`); other 503s (it
            // does not witness, it is still learning what it cosigned) back off as failures.
            return .notYet("witness \(member.id) answered 503: \(PeerText.clean(String(text.prefix(300))))", holds: copyHolds(text))
        default:
            return .failed("witness \(member.id) answered \(status): \(PeerText.clean(String(text.prefix(300))))")
        }
    }

    /// The entries a witness's copy holds, as its 503 states them (`Witnessing.copyGate`'s
    /// "… holds N entries, fewer than the checkpoint's M"); nil if the answer does not say.
    static func copyHolds(_ text: String) -> UInt64? {
        guard let end = text.range(of: " entries, fewer than the checkpoint's "),
              let start = text[..<end.lowerBound].range(of: " holds ", options: .backwards) else { return nil }
        return Witnessing.decimal(text[start.upperBound..<end.lowerBound])
    }

    /// A cosignature dated further ahead than this is refused.
    static let maxClockSkewSeconds: UInt64 = 600

    /// Why a cosignature dated `time` (POSIX seconds) is not believed, or nil: dated more than
    /// the allowed skew ahead of `now`, or before its checkpoint was signed (`signedMillis`, the
    /// checkpoint's `quartet-time`, if it has one) — or before `now`, where the log dated its
    /// checkpoint ahead of this node's clock: a log whose clock once ran fast stamps its
    /// checkpoints ahead until real time catches up (its times never go back), and honest
    /// witnesses date their cosignatures by their own clocks; bounded by its claimed time, every
    /// cosignature of that log was refused for the whole lead (a review found it). Every
    /// cosignature this node keeps, its own log's or another's, passes it.
    static func dateRefusal(_ time: UInt64, signedMillis: UInt64?, now: UInt64 = wallClockMillis() / 1000) -> String? {
        if time > now, time - now > maxClockSkewSeconds { return "more than \(maxClockSkewSeconds) s ahead of this node's clock" }
        let nowMillis = now > UInt64.max / 1000 ? UInt64.max : now * 1000
        if let signed = signedMillis.map({ min($0, nowMillis) }), !datedAfterSigning(time, signedMillis: signed) {
            return "more than \(maxClockSkewSeconds) s before the checkpoint was signed (\(signed / 1000))"
        }
        return nil
    }

    /// Whether a cosignature's `time` (POSIX seconds) is no earlier than the checkpoint's
    /// signing (its `quartet-time`, milliseconds) less the allowed skew: no witness cosigns a
    /// checkpoint before it was signed.
    static func datedAfterSigning(_ time: UInt64, signedMillis: UInt64) -> Bool {
        // No sum of two values a peer chose: neither can overflow into a pass (or a trap).
        let signed = signedMillis / 1000
        return time >= signed || signed - time <= maxClockSkewSeconds
    }
}
