import Foundation
import QuartetLedger

extension WitnessCollector {
    struct Witness: Sendable {
        /// The size this witness last cosigned, as far as this node knows (nil: not asked yet).
        var cosigned: UInt64?
        /// The witness key all of this is about: the member's listed key when it was last asked
        /// (or, at a start, the key whose line is kept). A member listed under another key
        /// since (restored with a new witness key) is a new witness: what the old key cosigned
        /// says nothing of the new one (`WitnessCollector.startRound`).
        var key: CosignatureVerifier?
        var inFlight = false
        var failures = 0
        var retryAt: ContinuousClock.Instant?
        var lastError: String?
        /// When its newest cosignature of this log was made (POSIX seconds).
        var cosignedTime: UInt64?
        /// When the answer carrying `cosignedTime` arrived, on this node's monotonic clock (nil:
        /// known from the store at a start): when to ask it again whatever the wall clock does
        /// (`due`).
        var cosignedAt: ContinuousClock.Instant?
        /// The time of its newest cosignature that verified, and when the answer arrived on the
        /// monotonic clock: its clock against this node's (`ClockCheck`). Kept also when the
        /// cosignature was refused for its date: a clock far off is the case to tell.
        var clockSample: ClockWatch.Reading?
        /// When it was last asked to cosign the size it holds again (`due`), on this node's
        /// monotonic clock: at most once per `recosignSeconds`, whatever the times say.
        var recosignAsked: ContinuousClock.Instant?
        /// When its request in flight was sent, and how long its last request took (a failure
        /// counts as `requestTimeout`): the slowest are the ones a round holds back.
        var askedAt: ContinuousClock.Instant?
        var lastLatency: Duration?

        /// The witness cosigned `size` (at `time`, POSIX seconds, when the answer carried one),
        /// the answer arriving at `now`. `lagging`: its 503 for the round's checkpoint, after
        /// which this was an older one its copy holds — the 503 stays its state (one failure,
        /// its message, asked again after `notYetRetry`) until it cosigns the round's; else
        /// its failures are over.
        mutating func cosigned(_ size: UInt64, time: UInt64?, now: ContinuousClock.Instant, lagging: WitnessFailure?) {
            cosigned = size
            if let time {
                cosignedTime = time
                cosignedAt = now
                clockSample = ClockWatch.Reading(signedSeconds: time, arrived: now)
            }
            if let lagging {
                failures = 1
                lastError = lagging.message
                retryAt = now + WitnessCollector.notYetRetry
            } else {
                failures = 0
                retryAt = nil
                lastError = nil
            }
        }

        /// A request to this witness failed at `now`: it is asked again after a back-off (1 s
        /// doubling to 60 s). A 503 (its copy not caught up yet) is asked again soon: backing off
        /// as for a witness that is down would keep one whose copy caught up a moment later out
        /// of the rounds for up to a minute. A failed request to cosign the same size again
        /// (`due`; `recosign`) does not count as asked: the back-off, not the whole
        /// `recosignSeconds`, says when it is tried again (a quiet log's cosignatures stayed a
        /// whole period older for one lost request) — the doubling one even after a 503, which
        /// would otherwise ask a witness whose copy stays behind twice a second for as long.
        /// A cosignature refused for its date still says the witness's time (`clockSample`).
        mutating func failed(_ failure: WitnessFailure, now: ContinuousClock.Instant, recosign: Bool = false) {
            if let time = failure.verifiedTime { clockSample = ClockWatch.Reading(signedSeconds: time, arrived: now) }
            failures += 1
            let delay = Duration.milliseconds(min(60_000, 1000 << min(failures - 1, 6)))
            retryAt = now + (recosign ? max(delay, failure.retryAfter ?? .zero) : failure.retryAfter ?? delay)
            lastError = failure.message
            if recosign { recosignAsked = nil }
        }
    }

    struct WitnessFailure: Error {
        var message: String
        /// When to ask again, if not after the usual back-off.
        var retryAfter: Duration?
        /// A cosignature that verified, refused for its date (POSIX seconds): still the witness's
        /// signed word on the time (`Witness.clockSample`).
        var verifiedTime: UInt64?
    }

}
