import Synchronization

/// Who may have add-checkpoint requests in the witness's hands at once, and how often. Every
/// request is parsed and its signature checked (~0.4 ms here) in turn, ahead of the members'
/// own: unbounded, one reader token sending forged checkpoints on a few hundred connections put
/// 40–200 ms ahead of every member's answer (the federation's quorum waits for them). Each
/// member node (its certificate) has lanes of its own — a log's node has one request out to
/// each witness at a time — and everyone else shares one; each lane is rate-limited as well,
/// so a member flooding its lanes costs the others a few of its requests' time at most. A
/// request beyond them is answered 429 before any of its work is done.
final class WitnessLanes: Sendable {
    enum Lane: Hashable, Sendable {
        /// A federation member's node, by member id.
        case member(String)
        /// Any other caller: readers, auditors, operators.
        case others
    }

    struct Limits: Sendable {
        /// Requests in the witness's hands at once.
        var inFlight: Int
        /// Requests a second, as a bucket of this size refilled at this rate.
        var perSecond: Double
    }

    /// A member's node: one request per round (at most 20 rounds a second), a resend after a
    /// 409, a re-cosign of a quiet log.
    static let member = Limits(inFlight: 2, perSecond: 100)
    /// Everyone else, together: the spec lets anyone submit, and nothing of the federation's
    /// own witnessing comes this way.
    static let others = Limits(inFlight: 1, perSecond: 10)

    private struct Bucket {
        var inFlight = 0
        var tokens: Double
        var at: ContinuousClock.Instant
    }

    private let buckets = Mutex<[Lane: Bucket]>([:])
    private let clock: @Sendable () -> ContinuousClock.Instant

    init(clock: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.clock = clock
    }

    static func limits(_ lane: Lane) -> Limits {
        if case .member = lane { return member }
        return others
    }

    /// Takes a place in `lane`, or false (answer 429). Each `true` needs one `leave`.
    func enter(_ lane: Lane) -> Bool {
        let now = clock()
        let limits = Self.limits(lane)
        return buckets.withLock { buckets in
            var b = buckets[lane] ?? Bucket(tokens: limits.perSecond, at: now)
            let elapsed = Double((now - b.at).components.seconds) + Double((now - b.at).components.attoseconds) / 1e18
            b.tokens = min(limits.perSecond, b.tokens + max(0, elapsed) * limits.perSecond)
            b.at = now
            guard b.inFlight < limits.inFlight, b.tokens >= 1 else {
                buckets[lane] = b
                return false
            }
            b.tokens -= 1
            b.inFlight += 1
            buckets[lane] = b
            return true
        }
    }

    func leave(_ lane: Lane) {
        buckets.withLock { $0[lane]?.inFlight -= 1 }
    }
}
