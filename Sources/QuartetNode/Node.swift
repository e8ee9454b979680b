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

/// Why a node cannot start: configuration, federation, data directory or TLS files that do not
/// fit together. The message names the file and what to do.
public struct NodeStartupError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A Quartet node: its data directory, the peer port and the HTTPS API, run as services that
/// SIGTERM and SIGINT shut down gracefully. This is the composition root: it builds and wires
/// the parts; the services it runs besides the listeners are in NodeServices.swift.
///
/// (Over ~350 lines: the composition root wires every part in one place, in start order.)
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

    /// Loads everything the node needs and checks that it fits together, before listening.
    /// - Parameter onStored: told each time a replica batch is durable here (benchmarks).
    /// `foldsView: false` is for `quartet recover`: the process only stores what peers hold and
    /// stops, and the node that then serves folds its view from the store at start, as every
    /// start does; the agreements are still folded (ingress and egress judge batches by them).
    public init(configuration: NodeConfiguration, logger: Logger, onStored: (@Sendable (_ log: String, _ size: UInt64) -> Void)? = nil, foldsView: Bool = true) throws {
        self.configuration = configuration
        self.logger = logger
        guard FileManager.default.fileExists(atPath: configuration.dataDirectory) else {
            throw NodeStartupError("\(configuration.dataDirectory) does not exist; create it with `quartet init --log \(configuration.log) --data \(configuration.dataDirectory)`")
        }
        if let refusal = CopyMarkers.startRefusal(configuration.dataDirectory) { throw NodeStartupError(refusal) }
        if configuration.onlyCopy, let refusal = CopyMarkers.onlyCopyRefusal(configuration.dataDirectory) { throw NodeStartupError(refusal) }
        if foldsView, Recovery.isUnfinished(configuration.dataDirectory) {
            throw NodeStartupError("\(configuration.dataDirectory) is a recovery that did not finish (quartet recover was interrupted): it may lack part of the logs; run `quartet recover` again, which starts it over")
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
        live = LiveSettings(federation: federation, contexts: contexts, tokens: configuration.tokens)
        let directory = DataDirectory(path: configuration.dataDirectory)
        try directory.checkOwnership()
        let open = directory.openToOthers()
        if !open.isEmpty {
            logger.warning("the data directory is readable by other users of this host (restricted payloads and keys among it): run chmod 700 on the directories and chmod 600 on the files",
                           metadata: ["paths": "\(open.joined(separator: ", "))"])
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
                                               readBudget: configuration.peerReadBudget, onOwnLog: { gate.update($0) })
            let log = configuration.log
            // At start the witness learns from as many peers as the own log's sync waits for
            // what it cosigned (none: the only copy, or the only member).
            let peers = federation.members.filter { $0.id != configuration.node }.count
            let recallAnswers = configuration.onlyCopy || peers == 0 ? 0 : min(peers, configuration.peerAnswers ?? ReplicationEngine.ownSyncAnswers(federation, node: configuration.node))
            let witness = try WitnessService(directory: directory, ledger: store, live: live, me: configuration.node, origin: me.verifier.name, logger: logger,
                                             recallAnswers: recallAnswers)
            witness.disabled.withLockedValue { $0 = Self.witnessDisabled(witness, listed: me.witness, configuration: configuration) }
            if let reason = witness.disabled.withLockedValue({ $0 }) {
                logger.warning("this node does not witness the other members' logs", metadata: ["reason": "\(reason)"])
            }
            self.witness = witness
            let collector = WitnessCollector(store: witness.store, ledger: store, live: live, me: configuration.node, ownLog: configuration.log, logger: logger,
                                             cosignOwn: { note, now in witness.cosignOwn(note, nowMillis: now) }, ownLogOpen: { gate.isOpen },
                                             splitViews: witness.splitViews)
            self.collector = collector
            witness.splitViews.connect { engine.witnessCaught($0) }
            engine.witnessedLatest.set { [store = witness.store] origin in (try? store.latest(origin))?.note.serialized }
            witness.quarantined.set { log in engine.quarantinedLogs.withLock { $0.contains(log) } }
            engine.copyGrew.set { [witness] grown in witness.copyGrew(grown.log, to: grown.size) }
            writer = try LogWriter(store: store, log: log, held: gate.initial(syncing: syncing), onCommit: { entries, checkpoint, signedAt, tree in
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
                collector.checkpointed(checkpoint, signedAt: signedAt, leaves: entries.map(\.leafHash), tree: tree)
                if !foldFirst { view.absorbOwn(log: log, entries: entries, checkpoint: checkpoint.checkpoint, admitted: true) }
                metrics.ownAppends.increment(by: entries.count)
                metrics.ownBatches.increment()
            })
            if let latest = try store.latestCheckpoint(try store.log(named: log)) { collector.checkpointed(latest) }
            self.engine = engine
            gate.attach(writer)
            admission = AppendAdmission(log: log, view: view, writer: writer)
            let ownWriter = writer
            recorder.writer.withLockedValue { $0 = ownWriter }
            self.recorder = recorder
            let marks = PurgeMarks(path: URL(fileURLWithPath: configuration.dataDirectory).appendingPathComponent("purges-done").path, logger: logger)
            let purger = Purger(store: store, view: view, me: configuration.node, ownLog: configuration.log, recorder: recorder, marks: marks,
                                drainStores: { engine.drainStores() }, logger: logger)
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

    /// Reads the federation file and the TLS certificate and key again (SIGHUP). A newer
    /// federation file that a quorum signed replaces the one in force: members added are
    /// dialled, members removed are cut off at once (their connections closed, their
    /// certificates refused at the peer port and the API from then on). A renewed certificate
    /// is presented from the next handshake on. Nothing changes when anything is refused (but
    /// tokens removed or changed in the configuration, below): the error says why, and the node
    /// goes on as it was.
    ///
    /// All or nothing: every check comes first (signatures, `reloadConflict`, the logs held
    /// here by `ReplicationEngine.admissibility`, the TLS files, the configuration's tokens);
    /// then the logs of members added are registered, then the file is kept as accepted, and
    /// only then is it put in force (`live` and the replicator switched together, removed
    /// members' connections closed), which cannot fail.
    ///
    /// One thing is not all or nothing: a token taken out of the configuration file, or given
    /// another name or role there, is refused even when the rest is refused (a stolen token must not outlive a reload refused for a
    /// reason of its own, a half-renewed certificate or a file short of signatures).
    public func reload() throws -> ReloadReport {
        // The token grants, from the configuration file as it is now (a token removed is
        // refused from the next request on, browser sign-ins with it too).
        let (tokens, tlsFiles) = try reloadedSettings()
        let revocationList = tlsFiles.revocationList
        do { return try reload(tokens: tokens, tlsFiles: tlsFiles) } catch {
            // A revocation list brought by a reload refused for another reason is not in force:
            // said, so an operator revoking a stolen key does not take it for done.
            let listNow = revocationList.flatMap { try? ConfigObject.readPEM($0, what: "revocation list") }
            let error: any Error = listNow != live.contexts.revocations
                ? NodeStartupError("\(error); the revocation list (tls.crl) in the configuration is NOT in force: the node keeps the one it had (\(live.contexts.revocations == nil ? "none" : "another"))")
                : error
            let dropped = live.dropTokens(keeping: tokens)
            guard !dropped.isEmpty else { throw error }
            sessions.retain(digests: Set(live.tokens.map(\.sha256)))
            let names = dropped.map { "\($0.name) (\($0.identity.fileLabel))" }.joined(separator: ", ")
            logger.notice("tokens removed from the configuration are refused, though the reload was not", metadata: ["tokens": "\(names)"])
            throw NodeStartupError("\(error); the tokens removed from the configuration file are refused all the same: \(names)")
        }
    }

    private func reload(tokens: [TokenGrant], tlsFiles: NodeConfiguration) throws -> ReloadReport {
        let (file, admission) = try FederationTrust.evaluate(path: configuration.federationFile, dataDirectory: configuration.dataDirectory)
        let current = live.federation
        let new = admission.federation
        if let conflict = current.reloadConflict(with: new, me: configuration.node) {
            throw NodeStartupError("\(configuration.federationFile): not reloaded: \(conflict)")
        }
        if let problem = ReplicationEngine.admissibility(of: new, held: try store.logs().map(HeldLog.init), ownLog: configuration.log,
                                                         directory: configuration.dataDirectory) {
            throw NodeStartupError("\(configuration.federationFile): not reloaded: \(problem)")
        }
        // The TLS files as the configuration names them now: a renewal installed over the same
        // paths, or in a new directory the configuration was pointed at (docs/operations.md,
        // "Reloading"), and a revocation list added, replaced or taken out.
        var tls = configuration
        tls.caCertificate = tlsFiles.caCertificate
        tls.certificate = tlsFiles.certificate
        tls.privateKey = tlsFiles.privateKey
        tls.revocationList = tlsFiles.revocationList
        let contexts = try TLSContexts(tls)
        // A changed certificate or CA is checked as `config check` would; one unchanged is
        // in force already (expired, it is the reload that may bring what fixes it).
        if contexts.files != live.contexts.files, let problem = TLSContexts.renewalProblem(tls) {
            throw NodeStartupError("not reloaded: \(problem)")
        }
        let logs = try engine.register(new)
        try FederationTrust.keep(file, dataDirectory: configuration.dataDirectory)
        let oldTokens = live.tokens
        let contextsBefore = live.contexts
        engine.apply(new, statement: file.note?.serialized, logs: logs) { live.replace(federation: new, contexts: contexts, tokens: tokens) }
        // UK figures count the members listed now: a member removed no longer counts.
        view.countOnly(Set(new.members.map(\.log)))
        // A CA replaced (after a compromise, say): the certificates the old one vouched for are
        // not the node's to trust, on connections open now either (peers reconnect at once
        // with certificates of the new CA; readers and operators with theirs) — those made
        // under any earlier set of contexts with another CA, not only the set just replaced.
        // A revocation list changed likewise: every connection verified before it is closed,
        // and those whose certificate it revokes cannot come back.
        if live.retireEarlierContexts(notTrusting: contexts.trustRoots,
                                      reason: "the node's CA (tls.ca) or revocation list (tls.crl) changed at a reload: connections verified before are closed") {
            logger.notice("the CA or the revocation list changed: connections verified before are closed")
        }
        // A file that now lists this node's witness key turns witnessing on (one listing
        // another key turns it off), saying so.
        let witnessWas = witness.disabled.withLockedValue { $0 }
        let witnessNow = Self.witnessDisabled(witness, listed: new.member(configuration.node)?.witness, configuration: configuration)
        witness.disabled.withLockedValue { $0 = witnessNow }
        if witnessWas != witnessNow {
            if let witnessNow { logger.warning("this node does not witness the other members' logs", metadata: ["reason": "\(witnessNow)"]) } else {
                logger.notice("this node witnesses the other members' logs again: the federation file lists its witness key")
            }
        }
        var report = ReloadReport(federationVersion: new.version, previousVersion: current.version, certificateNotAfter: contexts.notAfter)
        report.added = new.members.map(\.id).filter { current.member($0) == nil }
        report.removed = current.members.map(\.id).filter { new.member($0) == nil }
        report.moved = new.members.filter { m in current.member(m.id).map { $0.peer != m.peer || $0.api != m.api } ?? false }.map(\.id)
        // A token is its digest: a new name or role for the same token is not a removal.
        func described(_ grant: TokenGrant) -> String { "\(grant.name) (\(grant.identity.fileLabel))" }
        let newDigests = Set(tokens.map(\.sha256)), oldDigests = Set(oldTokens.map(\.sha256))
        report.tokensAdded = tokens.filter { !oldDigests.contains($0.sha256) }.map(described)
        report.tokensRemoved = oldTokens.filter { !newDigests.contains($0.sha256) }.map(described)
        sessions.retain(digests: newDigests)
        // Against the record too: it keeps the revocations of CAs rolled out of tls.ca before.
        let readable = TLSContexts.revocationsRecorded(dataDirectory: configuration.dataDirectory)
        let recorded = (readable ?? []).union(contextsBefore.revokedCertificates)
        report.revocationsTakenBack = contexts.revocationsTakenBack(since: recorded)
        do { if readable != nil { try contexts.recordRevocations(dataDirectory: configuration.dataDirectory, earlier: recorded) } } catch {
            logger.warning("\(error)")
        }
        if !report.revocationsTakenBack.isEmpty {
            logger.warning("certificates revoked before this reload are no longer revoked: tls.crl was taken out, or replaced by an older or shorter list",
                           metadata: ["serials": "\(report.revocationsTakenBack.joined(separator: ","))"])
        }
        logger.notice("reloaded", metadata: ["federation.version": "\(new.version)", "added": "\(report.added.joined(separator: ","))",
                                             "removed": "\(report.removed.joined(separator: ","))", "certificate.not_after": "\(contexts.notAfter)"])
        return report
    }

    /// Why this node's witness does not cosign (nil: it does). A witness that lost what it
    /// cosigned (a restored or recovered data directory) must not cosign again under its key;
    /// one whose key is not the one the federation file lists (`listed`) is trusted by no one.
    /// The node runs either way, without witnessing, and says what to do. Decided at start and
    /// again at each reload (a federation file that now lists the node's new key turns it on).
    static func witnessDisabled(_ witness: WitnessService, listed: CosignatureVerifier?, configuration: NodeConfiguration) -> String? {
        let keyPath = WitnessStore.keyPath(DataDirectory(path: configuration.dataDirectory))
        let add = "to \(configuration.federationFile) as node \(configuration.node)'s \"witness\" and have the members sign it (docs/witness.md)"
        if witness.stateLost {
            return "its witness state is missing beside its key, or belongs to another key (a restored or recovered data directory, a key copied back); a witness must not forget what it cosigned: delete \(keyPath), then add the new key `quartet key witness-vkey` makes \(add)"
        }
        if let listed, listed != witness.signer.verifier {
            return "\(configuration.federationFile) lists \(listed.vkey) as this node's witness key, but \(keyPath) holds another: add \(witness.signer.verifier.vkey) \(add)"
        }
        return nil
    }

    /// What a reload takes from the configuration file as it is now: the token grants and the
    /// TLS files (`tls.ca`, `tls.certificate`, `tls.key`, `tls.crl`: the configuration as read
    /// now, of which only those are used); the rest needs a restart. Refused (the reload changes
    /// nothing) when the file no longer parses or names another node or log.
    func reloadedSettings() throws -> (tokens: [TokenGrant], tlsFiles: NodeConfiguration) {
        let now: NodeConfiguration
        do { now = try NodeConfiguration.load(path: configuration.file) } catch {
            throw NodeStartupError("\(configuration.file): not reloaded: \(error)")
        }
        guard now.node == configuration.node, now.log == configuration.log else {
            throw NodeStartupError("\(configuration.file): not reloaded: it now names node \(now.node) and log \(now.log), not \(configuration.node) and \(configuration.log); that needs a restart")
        }
        return (now.tokens, now)
    }

    /// The peers this node is connected to (greeted), by id.
    public var connectedPeers: [String] { engine.peers().filter(\.connected).map(\.id) }

    /// Appends to the node's own log as the API does; returns once durable.
    public func append(_ request: AppendRequest) async throws -> AppendReceipt {
        try await writer.append(request)
    }

    /// Appends several entries in order (one group commit when they fit); returns once durable.
    public func append(contentsOf requests: [AppendRequest]) async throws -> [AppendReceipt] {
        try await writer.append(contentsOf: requests)
    }

    /// Log sizes as this node's view has folded them.
    public var viewSizes: [String: UInt64] { view.foldedSizes }

    /// The overview rendered for a reader without its cache: what the first request after the
    /// view changes costs (`bench view`). Returns the page's size.
    public func renderOverviewUncached() -> Int {
        let api = api()
        let q = view.queries(view.snapshot, health: api.health(), now: wallClockMillis())
        return api.overview(q, caller: Self.benchReader, alerts: engine.alertList()).html().utf8.count
    }

    /// Measure `id`'s page (its latest year) rendered for a reader without its cache.
    public func renderMeasurePageUncached(_ id: String) throws -> Int {
        let q = view.queries(view.snapshot, health: [:], now: wallClockMillis())
        let page = try WebPage.measure(id, year: nil, q, store: store)
        return WebPage.Frame(node: configuration.node, viewer: Self.benchReader.identity.uri)
            .render(page.template, title: page.title, crumbs: page.crumbs, script: false, body: page.body).utf8.count
    }

    static let benchReader = Caller(identity: .reader("bench"), author: "reader-bench", viaCookie: false)

    /// The HTTPS API over this node's parts.
    func api() -> API {
        API(node: configuration.node, ownLog: configuration.log, store: store, writer: writer, engine: engine,
            live: live, view: view, sessions: sessions, logger: logger, metrics: metrics, admission: admission,
            witness: witness, collector: collector, reads: reads)
    }

    /// Runs until SIGTERM or SIGINT (or `shutdown` from a caller's ServiceGroup), then closes the
    /// listeners, lets in-flight requests finish, and closes the data directory.
    /// - Parameter handleSignals: stop on SIGTERM/SIGINT (false when several nodes share a
    ///   process, as in benchmarks; cancel the task instead).
    /// - Parameter listening: called with the peer and API addresses once both are bound.
    /// - Parameter shutdown: stops the node gracefully when triggered (a node run in-process).
    public func run(handleSignals: Bool = true, shutdown: NodeShutdown? = nil,
                    listening: (@Sendable (_ peer: SocketAddress, _ api: SocketAddress) -> Void)? = nil) async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let addresses = AddressLatch(callback: listening)
        let me = configuration.node, live = self.live
        let peerListener = PeerListener(address: configuration.peerListen, context: { live.contexts.peer }, members: { live.peers(except: me) }, group: group,
                                        engine: engine, logger: logger, bound: { addresses.set(peer: $0) })
        let slots = ConnectionCap.Counter(limits: ConnectionLimits(), keepsReserve: { live.federation.keepsConnectionReserve($0) })
        var routes = api()
        routes.slots = slots
        let api = Application(
            router: routes.router().router,
            server: .quartetTLS(context: { live.contexts.api }, cap: slots, logger: logger),
            configuration: .init(address: .hostname(configuration.apiListen.host, port: configuration.apiListen.port), serverName: "quartet"),
            onServerRunning: { channel in
                if let local = channel.localAddress { addresses.set(api: local) }
            },
            eventLoopGroupProvider: .shared(group),
            logger: logger)
        let replication = ReplicationService(engine: engine, recorder: recorder, policy: { view.policy }, held: { [store] log, indices in
            try store.payloadsHeld(store.log(named: log), indices: indices)
        })
        var serviceConfiguration = ServiceGroupConfiguration(
            services: [.init(service: peerListener), .init(service: replication), .init(service: PurgeService(purger: purger)),
                       .init(service: WitnessingService(collector: collector, witness: witness)), .init(service: api)],
            gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [],
            logger: logger)
        // A graceful stop waits for requests under way, but not for ever on a client that takes
        // none of its response: past this the services are cancelled (appends already queued
        // still commit; the stores close after).
        serviceConfiguration.maximumGracefulShutdownDuration = .seconds(20)
        let services = ServiceGroup(configuration: serviceConfiguration)
        logger.info("node starting", metadata: ["node": "\(configuration.node)", "data": "\(configuration.dataDirectory)"])
        await shutdown?.attach(services)
        do {
            try await services.run()
        } catch let error as IOError where "\(error)".contains("bind") {
            // Hummingbird's bind error names no address.
            try? store.close()
            throw ListenError(what: "api.listen", address: configuration.apiListen, cause: error)
        } catch {
            try? store.close()
            throw error
        }
        try store.close()
        logger.info("node stopped", metadata: ["node": "\(configuration.node)"])
    }
}

/// Reports both listening addresses once both are known.
private final class AddressLatch: Sendable {
    private let state = NIOLockedValueBox<(peer: SocketAddress?, api: SocketAddress?, done: Bool)>((nil, nil, false))
    private let callback: (@Sendable (SocketAddress, SocketAddress) -> Void)?

    init(callback: (@Sendable (SocketAddress, SocketAddress) -> Void)?) { self.callback = callback }

    func set(peer: SocketAddress? = nil, api: SocketAddress? = nil) {
        let ready: (SocketAddress, SocketAddress)? = state.withLockedValue { state in
            if let peer { state.peer = peer }
            if let api { state.api = api }
            guard !state.done, let p = state.peer, let a = state.api else { return nil }
            state.done = true
            return (p, a)
        }
        if let ready { callback?(ready.0, ready.1) }
    }
}
