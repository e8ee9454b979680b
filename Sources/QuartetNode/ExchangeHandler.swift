import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import QuartetAPI

/// The answers of HTTP/1.1 no route gives, each given only while it is the answer the
/// connection owes next:
///
/// - `100 Continue` to `Expect: 100-continue` (RFC 9110 §10.1.1): a client that asks waits for
///   it before it sends the body, and with none curl held every body over 1 MiB a second
///   (others wait longer). Written when the route starts to read the body
///   (`Request.collectBody`, through `ContinueEvent`): after the access check and the route's
///   own checks, so a request refused (401, 403, 404, a 413 from its `Content-Length`) is
///   answered without the client sending its body first. An interim answer belongs to the
///   request whose final answer comes next; a route reads only its own request's body while
///   the requests before it are answered, so the oldest request not answered is its own.
/// - A request NIO's parser refuses (two `Content-Length`s, a header line without a colon, an
///   unknown method…) is answered as every other error is — JSON naming the request id, not
///   to be cached or sniffed — and the connection closed. Hummingbird answered a bare 400
///   without any of that. A body refused while its request is under way is the route's to
///   answer (through the body it reads, `RequestLogMiddleware`); one refused after its request
///   was answered (a route that answered without reading it) closes the connection with
///   nothing more written: that request has its answer.
///
/// Placed after `RequestDeadlineHandler`, it sees only the requests that are run.
final class ExchangeHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// Asks for the `100 Continue` of the request whose body the route is about to read, if it
    /// asked for one (sent down the pipeline by `Request.collectBody`).
    struct ContinueEvent: Sendable {}

    /// The requests read whose answer has not ended, oldest first: whether each still waits
    /// for a 100 it asked for.
    private var unanswered = CircularBuffer<Bool>()
    /// Between a request's head and its end.
    private var reading = false
    /// A request was refused here: nothing more is read or answered.
    private var refused = false

    /// Whether `head` asks for a 100 (`Expect: 100-continue`, in any case) for a body said to come.
    static func wantsContinue(_ head: HTTPRequest) -> Bool {
        guard let expect = head.headerFields[.expect], expect.trimmingCharacters(in: .whitespaces).lowercased() == "100-continue" else { return false }
        if let length = head.headerFields[.contentLength] { return length != "0" }
        return head.headerFields[.transferEncoding] != nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            unanswered.append(Self.wantsContinue(head))
            reading = true
        case .body:
            break
        case .end:
            reading = false
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .head(let response) = unwrapOutboundIn(data), response.status.code >= 200, !unanswered.isEmpty {
            // A final answer: a 100 its request still waited for is not owed any more.
            unanswered[unanswered.startIndex] = false
        }
        if case .end = unwrapOutboundIn(data), !unanswered.isEmpty { unanswered.removeFirst() }
        context.write(data, promise: promise)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard event is ContinueEvent else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        if !refused, unanswered.first == true {
            unanswered[unanswered.startIndex] = false
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
        }
        promise?.succeed()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !refused else { return }
        guard let parse = error as? HTTPParserError, unanswered.isEmpty else {
            context.fireErrorCaught(error)
            return
        }
        refused = true
        // The body of a request already answered: it has its answer; the connection closes.
        guard !reading else {
            context.close(promise: nil)
            return
        }
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
