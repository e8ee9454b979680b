import Synchronization

/// Who may have add-checkpoint requests in the witness's hands at once, and how often. Every
/// request is parsed and its signature checked (~0.4 ms here) in turn, ahead of the members'
/// own: unbounded, one reader token sending forged checkpoints on a few hundred connections put
/// 40–200 ms ahead of every member's answer (the federation's quorum waits for them). Each
/// member node (its certificate) has lanes of its own — a log's node has one request out to
/// each witness at a time — so a member flooding its lanes puts a few of its requests' time
/// ahead of another's at most; everyone else shares one lane, rate-limited as well. A member's
/// requests the witness refuses (a forged or unparsable checkpoint, a bad proof: an honest
/// node's are cosigned or answered 409) spend a budget of their own: spent, the member's next
/// requests wait, so a hostile member cannot keep a witness's core busy checking forgeries
/// (~0.4 ms each) at whatever rate its lanes turn over (finding 275). A request beyond them is
/// answered 429 before any of its work is done.
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
        /// Requests refused a second, as a bucket of twice this size refilled at this rate: when
        /// it is empty the lane's requests wait (nil: no such bound).
        public var refusedPerSecond: Double? = nil
    }

    /// A member's node: one request out per round (a resend after a 409, a re-cosign of a quiet
    /// log), with room to spare; its rate is bounded by its requests in hand (a member's node is
    /// known by its certificate, and `bench witness` measures what the witness serves it).
    /// An honest node's refusals are rare and back off (a key the witness has not learned yet,
    /// retried after 1 s, doubling).
    public static let member = Limits(inFlight: 4, perSecond: nil, refusedPerSecond: 10)
    /// Everyone else, together: the spec lets anyone submit, and nothing of the federation's
    /// own witnessing comes this way.
    public static let others = Limits(inFlight: 1, perSecond: 10)

    private struct Bucket {
        var inFlight = 0
        var tokens: Double
        var at: ContinuousClock.Instant
        /// Refusals the lane may still have (`refusedPerSecond`), refilled from `at` on.
        var refusals: Double
    }

    /// Why a lane's request was not taken.
    public enum Wait: Sendable, Equatable {
        /// Its requests in hand, or its rate.
        case busy
        /// Its refused requests spent their budget.
        case refused
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
    public func enter(_ lane: Lane) -> Bool { take(lane) == nil }

    /// Takes a place in `lane` (nil), or says why it must wait (answer 429). Each nil needs one
    /// `leave`.
    public func take(_ lane: Lane) -> Wait? {
        let now = clock()
        let limits = Self.limits(lane)
        return buckets.withLock { buckets in
            var b = buckets[lane] ?? Bucket(tokens: limits.perSecond ?? 0, at: now, refusals: 2 * (limits.refusedPerSecond ?? 0))
            let elapsed = max(0, (now - b.at).seconds)
            if let rate = limits.perSecond { b.tokens = min(rate, b.tokens + elapsed * rate) }
            if let rate = limits.refusedPerSecond { b.refusals = min(2 * rate, b.refusals + elapsed * rate) }
            b.at = now
            defer { buckets[lane] = b }
            if limits.refusedPerSecond != nil, b.refusals < 1 { return .refused }
            guard b.inFlight < limits.inFlight, limits.perSecond == nil || b.tokens >= 1 else { return .busy }
            if limits.perSecond != nil { b.tokens -= 1 }
            b.inFlight += 1
            return nil
        }
    }

    /// Gives the place back; `refused`: the witness refused the request (not a 409, which an
    /// honest node meets and follows).
    public func leave(_ lane: Lane, refused: Bool = false) {
        buckets.withLock { buckets in
            buckets[lane]?.inFlight -= 1
            // (At most the requests in hand below empty: each refusal is counted.)
            if refused, Self.limits(lane).refusedPerSecond != nil { buckets[lane]?.refusals -= 1 }
        }
    }
}
