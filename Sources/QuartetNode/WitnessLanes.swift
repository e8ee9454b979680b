import Synchronization

/// Who may have add-checkpoint requests in the witness's hands at once, and how often. Every
/// request is parsed and its signature checked (~0.4 ms here) in turn, ahead of the members'
/// own: unbounded, one reader token sending forged checkpoints on a few hundred connections put
/// 40–200 ms ahead of every member's answer (the federation's quorum waits for them). Each
/// member node (its certificate) has lanes of its own — a log's node has one request out to
/// each witness at a time — so a member flooding its lanes puts a few of its requests' time
/// ahead of another's at most; everyone else shares one lane, rate-limited as well. A request
/// beyond them is answered 429 before any of its work is done.
public final class WitnessLanes: Sendable {
    public enum Lane: Hashable, Sendable {
        /// A federation member's node, by member id.
        case member(String)
        /// Any other caller: readers, auditors, operators.
        case others
    }

    public struct Limits: Sendable {
        /// Requests in the witness's hands at once.
        public var inFlight: Int
        /// Requests a second, as a bucket of this size refilled at this rate (nil: no bound but
        /// the requests in hand).
        public var perSecond: Double?
    }

    /// A member's node: one request out per round (a resend after a 409, a re-cosign of a quiet
    /// log), with room to spare; its rate is bounded by its requests in hand (a member's node is
    /// known by its certificate, and `bench witness` measures what the witness serves it).
    public static let member = Limits(inFlight: 4, perSecond: nil)
    /// Everyone else, together: the spec lets anyone submit, and nothing of the federation's
    /// own witnessing comes this way.
    public static let others = Limits(inFlight: 1, perSecond: 10)

    private struct Bucket {
        var inFlight = 0
        var tokens: Double
        var at: ContinuousClock.Instant
    }

    private let buckets = Mutex<[Lane: Bucket]>([:])
    private let clock: @Sendable () -> ContinuousClock.Instant

    public init(clock: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.clock = clock
    }

    public static func limits(_ lane: Lane) -> Limits {
        if case .member = lane { return member }
        return others
    }

    /// Takes a place in `lane`, or false (answer 429). Each `true` needs one `leave`.
    public func enter(_ lane: Lane) -> Bool {
        let now = clock()
        let limits = Self.limits(lane)
        return buckets.withLock { buckets in
            var b = buckets[lane] ?? Bucket(tokens: limits.perSecond ?? 0, at: now)
            if let rate = limits.perSecond {
                let elapsed = Double((now - b.at).components.seconds) + Double((now - b.at).components.attoseconds) / 1e18
                b.tokens = min(rate, b.tokens + max(0, elapsed) * rate)
            }
            b.at = now
            guard b.inFlight < limits.inFlight, limits.perSecond == nil || b.tokens >= 1 else {
                buckets[lane] = b
                return false
            }
            if limits.perSecond != nil { b.tokens -= 1 }
            b.inFlight += 1
            buckets[lane] = b
            return true
        }
    }

    public func leave(_ lane: Lane) {
        buckets.withLock { $0[lane]?.inFlight -= 1 }
    }
}
