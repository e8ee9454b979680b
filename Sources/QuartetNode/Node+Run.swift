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

/// Running the node: the API over its parts, the listeners and services until it stops.
extension Node {
    /// The HTTPS API over this node's parts.
    func api() -> API {
        API(node: configuration.node, ownLog: configuration.log, store: store, writer: writer, engine: engine,
            live: live, view: view, sessions: sessions, logger: logger, metrics: metrics, admission: admission,
            witness: witness, collector: collector, reads: reads, submissions: submissions, appendKeys: appendKeys)
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
        closeUntrustedAPIConnections.set { _ in
            // A token's slots are counted by its digest (`Caller.slotCredential`); a certificate's
            // stay until a revocation list or CA change closes its connection.
            let tokens = Set(live.tokens.map { Caller.tokenCredential($0.sha256) })
            return slots.closeUntrusted(certifiedKeeps: { uri in FederationIdentity(uri: uri).map { live.federation.keepsConnectionReserve($0) } ?? false },
                                        credentialValid: { !$0.hasPrefix("token ") || tokens.contains($0) })
        }
        var routes = api()
        routes.slots = slots
        let api = Application(
            router: routes.router().router,
            server: .quartetTLS(context: { live.contexts.api }, cap: slots, metrics: metrics, logger: logger),
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
        } catch let error as IOError where [EADDRINUSE, EADDRNOTAVAIL, EACCES].contains(error.errnoCode) {
            // Hummingbird's bind error names no address (matched by its errno, not its text).
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
