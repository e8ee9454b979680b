import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import QuartetCrypto
import QuartetTestKit
@testable import QuartetTLS
import Testing

/// Records what reaches the top of a pipeline: plaintext, TLS events, errors.
final class Recorder: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    var received = ByteBuffer()
    var events: [TLSEvent] = []
    var errors: [any Error] = []
    /// Buffers passed up, and the most capacity one of them had.
    var reads = 0
    var largestCapacity = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        reads += 1
        largestCapacity = max(largestCapacity, buffer.capacity)
        received.writeBuffer(&buffer)
    }
    /// `ChannelEvent.inputClosed`s passed up.
    var inputClosed = 0
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSEvent { events.append(event) }
        if let event = event as? ChannelEvent, event == .inputClosed { inputClosed += 1 }
    }
    func errorCaught(context: ChannelHandlerContext, error: any Error) { errors.append(error) }
}

/// Takes a close of the output only (a half-close) as done, leaving the channel open; records
/// the closes asked for.
final class OutputCloseKept: ChannelOutboundHandler, @unchecked Sendable {
    typealias OutboundIn = ByteBuffer
    var modes: [CloseMode] = []
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        modes.append(mode)
        guard mode == .output else { return context.close(mode: mode, promise: promise) }
        promise?.succeed()
    }
}


/// Writes `text` as soon as the handshake completes.
final class ReplyOnHandshake: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let text: String
    init(text: String) { self.text = text }
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is TLSEvent { context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text)), promise: nil) }
        context.fireUserInboundEventTriggered(event)
    }
}

/// A LogHandler that keeps each line as `level message key=value...`.
final class LogCapture: LogHandler, @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    var lines: [String] { lock.withLock { stored } }
    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        let text = "\(event.level) \(event.message) " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        lock.withLock { stored.append(text) }
    }
}

/// Two EmbeddedChannels, a TLS client and a TLS server, that shuttle bytes between them.
struct EmbeddedPair {
    let client = EmbeddedChannel()
    let server = EmbeddedChannel()
    let clientRecorder = Recorder()
    let serverRecorder = Recorder()
    let clientHandler: TLSHandler
    let serverHandler: TLSHandler

    init(client clientContext: TLSContext, server serverContext: TLSContext, clientPolicy: TLSPeerPolicy, serverPolicy: TLSPeerPolicy = .anyCertificate) throws {
        let logger = EmbeddedTLSTests.quietLogger
        clientHandler = try TLSHandler(context: clientContext, policy: clientPolicy, serverName: nil, logger: logger)
        serverHandler = try TLSHandler(context: serverContext, policy: serverPolicy, logger: logger)
        try client.pipeline.syncOperations.addHandlers([clientHandler, clientRecorder])
        try server.pipeline.syncOperations.addHandlers([serverHandler, serverRecorder])
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 1)
        try server.connect(to: address).wait()
        try client.connect(to: address).wait()
    }

    /// Moves bytes both ways in slices of at most `slice` bytes (partial records, split headers)
    /// until neither side has anything to send.
    func shuttle(slice: Int) {
        var moved = true
        while moved {
            moved = false
            for (from, to) in [(client, server), (server, client)] {
                while var out = try? from.readOutbound(as: ByteBuffer.self) {
                    while out.readableBytes > 0 {
                        let piece = out.readSlice(length: min(slice, out.readableBytes))!
                        _ = try? to.writeInbound(piece)
                    }
                    moved = true
                }
            }
        }
    }

    /// Moves bytes both ways until neither side has anything to send.
    func shuttle() {
        var moved = true
        while moved {
            moved = false
            while let out = try? client.readOutbound(as: ByteBuffer.self) {
                _ = try? server.writeInbound(out)
                moved = true
            }
            while let out = try? server.readOutbound(as: ByteBuffer.self) {
                _ = try? client.writeInbound(out)
                moved = true
            }
        }
    }
}

@Suite struct EmbeddedTLSTests {
    let pki: TestPKI

    init() throws { pki = try TestPKI() }

    /// A logger that says nothing below critical (the refusals these tests provoke on purpose).
    static var quietLogger: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }

    func context(_ role: TLSContext.Role, _ node: String, ca: String? = nil, label: String? = nil,
                 clientAuthentication: TLSContext.ClientAuthentication = .required) throws -> TLSContext {
        let files = try pki.node(node, label: label)
        return try TLSContext(role: role, certificateChain: files.certificate, privateKey: files.key, trustRoots: ca ?? pki.caCertificate,
                              clientAuthentication: clientAuthentication)
    }

    /// A certificate the CA's revocation list names is refused by a context holding the list,
    /// whichever side presents it; others still connect; a list made long ago still counts (it
    /// has no next update).
    @Test func aRevokedCertificateIsRefusedOnEitherSide() throws {
        defer { pki.remove() }
        let caDirectory = pki.root.appendingPathComponent("ca").path
        let revoked = try pki.node("england")
        _ = try pki.node("wales")
        let path = try FederationPKI.revoke(certificates: [revoked.certificate], serials: [], caDirectory: caDirectory, newList: true,
                                           now: Date(timeIntervalSinceNow: -400 * 86_400)).revocationList
        let list = try RevocationList(pem: try String(contentsOfFile: path, encoding: .utf8))
        func withList(_ role: TLSContext.Role, _ node: String) throws -> TLSContext {
            let files = try pki.node(node)
            return try TLSContext(role: role, certificateChain: files.certificate, privateKey: files.key, trustRoots: pki.caCertificate, revocationLists: [list])
        }
        // The revoked client, against a server holding the list: refused.
        let refusedClient = try EmbeddedPair(client: try context(.client, "england"), server: try withList(.server, "uk"),
                                             clientPolicy: .node("uk"), serverPolicy: .anyCertificate)
        refusedClient.shuttle()
        #expect(refusedClient.serverHandler.peerIdentity == nil && !refusedClient.serverRecorder.errors.isEmpty)
        // The client, whose TLS 1.3 handshake had finished, is told its certificate was refused:
        // a failed handshake, not a failure after it (nothing it sent was read).
        #expect(refusedClient.clientRecorder.errors.contains { ($0 as? TLSError)?.code == .handshakeFailed && "\($0)".contains("certificate") },
                "\(refusedClient.clientRecorder.errors)")
        // The revoked server, against a client holding the list: refused.
        let refusedServer = try EmbeddedPair(client: try withList(.client, "uk"), server: try context(.server, "england"),
                                             clientPolicy: .node("england"), serverPolicy: .anyCertificate)
        refusedServer.shuttle()
        #expect(refusedServer.clientHandler.peerIdentity == nil && !refusedServer.clientRecorder.errors.isEmpty)
        // Another certificate of the same CA, both sides holding the list: connected.
        let accepted = try EmbeddedPair(client: try withList(.client, "wales"), server: try withList(.server, "uk"),
                                        clientPolicy: .node("uk"), serverPolicy: .anyCertificate)
        accepted.shuttle()
        #expect(accepted.serverHandler.peerIdentity == .node("wales") && accepted.clientHandler.peerIdentity == .node("uk"),
                "\(accepted.serverRecorder.errors) \(accepted.clientRecorder.errors)")
    }

    @Test func handshakeIdentitiesAndDataBothWays() throws {
        defer { pki.remove() }
        let pair = try EmbeddedPair(client: try context(.client, "wales"), server: try context(.server, "uk"),
                                    clientPolicy: .node("uk"), serverPolicy: .nodes(["wales", "england"]))
        // Written before the handshake: held, then sent.
        pair.client.writeAndFlush(ByteBuffer(string: "early hello"), promise: nil)
        pair.shuttle()
        #expect(pair.clientHandler.peerIdentity == .node("uk"))
        #expect(pair.serverHandler.peerIdentity == .node("wales"), "\(pair.serverRecorder.errors) \(pair.clientRecorder.errors)")
        #expect(pair.clientRecorder.events == [.handshakeCompleted(peer: .node("uk"), protocolVersion: "TLSv1.3")])
        #expect(pair.serverRecorder.received == ByteBuffer(string: "early hello"))

        // Large writes in both directions arrive intact and in order, over many records.
        var big = ByteBuffer()
        for i in 0..<200_000 { big.writeInteger(UInt32(i)) }
        pair.server.writeAndFlush(big, promise: nil)
        pair.client.writeAndFlush(big, promise: nil)
        pair.shuttle()
        #expect(pair.clientRecorder.received == big)
        var expected = ByteBuffer(string: "early hello")
        expected.writeImmutableBuffer(big)
        #expect(pair.serverRecorder.received == expected)

        // close_notify: the closing side sends it, the other side answers and closes, and
        // neither reports an error.
        pair.client.close(promise: nil)
        pair.shuttle()
        #expect(!pair.server.isActive)
        #expect(pair.serverRecorder.errors.isEmpty && pair.clientRecorder.errors.isEmpty,
                "\(pair.serverRecorder.errors) \(pair.clientRecorder.errors)")
    }

    /// A client's close_notify ends only its own side (RFC 8446 §6.1; finding 332): on a channel
    /// that takes half-closure (the API port) the server reads what came before it, is told its
    /// input closed (once, the FIN after it too), and still answers; its own close_notify goes
    /// when it closes. It closed at once, and the answer the client waited for was lost.
    @Test func aClientsCloseNotifyLeavesTheServersAnswerToCome() throws {
        defer { pki.remove() }
        let pair = try EmbeddedPair(client: try context(.client, "wales"), server: try context(.server, "uk"), clientPolicy: .node("uk"))
        pair.server.allowRemoteHalfClosure = true
        // (An embedded channel closes whole on any close: the client's socket is kept open.)
        try pair.client.pipeline.syncOperations.addHandler(OutputCloseKept(), position: .first)
        let serverClose = OutputCloseKept(), socket = QuartetTestKit.HeldWrites()
        try pair.server.pipeline.syncOperations.addHandler(serverClose, position: .first)
        pair.shuttle()
        try pair.server.pipeline.syncOperations.addHandler(socket, position: .first)
        pair.client.writeAndFlush(ByteBuffer(string: "a request"), promise: nil)
        pair.client.close(mode: .output, promise: nil)  // close_notify (the embedded channel keeps its socket open)
        pair.shuttle()
        #expect(pair.serverRecorder.received == ByteBuffer(string: "a request"))
        #expect(pair.server.isActive, "the server closed on the client's close_notify")
        #expect(pair.serverRecorder.inputClosed == 1)
        pair.server.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)  // the FIN behind it
        #expect(pair.serverRecorder.inputClosed == 1, "the input's end passed up twice")
        pair.server.writeAndFlush(ByteBuffer(string: "its answer"), promise: nil)
        // Closing its output (as Hummingbird does) closes the whole connection: nothing more
        // can come either way (the socket, whose input TLS ended and not TCP, was held until a
        // timer closed it).
        // Closed whole — nothing more can come either way — once the answer and the
        // close_notify are on the socket (a whole close at once dropped the queued answer; an
        // output close NIO makes a whole one where a FIN followed).
        pair.server.close(mode: .output, promise: nil)
        #expect(serverClose.modes.isEmpty && pair.server.isActive, "closed before the answer was on the socket: \(serverClose.modes)")
        pair.shuttle()
        #expect(pair.clientRecorder.received == ByteBuffer(string: "its answer"))
        socket.takeAll()
        #expect(serverClose.modes == [.all] && !pair.server.isActive, "an output close after the peer's close_notify left the connection open")
        #expect(pair.serverRecorder.errors.isEmpty && pair.clientRecorder.errors.isEmpty, "\(pair.serverRecorder.errors) \(pair.clientRecorder.errors)")
    }

    /// A write that makes no ciphertext (an HTTP answer's empty end, carrying the answer's
    /// promise) completes after the writes before it reach the socket, not at once (finding
    /// 335: a close "once the answer is written" cut the body still queued).
    @Test func anEmptyWriteCompletesInOrder() throws {
        defer { pki.remove() }
        let pair = try EmbeddedPair(client: try context(.client, "wales"), server: try context(.server, "uk"), clientPolicy: .node("uk"))
        pair.shuttle()
        let socket = QuartetTestKit.HeldWrites()
        try pair.server.pipeline.syncOperations.addHandler(socket, position: .first)
        var body = ByteBuffer()
        body.writeRepeatingByte(7, count: 100_000)  // over the joined-write limit: encrypted write by write
        pair.server.write(body, promise: nil)
        let end = pair.server.eventLoop.makePromise(of: Void.self)
        pair.server.write(ByteBuffer(), promise: end)
        pair.server.flush()
        var done = false
        end.futureResult.whenSuccess { done = true }
        #expect(!done, "the empty write completed before the body reached the socket")
        socket.takeAll()
        #expect(done)
        pair.shuttle()
        #expect(pair.clientRecorder.received.readableBytes == 100_000)
    }

    @Test(arguments: [1, 3, 7, 1000])
    func bytesArrivingInPiecesStillHandshakeAndDecrypt(slice: Int) throws {
        defer { pki.remove() }
        let pair = try EmbeddedPair(client: try context(.client, "wales"), server: try context(.server, "uk"),
                                    clientPolicy: .node("uk"), serverPolicy: .nodes(["wales"]))
        pair.shuttle(slice: slice)
        #expect(pair.serverHandler.peerIdentity == .node("wales"))
        var message = ByteBuffer()
        for i in 0..<20_000 { message.writeInteger(UInt16(truncatingIfNeeded: i)) }
        pair.client.writeAndFlush(message, promise: nil)
        pair.server.writeAndFlush(ByteBuffer(string: "ack"), promise: nil)
        pair.shuttle(slice: slice)
        #expect(pair.serverRecorder.received == message)
        #expect(pair.clientRecorder.received == ByteBuffer(string: "ack"))
    }

    /// Many tiny records arriving at once are passed up in few buffers, not a 16 KiB buffer
    /// each (a stranger's 1-byte records made the node allocate 16 KiB per byte), and large
    /// amounts in buffers of bounded size.
    @Test func tinyRecordsArrivingTogetherArePassedUpInFewBuffers() throws {
        defer { pki.remove() }
        let pair = try EmbeddedPair(client: try context(.client, "wales"), server: try context(.server, "uk"),
                                    clientPolicy: .node("uk"), serverPolicy: .nodes(["wales"]))
        pair.shuttle()
        var sent = ByteBuffer()
        for i in 0..<3_000 {
            let byte = ByteBuffer(bytes: [UInt8(truncatingIfNeeded: i)])
            sent.writeImmutableBuffer(byte)
            pair.client.writeAndFlush(byte, promise: nil)
        }
        // All 3,000 records (~69 KB of ciphertext) reach the server in one read.
        var wire = ByteBuffer()
        while var out = try pair.client.readOutbound(as: ByteBuffer.self) { wire.writeBuffer(&out) }
        #expect(wire.readableBytes > 3_000 * 20, "the client did not send one record per byte")
        pair.serverRecorder.reads = 0
        try pair.server.writeInbound(wire)
        #expect(pair.serverRecorder.received == sent)
        #expect(pair.serverRecorder.reads <= 2, "3,000 one-byte records passed up in \(pair.serverRecorder.reads) buffers")
        // 1 MiB at once: buffers of at most ~64 KiB.
        var large = ByteBuffer()
        large.writeRepeatingByte(7, count: 1 << 20)
        let written = pair.client.eventLoop.makePromise(of: Void.self)
        pair.client.writeAndFlush(large, promise: written)
        pair.serverRecorder.received.clear()
        // Encrypted a chunk at a time: no ciphertext buffer near the whole write's size, and
        // the write's promise completes once all of it is out.
        var largestOut = 0
        while var out = try pair.client.readOutbound(as: ByteBuffer.self) {
            largestOut = max(largestOut, out.readableBytes)
            try pair.server.writeInbound(out.readSlice(length: out.readableBytes)!)
        }
        #expect(largestOut <= 80 << 10, "a ciphertext buffer of \(largestOut) bytes for a 1 MiB write")
        #expect(throws: Never.self) { try written.futureResult.wait() }
        pair.shuttle()
        #expect(pair.serverRecorder.received.readableBytes == 1 << 20)
        #expect(pair.serverRecorder.largestCapacity <= 128 << 10, "\(pair.serverRecorder.largestCapacity)")
    }

    @Test func refusalsAreLoggedWithTheReason() throws {
        defer { pki.remove() }
        let lines = LogCapture()
        let logger = Logger(label: "capture") { _ in lines }
        // A budget of their own: the process-wide one is shared by every test's handshakes.
        let budget = LogBudget(lines: 10, per: .seconds(60))
        let client = try TLSHandler(context: try context(.client, "mallory"), policy: .node("uk"), logger: logger, refusalLines: budget)
        let server = try TLSHandler(context: try context(.server, "uk"), policy: .nodes(["wales"]), logger: logger, refusalLines: budget)
        let clientChannel = EmbeddedChannel(), serverChannel = EmbeddedChannel()
        try clientChannel.pipeline.syncOperations.addHandler(client)
        try serverChannel.pipeline.syncOperations.addHandler(server)
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 1)
        try serverChannel.connect(to: address).wait()
        try clientChannel.connect(to: address).wait()
        for _ in 0..<10 {
            while let out = try? clientChannel.readOutbound(as: ByteBuffer.self) { _ = try? serverChannel.writeInbound(out) }
            while let out = try? serverChannel.readOutbound(as: ByteBuffer.self) { _ = try? clientChannel.writeInbound(out) }
        }
        let logged = lines.lines.joined(separator: "\n")
        #expect(logged.contains("warning TLS connection refused"), "\(logged)")
        #expect(logged.contains("tls.error=peer-identity"), "\(logged)")
        #expect(logged.contains("quartet://node/mallory, which is not a federation member"), "\(logged)")
    }

    @Test func writesHeldDuringTheHandshakeGoBeforeWritesMadeOnCompletion() throws {
        defer { pki.remove() }
        let logger = Self.quietLogger
        let client = EmbeddedChannel(), server = EmbeddedChannel()
        let serverRecorder = Recorder()
        try client.pipeline.syncOperations.addHandlers([try TLSHandler(context: try context(.client, "wales"), serverName: "uk", logger: logger),
                                                        ReplyOnHandshake(text: "second")])
        try server.pipeline.syncOperations.addHandlers([try TLSHandler(context: try context(.server, "uk"), logger: logger), serverRecorder])
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 1)
        try server.connect(to: address).wait()
        try client.connect(to: address).wait()
        let held = client.eventLoop.makePromise(of: Void.self)
        client.writeAndFlush(ByteBuffer(string: "first "), promise: held)
        for _ in 0..<10 {
            while let out = try client.readOutbound(as: ByteBuffer.self) { try server.writeInbound(out) }
            while let out = try server.readOutbound(as: ByteBuffer.self) { try client.writeInbound(out) }
        }
        #expect(serverRecorder.received == ByteBuffer(string: "first second"))
        let outcome = NIOLockedValueBox<String>("pending")
        held.futureResult.whenComplete { result in outcome.withLockedValue { $0 = (try? result.get()) != nil ? "sent" : "failed" } }
        #expect(outcome.withLockedValue { $0 } == "sent")
    }

    /// Writes between flushes are encrypted at the flush, small ones as one TLS record: a
    /// response's head and body do not cost two records and two `SSL_write`s.
    @Test func writesBetweenFlushesLeaveAsOneRecordAtTheFlush() throws {
        defer { pki.remove() }
        let pair = try EmbeddedPair(client: try context(.client, "wales"), server: try context(.server, "uk"), clientPolicy: .node("uk"))
        pair.shuttle()
        #expect(pair.clientHandler.peerIdentity == .node("uk"))
        let promises = (0..<3).map { _ in pair.server.eventLoop.makePromise(of: Void.self) }
        let outcomes = NIOLockedValueBox<[Bool]>([])
        let parts = ["HTTP/1.1 200 OK\r\n\r\n", "{\"status\":", "\"ok\"}"]
        for (i, part) in parts.enumerated() {
            pair.server.write(ByteBuffer(string: part), promise: promises[i])
            promises[i].futureResult.whenComplete { result in outcomes.withLockedValue { $0.append((try? result.get()) != nil) } }
        }
        // Nothing leaves before the flush.
        #expect(try pair.server.readOutbound(as: ByteBuffer.self) == nil)
        pair.server.flush()
        var records: [ByteBuffer] = []
        while let out = try pair.server.readOutbound(as: ByteBuffer.self) { records.append(out) }
        // One write to the socket holding one application-data record (type 23, then its
        // length): 5 bytes of header, the bytes written, a content type byte, a 16-byte tag.
        #expect(records.count == 1)
        let record = try #require(records.first)
        #expect(record.getInteger(at: record.readerIndex, as: UInt8.self) == 23)
        #expect(record.readableBytes == 5 + parts.map(\.utf8.count).reduce(0, +) + 1 + 16, "\(record.readableBytes) bytes")
        #expect(outcomes.withLockedValue { $0 } == [true, true, true])
        for record in records { try pair.client.writeInbound(record) }
        #expect(pair.clientRecorder.received == ByteBuffer(string: "HTTP/1.1 200 OK\r\n\r\n{\"status\":\"ok\"}"))
    }

    @Test func heldWritesFailWhenTheHandshakeFailsOrTheHandlerIsRemoved() throws {
        defer { pki.remove() }
        let logger = Self.quietLogger
        let server = EmbeddedChannel()
        let handler = try TLSHandler(context: try context(.server, "uk"), logger: logger)
        try server.pipeline.syncOperations.addHandler(handler)
        let promise = server.eventLoop.makePromise(of: Void.self)
        server.write(ByteBuffer(string: "never sent"), promise: promise)
        _ = try server.pipeline.syncOperations.removeHandler(handler).wait()
        let outcome = NIOLockedValueBox<String>("pending")
        promise.futureResult.whenComplete { result in outcome.withLockedValue { $0 = (try? result.get()) != nil ? "sent" : "failed" } }
        #expect(outcome.withLockedValue { $0 } == "failed")
    }

    @Test func anOptionalClientCertificateMayBeAbsentButIsVerifiedWhenPresent() throws {
        defer { pki.remove() }
        let server = try context(.server, "uk", clientAuthentication: .optional)
        let pair = try EmbeddedPair(client: try context(.client, "wales"), server: server, clientPolicy: .node("uk"))
        pair.shuttle()
        #expect(pair.serverHandler.peerIdentity == .node("wales"))
        let otherCA = try TestPKI()
        defer { otherCA.remove() }
        let foreign = try otherCA.node("wales")
        let client = try TLSContext(role: .client, certificateChain: foreign.certificate, privateKey: foreign.key, trustRoots: pki.caCertificate)
        let refused = try EmbeddedPair(client: client, server: try context(.server, "uk", clientAuthentication: .optional), clientPolicy: .node("uk"))
        refused.shuttle()
        #expect(!refused.server.isActive)
    }

    @Test func aClientCertificateFromAnotherCAIsRefused() throws {
        defer { pki.remove() }
        // A client context whose "trust" is right but which presents another CA's certificate.
        let otherCA = try TestPKI()
        defer { otherCA.remove() }
        let foreign = try otherCA.node("wales")
        let client = try TLSContext(role: .client, certificateChain: foreign.certificate, privateKey: foreign.key, trustRoots: pki.caCertificate)
        let pair = try EmbeddedPair(client: client, server: try context(.server, "uk"), clientPolicy: .node("uk"))
        pair.shuttle()
        #expect(pair.serverHandler.peerIdentity == nil)
        #expect(!pair.server.isActive)
        let error = pair.serverRecorder.errors.first as? TLSError
        #expect(error?.code == .handshakeFailed, "\(String(describing: pair.serverRecorder.errors))")
    }

    @Test func aServerFromAnotherCAIsRefused() throws {
        defer { pki.remove() }
        let otherCA = try TestPKI()
        defer { otherCA.remove() }
        let foreign = try otherCA.node("uk")
        let server = try TLSContext(role: .server, certificateChain: foreign.certificate, privateKey: foreign.key, trustRoots: pki.caCertificate)
        let pair = try EmbeddedPair(client: try context(.client, "wales"), server: server, clientPolicy: .node("uk"))
        pair.shuttle()
        #expect(!pair.client.isActive)
        let error = try #require(pair.clientRecorder.errors.first as? TLSError)
        #expect(error.code == .handshakeFailed)
        #expect(error.description.contains("certificate"), "\(error)")
    }

    @Test func aServerNameOpenSSLRefusesIsAnErrorNotADoubleFree() throws {
        defer { pki.remove() }
        // Over 255 bytes: SSL_set_tlsext_host_name fails after the connection is whole; the
        // connection was freed there and again by its deinit (the process aborted).
        let name = String(repeating: "a", count: 300)
        let logger = Self.quietLogger
        #expect(throws: TLSError.self) { _ = try TLSHandler(context: try context(.client, "wales"), serverName: name, logger: logger) }
        // A usable name still works afterwards (the heap is intact).
        _ = try TLSHandler(context: try context(.client, "wales"), serverName: "uk", logger: logger)
    }

    @Test func theWrongNodeIsRefused() throws {
        defer { pki.remove() }
        // wales meant to reach uk, but england answered with a valid federation certificate.
        let pair = try EmbeddedPair(client: try context(.client, "wales"), server: try context(.server, "england"), clientPolicy: .node("uk"))
        pair.shuttle()
        #expect(!pair.client.isActive)
        let error = try #require(pair.clientRecorder.errors.first as? TLSError)
        #expect(error.code == .peerIdentity && error.message.contains("quartet://node/england"))
        // And a server accepting only members refuses a certificate naming someone else.
        let members = try EmbeddedPair(client: try context(.client, "mallory"), server: try context(.server, "uk"),
                                       clientPolicy: .node("uk"), serverPolicy: .nodes(["wales"]))
        members.shuttle()
        #expect(!members.server.isActive)
        #expect((members.serverRecorder.errors.first as? TLSError)?.code == .peerIdentity)
    }

    @Test func expiredAndNotYetValidCertificatesAreRefused() throws {
        defer { pki.remove() }
        let expired = try pki.node("uk", days: 1, now: Date().addingTimeInterval(-10 * 86400), label: "uk-expired")
        let server = try TLSContext(role: .server, certificateChain: expired.certificate, privateKey: expired.key, trustRoots: pki.caCertificate)
        let pair = try EmbeddedPair(client: try context(.client, "wales"), server: server, clientPolicy: .node("uk"))
        pair.shuttle()
        let error = try #require(pair.clientRecorder.errors.first as? TLSError)
        #expect(error.description.contains("expired"), "\(error)")

        let future = try pki.node("wales", days: 30, notBefore: Date().addingTimeInterval(5 * 86400), label: "wales-future")
        let client = try TLSContext(role: .client, certificateChain: future.certificate, privateKey: future.key, trustRoots: pki.caCertificate)
        let second = try EmbeddedPair(client: client, server: try context(.server, "uk"), clientPolicy: .node("uk"))
        second.shuttle()
        let refusal = try #require(second.serverRecorder.errors.first as? TLSError)
        #expect(refusal.description.contains("not yet valid"), "\(refusal)")
    }

    /// OpenSSL checks a certificate's dates at the handshake only: a connection kept open is
    /// closed when the peer's certificate ends, by the wall clock (a member cannot carry its
    /// identity past it by never reconnecting); the timer looks at the wall clock again at least
    /// hourly, so a connection whose certificate runs on stays open.
    @Test func aConnectionEndsWithThePeersCertificate() throws {
        defer { pki.remove() }
        // Valid for two more seconds (issued for a day, a day less two seconds ago).
        let ending = try pki.node("wales", days: 1, now: Date().addingTimeInterval(-86_400 + 2), label: "wales-ending")
        let client = try TLSContext(role: .client, certificateChain: ending.certificate, privateKey: ending.key, trustRoots: pki.caCertificate)
        let pair = try EmbeddedPair(client: client, server: try context(.server, "uk"), clientPolicy: .node("uk"), serverPolicy: .nodes(["wales"]))
        pair.shuttle()
        #expect(pair.server.isActive && pair.client.isActive)
        pair.server.embeddedEventLoop.advanceTime(by: .milliseconds(500))
        #expect(pair.server.isActive, "closed before the certificate ended")
        Thread.sleep(forTimeInterval: 2.5)
        pair.server.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!pair.server.isActive)
        let error = try #require(pair.serverRecorder.errors.first as? TLSError)
        #expect(error.code == .peerIdentity && error.message.contains("expired"), "\(error)")
        // The client's side: the server's certificate runs 30 days; hours of timer (the wall
        // clock barely moved) leave it open.
        pair.client.embeddedEventLoop.advanceTime(by: .hours(3))
        #expect(pair.client.isActive)
    }

    /// A chain whose CA ends before the leaf (made outside `pki`, which keeps a leaf within its
    /// CA): the connection ends with the CA, not the leaf.
    @Test func aConnectionEndsWithTheCAThatVerifiedThePeer() throws {
        defer { pki.remove() }
        let now = Date()
        let caKey = try PrivateKey.generateP256(), leafKey = try PrivateKey.generateP256()
        let ca = try Certificate.issue(commonName: "short CA", subjectKey: caKey, issuer: nil, issuerKey: caKey,
                                       notBefore: now.addingTimeInterval(-300), notAfter: now.addingTimeInterval(2), isCA: true)
        let leaf = try Certificate.issue(commonName: "wales", subjectKey: leafKey, issuer: ca, issuerKey: caKey,
                                         notBefore: now.addingTimeInterval(-300), notAfter: now.addingTimeInterval(86_400), isCA: false,
                                         alternativeNames: [.uri(FederationIdentity.node("wales").uri)])
        let dir = pki.root.appendingPathComponent("short").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (name, text) in [("ca.pem", try ca.pemRepresentation()), ("wales.pem", try leaf.pemRepresentation()), ("wales.key", try leafKey.pemRepresentation())] {
            try text.write(toFile: "\(dir)/\(name)", atomically: true, encoding: .utf8)
        }
        let client = try TLSContext(role: .client, certificateChain: "\(dir)/wales.pem", privateKey: "\(dir)/wales.key", trustRoots: pki.caCertificate)
        let server = try context(.server, "uk", ca: "\(dir)/ca.pem")
        let pair = try EmbeddedPair(client: client, server: server, clientPolicy: .node("uk"), serverPolicy: .nodes(["wales"]))
        pair.shuttle()
        #expect(pair.server.isActive, "\(pair.serverRecorder.errors)")
        Thread.sleep(forTimeInterval: 2.5)
        pair.server.embeddedEventLoop.advanceTime(by: .seconds(3))
        #expect(!pair.server.isActive, "open past the end of the CA that verified the peer")
        let error = try #require(pair.serverRecorder.errors.first as? TLSError)
        #expect(error.code == .peerIdentity && error.message.contains("expired"), "\(error)")
    }

    /// A context retired (the node's CA replaced at a reload) closes the connections whose
    /// peer's certificate it verified, on both sides, and any that completes a handshake later.
    @Test func retiringAContextClosesTheConnectionsItVerified() throws {
        defer { pki.remove() }
        let serverContext = try context(.server, "uk"), clientContext = try context(.client, "wales")
        let pair = try EmbeddedPair(client: clientContext, server: serverContext, clientPolicy: .node("uk"), serverPolicy: .nodes(["wales"]))
        pair.shuttle()
        #expect(pair.server.isActive && pair.client.isActive)
        #expect(serverContext.verifiedConnections == 1 && clientContext.verifiedConnections == 1)
        serverContext.retire(reason: "the CA was replaced")
        pair.server.embeddedEventLoop.run()
        #expect(!pair.server.isActive)
        let error = try #require(pair.serverRecorder.errors.first as? TLSError)
        #expect(error.code == .peerIdentity && error.message.contains("the CA was replaced"), "\(error)")
        #expect(serverContext.verifiedConnections == 0)
        // The client's side, verified by its own context: open until that is retired too.
        #expect(pair.client.isActive)
        clientContext.retire(reason: "the CA was replaced")
        pair.client.embeddedEventLoop.run()
        #expect(!pair.client.isActive && clientContext.verifiedConnections == 0)
        // A handshake completing on a retired context is closed at once.
        let late = try EmbeddedPair(client: try context(.client, "wales"), server: serverContext, clientPolicy: .node("uk"), serverPolicy: .nodes(["wales"]))
        late.shuttle()
        #expect(!late.server.isActive)
        #expect((late.serverRecorder.errors.first as? TLSError)?.message.contains("the CA was replaced") == true)
    }

    /// A server channel past the handshake with a client driven by hand (`TLSConnection`).
    func handshaken(_ server: EmbeddedChannel, _ handlers: [any ChannelHandler]) throws -> TLSConnection {
        try server.pipeline.syncOperations.addHandlers(handlers)
        try server.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let client = try TLSConnection(context: try context(.client, "wales"), serverName: "uk")
        for _ in 0..<10 {
            _ = client.handshake()
            if let out = client.takeCiphertext(allocator: server.allocator) { try server.writeInbound(out) }
            while var back = try server.readOutbound(as: ByteBuffer.self) { client.receive(&back) }
        }
        guard case .complete = client.handshake() else { throw TLSError(.handshakeFailed, "the test's handshake did not complete") }
        return client
    }

    /// A peer sending TLS 1.3 KeyUpdates (each a key derivation, two and an answer when it asks
    /// for one back; OpenSSL 3 sets no limit) is cut off after `keyUpdatesAllowed`, each handled
    /// on its own: a stream of them, all handled in one read, held the event loop for seconds.
    @Test(arguments: [true, false])
    func aPeerSendingKeyUpdatesIsCutOffAfterAFew(askingBack: Bool) throws {
        defer { pki.remove() }
        let server = EmbeddedChannel()
        let recorder = Recorder()
        let client = try handshaken(server, [try TLSHandler(context: try context(.server, "uk"), policy: .nodes(["wales"]), logger: Self.quietLogger), recorder])
        // One at a time: each taken, up to the limit.
        for _ in 0..<TLSConnection.keyUpdatesAllowed {
            #expect(client.requestKeyUpdate(askingBack: askingBack))
            if let out = client.takeCiphertext(allocator: server.allocator) { try server.writeInbound(out) }
        }
        #expect(server.isActive)
        // Answered, when asked for (OpenSSL writes the answer to one with the next record it
        // handles or writes: each but the last is answered by now).
        while var back = try server.readOutbound(as: ByteBuffer.self) { client.receive(&back) }
        var plaintext = ByteBufferAllocator().buffer(capacity: 16384)
        while case .handled = client.read(into: &plaintext) {}
        #expect(client.keyUpdatesReceived == (askingBack ? TLSConnection.keyUpdatesAllowed - 1 : 0))
        // One more: refused.
        #expect(client.requestKeyUpdate(askingBack: askingBack))
        if let out = client.takeCiphertext(allocator: server.allocator) { _ = try? server.writeInbound(out) }
        #expect(!server.isActive)
        let error = try #require(recorder.errors.first as? TLSError)
        #expect(error.code == .protocolError && "\(error)".contains("KeyUpdates"), "\(error)")
    }

    /// A peer asking for KeyUpdates and reading nothing: the answers wait unwritten, and past
    /// the bound on them (here 512 bytes, to come within the KeyUpdates allowed) the server reads
    /// no more until they drain.
    @Test func aPeerAskingForKeyUpdatesAndReadingNothingIsNotReadFurther() throws {
        defer { pki.remove() }
        let server = EmbeddedChannel()
        let held = HeldWrites()
        let handler = try TLSHandler(context: try context(.server, "uk"), policy: .nodes(["wales"]), logger: Self.quietLogger, maxAnswersPending: 512)
        let client = try handshaken(server, [held, handler])
        held.holding = true
        // As a socket does: a record comes in only after a read reached the channel.
        var sent = 0
        for _ in 0..<TLSConnection.keyUpdatesAllowed {
            let reads = held.reads
            server.pipeline.read()
            guard held.reads > reads else { break }
            #expect(client.requestKeyUpdate())
            if let out = client.takeCiphertext(allocator: server.allocator) { try server.writeInbound(out) }
            sent += 1
        }
        #expect(server.isActive)
        // Reads stopped once the answers held passed the bound (each is a record of a few dozen bytes).
        #expect(sent < TLSConnection.keyUpdatesAllowed, "reads never stopped: \(held.bytes) bytes of answers held")
        #expect(held.bytes > 512 && held.bytes < 512 + 128, "\(held.bytes)")
        // They drain: reading goes on.
        let before = held.reads
        held.release()
        server.embeddedEventLoop.run()
        #expect(held.reads > before)
    }

    /// Many KeyUpdates arriving in one read (as a flood sends them) are handled one by one and
    /// the connection ends after the limit: the rest are never handled (answered, when asked
    /// for, no more than the limit and the one refused).
    @Test func keyUpdatesArrivingTogetherAreHandledOnlyUpToTheLimit() throws {
        defer { pki.remove() }
        let server = EmbeddedChannel()
        let recorder = Recorder()
        let client = try handshaken(server, [try TLSHandler(context: try context(.server, "uk"), policy: .nodes(["wales"]), logger: Self.quietLogger), recorder])
        for _ in 0..<1_000 { #expect(client.requestKeyUpdate()) }
        let flood = try #require(client.takeCiphertext(allocator: server.allocator))
        _ = try? server.writeInbound(flood)
        #expect(!server.isActive)
        while var back = try server.readOutbound(as: ByteBuffer.self) { client.receive(&back) }
        var plaintext = ByteBufferAllocator().buffer(capacity: 16384)
        while case .handled = client.read(into: &plaintext) {}
        #expect(client.keyUpdatesReceived <= TLSConnection.keyUpdatesAllowed + 1, "\(client.keyUpdatesReceived) answered")
    }

    /// Data between KeyUpdates earns one more per MiB (an honest peer may update its keys once
    /// per many GB); the data is passed up as ever.
    @Test func eachMiBOfDataAllowsOneMoreKeyUpdate() throws {
        defer { pki.remove() }
        let server = EmbeddedChannel()
        let recorder = Recorder()
        let client = try handshaken(server, [try TLSHandler(context: try context(.server, "uk"), policy: .nodes(["wales"]), logger: Self.quietLogger), recorder])
        for _ in 0..<TLSConnection.keyUpdatesAllowed { #expect(client.requestKeyUpdate(askingBack: false)) }
        #expect(client.write(ByteBuffer(repeating: 7, count: (1 << 20) + 1)) == nil)
        #expect(client.requestKeyUpdate(askingBack: false))
        while let out = client.takeCiphertext(allocator: server.allocator) { try server.writeInbound(out) }
        #expect(server.isActive)
        #expect(recorder.received.readableBytes == (1 << 20) + 1)
        #expect(client.requestKeyUpdate(askingBack: false))
        if let out = client.takeCiphertext(allocator: server.allocator) { _ = try? server.writeInbound(out) }
        #expect(!server.isActive)
    }

    @Test func garbageIsCutOff() throws {
        defer { pki.remove() }
        let logger = Self.quietLogger
        let server = EmbeddedChannel()
        let recorder = Recorder()
        try server.pipeline.syncOperations.addHandlers([try TLSHandler(context: try context(.server, "uk"), logger: logger), recorder])
        try server.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        _ = try? server.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: uk\r\n\r\n"))
        #expect(!server.isActive)
        #expect((recorder.errors.first as? TLSError)?.code == .handshakeFailed)
    }

    @Test func aStalledHandshakeTimesOut() throws {
        defer { pki.remove() }
        let logger = Self.quietLogger
        let server = EmbeddedChannel()
        let recorder = Recorder()
        try server.pipeline.syncOperations.addHandlers([try TLSHandler(context: try context(.server, "uk"), handshakeTimeout: .seconds(5), logger: logger), recorder])
        try server.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        server.embeddedEventLoop.advanceTime(by: .seconds(4))
        #expect(server.isActive)
        server.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!server.isActive)
        #expect((recorder.errors.first as? TLSError)?.code == .handshakeTimeout)
    }

    @Test func badConfigurationNamesTheFile() throws {
        defer { pki.remove() }
        let files = try pki.node("uk")
        let error = #expect(throws: TLSError.self) {
            try TLSContext(role: .server, certificateChain: files.certificate, privateKey: "/nonexistent.key", trustRoots: pki.caCertificate)
        }
        #expect(error?.code == .configuration && error?.message.contains("/nonexistent.key") == true)
        let other = try pki.node("wales")
        let mismatch = #expect(throws: TLSError.self) {
            try TLSContext(role: .server, certificateChain: files.certificate, privateKey: other.key, trustRoots: pki.caCertificate)
        }
        #expect(mismatch?.description.contains("mismatch") == true || mismatch?.message.contains("does not match") == true, "\(String(describing: mismatch))")
    }
}

/// Sits at the head of a pipeline: while `holding`, takes writes and keeps them unwritten (a peer
/// that reads nothing); counts the reads that reach it.
final class HeldWrites: ChannelOutboundHandler, @unchecked Sendable {
    typealias OutboundIn = ByteBuffer
    var holding = false
    var reads = 0
    var bytes = 0
    private var promises: [EventLoopPromise<Void>] = []

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard holding else { return context.write(data, promise: promise) }
        bytes += unwrapOutboundIn(data).readableBytes
        if let promise { promises.append(promise) }
    }

    func read(context: ChannelHandlerContext) {
        reads += 1
        context.read()
    }

    func release() {
        let waiting = promises
        promises = []
        bytes = 0
        for promise in waiting { promise.succeed() }
    }
}
