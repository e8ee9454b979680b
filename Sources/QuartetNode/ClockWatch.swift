import Logging
import QuartetPolicy
import QuartetStore
import Synchronization

/// This node's verdict on its own wall clock (`ClockCheck`), read by everything that decides by
/// the time whether restricted data may move: egress, ingress, the restricted-append guard and
/// purges hold while the clock disagrees with a majority of its witnesses (finding 289).
///
/// Judged at every read, not on a schedule: the witnesses' answers are kept with the monotonic
/// instant each arrived, so a step of the wall clock is seen by the first decision after it
/// (judged every few seconds, a purge or a send could act on a clock stepped a moment before).
/// A verdict that disagrees holds until the witnesses are heard to agree: answers that stop
/// coming (a partition, a port blocked) do not end it.
final class ClockWatch: Sendable {
    /// A witness's signed time and when the answer carrying it arrived.
    struct Reading: Sendable {
        var signedSeconds: UInt64
        var arrived: ContinuousClock.Instant
    }

    private struct State {
        var readings: [String: Reading] = [:]
        /// The last verdict that was not `unknown` held, if it disagreed (kept while no fresh
        /// answers say otherwise).
        var held: ClockCheck.Verdict?
        /// Whether the log last said restricted data is held.
        var toldHeld = false
        /// A verdict put in force by hand (tests).
        var fixed: ClockCheck.Verdict?
    }

    private let state = Mutex(State())
    private let logger: Logger?
    private let wall: @Sendable () -> UInt64
    private let monotonic: @Sendable () -> ContinuousClock.Instant

    init(logger: Logger? = nil, wall: @escaping @Sendable () -> UInt64 = wallClockMillis,
         monotonic: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.logger = logger
        self.wall = wall
        self.monotonic = monotonic
    }

    /// Keeps each witness's newest signed time (the collector, as answers arrive); witnesses
    /// not named are forgotten (a member the federation file no longer lists).
    func update(readings: [String: Reading]) {
        state.withLock { $0.readings = readings }
    }

    /// The verdict now.
    var current: ClockCheck.Verdict {
        let now = monotonic(), wallNow = wall()
        let (verdict, change) = state.withLock { s -> (ClockCheck.Verdict, Bool?) in
            var verdict: ClockCheck.Verdict
            if let fixed = s.fixed {
                verdict = fixed
            } else {
                let samples = s.readings.map { ClockCheck.Sample(witness: $0.key, signedSeconds: $0.value.signedSeconds,
                                                                 secondsSinceArrival: $0.value.arrived.duration(to: now).seconds) }
                verdict = ClockCheck.judge(wallMillis: wallNow, samples: samples)
                switch verdict {
                case .disagrees: s.held = verdict
                case .agrees: s.held = nil
                case .unknown: if let held = s.held { verdict = held }
                }
            }
            guard verdict.suspect != s.toldHeld else { return (verdict, nil) }
            s.toldHeld = verdict.suspect
            return (verdict, verdict.suspect)
        }
        if let held = change, let logger {
            if held {
                logger.error("restricted data is held: this node's clock disagrees with its witnesses", metadata: ["reason": "\(verdict.holdReason ?? "")"])
            } else {
                logger.notice("this node's clock agrees with its witnesses again: restricted data moves", metadata: [
                    "offset_seconds": "\(verdict.offsetSeconds.map { String(Int($0.rounded())) } ?? "unknown")"])
            }
        }
        return verdict
    }

    /// Why restricted data waits now (nil: it does not).
    var holdReason: String? { current.holdReason }

    /// Puts `verdict` in force whatever the witnesses say (nil: judged from them again). Tests.
    func fix(_ verdict: ClockCheck.Verdict?) {
        state.withLock { $0.fixed = verdict }
    }
}
