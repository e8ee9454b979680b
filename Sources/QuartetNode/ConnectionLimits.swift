import HummingbirdCore
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTPTypes

/// How many connections a port holds at once, and for how long one may sit without finishing a
/// request. Defaults are written beside each field.
public struct ConnectionLimits: Sendable, Equatable {
    /// Connections held at once on the API port; more are closed as they arrive. Default 256.
    public var maxAPIConnections = 256
    /// Connections held at once on the peer port; a federation needs two per member at most.
    /// Default 64.
    public var maxPeerConnections = 64
    /// After TLS, the first request head must arrive within this. Default 10 s.
    public var firstRequestTimeout = TimeAmount.seconds(10)
    /// Between requests on a kept-alive connection. Default 30 s.
    public var idleTimeout = TimeAmount.seconds(30)
    /// From a request's head to its end (bodies are at most 16 MiB). Default 60 s.
    public var requestTimeout = TimeAmount.seconds(60)
    /// Connections from one address at once, per port: one source cannot take a port's whole
    /// cap. Defaults: 128 on the API (half the cap: a gateway or a host of several clients fits,
    /// and each member's witness and checkpoint reads hold two more), 32 on the peer port (a
    /// member needs two at most; members on one host, as in the demo, share an address).
    public var maxAPIConnectionsPerAddress = 128
    public var maxPeerConnectionsPerAddress = 32
    /// An API connection is closed after the response that ends past this age (clients
    /// reconnect; nobody holds a slot for ever). Default 15 min.
    public var maxConnectionAge = TimeAmount.minutes(15)

    public init() {}
}

/// Counts a port's open connections and closes those past the cap at once (before TLS, so a
/// flood costs no handshakes). One instance per listening port: the API port and the peer port
/// have separate caps, so clients cannot take the file descriptors peers need.
final class ConnectionCap: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny

    /// The count shared by every connection of one port.
    final class Counter: Sendable {
        let limit: Int
        let perAddress: Int
        private let open = NIOLockedValueBox((total: 0, byAddress: [String: Int]()))
        init(limit: Int, perAddress: Int) {
            self.limit = limit
            self.perAddress = perAddress
        }
        func enter(_ address: String) -> Bool {
            open.withLockedValue { state in
                guard state.total < limit, state.byAddress[address, default: 0] < perAddress else { return false }
                state.total += 1
                state.byAddress[address, default: 0] += 1
                return true
            }
        }
        func leave(_ address: String) {
            open.withLockedValue { state in
                state.total -= 1
                let left = state.byAddress[address, default: 1] - 1
                state.byAddress[address] = left > 0 ? left : nil
            }
        }
    }

    private let counter: Counter
    private let admitted = NIOLockedValueBox<String?>(nil)

    init(_ counter: Counter) { self.counter = counter }

    func handlerAdded(context: ChannelHandlerContext) {
        let address = context.channel.remoteAddress?.ipAddress ?? "?"
        if counter.enter(address) { admitted.withLockedValue { $0 = address } }
    }

    func channelActive(context: ChannelHandlerContext) {
        guard admitted.withLockedValue({ $0 }) != nil else {
            context.close(promise: nil)
            return
        }
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        let was = admitted.withLockedValue { value -> String? in
            defer { value = nil }
            return value
        }
        if let was { counter.leave(was) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        handlerRemoved(context: context)
        context.fireChannelInactive()
    }
}

/// Closes an API connection that does not finish its requests in time: a first request head
/// within `firstRequestTimeout` of the handshake, each request's end within `requestTimeout` of
/// its head, the next head within `idleTimeout` of a response's end. Slow or silent clients
/// (half-sent headers, idle sockets) cannot hold connections for ever.
final class RequestDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let limits: ConnectionLimits
    /// When the connection is closed unless something moves it on; nil while a request is
    /// with the handler. Moving it costs a clock read: the one timer scheduled is looked at
    /// when it fires and scheduled again for the deadline then in force (no timer per request).
    private var deadline: NIODeadline?
    private var timer: (due: NIODeadline, task: Scheduled<Void>)?
    /// Requests whose response has not ended.
    private var inFlight = 0
    private var reading = false
    private let opened = NIODeadline.now()

    init(limits: ConnectionLimits) { self.limits = limits }

    func handlerAdded(context: ChannelHandlerContext) {
        arm(context, limits.firstRequestTimeout)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.task.cancel()
        timer = nil
        deadline = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            inFlight += 1
            reading = true
            arm(context, limits.requestTimeout)
        case .body:
            break
        case .end:
            reading = false
            // The handler works on it now; its response ends the wait (a slow handler is not
            // the client's fault).
            deadline = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            inFlight = max(0, inFlight - 1)
            if inFlight == 0 && !reading {
                if NIODeadline.now() - opened > limits.maxConnectionAge {
                    // Old enough: this response is the last (the client reconnects).
                    let channel = context.channel
                    let written = context.eventLoop.makePromise(of: Void.self)
                    written.futureResult.whenComplete { _ in channel.close(promise: nil) }
                    promise.map { written.futureResult.cascade(to: $0) }
                    context.write(data, promise: written)
                    return
                }
                arm(context, limits.idleTimeout)
            }
        }
        context.write(data, promise: promise)
    }

    private func arm(_ context: ChannelHandlerContext, _ timeout: TimeAmount) {
        let due = NIODeadline.now() + timeout
        deadline = due
        // A timer already due no later than this deadline checks it when it fires.
        if let timer {
            guard timer.due > due else { return }
            timer.task.cancel()
        }
        schedule(context, at: due)
    }

    private func schedule(_ context: ChannelHandlerContext, at due: NIODeadline) {
        let channel = context.channel
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let task = context.eventLoop.scheduleTask(deadline: due) {
            let (handler, context) = loopBound.value
            handler.timer = nil
            guard let deadline = handler.deadline else { return }
            if deadline <= .now() {
                channel.close(promise: nil)
            } else {
                handler.schedule(context, at: deadline)
            }
        }
        timer = (due, task)
    }
}
