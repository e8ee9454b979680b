import HummingbirdCore
import NIOConcurrencyHelpers
import Synchronization
import NIOCore
import NIOHTTPTypes
import QuartetCrypto
import QuartetTLS

// (Over ~350 lines: a port's caps, deadlines and drain rate are handlers sharing one configuration
// and one set of counters.)

/// How many connections a port holds at once, and for how long one may sit without finishing a
/// request. Defaults are written beside each field.
public struct ConnectionLimits: Sendable, Equatable {
    /// Connections held at once on the API port; more are closed as they arrive. Default 256.
    public var maxAPIConnections = 256
    /// Connections held at once on the peer port; a federation needs two per member at most.
    /// Default 64.
    public var maxPeerConnections = 64
    /// From the connection's start (TLS included), the first request head must arrive within
    /// this. Default 10 s.
    public var firstRequestTimeout = TimeAmount.seconds(10)
    /// Between requests on a kept-alive connection. Default 30 s.
    public var idleTimeout = TimeAmount.seconds(30)
    /// From a request's head to its end (bodies are at most 16 MiB). Default 60 s.
    public var requestTimeout = TimeAmount.seconds(60)
    /// How long a response may wait on a client that takes none of it (the connection stays
    /// unwritable and no 64 KiB part of the response reaches the socket): then the connection
    /// is closed. Default 30 s, as the peer port's write-progress limit. What a client takes
    /// earns it time at `minDrainBytesPerSecond`, up to this much.
    public var writeStallTimeout = TimeAmount.seconds(30)
    /// While a response waits on the client (the connection unwritable), each part of it the
    /// client takes moves that deadline on by the time the part takes at this rate, never
    /// further than `writeStallTimeout` ahead: a reader taking a large answer at least this
    /// fast is kept, one trickling it slower (holding the answer's memory and a slot for
    /// hours by taking 64 KiB every 29 s) runs out of time. Default 16 KiB/s (a 4 MiB page
    /// in about four minutes at worst).
    public var minDrainBytesPerSecond = 16 << 10
    /// Connections from one address at once, per port: one source cannot take a port's whole
    /// cap. Defaults: 128 on the API (half the cap: a gateway or a host of several clients fits,
    /// and each member's witness and checkpoint reads hold two more), 32 on the peer port (a
    /// member needs two at most; members on one host, as in the demo, share an address).
    public var maxAPIConnectionsPerAddress = 128
    public var maxPeerConnectionsPerAddress = 32
    /// Slots beyond the shared ones, per port, that only connections presenting a federation
    /// certificate keep (members, operators): a connection the shared slots refuse is let in
    /// provisionally and closed after its handshake if it shows none (`ConnectionSlots`).
    /// Defaults: 32 on each port; 16 from one address in their handshake at once (certified
    /// ones do not count: the demo's members share one); 8 per certificate identity.
    public var reservedAPIConnections = 32
    public var reservedPeerConnections = 32
    public var reservedConnectionsPerAddress = 16
    public var reservedConnectionsPerIdentity = 8
    /// On the API port, slots for connections let in provisionally that showed no member's
    /// certificate but whose first request carried credentials the node accepts (a reader's
    /// or auditor's token or sign-in): 32, at most 4 per credential (`ConnectionSlots`).
    public var credentialAPIConnections = 32
    public var credentialConnectionsPerIdentity = 4
    /// An API connection is closed after the response that ends past this age (clients
    /// reconnect; nobody holds a slot for ever). Default 15 min.
    public var maxConnectionAge = TimeAmount.minutes(15)

    public init() {}

    /// The write-stall deadline after the client took `bytes` of a response at `now`, from
    /// `deadline`: moved on by the time the bytes take at `minDrainBytesPerSecond`, at most
    /// `writeStallTimeout` from now.
    func stallDeadline(_ deadline: NIODeadline, took bytes: Int, now: NIODeadline) -> NIODeadline {
        let credit = TimeAmount.nanoseconds(Int64(bytes) * 1_000_000_000 / Int64(max(1, minDrainBytesPerSecond)))
        return min(now + writeStallTimeout, deadline + credit)
    }
}

/// Counts a port's open connections and closes those past the cap at once (before TLS, so a
/// flood costs no handshakes), keeping a reserve that only certificate holders keep
/// (`ConnectionSlots`). One instance per listening port: the API port and the peer port
/// have separate caps, so clients cannot take the file descriptors peers need. Sits first in
/// the pipeline; `ConnectionCap.AfterHandshake` sits after the TLS handler.
final class ConnectionCap: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny

    /// The slots shared by every connection of one port, and the channels holding them (to
    /// close one whose reserve slot a newcomer took).
    final class Counter: Sendable {
        private struct State {
            var slots: ConnectionSlots<ObjectIdentifier>
            var channels: [ObjectIdentifier: any Channel] = [:]
            /// Provisional connections waiting for their first request's credentials, and
            /// those to close once their response is written.
            var awaiting: Set<ObjectIdentifier> = []
            var closing: Set<ObjectIdentifier> = []
        }
        private let state: NIOLockedValueBox<State>
        /// `awaiting.count + closing.count`, read without the lock on every request and
        /// response (nearly always 0).
        private let watched = Atomic<Int>(0)
        /// Which certificate identities keep a reserve slot (the federation in force is read per
        /// connection).
        let keepsReserve: @Sendable (FederationIdentity) -> Bool
        /// Whether a provisional connection without such a certificate waits for its first
        /// request's credentials (the API port) rather than being closed after its handshake.
        let awaitsCredentials: Bool
        init(limit: Int, perAddress: Int, reserve: Int, reservePerAddress: Int, reservePerIdentity: Int,
             credentialPool: Int = 0, credentialPerIdentity: Int = 0,
             keepsReserve: @escaping @Sendable (FederationIdentity) -> Bool) {
            state = NIOLockedValueBox(State(slots: ConnectionSlots(limit: limit, perAddress: perAddress, reserve: reserve, reservePerAddress: reservePerAddress,
                                                                   reservePerIdentity: reservePerIdentity, credentialPool: credentialPool,
                                                                   credentialPerIdentity: credentialPerIdentity)))
            self.keepsReserve = keepsReserve
            awaitsCredentials = credentialPool > 0
        }

        /// The API port's slots under `limits`.
        convenience init(limits: ConnectionLimits, keepsReserve: @escaping @Sendable (FederationIdentity) -> Bool) {
            self.init(limit: limits.maxAPIConnections, perAddress: limits.maxAPIConnectionsPerAddress,
                      reserve: limits.reservedAPIConnections, reservePerAddress: limits.reservedConnectionsPerAddress,
                      reservePerIdentity: limits.reservedConnectionsPerIdentity, credentialPool: limits.credentialAPIConnections,
                      credentialPerIdentity: limits.credentialConnectionsPerIdentity, keepsReserve: keepsReserve)
        }

        private func recount(_ state: State) { watched.store(state.awaiting.count + state.closing.count, ordering: .relaxed) }

        /// Whether `channel` may stay; a displaced provisional connection is closed.
        func enter(_ channel: any Channel) -> Bool {
            let id = ObjectIdentifier(channel)
            let address = channel.remoteAddress.map(Self.key) ?? "?"
            let (admission, displaced) = state.withLockedValue { state -> (ConnectionSlots<ObjectIdentifier>.Admission, (any Channel)?) in
                let admission = state.slots.enter(id, address: address)
                if admission != .refused { state.channels[id] = channel }
                guard case .provisional(let victim?) = admission else { return (admission, nil) }
                if state.awaiting.remove(victim) != nil { recount(state) }
                return (admission, state.channels.removeValue(forKey: victim))
            }
            displaced?.close(promise: nil)
            return admission != .refused
        }

        func handshakeCompleted(_ channel: any Channel, peer: FederationIdentity?) -> Bool {
            let id = ObjectIdentifier(channel)
            let certified = peer.flatMap { keepsReserve($0) ? $0.uri : nil }
            return state.withLockedValue { state in
                let stays = state.slots.handshakeCompleted(id, certifiedAs: certified, awaitingCredentials: awaitsCredentials)
                if !stays { state.channels[id] = nil }
                if stays && state.slots.awaitsCredentials(id) {
                    state.awaiting.insert(id)
                    recount(state)
                }
                return stays
            }
        }

        /// A request arrived on connection `id` with `credential` (nil: none the node accepts).
        /// Returns false when the connection must close once it is answered: a provisional one
        /// whose first request brought no credentials, or no room for them.
        func request(on id: ObjectIdentifier, credential: @autoclosure () -> String?) -> Bool {
            guard watched.load(ordering: .relaxed) > 0 else { return true }
            return state.withLockedValue { state in
                guard state.awaiting.remove(id) != nil else { return true }
                let stays = state.slots.firstRequest(id, credential: credential())
                // Kept (counted, displaceable) until it is closed and leaves.
                if !stays { state.closing.insert(id) }
                recount(state)
                return stays
            }
        }

        /// Whether the connection must close now its response is written.
        func closesAfterResponse(_ id: ObjectIdentifier) -> Bool {
            guard watched.load(ordering: .relaxed) > 0 else { return false }
            return state.withLockedValue { state in
                guard state.closing.remove(id) != nil else { return false }
                recount(state)
                return true
            }
        }

        /// Whether connection `id` waits for its first request's credentials.
        func awaitsFirstRequest(_ id: ObjectIdentifier) -> Bool {
            watched.load(ordering: .relaxed) > 0 && state.withLockedValue { $0.awaiting.contains(id) }
        }

        func leave(_ channel: any Channel) {
            let id = ObjectIdentifier(channel)
            state.withLockedValue { state in
                if state.awaiting.remove(id) != nil || state.closing.remove(id) != nil { recount(state) }
                guard state.channels.removeValue(forKey: id) != nil else { return }
                state.slots.leave(id)
            }
        }

        var inUse: (shared: Int, reserve: Int, credential: Int) { state.withLockedValue { ($0.slots.sharedInUse, $0.slots.reserveInUse, $0.slots.credentialInUse) } }

        static func key(_ address: SocketAddress) -> String {
            switch address {
            case .v4(let v4):
                return withUnsafeBytes(of: v4.address.sin_addr) { SlotAddress.key(ipv4: Array($0)) }
            case .v6(let v6):
                return withUnsafeBytes(of: v6.address.sin6_addr) { SlotAddress.key(ipv6: Array($0)) }
            case .unixDomainSocket:
                return "unix"
            }
        }
    }

    /// Closes a provisional connection whose handshake completed without a certificate that
    /// keeps the reserve, and marks a certified one as kept.
    final class AfterHandshake: ChannelInboundHandler, RemovableChannelHandler, Sendable {
        typealias InboundIn = NIOAny
        private let counter: Counter
        init(_ counter: Counter) { self.counter = counter }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case .handshakeCompleted(let peer, _)? = event as? TLSEvent {
                guard counter.handshakeCompleted(context.channel, peer: peer) else {
                    context.close(promise: nil)
                    return
                }
            }
            context.fireUserInboundEventTriggered(event)
        }
    }

    private let counter: Counter
    private let admitted = NIOLockedValueBox(false)

    init(_ counter: Counter) { self.counter = counter }

    func handlerAdded(context: ChannelHandlerContext) {
        let admitted = counter.enter(context.channel)
        self.admitted.withLockedValue { $0 = admitted }
    }

    func channelActive(context: ChannelHandlerContext) {
        guard admitted.withLockedValue({ $0 }) else {
            context.close(promise: nil)
            return
        }
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        let was = admitted.withLockedValue { value -> Bool in
            defer { value = false }
            return value
        }
        if was { counter.leave(context.channel) }
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
    /// The port's slots: a provisional connection whose first request brought no credentials
    /// is closed once that response is written.
    private let slots: ConnectionCap.Counter?
    /// The port's large responses not yet taken (`ResponseBudget`).
    private let budget: ResponseBudget?
    /// When the connection is closed unless something moves it on; nil while a request is
    /// with the handler. Moving it costs a clock read: the one timer scheduled is looked at
    /// when it fires and scheduled again for the deadline then in force (no timer per request).
    private var deadline: NIODeadline?
    /// While the connection is unwritable (the client takes nothing of a response): when it is
    /// closed unless it drains. Without it, a client that pipelined requests and stopped
    /// reading held its slot (and whatever its requests pinned) for ever, and made every
    /// graceful stop wait on it.
    private var stalled: NIODeadline?
    private var timer: (due: NIODeadline, task: Scheduled<Void>)?
    /// Requests whose response has not ended.
    private var inFlight = 0
    private var reading = false
    /// When the handler joined the connection (on its event loop's clock, as every deadline here).
    private var opened = NIODeadline.uptimeNanoseconds(0)

    init(limits: ConnectionLimits, slots: ConnectionCap.Counter? = nil, budget: ResponseBudget? = nil) {
        self.limits = limits
        self.slots = slots
        self.budget = budget
    }

    func handlerAdded(context: ChannelHandlerContext) {
        opened = context.eventLoop.now
        arm(context, limits.firstRequestTimeout)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        budget?.forget(context.channel)
        timer?.task.cancel()
        timer = nil
        deadline = nil
        stalled = nil
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
            if inFlight == 0 {
                // Answered before it was read whole (a refusal by the access check, a 404, a
                // route that reads no body): the response's end armed nothing while the body
                // was coming, so the connection is idle from now — and closed now if it is old
                // enough (a body that outlasted the age the response's end would have closed it at).
                if context.eventLoop.now - opened > limits.maxConnectionAge {
                    context.fireChannelRead(data)
                    context.close(promise: nil)
                    return
                }
                arm(context, limits.idleTimeout)
            } else {
                // The handler works on it now; its response ends the wait (a slow handler is
                // not the client's fault).
                deadline = nil
            }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // A response body is written in parts of at most `progressChunk`, each of which, once on
        // the socket, moves the write-stall deadline on: a slow reader that keeps taking a large
        // page is not cut, only one that takes nothing. (A small part written while the
        // connection is unwritable reports its progress too.)
        if case .body(let buffer) = unwrapOutboundIn(data), buffer.readableBytes > Self.progressChunk || (stalled != nil && buffer.readableBytes > 0) {
            var rest = buffer
            while rest.readableBytes > 0 {
                let part = rest.readSlice(length: min(rest.readableBytes, Self.progressChunk))!
                let written = context.eventLoop.makePromise(of: Void.self)
                let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                let bytes = part.readableBytes
                budget?.hold(context.channel, bytes)
                written.futureResult.whenComplete { result in
                    let (handler, context) = loopBound.value
                    handler.budget?.release(context.channel, bytes)
                    if case .success = result, let stalled = handler.stalled {
                        handler.stalled = handler.limits.stallDeadline(stalled, took: bytes, now: context.eventLoop.now)
                    }
                }
                if rest.readableBytes == 0, let promise { written.futureResult.cascade(to: promise) }
                context.write(wrapOutboundOut(.body(part)), promise: written)
            }
            return
        }
        if case .end = unwrapOutboundIn(data) {
            inFlight = max(0, inFlight - 1)
            // A provisional connection whose first request brought no credentials: this
            // response is its last. An old enough one likewise, once nothing else is under way
            // (the client reconnects).
            let last = slots?.closesAfterResponse(ObjectIdentifier(context.channel)) == true
            if last || (inFlight == 0 && !reading && context.eventLoop.now - opened > limits.maxConnectionAge) {
                // Closed once written; a client that does not read it is closed all the same.
                arm(context, limits.firstRequestTimeout)
                let channel = context.channel
                let written = context.eventLoop.makePromise(of: Void.self)
                written.futureResult.whenComplete { _ in channel.close(promise: nil) }
                promise.map { written.futureResult.cascade(to: $0) }
                context.write(data, promise: written)
                return
            }
            if inFlight == 0 && !reading { arm(context, limits.idleTimeout) }
        }
        context.write(data, promise: promise)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        budget?.stalled(context.channel, !context.channel.isWritable)
        if context.channel.isWritable {
            stalled = nil
        } else if stalled == nil {
            let due = context.eventLoop.now + limits.writeStallTimeout
            stalled = due
            wake(context, at: due)
        }
        context.fireChannelWritabilityChanged()
    }

    /// Response body parts whose writing is watched for progress.
    static let progressChunk = 64 << 10

    /// The earlier of the request deadline and the write-stall deadline, if any.
    private var due: NIODeadline? {
        switch (deadline, stalled) {
        case (let a?, let b?): min(a, b)
        case (let a?, nil): a
        case (nil, let b?): b
        case (nil, nil): nil
        }
    }

    private func arm(_ context: ChannelHandlerContext, _ timeout: TimeAmount) {
        let due = context.eventLoop.now + timeout
        deadline = due
        wake(context, at: due)
    }

    /// Makes sure the timer fires by `due` (a timer already due no later checks then).
    private func wake(_ context: ChannelHandlerContext, at due: NIODeadline) {
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
            guard let next = handler.due else {
                // Nothing under way and no deadline: never left so (the connection would be
                // held for ever); idle from now.
                if handler.inFlight == 0 && !handler.reading { handler.arm(context, handler.limits.idleTimeout) }
                return
            }
            if next <= context.eventLoop.now {
                channel.close(promise: nil)
            } else {
                handler.schedule(context, at: next)
            }
        }
        timer = (due, task)
    }
}
