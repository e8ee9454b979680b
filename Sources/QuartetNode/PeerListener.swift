import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import QuartetCrypto
import QuartetTLS
import ServiceLifecycle

/// The peer port: mutual TLS 1.3, accepting only federation members' certificates; above TLS,
/// each connection runs the replication protocol through the engine.
final class PeerListener: Service, Sendable {
    private let address: HostPort
    /// The TLS context and the members accepted, read for each new connection (a reload
    /// changes them).
    private let context: @Sendable () -> TLSContext
    private let members: @Sendable () -> Set<String>
    private let logger: Logger
    private let group: any EventLoopGroup
    private let connections = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])
    private let bound: @Sendable (SocketAddress) -> Void
    private let engine: ReplicationEngine

    init(address: HostPort, context: @escaping @Sendable () -> TLSContext, members: @escaping @Sendable () -> Set<String>, group: any EventLoopGroup, engine: ReplicationEngine, logger: Logger,
         bound: @escaping @Sendable (SocketAddress) -> Void = { _ in }) {
        self.engine = engine
        self.address = address
        self.context = context
        self.members = members
        self.group = group
        self.logger = logger
        self.bound = bound
    }

    func run() async throws {
        let context = self.context, members = self.members, logger = self.logger, connections = self.connections, engine = self.engine
        let limits = ConnectionLimits()
        let cap = ConnectionCap.Counter(limit: limits.maxPeerConnections, perAddress: limits.maxPeerConnectionsPerAddress,
                                        reserve: limits.reservedPeerConnections, reservePerAddress: limits.reservedConnectionsPerAddress,
                                        reservePerIdentity: limits.reservedConnectionsPerIdentity,
                                        // The TLS handler admits members only.
                                        keepsReserve: { _ in true })
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: ReplicationEngine.peerWaterMark)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    ReplicationEngine.limitUnsent(channel)
                    var connectionLogger = logger
                    connectionLogger[metadataKey: "peer.address"] = "\(channel.remoteAddress.map { "\($0)" } ?? "?")"
                    try channel.pipeline.syncOperations.addHandlers([
                        ConnectionCap(cap),
                        IdleStateHandler(readTimeout: ReplicationEngine.idleTimeout),
                        try TLSHandler(context: context(), policy: .nodes(members()), logger: connectionLogger),
                        ConnectionCap.AfterHandshake(cap),
                        PeerChannelHandler(engine: engine, logger: connectionLogger),
                    ])
                    let id = ObjectIdentifier(channel)
                    connections.withLockedValue { $0[id] = channel }
                    channel.closeFuture.whenComplete { _ in _ = connections.withLockedValue { $0.removeValue(forKey: id) } }
                }
            }
        let server: any Channel
        do { server = try await bootstrap.bind(host: address.host, port: address.port).get() } catch {
            throw ListenError(what: "peer.listen", address: address, cause: error)
        }
        if let local = server.localAddress { bound(local) }
        logger.info("peer port listening", metadata: ["peer.listen": "\(address)"])
        // Ends on graceful shutdown, and on cancellation too: the service group cancels every
        // service when one fails (the API port cannot be bound, say), and a node waiting here
        // for ever would ignore SIGTERM.
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await server.closeFuture.get()
            } onGracefulShutdown: {
                server.close(promise: nil)
            }
        } onCancel: {
            server.close(promise: nil)
        }
        // Close accepted connections with close_notify.
        let open = connections.withLockedValue { Array($0.values) }
        for channel in open { try? await channel.close().get() }
        logger.info("peer port closed")
    }
}

/// A listening address that could not be bound: which setting, which address, and why.
struct ListenError: Error, CustomStringConvertible {
    let what: String
    let address: HostPort
    let cause: any Error
    var description: String { "cannot listen on \(what) \(address): \(cause)" }
}
