import Logging
import QuartetPolicy
import QuartetStore
import Synchronization

/// This node's verdict on its own wall clock (`ClockCheck`), judged again as its witnesses'
/// cosignatures arrive and every few seconds, and read by everything that decides by the time
/// whether restricted data may move: egress, ingress, the restricted-append guard and purges
/// hold while the clock disagrees with a majority of its witnesses (finding 289).
final class ClockWatch: Sendable {
    private let verdict = Mutex<ClockCheck.Verdict>(.unknown(fresh: 0))
    private let logger: Logger?

    init(logger: Logger? = nil) {
        self.logger = logger
    }

    /// The verdict last judged.
    var current: ClockCheck.Verdict { verdict.withLock { $0 } }

    /// Why restricted data waits now (nil: it does not).
    var holdReason: String? { current.holdReason }

    /// Judges the clock again from `samples`; says so in the log when it turns suspect or back.
    func update(samples: [ClockCheck.Sample], wallMillis: UInt64 = wallClockMillis()) {
        set(ClockCheck.judge(wallMillis: wallMillis, samples: samples))
    }

    /// Puts `next` in force (tests set a verdict directly).
    func set(_ next: ClockCheck.Verdict) {
        let previous = verdict.withLock { held in
            defer { held = next }
            return held
        }
        guard previous.suspect != next.suspect, let logger else { return }
        if let reason = next.holdReason {
            logger.error("restricted data is held: this node's clock disagrees with its witnesses", metadata: ["reason": "\(reason)"])
        } else {
            logger.notice("this node's clock agrees with its witnesses again: restricted data moves", metadata: [
                "offset_seconds": "\(next.offsetSeconds.map { String(Int($0.rounded())) } ?? "unknown")"])
        }
    }
}
