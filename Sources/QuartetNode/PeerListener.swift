import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import QuartetCrypto
import QuartetTLS
import ServiceLifecycle

/// The peer port: mutual TLS 1.3, accepting only federation members' certificates.
///
/// Replication (issue 4) is not built yet: an accepted peer is logged and its bytes are
/// discarded; the connection stays open until either side closes it.
final class PeerListener: Service, Sendable {
    private let address: HostPort
    private let context: TLSContext
    private let members: Set<String>
    private let logger: Logger
    private let group: any EventLoopGroup
    private let connections = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])
    private let bound: @Sendable (SocketAddress) -> Void

    init(address: HostPort, context: TLSContext, members: Set<String>, group: any EventLoopGroup, logger: Logger,
         bound: @escaping @Sendable (SocketAddress) -> Void = { _ in }) {
        self.address = address
        self.context = context
        self.members = members
        self.group = group
        self.logger = logger
        self.bound = bound
    }

    func run() async throws {
        let context = self.context, members = self.members, logger = self.logger, connections = self.connections
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    var connectionLogger = logger
                    connectionLogger[metadataKey: "peer.address"] = "\(channel.remoteAddress.map { "\($0)" } ?? "?")"
                    try channel.pipeline.syncOperations.addHandlers([
                        try TLSHandler(context: context, policy: .nodes(members), logger: connectionLogger),
                        PeerConnectionHandler(logger: connectionLogger),
                    ])
                    let id = ObjectIdentifier(channel)
                    connections.withLockedValue { $0[id] = channel }
                    channel.closeFuture.whenComplete { _ in _ = connections.withLockedValue { $0.removeValue(forKey: id) } }
                }
            }
            .bind(host: address.host, port: address.port).get()
        if let local = server.localAddress { bound(local) }
        logger.info("peer port listening", metadata: ["peer.listen": "\(address)"])
        try await withGracefulShutdownHandler {
            try await server.closeFuture.get()
        } onGracefulShutdown: {
            server.close(promise: nil)
        }
        // Close accepted connections with close_notify.
        let open = connections.withLockedValue { Array($0.values) }
        for channel in open { try? await channel.close().get() }
        logger.info("peer port closed")
    }
}

/// What happens on a peer connection once TLS has verified the peer.
final class PeerConnectionHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    private let logger: Logger

    init(logger: Logger) { self.logger = logger }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted(let peer, let version)? = event as? TLSEvent {
            logger.info("peer connected", metadata: ["peer": "\(peer?.uri ?? "-")", "tls.version": "\(version)"])
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // The replication protocol is not built yet (issue 4): discard.
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
