import Logging
import NIOConcurrencyHelpers
import NIOCore
import QuartetReplication
import QuartetTLS

/// The handler at the top of every peer connection, both directions: frames in, messages to
/// the engine. It stops reading while the engine has not yet handled
/// `InboundBacklog.maxMessages` messages or `maxBytes` bytes of it (frames that cost the engine
/// more than they cost the peer queued without bound before). It does not stop reading when the
/// connection is not writable (it did until 2026-12-05): two nodes catching up from each other
/// each stopped reading the other once its own writes backed up, neither drained, and the link
/// stalled until the 30 s write-stall close, over and over. A peer that asks and never reads is
/// held by `OutboundFlow` instead — answers wait past its soft limit, one request per log, and
/// the connection is closed past its hard limit or after 30 s with nothing taken.
final class PeerChannelHandler: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    private let backlog = InboundBacklog()
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
            // While this node holds reads the silence is its own doing.
            if backlog.held { return }
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
                let message = try Message(body: body)
                backlog.add(body.count)
                engine.received(message, from: peer, channel: context.channel, backlog: backlog, bytes: body.count)
            }
        } catch {
            failed = true
            engine.protocolError(error, from: peer, channel: context.channel)
        }
    }

    func read(context: ChannelHandlerContext) {
        // Before the handshake TLS must read to make progress; afterwards reads wait for the
        // engine to take what came.
        if peer != nil && backlog.hold() { return }
        context.read()
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

/// The messages of one peer connection handed to the engine and not yet handled: its handler
/// stops reading while they are many (`hold`), and the engine asks for a read again once they
/// are few (`done`).
final class InboundBacklog: Sendable {
    /// Reads stop at this many messages waiting, or this many bytes (a frame may be 64 MiB:
    /// one such is let in, not two).
    static let maxMessages = 256
    static let maxBytes = 16 << 20

    private struct State {
        var messages = 0
        var bytes = 0
        var held = false
    }
    private let state = NIOLockedValueBox(State())

    func add(_ bytes: Int) {
        state.withLockedValue { $0.messages += 1; $0.bytes += bytes }
    }

    /// Whether reads must wait now (and, if so, marks them held until `done` frees them).
    func hold() -> Bool {
        state.withLockedValue { state in
            state.held = state.messages >= Self.maxMessages || state.bytes >= Self.maxBytes
            return state.held
        }
    }

    var held: Bool { state.withLockedValue { $0.held } }

    /// The engine handled a message of `bytes`: true if reads were held and may go on now
    /// (the caller asks the channel for a read; the handler checks again).
    func done(_ bytes: Int) -> Bool {
        state.withLockedValue { state in
            state.messages -= 1
            state.bytes -= bytes
            guard state.held, state.messages < Self.maxMessages / 2, state.bytes < Self.maxBytes / 2 else { return false }
            state.held = false
            return true
        }
    }
}
