import Foundation
import HTTPTypes
import Logging
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
///   unknown method…), or `HTTPVersionRules` refuses (an HTTP/1.1 request without `Host`), is answered as every other error is — JSON naming the request id, not
///   to be cached or sniffed — after the answers owed before it, and the connection closed.
///   Hummingbird answered a bare 400 without any of that. A body refused while its request is
///   under way is the route's to answer (through the body it reads, `RequestLogMiddleware`, or
///   as it answers without reading it); one refused after its request was answered closes the
///   connection with nothing more written. Either way no request gets a second answer:
///   Hummingbird's own 400 for the same failure, written after, is dropped.
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
    /// The parser refused the input: nothing more is read, and the connection closes once the
    /// answers owed are written — with, after them, the refusal of a head refused behind them.
    private enum Failure {
        case closing
        /// The refusal's status and message.
        case refusalOwed(HTTPResponse.Status, String)
    }
    private var failed: Failure?
    /// The last answer's end, written or being written: a close waits for it (closed at once,
    /// what is still queued of the answer would be lost).
    private var lastEnd: EventLoopFuture<Void>?
    /// Where a refusal of this handler's own is counted (`quartet_http_responses_total`, as
    /// every answer the routes give is) and logged (as `RequestLogMiddleware` logs a 400: at
    /// debug level, the path the client's and cleaned).
    private let metrics: NodeMetrics?
    private let logger: Logger?

    init(metrics: NodeMetrics? = nil, logger: Logger? = nil) {
        self.metrics = metrics
        self.logger = logger
    }

    /// Whether `head` asks for a 100 (`Expect: 100-continue`, in any case) for a body said to come.
    static func wantsContinue(_ head: HTTPRequest) -> Bool {
        // (Every request asks: one look for the usual one without `Expect`. Given on two lines,
        // or as a list, any member `100-continue` asks.)
        guard head.headerFields[.expect] != nil,
              head.headerFields[values: .expect].contains(where: { $0.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces).lowercased() == "100-continue" } })
        else { return false }
        if let length = head.headerFields[.contentLength] { return length != "0" }
        return head.headerFields[.transferEncoding] != nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard failed == nil else { return }
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
        // Once the input failed and every request read is answered, nothing more is the
        // connection's to say: Hummingbird's own bare 400 for the same failure, which would be a
        // second answer to a request already answered, is dropped.
        if failed != nil, unanswered.isEmpty {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        let part = unwrapOutboundIn(data)
        if case .head(let response) = part, response.status.code >= 200, !unanswered.isEmpty {
            // A final answer: a 100 its request still waited for is not owed any more.
            unanswered[unanswered.startIndex] = false
        }
        guard case .end = part, !unanswered.isEmpty else {
            context.write(data, promise: promise)
            return
        }
        unanswered.removeFirst()
        guard let failed, unanswered.isEmpty else {
            // Kept only for an answer that went out while its own request's body still comes
            // (the one case `errorCaught` closes after).
            guard reading && unanswered.isEmpty else {
                lastEnd = nil
                context.write(data, promise: promise)
                return
            }
            let written = promise ?? context.eventLoop.makePromise(of: Void.self)
            lastEnd = written.futureResult
            context.write(data, promise: written)
            return
        }
        // The last answer owed before the input failed: then the refusal of a head that came
        // behind it, if that was the failure, and the connection closes.
        if case .refusalOwed(let status, let message) = failed {
            context.write(data, promise: promise)
            refuse(context, status, message)
        } else {
            let written = promise ?? context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(data, promise: written)
            Self.closeLingering(after: written.futureResult, context.channel)
        }
    }

    /// Closes the connection once `written` is on the socket: its output first (TLS's
    /// close_notify, then FIN), so that the client reads the answer whole — closed outright
    /// while the client's bytes still come, the kernel would reset the connection and drop what
    /// it had not sent of the answer — then the whole of it once the client closes its side, or
    /// 2 s later. Meanwhile what the client still sends is read and dropped unread
    /// (`LingeringDiscard`): left in the socket, it made the whole close a reset all the same,
    /// and a client still sending (the body of a request refused unread, requests pipelined
    /// behind the last) lost what its link had not yet carried of the answer. Also
    /// `RequestDeadlineHandler`'s, after a connection's last answer.
    static func closeLingering(after written: EventLoopFuture<Void>, _ channel: any Channel) {
        written.whenComplete { _ in
            let outputClosed = channel.eventLoop.makePromise(of: Void.self)
            let operations = channel.pipeline.syncOperations
            if channel.isActive, (try? operations.context(handlerType: LingeringDiscard.self)) == nil {
                try? operations.addHandler(LingeringDiscard(outputClosed: outputClosed.futureResult), position: .first)
            }
            channel.close(mode: .output, promise: outputClosed)
            channel.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
        }
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard event is ContinueEvent else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        if failed == nil, unanswered.first == true {
            unanswered[unanswered.startIndex] = false
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
        }
        promise?.succeed()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard failed == nil else { return }
        let message: String, status: HTTPResponse.Status
        if let parse = error as? HTTPParserError {
            (status, message) = (.badRequest, RequestLogMiddleware<NodeRequestContext>.notWellFormed(parse))
        } else if let refused = error as? HTTPVersionRules.Refused {
            (status, message) = (refused.status, refused.message)
        } else {
            context.fireErrorCaught(error)
            return
        }
        // The connection is closed (what was left of a request the close cut, decoded as it
        // closed): no one to answer, and no answer to count. A body under way still fails
        // its route: swallowed, the stream's end read as the body's, and a form cut at
        // `value=12` of `value=1234` was appended as 12 (finding 334).
        guard context.channel.isActive else {
            failed = .closing
            if reading { context.fireErrorCaught(error) }
            return
        }
        switch (unanswered.isEmpty, reading) {
        case (true, false):
            // Between requests: a head refused, answered now.
            failed = .closing
            refuse(context, status, message)
        case (true, true):
            // The body of a request already answered (a route that refused it unread): it has
            // its answer; the connection closes.
            failed = .closing
            Self.closeLingering(after: lastEnd ?? context.eventLoop.makeSucceededVoidFuture(), context.channel)
        case (false, true):
            // The body of a request under way: the route reading it answers the failure
            // (`RequestLogMiddleware`), or, not reading it, answers as it would; the connection
            // closes after that answer.
            failed = .closing
            context.fireErrorCaught(error)
        case (false, false):
            // A head refused behind answers under way: refused once they are written.
            failed = .refusalOwed(status, message)
        }
    }

    /// Writes the JSON refusal of a request the parser (or `HTTPVersionRules`) refused, then closes.
    private func refuse(_ context: ChannelHandlerContext, _ status: HTTPResponse.Status, _ message: String) {
        // Random, in the form of the ids `RequestLogMiddleware` gives; the answer as its errors are
        // (it sets the same headers on every answer it sees; this one it never sees).
        let id = RequestLogMiddleware<NodeRequestContext>.hexID(UInt64.random(in: 0...UInt64.max))
        let body = ByteBuffer(bytes: API.jsonBytes(APIErrorBody(status: status.code, message: message, requestID: id)))
        var response = HTTPResponse(status: status)
        response.headerFields[.contentType] = "application/json"
        response.headerFields[.contentLength] = String(body.readableBytes)
        response.headerFields[.connection] = "close"
        response.headerFields[.cacheControl] = "no-store"
        response.headerFields[nosniffHeader] = "nosniff"
        response.headerFields[resourcePolicyHeader] = "same-origin"
        response.headerFields[requestIDHeader] = id
        metrics?.httpResponse(status: status.code)
        if let logger, logger.logLevel <= .debug {
            var metadata: Logger.Metadata = ["hb.request.id": "\(id)", "status": "\(status.code)", "reason": "\(message)"]
            if let remote = context.remoteAddress { metadata["remote"] = "\(remote)" }
            logger.debug("request", metadata: metadata)
        }
        // Past `write`'s own check: these are this handler's, not the responder's.
        context.write(wrapOutboundOut(.head(response)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        Self.closeLingering(after: context.writeAndFlush(wrapOutboundOut(.end(nil))), context.channel)
    }
}

/// First in the pipeline of a connection whose output the node closed (`closeLingering`): reads
/// what the client still sends and drops it as it comes, before TLS (nothing of it is decrypted,
/// parsed or answered), so the socket holds none of it when it closes — closed with input
/// unread, the kernel resets the connection, and the client loses what its link had not yet
/// carried of the last answer. The client's own close ends it at once; more than
/// `limit` bytes, or the 2 s `closeLingering` gives, end it too.
final class LingeringDiscard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    /// What is dropped at most before the connection is closed all the same.
    static let limit = 4 << 20
    private var dropped = 0
    /// The node's close of its output (close_notify, then FIN): a whole close waits for it.
    private let outputClosed: EventLoopFuture<Void>

    init(outputClosed: EventLoopFuture<Void>) {
        self.outputClosed = outputClosed
    }

    func handlerAdded(context: ChannelHandlerContext) {
        context.read()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        dropped += unwrapInboundIn(data).readableBytes
        if dropped > Self.limit { context.close(promise: nil) }
    }

    /// Reads on, whatever the handlers after it would ask for (they withhold reads after the
    /// last request).
    func channelReadComplete(context: ChannelHandlerContext) {
        context.read()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            // The client is done sending: closed whole once the node's side is closed.
            let channel = context.channel
            outputClosed.whenComplete { _ in channel.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
