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
/// SIGTERM and SIGINT shut down gracefully.
public struct Node: Sendable {
    public let configuration: NodeConfiguration
    public let federation: Federation
    let store: LedgerStore
    let peerContext: TLSContext
    let apiContext: TLSContext
    let engine: ReplicationEngine
    let writer: LogWriter
    let logger: Logger
    /// The combined strategy view, kept up to date as entries become durable.
    public let view: ViewMaintainer
    let metrics: NodeMetrics
    let purger: Purger
    let recorder: OwnLogRecorder
    let admission: AppendAdmission

    /// Loads everything the node needs and checks that it fits together, before listening.
    /// - Parameter onStored: told each time a replica batch is durable here (benchmarks).
    public init(configuration: NodeConfiguration, logger: Logger, onStored: (@Sendable (_ log: String, _ size: UInt64) -> Void)? = nil) throws {
        self.configuration = configuration
        self.logger = logger
        federation = try Federation.load(path: configuration.federationFile)
        guard let me = federation.member(configuration.node) else {
            throw NodeStartupError("\(configuration.federationFile) does not list node \(configuration.node) (it lists \(federation.members.map(\.id).joined(separator: ", ")))")
        }
        guard me.log == configuration.log else {
            throw NodeStartupError("\(configuration.federationFile) says node \(me.id) writes log \(me.log), but \(configuration.file) says \(configuration.log)")
        }
        // The certificate must name this node, or peers would refuse it.
        let certificate: Certificate
        do {
            let pem = try String(contentsOfFile: configuration.certificate, encoding: .utf8)
            certificate = try Certificate(pem: pem)
        } catch {
            throw NodeStartupError("\(configuration.file): tls.certificate: \(error)")
        }
        guard FederationIdentity(certificate: certificate) == .node(configuration.node) else {
            let names = certificate.uriNames.joined(separator: ", ")
            throw NodeStartupError("\(configuration.file): tls.certificate: \(configuration.certificate) names \(names.isEmpty ? "no quartet:// identity" : names), expected quartet://node/\(configuration.node)")
        }
        let clientContext: TLSContext
        do {
            clientContext = try TLSContext(role: .client, certificateChain: configuration.certificate, privateKey: configuration.privateKey,
                                           trustRoots: configuration.caCertificate)
            peerContext = try TLSContext(role: .server, certificateChain: configuration.certificate, privateKey: configuration.privateKey,
                                         trustRoots: configuration.caCertificate, clientAuthentication: .required)
            apiContext = try TLSContext(role: .server, certificateChain: configuration.certificate, privateKey: configuration.privateKey,
                                        trustRoots: configuration.caCertificate, clientAuthentication: .optional)
        } catch {
            throw NodeStartupError("\(configuration.file): tls: \(error)")
        }
        let directory = DataDirectory(path: configuration.dataDirectory)
        try directory.checkOwnership()
        store = try LedgerStore.open(directory, mode: .writer)
        do {
            let log = try store.log(named: configuration.log)
            guard log.isOwn else {
                throw NodeStartupError("log \(log.name) in \(configuration.dataDirectory) is a replica, not this node's own log")
            }
            guard log.verifier == me.verifier else {
                throw NodeStartupError("the key of log \(log.name) in \(configuration.dataDirectory) (\(log.verifier.vkey)) is not the key \(configuration.federationFile) pins (\(me.verifier.vkey))")
            }
        } catch {
            try? store.close()
            if let error = error as? StoreError, error.code == .unknownLog {
                throw NodeStartupError("\(configuration.dataDirectory) holds no log \(configuration.log); create it with `quartet init --log \(configuration.log) --data \(configuration.dataDirectory)`")
            }
            throw error
        }
        let ukLog = federation.members.first { $0.role == .aggregator }?.log ?? "uk"
        let order = [ukLog] + federation.members.map(\.log).filter { $0 != ukLog }
        let metrics = NodeMetrics(ownLog: configuration.log)
        self.metrics = metrics
        let view = ViewMaintainer(ukLog: ukLog, order: order, owners: federation.owners, labels: federation.labels, store: store, metrics: metrics, logger: logger)
        self.view = view
        // Set once the writer exists: disclosures are recorded in the node's own log.
        let recorder = OwnLogRecorder(journal: URL(fileURLWithPath: configuration.dataDirectory).appendingPathComponent("pending-records"),
                                      ownLog: configuration.log, logger: logger)
        do {
            try view.load(from: store)
            let engine = try ReplicationEngine(store: store, federation: federation, node: configuration.node, ownLog: configuration.log,
                                               clientContext: clientContext, group: MultiThreadedEventLoopGroup.singleton, logger: logger,
                                               metrics: metrics, onStored: onStored, onIngest: { log, entries, checkpoint in
                                                   view.absorbReplica(log: log, entries: entries, checkpoint: checkpoint)
                                               }, policy: { view.policy },
                                               onDisclosed: { recipient, log, span, count, agreement, access in
                                                   recorder.record(recipient: recipient, log: log, span: span, count: count, agreement: agreement, access: access)
                                               })
            let log = configuration.log
            writer = try LogWriter(store: store, log: log, onCommit: { entries, checkpoint in
                // The view sees the batch before its appends are acknowledged.
                view.absorbOwn(log: log, entries: entries, checkpoint: checkpoint.checkpoint)
                engine.committed(entries, checkpoint: checkpoint, log: log)
                metrics.ownAppends.increment(by: entries.count)
                metrics.ownBatches.increment()
            })
            self.engine = engine
            admission = AppendAdmission(log: log, view: view, writer: writer)
            let ownWriter = writer
            recorder.writer.withLockedValue { $0 = ownWriter }
            self.recorder = recorder
            let purger = Purger(store: store, view: view, me: configuration.node, ownLog: configuration.log, recorder: recorder, logger: logger)
            self.purger = purger
            view.onAgreementEnded.withLockedValue { $0 = { id in purger.ended(id, reason: "revoked") } }
        } catch {
            try? store.close()
            throw error
        }
    }

    /// Runs until SIGTERM or SIGINT (or `shutdown` from a caller's ServiceGroup), then closes the
    /// listeners, lets in-flight requests finish, and closes the data directory.
    /// - Parameter listening: called with the peer and API addresses once both are bound.
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
    public var viewSizes: [String: UInt64] { view.snapshot.logs.mapValues(\.size) }

    /// The HTTPS API over this node's parts.
    func api() -> API {
        API(node: configuration.node, ownLog: configuration.log, store: store, writer: writer, engine: engine,
            federation: federation, view: view, tokens: configuration.tokens, logger: logger, metrics: metrics, admission: admission)
    }

    /// - Parameter handleSignals: stop on SIGTERM/SIGINT (false when several nodes share a
    ///   process, as in benchmarks; cancel the task instead).
    public func run(handleSignals: Bool = true, listening: (@Sendable (_ peer: SocketAddress, _ api: SocketAddress) -> Void)? = nil) async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let addresses = AddressLatch(callback: listening)
        let peers = Set(federation.members.map(\.id)).subtracting([configuration.node])
        let peerListener = PeerListener(address: configuration.peerListen, context: peerContext, members: peers, group: group,
                                        engine: engine, logger: logger, bound: { addresses.set(peer: $0) })
        let api = Application(
            router: api().router().router,
            server: .quartetTLS(context: apiContext, logger: logger),
            configuration: .init(address: .hostname(configuration.apiListen.host, port: configuration.apiListen.port), serverName: "quartet"),
            onServerRunning: { channel in
                if let local = channel.localAddress { addresses.set(api: local) }
            },
            eventLoopGroupProvider: .shared(group),
            logger: logger)
        let services = ServiceGroup(configuration: .init(
            services: [.init(service: peerListener), .init(service: ReplicationService(engine: engine, recorder: recorder, policy: { view.policy })), .init(service: PurgeService(purger: purger)),
                       .init(service: api)],
            gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [],
            logger: logger))
        logger.info("node starting", metadata: ["node": "\(configuration.node)", "data": "\(configuration.dataDirectory)"])
        do {
            try await services.run()
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

/// Starts replication (dialling, anti-entropy) and, on graceful shutdown, closes every peer
/// connection.
struct ReplicationService: Service {
    let engine: ReplicationEngine
    let recorder: OwnLogRecorder
    let policy: @Sendable () -> Policy

    func run() async throws {
        // Records a previous run journalled but did not get into the log (a crash, SIGKILL)
        // go in before anything is sent.
        await recorder.recover(known: policy())
        engine.start()
        try? await gracefulShutdown()
        await engine.stop()
        // What was sent is recorded before the node stops.
        await recorder.flush()
    }
}

/// Purges, at this node, the payloads it holds under agreements that ended (revoked or
/// expired) unless another agreement in force still gives it full access: the stubs stay, so
/// the logs still verify, and each purge is recorded in the node's own log (`purge.recorded`).
final class Purger: Sendable {
    let store: LedgerStore
    let view: ViewMaintainer
    let me: String
    let ownLog: String
    let recorder: OwnLogRecorder
    let logger: Logger
    private let handled = NIOLockedValueBox<Set<String>>([])

    init(store: LedgerStore, view: ViewMaintainer, me: String, ownLog: String, recorder: OwnLogRecorder, logger: Logger) {
        self.store = store
        self.view = view
        self.me = me
        self.ownLog = ownLog
        self.recorder = recorder
        self.logger = logger
    }

    /// Purges for `id` (off the caller's thread), and once more a few seconds later: a batch
    /// that egress or ingress let through just before the end may be stored after the first
    /// purge.
    func ended(_ id: String, reason: String) {
        guard handled.withLockedValue({ $0.insert(id).inserted }) else { return }
        DispatchQueue.global().async { self.purge(id, reason: reason) }
        DispatchQueue.global().asyncAfter(deadline: .now() + 5) { self.purge(id, reason: reason) }
    }

    /// Every agreement that has ended by now: revoked, or past its validity.
    func checkEnded() {
        let now = wallClockMillis()
        for (id, state) in view.policy.agreements {
            if state.contested { ended(id, reason: "contested") }
            else if state.revoked != nil { ended(id, reason: "revoked") }
            else if now >= state.agreement.validUntil { ended(id, reason: "expired") }
        }
    }

    private func purge(_ id: String, reason: String) {
        let policy = view.policy
        for state in ([policy.agreements[id]].compactMap { $0 } + policy.shadowed.filter { $0.agreement.id == id })
        where state.agreement.holder != ownLog {
            purge(state, policy: policy, reason: reason)
        }
    }

    private func purge(_ state: AgreementState, policy: Policy, reason: String) {
        let id = state.agreement.id
        do {
            guard let log = try store.logs().first(where: { $0.name == state.agreement.holder }) else { return }
            let now = wallClockMillis()
            var decisions = Decisions(policy: policy, holder: log.name, recipient: me, at: now)
            let purged = try view.purge(log: log.name) {
                try store.purge(log, labels: Set(state.agreement.labels)) { header in
                    decisions.admits(label: header.classification, type: header.type, recorded: header.timeMillis).admitted
                }
            }
            guard !purged.isEmpty else { return }
            logger.notice("purged payloads held under an agreement that ended", metadata: [
                "agreement": "\(id)", "reason": "\(reason)", "log": "\(log.name)", "entries": "\(purged.count)"])
            recorder.recordPurge(["log": log.name, "entries": purged, "agreement": id, "reason": reason, "time": iso8601(now)])
            // The old page images (payloads included) must not linger in the WAL.
            do { try store.emptyWAL() } catch {
                logger.error("purged payloads remain in the WAL; retrying in 5 s", metadata: ["agreement": "\(id)", "error": "\(error)"])
                DispatchQueue.global().asyncAfter(deadline: .now() + 5) { [store, logger] in
                    do { try store.emptyWAL() } catch { logger.error("purged payloads still remain in the WAL", metadata: ["error": "\(error)"]) }
                }
            }
        } catch {
            logger.error("cannot purge", metadata: ["agreement": "\(id)", "error": "\(error)"])
        }
    }
}

/// Checks every second (and at start) for agreements that have ended, until shutdown; a
/// check is a walk over a handful of agreements, each purged once. Revocations are also purged
/// as they are folded.
struct PurgeService: Service {
    let purger: Purger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            // After the journal of an earlier run is replayed: a purge recorded now must not be
            // read back from the journal as one of that run's.
            while !purger.recorder.recovered && !Task.isCancelled { try? await Task.sleep(for: .milliseconds(50)) }
            while !Task.isCancelled {
                purger.checkEnded()
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }
}
