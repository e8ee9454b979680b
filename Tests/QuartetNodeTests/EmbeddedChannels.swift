import NIOCore
import NIOEmbedded

extension EmbeddedChannel {
    /// An EmbeddedChannel with `handlers` in order, connected (a close shows only on a channel
    /// that was active).
    static func connected(_ handlers: [any ChannelHandler]) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        for handler in handlers { try channel.pipeline.syncOperations.addHandler(handler) }
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }
}
