/// Whether this node's wall clock agrees with the clocks of its log's witnesses.
///
/// Every decision about restricted data is a decision in time: an agreement is in force from
/// its `valid-from` until its `valid-until` or its revocation, and egress, ingress, purges and
/// the restricted-append guard judge it by this node's wall clock. A clock stepped back (a
/// spoofed NTP answer, a virtual machine resumed with a stale clock, an operator's typing)
/// brings a revoked or expired agreement back in force; one stepped forward opens an agreement
/// early and expires others. The node has independent, signed statements of the time all the
/// while: each witness of its log dates every cosignature it returns by its own clock (at least
/// every `WitnessCollector.recosignSeconds` on a quiet log). `judge` compares the wall clock with
/// them; a node whose clock disagrees with a majority of its witnesses by more than the
/// federation's clock tolerance holds what depends on the time (docs/security.md, finding 289).
///
/// Only ever a reason to hold, never a time to act on: witnesses that lie about the time can
/// make a node hold restricted data (availability), not send it.
public enum ClockCheck {
    /// One witness's newest cosignature of this node's log.
    public struct Sample: Sendable, Equatable {
        public var witness: String
        /// The cosignature's time (POSIX seconds, the witness's clock when it signed).
        public var signedSeconds: UInt64
        /// How long ago the answer carrying it arrived, on this node's monotonic clock.
        public var secondsSinceArrival: Double

        public init(witness: String, signedSeconds: UInt64, secondsSinceArrival: Double) {
            self.witness = witness
            self.signedSeconds = signedSeconds
            self.secondsSinceArrival = secondsSinceArrival
        }
    }

    public enum Verdict: Sendable, Equatable {
        /// Fewer than `minimumSamples` witnesses answered within `freshSeconds`: nothing to
        /// compare with (the node acts on its clock, as it did before it could tell).
        case unknown(fresh: Int)
        /// A majority of the fresh witnesses' clocks are within the tolerance of this one (the
        /// median offset: positive when this clock is ahead).
        case agrees(offsetSeconds: Double, witnesses: Int)
        /// A majority of the fresh witnesses' clocks are more than the tolerance behind this
        /// one (`ahead`, positive offset) or ahead of it (negative offset): they are named.
        case disagrees(offsetSeconds: Double, witnesses: [String])

        public var suspect: Bool {
            if case .disagrees = self { return true }
            return false
        }

        /// The median offset (this clock minus the witnesses'), when there is a verdict.
        public var offsetSeconds: Double? {
            switch self {
            case .unknown: nil
            case .agrees(let offset, _), .disagrees(let offset, _): offset
            }
        }

        /// Why restricted data waits, for an error or a log line (nil: it does not).
        public var holdReason: String? {
            guard case .disagrees(let offset, let witnesses) = self else { return nil }
            let seconds = Int(min(max(offset.rounded(), -1e15), 1e15))
            let way = seconds > 0 ? "\(seconds) s ahead of" : "\(-seconds) s behind"
            return "this node's clock is \(way) its witnesses' (\(witnesses.joined(separator: ", "))): restricted data waits until the clock is set right, since agreements are judged by it (docs/operations.md, \"This node's clock disagrees with its witnesses\")"
        }
    }

    /// How far clocks may differ: the tolerance the data-flow rules already allow between nodes.
    public static let toleranceSeconds = Double(DataFlow.clockToleranceMillis) / 1000
    /// A cosignature older than this (since it arrived) says nothing of the clock now (a quiet
    /// log's witnesses are asked again every ten minutes).
    public static let freshSeconds: Double = 1800
    /// At least this many witnesses, and a majority of those fresh, must disagree.
    public static let minimumSamples = 2

    /// The verdict on the wall clock `wallMillis` (milliseconds since 1970) against `samples`
    /// (one per witness; a witness's own node is not among them).
    public static func judge(wallMillis: UInt64, samples: [Sample]) -> Verdict {
        let wall = Double(wallMillis) / 1000
        // The witness's clock now, by its cosignature and the time since it arrived. The time is
        // whole seconds (truncated), and the answer took a moment to arrive: both err by about a
        // second, far inside the tolerance.
        let offsets = samples
            .filter { $0.secondsSinceArrival.isFinite && $0.secondsSinceArrival >= 0 && $0.secondsSinceArrival <= freshSeconds }
            .map { (witness: $0.witness, offset: wall - (Double($0.signedSeconds) + $0.secondsSinceArrival)) }
            .sorted { $0.offset < $1.offset }
        guard offsets.count >= minimumSamples else { return .unknown(fresh: offsets.count) }
        let middle = offsets.count / 2
        let median = offsets.count % 2 == 1 ? offsets[middle].offset : (offsets[middle - 1].offset + offsets[middle].offset) / 2
        // More than half beyond the tolerance on one side: one witness with a wrong clock (or a
        // lying one) cannot make the node hold, nor can it keep a majority from being heard.
        let ahead = offsets.filter { $0.offset > toleranceSeconds }
        let behind = offsets.filter { $0.offset < -toleranceSeconds }
        for side in [ahead, behind] where side.count * 2 > offsets.count {
            return .disagrees(offsetSeconds: median, witnesses: side.map(\.witness).sorted())
        }
        return .agrees(offsetSeconds: median, witnesses: offsets.count)
    }
}
