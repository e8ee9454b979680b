import Logging
import NIOCore
import QuartetReplication
import QuartetTLS

/// The handler at the top of every peer connection, both directions: frames in, messages to
/// the engine. It stops reading while the connection is not writable (the peer is not taking
/// what it is sent), so a peer that does not read cannot keep asking.
final class PeerChannelHandler: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    private var readHeld = false
    private let engine: ReplicationEngine
    private let logger: Logger
    private var decoder = FrameDecoder()
    private var peer: String?
    private var failed = false
    /// For a connection this node dialled: the member it meant to reach.
    private let dialled: String?

    init(engine: ReplicationEngine, logger: Logger, dialled: String? = nil) {
        self.engine = engine
        self.logger = logger
        self.dialled = dialled
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            // While this node holds reads the silence is its own doing (the engine closes a
            // peer that takes nothing it is sent for 30 s).
            if readHeld { return }
            // Peers send heads every anti-entropy period; silence this long means a dead link.
            logger.warning("peer connection silent; closing it", metadata: ["peer": "\(peer ?? "-")"])
            context.close(promise: nil)
            return
        }
        if case .handshakeCompleted(let identity, _)? = event as? TLSEvent, case .node(let id)? = identity {
            peer = id
            engine.connected(id, channel: context.channel, dialledHere: dialled != nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let peer, !failed else { return }
        let buffer = unwrapInboundIn(data)
        decoder.feed(buffer.readableBytesView)
        do {
            while let body = try decoder.next() {
                engine.received(try Message(body: body), from: peer, channel: context.channel)
            }
        } catch {
            failed = true
            engine.protocolError(error, from: peer, channel: context.channel)
        }
    }

    func read(context: ChannelHandlerContext) {
        // Before the handshake TLS must read to make progress; afterwards reads wait for the
        // peer to take what it was sent.
        if peer != nil && !context.channel.isWritable {
            readHeld = true
            return
        }
        context.read()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable && readHeld {
            readHeld = false
            context.read()
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let peer {
            engine.disconnected(peer, channel: context.channel)
        } else if let dialled {
            engine.dialFailed(dialled)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
