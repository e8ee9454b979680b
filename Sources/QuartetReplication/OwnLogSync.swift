import QuartetLedger

/// Whether a node may append to its own log yet.
///
/// A node whose data directory was restored from an older copy holds fewer entries of its own
/// log than its peers do; were it to append, it would sign a second entry at an index peers
/// already hold — an equivocation that quarantines its log everywhere. So a node (with
/// `ReplicationSettings.syncOwnLog`) takes no appends until it knows: it waits until enough
/// peers (`ReplicationSettings.ownSyncAnswers`: as many as meet every witness quorum of the log,
/// 2 of 4 in the demo) have said what they hold of the log (their heads), takes from peers any
/// tail it lacks (verified against its own key and the stored tree, like any replica batch), and
/// is synced once it holds as much as the largest checkpoint any peer has shown, and every peer
/// has answered or an anti-entropy round has passed since the first did. One peer answering
/// alone — stale, or hostile and hiding the tail — cannot open it. A peer that shows more later
/// is an alarm (`ownLogAhead`), as before.
struct OwnLogSync: Sendable {
    /// The node may append.
    var synced: Bool
    /// The shell holds the sync: members run a newer federation file than this node, whose
    /// list of the log's witnesses (the answers that count) may name members removed since.
    var held = false
    /// Peers whose heads arrived while not synced.
    var heard: Set<String> = []
    /// Anti-entropy rounds since the first peer answered.
    var ticks = 0
    /// Claims of more of the own log than this node can verify (a head or a `witnessed` note
    /// signed by a key it has not seen: a rotation in the entries it lacks), per peer, the
    /// largest: the node holds them all before it opens, whether the peer is connected or not.
    var claims: [String: UInt64] = [:]
    /// Per claimant, rounds that ended with the claim above what is held and the claimant
    /// asked without giving (its request still out, answered `unavailable`, or answered in the
    /// round with nothing new: old news clears a request as an answer does) or not connected.
    /// At `claimRounds` its claim is dropped for the rest of the sync, and it is not
    /// asked for the own log again: a peer that claims and never gives cannot hold the node,
    /// nor keep the request from a peer that would give.
    var strikes: [String: Int] = [:]
    var dropped: Set<String> = []
    /// What was held when the last round ended: a round in which it grew strikes nobody (a
    /// long catch-up has a request out at nearly every round's end).
    var heldAtRoundEnd: UInt64?
    /// Peers asked for the own log during the sync: a late answer of theirs after it is old
    /// news, not a peer writing this node's log.
    var asked: Set<String> = []
    /// Peers asked for the own log since the last round ended.
    var askedInRound: Set<String> = []
    static let claimRounds = 3

    /// The largest claim still counted.
    var claimed: UInt64 { claims.filter { !dropped.contains($0.key) }.values.max() ?? 0 }
    /// Peers whose head (or `witnessed` note) showed another history of the own log than this
    /// copy (`ownLogConflict`), with what it showed.
    var conflicting: [String: String] = [:]
    /// Set once as many witnesses as must answer showed another history: the node never opens
    /// while it is set (appending would extend a second history). One peer alone cannot set it.
    var conflict: String?
    /// `witnessed` notes under a key this node had not seen (per peer, the largest), checked
    /// again whenever the own log's key chain has grown since (`recheckWitnessed`): a rotation
    /// stored from the tail lets one verify, and a checkpoint a witness holds cosigned then
    /// holds the node below it, as one that verified at once does — whether or not its sender's
    /// claim was dropped meanwhile (a witness's replica may lack what it cosigned, and answer
    /// `unavailable`). A made-up key line never verifies, and holds nothing once its claim is.
    var unverifiedWitnessed: [String: (size: UInt64, note: String)] = [:]
    /// The chain's rotations when those notes were last checked.
    var rotationsChecked = -1
    /// The largest size of the own log seen signed, and the latest date of one, when the first
    /// round ended in which as many voters as must answer, and every connected one, had
    /// answered; and the peers heard by then (`voters`: judged against it; a peer heard later
    /// extends it). A checkpoint beyond that size, shown by one of them, dated well after both
    /// this process's start and that date is another copy signing now (`liveSigner`).
    var baseline: (size: UInt64, latest: UInt64, voters: Set<String>)?
    /// The latest date of a verified own-log checkpoint seen during the sync.
    var latestSeenMillis: UInt64 = 0
    /// How far past this process's start (`ReplicationSettings.startedMillis`) and the
    /// baseline's latest date a checkpoint must be dated to count as signed since: two hosts'
    /// clocks differ (the same allowance as the witnesses' clock check). Checkpoints signed
    /// before this start are dated before it, whatever peers lag; a log's dates that ran ahead
    /// once are in the baseline's latest date.
    static let liveSignerMarginMillis: UInt64 = 30_000
    /// Set for good (this run) once another process is seen signing the own log after this
    /// node opened it — a checkpoint beyond what it holds, verified under its own key (a
    /// second live copy of the node, or the key's thief) — or once the own log is quarantined
    /// (two histories of it signed): the writer takes no more appends. Each further append
    /// would sign a history no member takes (or make the fork), and the disclosures it
    /// records would reach no data owner's audit. Cleared only by a restart after the
    /// operator dealt with the cause (docs/operations.md).
    var superseded: String?
}

extension Replicator {
    /// Where this node stands with its own log.
    public var ownLogStatus: OwnLogStatus {
        OwnLogStatus(synced: ownSync.synced, held: heads[settings.ownLog]?.size ?? 0, seen: seen[settings.ownLog]?.size ?? 0,
                     heard: ownSync.heard.intersection(ownSyncVoters).count, needed: ownSyncNeeded, claimed: ownSync.synced ? 0 : ownSyncClaimedNow,
                     conflict: ownSync.conflict, heldForFederation: ownSync.held && !ownSync.synced, superseded: ownSync.superseded)
    }

    /// Why the node takes no more appends though it opened (`OwnLogSync.superseded`), or nil.
    public var ownLogSuperseded: String? { ownSync.superseded }

    /// Another process signs the own log (`OwnLogSync.superseded`): the writer is held for good
    /// this run, said once. Not before the node opened: then a peer holding more is the tail
    /// of a restored copy, taken.
    mutating func ownLogSuperseded(_ reason: String, peer: String?) -> [Directive] {
        guard ownSync.superseded == nil else { return [] }
        ownSync.superseded = reason
        return [.alert(ReplicationAlert(kind: .ownLogAhead, log: settings.ownLog, peer: peer,
                                        message: "\(reason); this node takes no more appends until it is restarted after the cause is dealt with (docs/operations.md, \"Another process signs this node's log\")"))]
    }

    /// Whether most of the voters (more than half of them) claim more of the own log than this
    /// copy holds, dropped claims included. A claim is dropped for giving nothing for
    /// `claimRounds` rounds, which a slow link does to an honest claimant whose answer is still
    /// arriving: that is no evidence the tail does not exist, and opening below it makes the
    /// second history the sync exists to prevent. Claims of half the voters or fewer still
    /// cannot hold the node (a hostile member claiming a tail it never sends is dropped as
    /// before; with a voter down, an honest claimant's slowness can still drop its claim).
    func ownSyncMostVotersClaim(above held: UInt64) -> Bool {
        let voters = ownSyncVoters
        let claiming = voters.filter { (ownSync.claims[$0] ?? 0) > held }
        return !claiming.isEmpty && claiming.count * 2 > voters.count
    }

    /// The largest claim the node waits on: those still counted, and while most voters claim
    /// more than is held, theirs (what the 503 and `/readyz` say it waits for).
    var ownSyncClaimedNow: UInt64 {
        let held = heads[settings.ownLog]?.size ?? 0
        guard ownSyncMostVotersClaim(above: held) else { return ownSync.claimed }
        let waited = ownSyncVoters.compactMap { ownSync.claims[$0] }.max() ?? 0
        return max(ownSync.claimed, waited)
    }

    /// Peers whose answer the sync waits for: `ownSyncAnswers`, or every peer if there are fewer.
    var ownSyncNeeded: Int { max(1, min(settings.ownSyncAnswers, ownSyncVoters.count)) }

    /// A peer's heads arrived.
    mutating func ownSyncHeard(from peer: String) -> [Directive] {
        guard !ownSync.synced else { return [] }
        ownSync.heard.insert(peer)
        return ownSyncCheck()
    }

    /// A peer claims `size` entries of the own log under a key this node cannot verify yet.
    mutating func ownSyncClaim(_ peer: String, size: UInt64) {
        guard !ownSync.synced else { return }
        ownSync.claims[peer] = max(ownSync.claims[peer] ?? 0, size)
    }

    /// Whether the own log is asked of `peer` no more (its claim was dropped).
    /// (Asked again while most voters claim more than is held: `ownSyncMostVotersClaim`.)
    func ownSyncDropped(_ peer: String) -> Bool {
        !ownSync.synced && ownSync.dropped.contains(peer) && !ownSyncMostVotersClaim(above: heads[settings.ownLog]?.size ?? 0)
    }

    /// An anti-entropy round ends (before its requests are forgotten): strikes for claimants
    /// above what is held that were asked and gave nothing, or are away (`OwnLogSync.strikes`).
    mutating func ownSyncRoundEnds() {
        guard !ownSync.synced else { return }
        let own = settings.ownLog
        let held = heads[own]?.size ?? 0
        // (As many voters as must answer, and every one connected: one lagging voter alone
        // would set a baseline the real tail, shown later, goes past.)
        let voters = ownSyncVoters.filter { peerState($0)?.connected == true }
        if ownSync.baseline == nil, voters.count >= ownSyncNeeded, voters.isSubset(of: ownSync.heard) {
            let dates = [ownSync.latestSeenMillis, heads[own]?.checkpoint.timeMillis ?? 0, seen[own]?.timeMillis ?? 0]
            // Every peer heard by then is judged against it (a non-voter relaying the live
            // signer's checkpoint first must not raise the bar for the voters).
            ownSync.baseline = (max(held, seen[own]?.size ?? 0), dates.max() ?? 0, ownSync.heard)
        }
        // The first round, or one in which the tail grew, strikes nobody.
        let asked = ownSync.askedInRound
        defer {
            ownSync.heldAtRoundEnd = held
            ownSync.askedInRound = []
        }
        guard let before = ownSync.heldAtRoundEnd, held <= before else { return }
        for (peer, size) in ownSync.claims.sorted(by: { $0.key < $1.key }) where size > held && !ownSync.dropped.contains(peer) {
            // Asked in a round in which nothing was added: whatever it answered (old news, a
            // batch that did not fit) gave nothing; a claimant never asked is not blamed.
            let gaveNothing = peerState(peer).map { !$0.connected || $0.requestOut || $0.withheld || asked.contains(peer) } ?? true
            guard gaveNothing else { continue }
            ownSync.strikes[peer, default: 0] += 1
            if ownSync.strikes[peer]! >= OwnLogSync.claimRounds { ownSync.dropped.insert(peer) }
        }
    }

    /// An anti-entropy round passed.
    mutating func ownSyncTick() -> [Directive] {
        guard !ownSync.synced, !ownSync.heard.isEmpty || settings.peers.isEmpty else { return [] }
        ownSync.ticks += 1
        // Each claimant above what is held is asked again every round, as its heads ask it when
        // they repeat the claim: one that made its claim once (a `witnessed` note under a key
        // this node has not seen, never in its heads) and then gave nothing was never asked
        // again, so never struck, and held the node for as long as it stayed connected.
        let held = heads[settings.ownLog]?.size ?? 0
        var out: [Directive] = []
        // (Not while the own log is quarantined: what came would be thrown away, and honest
        // claimants struck for it. Those that left a request unanswered are asked last: the
        // one request for the log goes to another claimant first.) Dropped claimants are asked
        // again while most voters claim more than is held (their answers were likely only
        // slow: `ownSyncMostVotersClaim`), in turns, fewest strikes first (each round's is
        // struck again if it gives nothing): a member answering every request with old news or
        // `unavailable` cannot keep the one request for the log from an honest one whose
        // answer is only slow.
        if quarantined[settings.ownLog] == nil {
            func strikes(_ peer: String) -> Int { ownSync.dropped.contains(peer) ? ownSync.strikes[peer] ?? 0 : 0 }
            let askDropped = ownSyncMostVotersClaim(above: held)
            let claimants = ownSync.claims.filter { claim in
                claim.value > held && (askDropped || !ownSync.dropped.contains(claim.key))
                    && peerState(claim.key).map { $0.connected && !$0.requestOut } == true
            }.keys.sorted { (strikes($0), leftUnanswered($0) ? 1 : 0, $0) < (strikes($1), leftUnanswered($1) ? 1 : 0, $1) }
            for peer in claimants { out += request(settings.ownLog, from: peer) }
        }
        return out + ownSyncCheck()
    }

    /// The peers whose answers count: the log's witnesses among the peers (`ownSyncWitnesses`),
    /// or every peer when none is named or none of them is a peer any more.
    var ownSyncVoters: Set<String> {
        let peers = Set(settings.peers)
        guard let witnesses = settings.ownSyncWitnesses?.intersection(peers), !witnesses.isEmpty else { return peers }
        return witnesses
    }

    /// Synced once enough of the log's witnesses among the peers have answered (`ownSyncNeeded`;
    /// members removed by a reload do not count), this node holds at least the largest
    /// checkpoint of its log seen and what every peer that answered claims (see
    /// `OwnLogSync.claimRounds`), nothing of it is being stored, and every peer has answered or
    /// a round has passed. With no peer left (a reload), the node is the only copy.
    mutating func ownSyncCheck() -> [Directive] {
        guard !ownSync.synced, ownSync.conflict == nil, ownSync.superseded == nil, !ownSync.held else { return [] }
        recheckWitnessed()
        let held = heads[settings.ownLog]?.size ?? 0
        // Below a checkpoint of its log seen signed, or while storing a tail, never.
        guard held >= seen[settings.ownLog]?.size ?? 0, !isStoring(settings.ownLog) else { return [] }
        if settings.peers.isEmpty {
            ownSync.synced = true
            return [.ownLogSynced(size: held)]
        }
        guard !ownSync.heard.isEmpty, ownSync.heard.intersection(ownSyncVoters).count >= ownSyncNeeded else { return [] }
        guard ownSync.claimed <= held, !ownSyncMostVotersClaim(above: held) else { return [] }
        guard ownSync.ticks >= 1 || Set(settings.peers).isSubset(of: ownSync.heard) else { return [] }
        ownSync.synced = true
        return [.ownLogSynced(size: held)]
    }
}
