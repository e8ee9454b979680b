import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOHTTPTypes
import QuartetAPI
@testable import QuartetNode
import Testing

/// What a route reads of a request (finding 327): path parameters percent-decoded (a client that
/// encodes a segment reaches what an unencoded one does; a segment that is not encoded UTF-8,
/// holds a control character or is too long is refused naming the segment); a body said to be
/// longer than the route takes refused before it is read; a second `Host` refused; a 100
/// (Continue) given to the request it belongs to.
@Suite struct RequestPartsTests {
    @Test func anEncodedSegmentIsTheSameAsItsDecodedOneAndABadOneIsRefused() async throws {
        let node = try InProcessNode(entries: 2)
        defer { node.remove() }
        try await node.test(CertificateHeaderContext.self) { client, _ in
            var headers = HTTPFields()
            headers[.authorization] = "Bearer token-reader"
            func get(_ uri: String) async throws -> (HTTPResponse.Status, String) {
                try await client.execute(uri: uri, method: .get, headers: headers) { ($0.status, String(buffer: $0.body)) }
            }
            let plain = try await get("/v1/logs/wales/checkpoint")
            #expect(plain.0 == .ok && plain.1.contains("\n2\n"), "\(plain)")
            for encoded in ["/v1/logs/%77ales/checkpoint", "/v1/logs/%77%61%6C%65%73/checkpoint", "/v1/logs/w%61les/checkpoint"] {
                let answer = try await get(encoded)
                #expect(answer.0 == .ok && answer.1 == plain.1, "\(encoded): \(answer)")
            }
            // Decoded after the path was split: an encoded `/` stays inside its segment.
            let slash = try await get("/v1/logs/wa%2Fles/checkpoint")
            #expect(slash.0 == .notFound && slash.1.contains("wa/les"), "\(slash)")
            for (uri, says) in [("/v1/logs/%ZZales/checkpoint", "not percent-encoded UTF-8"), ("/v1/logs/wales%/checkpoint", "not percent-encoded UTF-8"),
                                ("/v1/logs/%C3%28/checkpoint", "not percent-encoded UTF-8"), ("/v1/logs/wa%00les/checkpoint", "control character"),
                                ("/v1/logs/wa%0Ales/checkpoint", "control character"),
                                // Within the bound as sent (713 bytes), one over once decoded.
                                ("/v1/logs/\(String(repeating: "%61", count: 100) + String(repeating: "a", count: Parameters.longestSegment - 99))/checkpoint",
                                 "\(Parameters.longestSegment + 1) bytes long; at most \(Parameters.longestSegment)"),
                                ("/v1/logs/\(String(repeating: "a", count: Parameters.longestSegment + 1))/checkpoint",
                                 "\(Parameters.longestSegment + 1) bytes long; at most \(Parameters.longestSegment)"),
                                ("/v1/logs/\(String(repeating: "%61", count: Parameters.longestSegment + 1))/checkpoint", "1539 bytes as sent"),
                                ("/v1/logs/\(String(repeating: "a", count: 40_000))/checkpoint", "40000 bytes as sent")] {
                let answer = try await get(uri)
                #expect(answer.0 == .badRequest && answer.1.contains("the log segment") && answer.1.contains(says), "\(uri.prefix(60)): \(answer)")
            }
            // The longest allowed is looked up, not refused: as sent, and encoded at the bound.
            let longest = try await get("/v1/logs/\(String(repeating: "a", count: Parameters.longestSegment))/checkpoint")
            #expect(longest.0 == .notFound, "\(longest.0)")
            let encodedLongest = try await get("/v1/logs/\(String(repeating: "%61", count: Parameters.longestSegment))/checkpoint")
            #expect(encodedLongest.0 == .notFound, "\(encodedLongest.0)")
        }
    }

    @Test func aBodySaidTooLongIsRefusedUnreadAndASecondHostIsRefused() async throws {
        let node = try InProcessNode(entries: 1)
        defer { node.remove() }
        try await node.test(CertificateHeaderContext.self) { client, _ in
            var headers = HTTPFields()
            headers[.authorization] = "Bearer token-wales-op"
            headers[.contentType] = "application/json"
            // No body is sent: read, it would be refused as not JSON (400); its length says 413.
            headers[.contentLength] = String(API.maxBody + 1)
            let long = try await client.execute(uri: "/v1/record/reading", method: .post, headers: headers) { ($0.status, String(buffer: $0.body)) }
            #expect(long.0 == .contentTooLarge && long.1.contains("at most \(API.maxBody) bytes"), "\(long)")
            headers[.contentLength] = "2"
            let json = try await client.execute(uri: "/v1/record/reading", method: .post, headers: headers) { $0.status }
            #expect(json == .badRequest)

            var twice = HTTPFields()
            twice[.authorization] = "Bearer token-reader"
            twice.append(HTTPField(name: HTTPField.Name("host")!, value: "elsewhere.example"))
            let host = try await client.execute(uri: "/v1/logs", method: .get, headers: twice) { ($0.status, String(buffer: $0.body)) }
            #expect(host.0 == .badRequest && host.1.contains("more than one Host"), "\(host)")
        }
        // A Host value is a host and a port, nothing else.
        // (`::1` unbracketed: what clients before 0.3.8, this node's own among them, send for a
        // node at an IPv6 literal; they now send it in brackets.)
        for good in ["wales.example", "127.0.0.1:8443", "[::1]:8443", "[::1]", "[fe80::1%25eth0]:1", "xn--wle-cka.example", "wales.example.", "WALES:65535",
                     "localhost:8443", "wales.example.:443", "::1", "fe80::1%eth0", HostPort.hostField("::1")] {
            #expect(HostCheck<NodeRequestContext>.isHost(good), "\(good)")
        }
        #expect(HostPort.hostField("::1") == "[::1]" && HostPort.hostField("wales.example") == "wales.example" && HostPort.hostField("[::1]") == "[::1]")
        for bad in ["", "a, b", "a,b", "a b", "a/b", "a?b", "a#b", "user@a", "a\u{7F}", "wäles", "a\tb", "host:99999", "host:", "host:123456",
                    "[[", "[::1", "[]", "[::1]x", ":8443", "evil.example::", "host::1", "::g"] {
            #expect(!HostCheck<NodeRequestContext>.isHost(bad), "\(bad)")
        }
    }

    func head(_ fields: [(HTTPField.Name, String)]) -> HTTPRequestPart {
        var request = HTTPRequest(method: .post, scheme: "https", authority: "wales", path: "/v1/record/reading")
        for (name, value) in fields { request.headerFields.append(HTTPField(name: name, value: value)) }
        return .head(request)
    }

    func interim(_ channel: EmbeddedChannel) throws -> [HTTPResponse.Status] {
        var out: [HTTPResponse.Status] = []
        while let part = try channel.readOutbound(as: HTTPResponsePart.self) {
            if case .head(let response) = part { out.append(response.status) }
        }
        return out
    }

    @Test func aContinueIsGivenWhenTheRouteReadsTheBodyAndOnlyToTheRequestAnsweredNext() throws {
        let channel = EmbeddedChannel(handler: ExchangeHandler())
        defer { _ = try? channel.finish() }
        func ask() { channel.pipeline.triggerUserOutboundEvent(ExchangeHandler.ContinueEvent(), promise: nil) }
        func answer() throws {
            try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
            try channel.writeOutbound(HTTPResponsePart.end(nil))
        }
        // Asked (in any case of the word), with a body: nothing as the head is read (the access
        // check and the route come first); the 100 when the route reads the body, once.
        try channel.writeInbound(head([(.expect, "100-Continue"), (.contentLength, "10")]))
        #expect(try interim(channel).isEmpty)
        ask()
        #expect(try interim(channel) == [.continue])
        ask()
        #expect(try interim(channel).isEmpty)
        try answer()
        #expect(try interim(channel) == [.ok])
        // Answered without reading the body (a refusal): no 100 after it.
        try channel.writeInbound(head([(.expect, "100-continue"), (.contentLength, "10")]))
        try answer()
        ask()
        #expect(try interim(channel) == [.ok])
        // Asked, but the route's final answer has begun (its head written, its end not yet): no
        // 100 inside the answer.
        try channel.writeInbound(head([(.expect, "100-continue"), (.contentLength, "10")]))
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        ask()
        #expect(try interim(channel) == [.ok])
        try channel.writeOutbound(HTTPResponsePart.end(nil))
        _ = try interim(channel)
        // Asked on two lines (or in a list): asked.
        var twice = HTTPRequest(method: .post, scheme: "https", authority: "wales", path: "/v1/record/reading")
        twice.headerFields.append(HTTPField(name: .expect, value: "100-continue"))
        twice.headerFields.append(HTTPField(name: .expect, value: "100-continue"))
        twice.headerFields[.contentLength] = "10"
        #expect(ExchangeHandler.wantsContinue(twice))
        // Not asked, asked for something else, or with no body: none.
        for fields in [[(HTTPField.Name.contentLength, "10")], [(.expect, "something"), (.contentLength, "10")], [(.expect, "100-continue")],
                       [(.expect, "100-continue"), (.contentLength, "0")]] {
            try channel.writeInbound(head(fields))
            ask()
            #expect(try interim(channel).isEmpty, "\(fields)")
            try answer()
            _ = try interim(channel)
        }
        // Pipelined behind a request not yet answered: the first route's read gives nothing (its
        // request did not ask); the second's, once the first is answered, its 100.
        try channel.writeInbound(head([(.contentLength, "10")]))
        try channel.writeInbound(head([(.expect, "100-continue"), (.transferEncoding, "chunked")]))
        ask()
        #expect(try interim(channel).isEmpty)
        try answer()
        #expect(try interim(channel) == [.ok])
        ask()
        #expect(try interim(channel) == [.continue])
        try answer()
        #expect(try interim(channel) == [.ok])
    }
}

extension RequestPartsTests {
    /// Records the closes the handler asks for; holds an output close (as a socket would, half
    /// closed), passes a whole one on.
    final class Closes: ChannelOutboundHandler, @unchecked Sendable {
        typealias OutboundIn = Any
        var modes: [CloseMode] = []
        func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
            modes.append(mode)
            if mode == .output { promise?.succeed() } else { context.close(mode: mode, promise: promise) }
        }
    }

    /// An EmbeddedChannel, connected (so that a close shows), with `Closes` before the handler.
    func connected(metrics: NodeMetrics? = nil) throws -> (EmbeddedChannel, Closes) {
        let closes = Closes()
        return (try EmbeddedChannel.connected([closes, ExchangeHandler(metrics: metrics)]), closes)
    }

    @Test func aRequestTheParserRefusesIsAnsweredAsEveryErrorIsUnlessAnotherIsUnderWay() throws {
        let metrics = NodeMetrics(ownLog: "wales")
        let (channel, closes) = try connected(metrics: metrics)
        channel.pipeline.fireErrorCaught(HTTPParserError.invalidHeaderToken)
        #expect(throws: Never.self) { try channel.throwIfErrorCaught() }
        guard case .head(let answer)? = try channel.readOutbound(as: HTTPResponsePart.self),
              case .body(let body)? = try channel.readOutbound(as: HTTPResponsePart.self),
              case .end? = try channel.readOutbound(as: HTTPResponsePart.self) else {
            Issue.record("no answer of head, body and end")
            return
        }
        #expect(answer.status == .badRequest && answer.headerFields[.connection] == "close" && answer.headerFields[.contentType] == "application/json")
        #expect(answer.headerFields[.cacheControl] == "no-store" && answer.headerFields[HTTPField.Name("x-content-type-options")!] == "nosniff")
        let id = try #require(answer.headerFields[HTTPField.Name("x-request-id")!])
        let error = try JSONDecoder().decode(APIErrorBody.self, from: Data(body.readableBytesView))
        #expect(error.requestID == id && id.count == 16 && error.error.status == 400 && error.error.message.contains("not well-formed HTTP/1.1"), "\(error)")
        #expect(answer.headerFields[.contentLength] == String(body.readableBytes))
        // Counted with the routes' answers (it never reaches `RequestLogMiddleware`).
        #expect(String(decoding: metrics.exposition(), as: UTF8.self).contains("quartet_http_responses_total{code=\"400\"} 1"))
        // Once written, the output is closed (the client reads the answer whole: a close with
        // its bytes still coming would reset the connection), the whole connection 2 s later.
        #expect(closes.modes == [.output] && channel.isActive, "\(closes.modes)")
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(closes.modes == [.output, .all] && !channel.isActive, "\(closes.modes)")

        // What a close cut of a request, decoded as the connection closes: no one is left to
        // answer, and nothing is counted (a client pipelining into the connection's limit
        // counted a 400 no one got).
        let closedMetrics = NodeMetrics(ownLog: "wales")
        let (closed, _) = try connected(metrics: closedMetrics)
        try closed.close().wait()
        closed.pipeline.fireErrorCaught(HTTPParserError.invalidEOFState)
        #expect(try closed.readOutbound(as: HTTPResponsePart.self) == nil)
        #expect(!String(decoding: closedMetrics.exposition(), as: UTF8.self).contains("quartet_http_responses_total{code=\"400\"}"))

        // A body under way when the connection closed: the route reading it still fails (the
        // end of its input read as the body's end, a form cut at `value=12` was appended).
        let (cut, _) = try connected(metrics: closedMetrics)
        try cut.writeInbound(head([(.contentLength, "10")]))
        _ = try cut.readInbound(as: HTTPRequestPart.self)
        try cut.close().wait()
        cut.pipeline.fireErrorCaught(HTTPParserError.invalidEOFState)
        #expect(throws: HTTPParserError.invalidEOFState) { try cut.throwIfErrorCaught() }
        #expect(try cut.readOutbound(as: HTTPResponsePart.self) == nil)

        // The body of a request already answered (a route that refused it unread) that the
        // parser refuses: that request has its answer; closed so, nothing more written.
        // The close waits for the answer's end to be written (closed before, the queued answer
        // would be lost): its end here is queued, not yet flushed, when the parser refuses.
        let (answered, answeredCloses) = try connected()
        try answered.writeInbound(head([(.transferEncoding, "chunked")]))
        _ = try answered.readInbound(as: HTTPRequestPart.self)
        try answered.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .unauthorized)))
        answered.write(HTTPResponsePart.end(nil), promise: nil)
        answered.pipeline.fireErrorCaught(HTTPParserError.invalidChunkSize)
        #expect(throws: Never.self) { try answered.throwIfErrorCaught() }
        #expect(answeredCloses.modes.isEmpty, "closed before the answer was written: \(answeredCloses.modes)")
        answered.flush()
        while try answered.readOutbound(as: HTTPResponsePart.self) != nil {}
        #expect(answeredCloses.modes == [.output])
        answered.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!answered.isActive)

        // A head refused behind an answer still owed: refused after it, then closed; the
        // responder's own 400 after that is dropped.
        let (owed, owedCloses) = try connected()
        try owed.writeInbound(head([(.contentLength, "0")]))
        try owed.writeInbound(HTTPRequestPart.end(nil))
        owed.pipeline.fireErrorCaught(HTTPParserError.invalidMethod)
        #expect(try owed.readOutbound(as: HTTPResponsePart.self) == nil, "nothing before the answer owed")
        try owed.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        try owed.writeOutbound(HTTPResponsePart.end(nil))
        var statuses: [HTTPResponse.Status] = []
        while let part = try owed.readOutbound(as: HTTPResponsePart.self) {
            if case .head(let response) = part { statuses.append(response.status) }
        }
        #expect(statuses == [.ok, .badRequest] && owedCloses.modes == [.output], "\(statuses) \(owedCloses.modes)")
        let late = owed.eventLoop.makePromise(of: Void.self)
        owed.writeAndFlush(HTTPResponsePart.head(HTTPResponse(status: .badRequest)), promise: late)
        #expect(throws: ChannelError.self) { try late.futureResult.wait() }
        #expect(try owed.readOutbound(as: HTTPResponsePart.self) == nil)

        // A request under way (its body refused, or an earlier answer being written): the
        // error is passed on for the route, nothing written here.
        let (busy, busyCloses) = try connected()
        try busy.writeInbound(head([(.contentLength, "10")]))
        _ = try busy.readInbound(as: HTTPRequestPart.self)
        busy.pipeline.fireErrorCaught(HTTPParserError.invalidChunkSize)
        #expect(throws: HTTPParserError.invalidChunkSize) { try busy.throwIfErrorCaught() }
        #expect(try busy.readOutbound(as: HTTPResponsePart.self) == nil)
        // The route's answer is the connection's last: written, then the output closed; the
        // responder's own 400 for the same failure after it is dropped.
        try busy.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        try busy.writeOutbound(HTTPResponsePart.end(nil))
        var busyStatuses: [HTTPResponse.Status] = []
        while let part = try busy.readOutbound(as: HTTPResponsePart.self) {
            if case .head(let response) = part { busyStatuses.append(response.status) }
        }
        #expect(busyStatuses == [.ok] && busyCloses.modes == [.output], "\(busyStatuses) \(busyCloses.modes)")
        let second = busy.eventLoop.makePromise(of: Void.self)
        busy.writeAndFlush(HTTPResponsePart.head(HTTPResponse(status: .badRequest)), promise: second)
        #expect(throws: ChannelError.self) { try second.futureResult.wait() }
        #expect(try busy.readOutbound(as: HTTPResponsePart.self) == nil)
    }
}

extension RequestPartsTests {
    /// The version's rules, read before the request loses its version: an HTTP/1.1 head without
    /// `Host` is refused (passed on as an error, it and all after it kept back); HTTP/1.0 may
    /// leave `Host` out, and its `Expect` is left out.
    @Test func anHTTP11RequestWithoutHostIsRefusedAndAnHTTP10ExpectationIgnored() throws {
        func head(_ version: HTTPVersion, _ fields: [(String, String)]) -> HTTPServerRequestPart {
            .head(HTTPRequestHead(version: version, method: .POST, uri: "/v1/record/reading", headers: HTTPHeaders(fields)))
        }
        let channel = EmbeddedChannel(handler: HTTPVersionRules())
        defer { _ = try? channel.finish() }
        // With Host (1.1), or without (1.0): passed on; 1.1's Expect kept, 1.0's left out.
        try channel.writeInbound(head(.http1_1, [("Host", "wales"), ("Expect", "100-continue"), ("Content-Length", "1")]))
        guard case .head(let kept)? = try channel.readInbound(as: HTTPServerRequestPart.self) else { Issue.record("no head"); return }
        #expect(kept.headers["expect"] == ["100-continue"])
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
        _ = try channel.readInbound(as: HTTPServerRequestPart.self)
        try channel.writeInbound(head(.http1_0, [("Expect", "100-continue"), ("Content-Length", "1")]))
        guard case .head(let old)? = try channel.readInbound(as: HTTPServerRequestPart.self) else { Issue.record("no head"); return }
        // HTTP/1.0 without keep-alive: closed after its answer (RFC 9112 §9.3), said as 1.1 says it.
        #expect(old.headers["expect"].isEmpty && old.headers["content-length"] == ["1"] && old.headers["connection"] == ["close"], "\(old.headers)")
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
        _ = try channel.readInbound(as: HTTPServerRequestPart.self)
        try channel.writeInbound(head(.http1_0, [("Connection", "Keep-Alive")]))
        guard case .head(let kept10)? = try channel.readInbound(as: HTTPServerRequestPart.self) else { Issue.record("no head"); return }
        #expect(kept10.headers["connection"] == ["Keep-Alive"], "\(kept10.headers)")
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
        _ = try channel.readInbound(as: HTTPServerRequestPart.self)
        // A transfer coding other than chunked: refused (501).
        let coded = EmbeddedChannel(handler: HTTPVersionRules())
        defer { _ = try? coded.finish() }
        #expect(throws: HTTPVersionRules.Refused.self) { try coded.writeInbound(head(.http1_1, [("Host", "wales"), ("Transfer-Encoding", "gzip, chunked")])) }
        let chunked = EmbeddedChannel(handler: HTTPVersionRules())
        defer { _ = try? chunked.finish() }
        try chunked.writeInbound(head(.http1_1, [("Host", "wales"), ("Transfer-Encoding", "Chunked")]))
        #expect(try chunked.readInbound(as: HTTPServerRequestPart.self) != nil)
        // Another version NIO's parser reads: refused (505), nothing after it goes on.
        let other = EmbeddedChannel(handler: HTTPVersionRules())
        defer { _ = try? other.finish() }
        #expect(throws: HTTPVersionRules.Refused.self) { try other.writeInbound(head(HTTPVersion(major: 2, minor: 0), [("Host", "wales")])) }
        try other.writeInbound(head(.http1_1, [("Host", "wales")]))
        #expect(try other.readInbound(as: HTTPServerRequestPart.self) == nil)
        // 1.1 without Host: refused; nothing of it, or after it, goes on.
        #expect(throws: HTTPVersionRules.Refused.self) { try channel.writeInbound(head(.http1_1, [("Content-Length", "1")])) }
        try channel.writeInbound(HTTPServerRequestPart.body(ByteBuffer(string: "x")))
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
        try channel.writeInbound(head(.http1_1, [("Host", "wales")]))
        #expect(try channel.readInbound(as: HTTPServerRequestPart.self) == nil)

        // ExchangeHandler answers the refusal as it answers the parser's.
        let (exchange, closes) = try connected()
        exchange.pipeline.fireErrorCaught(HTTPVersionRules.Refused(message: "an HTTP/1.1 request needs a Host header"))
        guard case .head(let answer)? = try exchange.readOutbound(as: HTTPResponsePart.self),
              case .body(let body)? = try exchange.readOutbound(as: HTTPResponsePart.self) else { Issue.record("no answer"); return }
        #expect(answer.status == .badRequest && String(buffer: body).contains("needs a Host header") && answer.headerFields[.connection] == "close")
        _ = try exchange.readOutbound(as: HTTPResponsePart.self)
        #expect(closes.modes == [.output])
    }
}

extension RequestPartsTests {
    /// A body shorter than its `Content-Length` (what Hummingbird hands a route when the
    /// connection's input ends under it: the end read as the body's) is refused, not taken
    /// whole (finding 334); one of its length is taken.
    @Test func aBodyShorterThanItsLengthIsRefused() async throws {
        let channel = EmbeddedChannel()
        let context = CertificateHeaderContext(source: .init(channel: channel, logger: Logger(label: "test")))
        func request(_ length: String, _ body: String) -> Request {
            Request(head: HTTPRequest(method: .post, scheme: "https", authority: "node", path: "/v1/logs/wales/entries", headerFields: [.contentLength: length]),
                    body: RequestBody(buffer: ByteBuffer(string: body)))
        }
        await #expect(throws: HTTPError.self) { _ = try await request("10", "value=12").collectBody(upTo: 100, context: context) }
        let whole = try await request("10", "value=1234").collectBody(upTo: 100, context: context)
        #expect(whole == ByteBuffer(string: "value=1234"))
        await #expect(throws: NIOTooManyBytesError.self) { _ = try await request("200", "x").collectBody(upTo: 100, context: context) }
    }
}
