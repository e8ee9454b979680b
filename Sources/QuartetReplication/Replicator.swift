// One file over ~350 lines: the state machine's events share its private state, so they stay together.
import QuartetCrypto
import QuartetLedger

/// The replication protocol as a pure state machine: it takes connection events, messages,
/// local commits and timer ticks, and returns directives. It does no IO and holds no entries;
/// the shell (QuartetNode, or a simulation) stores and reads them.
public struct Replicator: Sendable {
    public private(set) var settings: ReplicationSettings

    private struct Peer {
        var connected = false
        var greeted = false
        /// What the peer told us (or we told it) it holds, per log.
        var sizes: [String: UInt64] = [:]
        /// Logs we asked it for and have not heard back on, with where each request starts.
        var requested: [String: UInt64] = [:]
        /// Logs it left a request for unanswered at a round's end (or when it disconnected),
        /// until it sends a batch of the log that is stored or kept to be, or answers one
        /// `unavailable`: another peer that offers the log is asked first (a member that won the
        /// one request per log each round with its heads and never answered held a log's
        /// catch-up up for as long as it liked; an unasked batch of old news does not count).
        var unanswered: Set<String> = []
        /// Per log, this round's heads of it whose signature was checked (not in the memo):
        /// those claiming no progress, and those claiming progress.
        var headChecks: [String: Int] = [:]
        var progressChecks: [String: Int] = [:]
        /// Per log, this round's checks of its notes against keys it rotated away from
        /// (`signedPastRotation`).
        var pastKeyChecks: [String: Int] = [:]
        /// The protocol version agreed with it (the highest both speak; 0 before its hello).
        var version: UInt16 = 0
        /// The version this node's hello names to it: its own, unless the peer refused that one
        /// (a node of the first release, 0.1.0, refuses a hello above the versions it speaks
        /// instead of taking the lower): then the version it named, or one less, kept across
        /// reconnections until its hello names this node's version or more.
        var announce: UInt16?
        /// Logs it answered `unavailable` for since the last anti-entropy round (it holds only
        /// stubs there that we may have in full): asked elsewhere until then.
        var withheld: Set<String> = []
        /// Logs whose size here comes from a claim signed by a key this node has not seen
        /// (`claimed`), not from a checkpoint it verified: asked only when no peer that
        /// verifiably holds more is connected, and giving way to one.
        var unverified: Set<String> = []
        /// Quarantined logs whose evidence it was sent this round because it still announced
        /// them (at most once a round each).
        var toldEvidence: Set<String> = []
        /// Logs whose evidence from it this node could not verify and excused this round.
        var excused: Set<String> = []
        /// Unverifiable evidence from it already excused (SHA-256 of log and both notes): its
        /// resends are never held against it, whatever others send.
        var excusedEvidence = BoundedSet<[UInt8]>(capacity: 64)
        /// Evidence already excused that it sent again this round, per evidence (digest): at
        /// most the 64 `excusedEvidence` holds.
        var excusedResends: [[UInt8]: Int] = [:]
        /// Logs a rotation fork was said of this round, shown by it.
        var forkSaid: Set<String> = []
        /// It stated its federation file this round: one is checked a round; the newest of any
        /// more waits for the next round (`pendingStatement`).
        var statedFederation = false
        var pendingStatement: String?
        /// Faults held against it since its connection opened, less one for each round it
        /// gave none (`tick`): a peer faulting round after round is closed at the limit, an
        /// honest one's rare faults (a race, a restart) do not add up over days to a close.
        var penalties = 0
        var penalizedThisRound = false
        var failures = 0
    }

    /// What this node holds, per log.
    public private(set) var heads: [String: LogHead]
    /// Logs whose stored head no longer verifies under the chain followed now (a key revoked
    /// below its size since it was stored): not announced (`disownRevokedHeads`).
    private var disowned: Set<String> = []
    /// Logs whose copy here holds a head signed past a revocation, not followed (`disowned`).
    public var disownedLogs: Set<String> { disowned }
    /// Notes found validly signed by a key revoked below their size: shown again, they cost a
    /// lookup (forgotten at a reload, whose revocations may differ).
    private var pastRevocation = BoundedSet<String>(capacity: 256)
    /// The largest validly signed checkpoint seen per log (ours or a peer's).
    public private(set) var seen: [String: Checkpoint]
    /// Logs held more than `unbackedEntries` short of the largest checkpoint seen of them, which
    /// fewer than `unbackedEntries` entries have come towards in `unbackedRounds` anti-entropy
    /// rounds while the log's writer was connected and no other peer claimed more: the size
    /// seen, by log. A writer may sign a checkpoint it never sends (an attack held every other
    /// node's `/readyz` at 503 with one, appending a little now and then); readiness does not
    /// count such a gap, and an alert names the writer. Entries coming at the pace of a real
    /// catch-up (or another peer holding more) make it count again.
    public private(set) var unbacked: [String: UInt64] = [:]
    /// Per log held far short of what was seen: the size held when the current window of rounds
    /// began, and how many rounds it has run.
    private var stalled: [String: (held: UInt64, rounds: Int)] = [:]
    /// Rounds (of `antiEntropyMillis`, 2 s by default) a window runs.
    public static let unbackedRounds = 30
    /// The gap, and the progress in a window, that matter: readiness counts a log behind only
    /// beyond 10,000 entries, and a catch-up stores that many in well under a second.
    public static let unbackedEntries: UInt64 = 10_000
    /// How many windows (of the pace seen so far in one) a gap may take to close and still count
    /// as a catch-up: about ten days of windows of `unbackedRounds` rounds (a node down for a
    /// week catching up from a slow writer is a catch-up; a checkpoint of 2^62 is not).
    public static let unbackedWindowsToClose: UInt64 = 14_400
    /// Quarantined logs and the evidence against them.
    public private(set) var quarantined: [String: Evidence] = [:]
    /// Notes of the own log the store was found to hold when a peer showed them beyond the
    /// replicator's head (`ownCommitShown`; at most 16).
    var ownEchoes: Set<String> = []
    private var peers: [String: Peer] = [:]

    /// `peer` claims `size` entries of `log` under a key this node has not seen (a head or a
    /// `witnessed` note): it may be asked for them, and for the own log the sync holds the claim
    /// (`OwnLogSync.claims`).
    mutating func claimed(_ peer: String, log: String, size: UInt64) {
        guard peers[peer] != nil else { return }
        if size > peers[peer]!.sizes[log] ?? 0 { peers[peer]!.unverified.insert(log) }
        peers[peer]!.sizes[log] = max(peers[peer]!.sizes[log] ?? 0, size)
        if log == settings.ownLog { ownSyncClaim(peer, size: size) }
    }

    /// Whether `peer` left an earlier request for the own log unanswered (for OwnLogSync).
    func leftUnanswered(_ peer: String) -> Bool { peers[peer]?.unanswered.contains(settings.ownLog) == true }

    /// Whether `peer` is connected, and whether at this moment a request for the own log is out
    /// to it or it answered `unavailable` for it this round (for OwnLogSync).
    func peerState(_ peer: String) -> (connected: Bool, requestOut: Bool, withheld: Bool)? {
        peers[peer].map { ($0.connected, $0.requested[settings.ownLog] != nil, $0.withheld.contains(settings.ownLog)) }
    }
    /// Logs with a batch being stored (its end).
    private var storing: [String: UInt64] = [:]
    /// Per log, the newest head its writer showed, claiming more than is held, while this node's
    /// request for the log was out to that writer: not checked until the request ends
    /// (`replayWaitingHeads`), and then only if it claims more than the answer brought. A
    /// writer whose peers pull tells each of them every commit as a head; each cost a signature
    /// check (~30 % of a replica's CPU under `bench api`) that changed nothing while the answer
    /// was on its way. One per log: bounded by the federation.
    private var waitingHeads: [String: (peer: String, head: Message.Head, size: UInt64)] = [:]
    /// Logs a batch of which this node could not store this round, for a reason of its own (its
    /// disk: `notStored`): not asked for again until the next round, or a full disk would fetch
    /// the same batch from a peer over and over.
    private var notStoredThisRound: Set<String> = []
    /// Per log, a verified batch that continues the one being stored (pushes arrive faster
    /// than batches are stored): stored next, instead of being dropped as a gap and fetched
    /// again from the sender's store. Consecutive arrivals merge, within the batch limits.
    private var pending: [String: (peer: String, batch: Batch, checkpoint: Checkpoint)] = [:]
    /// A log's key chain as the batch being stored (`storingChain`) and the one waiting after
    /// it (`pendingChain`) extend it. Later batches are checked by them, but `chains` takes
    /// them only once the batch is stored (its leaves checked against the signed root): a
    /// rotation in a batch that is never stored (old news, refused, a gap) changes nothing.
    private var storingChain: [String: KeyChain] = [:]
    private var pendingChain: [String: KeyChain] = [:]
    private var random: SplitMix64
    /// Key rotations whose signatures were checked (new to the chain, past the cheap checks).
    public private(set) var rotationsVerified = 0
    /// Checkpoint signatures checked (not answered from the memo).
    public private(set) var checkpointsVerified = 0
    /// Notes whose signature verified (by note text): a replayed checkpoint costs a lookup,
    /// not an Ed25519 verification on the serial queue.
    private var verifiedNotes = BoundedMemo<String, (checkpoint: Checkpoint, note: String)>(capacity: 512)
    /// Smaller checkpoints already compared with the stored tree.
    private var compared = BoundedSet<String>(capacity: 512)
    /// Whether this node may append to its own log yet (OwnLogSync.swift).
    var ownSync: OwnLogSync
    /// Per log, the newest checkpoint this node's witness cosigned (signed note), told to the
    /// log's writer when a connection is greeted (`witnessed`).
    public internal(set) var witnessedNotes: [String: String] = [:]
    /// The keys of each log over its history (KeyChain): the pinned key and the rotations
    /// stored or verified here, with the federation's revocations and the keys it names.
    public private(set) var chains: [String: KeyChain]
    /// Logs whose chain stopped before a stored rotation that does not hold with the
    /// federation's word on the log (`KeyChain.followed`: a rotation by a revoked key to a key
    /// the federation names nowhere), and where. The rotations left out are kept here, so a
    /// later federation file that admits them brings them back; said as an alert at start and
    /// at each reload.
    public private(set) var stopped: [String: KeyChain.Stop] = [:]

    /// - Parameters:
    ///   - heads: what the store holds at startup.
    ///   - quarantined: evidence kept from earlier runs.
    ///   - seed: for reconnect jitter (fixed in simulations).
    ///   - rotations: the key rotations stored per log.
    public init(settings: ReplicationSettings, heads: [String: LogHead], quarantined: [String: Evidence] = [:],
                rotations: [String: [KeyRotation]] = [:], seed: UInt64) {
        self.settings = settings
        (self.chains, self.stopped) = Self.followed(settings, rotations: rotations)
        self.heads = heads
        self.seen = heads.mapValues(\.checkpoint)
        self.quarantined = quarantined
        self.random = SplitMix64(seed: seed)
        self.ownSync = OwnLogSync(synced: !settings.syncOwnLog || settings.peers.isEmpty)
        // Evidence kept from an earlier run that two histories of the own log are signed: the
        // writer does not open again (it would extend one of them, reaching no member).
        if let evidence = quarantined[settings.ownLog] { ownSync.superseded = Self.ownQuarantine(evidence) }
        for peer in settings.peers { peers[peer] = Peer() }
    }

    // MARK: Queries

    /// Whether `peer` is connected and its hello not yet taken (the one moment its hello is
    /// read: a second, or one on a connection refused, is a violation).
    public func awaitsHello(_ peer: String) -> Bool { peers[peer].map { $0.connected && !$0.greeted } ?? false }

    /// Peers connected and greeted.
    /// What each peer last said it holds (or was last sent), per log.
    public var peerSizes: [String: [String: UInt64]] { peers.mapValues(\.sizes) }

    /// Whether `peer` understands `unavailable` (protocol version 2 on).
    public func speaksUnavailable(_ peer: String) -> Bool { (peers[peer]?.version ?? 0) >= 2 }

    /// Whether `peer` understands `witnessed` (protocol version 3 on).
    public func speaksWitnessed(_ peer: String) -> Bool { (peers[peer]?.version ?? 0) >= 3 }

    /// Whether `peer` understands `federation` (protocol version 4 on).
    public func speaksFederation(_ peer: String) -> Bool { (peers[peer]?.version ?? 0) >= 4 }

    /// The federation file in force here changed (a reload): its statement goes to every
    /// greeted peer that understands it (each checks it against its own file).
    public mutating func stated(federation statement: String?) -> [Directive] {
        guard statement != settings.federationStatement else { return [] }
        settings.federationStatement = statement
        return federationStatement(toAll: connectedPeers)
    }

    /// This node's federation statement for `peers` that understand it (none if it has none).
    private func federationStatement(toAll peers: [String]) -> [Directive] {
        guard let statement = settings.federationStatement else { return [] }
        return peers.filter(speaksFederation).map { .send(peer: $0, .federation(statement: statement)) }
    }

    /// The protocol version agreed with each greeted peer.
    public var peerVersions: [String: UInt16] { peers.filter { $0.value.greeted }.mapValues(\.version) }

    /// Each log's chain: pinned key, `rotations`, the federation's revocations and the keys it
    /// names (`followed`).
    public static func chains(_ settings: ReplicationSettings, rotations: [String: [KeyRotation]]) -> [String: KeyChain] {
        followed(settings, rotations: rotations).chains
    }

    /// Each log's chain built by `KeyChain.followed`: pinned key, `rotations` in index order up
    /// to the first that does not hold with the federation's revocations and named keys (the
    /// shell stored only rotations that held when stored; a revocation since may disown one: a
    /// thief's rotation stored before the file revoked its key), and where each chain stopped.
    static func followed(_ settings: ReplicationSettings, rotations: [String: [KeyRotation]]) -> (chains: [String: KeyChain], stopped: [String: KeyChain.Stop]) {
        var chains: [String: KeyChain] = [:], stopped: [String: KeyChain.Stop] = [:]
        for (log, verifier) in settings.verifiers {
            let followed = KeyChain.followed(pinned: verifier, rotations: rotations[log] ?? [], revoked: settings.revoked[log] ?? [:],
                                             named: settings.named[log] ?? [])
            chains[log] = followed.chain
            stopped[log] = followed.stopped
        }
        return (chains, stopped)
    }

    /// `chain` (a log's chain as a batch in flight extends it) followed again with the
    /// federation's word on the log as it is now: a reload may have revoked a key while the
    /// batch was checked or stored, so no chain reaches `chains` (or checks a later batch) with
    /// revocations and named keys other than the file's.
    private func refollowed(_ log: String, _ chain: KeyChain) -> (chain: KeyChain, stopped: KeyChain.Stop?) {
        KeyChain.followed(pinned: settings.verifiers[log] ?? NoteVerifier(name: chain.origin, publicKey: chain.pinned), rotations: chain.rotations,
                          revoked: settings.revoked[log] ?? [:], named: settings.named[log] ?? [])
    }

    /// An alert per log whose chain stopped before a stored rotation (`stopped`; `only`: that
    /// log's alone).
    private func stoppedChainAlerts(only: String? = nil) -> [Directive] {
        stopped.filter { only == nil || $0.key == only }.sorted { $0.key < $1.key }.map { log, stop in
            .alert(ReplicationAlert(kind: .rotationFork, log: log, peer: nil,
                                    message: "this node's copy of \(log) holds a key rotation at entry \(stop.rotation.index) that the federation file disowns (\(stop.reason)): \(log)'s keys are followed only up to it; the key it rotates to and any later one sign nothing here (the copy holds a second history across a revoked key's rotation; its entries are kept)"))
        }
    }

    /// Whether a batch of `log` is being stored.
    func isStoring(_ log: String) -> Bool { storing[log] != nil }

    public var connectedPeers: [String] { peers.filter { $0.value.connected && $0.value.greeted }.map(\.key).sorted() }

    // MARK: Events

    /// At startup: dial every peer once, so a node that comes back is connected to all at once
    /// (a peer that dials it would otherwise be in its backoff); afterwards only the member with
    /// the smaller id redials.
    public mutating func start() -> [Directive] {
        stoppedChainAlerts() + disownRevokedHeads() + settings.peers.map { .dial(peer: $0, afterMillis: 0) }
            + (settings.syncOwnLog && ownSync.synced ? [.ownLogSynced(size: heads[settings.ownLog]?.size ?? 0)] : [])
    }

    /// The federation changed (a reload): `peers` are the other members now, `verifiers` and
    /// `writers` the logs. Members added are dialled; members removed are forgotten and their
    /// connections closed. Heads of logs no longer in the federation are kept but no longer
    /// announced.
    public mutating func members(peers new: [String], verifiers: [String: NoteVerifier], writers: [String: String],
                                 revoked: [String: [Ed25519PublicKey: UInt64]] = [:], named: [String: Set<Ed25519PublicKey>] = [:],
                                 ownSync: (answers: Int, witnesses: Set<String>)? = nil) -> [Directive] {
        settings.verifiers = verifiers
        if let ownSync {
            settings.ownSyncAnswers = ownSync.answers
            settings.ownSyncWitnesses = ownSync.witnesses
        }
        settings.writers = writers
        settings.revoked = revoked
        settings.named = named
        // Rotations carry over (those a stopped chain left out too); revocations and named keys
        // are the file's; notes verified before are checked again.
        var carried = chains.mapValues(\.rotations)
        for (log, stop) in stopped { carried[log, default: []] += stop.leftOut.filter { !(carried[log] ?? []).contains($0) } }
        (chains, stopped) = Self.followed(settings, rotations: carried)
        verifiedNotes = BoundedMemo(capacity: 512)
        pastRevocation = BoundedSet(capacity: 256)
        let added = new.filter { peers[$0] == nil }
        let removed = settings.peers.filter { !new.contains($0) }
        settings.peers = new
        var out: [Directive] = []
        for peer in removed {
            let wasConnected = peers[peer]?.connected ?? false
            peers[peer] = nil
            if wasConnected { out.append(.close(peer: peer, reason: "removed from the federation")) }
            // What it said of the own log no longer counts (a node restored with an older
            // file counted a member removed since among the witnesses whose signs of another
            // history hold the log for good).
            self.ownSync.conflicting[peer] = nil
            self.ownSync.heard.remove(peer)
            self.ownSync.claims[peer] = nil
            self.ownSync.unverifiedWitnessed[peer] = nil
        }
        if !self.ownSync.synced, self.ownSync.conflict != nil, Set(self.ownSync.conflicting.keys).intersection(ownSyncVoters).count < ownSyncNeeded {
            self.ownSync.conflict = nil
        }
        for peer in added {
            peers[peer] = Peer()
            out.append(.dial(peer: peer, afterMillis: 0))
        }
        // Fewer peers may now be enough for the own log's sync (or more needed).
        return stoppedChainAlerts() + disownRevokedHeads() + out + ownSyncCheck()
    }

    /// A TLS connection to a member (verified by its certificate) is up.
    public mutating func connected(_ peer: String) -> [Directive] {
        guard peers[peer] != nil else { return [.close(peer: peer, reason: "not a federation member")] }
        peers[peer]!.connected = true
        peers[peer]!.greeted = false
        peers[peer]!.sizes = [:]
        // (What the connection it replaces showed is not taken for this one's.)
        waitingHeads = waitingHeads.filter { $0.value.peer != peer }
        // A connection that replaced one still open (the shell keeps the newer of two) ends
        // that one's requests with no `disconnected`: left out, they count as unanswered, or a
        // member replacing its connection before each round's end would win every request.
        peers[peer]!.unanswered.formUnion(peers[peer]!.requested.keys)
        peers[peer]!.requested = [:]
        peers[peer]!.withheld = []
        peers[peer]!.version = 0
        peers[peer]!.statedFederation = false
        peers[peer]!.pendingStatement = nil
        return [.send(peer: peer, .hello(version: announced(to: peer), node: settings.node, federation: settings.federation))]
    }

    /// The connection closed (or a dial failed).
    public mutating func disconnected(_ peer: String) -> [Directive] {
        let out = lost(peer)
        return out + replayWaitingHeads()
    }

    private mutating func lost(_ peer: String) -> [Directive] {
        guard var state = peers[peer] else { return [] }
        state.connected = false
        state.greeted = false
        // A request left out when it went counts as unanswered (a member dropping and
        // redialling before each round's end was never marked).
        state.unanswered.formUnion(state.requested.keys)
        state.requested = [:]
        state.failures += 1
        peers[peer] = state
        guard settings.dials(peer) else { return [] }
        return [.dial(peer: peer, afterMillis: backoff(failures: state.failures))]
    }

    func backoffCeiling(failures: Int) -> UInt64 {
        let shift = UInt64(min(max(failures - 1, 0), 20))
        return min(settings.backoffMaxMillis, settings.backoffBaseMillis << shift)
    }

    private mutating func backoff(failures: Int) -> UInt64 {
        let base = backoffCeiling(failures: failures)
        return base + random.next() % (base / 2 + 1)
    }

    /// The periodic anti-entropy round: every connected peer hears all our heads again, and
    /// forgotten requests are forgotten.
    public mutating func tick() -> [Directive] {
        let out = roundEnds()
        return out + replayWaitingHeads()
    }

    private mutating func roundEnds() -> [Directive] {
        ownSyncRoundEnds()
        notStoredThisRound = []
        var out: [Directive] = []
        for peer in connectedPeers {
            peers[peer]!.unanswered.formUnion(peers[peer]!.requested.keys)
            peers[peer]!.requested = [:]
            peers[peer]!.headChecks = [:]
            peers[peer]!.progressChecks = [:]
            peers[peer]!.pastKeyChecks = [:]
            peers[peer]!.withheld = []
            peers[peer]!.toldEvidence = []
            peers[peer]!.excused = []
            peers[peer]!.excusedResends = [:]
            peers[peer]!.forkSaid = []
            if !peers[peer]!.penalizedThisRound { peers[peer]!.penalties = max(0, peers[peer]!.penalties - 1) }
            peers[peer]!.penalizedThisRound = false
            peers[peer]!.statedFederation = false
            if let pending = peers[peer]!.pendingStatement {
                peers[peer]!.pendingStatement = nil
                peers[peer]!.statedFederation = true
                out.append(.federationStated(peer: peer, statement: pending))
            }
            out.append(.send(peer: peer, .heads(headList())))
        }
        return out + ownSyncTick() + checkUnbacked()
    }

    /// Whether `came` entries in a window, against a gap of `gap` still open, are a catch-up's
    /// pace (`unbackedEntries`, `unbackedWindowsToClose`).
    static func catchingUp(came: UInt64, gap: UInt64) -> Bool {
        came >= unbackedEntries && gap / came <= unbackedWindowsToClose
    }

    /// One round of `unbacked`: a gap over `unbackedEntries` that fewer than that many entries
    /// came towards in a window of `unbackedRounds` rounds, with the writer connected (it was
    /// asked) and no other connected peer claiming more than is held.
    private mutating func checkUnbacked() -> [Directive] {
        var out: [Directive] = []
        for log in seen.keys.sorted() where log != settings.ownLog {
            let seenSize = seen[log]!.size
            let held = heads[log]?.size ?? 0
            let writer = settings.writer(of: log)
            let connected = connectedPeers
            let othersHoldMore = connected.contains { $0 != writer && (peers[$0]?.sizes[log] ?? 0) > held }
            guard seenSize > held, seenSize - held > Self.unbackedEntries, quarantined[log] == nil, !othersHoldMore else {
                stalled[log] = nil
                unbacked[log] = nil
                continue
            }
            // Entries come at a catch-up's pace: at least `unbackedEntries` in the window so far,
            // and enough that the gap closes within `unbackedWindowsToClose` such windows (was:
            // 10,000 a minute reset it whatever the gap — a writer showing one checkpoint of
            // 2^62 and appending 170 real entries a second kept every node's readiness at 503,
            // never flagged).
            if let window = stalled[log], held >= window.held, !Self.catchingUp(came: held - window.held, gap: seenSize - held) {
                stalled[log] = (window.held, window.rounds + 1)
            } else {
                // A first round, or entries came at a catch-up's pace: a new window.
                stalled[log] = (held, 0)
                unbacked[log] = nil
            }
            guard stalled[log]!.rounds >= Self.unbackedRounds, connected.contains(writer), unbacked[log] != seenSize else { continue }
            unbacked[log] = seenSize
            out.append(.alert(ReplicationAlert(kind: .unbacked, log: log, peer: writer,
                                               message: "\(log) has a checkpoint of size \(seenSize) signed by its writer, but only \(held - stalled[log]!.held) entries (to \(held)) came in \(stalled[log]!.rounds) rounds while \(writer) was connected and no other peer held more; readiness does not count the gap until entries come at a catch-up's pace")))
        }
        return out
    }

    private func headList() -> [Message.Head] {
        // (Nor the own log once another process was seen signing it: its head may be a batch
        // committed after that, published to nobody.)
        heads.keys.sorted().filter { quarantined[$0] == nil && settings.verifiers[$0] != nil && !disowned.contains($0)
            && !($0 == settings.ownLog && ownSync.superseded != nil) }
            .map { Message.Head(log: $0, note: heads[$0]!.note) }
    }

    /// Checks every stored head again under the chain now followed (at a start, and after a
    /// reload changed the federation's word on a log): one signed by a key revoked below its size
    /// (stored in good faith before the revocation reached this node) is no longer announced —
    /// every node holding the log's real history would refuse it and blame this one, every round
    /// — and is said once, here.
    private mutating func disownRevokedHeads() -> [Directive] {
        var out: [Directive] = []
        var now: Set<String> = []
        // Only a head validly signed by a key revoked below its size: one that fails for another
        // reason (a chain stopped at a rotation the file disowns, said by its own alert) is not.
        // Not the own log: its appends go on under whatever key it holds, and a revoked one is
        // refused by every peer until the log rotates (docs/operations.md).
        // And a head signed past the rotation its chain stops at (a thief's rotation the file
        // disowns, stored here): it verifies under no key this copy follows.
        for (log, head) in heads.sorted(by: { $0.key < $1.key }) {
            guard let reason = unfollowed(head.note, log: log) else { continue }
            now.insert(log)
            guard !disowned.contains(log) else { continue }
            out.append(Self.disownedAlert(log, size: head.checkpoint.size, reason))
        }
        disowned = now
        return out
    }

    /// Why this copy must not follow `note` of `log` (not the own log), or nil: validly signed
    /// by a key the federation revoked below its size and by no key in force, or — the log's
    /// chain stopped at a stored rotation the file disowns — verifying under no key the chain
    /// follows (signed past the stop: the thief's key, or one it rotated to).
    private mutating func unfollowed(_ note: String, log: String) -> String? {
        if !(chains[log]?.revoked.isEmpty ?? true), signedOnlyPastRevocation(note, log: log) { return "a key revoked below that size" }
        // (Only a stop the file's revocation made: the rotation signed by a key it revoked. A
        // chain stopped by its own limits stops every copy alike; its honest entries stay served.)
        guard log != settings.ownLog, settings.verifiers[log] != nil, let stop = stopped[log], chains[log]?.revoked[stop.rotation.previous] != nil,
              (try? verified(note, log: log)) == nil else { return nil }
        return "signed past the key rotation at entry \(stop.rotation.index), which the file disowns"
    }

    /// Whether `note` of `log` (not the own log) is validly signed by a key the federation
    /// revoked below its size, and by no key in force: a checkpoint this copy must not follow.
    private mutating func signedOnlyPastRevocation(_ note: String, log: String) -> Bool {
        guard log != settings.ownLog, settings.verifiers[log] != nil, (try? verified(note, log: log)) == nil,
              let chain = chains[log], let revoked = Self.revokedKeysSigning(note, chain: chain) else { return false }
        return revoked.keys.contains { (try? $0.verify(revoked.note)) != nil }
    }

    private static func disownedAlert(_ log: String, size: UInt64, _ reason: String) -> Directive {
        .alert(ReplicationAlert(kind: .rejected, log: log, peer: nil,
                                message: "this node's copy of \(log) holds a checkpoint of size \(size) that no longer verifies under the log's keys as the federation file has them (\(reason)): it is not announced to peers, served or compared with theirs, and no more of the log is taken into this copy; the entries are kept. To follow the log again, recover this node's data from its peers (quartet recover; docs/operations.md, \"Compromised signing key\")"))
    }

    /// A message from a connected peer.
    public mutating func received(_ message: Message, from peer: String) -> [Directive] {
        let out = take(message, from: peer)
        return out + replayWaitingHeads()
    }

    private mutating func take(_ message: Message, from peer: String) -> [Directive] {
        guard let state = peers[peer], state.connected else { return [] }
        if !state.greeted {
            if case .error(.version, let text) = message { return refusedVersion(peer, text) }
            guard case .hello(let version, let node, let federation) = message else {
                return violation(peer, .malformed, "expected hello first, got \(message.name)")
            }
            guard let agreed = ProtocolLimits.negotiate(ours: announced(to: peer), theirs: version) else {
                return violation(peer, .version, "protocol version \(version); this node speaks \(ProtocolLimits.oldest) to \(settings.protocolVersion)")
            }
            peers[peer]!.version = agreed
            // It speaks a later version than this node offered it since it refused one (upgraded
            // meanwhile, to this node's version or one between): this link would stay at the
            // lower one until it dropped (without `witnessed`, which a restored writer waits
            // for), so it is closed and dialled again offering this node's own (was: only when
            // the peer named this node's version or a later one, so a peer upgraded to a
            // version between stayed at the lowered one).
            if version > announced(to: peer), peers[peer]!.announce != nil {
                peers[peer]!.announce = nil
                return [.close(peer: peer, reason: "\(peer) speaks protocol version \(version) now; connecting again at \(settings.protocolVersion)")]
            }
            guard node == peer else { return violation(peer, .identity, "hello names \(node) but the certificate names \(peer)") }
            guard federation == settings.federation else { return violation(peer, .identity, "federation \(federation), expected \(settings.federation)") }
            peers[peer]!.greeted = true
            peers[peer]!.failures = 0
            // What this node's witness cosigned of the peer's own log goes before the heads, so a
            // restored writer knows it by the time it counts this peer's answer (OwnLogSync).
            // Evidence travels to every peer, including those that connect after it was found.
            peers[peer]!.toldEvidence = Set(quarantined.keys)
            return federationStatement(toAll: [peer]) + witnessedFor(peer) + [.send(peer: peer, .heads(headList()))]
                + quarantined.keys.sorted().map { .send(peer: peer, .evidence(quarantined[$0]!)) }
        }
        switch message {
        case .hello:
            return violation(peer, .malformed, "a second hello")
        case .heads(let list):
            // One head per log counts (the last): a message repeating a log 1,024 times costs
            // one check, not 1,024.
            var last: [String: Int] = [:]
            for (i, head) in list.enumerated() where settings.verifiers[head.log] != nil { last[head.log] = i }
            var out: [Directive] = []
            for i in last.values.sorted() { out += receivedHead(list[i], from: peer) }
            return out + ownSyncHeard(from: peer)
        case .request(let log, let from):
            guard let head = heads[log], quarantined[log] == nil, !disowned.contains(log), from < head.size else {
                // Nothing to give from there: say so, so the peer asks elsewhere at once.
                return speaksUnavailable(peer) ? [.send(peer: peer, .unavailable(log: log, from: from))] : []
            }
            return [.serve(peer: peer, log: log, from: from)]
        case .entries(let batch):
            return receivedBatch(batch, from: peer)
        case .evidence(let evidence):
            guard let chain = chains[evidence.log] else { return penalize(peer, log: evidence.log, "evidence for unknown log \(evidence.log)") }
            // Against a log already quarantined, evidence proves nothing more: dropped before its
            // signatures are checked (valid evidence is held against nobody, and a writer that
            // signed N checkpoints of one size once has N² pairs to send, two checks each).
            guard quarantined[evidence.log] == nil else { return [] }
            // Evidence already excused, sent again: checked again once a round (a rotation learnt
            // since may make it verify); a few more copies a round are the sender's rounds (and
            // reconnects) out of step with this node's, dropped unchecked (each check costs ~0.2
            // ms a signature, at whatever rate the member sends, and up to 64 evidences are
            // excused); beyond, held against it once a round.
            let digest = SHA256.hash(Array((evidence.log + "\n" + evidence.first + "\n" + evidence.second).utf8))
            if peers[peer]!.excusedEvidence.contains(digest) {
                let resends = (peers[peer]!.excusedResends[digest] ?? 0) + 1
                peers[peer]!.excusedResends[digest] = resends
                if resends == Self.excusedResendsPerRound + 1 {
                    return penalize(peer, log: evidence.log, "the same unverifiable evidence against \(evidence.log) sent \(resends) times this round")
                }
                if resends > 1 { return [] }
            }
            do { _ = try evidence.verify(with: chain) } catch {
                // Evidence an honest peer may hold that this node cannot verify is not held
                // against it, once a round per log (the sender resends it each round while this
                // node still announces the log); more than that is. Such evidence is:
                // - of the other side of a fork across a key rotation (a checkpoint beyond the
                //   rotation by the key rotated away from): its heads are compared with the
                //   stored tree and said (finding 93); the evidence itself proves nothing here;
                // - signed by a key this node has not seen, at a size beyond what it holds (a
                //   rotation in entries it lacks): verified once the rotation is held.
                // (A note past an old key whose checks are spent this round cannot be told either.)
                // - signed by a key the federation revoked below its size (a copy that stored a
                //   thief's checkpoint before the revocation reached it compares it in good faith).
                var pastRotation = false
                for text in [evidence.first, evidence.second] where !pastRotation {
                    if signedPastRevocation(text, log: evidence.log, peer: peer) { pastRotation = true; continue }
                    if case .none = signedPastRotation(text, log: evidence.log, peer: peer) { continue }
                    pastRotation = true
                }
                let held = heads[evidence.log]?.size ?? 0
                let unknownKey = [evidence.first, evidence.second].contains { text in
                    guard let parsed = try? SignedNote(parsing: text), chain.signedByUnknownKey(parsed),
                          let claimed = try? Checkpoint(parsing: parsed.text) else { return false }
                    return claimed.size > held
                }
                if pastRotation || unknownKey {
                    // The same evidence again (its sender's rounds and this node's are not in
                    // step) is never held against it; new unverifiable evidence once a round.
                    if peers[peer]!.excusedEvidence.contains(digest) { return [] }
                    if peers[peer]!.excused.insert(evidence.log).inserted {
                        _ = peers[peer]!.excusedEvidence.insert(digest)
                        return []
                    }
                }
                return penalize(peer, log: evidence.log, "invalid evidence: \(error)")
            }
            return quarantine(evidence, from: peer)
        case .error(.version, let text):
            return refusedVersion(peer, text)
        case .error(let code, let text):
            return [.close(peer: peer, reason: "peer reported error \(code.rawValue): \(text)")]
        case .witnessed(let log, let note):
            guard speaksWitnessed(peer) else {
                return violation(peer, .malformed, "witnessed is not a message of protocol version \(peers[peer]!.version), the version agreed")
            }
            return receivedWitnessed(log: log, note: note, from: peer)
        case .federation(let statement):
            guard speaksFederation(peer) else {
                return violation(peer, .malformed, "federation is not a message of protocol version \(peers[peer]!.version), the version agreed")
            }
            // Checking one costs a signature check per member: one a round is checked (a peer
            // sends one when greeted and one per reload); the newest of more, next round.
            guard !peers[peer]!.statedFederation else {
                peers[peer]!.pendingStatement = statement
                return []
            }
            peers[peer]!.statedFederation = true
            return [.federationStated(peer: peer, statement: statement)]
        case .unavailable(let log, let from):
            guard speaksUnavailable(peer) else {
                return violation(peer, .malformed, "unavailable is not a message of protocol version \(peers[peer]!.version), the version agreed")
            }
            // A relay holding only stubs we may have in full (or nothing from there): ask the
            // writer (or another peer) at once rather than waiting for the next round. Only the
            // answer to the request outstanding now counts; a late one is ignored.
            guard peers[peer]!.requested[log] == from else { return [] }
            peers[peer]!.requested[log] = nil
            peers[peer]!.unanswered.remove(log)
            peers[peer]!.withheld.insert(log)
            guard quarantined[log] == nil else { return [] }
            return request(log, from: peer, at: storing[log] ?? heads[log]?.size ?? 0)
        }
    }

    private mutating func receivedHead(_ head: Message.Head, from peer: String) -> [Directive] {
        guard settings.verifiers[head.log] != nil else { return [] }  // a log this federation does not have: ignore
        // A peer still announcing a log quarantined here has not taken the evidence (it was
        // away, or could not verify it yet: a rotation it lacked): it is sent again, at most
        // once a round. Nothing else is done with a quarantined log's heads.
        if let evidence = quarantined[head.log] {
            guard peers[peer]!.toldEvidence.insert(head.log).inserted else { return [] }
            return [.send(peer: peer, .evidence(evidence))]
        }
        // A head that claims no more than this node and the peer were known to hold is checked
        // at most `maxHeadChecksPerRound` times a round per peer and log (a member cycling
        // through more old checkpoints than the memo holds, or minting new notes of its own log
        // at one size, made one check per ~300-byte frame, unpenalised: every one was valid);
        // the rest wait for the next round's heads.
        // A log whose copy here holds a checkpoint signed past a revocation: its heads are
        // neither compared with that copy (evidence no one could verify, blaming this node) nor
        // asked after (the copy cannot take the real history); said at the reload.
        if disowned.contains(head.log) { return [] }
        // A note found signed past a revocation before: nothing again, at the cost of a lookup
        // (looked up only for a log with a revoked key: the note is not hashed otherwise).
        if chains[head.log]?.revoked.isEmpty == false, pastRevocation.contains(head.note) { return [] }
        // Of another node's log, from its writer, claiming more than is held while this node's
        // request for it is out to that writer: kept unchecked until the request ends (the
        // newest replaces it). (Not while the request is out to another peer: a verified head
        // of the writer is what moves a request away from a relay that does not answer. Nor
        // while a batch is stored: the writer's size must be known when the store ends, for
        // the next request to go to it at once.)
        if head.log != settings.ownLog, peer == settings.writer(of: head.log), awaiting(head.log, from: peer),
           let parsed = try? SignedNote(parsing: head.note), let claimed = try? Checkpoint(parsing: parsed.text),
           claimed.size > heads[head.log]?.size ?? 0 {
            waitingHeads[head.log] = (peer, head, claimed.size)
            return []
        }
        if !mayCheck(head.note, log: head.log, peer: peer) { return [] }
        let checkpoint: Checkpoint
        let note: String
        do { (checkpoint, note) = try verified(head.note, log: head.log) } catch {
            // Of its own log, by the key this copy rotated away from: another history (blame nobody).
            if head.log == settings.ownLog, let conflict = ownLogConflict(head.note) { return ownLogConflicts(conflict, peer: peer) }
            // Signed by a key this node has not seen yet: the log rotated in entries it does not
            // hold. Ask for them (they carry the rotation); blame nobody.
            if let size = unknownKeyHead(head) {
                claimed(peer, log: head.log, size: size)
                guard quarantined[head.log] == nil, size > heads[head.log]?.size ?? 0 else { return [] }
                return head.log == settings.ownLog && ownSync.synced ? [] : request(head.log, from: peer)
            }
            switch signedPastRotation(head.note, log: head.log, peer: peer) {
            case .fork(let rotation, let size, let line): return suspectedFork(head.log, note: head.note, (rotation, size, line), from: peer)
            case .putOff: return []
            case .none:
                // Signed by a key the federation revoked below its size: a copy stored before the
                // revocation reached its holder, relayed in good faith (or the thief's own). Nothing
                // to tell and no one to blame: the note is simply not taken.
                if signedPastRevocation(head.note, log: head.log, peer: peer) { return [] }
                return penalize(peer, log: head.log, "checkpoint of \(head.log) does not verify against the log's key: \(error)")
            }
        }
        // A checkpoint no node would store (a size past SQLite's integers, an extension line a
        // Quartet writer never signs) is taken for nothing: its size goes nowhere a later
        // conversion could trap on it.
        guard checkpoint.size <= UInt64(Int64.max), checkpoint.extensionRefusal == nil else { return [] }
        // Never lowered by a head: one the peer sent before a batch pushed to it arrived would
        // otherwise turn the next push into an announcement and a request (a round trip more).
        // A peer that really holds less asks for what it lacks; a new connection starts afresh.
        if checkpoint.size >= peers[peer]!.sizes[head.log] ?? 0 { peers[peer]!.unverified.remove(head.log) }
        peers[peer]!.sizes[head.log] = max(peers[peer]!.sizes[head.log] ?? 0, checkpoint.size)
        noteSeen(head.log, checkpoint)
        guard quarantined[head.log] == nil else { return [] }
        let ours = heads[head.log]
        let ourSize = ours?.size ?? 0
        if checkpoint.size < ourSize || (checkpoint.size == ourSize && ourSize > 0) {
            return compareWithHeld(head.log, note: note, checkpoint: checkpoint, from: peer)
        }
        if head.log == settings.ownLog {
            guard checkpoint.size > ourSize else { return [] }
            // Before its first append a node takes the tail of its own log that peers hold (a
            // restored older copy); afterwards a peer holding more is an alarm.
            // Afterwards a checkpoint beyond what it holds, verified under its own key, was signed
            // by another process: a second live copy of this node, or its key's thief. Appending
            // on would sign the other entry at that index (the fork): the writer is held.
            if !ownSync.synced {
                let live = liveSigner(checkpoint, peer: peer)
                return live.isEmpty ? request(head.log, from: peer) : live
            }
            // (Unless the store holds it: the writer commits before the replicator is told, and
            // any member may read the new checkpoint in between and show it back.)
            // (Keyed by the note as verified, the log's line alone: other lines added change nothing.)
            guard ownSync.superseded == nil, !ownEchoes.contains(note) else { return [] }
            return [.checkOwnAhead(peer: peer, checkpoint: checkpoint, note: note)]
        }
        guard checkpoint.size > ourSize else { return [] }
        return request(head.log, from: peer)
    }

    /// Whether this node's request for `log` is out to `peer`.
    private func awaiting(_ log: String, from peer: String) -> Bool {
        peers[peer]?.requested[log] != nil
    }

    /// The heads kept while their writer was asked (`waitingHeads`), taken now for each log
    /// whose request ended: dropped if their peer has gone, or if they claim no more than is
    /// held or being stored (the answer overtook them: the old code verified such a head only
    /// to learn a size it then did nothing with; taken as a head claiming no progress, it would
    /// spend the round's few checks and read the store).
    private mutating func replayWaitingHeads() -> [Directive] {
        guard !waitingHeads.isEmpty else { return [] }
        return waitingHeads.keys.sorted().flatMap { takeWaitingHead($0) }
    }

    /// The head kept for `log`, taken if its request ended (else nothing).
    private mutating func takeWaitingHead(_ log: String) -> [Directive] {
        guard let waiting = waitingHeads[log], !awaiting(log, from: waiting.peer) else { return [] }
        guard peers[waiting.peer]?.connected == true, peers[waiting.peer]?.greeted == true else {
            waitingHeads[log] = nil
            return []
        }
        if let held = heads[log], waiting.size <= held.checkpoint.size {
            waitingHeads[log] = nil
            // At the size held, a root other than the one held is a second history, signed by
            // the writer: checked (one signature) and said (was dropped unchecked, the proof in
            // hand). Below it, dropped unchecked like the heads it replaced: nothing of it is
            // stored, served or cosigned here, as if it had not been shown.
            guard waiting.size == held.checkpoint.size, let parsed = try? SignedNote(parsing: waiting.head.note),
                  let claimed = try? Checkpoint(parsing: parsed.text), claimed.root != held.checkpoint.root else { return [] }
            return receivedHead(waiting.head, from: waiting.peer)
        }
        // Covered by a batch in flight, which may be another peer's and yet be refused: kept
        // until that batch is stored (then dropped above) or not (then taken: was dropped, and
        // the writer's size stayed what it was before, so a relay whose batch was rejected could
        // be asked again in its place).
        guard waiting.size > max(storing[log] ?? 0, pending[log]?.batch.end ?? 0) else { return [] }
        waitingHeads[log] = nil
        return receivedHead(waiting.head, from: waiting.peer)
    }

    /// The shell dropped a comparison it was asked for (`.check`) without making it (a waiting
    /// one replaced): the note is compared again when it is next shown, by anyone.
    public mutating func forgetCompared(_ note: String) { compared.remove(note) }

    /// A validly signed checkpoint no larger than what is held must agree with it: at the same
    /// size the roots are compared here (a difference is evidence as it stands); below it the
    /// shell compares it with the stored tree.
    mutating func compareWithHeld(_ log: String, note: String, checkpoint: Checkpoint, from peer: String) -> [Directive] {
        guard let ours = heads[log], checkpoint.size == ours.size else {
            // A checkpoint already compared with the stored tree is not compared again (a
            // member replaying old heads or batches would make the shell read the tree each time).
            guard compared.insert(note) else { return [] }
            return [.check(peer: peer, log: log, note: note, checkpoint: checkpoint)]
        }
        guard checkpoint.root != ours.checkpoint.root else { return [] }
        return quarantine(Evidence(log: log, first: ours.note, second: note, prefixRoot: checkpoint.root, proof: []), from: nil)
    }

    /// Asks for what follows `from` (default: what is held) of `log`, from its writer when that is
    /// connected and has more (so each origin serves its own log and the load spreads), else
    /// from `peer`, else from any connected peer that has more; never from a peer that answered
    /// `unavailable` for the log this round. At most one request per log is outstanding. A
    /// peer whose size is only an unverified claim (`Peer.unverified`) is asked last, and a
    /// request out to one gives way to a peer that verifiably holds more: a member announcing
    /// made-up heads of a log under a key nobody has cannot keep its one request slot.
    mutating func request(_ log: String, from peer: String, at start: UInt64? = nil) -> [Directive] {
        guard !disowned.contains(log) else { return [] }
        let from = start ?? heads[log]?.size ?? 0
        guard start != nil || storing[log] == nil else { return [] }
        guard !notStoredThisRound.contains(log) else { return [] }
        func offers(_ candidate: String) -> Bool {
            guard let state = peers[candidate], state.connected, state.greeted, !state.withheld.contains(log) else { return false }
            // A claimant of the own log that gave nothing is not asked again (OwnLogSync).
            if log == settings.ownLog && ownSyncDropped(candidate) { return false }
            return (state.sizes[log] ?? 0) > from
        }
        func verified(_ candidate: String) -> Bool { peers[candidate]?.unverified.contains(log) != true }
        func answers(_ candidate: String) -> Bool { peers[candidate]?.unanswered.contains(log) != true }
        let candidates = [settings.writer(of: log), peer] + connectedPeers
        let target: String
        if let out = peers.first(where: { $0.value.requested[log] != nil })?.key, peers[out]!.withheld.contains(log) {
            // Asked, then withheld this round for its answer (a batch this node could not take
            // from it): the request ended; the log is asked of another peer now, not when the
            // round ends.
            peers[out]!.requested[log] = nil
            return request(log, from: peer, at: start)
        }
        if let out = peers.first(where: { $0.value.requested[log] != nil })?.key {
            // An unverified claimant, or one that left a request unanswered before, gives way to
            // a verified holder that answers.
            guard !verified(out) || !answers(out),
                  let better = candidates.first(where: { $0 != out && offers($0) && verified($0) && (answers($0) || !verified(out)) }) else { return [] }
            peers[out]!.requested[log] = nil
            target = better
        } else {
            guard let chosen = candidates.first(where: { offers($0) && verified($0) && answers($0) })
                    ?? candidates.first(where: { offers($0) && verified($0) }) ?? candidates.first(where: offers) else { return [] }
            target = chosen
        }
        peers[target]!.requested[log] = from
        if log == settings.ownLog && !ownSync.synced {
            ownSync.asked.insert(target)
            ownSync.askedInRound.insert(target)
        }
        return [.send(peer: target, .request(log: log, from: from))]
    }

    /// Heads (and batches that cannot be stored) of one log from one peer whose notes claim
    /// no progress and are checked in a round: an honest member shows each checkpoint once
    /// (the anti-entropy round's head, a head of each new commit, which claims progress).
    static let maxHeadChecksPerRound = 8
    /// Copies of one evidence already excused that a peer may send again a round (the sender
    /// resends it each of its rounds, and on each connection, while this node still announces
    /// the log; the rounds are not in step).
    static let excusedResendsPerRound = 4
    /// Notes claiming progress checked a round per peer and log: 256 a second at the 2-second
    /// round, beyond any writer's commits that go as heads rather than pushes; a writer minting
    /// rising sizes of its own log (only its key can) costs each node at most that many checks,
    /// ~5 % of a core.
    static let maxProgressChecksPerRound = 512

    /// Whether `text`, a note of `log` from `peer`, may be checked now: it is in the memo (no
    /// check), it claims more of the log than this node and the peer were known to hold (only
    /// the log's writer can sign sizes beyond what exists, each moving the mark on, and one
    /// never backed is said, `unbacked`), or one of this round's head checks is left. A note
    /// that does not parse is let through to be refused as it is.
    mutating func mayCheck(_ text: String, log: String, peer: String) -> Bool {
        guard let chain = chains[log], let parsed = try? SignedNote(parsing: text), let claimed = try? Checkpoint(parsing: parsed.text) else { return true }
        if verifiedNotes[chain.verifier(forSize: claimed.size).originOnly(parsed).serialized] != nil { return true }
        if claimed.size > max(heads[log]?.size ?? 0, peers[peer]!.sizes[log] ?? 0) {
            let checks = peers[peer]!.progressChecks[log, default: 0]
            guard checks < Self.maxProgressChecksPerRound else { return false }
            peers[peer]!.progressChecks[log] = checks + 1
            return true
        }
        return spendHeadCheck(log, peer)
    }

    /// One of this round's head checks of `log` for `peer`, if any is left.
    private mutating func spendHeadCheck(_ log: String, _ peer: String) -> Bool {
        let checks = peers[peer]!.headChecks[log, default: 0]
        guard checks < Self.maxHeadChecksPerRound else { return false }
        peers[peer]!.headChecks[log] = checks + 1
        return true
    }

    /// Verifies `text` as a checkpoint of `log` signed by the key in force at its size
    /// (remembered), returning it and the note with that key's signature line only. Keyed by
    /// that note, so extra signature lines do not defeat the memo.
    mutating func verified(_ text: String, log: String, chain given: KeyChain? = nil) throws -> (checkpoint: Checkpoint, note: String) {
        guard let chain = given ?? chains[log] else { throw WireError("unknown log \(log)") }
        let parsed = try SignedNote(parsing: text)
        let claimed = try Checkpoint(parsing: parsed.text)
        let verifier = chain.verifier(forSize: claimed.size)
        let key = verifier.originOnly(parsed).serialized
        if let known = verifiedNotes[key], known.checkpoint.origin == verifier.name,
           chain.revoked[verifier.publicKey].map({ known.checkpoint.size <= $0 }) ?? true { return known }
        checkpointsVerified += 1
        let (checkpoint, only) = try chain.verifyCheckpoint(parsed)
        let result = (checkpoint, only.serialized)
        verifiedNotes[key] = result
        return result
    }

    /// What `signedPastRotation` found of a note.
    enum PastRotation {
        /// Not signed by a key the chain rotated away from (beyond its rotation).
        case none
        /// Validly signed by such a key, beyond its rotation: the rotation's index, the size,
        /// and the note with that key's line only.
        case fork(rotation: UInt64, size: UInt64, line: String)
        /// Not told: the peer's checks of this log's notes against old keys are spent this round
        /// (a note padded with lines of every old key); not held against it, looked at again
        /// when shown in a later round.
        case putOff

        var fork: (rotation: UInt64, size: UInt64, line: String)? {
            guard case .fork(let rotation, let size, let line) = self else { return nil }
            return (rotation, size, line)
        }
    }

    /// Whether a checkpoint of `log` is validly signed by a key its chain rotated away from, at
    /// a size beyond that rotation (with no line of the key in force there); a key the federation
    /// revoked below that size does not count (its thief could sign any root: nothing to tell).
    /// Each old key the note carries a line of is checked once (a chain's keys and their ids are
    /// distinct), each check spending one of the peer's `maxPastKeyChecksPerRound` for the log:
    /// junk lines in front of a real one cost their sender's budget, never hide the real one
    /// for good, and never make an honest relay of the note blamed.
    mutating func signedPastRotation(_ text: String, log: String, peer: String) -> PastRotation {
        guard let chain = chains[log], let parsed = try? SignedNote(parsing: text), let claimed = try? Checkpoint(parsing: parsed.text),
              claimed.origin == chain.origin else { return .none }
        let lines = Set(parsed.signatures.lazy.filter { $0.keyName == chain.origin }.map(\.keyID))
        for rotation in chain.rotations where claimed.size > rotation.index {
            if let limit = chain.revoked[rotation.previous], claimed.size > limit { continue }
            let old = NoteVerifier(name: chain.origin, publicKey: rotation.previous)
            guard lines.contains(old.keyID) else { continue }
            let spent = peers[peer]?.pastKeyChecks[log, default: 0] ?? 0
            guard spent < Self.maxPastKeyChecksPerRound else { return .putOff }
            peers[peer]?.pastKeyChecks[log] = spent + 1
            if (try? old.verify(parsed)) != nil { return .fork(rotation: rotation.index, size: claimed.size, line: old.originOnly(parsed).serialized) }
        }
        return .none
    }

    /// Whether a checkpoint of `log` is validly signed by a key the federation revoked below its
    /// size. Each revoked key the note carries a line of is checked once, from the same budget as
    /// `signedPastRotation` (a spent budget puts the note off, as there).
    mutating func signedPastRevocation(_ text: String, log: String, peer: String) -> Bool {
        if pastRevocation.contains(text) { return true }
        guard let chain = chains[log], let revoked = Self.revokedKeysSigning(text, chain: chain) else { return false }
        for verifier in revoked.keys {
            // Past the budget, put off (not taken, not blamed): a relay not reloaded yet passes
            // on every batch the key's thief commits, at the thief's pace; junk under a revoked
            // key's id fails its check within the budget and is blamed there.
            let spent = peers[peer]?.pastKeyChecks[log, default: 0] ?? 0
            guard spent < Self.maxPastKeyChecksPerRound else { return true }
            peers[peer]?.pastKeyChecks[log] = spent + 1
            if (try? verifier.verify(revoked.note)) != nil {
                _ = pastRevocation.insert(text)
                return true
            }
        }
        return false
    }

    /// The keys of `chain` the federation revoked below the size of the checkpoint `text` that
    /// the note carries a line of (in key id order), with the parsed note; none if it is no
    /// checkpoint of the chain's origin.
    static func revokedKeysSigning(_ text: String, chain: KeyChain) -> (keys: [NoteVerifier], note: SignedNote)? {
        guard !chain.revoked.isEmpty, let parsed = try? SignedNote(parsing: text), let claimed = try? Checkpoint(parsing: parsed.text),
              claimed.origin == chain.origin else { return nil }
        let lines = Set(parsed.signatures.lazy.filter { $0.keyName == chain.origin }.map(\.keyID))
        let keys = chain.revoked.filter { claimed.size > $0.value }.map { NoteVerifier(name: chain.origin, publicKey: $0.key) }
            .filter { lines.contains($0.keyID) }.sorted { $0.keyID.lexicographicallyPrecedes($1.keyID) }
        return (keys, parsed)
    }

    /// Checks of one peer's notes of one log against keys the log rotated away from, a round:
    /// an honest note beyond a rotation carries the key in force's line and, in the overlap,
    /// the previous key's.
    static let maxPastKeyChecksPerRound = 8

    /// What to do with a checkpoint `signedPastRotation` found. The writer signs with both keys
    /// during a rotation's overlap, so anyone holding such a note can strip the new key's line:
    /// only the stored tree tells a second history from this one. Beyond what is held nothing
    /// can be told yet (it is looked at again when shown once this node holds as much); within
    /// it the shell compares it with the stored tree (`checkFork`, once per note).
    /// Keyed by the note with the old key's line only, so lines added to it make no new
    /// comparison.
    private mutating func suspectedFork(_ log: String, note: String, _ fork: (rotation: UInt64, size: UInt64, line: String), from peer: String? = nil) -> [Directive] {
        guard fork.size <= heads[log]?.size ?? 0, let parsed = try? SignedNote(parsing: fork.line), let checkpoint = try? Checkpoint(parsing: parsed.text),
              compared.insert(fork.line) else { return [] }
        return [.checkFork(peer: peer ?? "", log: log, note: fork.line, checkpoint: checkpoint, rotation: fork.rotation)]
    }

    /// The shell's answer to `checkFork`: the checkpoint is not of the stored tree (a second
    /// history beyond the rotation, signed by the key rotated away from: said, the peer not
    /// blamed), or it is this history with the line of the key in force removed (blamed: no
    /// honest node keeps only the old key's line beyond a rotation).
    public mutating func checkedFork(_ log: String, size: UInt64, rotation: UInt64, matchesStored: Bool, shownBy peer: String) -> [Directive] {
        if matchesStored {
            return penalize(peer, log: log, "a checkpoint of \(log) at size \(size), of the history held here, with the line of the key in force there removed (only the key \(log) rotated away from at entry \(rotation) signs it)")
        }
        // Said once a round per peer and log (each checkpoint of that history would say it).
        guard peers[peer]?.forkSaid.insert(log).inserted != false else { return [] }
        return [.alert(ReplicationAlert(kind: .rotationFork, log: log, peer: peer,
                                        message: "\(peer) showed a checkpoint of \(log) at size \(size) signed by the key \(log) rotated away from at entry \(rotation), not by the key in force there, and not of the history held here: a second history of \(log) beyond its key rotation"))]
    }

    /// The size a head claims when it is signed under the log's origin by a key its chain does
    /// not hold (nil for any other failure).
    func unknownKeyHead(_ head: Message.Head) -> UInt64? {
        guard let chain = chains[head.log], let parsed = try? SignedNote(parsing: head.note), chain.signedByUnknownKey(parsed),
              let claimed = try? Checkpoint(parsing: parsed.text), claimed.origin == chain.origin,
              claimed.size <= UInt64(Int64.max), claimed.extensionRefusal == nil else { return nil }
        return claimed.size
    }

    /// A batch with more than `maxNewRotationsPerBatch` rotations new to the chain.
    struct TooManyRotations: Error { var log: String }
    /// A batch with new rotations from a peer whose head checks this round are spent.
    struct RotationChecksSpent: Error {}

    /// At most this many rotations new to the chain in one batch (a node cuts the batches it
    /// serves before the next: `LedgerStore.batch(maxRotations:)`): each costs two signature
    /// checks, and a log's writer can make valid ones as fast as it likes (a frame of thousands
    /// cost a receiver seconds of its engine's queue). A log rotates its key by a ceremony of its
    /// operator and the federation: a handful in its whole life.
    public static let maxNewRotationsPerBatch = 8

    /// The log's chain with the key rotations among `entries` applied (entries whose header
    /// names the rotation type are decoded; the rest are not touched). A rotation the chain
    /// holds costs no signature check, and one it does not is checked against the chain (order,
    /// key in force, revocations) before its signatures.
    private mutating func chain(_ log: String, on base: KeyChain? = nil, extendedBy entries: [WireEntry], from peer: String? = nil) throws -> KeyChain? {
        guard var chain = base ?? chains[log] else { return nil }
        var new: [KeyRotation] = []
        // By index: iterating the elements copies each one.
        for i in entries.indices where Self.mayBeRotation(entries[i].headerBytes) {
            let entry = try Entry(headerBytes: entries[i].headerBytes, payload: entries[i].payload)
            guard let rotation = try KeyRotation.from(entry, origin: chain.origin, verifyingSignatures: false), !chain.holds(rotation) else { continue }
            new.append(rotation)
            guard new.count <= Self.maxNewRotationsPerBatch else { throw TooManyRotations(log: log) }
        }
        // New rotations from a peer count against its head checks, whether or not the batch
        // can be stored (a frame of valid rotations under a note that then fails was replayed
        // for ever, its failure excused as a key not known yet).
        if !new.isEmpty, let peer, !spendHeadCheck(log, peer) { throw RotationChecksSpent() }
        for rotation in new {
            try chain.check(rotation)
            rotationsVerified += 1
            try rotation.verifySignatures()
            try chain.apply(rotation)
        }
        return chain
    }

    private static let rotationType = Array(KeyRotation.entryType.utf8)

    /// Whether the header bytes name the rotation type (read in place, a cheap filter before
    /// decoding: almost no entry is one; a header that does not decode fails where it is stored).
    static func mayBeRotation(_ header: [UInt8]) -> Bool {
        EntryHeader.hasType(rotationType, encoded: header)
    }

    mutating func noteSeen(_ log: String, _ checkpoint: Checkpoint) {
        if checkpoint.size > seen[log]?.size ?? 0 || seen[log] == nil { seen[log] = checkpoint }
    }

    private mutating func receivedBatch(_ received: Batch, from peer: String) -> [Directive] {
        var batch = received
        // A request is answered by a verified batch from where it asked (below); anything else
        // leaves it out, so the round's end marks a peer that sends batches but never the one
        // asked for (the own log's sync keeps its own account).
        if batch.log == settings.ownLog { peers[peer]!.requested[batch.log] = nil }
        guard settings.verifiers[batch.log] != nil else { return penalize(peer, log: batch.log, "entries for unknown log \(batch.log)") }
        guard batch.log != settings.ownLog || !ownSync.synced else {
            // A late answer to a request of the sync (a slow peer's, asked before the round
            // moved on to another) that holds nothing new is old news, nobody's fault.
            if ownSync.asked.contains(peer), batch.end <= heads[batch.log]?.size ?? 0 { return [] }
            return penalize(peer, log: batch.log, "entries for this node's own log \(batch.log); only this node writes it")
        }
        // A copy holding a checkpoint signed past a revocation takes nothing more of the log
        // (the real history does not continue it): nobody's fault, said at the reload.
        guard quarantined[batch.log] == nil, !disowned.contains(batch.log) else { return [] }
        let ourSize = heads[batch.log]?.size ?? 0
        // Old news under a note not checked before costs a check like a head, and counts with
        // them (an empty batch is a head by another name).
        if batch.end <= ourSize, !mayCheck(batch.note, log: batch.log, peer: peer) { return [] }
        // From what is held while a batch from there is being stored: it would be dropped once
        // checked (a replay of the batch in flight cost its note and its new rotations each time).
        if batch.from == ourSize, batch.end > ourSize, storing[batch.log] != nil {
            // An answer to this node's request from where it asked ends the request all the same
            // (it was left out: once the store was done the log waited for the round's end, and
            // the peer that did answer was counted as one that does not).
            if peers[peer]!.requested[batch.log] == batch.from { peers[peer]!.requested[batch.log] = nil }
            return []
        }
        // Whether it can be stored (or kept to be, after the batch in flight): only then are
        // its rotations and note worth their checks without counting.
        let keepable: Bool
        if let end = storing[batch.log] {
            keepable = pending[batch.log].map { batch.from == $0.batch.end && $0.peer == peer } ?? (batch.from == end)
        } else {
            keepable = batch.from == ourSize
        }
        // A batch past what is held that it cannot store now is only answered by asking for
        // what precedes it: its rotations are not checked (a writer replaying a frame of valid
        // rotations beyond a gap made every check again, unpenalised); a checkpoint signed by a
        // key they lead to is asked about below like any key this node does not know yet.
        let onlyAsks = batch.from > ourSize && !keepable
        // Any other batch it cannot store (past a gap, overlapping what is held) costs a check
        // like a head when its note claims no progress (its new rotations count in `chain`).
        if !keepable, batch.end > ourSize, !mayCheck(batch.note, log: batch.log, peer: peer) { return [] }
        // Key rotations in the batch change the key its checkpoint must be signed by, on top
        // of those in the batches in flight that it continues.
        let base: KeyChain?
        if let waiting = pending[batch.log], batch.from >= waiting.batch.end {
            base = pendingChain[batch.log] ?? storingChain[batch.log]
        } else if let end = storing[batch.log], batch.from >= end {
            base = storingChain[batch.log]
        } else {
            base = nil
        }
        let chain: KeyChain?
        // (A chain in flight is followed again with the file's word as it is now: a reload may
        // have come since it was made.)
        do {
            chain = try self.chain(batch.log, on: base.map { refollowed(batch.log, $0).chain }, extendedBy: onlyAsks ? [] : batch.entries, from: peer)
        } catch is RotationChecksSpent {
            return []
        } catch is TooManyRotations {
            // Not checked, and not held against the peer (a node before this limit cuts its
            // batches without it): the log is asked of another peer this round.
            peers[peer]!.withheld.insert(batch.log)
            return request(batch.log, from: peer)
        } catch let error as LedgerError where error.code == .chainLimit && peer != settings.writer(of: batch.log) {
            // A rotation whose signatures hold but which the chain's limits refuse (a long or
            // cycling chain): a relay before those limits took it in good faith. Not held
            // against it; the log is asked of another peer (and stops here at that rotation).
            peers[peer]!.withheld.insert(batch.log)
            return request(batch.log, from: peer)
        } catch {
            if pastGap(batch) { return request(batch.log, from: peer) }  // what precedes the gap may explain it
            return penalize(peer, log: batch.log, "batch of \(batch.log): \(error)")
        }
        let checkpoint: Checkpoint
        do {
            // Only the signature line of the key in force is kept (a relay may have added others).
            (checkpoint, batch.note) = try verified(batch.note, log: batch.log, chain: chain)
        } catch {
            // Past a gap, signed by a key this node does not know yet: the entries in the gap
            // may hold the rotation to it (batches arrive out of order across connections).
            if pastGap(batch), let parsed = try? SignedNote(parsing: batch.note), chains[batch.log]?.signedByUnknownKey(parsed) == true {
                return request(batch.log, from: peer)
            }
            switch signedPastRotation(batch.note, log: batch.log, peer: peer) {
            case .fork(let rotation, let size, let line):
                peers[peer]!.withheld.insert(batch.log)
                return suspectedFork(batch.log, note: batch.note, (rotation, size, line), from: peer) + request(batch.log, from: settings.writer(of: batch.log))
            case .putOff:
                // Not told this round: not held against the peer; the log is asked elsewhere.
                peers[peer]!.withheld.insert(batch.log)
                return request(batch.log, from: peer)
            case .none:
                break
            }
            // Signed by a key revoked below its size (a relay not reloaded yet passing on a
            // thief's batch): nothing of it is taken, nobody is blamed, the log is asked elsewhere.
            if signedPastRevocation(batch.note, log: batch.log, peer: peer) {
                peers[peer]!.withheld.insert(batch.log)
                return request(batch.log, from: peer)
            }
            // Not past a gap, signed by a key this copy's history does not lead to, and carrying
            // no rotation to it: the peer's copy and this one part before `from` (the other side
            // of a fork across a rotation, seen from the copy without it). Said, not blamed; the
            // log is asked of the others this round.
            // (Only for a batch continuing this copy from somewhere past its start: from 0 no
            // rotation can precede it, and such a batch is a forgery.)
            if batch.from > 0, batch.from == heads[batch.log]?.size ?? 0,
               let parsed = try? SignedNote(parsing: batch.note), chains[batch.log]?.signedByUnknownKey(parsed) == true {
                peers[peer]!.withheld.insert(batch.log)
                let asked = request(batch.log, from: settings.writer(of: batch.log))
                // Said once a round per peer and log.
                guard peers[peer]!.forkSaid.insert(batch.log).inserted else { return asked }
                return asked + [.alert(ReplicationAlert(kind: .rotationFork, log: batch.log, peer: peer,
                                                message: "\(peer)'s entries of \(batch.log) from \(batch.from) come under a checkpoint signed by a key this copy's history of the log does not lead to, with no rotation to it among them: the two copies part before \(batch.from) (a second history across a key rotation, or a peer sending a made-up checkpoint)"))]
            }
            return penalize(peer, log: batch.log, "batch of \(batch.log): checkpoint does not verify against the log's key: \(error)")
        }
        // The rotations are authentic (each signed by the key in force where it stands, and by
        // its new key) and consistent with those held; they take effect once the batch is stored.
        guard checkpoint.size == batch.end else {
            return penalize(peer, log: batch.log, "batch of \(batch.log) covers [\(batch.from), \(batch.end)) but its checkpoint has size \(checkpoint.size)")
        }
        if peers[peer]!.requested[batch.log] == batch.from, batch.end > batch.from { peers[peer]!.requested[batch.log] = nil }
        // Entries may arrive as stubs (header only) where data-sharing agreements keep the payload
        // from this node: the leaves, and so the checkpoint, verify all the same.
        noteSeen(batch.log, checkpoint)
        peers[peer]!.sizes[batch.log] = max(peers[peer]!.sizes[batch.log] ?? 0, checkpoint.size)
        if batch.end <= ourSize {
            // Old news; but a checkpoint is only as good as its consistency with ours.
            return compareWithHeld(batch.log, note: batch.note, checkpoint: checkpoint, from: peer)
        }
        // Nothing is stored under a note with lines a Quartet writer never signs (after the
        // comparison above, so a fork signed with such lines is still caught as one).
        if let refusal = checkpoint.extensionRefusal { return penalize(peer, log: batch.log, "batch of \(batch.log): \(refusal)") }
        if let end = storing[batch.log], batch.from >= end {
            // It continues the batch being stored (or the one waiting after it): keep it.
            switch keepPending(batch, checkpoint: checkpoint, from: peer, after: end) {
            case .kept:
                peers[peer]!.unanswered.remove(batch.log)
                // The waiting batch now ends with this one: its rotations are this one's chain.
                if let chain { pendingChain[batch.log] = chain }
                return []
            case .dropped: return []
            case .neither: break
            }
        }
        guard batch.from == ourSize else {
            // A gap (we missed something): ask for what follows what we hold.
            return request(batch.log, from: peer)
        }
        guard storing[batch.log] == nil else { return [] }
        storing[batch.log] = batch.end
        storingChain[batch.log] = chain
        peers[peer]!.unanswered.remove(batch.log)
        var out: [Directive] = [.store(peer: peer, batch: batch, checkpoint: checkpoint)]
        // The writer's newest head kept while this answer came (`waitingHeads`) is taken now,
        // if it claims more than the answer: its size decides the next request below.
        out += takeWaitingHead(batch.log)
        // Ask for the next batch now, so the sender reads it while this one is stored.
        if (peers[peer]!.sizes[batch.log] ?? 0) > batch.end {
            out = request(batch.log, from: peer, at: batch.end) + out
        }
        return out
    }

    /// Whether `batch` starts beyond what is held or being stored (entries are missing before it).
    private func pastGap(_ batch: Batch) -> Bool {
        batch.from > storing[batch.log] ?? heads[batch.log]?.size ?? 0
    }

    /// What `keepPending` did with a batch.
    private enum Kept { case kept, dropped, neither }

    /// Keeps `batch` to store after the one storing (ending at `end`) when it starts there, or
    /// merges it into the waiting one it continues (`kept`); drops one that continues neither
    /// but starts within or after the waiting one (`dropped`: asked for again later); `neither`
    /// when it fits none of these (the caller treats it as before: a gap, or a duplicate).
    private mutating func keepPending(_ batch: Batch, checkpoint: Checkpoint, from peer: String, after end: UInt64) -> Kept {
        guard var waiting = pending[batch.log] else {
            guard batch.from == end else { return .neither }
            pending[batch.log] = (peer, batch, checkpoint)
            return .kept
        }
        // Only the same sender's: a merged batch that is refused counts against one peer, so
        // another's entries must not ride on it.
        guard batch.from == waiting.batch.end, waiting.peer == peer,
              waiting.batch.entries.count + batch.entries.count <= ProtocolLimits.maxBatchEntries,
              CommitCoalescer.bytes(waiting.batch.entries) + CommitCoalescer.bytes(batch.entries) <= ProtocolLimits.batchBytesBudget else {
            // Not the next one, or too much to hold: it is asked for again once these are stored.
            return batch.from >= waiting.batch.from ? .dropped : .neither
        }
        waiting.batch.entries += batch.entries
        waiting.batch.note = batch.note
        waiting.checkpoint = checkpoint
        pending[batch.log] = waiting
        return .kept
    }

    /// The shell stored a batch received from `peer`.
    public mutating func stored(_ batch: Batch, checkpoint: Checkpoint, from peer: String) -> [Directive] {
        let out = storedBody(batch, checkpoint: checkpoint, from: peer)
        return out + replayWaitingHeads()
    }

    private mutating func storedBody(_ batch: Batch, checkpoint: Checkpoint, from peer: String) -> [Directive] {
        storing[batch.log] = nil
        // Its rotations are now part of the log here: later checkpoints are checked by them
        // (followed with the file's word on the log as it is now; a stop is said).
        var said: [Directive] = []
        if let chain = storingChain.removeValue(forKey: batch.log) {
            let followed = refollowed(batch.log, chain)
            chains[batch.log] = followed.chain
            if let stop = followed.stopped {
                stopped[batch.log] = stop
                said = stoppedChainAlerts(only: batch.log)
            }
        }
        // Checked before a reload revoked the key that signed it, stored after: checked again
        // under the chain followed now. Signed past the revocation, the log is disowned as a
        // reload disowns a head (`disownRevokedHeads`): held, passed on to nobody, the batch
        // that waited behind it dropped (was: taken as the head, the log no longer disowned, the
        // thief's history announced, served and shown verified until the next restart).
        // So is one whose own rotation (the thief's, by the revoked key) the chain now stops at:
        // its checkpoint is signed past the stop.
        if let reason = unfollowed(batch.note, log: batch.log) {
            if checkpoint.size > heads[batch.log]?.size ?? 0 { heads[batch.log] = LogHead(checkpoint: checkpoint, note: batch.note) }
            pending[batch.log] = nil
            pendingChain[batch.log] = nil
            let told = disowned.contains(batch.log) ? [] : [Self.disownedAlert(batch.log, size: checkpoint.size, reason)]
            disowned.insert(batch.log)
            return said + told
        }
        // Quarantined while it was being stored: held, but passed on to nobody.
        if quarantined[batch.log] != nil {
            if checkpoint.size > heads[batch.log]?.size ?? 0 {
                heads[batch.log] = LogHead(checkpoint: checkpoint, note: batch.note)
                disowned.remove(batch.log)
            }
            return said
        }
        let nextChain = pendingChain.removeValue(forKey: batch.log)
        guard let next = pending.removeValue(forKey: batch.log) else { return said + advanced(batch, checkpoint: checkpoint, source: peer) }
        // The batch that waited goes in next; what else the peers hold is asked for after it.
        var out = said + advanced(batch, checkpoint: checkpoint, source: peer, requestMore: next.batch.from != checkpoint.size)
        if next.batch.from == heads[batch.log]?.size, quarantined[batch.log] == nil {
            storing[batch.log] = next.batch.end
            storingChain[batch.log] = nextChain
            out.append(.store(peer: next.peer, batch: next.batch, checkpoint: next.checkpoint))
        }
        return out
    }

    /// The shell refused a batch from `peer` (leaves that do not match the signed root, bad
    /// entries); nothing of it was stored.
    public mutating func rejected(_ batch: Batch, from peer: String, reason: String) -> [Directive] {
        let out = rejectedBody(batch, from: peer, reason: reason)
        return out + replayWaitingHeads()
    }

    private mutating func rejectedBody(_ batch: Batch, from peer: String, reason: String) -> [Directive] {
        storing[batch.log] = nil
        pending[batch.log] = nil
        storingChain[batch.log] = nil
        pendingChain[batch.log] = nil
        var out = penalize(peer, log: batch.log, "batch of \(batch.log) [\(batch.from), \(batch.end)) rejected: \(reason)")
        // If the peer holds a longer history that contradicts ours (the origin equivocated), our
        // head lets it check ours against its tree and produce the evidence.
        if let head = heads[batch.log], !disowned.contains(batch.log), peers[peer]?.connected == true, peers[peer]?.greeted == true {
            out.append(.send(peer: peer, .heads([Message.Head(log: batch.log, note: head.note)])))
        }
        return out
    }

    /// The shell could not store a batch for a reason of its own (its disk), not the batch's:
    /// nothing was stored and nobody is blamed; the range is asked for again at the next round.
    public mutating func notStored(_ batch: Batch) -> [Directive] {
        let out = notStoredBody(batch)
        return out + replayWaitingHeads()
    }

    private mutating func notStoredBody(_ batch: Batch) -> [Directive] {
        notStoredThisRound.insert(batch.log)
        storing[batch.log] = nil
        pending[batch.log] = nil
        storingChain[batch.log] = nil
        pendingChain[batch.log] = nil
        return []
    }

    /// The shell refused a batch in a form this node may not take from anyone (a stub of an
    /// entry it may hold in full, a forged aggregate): nothing was stored, the sender is
    /// reported, and the range is asked of the log's writer (or another peer), not of the
    /// sender, until the next anti-entropy round.
    public mutating func refused(_ batch: Batch, from peer: String, reason: String) -> [Directive] {
        let out = refusedBody(batch, from: peer, reason: reason)
        return out + replayWaitingHeads()
    }

    private mutating func refusedBody(_ batch: Batch, from peer: String, reason: String) -> [Directive] {
        storing[batch.log] = nil
        pending[batch.log] = nil
        storingChain[batch.log] = nil
        pendingChain[batch.log] = nil
        peers[peer]?.requested[batch.log] = nil
        peers[peer]?.withheld.insert(batch.log)
        var out = penalize(peer, log: batch.log, "batch of \(batch.log) [\(batch.from), \(batch.end)) from \(peer) refused: \(reason)")
        guard quarantined[batch.log] == nil, batch.log != settings.ownLog else { return out }
        out += request(batch.log, from: settings.writer(of: batch.log))
        return out
    }

    /// This node committed a batch to its own log.
    public mutating func committed(_ batch: Batch, checkpoint: Checkpoint) -> [Directive] {
        // Committed after another process was seen signing the own log (a transaction already
        // under way when the writer was refused): held here, published to nobody.
        // (Its head is not raised either: it would be compared with peers' heads, served and
        // put into evidence.)
        if batch.log == settings.ownLog, ownSync.superseded != nil { return [] }
        return advanced(batch, checkpoint: checkpoint, source: nil)
    }

    /// A log grew here: push the batch to peers that hold exactly what precedes it, tell the
    /// others the new head, and ask the source for more if it has more.
    private mutating func advanced(_ batch: Batch, checkpoint: Checkpoint, source: String?, requestMore: Bool = true) -> [Directive] {
        heads[batch.log] = LogHead(checkpoint: checkpoint, note: batch.note)
        disowned.remove(batch.log)
        noteSeen(batch.log, checkpoint)
        var out: [Directive] = []
        // A batch the log's writer pushed reached the other connected members from the writer
        // too: relaying it (entries or a head) sent each member up to three more copies of
        // every batch, each checked and most refused as old news. Relays go on for batches taken
        // from anyone else (a member cut off from the writer gets them from those who hold
        // them), and the anti-entropy round still shows every peer every head.
        let pushedByWriter = source.map { $0 == settings.writer(of: batch.log) } ?? false
        for peer in connectedPeers where peer != source && !pushedByWriter {
            let theirs = peers[peer]!.sizes[batch.log]
            if theirs == batch.from && settings.writer(of: batch.log) != peer {
                out.append(.send(peer: peer, .entries(batch)))
                peers[peer]!.sizes[batch.log] = batch.end
            } else if theirs.map({ $0 < batch.end }) ?? true {
                out.append(.send(peer: peer, .heads([Message.Head(log: batch.log, note: batch.note)])))
            }
        }
        if (batch.log == settings.ownLog && ownSync.synced) || !requestMore {
            // Once it appends, this node never takes its own log from anyone (and a batch
            // waiting is stored next).
        } else if let source, let theirs = peers[source]?.sizes[batch.log], theirs > checkpoint.size, peers[source]!.connected {
            out += request(batch.log, from: source)
        } else if let best = seen[batch.log], best.size > checkpoint.size {
            // Someone has more: ask a connected peer that said so.
            if let peer = connectedPeers.first(where: { (peers[$0]!.sizes[batch.log] ?? 0) > checkpoint.size }) {
                out += request(batch.log, from: peer)
            }
        }
        if batch.log == settings.ownLog && source != nil { out += ownSyncCheck() }
        return out
    }

    /// The shell found that a checkpoint a peer showed disagrees with the stored tree.
    public mutating func inconsistent(_ evidence: Evidence) -> [Directive] {
        quarantine(evidence, from: nil)
    }

    private mutating func quarantine(_ evidence: Evidence, from source: String?) -> [Directive] {
        guard quarantined[evidence.log] == nil else { return [] }
        quarantined[evidence.log] = evidence
        // (The engine mirrors the quarantined logs for its witness from the `.keepEvidence` this
        // returns: a release added here must reach that copy too.)
        storing[evidence.log] = nil
        pending[evidence.log] = nil
        storingChain[evidence.log] = nil
        pendingChain[evidence.log] = nil
        var out: [Directive] = [
            .keepEvidence(evidence),
            .alert(ReplicationAlert(kind: .equivocation, log: evidence.log, peer: source,
                                    message: "log \(evidence.log) has two signed checkpoints that cannot both be true; the log is quarantined")),
        ]
        for peer in connectedPeers where peer != source {
            out.append(.send(peer: peer, .evidence(evidence)))
        }
        if evidence.log == settings.ownLog { out += ownLogSuperseded(Self.ownQuarantine(evidence), peer: source) }
        return out
    }

    /// The shell found that the store holds `note`, a checkpoint of the own log a peer showed
    /// beyond the replicator's head: the writer's own commit, not asked about again (a member
    /// replaying it cost a store read each time).
    public mutating func ownCommitShown(_ note: String) {
        if ownEchoes.count >= 16 { ownEchoes.removeAll() }
        ownEchoes.insert(note)
    }

    /// The shell found that the store does not hold `checkpoint` of the own log
    /// (`Directive.checkOwnAhead`): another process signs it.
    public mutating func ownLogAheadConfirmed(_ checkpoint: Checkpoint, peer: String) -> [Directive] {
        let held = heads[settings.ownLog]?.size ?? 0
        guard checkpoint.size > held else { return [] }
        return ownLogSuperseded("\(peer) holds a checkpoint of size \(checkpoint.size) of this node's own log \(settings.ownLog), signed by its key, and this node holds \(held): "
                                + "another process signs this log (a second copy of this node running, or a thief of its key), or this copy, restored from an older backup, opened before a peer holding more of it answered", peer: peer)
    }

    /// Why the own log takes no appends once it is quarantined.
    static func ownQuarantine(_ evidence: Evidence) -> String {
        "this node's own log \(evidence.log) is quarantined: two signed checkpoints of it cannot both be true (another process signed it: a second copy of this node, or a thief of its key)"
    }

    mutating func penalize(_ peer: String, log: String?, _ reason: String) -> [Directive] {
        peers[peer]?.penalties += 1
        peers[peer]?.penalizedThisRound = true
        var out: [Directive] = [.alert(ReplicationAlert(kind: .rejected, log: log, peer: peer, message: reason))]
        if (peers[peer]?.penalties ?? 0) >= settings.penaltyLimit {
            peers[peer]?.penalties = 0
            out.append(.close(peer: peer, reason: "too many rejected messages"))
        }
        return out
    }

    /// The version this node's hello names to `peer`.
    private func announced(to peer: String) -> UInt16 { peers[peer]?.announce ?? settings.protocolVersion }

    /// `peer` refused the version this node's hello named (a node of the first release refuses
    /// any above its own instead of taking the lower, so a federation upgrading one node at a
    /// time would otherwise never connect the two): the next connection names the version the
    /// peer's hello named, or one less than this one named, never below the oldest spoken. A peer
    /// can only lower the version of its own link this way, which it could refuse anyway.
    private mutating func refusedVersion(_ peer: String, _ text: String) -> [Directive] {
        let named = announced(to: peer)
        let lower = peers[peer]!.version > 0 ? min(peers[peer]!.version, named) : named &- 1
        let reason = "peer refused protocol version \(named): \(text)"
        guard lower >= ProtocolLimits.oldest, lower < named else { return [.close(peer: peer, reason: reason)] }
        peers[peer]!.announce = lower
        return [.close(peer: peer, reason: reason + "; the next connection offers version \(lower)")]
    }

    private mutating func violation(_ peer: String, _ code: Message.ErrorCode, _ reason: String) -> [Directive] {
        [.alert(ReplicationAlert(kind: .protocolViolation, log: nil, peer: peer, message: reason)),
         .send(peer: peer, .error(code: code, message: reason)),
         .close(peer: peer, reason: reason)]
    }
}

