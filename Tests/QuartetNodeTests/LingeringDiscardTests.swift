import NIOCore
import NIOEmbedded
@testable import QuartetNode
import Testing

/// What a client sends once the node closed its side of the connection (finding 337): read and
/// dropped before anything decodes it, until the client closes (then the connection closes
/// whole, once the node's side is closed) or more than `LingeringDiscard.limit` came.
@Suite struct LingeringDiscardTests {
    /// Counts what reaches the handlers after it.
    final class Seen: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        var bytes = 0
        var events = 0
        func channelRead(context: ChannelHandlerContext, data: NIOAny) { bytes += unwrapInboundIn(data).readableBytes }
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) { events += 1 }
    }

    @Test func whatTheClientSendsIsDroppedUntilItClosesAndTheConnectionClosesAfterTheNodesSide() throws {
        let seen = Seen()
        let channel = try EmbeddedChannel.connected([seen])
        let outputClosed = channel.eventLoop.makePromise(of: Void.self)
        try channel.pipeline.syncOperations.addHandler(LingeringDiscard(outputClosed: outputClosed.futureResult), position: .first)
        try channel.writeInbound(ByteBuffer(repeating: UInt8(ascii: "x"), count: 100_000))
        try channel.writeInbound(ByteBuffer(string: "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
        #expect(seen.bytes == 0 && channel.isActive)
        // The client's FIN: nothing after sees it; the whole close waits for the node's side.
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(seen.events == 0 && channel.isActive)
        outputClosed.succeed()
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)
    }

    @Test func aClientSendingMoreThanTheLimitIsClosedOn() throws {
        let seen = Seen()
        let channel = try EmbeddedChannel.connected([seen])
        let outputClosed = channel.eventLoop.makePromise(of: Void.self)
        try channel.pipeline.syncOperations.addHandler(LingeringDiscard(outputClosed: outputClosed.futureResult), position: .first)
        let chunk = ByteBuffer(repeating: 0, count: 1 << 20)
        for _ in 0..<(LingeringDiscard.limit >> 20) { try channel.writeInbound(chunk) }
        #expect(channel.isActive, "the limit itself is taken")
        try channel.writeInbound(ByteBuffer(bytes: [0]))
        #expect(!channel.isActive && seen.bytes == 0)
        outputClosed.succeed()
    }
}
