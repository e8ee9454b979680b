/// When the connections to an ended agreement's recipients are reset (finding 286), decided
/// without IO: only a connection with frames still queued for the peer (one that took
/// everything has nothing to drop), at most once per peer per `spacing`, ends closer together
/// served by one reset at the end of the spacing. A holder and an owner ending agreements one
/// after another reset a recipient that reads slowly every few seconds at most, and one that
/// keeps up not at all.
struct AgreementEndResets {
    static let spacing: Duration = .seconds(5)

    enum Decision: Equatable {
        /// Reset the connection now.
        case now
        /// Decide again after this wait (`waited` first).
        case after(Duration)
        /// Nothing to do: nothing is queued, or a reset is already due.
        case skip
    }

    private var last: [String: ContinuousClock.Instant] = [:]
    private var due: Set<String> = []

    /// What to do for `peer`, with `queued` bytes not yet taken by it, at `now`.
    mutating func decide(_ peer: String, queued: Int, at now: ContinuousClock.Instant) -> Decision {
        guard queued > 0 else { return .skip }
        if let previous = last[peer], now - previous < Self.spacing {
            guard due.insert(peer).inserted else { return .skip }
            return .after(Self.spacing - (now - previous))
        }
        last[peer] = now
        return .now
    }

    /// A wait `decide` asked for is over.
    mutating func waited(_ peer: String) { due.remove(peer) }
}
