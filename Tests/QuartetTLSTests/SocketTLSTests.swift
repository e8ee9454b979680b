import Foundation
import Logging
import NIOCore
import NIOPosix
import QuartetCrypto
import QuartetTestKit
import QuartetTLS
import Testing

/// Echoes plaintext back.
final class EchoHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.write(data, promise: nil)
    }
    func channelReadComplete(context: ChannelHandlerContext) { context.flush() }
    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}

/// Collects plaintext until `expected` bytes arrived, hashing as it goes.
final class Collector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    private let expected: Int
    private let done: EventLoopPromise<[UInt8]>
    private var received = 0
    private var data: [UInt8] = []

    init(expected: Int, done: EventLoopPromise<[UInt8]>) {
        self.expected = expected
        self.done = done
        data.reserveCapacity(expected)
    }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        self.data.append(contentsOf: buffer.readableBytesView)
        received += buffer.readableBytes
        if received >= expected { done.succeed(self.data) }
    }
    func errorCaught(context: ChannelHandlerContext, error: any Error) { done.fail(error) }
    func channelInactive(context: ChannelHandlerContext) {
        if received < expected { done.fail(ChannelError.eof) }
    }
}

/// A TLS echo server on 127.0.0.1 built on QuartetTLS.
struct EchoServer {
    let channel: any Channel
    var port: Int { channel.localAddress!.port! }

    static func start(group: EventLoopGroup, context: TLSContext, policy: TLSPeerPolicy = .anyCertificate, handshakeTimeout: TimeAmount = .seconds(10)) throws -> EchoServer {
        var quiet = Logger(label: "test.server")
        quiet.logLevel = .critical
        let logger = quiet
        let channel = try ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        try TLSHandler(context: context, policy: policy, handshakeTimeout: handshakeTimeout, logger: logger), EchoHandler(),
                    ])
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        return EchoServer(channel: channel)
    }
}

/// Connects a QuartetTLS client and returns what comes back for `payload`.
func roundTrip(group: EventLoopGroup, port: Int, context: TLSContext, expecting node: String, payload: [UInt8]) async throws -> [UInt8] {
    var quiet = Logger(label: "test.client")
    quiet.logLevel = .critical
    let logger = quiet
    let done = group.next().makePromise(of: [UInt8].self)
    let channel: any Channel
    do {
        channel = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        try TLSHandler(context: context, policy: .node(node), serverName: node, logger: logger),
                        Collector(expected: payload.count, done: done),
                    ])
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
    } catch {
        done.fail(error)
        throw error
    }
    var offset = 0
    while offset < payload.count {
        let end = min(offset + (1 << 20), payload.count)
        channel.write(ByteBuffer(bytes: payload[offset..<end]), promise: nil)
        offset = end
    }
    channel.flush()
    let received = try await done.futureResult.get()
    try? await channel.close().get()
    return received
}

@Suite(.serialized) struct SocketTLSTests {
    let pki: TestPKI
    let group = MultiThreadedEventLoopGroup.singleton

    init() throws { pki = try TestPKI() }

    func context(_ role: TLSContext.Role, _ node: String) throws -> TLSContext {
        let files = try pki.node(node)
        return try TLSContext(role: role, certificateChain: files.certificate, privateKey: files.key, trustRoots: pki.caCertificate)
    }

    @Test func opensslSClientIsAcceptedOnlyWithAFederationCertificateOverTLS13() async throws {
        defer { pki.remove() }
        let server = try EchoServer.start(group: group, context: try context(.server, "uk"), policy: .nodes(["wales"]))
        let wales = try pki.node("wales")
        let base = ["-connect", "127.0.0.1:\(server.port)", "-CAfile", pki.caCertificate, "-verify_return_error", "-servername", "uk"]

        let ok = try TestKit.sClient(base + ["-cert", wales.certificate, "-key", wales.key, "-brief"], input: "ping from s_client\n")
        #expect(ok.stderr.contains("Protocol version: TLSv1.3"), "\(ok.stderr)")
        #expect(ok.stderr.contains("Verification: OK"), "\(ok.stderr)")
        #expect(ok.stdout.contains("ping from s_client"), "the server did not echo: \(ok.stdout) \(ok.stderr)")

        // Full output: the server issues no session tickets (every handshake is a full one).
        let full = try TestKit.sClient(base + ["-cert", wales.certificate, "-key", wales.key], input: "ping\n")
        #expect(full.stdout.contains("Verify return code: 0 (ok)"), "\(full.stdout)")
        #expect(!full.stdout.contains("New Session Ticket") && !full.stdout.contains("TLS session ticket:"), "\(full.stdout)")

        let noCert = try TestKit.sClient(base + ["-brief"], input: "ping\n")
        #expect(!noCert.stdout.contains("ping"))
        #expect(noCert.stderr.contains("certificate required"), "\(noCert.stderr)")

        let otherCA = try TestPKI()
        defer { otherCA.remove() }
        let foreign = try otherCA.node("wales")
        let wrongCA = try TestKit.sClient(base + ["-cert", foreign.certificate, "-key", foreign.key, "-brief"], input: "ping\n")
        #expect(!wrongCA.stdout.contains("ping"))
        #expect(wrongCA.stderr.contains("alert"), "\(wrongCA.stderr)")

        let tls12 = try TestKit.sClient(base + ["-cert", wales.certificate, "-key", wales.key, "-tls1_2", "-brief"], input: "ping\n")
        #expect(!tls12.stdout.contains("ping"))
        #expect(tls12.stderr.contains("protocol version") || tls12.stderr.contains("alert"), "\(tls12.stderr)")

        // Key exchange by X25519 or P-256 only: a ClientHello offering only finite-field
        // Diffie-Hellman (ffdhe8192 costs ~10 ms of the server's CPU) is refused; P-256 works.
        let ffdhe = try TestKit.sClient(base + ["-cert", wales.certificate, "-key", wales.key, "-groups", "ffdhe8192", "-brief"], input: "ping\n")
        #expect(!ffdhe.stdout.contains("ping"))
        #expect(ffdhe.stderr.contains("alert") || ffdhe.stderr.contains("error"), "\(ffdhe.stderr)")
        let p256 = try TestKit.sClient(base + ["-cert", wales.certificate, "-key", wales.key, "-groups", "P-256", "-brief"], input: "ping from P-256\n")
        #expect(p256.stdout.contains("ping from P-256"), "\(p256.stdout) \(p256.stderr)")

        // Still serving after all that.
        let again = try await roundTrip(group: group, port: server.port, context: try context(.client, "wales"), expecting: "uk", payload: Array("still here".utf8))
        #expect(again == Array("still here".utf8))
        try await server.channel.close().get()
    }

    @Test func quartetClientTalksToOpensslSServer() async throws {
        defer { pki.remove() }
        let openssl = try #require(TestKit.which("openssl"))
        let uk = try pki.node("uk")
        let port = try TestKit.freePort()
        let process = Process()
        process.executableURL = openssl
        // -rev: s_server answers each line reversed, so the reply proves a round trip.
        process.arguments = ["s_server", "-accept", "127.0.0.1:\(port)", "-cert", uk.certificate, "-key", uk.key, "-CAfile", pki.caCertificate,
                             "-Verify", "1", "-tls1_3", "-rev"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        process.standardInput = Pipe()
        try process.run()
        // SIGKILL: the test process blocks SIGTERM, and children inherit the mask.
        defer { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        // It listens within a moment; until then connections are refused.
        var reply: [UInt8] = []
        for attempt in 0..<50 where reply.isEmpty {
            if attempt > 0 { usleep(100_000) }
            reply = (try? await roundTrip(group: group, port: port, context: try context(.client, "wales"), expecting: "uk",
                                    payload: Array("hello quartet\n".utf8))) ?? []
        }
        #expect(String(decoding: reply, as: UTF8.self).hasPrefix("tetrauq olleh"), "\(String(decoding: reply, as: UTF8.self))")
    }

    @Test func sixtyFourMebibytesEachWayArriveIntact() async throws {
        defer { pki.remove() }
        let server = try EchoServer.start(group: group, context: try context(.server, "uk"))
        var payload = [UInt8](repeating: 0, count: 64 << 20)
        var state: UInt64 = 0x9E3779B97F4A7C15
        for i in stride(from: 0, to: payload.count, by: 8) {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            withUnsafeBytes(of: state) { payload.replaceSubrange(i..<i + 8, with: $0) }
        }
        let received = try await roundTrip(group: group, port: server.port, context: try context(.client, "wales"), expecting: "uk", payload: payload)
        #expect(received.count == payload.count)
        #expect(SHA256.hash(received) == SHA256.hash(payload))
        try await server.channel.close().get()
    }

    @Test func manyConcurrentClientsWhileGarbageAndStalledPeersAreCutOff() async throws {
        defer { pki.remove() }
        // The handshake timeout cuts off the silent peer; it leaves room for 40 honest handshakes
        // on a loaded 2-core machine (the whole suite runs in parallel with this test).
        let server = try EchoServer.start(group: group, context: try context(.server, "uk"), handshakeTimeout: .seconds(4))
        // A peer that sends plaintext, and one that connects and says nothing.
        let garbage = try await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: server.port).get()
        // The server may cut the plaintext peer off before the write completes.
        try? await garbage.writeAndFlush(ByteBuffer(string: "GET /healthz HTTP/1.1\r\nHost: uk\r\n\r\n")).get()
        let staller = try await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: server.port).get()

        let clientContext = try context(.client, "wales")
        let port = server.port
        let group = self.group
        let matches = try await withThrowingTaskGroup(of: Bool.self) { tasks in
            for i in 0..<40 {
                tasks.addTask {
                    let payload = Array("client \(i) ".utf8) + [UInt8](repeating: UInt8(i), count: 64 << 10)
                    return try await roundTrip(group: group, port: port, context: clientContext, expecting: "uk", payload: payload) == payload
                }
            }
            return try await tasks.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(matches.count == 40 && matches.allSatisfy { $0 })
        try await garbage.closeFuture.get()
        try await staller.closeFuture.get()
        try await server.channel.close().get()
    }
}
