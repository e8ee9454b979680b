import NIOCore

/// Holds the promises of the writes that pass it (towards the socket), to complete them when
/// told: a client taking what the connection writes part by part, or taking none of it.
public final class HeldWrites: ChannelOutboundHandler, @unchecked Sendable {
    public typealias OutboundIn = Any
    public private(set) var held: [EventLoopPromise<Void>] = []

    public init() {}

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let mine = context.eventLoop.makePromise(of: Void.self)
        held.append(mine)
        context.write(data, promise: nil)
        if let promise { mine.futureResult.cascade(to: promise) }
    }

    /// The oldest write held reaches the socket.
    public func takeOne() { if !held.isEmpty { held.removeFirst().succeed(()) } }

    /// Every write held reaches the socket.
    public func takeAll() { while !held.isEmpty { takeOne() } }

    /// Fails what is still held (a promise must be completed before it is dropped).
    public func dropAll() {
        let promises = held
        held = []
        for promise in promises { promise.fail(ChannelError.ioOnClosedChannel) }
    }
}
