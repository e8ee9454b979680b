import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import QuartetAPI

/// The answers of HTTP/1.1 no route gives, each given only while it is the next answer the
/// connection owes (an answer belongs to the request whose final answer comes next):
///
/// - `100 Continue` to `Expect: 100-continue` (RFC 9110 §10.1.1): a client that asks waits for
///   it before it sends the body, and with none curl held every body over 1 MiB a second
///   (others wait longer). Written as the request's head is read, unless its `Content-Length`
///   is past what any route takes: then the route's 413 comes before the body
///   (`Request.collectBody`), as does a smaller route's once it reads it. Pipelined behind
///   answers not yet ended, it waits for them; a second request asking while one 100 still
///   waits gets none (its client sends the body after a wait of its own, as it must).
/// - A request NIO's parser refuses (two `Content-Length`s, a header line without a colon, an
///   unknown method…) is answered as every other error is — JSON naming the request id, not
///   to be cached or sniffed — and the connection closed. Hummingbird answered a bare 400
///   without any of that. A body refused once its request is under way is the route's to
///   answer (through the body it reads, `RequestLogMiddleware`), as before.
///
/// Placed after `RequestDeadlineHandler`, it sees only the requests that are run.
final class ExchangeHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// The largest body any route reads.
    private let largestBody: Int
    /// Requests read whose answer has not ended.
    private var unanswered = 0
    /// A 100 waits for this many answers to end first.
    private var waiting: Int?
    /// A request was refused here: nothing more is read or answered.
    private var refused = false

    init(largestBody: Int) {
        self.largestBody = largestBody
    }

    /// Whether `head` asks for a 100 this node gives: `Expect: 100-continue` (in any case) and a
    /// body no longer than `largestBody` said to come.
    static func wantsContinue(_ head: HTTPRequest, largestBody: Int) -> Bool {
        guard let expect = head.headerFields[.expect], expect.trimmingCharacters(in: .whitespaces).lowercased() == "100-continue" else { return false }
        if let length = head.headerFields[.contentLength] { return Int(length).map { (1...largestBody).contains($0) } ?? false }
        return head.headerFields[.transferEncoding] != nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        if case .head(let head) = unwrapInboundIn(data) {
            if Self.wantsContinue(head, largestBody: largestBody) {
                if unanswered == 0 {
                    context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
                } else if waiting == nil {
                    waiting = unanswered
                }
            }
            unanswered += 1
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        context.write(data, promise: promise)
        guard case .end = unwrapOutboundIn(data) else { return }
        unanswered = max(0, unanswered - 1)
        guard let before = waiting else { return }
        if before <= 1 {
            waiting = nil
            context.write(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
        } else {
            waiting = before - 1
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !refused else { return }
        guard let parse = error as? HTTPParserError, unanswered == 0 else {
            context.fireErrorCaught(error)
            return
        }
        refused = true
        // Random, in the form of the ids `RequestLogMiddleware` gives.
        let hex = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let id = String(repeating: "0", count: 16 - hex.count) + hex
        var body = ByteBuffer(bytes: (try? CompactJSONEncoder.encode(
            APIErrorBody(status: 400, message: "the request is not well-formed HTTP/1.1 (\(parse))", requestID: id))) ?? [])
        body.writeInteger(UInt8(ascii: "\n"))
        var response = HTTPResponse(status: .badRequest)
        response.headerFields[.contentType] = "application/json"
        response.headerFields[.contentLength] = String(body.readableBytes)
        response.headerFields[.connection] = "close"
        response.headerFields[.cacheControl] = "no-store"
        response.headerFields[nosniffHeader] = "nosniff"
        response.headerFields[resourcePolicyHeader] = "same-origin"
        response.headerFields[requestIDHeader] = id
        context.write(wrapOutboundOut(.head(response)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
