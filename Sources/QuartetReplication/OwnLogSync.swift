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
    /// Peers whose heads arrived while not synced.
    var heard: Set<String> = []
    /// Anti-entropy rounds since the first peer answered.
    var ticks = 0
    /// The own log's size at the last round, and rounds since it last grew: a peer that claims
    /// more than is held (under a key this node has not seen, a rotation in the entries it
    /// lacks) is waited for while the tail keeps coming, and for `claimRounds` rounds without
    /// progress at most, so a peer that claims and never gives cannot hold the node.
    var heldAtTick: UInt64 = 0
    var roundsWithoutProgress = 0
    static let claimRounds = 3
}

/// Where a node stands with its own log (for the writer's hold reason and `/readyz`).
public struct OwnLogStatus: Sendable, Equatable {
    /// The node may append.
    public var synced: Bool
    /// Entries of its own log it holds.
    public var held: UInt64
    /// The largest checkpoint of its own log seen signed (its own or a peer's).
    public var seen: UInt64
    /// Peers that have said what they hold of it.
    public var heard: Int
    /// Peers that must have said it before the node may append (`ReplicationSettings.ownSyncAnswers`,
    /// at most the peers there are).
    public var needed: Int

    public init(synced: Bool, held: UInt64, seen: UInt64, heard: Int, needed: Int = 1) {
        self.synced = synced
        self.held = held
        self.seen = seen
        self.heard = heard
        self.needed = needed
    }
}

extension Replicator {
    /// Where this node stands with its own log.
    public var ownLogStatus: OwnLogStatus {
        OwnLogStatus(synced: ownSync.synced, held: heads[settings.ownLog]?.size ?? 0, seen: seen[settings.ownLog]?.size ?? 0,
                     heard: ownSync.heard.intersection(ownSyncVoters).count, needed: ownSyncNeeded)
    }

    /// Peers whose answer the sync waits for: `ownSyncAnswers`, or every peer if there are fewer.
    var ownSyncNeeded: Int { max(1, min(settings.ownSyncAnswers, ownSyncVoters.count)) }

    /// A peer's heads arrived.
    mutating func ownSyncHeard(from peer: String) -> [Directive] {
        guard !ownSync.synced else { return [] }
        ownSync.heard.insert(peer)
        return ownSyncCheck()
    }

    /// An anti-entropy round passed.
    mutating func ownSyncTick() -> [Directive] {
        guard !ownSync.synced else { return [] }
        let held = heads[settings.ownLog]?.size ?? 0
        if held > ownSync.heldAtTick {
            ownSync.heldAtTick = held
            ownSync.roundsWithoutProgress = 0
        } else {
            ownSync.roundsWithoutProgress += 1
        }
        guard !ownSync.heard.isEmpty || settings.peers.isEmpty else { return [] }
        ownSync.ticks += 1
        return ownSyncCheck()
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
        guard !ownSync.synced else { return [] }
        let held = heads[settings.ownLog]?.size ?? 0
        if settings.peers.isEmpty {
            guard !isStoring(settings.ownLog) else { return [] }
            ownSync.synced = true
            return [.ownLogSynced(size: held)]
        }
        guard !ownSync.heard.isEmpty, ownSync.heard.intersection(ownSyncVoters).count >= ownSyncNeeded else { return [] }
        guard held >= seen[settings.ownLog]?.size ?? 0, !isStoring(settings.ownLog) else { return [] }
        let claimed = ownSync.heard.compactMap { connectedClaim($0, log: settings.ownLog) }.max() ?? 0
        guard claimed <= held || ownSync.roundsWithoutProgress >= OwnLogSync.claimRounds else { return [] }
        guard ownSync.ticks >= 1 || Set(settings.peers).isSubset(of: ownSync.heard) else { return [] }
        ownSync.synced = true
        return [.ownLogSynced(size: held)]
    }
}

extension Replicator {
    /// This node's witness cosigned `note`, a checkpoint of `log` (the shell reads it from the
    /// witness state when the log's writer connects). Only a larger one replaces what is kept.
    public mutating func witnessCosigned(log: String, note: String) {
        guard let size = Self.size(ofNote: note) else { return }
        if let kept = witnessedNotes[log], let keptSize = Self.size(ofNote: kept), keptSize >= size { return }
        witnessedNotes[log] = note
    }

    static func size(ofNote note: String) -> UInt64? {
        (try? SignedNote(parsing: note)).flatMap { try? Checkpoint(parsing: $0.text).size }
    }

    /// The `witnessed` messages for a peer just greeted: what this node's witness cosigned of
    /// the logs the peer writes (version 3 on).
    func witnessedFor(_ peer: String) -> [Directive] {
        guard speaksWitnessed(peer) else { return [] }
        return witnessedNotes.keys.sorted().filter { settings.writer(of: $0) == peer && settings.verifiers[$0] != nil }
            .map { .send(peer: peer, .witnessed(log: $0, note: witnessedNotes[$0]!)) }
    }

    /// A peer's witness says it cosigned `note` of `log`. Only the log's writer listens, and only
    /// before its first append: a checkpoint of its own log that verifies under its key raises
    /// the size it must hold before it opens (`seen`), even if no peer's replica holds that
    /// much — then it stays held (the entries are lost; appending would contradict a checkpoint
    /// a witness holds signed). One that does not verify is counted against the sender; one
    /// signed by a key this node has not seen (a rotation in entries it lacks) is left to the heads.
    mutating func receivedWitnessed(log: String, note: String, from peer: String) -> [Directive] {
        guard log == settings.ownLog, !ownSync.synced else { return [] }
        let checkpoint: Checkpoint
        do { checkpoint = try verified(note, log: log).checkpoint } catch {
            if unknownKeyHead(Message.Head(log: log, note: note)) != nil { return [] }
            return penalize(peer, log: log, "the checkpoint of \(log) its witness cosigned does not verify against the log's key: \(error)")
        }
        noteSeen(log, checkpoint)
        // One no larger than what is held must agree with it, as a head must.
        guard checkpoint.size > heads[log]?.size ?? 0 else { return compareWithHeld(log, note: note, checkpoint: checkpoint, from: peer) }
        return []
    }
}
