/// Asking peers, one at a time, for the payloads of own-log entries that came back as stubs.
///
/// A node that took its own log back from peers (a restored copy, or `quartet recover` from an
/// empty directory; `OwnLogSync`) takes each batch from whichever peer answered its request. A
/// peer outside the data-sharing agreements holds restricted entries as stubs only, so they come
/// back as stubs even when another peer (a full-access recipient) holds them in full. Once the
/// own log is synced, this state asks the other peers for the ranges holding those stubs with
/// the ordinary `request`; the answers (`entries`, sent in full to a log's own node wherever the
/// sender holds the payload) fill a stub only where salt and payload match the header's
/// commitment (the store checks it), so nothing a peer sends can change the log.
///
/// Pure: the engine feeds it peers, answers and disconnections, and sends the requests it
/// returns. One request is outstanding at a time (stubs are rare; asking every peer at once
/// would make each read and send the same ranges). A peer is asked through the end of the
/// stubs before the next one is; a peer that answers `unavailable`, loses the connection under
/// its request `maxDisconnects` times, leaves one request unanswered for `patienceRounds`
/// anti-entropy rounds (`tick`), or keeps its requests
/// waiting `patienceInAllRounds` in all while its answers fill nothing is done — one member
/// that never answers, or answers each request just in time with one entry (the patience was
/// per request only: ~8 s a stub, and every `quartet recover` waiting on it failed), cannot
/// hold the backfill for ever, while an honest peer that answers slowly (at its read budget)
/// with nothing to fill is given many requests' time. A peer whose connection dropped under its
/// request is asked again, from where it was, once it is back: on a lossy link a single drop
/// made it done for good, and the payloads only it held in full were reported lost; the backfill
/// does not finish while it is away, for up to `patienceRounds` (`quartet recover` concluded at
/// the drop, before it could reconnect). Finished when no stub is left, or every peer offered
/// has been asked through and none is still awaited back; what is left then is lost.
public struct PayloadBackfill: Sendable, Equatable {
    /// A request to send.
    public struct Ask: Sendable, Equatable {
        public var peer: String
        public var from: UInt64

        public init(peer: String, from: UInt64) {
            self.peer = peer
            self.from = from
        }
    }

    /// The own log.
    public let log: String
    /// Indices still held as stubs, ascending (filled ones are dropped lazily).
    private var order: [UInt64]
    /// Indices still held as stubs.
    public private(set) var missing: Set<UInt64>
    /// The request outstanding.
    public private(set) var outstanding: Ask?
    /// Peers asked through the end (or done for another reason).
    public private(set) var done: Set<String> = []
    /// Per peer, where its next request starts.
    private var cursor: [String: UInt64] = [:]
    /// Payloads filled, per peer that sent them.
    public private(set) var filled: [String: Int] = [:]
    /// Anti-entropy rounds the outstanding request has waited.
    public private(set) var waited = 0
    /// Per peer, the rounds its requests have waited since its answers last filled a stub.
    public private(set) var waitedInAll: [String: Int] = [:]
    /// Per peer, the connections that dropped under its request.
    public private(set) var dropped: [String: Int] = [:]
    /// Drops under its requests after which a peer is done (one dropping each connection as its
    /// request comes cannot hold the backfill for ever).
    public static let maxDisconnects = 3
    /// Peers whose connection dropped under their request, and the rounds since: the backfill
    /// does not finish while one is here (until `patienceRounds` pass, then it is in `lapsedNow`).
    public private(set) var away: [String: Int] = [:]
    /// Peers whose wait back ended in the last round (`tick`): awaited for `patienceRounds` in
    /// vain (asked again if they come back later).
    public private(set) var lapsedNow: Set<String> = []
    /// Peers given up on because they left a request unanswered.
    public private(set) var silent: Set<String> = []
    /// Peers given up on because their answers, in all, took `patienceInAllRounds` and filled nothing.
    public private(set) var slow: Set<String> = []
    /// Rounds an answer may take (at 2 s a round, 10 s: an answer is at most 8 MiB).
    public static let patienceRounds = 5
    /// Rounds a peer's requests may wait in all while its answers fill nothing (40 s).
    public static let patienceInAllRounds = 20

    /// - Parameter stubs: the indices of the own log held as stubs.
    public init(log: String, stubs: [UInt64]) {
        self.log = log
        order = Array(Set(stubs)).sorted()
        missing = Set(stubs)
    }

    /// No stub is left, or no peer offered has anything more to be asked.
    public func finished(offered peers: [String]) -> Bool {
        missing.isEmpty || (outstanding == nil && peers.allSatisfy { done.contains($0) } && away.isEmpty)
    }

    /// The indices still lost, ascending.
    public var lost: [UInt64] { order.filter { missing.contains($0) } }

    /// The connected peers now (sorted by the caller): the next request, if one is due.
    public mutating func next(peers: [String]) -> Ask? {
        guard outstanding == nil, !missing.isEmpty else { return nil }
        for peer in peers where !done.contains(peer) {
            guard let from = firstMissing(atOrAfter: cursor[peer] ?? 0) else {
                done.insert(peer)
                continue
            }
            let ask = Ask(peer: peer, from: from)
            outstanding = ask
            waited = 0
            away[peer] = nil
            return ask
        }
        return nil
    }

    /// Whether an `entries` or `unavailable` message of `log` from `peer` starting at `from`
    /// answers the request outstanding (only those are the backfill's; anything else goes to
    /// the replicator as before).
    public func isAnswer(log: String, from: UInt64, peer: String) -> Bool {
        log == self.log && outstanding == Ask(peer: peer, from: from)
    }

    /// The answer arrived: entries `[from, end)`, of which the store filled `stored` (payloads
    /// that matched their commitments). Returns the next request, if any.
    public mutating func answered(end: UInt64, stored: [UInt64], peers: [String]) -> Ask? {
        guard let ask = outstanding else { return nil }
        outstanding = nil
        var filledNow = false
        for index in stored where missing.remove(index) != nil {
            filled[ask.peer, default: 0] += 1
            filledNow = true
        }
        if filledNow { waitedInAll[ask.peer] = 0 }
        if end > ask.from { cursor[ask.peer] = end } else { done.insert(ask.peer) }
        return next(peers: peers)
    }

    /// The peer holds nothing from there (or sent no answer we can use).
    public mutating func unavailable(peers: [String]) -> Ask? {
        guard let ask = outstanding else { return nil }
        outstanding = nil
        done.insert(ask.peer)
        return next(peers: peers)
    }

    /// A peer's connection closed (or was replaced): if it had the request, the request is
    /// dropped and the next one is due — of the same peer, from where it was, if it is connected
    /// again (`peers`) and has not dropped `maxDisconnects` requests; otherwise of the next peer,
    /// and of it again once it is back.
    public mutating func disconnected(_ peer: String, peers: [String]) -> Ask? {
        guard outstanding?.peer == peer else { return nil }
        outstanding = nil
        dropped[peer, default: 0] += 1
        if dropped[peer]! >= Self.maxDisconnects { done.insert(peer) } else { away[peer] = 0 }
        return next(peers: peers)
    }

    /// An anti-entropy round passed: a peer that left its request unanswered `patienceRounds`
    /// (named in `silent`), or whose requests have waited `patienceInAllRounds` in all since its
    /// answers last filled a stub (`slow`), is given up (done); returns the next request, if one
    /// is due.
    public mutating func tick(peers: [String]) -> Ask? {
        lapsedNow = []
        for (peer, rounds) in away {
            if rounds + 1 >= Self.patienceRounds {
                away[peer] = nil
                lapsedNow.insert(peer)
            } else {
                away[peer] = rounds + 1
            }
        }
        if let ask = outstanding {
            waited += 1
            waitedInAll[ask.peer, default: 0] += 1
            let unanswered = waited >= Self.patienceRounds
            guard unanswered || waitedInAll[ask.peer, default: 0] >= Self.patienceInAllRounds else { return nil }
            outstanding = nil
            done.insert(ask.peer)
            if unanswered { silent.insert(ask.peer) } else { slow.insert(ask.peer) }
        }
        return next(peers: peers)
    }

    /// The first index still missing at or after `start`.
    private func firstMissing(atOrAfter start: UInt64) -> UInt64? {
        var low = 0, high = order.count
        while low < high {
            let mid = (low + high) / 2
            if order[mid] < start { low = mid + 1 } else { high = mid }
        }
        return order[low...].first { missing.contains($0) }
    }
}
