import Foundation
import HTTPTypes
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOHTTPTypes
@testable import QuartetNode
import QuartetTestKit
import Testing

/// The API connection's deadlines, on an embedded channel with a virtual clock: a client that
/// takes none of a response (the connection stays unwritable) is closed after the write-stall
/// timeout, and one that drains in time is kept.
@Suite struct RequestDeadlineTests {
    func connection(_ limits: ConnectionLimits) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(RequestDeadlineHandler(limits: limits))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        // A request read whole: the node works on it (no request deadline meanwhile).
        try channel.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .get, scheme: "https", authority: "node", path: "/healthz")))
        try channel.writeInbound(HTTPRequestPart.end(nil))
        return channel
    }

    /// The client stops taking what the connection sends.
    func stall(_ channel: EmbeddedChannel) {
        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
    }

    /// And takes it again.
    func drain(_ channel: EmbeddedChannel) {
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
    }

    /// Still open `open` seconds from now, closed `closed` seconds from now.
    func expectOpen(_ channel: EmbeddedChannel, for open: Int64, closedBy closed: Int64, _ what: String,
                    sourceLocation: SourceLocation = #_sourceLocation) {
        channel.embeddedEventLoop.advanceTime(by: .seconds(open))
        #expect(channel.isActive, "closed too soon: \(what)", sourceLocation: sourceLocation)
        channel.embeddedEventLoop.advanceTime(by: .seconds(closed - open))
        #expect(!channel.isActive, "still open: \(what)", sourceLocation: sourceLocation)
    }

    /// Thirty seconds' limits.
    var limits: ConnectionLimits {
        var limits = ConnectionLimits()
        limits.writeStallTimeout = .seconds(30)
        return limits
    }

    /// A request answered before its body was read (the access check's 401, a 404) and its
    /// body sent after the answer: nothing was under way and no deadline was armed, so the
    /// connection was held for ever with no traffic (finding 208). It is idle from the body's
    /// end; one past its age is closed then.
    @Test func aRequestAnsweredBeforeItsBodyEndsLeavesTheConnectionIdleNotUnlimited() throws {
        var limits = self.limits
        limits.idleTimeout = .seconds(30)
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(RequestDeadlineHandler(limits: limits))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .post, scheme: "https", authority: "node", path: "/v1/logs/uk/entries")))
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .unauthorized)))
        try channel.writeOutbound(HTTPResponsePart.end(nil))
        channel.embeddedEventLoop.advanceTime(by: .seconds(5))
        try channel.writeInbound(HTTPRequestPart.body(ByteBuffer(string: "{}")))
        try channel.writeInbound(HTTPRequestPart.end(nil))
        expectOpen(channel, for: 29, closedBy: 31, "idle 30 s after a body read past its answer")

        // The same past the connection's age: closed when the body ends.
        limits.maxConnectionAge = .seconds(60)
        limits.requestTimeout = .seconds(120)
        let old = EmbeddedChannel()
        try old.pipeline.syncOperations.addHandler(RequestDeadlineHandler(limits: limits))
        try old.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try old.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .post, scheme: "https", authority: "node", path: "/v1/logs/uk/entries")))
        old.embeddedEventLoop.advanceTime(by: .seconds(50))
        try old.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .unauthorized)))
        try old.writeOutbound(HTTPResponsePart.end(nil))
        old.embeddedEventLoop.advanceTime(by: .seconds(11))
        #expect(old.isActive)
        try old.writeInbound(HTTPRequestPart.end(nil))
        #expect(!old.isActive, "a connection past its age stayed open after its request's end")
    }

    /// Counts the reads asked for below the handler (toward the socket).
    final class ReadCounter: ChannelOutboundHandler, @unchecked Sendable {
        typealias OutboundIn = Any
        var reads = 0
        func read(context: ChannelHandlerContext) {
            reads += 1
            context.read()
        }
    }

    /// A request asking for an upgrade, or a CONNECT (finding 302): answered with `Connection:
    /// close`, nothing read after it, the connection closed once the answer is written — after
    /// the answers of requests pipelined before it. A plain request keeps the connection and
    /// reads on, and so does a 413 answered while the body still comes.
    @Test func anUpgradeRequestIsTheConnectionsLastAndNothingIsReadAfterIt() throws {
        func open() throws -> (EmbeddedChannel, ReadCounter) {
            let counter = ReadCounter()
            return (try EmbeddedChannel.connected([counter, RequestDeadlineHandler(limits: limits)]), counter)
        }
        func head(_ channel: EmbeddedChannel) throws -> HTTPResponse? {
            while let part = try channel.readOutbound(as: HTTPResponsePart.self) {
                if case .head(let response) = part { return response }
            }
            return nil
        }
        // Plain: reads go on, no close.
        var (channel, counter) = try open()
        try channel.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .get, scheme: "https", authority: "node", path: "/healthz")))
        try channel.writeInbound(HTTPRequestPart.end(nil))
        channel.read()
        #expect(counter.reads == 1)
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        try channel.writeOutbound(HTTPResponsePart.end(nil))
        #expect(try head(channel)?.headerFields[.connection] == nil)
        #expect(channel.isActive)

        for request in [HTTPRequest(method: .get, scheme: "https", authority: "node", path: "/healthz", headerFields: [.upgrade: "h2c", .connection: "Upgrade"]),
                        HTTPRequest(method: .connect, scheme: nil, authority: "x:1", path: nil)] {
            (channel, counter) = try open()
            // One request before it, pipelined, still under way.
            try channel.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .get, scheme: "https", authority: "node", path: "/healthz")))
            try channel.writeInbound(HTTPRequestPart.end(nil))
            try channel.writeInbound(HTTPRequestPart.head(request))
            channel.read()
            #expect(counter.reads == 1, "its body is still read")
            try channel.writeInbound(HTTPRequestPart.end(nil))
            channel.read()
            #expect(counter.reads == 1, "read on after \(request.method)")
            // The first answer keeps the connection; the second is its last.
            try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
            try channel.writeOutbound(HTTPResponsePart.end(nil))
            #expect(try head(channel)?.headerFields[.connection] == nil)
            #expect(channel.isActive)
            try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .notFound)))
            #expect(try head(channel)?.headerFields[.connection] == "close")
            try channel.writeOutbound(HTTPResponsePart.end(nil))
            #expect(!channel.isActive, "\(request.method): still open after its answer")
        }

        // A route's own `Connection: close` while the body still comes (a body too large): not
        // closed while it comes (a close with the upload unread would reset the connection,
        // the 413 lost); what comes is dropped, and the connection closes at the body's end,
        // as the answer said (review of finding 327).
        (channel, counter) = try open()
        let passed = Passed()
        try channel.pipeline.syncOperations.addHandler(passed)
        try channel.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .post, scheme: "https", authority: "node", path: "/v1/logs/uk/entries")))
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .contentTooLarge, headerFields: [.connection: "close"])))
        try channel.writeOutbound(HTTPResponsePart.end(nil))
        #expect(channel.isActive, "closed while the client was still uploading")
        try channel.writeInbound(HTTPRequestPart.body(ByteBuffer(string: "more")))
        #expect(channel.isActive)
        try channel.writeInbound(HTTPRequestPart.end(nil))
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive, "left open after an answer that said close")
        #expect(passed.parts == ["head /v1/logs/uk/entries"], "\(passed.parts)")
    }

    /// What the handler passes on to the responder.
    final class Passed: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPRequestPart
        var parts: [String] = []
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): parts.append("head \(head.path ?? "")")
            case .body: parts.append("body")
            case .end: parts.append("end")
            }
        }
    }

    /// Requests read after the connection's last one (a request asking to close in any case
    /// or list form, an `Upgrade` without `Connection: upgrade`, or read while the connection's
    /// age closed it) were passed on: Hummingbird ran them (an append committed) and the close
    /// lost their answers. They are dropped, body and all, and nothing more is read. And once
    /// an answered request's body has been drained to its end, nothing more is read either,
    /// even while the answer waits for a client that takes none of it (an `Upgrade` sent after
    /// the body would otherwise have its every later byte kept).
    @Test func nothingReadAfterTheLastRequestIsRunAndADrainStopsAtTheBodysEnd() throws {
        var limits = self.limits
        limits.maxConnectionAge = .seconds(60)
        func open() throws -> (EmbeddedChannel, ReadCounter, Passed) {
            let channel = EmbeddedChannel()
            let counter = ReadCounter(), passed = Passed()
            try channel.pipeline.syncOperations.addHandler(counter)
            try channel.pipeline.syncOperations.addHandler(RequestDeadlineHandler(limits: limits))
            try channel.pipeline.syncOperations.addHandler(passed)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            return (channel, counter, passed)
        }
        let append = HTTPRequest(method: .post, scheme: "https", authority: "node", path: "/v1/logs/uk/entries")
        for fields: HTTPFields in [[.connection: "Close"], [.connection: "keep-alive, close"], [.upgrade: "h2c"]] {
            let (channel, counter, passed) = try open()
            try channel.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .get, scheme: "https", authority: "node", path: "/healthz", headerFields: fields)))
            try channel.writeInbound(HTTPRequestPart.end(nil))
            try channel.writeInbound(HTTPRequestPart.head(append))
            try channel.writeInbound(HTTPRequestPart.body(ByteBuffer(string: "{}")))
            try channel.writeInbound(HTTPRequestPart.end(nil))
            channel.read()
            #expect(passed.parts == ["head /healthz", "end"], "\(fields): \(passed.parts)")
            #expect(counter.reads == 0, "\(fields): read on after the last request")
            try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
            try channel.writeOutbound(HTTPResponsePart.end(nil))
            #expect(!channel.isActive, "\(fields): open after the last answer")
        }

        // Past its age: the answer under way is the last; a request whose read was asked for
        // before (it arrives after the answer's head) is not run.
        var (channel, counter, passed) = try open()
        try channel.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .get, scheme: "https", authority: "node", path: "/v1/view")))
        try channel.writeInbound(HTTPRequestPart.end(nil))
        channel.embeddedEventLoop.advanceTime(by: .seconds(61))
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        try channel.writeInbound(HTTPRequestPart.head(append))
        try channel.writeInbound(HTTPRequestPart.end(nil))
        #expect(passed.parts == ["head /v1/view", "end"], "\(passed.parts)")
        try channel.writeOutbound(HTTPResponsePart.end(nil))
        #expect(!channel.isActive)

        // Answered while its body comes, the answer not yet on the socket: the body is read to
        // its end and dropped, then nothing more is read — not a pipelined request after it,
        // not another read asked for — and the connection closes once the answer is written.
        (channel, counter, passed) = try open()
        try channel.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .get, scheme: "https", authority: "node", path: "/assets/verify.js",
                                                                  headerFields: [.connection: "close"])))
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        channel.write(HTTPResponsePart.end(nil), promise: nil)
        try channel.writeInbound(HTTPRequestPart.body(ByteBuffer(string: "x")))
        let reads = counter.reads
        channel.pipeline.fireChannelReadComplete()
        #expect(counter.reads == reads + 1, "the body is not drained")
        try channel.writeInbound(HTTPRequestPart.end(nil))
        try channel.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .get, scheme: "https", authority: "node", path: "/", headerFields: [.upgrade: "x"])))
        channel.pipeline.fireChannelReadComplete()
        channel.read()
        #expect(counter.reads == reads + 1, "read on after the drained body's end")
        #expect(passed.parts == ["head /assets/verify.js"], "\(passed.parts)")
        #expect(channel.isActive, "closed before the answer was written")
        channel.flush()
        #expect(!channel.isActive, "open after the answer was written")
    }

    /// Input refused by the parser after the connection's last request (here one asking to
    /// close), or in a request dropped behind it, is not answered: the connection closes after
    /// the answers under way (finding 333; refused in JSON after them, the 400 went out on the
    /// closing connection, misframed behind a dropped `HEAD`). Before the last request, or in
    /// its own body, the refusal is passed on to be answered.
    @Test func inputRefusedAfterTheLastRequestIsNotAnswered() throws {
        func open() throws -> EmbeddedChannel {
            try EmbeddedChannel.connected([RequestDeadlineHandler(limits: limits)])
        }
        let closing = try open()
        try closing.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .get, scheme: "https", authority: "node", path: "/healthz", headerFields: [.connection: "close"])))
        try closing.writeInbound(HTTPRequestPart.end(nil))
        try closing.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .head, scheme: "https", authority: "node", path: "/healthz")))
        closing.pipeline.fireErrorCaught(HTTPParserError.invalidMethod)
        closing.pipeline.fireErrorCaught(HTTPVersionRules.Refused(message: "no Host"))
        #expect(throws: Never.self) { try closing.throwIfErrorCaught() }
        // The last request's own body refused: passed on (the route answers it).
        let body = try open()
        try body.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .post, scheme: "https", authority: "node", path: "/v1/logs/uk/entries", headerFields: [.connection: "close"])))
        body.pipeline.fireErrorCaught(HTTPParserError.invalidChunkSize)
        #expect(throws: HTTPParserError.invalidChunkSize) { try body.throwIfErrorCaught() }
        // Behind a request that keeps the connection: passed on.
        let plain = try open()
        try plain.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .get, scheme: "https", authority: "node", path: "/healthz")))
        try plain.writeInbound(HTTPRequestPart.end(nil))
        plain.pipeline.fireErrorCaught(HTTPParserError.invalidMethod)
        #expect(throws: HTTPParserError.invalidMethod) { try plain.throwIfErrorCaught() }
    }

    /// A client pipelining requests and reading none of the answers (finding 332): reads stop
    /// while 8 are unanswered and go on as they are answered; the 32nd unanswered is the
    /// connection's last (its answer says so), and what was read behind it is neither run nor
    /// answered. Thousands were each run and answered into memory.
    @Test func pipelinedRequestsAreReadAheadOnlySoFarAndTheLimitsOneIsTheLast() throws {
        let counter = ReadCounter(), passed = Passed()
        let channel = try EmbeddedChannel.connected([counter, RequestDeadlineHandler(limits: limits), passed])
        func request(_ n: Int) throws {
            try channel.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .get, scheme: "https", authority: "node", path: "/\(n)")))
            try channel.writeInbound(HTTPRequestPart.end(nil))
        }
        func answer() throws -> HTTPResponse? {
            try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .notFound)))
            try channel.writeOutbound(HTTPResponsePart.end(nil))
            var head: HTTPResponse?
            while let part = try channel.readOutbound(as: HTTPResponsePart.self) {
                if case .head(let response) = part { head = response }
            }
            return head
        }
        for n in 1...7 { try request(n) }
        channel.read()
        #expect(counter.reads == 1, "read stopped with 7 unanswered")
        try request(8)
        channel.read()
        #expect(counter.reads == 1, "read on with 8 unanswered")
        // A body under way is read all the same.
        try channel.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .post, scheme: "https", authority: "node", path: "/9")))
        channel.read()
        #expect(counter.reads == 2, "the body of a request under way was not read")
        try channel.writeInbound(HTTPRequestPart.end(nil))
        channel.read()
        #expect(counter.reads == 2)
        // Answered down to 8: the read withheld is asked for.
        #expect(try answer()?.headerFields[.connection] == nil)
        #expect(counter.reads == 2, "read with 8 still unanswered")
        #expect(try answer()?.headerFields[.connection] == nil)
        #expect(counter.reads == 3, "the withheld read was never asked for")
        // What one read brought is decoded whole: the 32nd unanswered (two answered) is the last.
        for n in 10...40 { try request(n) }
        #expect(passed.parts.filter { $0.hasPrefix("head") }.count == 34, "\(passed.parts.count)")
        #expect(!passed.parts.contains("head /35"), "a request past the limit was run")
        channel.read()
        #expect(counter.reads == 3, "read on past the last request")
        for _ in 1...31 {
            #expect(try answer()?.headerFields[.connection] == nil)
            #expect(channel.isActive)
        }
        #expect(try answer()?.headerFields[.connection] == "close", "the limit's answer does not say it is the last")
        #expect(!channel.isActive, "open after the limit's answer")
    }

    /// A connection on a port whose shared slots are full (one, held by another connection):
    /// provisional, its handshake done, awaiting its first request's credentials.
    func provisionalConnection() throws -> (EmbeddedChannel, ConnectionCap.Counter) {
        let counter = ConnectionCap.Counter(limit: 1, perAddress: 1, reserve: 2, reservePerAddress: 2, reservePerIdentity: 2,
                                            credentialPool: 2, credentialPerIdentity: 2, keepsReserve: { _ in true })
        let shared = EmbeddedChannel(), channel = EmbeddedChannel()
        for connection in [shared, channel] {
            _ = try connection.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            #expect(counter.enter(connection))
        }
        #expect(counter.handshakeCompleted(channel, peer: nil))
        try channel.pipeline.syncOperations.addHandler(RequestDeadlineHandler(limits: limits, slots: counter))
        return (channel, counter)
    }

    /// A provisional connection whose first request brought no credentials is closed after
    /// its answer; the answer now says so (`Connection: close`), as every other last one does.
    @Test func aProvisionalConnectionsLastAnswerSaysItCloses() throws {
        let (channel, counter) = try provisionalConnection()
        try channel.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .get, scheme: "https", authority: "node", path: "/v1/view")))
        try channel.writeInbound(HTTPRequestPart.end(nil))
        #expect(!counter.request(on: ObjectIdentifier(channel), credential: nil), "a first request without credentials keeps the connection")
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .unauthorized)))
        var said: String?
        while let part = try channel.readOutbound(as: HTTPResponsePart.self) {
            if case .head(let response) = part { said = response.headerFields[.connection] }
        }
        #expect(said == "close")
        try channel.writeOutbound(HTTPResponsePart.end(nil))
        #expect(!channel.isActive)
    }

    /// A connection whose writes `HeldWrites` holds until the client takes them, with a
    /// request read whole (the node works on it).
    func heldConnection() throws -> (EmbeddedChannel, HeldWrites) {
        let held = HeldWrites()
        let channel = try EmbeddedChannel.connected([held, RequestDeadlineHandler(limits: limits)])
        try channel.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .get, scheme: "https", authority: "node", path: "/v1/logs/uk/entries")))
        try channel.writeInbound(HTTPRequestPart.end(nil))
        return (channel, held)
    }

    /// Writes an answer of `parts` 64 KiB parts and its end, then the flush (after which the
    /// connection is unwritable if `stalled`, as answers are written), and has the client take the head, then a part every `seconds` (the end is
    /// left held): the connection stays open throughout.
    func answerTakenSlowly(_ channel: EmbeddedChannel, _ held: HeldWrites, parts: Int, every seconds: Int64, stalled: Bool = false,
                           sourceLocation: SourceLocation = #_sourceLocation) {
        channel.write(HTTPResponsePart.head(HTTPResponse(status: .ok)), promise: nil)
        channel.write(HTTPResponsePart.body(ByteBuffer(repeating: 7, count: parts * RequestDeadlineHandler.progressChunk)), promise: nil)
        channel.writeAndFlush(HTTPResponsePart.end(nil), promise: nil)
        // As the flush makes it: the end passed the handler while the connection was writable.
        if stalled { stall(channel) }
        held.takeOne()  // the head
        for part in 0..<parts {
            channel.embeddedEventLoop.advanceTime(by: .seconds(seconds))
            #expect(channel.isActive, "cut while part \(part) was being taken", sourceLocation: sourceLocation)
            held.takeOne()
        }
    }

    /// The connection's last answer (a client that asks to close, as Python's urllib does on
    /// every request) is closed 10 s after it is written only if the client takes nothing: each
    /// part it takes moves that on, so a slow reader of a large page gets all of it (it was cut
    /// 10 s after the answer was written, whatever it took).
    @Test func theLastAnswerTakenSlowlyIsNotCutWhileItMoves() throws {
        let channel = EmbeddedChannel()
        let held = HeldWrites()
        try channel.pipeline.syncOperations.addHandler(held)
        try channel.pipeline.syncOperations.addHandler(RequestDeadlineHandler(limits: limits))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .get, scheme: "https", authority: "node", path: "/v1/logs/uk/entries",
                                                                  headerFields: [.connection: "close"])))
        try channel.writeInbound(HTTPRequestPart.end(nil))
        answerTakenSlowly(channel, held, parts: 3, every: 8)
        channel.embeddedEventLoop.advanceTime(by: .seconds(8))
        #expect(channel.isActive)
        held.takeOne()  // the end: on the socket, closed
        #expect(!channel.isActive)

        // One that takes nothing of it is closed all the same.
        let stuck = EmbeddedChannel(), stuckWrites = HeldWrites()
        defer { stuckWrites.dropAll() }
        try stuck.pipeline.syncOperations.addHandler(stuckWrites)
        try stuck.pipeline.syncOperations.addHandler(RequestDeadlineHandler(limits: limits))
        try stuck.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try stuck.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .get, scheme: "https", authority: "node", path: "/", headerFields: [.connection: "close"])))
        try stuck.writeInbound(HTTPRequestPart.end(nil))
        stuck.write(HTTPResponsePart.head(HTTPResponse(status: .ok)), promise: nil)
        stuck.write(HTTPResponsePart.body(ByteBuffer(repeating: 7, count: 2 * RequestDeadlineHandler.progressChunk)), promise: nil)
        stuck.writeAndFlush(HTTPResponsePart.end(nil), promise: nil)
        stuck.embeddedEventLoop.advanceTime(by: .seconds(11))
        #expect(!stuck.isActive, "a client taking nothing of the last answer was kept")
    }

    /// A provisional connection's requests already read when it is told to close (pipelined
    /// behind the first) are answered before it closes, the last answer saying so; they were
    /// run and their answers lost in the close.
    @Test func aProvisionalConnectionAnswersWhatItHadReadBeforeClosing() throws {
        let (channel, counter) = try provisionalConnection()
        for _ in 0..<2 {
            try channel.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .get, scheme: "https", authority: "node", path: "/v1/view")))
            try channel.writeInbound(HTTPRequestPart.end(nil))
        }
        #expect(!counter.request(on: ObjectIdentifier(channel), credential: nil))
        var said: [String?] = []
        for _ in 0..<2 {
            try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .unauthorized)))
            while let part = try channel.readOutbound(as: HTTPResponsePart.self) {
                if case .head(let response) = part { said.append(response.headerFields[.connection]) }
            }
            try channel.writeOutbound(HTTPResponsePart.end(nil))
            if said.count == 1 { #expect(channel.isActive, "closed after the first answer with a second request read and not answered") }
        }
        #expect(said == [nil, "close"])
        #expect(!channel.isActive)
    }

    /// Past its age a connection closes after an answer that says so (`Connection: close` in its
    /// head), never after one that promised to keep it (a long answer that crossed the age: the
    /// next answer says it, a client or proxy reusing the connection is not cut mid-request).
    @Test func aConnectionPastItsAgeClosesOnlyAfterAnAnswerThatSaysSo() throws {
        var limits = self.limits
        limits.maxConnectionAge = .seconds(60)
        limits.requestTimeout = .seconds(120)
        limits.idleTimeout = .seconds(30)
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(RequestDeadlineHandler(limits: limits))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        func answer(after seconds: Int64) throws -> String? {
            try channel.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .get, scheme: "https", authority: "node", path: "/v1/view")))
            try channel.writeInbound(HTTPRequestPart.end(nil))
            try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
            channel.embeddedEventLoop.advanceTime(by: .seconds(seconds))
            try channel.writeOutbound(HTTPResponsePart.end(nil))
            var said: String?
            while let part = try channel.readOutbound(as: HTTPResponsePart.self) {
                if case .head(let response) = part { said = response.headerFields[.connection] }
            }
            return said
        }
        // Its head written at once, its end at 70 s: kept (it said nothing of a close).
        #expect(try answer(after: 70) == nil)
        #expect(channel.isActive, "closed after an answer that did not say so")
        // The next answer says it, and the connection closes after it.
        #expect(try answer(after: 0) == "close")
        #expect(!channel.isActive)

        // A client keeping two requests pipelined past the age (a new one sent after each
        // answer): the first answer keeps the connection, the second says close and ends it
        // (was: never closed, one request always under way).
        let piped = EmbeddedChannel()
        try piped.pipeline.syncOperations.addHandler(RequestDeadlineHandler(limits: limits))
        try piped.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        func request() throws {
            try piped.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .get, scheme: "https", authority: "node", path: "/v1/view")))
            try piped.writeInbound(HTTPRequestPart.end(nil))
        }
        try request()
        try request()
        piped.embeddedEventLoop.advanceTime(by: .seconds(61))
        var heads: [String?] = []
        for _ in 0..<2 where piped.isActive {
            try piped.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
            try piped.writeOutbound(HTTPResponsePart.end(nil))
            while let part = try piped.readOutbound(as: HTTPResponsePart.self) {
                if case .head(let response) = part { heads.append(response.headerFields[.connection]) }
            }
            if heads.count == 1 {
                #expect(piped.isActive, "closed with a pipelined request unanswered")
                try request()
            }
        }
        #expect(heads == [nil, "close"])
        #expect(!piped.isActive)

        // A request that asks to close: its answer says so and ends the connection; what was
        // pipelined after it is not answered (Hummingbird never does) and held nothing open.
        let closing = EmbeddedChannel()
        try closing.pipeline.syncOperations.addHandler(RequestDeadlineHandler(limits: limits))
        try closing.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try closing.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .get, scheme: "https", authority: "node", path: "/v1/view", headerFields: [.connection: "close"])))
        try closing.writeInbound(HTTPRequestPart.end(nil))
        try closing.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .get, scheme: "https", authority: "node", path: "/v1/logs")))
        try closing.writeInbound(HTTPRequestPart.end(nil))
        try closing.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        try closing.writeOutbound(HTTPResponsePart.end(nil))
        #expect(!closing.isActive, "a connection whose request asked to close stayed open behind a pipelined request")

        // Answered (a 401, a 413) while the body of a request asking to close still comes: not
        // closed under the upload (the reset would lose the answer), closed when it ends.
        let uploading = EmbeddedChannel()
        try uploading.pipeline.syncOperations.addHandler(RequestDeadlineHandler(limits: limits))
        try uploading.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try uploading.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .post, scheme: "https", authority: "node", path: "/v1/logs/uk/entries",
                                                                     headerFields: [.connection: "keep-alive, close"])))
        try uploading.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .unauthorized)))
        try uploading.writeOutbound(HTTPResponsePart.end(nil))
        #expect(uploading.isActive, "closed while the request's body still came")
        try uploading.writeInbound(HTTPRequestPart.body(ByteBuffer(string: "{}")))
        try uploading.writeInbound(HTTPRequestPart.end(nil))
        #expect(!uploading.isActive, "not closed once the body ended")
        // `close` is a token of the field, not a substring.
        #expect(RequestDeadlineHandler.asksToClose("keep-alive, Close") && !RequestDeadlineHandler.asksToClose("closed") && !RequestDeadlineHandler.asksToClose(nil))

        // A route's own `Connection: close` once the request was read whole: closed after it.
        let asked = EmbeddedChannel()
        try asked.pipeline.syncOperations.addHandler(RequestDeadlineHandler(limits: limits))
        try asked.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try asked.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .post, scheme: "https", authority: "node", path: "/v1/logs/uk/entries")))
        try asked.writeInbound(HTTPRequestPart.end(nil))
        try asked.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .badRequest, headerFields: [.connection: "close"])))
        try asked.writeOutbound(HTTPResponsePart.end(nil))
        #expect(!asked.isActive)
    }

    @Test func aClientThatTakesNoneOfAResponseIsClosedAfterTheWriteStallTimeout() throws {
        let channel = try connection(limits)
        stall(channel)
        expectOpen(channel, for: 29, closedBy: 31, "a connection that takes nothing, closed at the write-stall timeout")
    }

    /// A slow reader of a large page: the connection stays unwritable for longer than the
    /// timeout, but each 64 KiB part that reaches the socket moves the deadline on.
    @Test func aSlowReaderThatKeepsTakingALargeResponseIsKept() throws {
        let channel = try connection(limits)
        stall(channel)
        var page = ByteBuffer()
        page.writeRepeatingByte(1, count: 1 << 20)
        channel.write(HTTPResponsePart.body(page), promise: nil)
        // EmbeddedChannel completes the writes at its flush: the parts reach the "socket" at 20 s.
        channel.embeddedEventLoop.advanceTime(by: .seconds(20))
        channel.flush()
        channel.embeddedEventLoop.advanceTime(by: .seconds(20))
        #expect(channel.isActive, "a reader taking the response slowly was cut")
        var parts = 0
        while let part = try channel.readOutbound(as: HTTPResponsePart.self) {
            if case .body(let b) = part { parts += 1; #expect(b.readableBytes <= 64 << 10) }
        }
        #expect(parts == 16)
        channel.embeddedEventLoop.advanceTime(by: .seconds(11))
        #expect(!channel.isActive, "nothing more taken for 31 s: closed")
    }

    /// A reader that takes a 64 KiB part every 25 s (2.6 KiB/s) makes progress within every
    /// write-stall timeout, yet is closed: each part earns it 4 s at 16 KiB/s, not 30.
    @Test func aReaderTricklingSlowerThanTheMinimumRateIsClosed() throws {
        let channel = try connection(limits)
        stall(channel)
        var part = ByteBuffer()
        part.writeRepeatingByte(1, count: 64 << 10)
        for _ in 0..<3 { channel.write(HTTPResponsePart.body(part), promise: nil) }
        channel.embeddedEventLoop.advanceTime(by: .seconds(25))
        channel.flush()  // the first parts reach the socket at 25 s: deadline 30 s + 3 × 4 s
        #expect(channel.isActive)
        expectOpen(channel, for: 16, closedBy: 18, "a reader taking 192 KiB in 43 s (under 16 KiB/s), closed at the time its parts earned")
    }

    /// Pipelined answers taken at a trickle (finding 332): each dip under the low-water mark
    /// lets the next answer be written, and each flip back to writable restarted the 30 s, so
    /// a client taking 64 KiB every 25 s was never cut (still open after 1,100 s). A stall
    /// after a flip goes on from the last one's deadline, moved on by what the flip shows was
    /// taken (32 KiB: 2 s); one after its deadline has passed starts afresh.
    @Test func aStallAfterAFlipToWritableGoesOnFromTheLastStallsDeadline() throws {
        let channel = try connection(limits)
        stall(channel)  // 0 s: due at 30
        for _ in 0..<5 {
            channel.embeddedEventLoop.advanceTime(by: .seconds(6))
            drain(channel)  // the client took a little: due 2 s later
            stall(channel)  // the next answer written
        }
        // 30 + 5 × 2 = 40 s, not 30 s after the last flip (60).
        expectOpen(channel, for: 9, closedBy: 11, "a client taking 32 KiB every 6 s (5 KiB/s), closed at the 40 s the flips earned")
    }

    /// The flip's credit is what lies between the water marks less what the watched parts
    /// already counted; time writable between stalls is not charged; a stall after the carried
    /// deadline passed starts afresh.
    @Test func aFlipCreditsOnlyWhatThePartsDidNotAndAPassedCarryStartsAfresh() throws {
        let channel = try connection(limits)
        stall(channel)  // 0 s: due at 30
        var part = ByteBuffer()
        part.writeRepeatingByte(1, count: 32 << 10)
        channel.write(HTTPResponsePart.body(part), promise: nil)  // watched (written while stalled)
        channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        channel.flush()  // taken at 10 s: 32 KiB, 2 s: due at 32
        drain(channel)  // nothing more than the part counted: no further credit; 22 s left
        channel.embeddedEventLoop.advanceTime(by: .seconds(5))  // writable 5 s, not charged
        stall(channel)  // 15 s: due at 37
        expectOpen(channel, for: 21, closedBy: 23, "due at 37: not charged for the time writable, the part not counted twice")
        // Past the carried deadline: afresh.
        let later = try connection(limits)
        stall(later)
        later.embeddedEventLoop.advanceTime(by: .seconds(20))
        drain(later)  // 20 s: due 32, 12 s left
        later.embeddedEventLoop.advanceTime(by: .seconds(13))  // 33 s: the carry has passed
        stall(later)
        expectOpen(later, for: 29, closedBy: 31, "a stall after the carry passed starts afresh")
    }

    /// A large answer still queued when its end is written (the client taking it at the
    /// minimum rate): the idle timeout counts from when the end is on the socket, not from
    /// when it was queued (finding 334: a page taken at 16 KiB/s was cut 30 s after its end was
    /// queued; finding 335: in the order answers are written — head, body and end, then the
    /// flush that makes the connection unwritable — the 334 mend looked at the writability as
    /// the end passed and never ran).
    @Test func theIdleTimeoutCountsFromWhenTheLastAnswerIsOnTheSocket() throws {
        let (channel, held) = try heldConnection()
        defer { held.dropAll() }
        // The client takes it at 16 KiB/s: a 64 KiB part every 4 s.
        answerTakenSlowly(channel, held, parts: 16, every: 4, stalled: true)
        drain(channel)
        held.takeOne()  // the end, on the socket at 64 s
        expectOpen(channel, for: 29, closedBy: 31, "idle 30 s from when the end was on the socket")
    }

    /// An answer that never reaches the socket while the connection stays writable (a small one
    /// to a client that reads nothing, its kernel buffers full), after the timer fired while
    /// its route ran: closed at the idle timeout (finding 336: the deadline waited for the
    /// end's write, no timer was left, and the connection was held for ever).
    @Test func anAnswerThatNeverReachesTheSocketIsClosedIdle() throws {
        let (channel, held) = try heldConnection()
        defer { held.dropAll() }
        channel.embeddedEventLoop.advanceTime(by: .seconds(11))  // the route runs: the first request's timer fires, finding nothing due
        channel.write(HTTPResponsePart.head(HTTPResponse(status: .ok)), promise: nil)
        channel.write(HTTPResponsePart.body(ByteBuffer(string: "{}")), promise: nil)
        channel.writeAndFlush(HTTPResponsePart.end(nil), promise: nil)
        expectOpen(channel, for: 29, closedBy: 31, "an answer never taken, the connection writable")
    }

    /// The connection's last answer, once written: its output closed first (a whole close with
    /// the client's bytes still coming resets the connection and drops what the kernel has not
    /// sent), the whole 2 s later (finding 335).
    @Test func theLastAnswerClosesTheOutputFirst() throws {
        let closes = RequestPartsTests.Closes()
        let channel = try EmbeddedChannel.connected([closes, RequestDeadlineHandler(limits: limits)])
        try channel.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .get, scheme: "https", authority: "node", path: "/healthz", headerFields: [.connection: "close"])))
        try channel.writeInbound(HTTPRequestPart.end(nil))
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        try channel.writeOutbound(HTTPResponsePart.end(nil))
        #expect(closes.modes == [.output] && channel.isActive, "\(closes.modes)")
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(closes.modes == [.output, .all] && !channel.isActive, "\(closes.modes)")
    }

    /// A connection closed while a request's body still came: the body fails (Hummingbird reads
    /// the end of the input as the body's end); one closed between requests fails nothing.
    @Test func aCloseUnderABodyFailsIt() throws {
        let channel = try EmbeddedChannel.connected([RequestDeadlineHandler(limits: limits)])
        try channel.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .post, scheme: "https", authority: "node", path: "/v1/record/reading")))
        _ = try channel.readInbound(as: HTTPRequestPart.self)
        try channel.close().wait()
        #expect(throws: HTTPParserError.invalidEOFState) { try channel.throwIfErrorCaught() }
        let idle = try connection(limits)
        try idle.close().wait()
        #expect(throws: Never.self) { try idle.throwIfErrorCaught() }
    }

    @Test func theStallDeadlineMovesByTheBytesTakenAtTheMinimumRate() {
        var limits = ConnectionLimits()
        limits.writeStallTimeout = .seconds(30)
        limits.minDrainBytesPerSecond = 16 << 10
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
        // 64 KiB earns 4 s; never more than 30 s ahead of now.
        #expect(limits.stallDeadline(start + .seconds(30), took: 64 << 10, now: start) == start + .seconds(30))
        #expect(limits.stallDeadline(start + .seconds(10), took: 64 << 10, now: start) == start + .seconds(14))
        #expect(limits.stallDeadline(start + .seconds(10), took: 1 << 30, now: start + .seconds(5)) == start + .seconds(35))
    }

    @Test func aClientThatDrainsInTimeIsKept() throws {
        let channel = try connection(limits)
        stall(channel)
        channel.embeddedEventLoop.advanceTime(by: .seconds(20))
        drain(channel)
        channel.embeddedEventLoop.advanceTime(by: .seconds(20))
        #expect(channel.isActive, "a connection that drained in time was closed")
        // Stalled again later: the timeout counts from then.
        stall(channel)
        expectOpen(channel, for: 29, closedBy: 31, "stalled again: 30 s from then")
        _ = try? channel.finish()
    }

    /// The port's large responses not taken yet are bounded together: past the budget, the
    /// stalled connection taking nothing is closed; one whose client takes what it gets is not.
    @Test func pastThePortsBudgetTheStalledConnectionHoldingMostIsClosed() throws {
        let budget = ResponseBudget(limit: 1536 << 10)
        func open() throws -> EmbeddedChannel {
            let channel = EmbeddedChannel()
            try channel.pipeline.syncOperations.addHandler(RequestDeadlineHandler(limits: limits, budget: budget))
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            try channel.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .get, scheme: "https", authority: "node", path: "/v1/view")))
            try channel.writeInbound(HTTPRequestPart.end(nil))
            return channel
        }
        var page = ByteBuffer()
        page.writeRepeatingByte(1, count: 1 << 20)
        let slow = try open(), taking = try open()
        stall(slow)
        slow.write(HTTPResponsePart.body(page), promise: nil)  // held: nothing flushed
        #expect(budget.held == 1 << 20)
        taking.write(HTTPResponsePart.body(page), promise: nil)
        #expect(!slow.isActive, "the stalled connection holding 1 MiB is still open past the port's budget")
        #expect(taking.isActive)
        #expect(budget.held == 1 << 20)
        taking.flush()
        #expect(budget.held == 0, "written parts still count")
        // A client that takes what it gets is never closed for the budget, even alone past it.
        taking.write(HTTPResponsePart.body(page), promise: nil)
        taking.write(HTTPResponsePart.body(page), promise: nil)
        #expect(taking.isActive && budget.held == 2 << 20)
        _ = try? taking.close().wait()
        taking.embeddedEventLoop.run()
        #expect(budget.held == 0, "a closed connection's bytes still count")
    }

    /// The victim is the stalled connection whose client has taken nothing for longest, not
    /// the one holding most: an honest client taking a large answer at full speed is stalled
    /// too (the answer waits in the outbound buffer) but takes parts all the time.
    @Test func theBudgetLedgerChoosesTheStalledHolderLongestWithoutProgress() {
        // Kept alive: a freed object's address (its identifier) is reused by the next.
        let objects = [NSObject(), NSObject(), NSObject()]
        let slow = ObjectIdentifier(objects[0]), fast = ObjectIdentifier(objects[1]), newcomer = ObjectIdentifier(objects[2])
        let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)
        var ledger = ResponseBudget.Ledger(limit: 100)
        ledger.stalled(slow, true, now: t0)
        ledger.stalled(fast, true, now: t0)
        #expect(ledger.hold(slow, 30, now: t0).isEmpty)
        #expect(ledger.hold(fast, 60, now: t0).isEmpty)
        // The fast client takes a part now and then; the slow one has not for 4 s.
        ledger.release(fast, 5, now: t0 + .seconds(4))
        #expect(ledger.hold(newcomer, 40, now: t0 + .seconds(4)) == [slow], "the holder taking parts was chosen over the one taking none")
        #expect(ledger.total == 95)
        // Nobody stalled beyond the fast one, which just took a part: it goes only if still over.
        #expect(ledger.hold(newcomer, 10, now: t0 + .seconds(5)) == [fast])
        #expect(ledger.total == 50)
        // Nobody stalled: nothing to close, the total may pass the limit.
        #expect(ledger.hold(newcomer, 60, now: t0 + .seconds(6)).isEmpty && ledger.total == 110)
        ledger.release(newcomer, 500, now: t0 + .seconds(6))
        #expect(ledger.total == 0)
    }
}
