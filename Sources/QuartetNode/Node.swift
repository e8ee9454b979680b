import Foundation
import Hummingbird
import NIOConcurrencyHelpers
import Logging
import NIOCore
import NIOPosix
import QuartetCrypto
import QuartetLedger
import QuartetPolicy
import QuartetStore
import QuartetTLS
import ServiceLifecycle

/// A Quartet node: its data directory, the peer port and the HTTPS API, run as services that
/// SIGTERM and SIGINT shut down gracefully. This is the composition root: it builds and wires
/// the parts; the services it runs besides the listeners are in NodeServices.swift.
public struct Node: Sendable {
    public let configuration: NodeConfiguration
    /// The federation as accepted at start (`live` holds the one in force after reloads).
    public let federation: Federation
    /// What a reload changes: the federation, the TLS contexts and the token grants.
    let live: LiveSettings
    /// The browsers signed in to the API's pages.
    let sessions = WebSessions()
    /// Where the API's answers that grow with the data run (`ReadWork`).
    let reads = ReadWork()
    /// Closes the API connections holding reserved or credential slots that a reload took
    /// away (set by `run`, which owns the API port's slots; `ConnectionCap.Counter.closeUntrusted`).
    let closeUntrustedAPIConnections = LateHook<Void, Int>()
    let store: LedgerStore
    let engine: ReplicationEngine
    let writer: LogWriter
    let logger: Logger
    /// The combined strategy view, kept up to date as entries become durable.
    public let view: ViewMaintainer
    let metrics: NodeMetrics
    let purger: Purger
    let recorder: OwnLogRecorder
    let admission: AppendAdmission
    /// This node as a witness of the other members' logs, and its log's witnesses' answers.
    let witness: WitnessService
    let collector: WitnessCollector
    /// The operator forms' submissions (in memory) and the API appends' `Idempotency-Key`s (in
    /// memory, and on disk across restarts: `SubmissionStore`).
    let submissions: FormSubmissions
    let appendKeys: Submissions<[UInt8]>

    /// Loads everything the node needs and checks that it fits together, before listening.
    /// - Parameter onStored: told each time a replica batch is durable here (benchmarks).
    /// `foldsView: false` is for `quartet recover`: the process only stores what peers hold and
    /// stops, and the node that then serves folds its view from the store at start, as every
    /// start does; the agreements are still folded (ingress and egress judge batches by them).
    public init(configuration: NodeConfiguration, logger: Logger, onStored: (@Sendable (_ log: String, _ size: UInt64) -> Void)? = nil, foldsView: Bool = true) throws {
        self.configuration = configuration
        self.logger = logger
        guard FileManager.default.fileExists(atPath: configuration.dataDirectory) else {
            throw NodeStartupError("\(configuration.dataDirectory) does not exist: for a new member, create it with `quartet init --log \(configuration.log) --data \(configuration.dataDirectory)`; for a member that lost its disk, rebuild it from the peers with `quartet recover --config \(configuration.file) --key KEY.pem` (a new key from init would be refused: docs/operations.md, \"Lost disk\")")
        }
        if let refusal = CopyMarkers.startRefusal(configuration.dataDirectory) { throw NodeStartupError(refusal) }
        if configuration.onlyCopy, let refusal = CopyMarkers.onlyCopyRefusal(configuration.dataDirectory) { throw NodeStartupError(refusal) }
        if foldsView, Recovery.isUnfinished(configuration.dataDirectory) {
            throw NodeStartupError("\(configuration.dataDirectory) is a recovery that did not finish (quartet recover was interrupted): it may lack part of the logs; run `quartet recover` again, which starts it over")
        }
        // There, readable, and holding no store (systemd made it empty at start): the data was
        // moved, or its disk is not mounted, far more often than this is a new member. (After
        // the markers of an unfinished recovery or copy, which say more.)
        if foldsView, access(configuration.dataDirectory, R_OK | X_OK) == 0, !DataDirectory(path: configuration.dataDirectory).exists {
            throw NodeStartupError("\(configuration.dataDirectory) holds no Quartet data directory (no quartet.sqlite): if the node's data is elsewhere — a disk not mounted, a symbolic link the package moved to /var/lib/quartet.moved-aside — put it back or mount it there (not through a link); for a new member, `quartet init --log \(configuration.log) --data \(configuration.dataDirectory)`; for a member that lost its disk, `quartet recover --config \(configuration.file) --key KEY.pem` (docs/operations.md, \"Lost disk\")")
        }
        // A quorum of members must have signed the file, and it must be no older than the one
        // this node accepted before (FederationTrust). It is kept as the accepted one only once
        // the node has been built with it: the data directory opened and checked, the file found
        // admissible with the logs held there (`ReplicationEngine.admissibility`) and the engine
        // built. A start refused (a directory of a newer format, another owner's, another log, a
        // file naming a held log's origin for a new log) changes nothing in it, so the node
        // starts again with the file it accepted before.
        let admittedFile: FederationTrust.SignedFile
        let trust: FederationTrust.Admission
        do {
            (admittedFile, trust) = try FederationTrust.evaluate(path: configuration.federationFile, dataDirectory: configuration.dataDirectory)
            federation = trust.federation
        } catch let error as FederationTrust.Refusal {
            throw NodeStartupError("\(error.description)")
        }
        guard let me = federation.member(configuration.node) else {
            throw NodeStartupError("\(configuration.federationFile) does not list node \(configuration.node) (it lists \(federation.members.map(\.id).joined(separator: ", ")))")
        }
        guard me.log == configuration.log else {
            throw NodeStartupError("\(configuration.federationFile) says node \(me.id) writes log \(me.log), but \(configuration.file) says \(configuration.log)")
        }
        // The certificate must name this node, or peers would refuse it.
        let contexts = try TLSContexts(configuration)
        if let refusal = contexts.startRefusal { throw NodeStartupError(refusal) }
        live = LiveSettings(federation: federation, contexts: contexts, tokens: configuration.tokens)
        let directory = DataDirectory(path: configuration.dataDirectory)
        try directory.checkOwnership()
        let open = directory.openToOthers()
        if !open.isEmpty {
            logger.warning("the data directory is readable by other users of this host (restricted payloads and keys among it): run chmod 700 on the directories and chmod 600 on the files",
                           metadata: ["paths": "\(open.joined(separator: ", "))"])
        }
        if let memory = directory.volatileFileSystem() {
            logger.warning("the data directory is on \(memory), in memory: every acknowledged append and the keys are gone at the next reboot; put it on a disk",
                           metadata: ["data": "\(configuration.dataDirectory)"])
        }
        store = try LedgerStore.open(directory, mode: .writer)
        // A restart that takes a revocation back (tls.crl taken out, an older list) is said,
        // as a reload that does is: compared with what was in force when the node last ran
        // (read and written with the store's writer lock held: a second `serve` refused at the
        // lock must not record its list).
        let recorded = TLSContexts.revocationsRecorded(dataDirectory: configuration.dataDirectory)
        let takenBack = contexts.revocationsTakenBack(since: recorded ?? [])
        if !takenBack.isEmpty {
            logger.warning("certificates revoked when this node last ran are no longer revoked: tls.crl was taken out, or is an older or shorter list",
                           metadata: ["serials": "\(takenBack.joined(separator: ","))"])
        }
        if let recorded {
            do { try contexts.recordRevocations(dataDirectory: configuration.dataDirectory, earlier: recorded) } catch { logger.warning("\(error)") }
        } else {
            logger.warning("the record of revocations in force cannot be read (too large, or not a regular file); it is kept as it is, and revocations taken back are not said",
                           metadata: ["file": "\(configuration.dataDirectory)/\(RevocationsInForce.fileName)"])
        }
        if let migration = store.migration {
            logger.notice("migrated the data directory to this quartet's format", metadata: [
                "from": "\(migration.from)", "to": "\(Schema.formatVersion)", "copy_before": "\(migration.backup)"])
        }
        // Every check of the file against the logs held here, before anything is built.
        do {
            let held = try store.logs().map(HeldLog.init)
            if let problem = ReplicationEngine.admissibility(of: federation, held: held, ownLog: configuration.log, directory: configuration.dataDirectory) {
                throw NodeStartupError(problem)
            }
        } catch {
            try? store.close()
            throw error
        }
        let ukLog = federation.members.first { $0.role == .aggregator }?.log ?? "uk"
        let order = [ukLog] + federation.members.map(\.log).filter { $0 != ukLog }
        let metrics = NodeMetrics(ownLog: configuration.log)
        // This node's clock against its witnesses' (finding 289): read by egress, ingress, the
        // restricted-append guard and the purges; judged by the witness collector.
        let clock = ClockWatch(logger: logger)
        self.metrics = metrics
        let view = ViewMaintainer(ukLog: ukLog, order: order, owners: federation.owners, labels: federation.labels, history: federation.ownerHistory, store: store, metrics: metrics,
                                    foldsView: foldsView, logger: logger)
        self.view = view
        // Set once the writer exists: disclosures are recorded in the node's own log.
        let recorder = OwnLogRecorder(journal: URL(fileURLWithPath: configuration.dataDirectory).appendingPathComponent("pending-records"),
                                      ownLog: configuration.log, writes: store.writes, logger: logger)
        // Appends wait until peers have said how much of this log they hold (OwnLogSync).
        let syncing = !configuration.onlyCopy && federation.members.count > 1
        let ownLogName = configuration.log, nodeID = configuration.node
        let gate = OwnLogGate(node: configuration.node, log: configuration.log, logger: logger, keyCheck: { [live, store] in
            guard let current = live.federation.member(nodeID)?.current,
                  let info = try? store.log(named: ownLogName), let chain = try? store.keyChain(info),
                  !chain.keys.contains(current.publicKey) else { return nil }
            return "the federation file names \(current.vkey) as its current key, but its rotations here have not reached it (the peers that answered lack them): restart the node once a peer that holds them is up"
        }, confirmed: { [dataDirectory = configuration.dataDirectory, logger] in
            if let problem = CopyMarkers.confirm(dataDirectory) { logger.warning("the copy is confirmed, but its marker stays", metadata: ["error": "\(problem)"]) }
        })
        // Not synced with peers (the only copy, or the only member): the copy is what there is.
        if !syncing, let problem = CopyMarkers.confirm(configuration.dataDirectory) {
            logger.warning("the copy is confirmed, but its marker stays", metadata: ["error": "\(problem)"])
        }
        do {
            try view.load(from: store)
            let ownLog = configuration.log
            let engine = try ReplicationEngine(store: store, live: live, node: configuration.node, ownLog: configuration.log,
                                               group: MultiThreadedEventLoopGroup.singleton, logger: logger,
                                               metrics: metrics, onStored: onStored, onIngest: { log, entries, checkpoint in
                                                   // The own log's tail (taken from peers before the first append) is
                                                   // in the view before appends open.
                                                   if log == ownLog {
                                                       view.absorbOwn(log: log, entries: entries, checkpoint: checkpoint)
                                                   } else {
                                                       view.absorbReplica(log: log, entries: entries, checkpoint: checkpoint)
                                                   }
                                               }, onStubsFilled: { log in
                                                   view.refold(reason: "payloads of stubs of \(log) came from peers")
                                               }, policy: { view.policy }, foldedSize: { view.foldedSize(of: $0) },
                                               onDisclosed: { recipient, log, disclosed in recorder.record(recipient: recipient, log: log, disclosed) }, syncOwnLog: syncing, peerAnswers: configuration.peerAnswers, protocolVersion: configuration.protocolVersion,
                                               federationStatement: admittedFile.note?.serialized,
                                               readBudget: configuration.peerReadBudget, onOwnLog: { gate.update($0) }, clock: clock)
            let log = configuration.log
            // At start the witness learns from as many peers as the own log's sync waits for
            // what it cosigned (none: the only copy, or the only member).
            let peers = federation.members.filter { $0.id != configuration.node }.count
            let recallAnswers = configuration.onlyCopy || peers == 0 ? 0 : min(peers, configuration.peerAnswers ?? ReplicationEngine.ownSyncAnswers(federation, node: configuration.node))
            let begun = try SubmissionStore(directory, nowMillis: wallClockMillis(), warn: { [logger] in
                logger.warning("\($0)")
                metrics.submissionStoreFailures.increment()
            })
            submissions = FormSubmissions()
            appendKeys = API.appendKeys(store: begun, logger: logger, failed: { metrics.submissionStoreFailures.increment() })
            let witness = try WitnessService(directory: directory, ledger: store, live: live, me: configuration.node, origin: me.verifier.name, logger: logger,
                                             recallAnswers: recallAnswers)
            let off = Self.witnessDisabled(witness, listed: me.witness, configuration: configuration)
            witness.disabled.withLockedValue { $0 = off?.shown }
            if let off { logger.warning("this node does not witness the other members' logs", metadata: ["reason": "\(off.detail)"]) }
            self.witness = witness
            let collector = WitnessCollector(store: witness.store, ledger: store, live: live, me: configuration.node, ownLog: configuration.log, logger: logger,
                                             cosignOwn: { note, now in witness.cosignOwn(note, nowMillis: now) }, ownLogOpen: { gate.isOpen }, ownLogSuperseded: { gate.isSuperseded },
                                             splitViews: witness.splitViews, clock: clock)
            self.collector = collector
            witness.splitViews.connect { engine.witnessCaught($0) }
            engine.witnessedLatest.set { [store = witness.store] origin in (try? store.latest(origin))?.note.serialized }
            witness.quarantined.set { log in engine.quarantinedLogs.withLock { $0.contains(log) } }
            engine.copyGrew.set { [witness] grown in witness.copyGrew(grown.log, to: grown.size) }
            writer = try LogWriter(store: store, log: log, held: gate.initial(syncing: syncing, quarantined: engine.quarantinedLogs.withLock { $0.contains(log) }), onCommit: { entries, checkpoint, signedAt, tree in
                // The push to the peers and the witness round are queued (each runs on a queue of
                // its own, never holding an append), then the view sees the batch, before its
                // appends are acknowledged.
                // A batch with policy entries (an agreement established or revoked, disclosure
                // and purge records) is folded first: egress judges what the push carries by the
                // agreements in force, the batch's own among them (as ingress folds a batch's
                // agreements first), and rows admitted beside an agreement, or beside its
                // revocation in the same group commit, go out as that agreement decides.
                let foldFirst = entries.contains { PolicyEntryType(rawValue: $0.header.type) != nil }
                if foldFirst { view.absorbOwn(log: log, entries: entries, checkpoint: checkpoint.checkpoint, admitted: true) }
                engine.committed(entries, checkpoint: checkpoint, log: log)
                // Committed after another process was seen signing this log (its transaction was
                // under way): no witness is asked to cosign it (the replicator publishes it to
                // no peer either).
                if !gate.isSuperseded { collector.checkpointed(checkpoint, signedAt: signedAt, leaves: entries.map(\.leafHash), tree: tree) }
                if !foldFirst { view.absorbOwn(log: log, entries: entries, checkpoint: checkpoint.checkpoint, admitted: true) }
                metrics.ownAppends.increment(by: entries.count)
                metrics.ownBatches.increment()
            })
            if let latest = try store.latestCheckpoint(try store.log(named: log)) { collector.checkpointed(latest) }
            self.engine = engine
            gate.attach(writer)
            admission = AppendAdmission(log: log, view: view, writer: writer, clock: clock)
            let ownWriter = writer
            recorder.writer.withLockedValue { $0 = ownWriter }
            self.recorder = recorder
            let marks = PurgeMarks(path: URL(fileURLWithPath: configuration.dataDirectory).appendingPathComponent("purges-done").path, logger: logger)
            let purger = Purger(store: store, view: view, me: configuration.node, ownLog: configuration.log, recorder: recorder, marks: marks,
                                drainStores: { engine.drainStores() }, resetRecipients: { engine.reset(peers: $0, agreement: $1) }, logger: logger,
                                clock: clock)
            self.purger = purger
            view.onAgreementEnded.set { id in purger.ended(id) }
            // Built with it: the file is now the accepted one.
            do { try FederationTrust.keep(admittedFile, dataDirectory: configuration.dataDirectory) } catch {
                throw NodeStartupError("\(error)")
            }
        } catch {
            try? store.close()
            throw error
        }
        if let previous = trust.previous, previous != federation.version {
            logger.notice("accepted a newer federation file", metadata: ["version": "\(federation.version)", "previous": "\(previous)",
                                                                        "signed_by": "\(trust.signers.joined(separator: ","))"])
        }
    }
}
