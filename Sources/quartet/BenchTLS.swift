import ArgumentParser
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import QuartetCrypto
import QuartetTLS

struct BenchTLS: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tls",
        abstract: "QuartetTLS over loopback: bulk MB/s on one connection and mutual-auth handshakes/s.",
        discussion: """
            Makes a throwaway federation PKI (P-256), starts a QuartetTLS server on 127.0.0.1 that \
            requires a client certificate, and measures (1) one connection carrying --megabytes \
            from client to server, written with back-pressure, timed until the server has \
            received the last byte; (2) --handshakes full mutual-auth TLS 1.3 handshakes \
            (no resumption), --concurrency at a time, each a new TCP connection that completes \
            the handshake, exchanges one byte each way and closes. TCP_NODELAY is set on both ends.
            """)

    @Option(help: "Megabytes (10^6 bytes) sent on the bulk connection.") var megabytes: Int = 2000
    @Option(help: "Size of each plaintext write, in KiB.") var chunk: Int = 256
    @Option(help: "Handshakes to complete.") var handshakes: Int = 2000
    @Option(help: "Handshakes in flight at once.") var concurrency: Int = 4

    func run() async throws {
        guard megabytes > 0, chunk > 0, handshakes > 0, concurrency > 0 else {
            throw ValidationError("--megabytes, --chunk, --handshakes and --concurrency must be positive")
        }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("quartet-bench-tls-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let ca = try FederationPKI.createAuthority(in: root.appendingPathComponent("ca").path)
        let server = try FederationPKI.issueNode("uk", caDirectory: root.appendingPathComponent("ca").path, in: root.appendingPathComponent("uk").path)
        let client = try FederationPKI.issueNode("wales", caDirectory: root.appendingPathComponent("ca").path, in: root.appendingPathComponent("wales").path)
        let serverContext = try TLSContext(role: .server, certificateChain: server.certificate, privateKey: server.key, trustRoots: ca.certificate)
        let clientContext = try TLSContext(role: .client, certificateChain: client.certificate, privateKey: client.key, trustRoots: ca.certificate)
        var quiet = Logger(label: "bench.tls")
        quiet.logLevel = .critical
        let logger = quiet

        let group = MultiThreadedEventLoopGroup.singleton
        let bulkDone = BulkCompletion()
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        try TLSHandler(context: serverContext, policy: .anyCertificate, logger: logger),
                        BenchSink(registry: bulkDone),
                    ])
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        defer { listener.close(promise: nil) }
        let port = listener.localAddress!.port!

        // 1. Bulk: one connection, client to server.
        let total = megabytes * 1_000_000
        let received = group.next().makePromise(of: Void.self)
        bulkDone.set(expected: total, promise: received)
        let clock = ContinuousClock()
        let sent = group.next().makePromise(of: Void.self)
        let started = group.next().makePromise(of: ContinuousClock.Instant.self)
        /// A QuartetTLS client connection to the server, with `handler` above TLS.
        @Sendable func connect(_ handler: @escaping @Sendable () -> any ChannelHandler) async throws -> any Channel {
            try await ClientBootstrap(group: group)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandlers([
                            try TLSHandler(context: clientContext, policy: .node("uk"), serverName: "uk", logger: logger), handler(),
                        ])
                    }
                }
                .connect(host: "127.0.0.1", port: port).get()
        }
        let chunkBytes = chunk << 10
        let bulkChannel = try await connect { BulkWriter(total: total, chunk: chunkBytes, started: started, done: sent) }
        // Timing starts when the handshake is done and the first byte is written.
        let start = try await started.futureResult.get()
        try await sent.futureResult.get()
        try await received.futureResult.get()
        let bulkSeconds = (clock.now - start).seconds
        try? await bulkChannel.close().get()

        // 2. Handshakes.
        let handshakeStart = clock.now
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            var started = 0
            func launch() {
                started += 1
                tasks.addTask {
                    let done = group.next().makePromise(of: Void.self)
                    let channel = try await connect { PingOnce(done: done) }
                    try await done.futureResult.get()
                    try? await channel.close().get()
                }
            }
            for _ in 0..<min(concurrency, handshakes) { launch() }
            while try await tasks.next() != nil {
                if started < handshakes { launch() }
            }
        }
        let handshakeSeconds = (clock.now - handshakeStart).seconds

        let mbps = Double(total) / 1e6 / bulkSeconds
        let perSecond = Double(handshakes) / handshakeSeconds
        printJSON([
            "benchmark": "tls",
            "cores": ProcessInfo.processInfo.activeProcessorCount,
            "openssl": openSSLVersion,
            "protocol": "TLSv1.3",
            "certificates": "ECDSA P-256, mutual authentication",
            "bulk": [
                "bytes": total, "write_size": chunk << 10, "seconds": (bulkSeconds * 1000).rounded() / 1000,
                "megabytes_per_second": mbps.rounded(), "target_megabytes_per_second": 800,
            ],
            "handshakes": [
                "count": handshakes, "concurrency": concurrency, "seconds": (handshakeSeconds * 1000).rounded() / 1000,
                "per_second": perSecond.rounded(), "target_per_second": 200,
            ],
        ])
    }
}

/// Lets the server's sink find the promise of the bulk run (the only connection that sends more
/// than one byte).
final class BulkCompletion: Sendable {
    private let state = NIOLockedValueBox<(expected: Int, promise: EventLoopPromise<Void>?)>((0, nil))
    func set(expected: Int, promise: EventLoopPromise<Void>) { state.withLockedValue { $0 = (expected, promise) } }
    var expected: Int { state.withLockedValue { $0.expected } }
    func complete() { state.withLockedValue { $0.promise?.succeed(()); $0.promise = nil } }
}

/// Server side: counts plaintext; answers a one-byte ping with one byte; reports when the bulk
/// total has arrived.
final class BenchSink: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private let registry: BulkCompletion
    private var received = 0

    init(registry: BulkCompletion) { self.registry = registry }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        received += buffer.readableBytes
        if received == 1 {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: [0x21])), promise: nil)
        } else if received >= registry.expected {
            registry.complete()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}

/// Client side of the bulk run: writes `total` bytes in `chunk`-sized writes while the channel is
/// writable.
final class BulkWriter: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var remaining: Int
    private let block: ByteBuffer
    private let done: EventLoopPromise<Void>
    private let started: EventLoopPromise<ContinuousClock.Instant>
    private var running = false

    init(total: Int, chunk: Int, started: EventLoopPromise<ContinuousClock.Instant>, done: EventLoopPromise<Void>) {
        remaining = total
        var bytes = [UInt8](repeating: 0, count: chunk)
        for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: i &* 2654435761 >> 13) }
        block = ByteBuffer(bytes: bytes)
        self.done = done
        self.started = started
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted? = event as? TLSEvent {
            running = true
            started.succeed(ContinuousClock.now)
            pump(context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if running { pump(context) }
        context.fireChannelWritabilityChanged()
    }

    private func pump(_ context: ChannelHandlerContext) {
        while remaining > 0 && context.channel.isWritable {
            let size = min(remaining, block.readableBytes)
            remaining -= size
            context.write(wrapOutboundOut(block.getSlice(at: 0, length: size)!), promise: nil)
            if remaining == 0 { break }
            context.flush()
        }
        context.flush()
        if remaining == 0 && running {
            running = false
            done.succeed(())
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        started.fail(error)
        done.fail(error)
        context.close(promise: nil)
    }
}

/// Client side of a handshake: after the handshake, sends one byte and waits for one back.
final class PingOnce: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private let done: EventLoopPromise<Void>
    private var finished = false

    init(done: EventLoopPromise<Void>) { self.done = done }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: [0x3F])), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !finished else { return }
        finished = true
        done.succeed(())
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !finished { finished = true; done.fail(error) }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !finished { finished = true; done.fail(ChannelError.eof) }
        context.fireChannelInactive()
    }
}
