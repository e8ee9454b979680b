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

    /// Runs until SIGTERM or SIGINT (or `shutdown` from a caller's ServiceGroup), then closes the
    /// listeners, lets in-flight requests finish, and closes the data directory.
    /// - Parameter handleSignals: stop on SIGTERM/SIGINT (false when several nodes share a
    ///   process, as in benchmarks; cancel the task instead).
    /// - Parameter listening: called with the peer and API addresses once both are bound.
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
