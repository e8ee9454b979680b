import Foundation
import Logging
import NIOCore
import QuartetCrypto

// (Over ~350 lines: TLS over memory BIOs (handshake, reads, writes held and joined, close_notify,
// the expiry and handshake timers) is one handler whose states are read together.)

/// Which peer identities a connection accepts once the certificate chain has verified.
public enum TLSPeerPolicy: Sendable, Equatable {
    /// Any certificate from the trust roots (or none, where client certificates are optional).
    case anyCertificate
    /// Exactly this node: a client reaching a peer uses this to check it reached the right one.
    case node(String)
    /// One of these nodes (a peer-port server accepts the federation's members).
    case nodes(Set<String>)
}

/// Events the handler sends up the pipeline.
public enum TLSEvent: Sendable, Equatable {
    /// The handshake finished and the peer was accepted. `peer` is the identity its certificate
    /// carries (nil when it presented none, where that is allowed).
    case handshakeCompleted(peer: FederationIdentity?, protocolVersion: String)
}

/// A SwiftNIO handler that runs TLS 1.3 through OpenSSL with memory BIOs, for a server or a
/// client. Below it flows ciphertext, above it plaintext. It knows nothing of ledgers.
///
/// Writes made before the handshake completes are held and sent after it; later writes are
/// encrypted at the flush (small ones joined into one record); a handshake that does not
/// finish within `handshakeTimeout` is abandoned; `close` sends close_notify first.
public final class TLSHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private enum State {
        case idle
        case handshaking
        case active
        case closing
        case closed
    }

    private var state = State.idle
    private let connection: TLSConnection
    private let policy: TLSPeerPolicy
    private let handshakeTimeout: TimeAmount
    private var timeout: Scheduled<Void>?
    /// The context that verified the peer's certificate, and this connection's registration
    /// there (closed if the context is retired: `TLSContext.retire`).
    private let context: TLSContext
    private var registration: UInt64?
    private var pendingWrites: [(ByteBuffer, EventLoopPromise<Void>?)] = []
    /// Plaintext written since the last flush, encrypted together when the flush comes: one
    /// `SSL_write` and one TLS record for a response's head and body instead of one each
    /// (as NIOSSLHandler does). Written to the socket in the order written.
    private var unflushed: [(ByteBuffer, EventLoopPromise<Void>?)] = []
    /// Writes up to this many bytes in all are joined into one record at a flush; larger ones
    /// are encrypted as they are (joining would only copy them).
    static let joinedWriteLimit = 16 * 1024
    private var logger: Logger

    /// The verified peer identity, once the handshake has completed.
    public private(set) var peerIdentity: FederationIdentity?
    /// The serial number of the peer's certificate (hex), once the handshake has accepted it.
    public private(set) var peerCertificateSerial: String?

    /// - Parameters:
    ///   - serverName: for a client, the SNI name to send (usually the node id).
    ///   - policy: which verified identities to accept; a client given a `serverName` and no policy
    ///     accepts only the node of that name.
    public init(context: TLSContext, policy: TLSPeerPolicy? = nil, serverName: String? = nil,
                handshakeTimeout: TimeAmount = .seconds(10), logger: Logger, refusalLines: LogBudget = TLSHandler.refusals,
                maxAnswersPending: Int = TLSHandler.defaultMaxAnswersPending) throws(TLSError) {
        self.refusalLines = refusalLines
        self.maxAnswersPending = maxAnswersPending
        self.context = context
        self.connection = try TLSConnection(context: context, serverName: serverName)
        if let policy {
            self.policy = policy
        } else if context.role == .client, let serverName {
            self.policy = .node(serverName)
        } else {
            self.policy = .anyCertificate
        }
        self.handshakeTimeout = handshakeTimeout
        self.logger = logger
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        if let remote = context.channel.remoteAddress { logger[metadataKey: "tls.peer_address"] = "\(remote)" }
        if context.channel.isActive { start(context) }
    }

    public func channelActive(context: ChannelHandlerContext) {
        if let remote = context.channel.remoteAddress { logger[metadataKey: "tls.peer_address"] = "\(remote)" }
        start(context)
        context.fireChannelActive()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard case .idle = state else { return }
        state = .handshaking
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timeout = context.eventLoop.scheduleTask(in: handshakeTimeout) {
            let (handler, context) = loopBound.value
            guard case .handshaking = handler.state else { return }
            handler.fail(context, TLSError(.handshakeTimeout, "TLS handshake did not complete within \(handler.handshakeTimeout)"))
        }
        handshake(context)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !inputClosed else { return }
        var buffer = unwrapInboundIn(data)
        connection.receive(&buffer)
        switch state {
        case .handshaking:
            handshake(context)
            if case .active = state { readPlaintext(context) }
        case .active, .closing:
            readPlaintext(context)
        case .idle, .closed:
            break
        }
        sendAnswers(context)
    }

    /// Ciphertext the peer's own records made this side write (its handshake flight, KeyUpdate
    /// answers, alerts) that the channel has not written yet. A peer sending KeyUpdates and
    /// reading nothing grew it without bound (OpenSSL 3 sets no limit on them, and the layers
    /// above see no message to hold reads by); KeyUpdates are now bounded
    /// (`TLSConnection.keyUpdatesAllowed`), and past `maxAnswersPending` (default 64 KiB, which
    /// an honest peer never comes near) reads still wait for it to drain.
    private var answersPending = 0
    private var readWaiting = false
    private let maxAnswersPending: Int
    public static let defaultMaxAnswersPending = 64 << 10

    public func read(context: ChannelHandlerContext) {
        if answersPending > maxAnswersPending {
            readWaiting = true
            return
        }
        context.read()
    }

    /// Sends what reading the peer's records made, counted in `answersPending` until written.
    private func sendAnswers(_ context: ChannelHandlerContext) {
        guard let ciphertext = connection.takeCiphertext(allocator: context.channel.allocator) else { return }
        let bytes = ciphertext.readableBytes
        answersPending += bytes
        let written = context.eventLoop.makePromise(of: Void.self)
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        written.futureResult.whenComplete { _ in
            let (handler, context) = loopBound.value
            handler.answersPending -= bytes
            if handler.readWaiting && handler.answersPending <= handler.maxAnswersPending {
                handler.readWaiting = false
                context.read()
            }
        }
        context.writeAndFlush(wrapOutboundOut(ciphertext), promise: written)
    }

    private func handshake(_ context: ChannelHandlerContext) {
        switch connection.handshake() {
        case .incomplete:
            sendCiphertext(context, flush: true)
        case .failed(let error):
            fail(context, error)
        case .complete:
            let certificate = connection.peerCertificate
            let identity = certificate.flatMap(FederationIdentity.init(certificate:))
            if let refusal = check(identity) {
                fail(context, refusal)
                return
            }
            state = .active
            timeout?.cancel()
            timeout = nil
            // OpenSSL checks the dates at the handshake only: a connection kept open (a member's,
            // with a message every few seconds) would carry the identity past its certificate's
            // end, or past the end of a CA or intermediate that vouched for it. It is closed at
            // the first of those, and the peer must connect again with a chain in force.
            if let certificate {
                let end = min(certificate.notAfter, connection.verifiedChainNotAfter ?? certificate.notAfter)
                armExpiry(context, notAfter: end, identity: identity)
            }
            // (Ended already: a certificate past its end by the time the handshake finished.)
            guard case .active = state else { return }
            if certificate != nil {
                // Vouched for by this context's trust roots: closed if they are replaced.
                let loop = context.eventLoop
                let bound = NIOLoopBound((self, context), eventLoop: loop)
                switch self.context.register({ reason in
                    loop.execute {
                        let (handler, context) = bound.value
                        guard case .active = handler.state else { return }
                        handler.fail(context, TLSError(.peerIdentity, reason))
                    }
                }) {
                case .success(let id): registration = id
                case .failure(let retired):
                    fail(context, TLSError(.peerIdentity, retired.reason))
                    return
                }
            }
            peerIdentity = identity
            peerCertificateSerial = certificate?.serialHex
            logger.debug("TLS handshake completed", metadata: ["tls.peer": "\(identity?.uri ?? "-")", "tls.version": "\(connection.protocolVersion)"])
            // Writes held during the handshake go first, so anything written in response to the
            // event below follows them.
            let writes = pendingWrites
            pendingWrites = []
            for (buffer, promise) in writes {
                guard case .active = state else { promise?.fail(ChannelError.ioOnClosedChannel); continue }
                encrypt(context, buffer, promise)
            }
            // The Finished message may have left with the first held write; flush either way.
            sendCiphertext(context, flush: false)
            context.flush()
            context.fireUserInboundEventTriggered(TLSEvent.handshakeCompleted(peer: identity, protocolVersion: connection.protocolVersion))
        }
    }

    /// Closes the connection when the peer's certificate ends, by the wall clock: the timer
    /// (monotonic, which stops while the host sleeps and ignores a clock set forward) waits at
    /// most an hour at a time and looks at the wall clock again each time it fires.
    private func armExpiry(_ context: ChannelHandlerContext, notAfter: Date, identity: FederationIdentity?) {
        let left = notAfter.timeIntervalSinceNow
        guard left > 0 else {
            fail(context, TLSError(.peerIdentity, "the peer's certificate (\(identity?.uri ?? "no Quartet identity")) or a certificate of its verified chain expired at \(notAfter); the connection ends with it"))
            return
        }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timeout = context.eventLoop.scheduleTask(in: .milliseconds(Int64(min(left, Self.expiryCheckSeconds) * 1000) + 1)) {
            let (handler, context) = loopBound.value
            guard case .active = handler.state else { return }
            handler.armExpiry(context, notAfter: notAfter, identity: identity)
        }
    }

    /// The longest the expiry timer waits before it looks at the wall clock again.
    static let expiryCheckSeconds: TimeInterval = 3600

    private func check(_ identity: FederationIdentity?) -> TLSError? {
        switch policy {
        case .anyCertificate:
            return nil
        case .node(let expected):
            guard identity == .node(expected) else {
                return TLSError(.peerIdentity, "peer certificate names \(identity?.uri ?? "no Quartet identity"), expected \(FederationIdentity.node(expected).uri)")
            }
            return nil
        case .nodes(let allowed):
            guard case .node(let id)? = identity, allowed.contains(id) else {
                return TLSError(.peerIdentity, "peer certificate names \(identity?.uri ?? "no Quartet identity"), which is not a federation member")
            }
            return nil
        }
    }

    /// Decrypts what has arrived into as few buffers as it fills: records are read into one
    /// buffer (grown as needed) until it holds `Self.passOnBytes` or OpenSSL wants more, then it
    /// is passed up. One buffer per record, as this did, let a stranger sending 1-byte records
    /// (~23 bytes each on the wire) make the node allocate 16 KiB per byte, which the HTTP
    /// decoder's slices then kept alive.
    private func readPlaintext(_ context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: 16384)
        func passOn() {
            guard buffer.readableBytes > 0 else { return }
            context.fireChannelRead(wrapInboundOut(buffer))
            buffer = context.channel.allocator.buffer(capacity: 16384)
        }
        while true {
            let result = connection.read(into: &buffer)
            // A stream of KeyUpdates ends the connection after a few (each is handled on its
            // own: all of those in a read were, holding the event loop for seconds).
            if let refusal = connection.keyUpdateRefusal {
                fail(context, refusal)
                return
            }
            switch result {
            case .handled:
                continue
            case .data:
                if buffer.readableBytes >= Self.passOnBytes {
                    passOn()
                    // A handler above may have closed the connection on what it was given.
                    if case .closed = state { return }
                }
            case .wantMore:
                passOn()
                return
            case .closed:
                passOn()
                guard case .active = state, !inputClosed else { return }
                // The peer sent close_notify, which ends only its own side (RFC 8446 §6.1): on a
                // channel that takes half-closure (the API port, as it takes a FIN) its input is
                // over and the answers it waits for still go out, then ours when the channel
                // closes; elsewhere ours now, and the connection closes.
                if Self.allowsHalfClosure(context.channel) {
                    inputClosed = true
                    context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
                } else {
                    state = .closing
                    connection.shutdown()
                    sendCiphertext(context, flush: true)
                    context.close(promise: nil)
                }
                return
            case .failed(let error):
                fail(context, error)
                return
            }
        }
    }

    /// The peer's close_notify came on a channel that takes half-closure: nothing more it sends
    /// is read (TLS allows nothing after it), and the FIN that may follow is not a second end.
    private var inputClosed = false

    static func allowsHalfClosure(_ channel: any Channel) -> Bool {
        (try? channel.syncOptions?.getOption(ChannelOptions.allowRemoteHalfClosure)) == true
    }

    /// The socket's input ended (a FIN, after a close_notify or not): NIO makes an output close a
    /// whole one, dropping the writes still queued.
    private var socketInputEnded = false

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            socketInputEnded = true
            if inputClosed { return }
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Plaintext gathered before it is passed up (a record holds at most 16 KiB).
    static let passOnBytes = 48 << 10

    public func channelReadComplete(context: ChannelHandlerContext) {
        context.fireChannelReadComplete()
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let buffer = unwrapOutboundIn(data)
        switch state {
        case .active:
            unflushed.append((buffer, promise))
        case .idle, .handshaking:
            pendingWrites.append((buffer, promise))
        case .closing, .closed:
            promise?.fail(ChannelError.ioOnClosedChannel)
        }
    }

    /// Encrypts `buffer` a chunk at a time, each chunk's ciphertext taken out of OpenSSL's
    /// memory buffer before the next: that buffer keeps its largest size for the connection's
    /// life, so a 64 MiB frame (or a reader's 7 MB page) encrypted at once left the connection
    /// holding as much again until it closed.
    private func encrypt(_ context: ChannelHandlerContext, _ buffer: ByteBuffer, _ promise: EventLoopPromise<Void>?) {
        var rest = buffer
        repeat {
            let chunk = rest.readSlice(length: min(rest.readableBytes, Self.encryptChunk))!
            if let error = connection.write(chunk) {
                promise?.fail(error)
                fail(context, error)
                return
            }
            let last = rest.readableBytes == 0
            if let ciphertext = connection.takeCiphertext(allocator: context.channel.allocator) {
                context.write(wrapOutboundOut(ciphertext), promise: last ? promise : nil)
            } else if last, let promise {
                // Nothing to send (an answer's empty end, which NIO's encoder writes with the
                // answer's promise): done once what was written before it is, not now — a
                // close "once the answer is written" cut the body still queued (finding 335).
                context.write(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)), promise: promise)
            }
        } while rest.readableBytes > 0
    }

    /// Plaintext encrypted at a time (four full records).
    static let encryptChunk = 64 << 10

    public func flush(context: ChannelHandlerContext) {
        guard case .active = state else { return }
        encryptUnflushed(context)
        context.flush()
    }

    /// Encrypts what was written since the last flush: small writes joined into one buffer,
    /// one promise completing theirs once the ciphertext is written.
    private func encryptUnflushed(_ context: ChannelHandlerContext) {
        guard !unflushed.isEmpty else { return }
        let writes = unflushed
        unflushed = []
        let total = writes.reduce(0) { $0 + $1.0.readableBytes }
        guard writes.count > 1, total <= Self.joinedWriteLimit else {
            for (buffer, promise) in writes {
                guard case .active = state else { promise?.fail(ChannelError.ioOnClosedChannel); continue }
                encrypt(context, buffer, promise)
            }
            return
        }
        var joined = context.channel.allocator.buffer(capacity: total)
        var promise: EventLoopPromise<Void>?
        for (buffer, each) in writes {
            var buffer = buffer
            joined.writeBuffer(&buffer)
            guard let each else { continue }
            if promise == nil { promise = context.eventLoop.makePromise() }
            promise!.futureResult.cascade(to: each)
        }
        encrypt(context, joined, promise)
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        // The peer's input over (its close_notify, a FIN): once ours is sent nothing more can
        // come either way, so the connection closes whole — once what was written before it
        // is on the socket: a whole close at once (NIO makes an output close one on a socket
        // whose input ended) drops the answer still queued (findings 335, 336).
        guard case .active = state, mode != .input else { return context.close(mode: mode, promise: promise) }
        if (inputClosed || socketInputEnded) && mode == .output {
            let written = context.eventLoop.makePromise(of: Void.self)
            sendCloseNotify(context, written: written)
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            written.futureResult.whenComplete { _ in bound.value.close(mode: .all, promise: promise) }
            return
        }
        sendCloseNotify(context)
        context.close(mode: mode, promise: promise)
    }

    /// Sends close_notify, what was written before it first, flushed; `written` completes once
    /// it — and so everything before it — is on the socket.
    private func sendCloseNotify(_ context: ChannelHandlerContext, written: EventLoopPromise<Void>? = nil) {
        encryptUnflushed(context)
        state = .closing
        connection.shutdown()
        if let notify = connection.takeCiphertext(allocator: context.channel.allocator) {
            context.writeAndFlush(wrapOutboundOut(notify), promise: written)
        } else if let written {
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)), promise: written)
        }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        // Held writes would otherwise never complete, and the timer would keep the context.
        if case .closed = state { return }
        finish(ChannelError.ioOnClosedChannel)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        if case .handshaking = state, case let (write, dropped) = refusalLines.take(), write {
            logger.warning("TLS connection closed during the handshake", metadata: dropped > 0 ? ["tls.lines_dropped": "\(dropped)"] : [:])
        }
        finish(ChannelError.eof)
        context.fireChannelInactive()
    }

    /// The lines of failed and abandoned handshakes, per process (by default).
    public static let refusals = LogBudget(lines: 60, per: .seconds(60))
    /// The API port's own budget (anyone may connect there): refusals on it cannot use up the
    /// lines that say why a member's peer connection was refused.
    public static let apiRefusals = LogBudget(lines: 60, per: .seconds(60))
    private let refusalLines: LogBudget

    private func sendCiphertext(_ context: ChannelHandlerContext, flush: Bool) {
        guard let ciphertext = connection.takeCiphertext(allocator: context.channel.allocator) else { return }
        if flush {
            context.writeAndFlush(wrapOutboundOut(ciphertext), promise: nil)
        } else {
            context.write(wrapOutboundOut(ciphertext), promise: nil)
        }
    }

    /// Refuses or abandons the connection: logs why, sends any alert, and closes.
    private func fail(_ context: ChannelHandlerContext, _ error: TLSError) {
        if case .closed = state { return }
        let wasActive: Bool
        if case .active = state { wasActive = true } else { wasActive = false }
        // Anyone can make handshakes fail: at most 60 lines a minute of these, per process.
        if case let (write, dropped) = refusalLines.take(), write {
            var metadata: Logger.Metadata = ["tls.error": "\(error.code.rawValue)", "tls.reason": "\(error)"]
            if dropped > 0 { metadata["tls.lines_dropped"] = "\(dropped)" }
            logger.warning(wasActive ? "TLS connection failed" : "TLS connection refused", metadata: metadata)
        }
        sendCiphertext(context, flush: true)
        finish(error)
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }

    private func finish(_ error: any Error) {
        state = .closed
        timeout?.cancel()
        timeout = nil
        if let registration {
            context.unregister(registration)
            self.registration = nil
        }
        let writes = pendingWrites + unflushed
        pendingWrites = []
        unflushed = []
        for (_, promise) in writes { promise?.fail(error) }
    }
}

@available(*, unavailable)
extension TLSHandler: Sendable {}
