// One file over ~350 lines: the engine executes the replicator's directives against its private
// connection, flow and store state on one queue; its status readers are in
// ReplicationEngine+Status.swift.
import Dispatch
import Foundation
import Logging
import NIOCore
import QuartetCrypto
import QuartetLedger
import QuartetPolicy
import QuartetReplication
import QuartetStore
import QuartetTLS
import Synchronization

/// The NIO shell around the pure `Replicator`: it owns the peer connections, feeds the state
/// machine their messages, local commits and timer ticks, and carries out its directives against
/// the store. Everything runs on one serial queue, so per-connection message order is kept and
/// the state machine needs no locks.
///
/// The shell is this file (state, lifecycle, directives, status); its peer connections and
/// dialling are in PeerConnections.swift (state they share is internal for that extension only,
/// and touched on `queue` alone), the connection's handler in PeerChannelHandler.swift, kept
/// evidence in EvidenceStore.swift and alerts in AlertLog.swift.
final class ReplicationEngine: @unchecked Sendable {
    /// A peer connection on which nothing arrives for this long is closed (heads arrive every
    /// anti-entropy period, 2 s).
    static let idleTimeout = TimeAmount.seconds(10)

    let queue = DispatchQueue(label: "quartet.replication")
    /// Where replica batches are stored, off `queue` (`ingest`).
    private let storeQueue = DispatchQueue(label: "quartet.replication.store")
    /// Own commits not yet handed to the replicator (filled by the writer, drained on `queue`).
    let unpushed = Mutex(CommitCoalescer())
    /// The signed checkpoint of an origin this node's witness cosigned last (set once the
    /// witness exists): told to that log's writer when it connects (`Message.witnessed`).
    let witnessedLatest = LateHook<String, String?>()
    /// Told the log of each batch stored in this node's copy (`WitnessService.copyGrew`).
    let copyGrew = LateHook<(log: String, size: UInt64), Void>()
    var replicator: Replicator
    let store: LedgerStore
    /// The federation and TLS contexts in force (a reload replaces them; `reload` tells the
    /// replicator).
    private let live: LiveSettings
    var federation: Federation { live.federation }
    let me: String
    /// The operator's `serve --peer-answers` (nil: the federation's witnesses decide).
    let peerAnswers: Int?
    var clientContext: TLSContext { live.contexts.client }
    let group: any EventLoopGroup
    let logger: Logger
    /// Equivocation evidence kept on disk (`<data>/evidence`).
    private let evidence: EvidenceStore
    var logs: [String: LogInfo]
    var channels: [String: any Channel] = [:]
    /// Peers whose connection was dialled by the member with the smaller id.
    var canonical: Set<String> = []
    /// Members with a dial scheduled or under way: at most one per member. Every close of a
    /// connection asks for a redial, so without this a member that connects in and closes over
    /// and over (while refusing this node's dials) left one redial loop running per connection.
    var dialing: Set<String> = []
    var connectedSince: [String: Date] = [:]
    var connectedAt: [String: ContinuousClock.Instant] = [:]
    /// Per member, the "peer connected" and "peer disconnected" lines it may cause a minute: a
    /// member reconnecting in a loop wrote ~250 a second (about 2 GB of log a day). Past the
    /// budget the lines are dropped; the next one says how many were. (Keys: members that
    /// completed the handshake, so bounded by the federation.)
    var connectionLines: [String: LogBudget] = [:]
    static let connectionLinesPerMinute = 30
    /// Backpressure per connected peer: unwritten bytes and the requests waiting on them.
    var flows: [String: OutboundFlow] = [:]
    /// Per member, the bytes it may still be served in answer to its requests, kept across its
    /// connections (`ReadBudget`), and the members with a wake-up scheduled for when it is back.
    var readBudgets: [String: ReadBudget] = [:]
    let readBudgetSettings: ReadBudget.Settings
    var budgetWakes: Set<String> = []
    /// When connections are reset for an agreement's end (`reset(peers:agreement:)`).
    var endResets = AgreementEndResets()
    /// Per member and log, the newest comparison with the stored tree (`.check`, `.checkFork`)
    /// of a checkpoint it showed that waits for its read budget: at most one per member and log.
    var pendingChecks: [String: [String: Directive]] = [:]
    /// The engine's monotonic clock, for read budgets.
    let clockStart = ContinuousClock.now
    /// The roots of the checkpoints stored lately, per log: a head a relay announces for a
    /// size stored here a moment ago is checked against this instead of a proof from the store.
    var recentRoots: [String: RecentRoots] = [:]
    /// When a write to each peer last completed (or the connection was made): a peer that takes
    /// nothing of what it is sent for `writeStallTimeout` is closed (its reads may be held, so
    /// the read-idle timer cannot tell).
    var lastWriteProgress: [String: ContinuousClock.Instant] = [:]
    static let writeStallTimeout = Duration.seconds(30)
    /// The longest a byte queued to a peer may wait to be taken. What waits is bounded by
    /// `OutboundFlow`'s hard limit (80 MiB, pushes of new commits included: answers stop at
    /// 16 MiB), so a peer taking 100 KB/s or more never comes near it.
    static let untakenTimeout = Duration.seconds(900)
    /// A peer connection counts as not writable only past 16 MiB
    /// unwritten, the backpressure's soft limit: with NIO's 64 KiB default, every batch in
    /// flight stopped the node reading the peer's next request, and catch-up halved.
    static let peerWaterMark = ChannelOptions.Types.WriteBufferWaterMark(low: 8 << 20, high: 16 << 20)
    /// At most this much written to a peer waits unsent in the kernel (`TCP_NOTSENT_LOWAT`; the
    /// rest waits in the node, counted by `OutboundFlow`): on loopback or a fast link the send
    /// buffer grows to 4 MiB, and a socket is told writable again only once half of it drained,
    /// so a peer taking a batch slowly showed no progress for minutes (closed as one taking
    /// nothing, finding 315), and frames an agreement's end drops sat there beyond reach.
    /// Set best-effort (`limitUnsent`): a kernel or sandbox refusing it leaves the connection as
    /// it was, not closed.
    #if os(Linux)
    static let peerUnsentOption = ChannelOptions.Types.SocketOption(level: .tcp, name: NIOBSDSocket.Option(rawValue: 25))  // TCP_NOTSENT_LOWAT
    #else
    static let peerUnsentOption = ChannelOptions.Types.SocketOption(level: .tcp, name: NIOBSDSocket.Option(rawValue: 0x201))  // TCP_NOTSENT_LOWAT (Darwin)
    #endif
    static let peerUnsentBytes: SocketOptionValue = 256 << 10

    /// Sets `peerUnsentOption` on a new peer connection, if the kernel takes it.
    static func limitUnsent(_ channel: any Channel) {
        do { try channel.syncOptions?.setOption(peerUnsentOption, value: peerUnsentBytes) } catch {
            // (Progress is then seen as the kernel's send buffer drains by halves.)
        }
    }
    var stopped = false
    private var antiEntropy: RepeatedTask?
    /// Alerts since start, per kind and peer, oldest first (bounded per key).
    var alerts: AlertLog
    /// The alerts as the routes and pages last read them (`alertSnapshot`), and the alerts'
    /// generation now, readable off the queue.
    let alertsShown = Mutex<AlertSnapshot?>(nil)
    let alertGeneration = Atomic<UInt64>(0)
    let metrics: NodeMetrics
    /// Told (on the engine's queue) each time a replica batch is durable: log and new size.
    private let onStored: (@Sendable (_ log: String, _ size: UInt64) -> Void)?
    /// Given each durable replica batch before it is acknowledged or passed on (the view).
    let onIngest: (@Sendable (_ log: String, _ entries: [Entry], _ checkpoint: Checkpoint) -> Void)?
    /// Told when stored stubs of a log got their payloads (the view folds them again).
    let onStubsFilled: (@Sendable (_ log: String) -> Void)?
    /// The data-sharing agreements as they stand (egress and ingress decide by them).
    let policy: @Sendable () -> Policy
    /// How much of a log `policy` has folded: agreement entries before it are in it.
    let foldedSize: @Sendable (String) -> UInt64
    /// Told of every batch sent with restricted payloads in full: (recipient, log, the batch's
    /// span, how many payloads, agreement, the recipient's access under it).
    /// Records a disclosure before it is sent; false if it could not be (the batch is withheld).
    /// Records what a batch discloses to a recipient, every agreement's part or none (false:
    /// the batch is not sent).
    let onDisclosed: @Sendable (_ recipient: String, _ log: String, _ disclosed: [OwnLogRecorder.Disclosed]) -> Bool
    /// Told (on the engine's queue) where the node stands with its own log while it may not yet
    /// append, and once when it may (`OwnLogSync`).
    private let onOwnLog: @Sendable (OwnLogStatus) -> Void
    /// The status last told to `onOwnLog` (nil once the node may append and has been told).
    private var ownLogTold: OwnLogStatus?
    /// The own log's `superseded` reason last told to `onOwnLog` after it opened.
    private var supersededTold: String?
    /// Own-log entries that came back from peers as stubs this run (OwnLogBackfill.swift).
    var ownStubs: [UInt64] = []
    /// Asking other peers for those payloads once the own log is synced (nil when not needed).
    var backfill: PayloadBackfill?
    /// Whether what the backfill could not fill was said (once).
    var backfillReported = false
    /// When the view was last folded again for payloads the backfill filled, and whether
    /// payloads were filled since (`refoldAfterBackfill`).
    var backfillRefoldedAt: ContinuousClock.Instant?
    var backfillRefoldPending = false
    /// The own log's indices in the lost-payloads record (read at the first own tail with stubs).
    var lostRecorded: Set<UInt64>?
    /// Entries stored here this run, per log and the peer that sent them (`quartet recover`).
    var storedFrom: [String: [String: UInt64]] = [:]
    /// Evidence that could not be written (a full disk), per log: written again each round.
    var unsavedEvidence: [String: Evidence] = [:]
    /// Entries of large received batches, decoded on the event loop as they arrived.
    var decodedAhead = DecodedBatches()
    /// Per connected peer: the last statement of the federation file it runs, and what it says
    /// of the file in force here (judged again at each reload; dropped when it disconnects).
    var peerFederations: [String: (statement: String, verdict: PeerFederation)] = [:]
    /// Per member, what its latest statement said of the file in force here, kept when it
    /// disconnects (a reconnection's gap neither lifts a newer file it showed nor takes back
    /// its confirmation); at a reload, only newer files beyond the new version stay (those
    /// connected are judged again). Read by `membershipStale` and `membershipConfirmed`.
    var stated: [String: PeerFederation] = [:]
    /// Per peer, the federation alerts raised lately (a peer alternating statements is
    /// alerted of each once, not every round).
    var federationAlerted: [String: [String]] = [:]
    /// The logs held quarantined (evidence of a split view kept), for the witness: it cosigns
    /// none of them (`WitnessService`), and reads this without waiting for the engine's queue.
    /// A copy of `replicator.quarantined`'s logs, added to with each `.keepEvidence` (the
    /// replicator's only way to quarantine); released only by a restart without the evidence.
    let quarantinedLogs = Mutex<Set<String>>([])

    /// This node's clock against its witnesses' (`ClockCheck`): while they disagree, restricted
    /// payloads neither leave nor are judged here (finding 289).
    let clock: ClockWatch

    init(store: LedgerStore, live: LiveSettings, node: String, ownLog: String,
         group: any EventLoopGroup, logger: Logger, metrics: NodeMetrics, onStored: (@Sendable (_ log: String, _ size: UInt64) -> Void)? = nil,
         onIngest: (@Sendable (_ log: String, _ entries: [Entry], _ checkpoint: Checkpoint) -> Void)? = nil,
         onStubsFilled: (@Sendable (_ log: String) -> Void)? = nil,
         policy: @escaping @Sendable () -> Policy = { Policy(owners: [:]) },
         foldedSize: @escaping @Sendable (String) -> UInt64 = { _ in 0 },
         onDisclosed: @escaping @Sendable (_ recipient: String, _ log: String, _ disclosed: [OwnLogRecorder.Disclosed]) -> Bool = { _, _, _ in true },
         syncOwnLog: Bool = false, peerAnswers: Int? = nil, protocolVersion: UInt16 = ProtocolLimits.version, federationStatement: String? = nil,
         readBudget: ReadBudget.Settings = .init(), onOwnLog: @escaping @Sendable (OwnLogStatus) -> Void = { _ in },
         clock: ClockWatch = ClockWatch()) throws {
        self.clock = clock
        self.readBudgetSettings = readBudget
        self.onStored = onStored
        self.onOwnLog = onOwnLog
        self.ownLogTold = OwnLogStatus(synced: false, held: 0, seen: 0, heard: -1)
        self.metrics = metrics
        self.onIngest = onIngest
        self.onStubsFilled = onStubsFilled
        self.policy = policy
        self.foldedSize = foldedSize
        self.onDisclosed = onDisclosed
        self.store = store
        self.live = live
        let federation = live.federation
        self.me = node
        self.group = group
        self.logger = logger
        let evidence = EvidenceStore(dataDirectory: store.directory.url)
        self.evidence = evidence
        alerts = AlertLog(logger: logger, metrics: metrics)
        // Every check of the federation against the logs held here (`admissibility`) comes
        // before any of them is registered; then every federation log has a place here:
        // replicas are registered with their pinned keys.
        let stored = try store.logs()
        if let problem = Self.admissibility(of: federation, held: stored.map(HeldLog.init), ownLog: ownLog, directory: store.directory.url.path) {
            throw NodeStartupError(problem)
        }
        var held = Dictionary(uniqueKeysWithValues: stored.map { ($0.name, $0) })
        for member in federation.members where held[member.log] == nil {
            held[member.log] = try store.addLog(name: member.log, origin: member.verifier.name, publicKey: member.verifier.publicKey,
                                                own: false, nowMillis: wallClockMillis())
        }
        logs = held
        var heads: [String: LogHead] = [:]
        for (name, log) in held {
            if let stored = try store.latestCheckpoint(log) { heads[name] = LogHead(checkpoint: stored.checkpoint, note: stored.note) }
        }
        var rotations: [String: [KeyRotation]] = [:]
        for (name, log) in held { rotations[name] = try store.keyChain(log).rotations }
        var settings = ReplicationSettings(node: node, federation: federation.name, ownLog: ownLog,
                                           verifiers: Dictionary(uniqueKeysWithValues: federation.members.map { ($0.log, $0.verifier) }),
                                           peers: federation.members.map(\.id).filter { $0 != node })
        settings.writers = Dictionary(uniqueKeysWithValues: federation.members.map { ($0.log, $0.id) })
        settings.revoked = Self.revocations(federation)
        settings.named = Self.namedKeys(federation)
        settings.syncOwnLog = syncOwnLog
        self.peerAnswers = peerAnswers
        settings.ownSyncAnswers = peerAnswers ?? Self.ownSyncAnswers(federation, node: node)
        settings.ownSyncWitnesses = Self.witnessPeers(federation, node: node)
        settings.protocolVersion = protocolVersion
        settings.federationStatement = federationStatement
        settings.startedMillis = wallClockMillis()
        // Kept evidence is checked with the chains the replicator follows: rotations and the
        // federation's revocations (a key revoked since can no longer make it).
        let quarantined = evidence.load(federation: federation, chains: Replicator.chains(settings, rotations: rotations), logger: logger)
        replicator = Replicator(settings: settings, heads: heads, quarantined: quarantined, rotations: rotations, seed: UInt64.random(in: 0...UInt64.max))
        quarantinedLogs.withLock { $0 = Set(quarantined.keys) }
        // A log quarantined before this start says why among the alerts too (its evidence is
        // listed by `/v1/alerts`; the alert was counted when it was raised, so not again: the
        // alert rules do not page once more at each restart).
        for log in quarantined.keys.sorted() {
            alerts.record(ReplicationAlert(kind: .equivocation, log: log, peer: nil,
                                           message: "log \(log) is quarantined: its origin signed two histories (evidence kept from before this start)"),
                          counted: false)
        }
        alertGeneration.store(alerts.generation, ordering: .releasing)
    }

    /// The peers that must answer before this node's own log opens: as many as meet every
    /// witness quorum of its log (`ReplicationSettings.ownSyncAnswers(witnesses:)`).
    static func ownSyncAnswers(_ federation: Federation, node: String) -> Int {
        ReplicationSettings.ownSyncAnswers(witnesses: witnessPeers(federation, node: node).count)
    }

    /// The other members with a witness key: the peers whose answers count for the own log's sync.
    static func witnessPeers(_ federation: Federation, node: String) -> Set<String> {
        Set(federation.members.filter { $0.id != node && $0.witness != nil }.map(\.id))
    }

    /// The keys the federation revoked, per log.
    static func revocations(_ federation: Federation) -> [String: [Ed25519PublicKey: UInt64]] {
        Dictionary(uniqueKeysWithValues: federation.members.filter { !$0.revoked.isEmpty }.map { ($0.log, $0.revoked) })
    }

    /// The keys the federation names for each log besides the pinned and revoked ones (its
    /// `current_vkey`): what a revoked key may still rotate to (`KeyChain.named`).
    static func namedKeys(_ federation: Federation) -> [String: Set<Ed25519PublicKey>] {
        Dictionary(uniqueKeysWithValues: federation.members.map { ($0.log, $0.namedLogKeys) })
    }

    /// Why `federation` cannot be taken with the logs `held` here, if it cannot: a member whose
    /// node id is the name of a held log it does not write (a removed member's log, which stays
    /// in every store). A log's holder is known by its name, and a log no member writes falls back
    /// to its name as its writer, so such a member would be sent that log's restricted payloads
    /// as their holder's, with no disclosure recorded. (`Federation` refuses an id that names a
    /// current member's log; this covers the logs of members no longer listed.)
    static func nodeNamedAfterAHeldLog(_ federation: Federation, held: Set<String>) -> String? {
        guard let member = federation.members.first(where: { held.contains($0.id) && $0.log != $0.id }) else { return nil }
        return "node id \"\(member.id)\" is the name of a log this node holds that \(member.id) does not write (a member's log no longer listed); node ids and log names held must differ: give the member another id"
    }

    /// Why this node cannot take `federation` with the logs it holds (`held`, in `directory`), or
    /// nil when it can. Every check of a federation against what the node holds is here, and
    /// start (`Node.init`, and `init` here) and reload (`Node.reload`, and `register`) make it
    /// before anything is registered, kept or switched, so a file refused changes nothing:
    /// - this node's own log (`ownLog`) is held, as its own;
    /// - a log the file names that is held keeps its origin and key (a member added under the
    ///   name of a log held before, with another key, is refused);
    /// - a log to be registered has an origin (its key name) no held log has, and no other log
    ///   of the file has (the store refuses a second log of one origin: `LedgerStore.addLog`);
    /// - no member has a key (log, current or witness) of a held log other than its own, and no
    ///   witness key is named after a held log's origin (as `Federation.parse` refuses among
    ///   the members listed; a removed member's log stays in every store);
    /// - no node id is the name of a held log it does not write (`nodeNamedAfterAHeldLog`).
    /// Pure: the caller reads `held` (the store's logs).
    static func admissibility(of federation: Federation, held: [HeldLog], ownLog: String, directory: String) -> String? {
        guard let own = held.first(where: { $0.name == ownLog }) else {
            return "\(directory) holds no log \(ownLog); create it with `quartet init --log \(ownLog) --data \(directory)`"
        }
        guard own.isOwn else { return "log \(ownLog) in \(directory) is a replica, not this node's own log" }
        var byName: [String: HeldLog] = [:], origins: [String: String] = [:]
        for log in held {
            byName[log.name] = log
            origins[log.verifier.name] = log.name
        }
        for member in federation.members {
            if let log = byName[member.log] {
                guard log.verifier == member.verifier else {
                    if log.name == ownLog {
                        return "the key of log \(log.name) in \(directory) (\(log.verifier.vkey)) is not the key the federation file pins (\(member.verifier.vkey))"
                    }
                    return "log \(log.name) in \(directory) has key \(log.verifier.vkey), but the federation file pins \(member.verifier.vkey)"
                }
                continue
            }
            if let holder = origins[member.verifier.name] {
                let whose = byName[holder] != nil ? "log \(holder), which this node holds" : "log \(holder) of the same file"
                return "member \(member.id)'s log \(member.log) would sign as \(member.verifier.name), the origin (key name) of \(whose); every log has an origin of its own, and a log's origin is never given to another: the member needs a key under another name"
            }
            origins[member.verifier.name] = member.log
        }
        for member in federation.members {
            let keys = member.keys
            if let log = held.first(where: { $0.name != member.log && keys.contains($0.verifier.publicKey) }) {
                return "member \(member.id) names the key of log \(log.name), which this node holds (\(log.verifier.vkey)); every member's keys are its own"
            }
            if let witness = member.witness, let log = held.first(where: { $0.verifier.name == witness.name }) {
                return "member \(member.id)'s witness key is named \(witness.name), the origin of log \(log.name), which this node holds; a witness key's name is no log's origin"
            }
        }
        return nodeNamedAfterAHeldLog(federation, held: Set(held.map(\.name)))
    }

    /// A reload found `new` admissible (`admissibility`, against the store's logs): the logs of
    /// members added get their place in the store, before the file is kept or anything is
    /// switched. Returns every log `new` names, for `apply`. The check is made again first, so
    /// nothing is registered for a file it refuses. A failure here leaves at most empty replica
    /// logs registered (as a member added would have them), and nothing of `new` in force.
    func register(_ new: Federation) throws -> [String: LogInfo] {
        try queue.sync {
            let stored = try store.logs()
            if let problem = Self.admissibility(of: new, held: stored.map(HeldLog.init), ownLog: replicator.settings.ownLog, directory: store.directory.url.path) {
                throw NodeStartupError(problem)
            }
            var held = Dictionary(uniqueKeysWithValues: stored.map { ($0.name, $0) })
            var named: [String: LogInfo] = [:]
            for member in new.members {
                if held[member.log] == nil {
                    held[member.log] = try store.addLog(name: member.log, origin: member.verifier.name, publicKey: member.verifier.publicKey,
                                                        own: false, nowMillis: wallClockMillis())
                }
                named[member.log] = held[member.log]
            }
            return named
        }
    }

    /// Puts `new` in force, once it was found admissible, its logs registered (`register`, which
    /// gave `logs`) and the file kept: `switching` (the node's `live`, which the API and the
    /// TLS member check read) runs on the engine's queue, then the connections of members
    /// removed are closed and the replicator dials members added, before the queue takes
    /// anything else. Nothing here can fail. `Federation.reloadConflict` has checked that no
    /// member's log or key changed.
    func apply(_ new: Federation, statement: String?, logs named: [String: LogInfo], switching: () -> Void) {
        queue.sync {
            switching()
            for (name, log) in named where logs[name] == nil { logs[name] = log }
            // Cut off at once: whatever the replicator knew of them, their connections close.
            for (peer, channel) in channels where new.member(peer) == nil {
                logger.notice("closing the connection of a member removed from the federation", metadata: ["peer": "\(peer)"])
                channel.close(promise: nil)
            }
            run(replicator.members(peers: new.members.map(\.id).filter { $0 != me },
                                   verifiers: Dictionary(uniqueKeysWithValues: new.members.map { ($0.log, $0.verifier) }),
                                   writers: Dictionary(uniqueKeysWithValues: new.members.map { ($0.log, $0.id) }),
                                   revoked: Self.revocations(new), named: Self.namedKeys(new),
                                   ownSync: (peerAnswers ?? Self.ownSyncAnswers(new, node: me), Self.witnessPeers(new, node: me))))
            // Then the peers hear the new file's statement (those removed are cut off), and
            // theirs are judged again against it.
            run(replicator.stated(federation: statement))
            peerFederations = peerFederations.filter { new.member($0.key) != nil }
            federationAlerted = federationAlerted.filter { new.member($0.key) != nil }
            let version = statement.flatMap { try? SignedNote(parsing: $0) }.flatMap { FederationTrust.Statement(text: $0.text) }?.version
            stated = stated.filter { peer, verdict in new.member(peer) != nil && verdict.newerVersion.map { stated in version.map { stated > $0 } ?? true } ?? false }
            for (peer, known) in peerFederations { judgeFederation(of: peer, statement: known.statement) }
            membershipChanged()
        }
    }

    // MARK: Lifecycle

    func start() {
        queue.async {
            self.run(self.replicator.start())
            let loop = self.group.next()
            self.antiEntropy = loop.scheduleRepeatedTask(initialDelay: .milliseconds(Int64(self.replicator.settings.antiEntropyMillis)),
                                                         delay: .milliseconds(Int64(self.replicator.settings.antiEntropyMillis))) { _ in
                self.queue.async {
                    guard !self.stopped else { return }
                    self.closeStalled()
                    // Evidence a full disk kept from being written: tried again each round, or
                    // a restart would lift the quarantine it holds.
                    for found in self.unsavedEvidence.values.sorted(by: { $0.log < $1.log }) { self.keepEvidence(found) }
                    self.run(self.replicator.tick())
                    self.continueBackfill()
                }
            }
        }
    }

    /// Stops dialling and closes every peer connection (TLS close_notify first).
    func stop() async {
        let open: [any Channel] = queue.sync {
            stopped = true
            antiEntropy?.cancel()
            return Array(channels.values)
        }
        for channel in open { try? await channel.close().get() }
        // A batch being stored finishes before the store is let go.
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in storeQueue.async { done.resume() } }
    }

    /// Returns once every replica batch queued to be stored before the call has been stored or
    /// refused (`Purger`'s second pass).
    func drainStores() { storeQueue.sync {} }

    /// Stores a replica batch on `storeQueue` and tells the replicator on `queue` once it is
    /// stored (or refused). Meanwhile the engine goes on taking messages: pushes that continue
    /// the batch wait in the replicator, merged, and go in as one batch next (one transaction
    /// and one view fold for all of them) instead of each waiting for the queue in turn.
    private func ingest(_ batch: Batch, entries: [Entry], checkpoint: Checkpoint, log: LogInfo, from peer: String, alerts: [ReplicationAlert]) {
        let verifiedWith = replicator.chains[batch.log]?.verifier(forSize: checkpoint.size).publicKey
        storeQueue.async {
            // Judged again as it is stored: an agreement that ended while the batch waited for
            // the queue (a busy store in a catch-up can hold it past the purge's second pass,
            // 5 s after the end) must not leave its payloads here until the next start.
            var kept = entries, relayed = batch
            Self.stub(self.endedSinceAdmitted(entries, holder: batch.log), in: &kept, &relayed)
            let entries = kept, batch = relayed
            let result = Result { () throws(StoreError) in
                try self.store.ingest(log, from: batch.from, entries: entries, note: batch.note, checkpoint: checkpoint, verifiedWith: verifiedWith)
            }
            // The witness's requests waiting for this copy to hold their checkpoint go on now,
            // not after the hop below.
            if case .success = result { _ = self.copyGrew((batch.log, batch.end)) }
            self.queue.async {
                guard !self.stopped else { return }
                switch result {
                case .success:
                    self.store.writes.succeeded(.replica)
                    self.recentRoots[batch.log, default: RecentRoots()].add(size: checkpoint.size, root: checkpoint.root)
                    for alert in alerts { self.record(alert) }
                    self.onIngest?(batch.log, entries, checkpoint)
                    self.logger.debug("stored batch", metadata: ["log": "\(batch.log)", "from": "\(batch.from)", "to": "\(batch.end)", "peer": "\(peer)"])
                    self.onStored?(batch.log, batch.end)
                    self.storedFrom[batch.log, default: [:]][peer, default: 0] += UInt64(batch.entries.count)
                    self.run(self.replicator.stored(batch, checkpoint: checkpoint, from: peer))
                case .failure(let error) where Self.isLocalFailure(error):
                    // This node's trouble (its disk, its lock), not the batch's: nobody is
                    // blamed, and the range is asked for again.
                    self.logger.error("cannot store a batch", metadata: ["log": "\(batch.log)", "from": "\(batch.from)", "peer": "\(peer)", "error": "\(error)"])
                    if Self.isDiskFailure(error) { self.store.writes.failed(.replica, error, nowMillis: wallClockMillis()) }
                    self.run(self.replicator.notStored(batch))
                case .failure(let error):
                    self.run(self.replicator.rejected(batch, from: peer, reason: "\(error)"))
                }
            }
        }
    }

    /// Writes `found` to the evidence directory, or keeps it to write again next round (the
    /// newest per log, as the file would hold); on the engine's queue.
    private func keepEvidence(_ found: Evidence) {
        do {
            try evidence.keep(found)
            unsavedEvidence[found.log] = nil
            if unsavedEvidence.isEmpty { store.writes.succeeded(.evidence) }
        } catch {
            if unsavedEvidence[found.log] == nil {
                logger.error("cannot keep equivocation evidence; trying again each round", metadata: ["log": "\(found.log)", "error": "\(error)"])
            }
            unsavedEvidence[found.log] = found
            store.writes.failed(.evidence, error, nowMillis: wallClockMillis())
        }
    }

    /// The entries at `positions` as stubs, both as stored (`entries`) and as relayed (`batch`).
    static func stub(_ positions: [Int], in entries: inout [Entry], _ batch: inout Batch) {
        for i in positions {
            entries[i] = entries[i].stub
            batch.entries[i].payload = nil
        }
    }

    /// The entries of a replica batch (as ingress kept them) whose payloads this node may no
    /// longer hold by the agreements in force now.
    private func endedSinceAdmitted(_ entries: [Entry], holder: String) -> [Int] {
        guard entries.contains(where: { $0.payload != nil && $0.header.classification != EntryHeader.publicClassification }) else { return [] }
        // Judged by the clock: kept while it disagrees with the witnesses (a clock run fast would
        // drop, for good, payloads this node holds under an agreement in force); the purges
        // take what truly ended once it is right.
        guard clock.holdReason == nil else { return [] }
        let items = entries.map { DataFlow.Item(header: $0.header, payload: $0.payload?.bytes) }
        // (As from the writer: stubs are not at issue here, only what is kept.)
        guard case .keep(let strip, _, _) = DataFlow.ingress(items, holder: holder, recipient: me, policy: policy(), at: wallClockMillis(),
                                                              fromWriter: true, current: false) else { return [] }
        return strip
    }

    /// The node committed a batch of its own log.
    /// Commits that arrive while the queue is busy leave as one batch (`CommitCoalescer`).
    func committed(_ entries: [Entry], checkpoint: StoredCheckpoint, log: String) {
        guard let first = entries.first else { return }
        let batch = Batch(log: log, from: first.header.index, note: checkpoint.note, entries: entries.map(WireEntry.init))
        guard unpushed.withLock({ $0.add(batch, checkpoint: checkpoint.checkpoint) }) else { return }
        queue.async {
            let commits = self.unpushed.withLock { $0.drain() }
            guard !self.stopped else { return }
            for commit in commits {
                for checkpoint in commit.checkpoints {
                    self.recentRoots[commit.batch.log, default: RecentRoots()].add(size: checkpoint.size, root: checkpoint.root)
                }
                self.run(self.replicator.committed(commit.batch, checkpoint: commit.checkpoint))
            }
        }
    }

    // MARK: Directives

    func run(_ directives: [Directive]) {
        var pending = directives[...]
        while let directive = pending.popFirst() {
            let more = execute(directive)
            if !more.isEmpty { pending = more[...] + pending }
        }
        if let told = ownLogTold {
            let now = replicator.ownLogStatus
            if now != told {
                ownLogTold = now.synced ? nil : now
                supersededTold = now.superseded
                onOwnLog(now)
            }
        } else if replicator.ownLogSuperseded != supersededTold {
            // Opened, then another process was seen signing the own log: told once more.
            supersededTold = replicator.ownLogSuperseded
            onOwnLog(replicator.ownLogStatus)
        }
    }

    private func execute(_ directive: Directive) -> [Directive] {
        switch directive {
        case .send(let peer, let message):
            send(message, to: peer)
            return []
        case .store(let peer, let batch, let checkpoint):
            guard let log = logs[batch.log] else { return replicator.rejected(batch, from: peer, reason: "unknown log") }
            if log.isOwn { return storeOwnTail(batch, checkpoint: checkpoint, log: log, from: peer) }
            var pendingAlerts: [ReplicationAlert] = []
            do {
                var entries = try decodedEntries(of: batch)
                var stored = batch
                // Ingress (DataFlow): payloads this node may not hold are kept as stubs only
                // and the sender named; stubs of what it may hold refuse the batch.
                if batch.entries.contains(where: { $0.payload == nil || !EntryHeader.isPublic(encoded: $0.headerBytes) }) {
                    // Judged by this node's clock: not while it disagrees with its witnesses (a
                    // payload stripped by a clock run fast is never fetched again, and a sender
                    // blamed by one run slow is honest). Nobody is blamed; the range is asked
                    // for again at the next round.
                    if clock.holdReason != nil, batch.entries.contains(where: { !EntryHeader.isPublic(encoded: $0.headerBytes) }) {
                        return replicator.notStored(batch)
                    }
                    let items = entries.map { DataFlow.Item(header: $0.header, payload: $0.payload?.bytes) }
                    let fromWriter = replicator.settings.writer(of: batch.log) == peer
                    let current = knowsNewest(of: batch.log, through: batch.end)
                    switch DataFlow.ingress(items, holder: batch.log, recipient: me, policy: policy(), at: wallClockMillis(),
                                            fromWriter: fromWriter, current: current) {
                    case .refuse(let reason):
                        return replicator.refused(batch, from: peer, reason: reason)
                    case .keep(let strip, let violations, let forged):
                        // What is relayed is what is stored (the batch as received carried
                        // payloads this node may not hold, nor pass on).
                        Self.stub(strip, in: &entries, &stored)
                        // Reported once the batch is known to be the origin's (stored below).
                        if !forged.isEmpty {
                            pendingAlerts.append(ReplicationAlert(kind: .violation, log: batch.log, peer: peer,
                                                    message: "\(batch.log) entr\(forged.count == 1 ? "y" : "ies") \(Self.list(forged)) from \(peer): a \(Policy.aggregateType) that is not the published aggregate of its rows under its agreement; kept the stub only"))
                        }
                        if !violations.isEmpty {
                            pendingAlerts.append(ReplicationAlert(kind: .violation, log: batch.log, peer: peer,
                                                    message: "\(peer) sent the payload of \(batch.log) entr\(violations.count == 1 ? "y" : "ies") \(Self.list(violations)) that no agreement lets \(me) hold; kept the stub\(violations.count == 1 ? "" : "s") only"))
                        }
                    }
                }
                ingest(stored, entries: entries, checkpoint: checkpoint, log: log, from: peer, alerts: pendingAlerts)
                return []
            } catch {
                return replicator.rejected(batch, from: peer, reason: "\(error)")
            }
        case .serve(let peer, let logName, let from):
            guard channels[peer] != nil else { return [] }
            let allowed = budgetAllows(peer)
            switch flows[peer, default: OutboundFlow()].request(log: logName, from: from, allowed: allowed) {
            case .serve:
                serve(logName, from: from, to: peer)
            case .waiting, .duplicate:
                if !allowed { wakeWhenBudgetIsBack(peer) }
            case .overflow(let reason):
                record(ReplicationAlert(kind: .protocolViolation, log: nil, peer: peer, message: "\(peer) does not read what it asks for: \(reason); closing the connection"))
                channels[peer]?.close(promise: nil)
            }
            return []
        case .check(let peer, let logName, let note, let checkpoint):
            guard let log = logs[logName] else { return [] }
            if let root = recentRoots[logName]?.root(size: checkpoint.size), root == checkpoint.root { return [] }
            guard let prefix = storedPrefix(for: directive, peer: peer, log: log, note: note, size: checkpoint.size),
                  prefix.root != checkpoint.root else { return [] }
            logger.warning("a checkpoint disagrees with the stored tree", metadata: ["log": "\(logName)", "peer": "\(peer)", "size": "\(checkpoint.size)"])
            return replicator.inconsistent(Evidence(log: logName, first: note, second: prefix.note, prefixRoot: prefix.root, proof: prefix.proof))
        case .checkFork(let peer, let logName, let note, let checkpoint, let rotation):
            guard let log = logs[logName] else { return [] }
            let root: Hash
            if let recent = recentRoots[logName]?.root(size: checkpoint.size) {
                root = recent
            } else {
                guard let prefix = storedPrefix(for: directive, peer: peer, log: log, note: note, size: checkpoint.size) else { return [] }
                root = prefix.root
            }
            return replicator.checkedFork(logName, size: checkpoint.size, rotation: rotation, matchesStored: root == checkpoint.root, shownBy: peer)
        case .checkOwnAhead(let peer, let checkpoint, let note):
            // This writer's own commit, read by a peer before the replicator was told of it: no
            // other signer. A store that cannot say latches nothing (the next head asks again).
            guard let log = logs[replicator.settings.ownLog] else { return [] }
            let stored: StoredCheckpoint?
            do { stored = try store.checkpoint(log, size: checkpoint.size) } catch { return [] }
            if stored?.checkpoint.root == checkpoint.root {
                replicator.ownCommitShown(note)
                return []
            }
            return replicator.ownLogAheadConfirmed(checkpoint, peer: peer)
        case .keepEvidence(let found):
            quarantinedLogs.withLock { _ = $0.insert(found.log) }
            keepEvidence(found)
            return []
        case .alert(let alert):
            record(alert)
            return []
        case .dial(let peer, let after):
            guard !stopped, let member = federation.member(peer), dialing.insert(peer).inserted else { return [] }
            group.next().scheduleTask(in: .milliseconds(Int64(after))) {
                // Not if the peer connected meanwhile (it dialled this node).
                self.queue.async {
                    guard !self.stopped && self.channels[peer] == nil else {
                        self.dialing.remove(peer)
                        return
                    }
                    self.group.next().execute { self.dial(member) }
                }
            }
            return []
        case .close(let peer, let reason):
            logger.warning("closing peer connection", metadata: ["peer": "\(peer)", "reason": "\(PeerText.clean(reason))"])
            guard let channel = channels[peer] else { return [] }
            channel.close(promise: nil)
            // Gone for the engine now: frames already read from it (a peer sending thousands
            // of violations in one record) are not handled one by one until it is closed.
            return forget(peer)
        case .ownLogSynced(let size):
            logger.notice("own log confirmed by peers; appends open", metadata: ["log": "\(replicator.settings.ownLog)", "size": "\(size)"])
            startBackfill()
            return []
        case .federationStated(let peer, let stated):
            // The same statement again (each connection greets with it, and lines of keys no
            // member signs with change nothing) is not checked again.
            let statement = PeerFederation.membersLines(stated, federation: federation) ?? stated
            guard federation.member(peer) != nil, peerFederations[peer]?.statement != statement else { return [] }
            judgeFederation(of: peer, statement: statement)
            return []
        }
    }

    /// Judges `peer`'s statement of its federation file against the one in force, alerting
    /// when the verdict is new and one to hear about.
    func judgeFederation(of peer: String, statement: String) {
        // (Kept even when this node has no statement of its own to judge it by: a reload that
        // brings one judges it then.)
        guard let ours = replicator.settings.federationStatement.flatMap({ try? SignedNote(parsing: $0) }).flatMap({ FederationTrust.Statement(text: $0.text) }) else {
            peerFederations[peer] = (statement, .same)
            stated[peer] = .same
            return
        }
        let verdict = PeerFederation.judge(statement, ours: ours, inForce: federation)
        let before = peerFederations[peer]?.verdict
        peerFederations[peer] = (statement, verdict)
        stated[peer] = verdict
        membershipChanged()
        guard verdict != before else { return }
        // Back in step, the peer is alerted of again should it move off.
        if verdict == .same { federationAlerted[peer] = nil }
        if case .older(let version) = verdict {
            logger.notice("a peer runs an older federation file", metadata: ["peer": "\(peer)", "version": "\(version)", "in_force": "\(ours.version)"])
        }
        guard let alert = verdict.alert(peer: peer, ours: ours.version), !(federationAlerted[peer] ?? []).contains(alert.message) else { return }
        federationAlerted[peer, default: []].append(alert.message)
        if federationAlerted[peer]!.count > 8 { federationAlerted[peer]!.removeFirst() }
        record(alert)
    }

    /// Why the node is not ready for its federation file: most of the other members, connected
    /// now, run a newer file a quorum of the members in force signed — the federation moved on
    /// without this node. One member's word, or a rollout under way, is an alert only (a
    /// member replaying a statement a quorum once signed cannot take the others out of
    /// service; nor does a first reload take out every node not yet reloaded) — except in a
    /// federation of two, where the one other member is most of them.
    func federationProblems() -> [String] { queue.sync { federationProblemsOnQueue() } }

    /// Whether the members this node judges recipients and witnesses by may be out of date: two
    /// members (the one other, in a federation of two) stated newer federation files a quorum
    /// of the members in force signed, or a quorum of the other members stated newer files this
    /// node cannot verify (several versions ahead, the signers changed). Restored with its host
    /// from before a member's removal, the node would otherwise disclose to it and count it a
    /// witness of its own log (finding 239). One member's word does not count: a member holding
    /// a newer file a quorum signed and never put in force would stop every node's restricted
    /// flows.
    var membershipStale: Bool {
        dispatchPrecondition(condition: .onQueue(queue))
        let others = federation.members.count - 1
        guard others > 0 else { return false }
        let newer = stated.values.filter { $0.newerVersion != nil }
        // (Unverifiable statements count only among at least two others: in a federation of
        // two, one unsigned claim would hold everything.)
        return newer.filter(\.isNewer).count >= min(2, others) || (others >= 2 && newer.count >= FederationTrust.quorum(of: others))
    }

    /// Whether what is known of `log` through `size` (a batch's end, or how far the policy
    /// folded it) reaches the newest verified checkpoint of it seen: a batch or a copy short of
    /// it may lack a revocation recorded since (ingress and egress, finding 238).
    func knowsNewest(of log: String, through size: UInt64) -> Bool {
        dispatchPrecondition(condition: .onQueue(queue))
        return size >= (replicator.seen[log]?.size ?? 0)
    }

    /// Whether this node may take its federation file as current for disclosing restricted
    /// data: its own log is confirmed with its peers, and as many members as must answer at a
    /// start (`--peer-answers`) have stated this very file (members on protocol 3 or earlier,
    /// which state none, count once greeted). A node restored with an older file, the member
    /// removed since stating it too, is not: every other member states the newer one
    /// (finding 239). With `--peer-answers 1` the one answer may be that removed member's.
    var membershipConfirmed: Bool {
        dispatchPrecondition(condition: .onQueue(queue))
        let status = replicator.ownLogStatus
        guard status.synced else { return false }
        let silent = channels.keys.filter { federation.member($0) != nil && !replicator.awaitsHello($0) && !replicator.speaksFederation($0) }
        // Each member once (one that stated this file and came back on an older protocol is
        // one answer, not two).
        let confirming = Set(stated.filter { federation.member($0.key) != nil && $0.value == .same }.keys).union(silent)
        return confirming.count >= status.needed
    }

    /// Holds the own log's sync while the membership is stale (its witnesses' answers open the
    /// log), and lets it go on once it is not.
    func membershipChanged() {
        dispatchPrecondition(condition: .onQueue(queue))
        run(replicator.holdOwnSync(membershipStale))
    }

    func federationProblemsOnQueue() -> [String] {
        dispatchPrecondition(condition: .onQueue(queue))
        let others = federation.members.count - 1
        let newer = peerFederations.values.filter(\.verdict.isNewer).count
        guard others > 0, newer >= FederationTrust.quorum(of: others) else { return [] }
        return ["\(newer) of the \(others) other members run a newer federation file than this node: put the current federation file and its .sig in place and reload (SIGHUP); the federation-file alerts say which version"]
    }

    /// Whether a batch failed to store for a reason of this node's own — its disk or database
    /// (`io`, `corrupt`), its writer lock, its own log held (`unavailable`) — rather than the
    /// batch's: such a failure blames no peer (alerts naming honest peers, and ten of them
    /// closing every connection streaming batches, while the disk was full).
    static func isLocalFailure(_ error: any Error) -> Bool {
        guard let error = error as? StoreError else { return false }
        switch error.code {
        case .io, .corrupt, .locked, .unavailable: return true
        default: return false
        }
    }

    /// Whether a store failure is the disk's or the database's (`WriteHealth`), not a lock or a
    /// held own log.
    static func isDiskFailure(_ error: StoreError) -> Bool { [.io, .corrupt].contains(error.code) }

    /// Decodes a batch's entries, naming the first that does not decode.
    static func entries(of batch: Batch) throws(StoreError) -> [Entry] {
        var entries: [Entry] = []
        entries.reserveCapacity(batch.entries.count)
        for (i, wire) in batch.entries.enumerated() {
            do { entries.append(try Entry(headerBytes: wire.headerBytes, payload: wire.payload)) } catch {
                throw StoreError(.invalidInput, "entry \(i) of the batch: \(error)")
            }
        }
        return entries
    }

    /// The stored tree's prefix of `size` (its root, the consistency proof to the head, the
    /// head's note), read to compare a checkpoint `peer` showed (`.check`, `.checkFork`). A
    /// proof's worth of the tree is read: it counts against the member's read budget like a
    /// batch served (the replicator compares a note once, but remembers only the last 512: a
    /// member holding more of a log's old checkpoints could cycle them). Past the budget the
    /// directive waits, the newest per member and log (`runPendingChecks`; the one it replaces
    /// is forgotten as compared, so whoever shows it next has it compared), and nil is
    /// returned; a read that fails is logged, forgotten likewise, and nil.
    func storedPrefix(for directive: Directive, peer: String, log: LogInfo, note: String, size: UInt64) -> (root: Hash, proof: [Hash], note: String)? {
        guard budgetAllows(peer) else {
            if let dropped = pendingChecks[peer]?[log.name], let droppedNote = Self.comparedNote(dropped) { replicator.forgetCompared(droppedNote) }
            pendingChecks[peer, default: [:]][log.name] = directive
            wakeWhenBudgetIsBack(peer)
            return nil
        }
        let now = monotonicMillis
        readBudgets[peer, default: ReadBudget(settings: readBudgetSettings, nowMillis: now)].spent(Self.checkReadCost, nowMillis: now)
        do { return try store.prefix(log, size: size) } catch {
            replicator.forgetCompared(note)
            logger.error("cannot check a checkpoint", metadata: ["log": "\(log.name)", "error": "\(error)"])
            return nil
        }
    }

    /// The note a comparison directive compares (what the replicator remembers as compared).
    static func comparedNote(_ directive: Directive) -> String? {
        switch directive {
        case .check(_, _, let note, _), .checkFork(_, _, let note, _, _): note
        default: nil
        }
    }

    /// Logs, counts and keeps an alert (on the engine's queue).
    func record(_ alert: ReplicationAlert) {
        alerts.record(alert)
        alertGeneration.store(alerts.generation, ordering: .releasing)
    }

    /// Log indices for a message, at most 20 of them.
    static func list(_ indices: [UInt64]) -> String {
        indices.prefix(20).map(String.init).joined(separator: ", ") + (indices.count > 20 ? " and \(indices.count - 20) more" : "")
    }

    /// This node's witness was shown two checkpoints of one log that cannot both be true: the
    /// log is quarantined and the evidence goes to every peer, as for equivocation seen in
    /// replication. Evidence that does not verify against the log's chain as this node follows
    /// it (its rotations and the federation's revocations, not the pinned key alone: the pinned
    /// key rotated away from must not make evidence beyond its rotation) is dropped.
    func witnessCaught(_ evidence: Evidence) {
        queue.async {
            guard !self.stopped, self.logs[evidence.log] != nil, let chain = self.replicator.chains[evidence.log] else { return }
            guard (try? evidence.verify(with: chain)) != nil else {
                self.logger.error("a witness conflict did not make verifiable evidence", metadata: ["log": "\(evidence.log)"])
                return
            }
            self.run(self.replicator.inconsistent(evidence))
        }
    }
}

/// A log this node holds, as `ReplicationEngine.admissibility` sees it: its name, origin and key
/// (`verifier`), and whether the node writes it.
struct HeldLog: Sendable, Equatable {
    let name: String
    let verifier: NoteVerifier
    let isOwn: Bool

    init(name: String, verifier: NoteVerifier, isOwn: Bool) {
        self.name = name
        self.verifier = verifier
        self.isOwn = isOwn
    }

    init(_ log: LogInfo) { self.init(name: log.name, verifier: log.verifier, isOwn: log.isOwn) }
}

extension Federation.Member {
    /// The keys the federation names for this member's log besides the pinned key and the
    /// revoked ones (which `KeyChain` counts as named): its `current_vkey`.
    public var namedLogKeys: Set<Ed25519PublicKey> { Set([current?.publicKey].compactMap { $0 }) }

    /// This member's log's chain as the federation has it followed, from `rotations` (a copy's,
    /// as stored): the pinned key, the federation's revocations and named keys
    /// (`KeyChain.followed`, as replication builds its chains), stopped before a rotation the
    /// file disowns. What the witness and the provenance pages follow.
    public func keyChain(following rotations: [KeyRotation]) -> (chain: KeyChain, stopped: KeyChain.Stop?) {
        KeyChain.followed(pinned: verifier, rotations: rotations, revoked: revoked, named: namedLogKeys)
    }
}
