import HummingbirdCore
import NIOConcurrencyHelpers
import Synchronization
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import QuartetCrypto
import QuartetTLS

/// Closes an API connection that does not finish its requests in time: a first request head
/// within `firstRequestTimeout` of the handshake, each request's end within `requestTimeout` of
/// its head, the next head within `idleTimeout` of a response's end. Slow or silent clients
/// (half-sent headers, idle sockets) cannot hold connections for ever.
final class RequestDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let limits: ConnectionLimits
    /// The port's slots: a provisional connection whose first request brought no credentials
    /// is closed once that response is written.
    private let slots: ConnectionCap.Counter?
    /// The port's large responses not yet taken (`ResponseBudget`).
    private let budget: ResponseBudget?
    /// When the connection is closed unless something moves it on; nil while a request is
    /// with the handler. Moving it costs a clock read: the one timer scheduled is looked at
    /// when it fires and scheduled again for the deadline then in force (no timer per request).
    private var deadline: NIODeadline?
    /// While the connection is unwritable (the client takes nothing of a response): when it is
    /// closed unless it drains. Without it, a client that pipelined requests and stopped
    /// reading held its slot (and whatever its requests pinned) for ever, and made every
    /// graceful stop wait on it.
    private var stalled: NIODeadline?
    /// The stall deadline where the last stall left it (moved on by what the client took),
    /// while the connection is writable: a stall that follows before it passes goes on from it.
    /// Each flip back to writable started 30 s afresh, so a client taking pipelined answers at
    /// a trickle (each dip under the low-water mark let the next answer be written) was never
    /// held to the minimum drain rate.
    private var stallCarried: (until: NIODeadline, left: TimeAmount)?
    /// Bytes of watched parts the client took since this stall began.
    private var stallTaken = 0
    /// A read asked for while `pipelineReadAhead` requests were unanswered: asked for once an
    /// answer ends.
    private var readWithheld = false
    /// The end of the answer that left the connection idle is written but not yet on the socket:
    /// while the client takes it at the drain rate (stalled), the stall deadline alone is in
    /// force, and the idle timeout counts again from when it is on the socket or the
    /// connection turns writable.
    private var endPending = false
    private var timer: (due: NIODeadline, task: Scheduled<Void>)?
    /// Requests whose response has not ended.
    private var inFlight = 0
    private var reading = false
    /// When the handler joined the connection (on its event loop's clock, as every deadline here).
    private var opened = NIODeadline.uptimeNanoseconds(0)
    /// Responses still to be written before the connection closes, once a request asked for a
    /// protocol upgrade (`Upgrade`) or was a `CONNECT`: the node speaks neither, and NIO's
    /// decoder parses nothing after such a request — every byte the client sent after it was
    /// kept, without bound, until the idle timeout (gigabytes from one connection; a proxy's
    /// pooled connection dead for the next user). That request is answered (its `Upgrade`
    /// ignored, RFC 9110 §7.8), nothing more is read, and the connection closes after it. Set
    /// too by a request asking to close, and past the connection's age (the answers under way).
    private var closeAfterResponses: Int?
    /// The last answer is written (this future: on the socket) and its own request's body still
    /// comes: what is left of the body is dropped, and the connection closes when it ends.
    private var closeWhenRead: EventLoopFuture<Void>?
    /// That body ended: nothing more is read, whether or not the answer is on the socket yet (a
    /// client taking none of it while it sends on — an `Upgrade` request after the body stops
    /// NIO's decoder, which then keeps every byte read — grew the node without bound until
    /// the request deadline).
    private var drained = false
    /// A request read after the one the connection closes after (`closeAfterResponses` set
    /// before its head): dropped with its body, never passed on. Hummingbird would run it (an
    /// append committed) and its answer would be lost in the close.
    private var dropping = false
    /// The connection's last answer is written: the connection closes once it is on the socket,
    /// and until then each part of it the client takes moves the deadline on (a slow reader
    /// of a large page is not cut; one taking nothing is closed).
    private var lastWritten = false

    /// Whether a `Connection` field names the `close` option (a token, not a substring).
    static func asksToClose(_ field: String?) -> Bool {
        field?.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces).lowercased() == "close" } ?? false
    }

    init(limits: ConnectionLimits, slots: ConnectionCap.Counter? = nil, budget: ResponseBudget? = nil) {
        self.limits = limits
        self.slots = slots
        self.budget = budget
    }

    func handlerAdded(context: ChannelHandlerContext) {
        opened = context.eventLoop.now
        arm(context, limits.firstRequestTimeout)
    }

    /// A connection closed while the body of a request not yet answered still came: the body
    /// fails (the parser says so too, but only where its framing was left unfinished).
    /// Hummingbird reads the end of the input as the body's end (finding 334). (A body drained
    /// after its answer, `closeWhenRead`, is no route's.)
    func channelInactive(context: ChannelHandlerContext) {
        if reading && inFlight > 0 && closeWhenRead == nil { context.fireErrorCaught(HTTPParserError.invalidEOFState) }
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        budget?.forget(context.channel)
        timer?.task.cancel()
        timer = nil
        deadline = nil
        stalled = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // The last answer is written and its own request's body still comes: the rest of it is
        // read and dropped here (the responder no longer reads it), and the connection closes
        // once it ends and the answer is on the socket.
        if let written = closeWhenRead {
            if !drained, case .end = unwrapInboundIn(data) {
                drained = true
                // A client that takes none of the answer is closed all the same.
                arm(context, limits.firstRequestTimeout)
                ExchangeHandler.closeLingering(after: written, context.channel)
            }
            return
        }
        if dropping {
            if case .end = unwrapInboundIn(data) { dropping = false }
            return
        }
        switch unwrapInboundIn(data) {
        case .head(let head):
            // Pipelined after the connection's last request, or read after its age closed it:
            // not this connection's to run (and `read` asks for nothing more).
            if closeAfterResponses != nil {
                dropping = true
                return
            }
            inFlight += 1
            reading = true
            endPending = false
            arm(context, limits.requestTimeout)
            // The most a connection may have unanswered: this request is its last.
            if closeAfterResponses == nil, inFlight >= limits.maxPipelinedRequests { closeAfterResponses = inFlight }
            // So does one that asks to close (`Connection: close`): its answer is the last, and
            // requests pipelined after it (which Hummingbird never answers) are not read.
            if closeAfterResponses == nil, head.method == .connect || head.headerFields[.upgrade] != nil
                || Self.asksToClose(head.headerFields[.connection]) { closeAfterResponses = inFlight }
        case .body:
            break
        case .end:
            reading = false
            if inFlight == 0 {
                // Answered before it was read whole (a refusal by the access check, a 404, a
                // route that reads no body): the response's end armed nothing while the body
                // was coming, so the connection is idle from now — and closed now if it is old
                // enough (a body that outlasted the age the response's end would have closed it at).
                if context.eventLoop.now - opened > limits.maxConnectionAge {
                    context.fireChannelRead(data)
                    context.close(promise: nil)
                    return
                }
                arm(context, limits.idleTimeout)
            } else {
                // The handler works on it now; its response ends the wait (a slow handler is
                // not the client's fault).
                deadline = nil
            }
        }
        context.fireChannelRead(data)
    }

    /// Nothing more is read once a request that stops the decoder was read whole
    /// (`closeAfterResponses`): what the client sends after it is left in the socket.
    /// Nor while `pipelineReadAhead` requests are unanswered (between requests; a body under
    /// way is read): asked for again once one is.
    func read(context: ChannelHandlerContext) {
        if drained || (closeAfterResponses != nil && !reading) { return }
        if inFlight >= pipelineReadAhead && !reading {
            readWithheld = true
            return
        }
        context.read()
    }

    /// Unanswered requests past which nothing more is read (what one read brought is still
    /// decoded: `maxPipelinedRequests` bounds that).
    private var pipelineReadAhead: Int { min(8, limits.maxPipelinedRequests) }

    /// Input the parser (or `HTTPVersionRules`) refuses after the connection's last request was
    /// read whole, or in a request dropped behind it, belongs to no request that is answered:
    /// the connection closes after the answers under way, and the refusal is not one of them.
    /// Passed on, it was answered after the last answer — one that said `Connection: close` —
    /// and, behind a dropped `HEAD`, misframed (NIO's encoder gave that `HEAD`'s framing to the
    /// 400: its length, no body).
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if dropping || (closeAfterResponses != nil && !reading && closeWhenRead == nil),
           error is HTTPParserError || error is HTTPVersionRules.Refused { return }
        context.fireErrorCaught(error)
    }

    /// While the rest of an answered request's body is drained (`closeWhenRead`), this handler
    /// asks for it itself (the responder above no longer reads), up to the body's end.
    func channelReadComplete(context: ChannelHandlerContext) {
        if closeWhenRead != nil {
            if !drained { context.read() }
            return
        }
        context.fireChannelReadComplete()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // A final response that is the connection's last says so: the answer to a request that
        // stopped the decoder or asked to close, or the last under way past the connection's
        // age. A client or proxy reusing the connection would otherwise send its next request
        // into a close.
        if case .head(var response) = unwrapOutboundIn(data), response.status.code >= 200 {
            // A route's own `Connection: close` (a 413, a refused credential) is the last
            // answer: once it is written the connection closes, and if its request's body still
            // comes the rest is read and dropped first (`closeWhenRead`: a close under the upload
            // would reset the connection and lose the answer). It was left open, against what
            // the answer said. Past the connection's age (nothing being read): it closes after
            // the answers under way, the last saying so (a client keeping requests pipelined was
            // never closed).
            if closeAfterResponses == nil {
                if inFlight == 1 && Self.asksToClose(response.headerFields[.connection]) {
                    closeAfterResponses = 1
                } else if !reading && context.eventLoop.now - opened > limits.maxConnectionAge {
                    closeAfterResponses = max(inFlight, 1)
                }
            }
            // A provisional connection whose first request brought no credentials closes after
            // the answers of the requests already read (one, unless pipelined): the last says so.
            if closeAfterResponses == nil, slots?.willCloseAfterResponse(ObjectIdentifier(context.channel)) == true {
                closeAfterResponses = max(inFlight, 1)
            }
            if closeAfterResponses == 1 {
                response.headerFields[.connection] = "close"
                context.write(wrapOutboundOut(.head(response)), promise: promise)
                return
            }
        }
        // A response body is written in parts of at most `progressChunk`, each of which, once on
        // the socket, moves the write-stall deadline on: a slow reader that keeps taking a large
        // page is not cut, only one that takes nothing. (A small part written while the
        // connection is unwritable reports its progress too.)
        if case .body(let buffer) = unwrapOutboundIn(data), buffer.readableBytes > Self.progressChunk || (stalled != nil && buffer.readableBytes > 0) {
            var rest = buffer
            while rest.readableBytes > 0 {
                let part = rest.readSlice(length: min(rest.readableBytes, Self.progressChunk))!
                let written = context.eventLoop.makePromise(of: Void.self)
                let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                let bytes = part.readableBytes
                budget?.hold(context.channel, bytes)
                written.futureResult.whenComplete { result in
                    let (handler, context) = loopBound.value
                    handler.budget?.release(context.channel, bytes)
                    if case .success = result, let stalled = handler.stalled {
                        handler.stalled = handler.limits.stallDeadline(stalled, took: bytes, now: context.eventLoop.now)
                        handler.stallTaken += bytes
                    }
                    // (Not while the answered request's body is still drained: its own deadline.)
                    if case .success = result, handler.lastWritten, handler.closeWhenRead == nil || handler.drained {
                        handler.arm(context, handler.limits.firstRequestTimeout)
                    }
                }
                if rest.readableBytes == 0, let promise { written.futureResult.cascade(to: promise) }
                context.write(wrapOutboundOut(.body(part)), promise: written)
            }
            return
        }
        if case .end = unwrapOutboundIn(data) {
            inFlight = max(0, inFlight - 1)
            // A provisional connection whose first request brought no credentials: this
            // response is its last. An old enough one likewise, once nothing else is under way
            // (the client reconnects).
            let slotCloses = slots?.closesAfterResponse(ObjectIdentifier(context.channel)) == true
            var last = slotCloses
            if let remaining = closeAfterResponses {
                closeAfterResponses = remaining - 1
                last = remaining <= 1
            }
            lastWritten = last
            // (Past the connection's age only once an answer said so, in its head: a long answer
            // that crossed the age closes at the next one, or when idle.)
            if last && reading && inFlight == 0 {
                // Its own request's body still comes (a close now would reset the connection and
                // lose this answer): the rest is drained and dropped, then the connection closes
                // (`closeWhenRead`), or at the request deadline. A later pipelined request being
                // read is not this one's: closed at once as below (it is not run).
                let written = context.eventLoop.makePromise(of: Void.self)
                promise.map { written.futureResult.cascade(to: $0) }
                closeWhenRead = written.futureResult
                context.write(data, promise: written)
                return
            } else if last {
                // Closed once written, its output first (a whole close drops what the kernel
                // has not sent if the client's bytes still come); a client that does not read
                // it is closed all the same.
                arm(context, limits.firstRequestTimeout)
                let written = context.eventLoop.makePromise(of: Void.self)
                ExchangeHandler.closeLingering(after: written.futureResult, context.channel)
                promise.map { written.futureResult.cascade(to: $0) }
                context.write(data, promise: written)
                return
            }
            let askRead = readWithheld && inFlight < pipelineReadAhead
            if askRead { readWithheld = false }
            if inFlight == 0 && !reading {
                // Idle from now — a deadline always follows an answer (a timer that fired while
                // a route ran left none, and an answer that never reached the socket held the
                // connection for ever) — and again from when the end is on the socket; while a
                // client takes it at the drain rate, that rule alone (findings 334–336: armed
                // only as it was queued, a large page taken at 16 KiB/s was cut 30 s later).
                arm(context, limits.idleTimeout)
                endPending = true
                let written = context.eventLoop.makePromise(of: Void.self)
                promise.map { written.futureResult.cascade(to: $0) }
                let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                written.futureResult.whenComplete { _ in
                    let (handler, context) = loopBound.value
                    guard handler.endPending else { return }
                    handler.endPending = false
                    if handler.inFlight == 0 && !handler.reading { handler.arm(context, handler.limits.idleTimeout) }
                }
                context.write(data, promise: written)
                if askRead { context.read() }
                return
            }
            if askRead {
                context.write(data, promise: promise)
                context.read()
                return
            }
        }
        context.write(data, promise: promise)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        budget?.stalled(context.channel, !context.channel.isWritable)
        let now = context.eventLoop.now
        if context.channel.isWritable {
            // Writable again: the client took at least what lies between the water marks, of
            // which the watched parts counted only `stallTaken`.
            if let stalled {
                let until = limits.stallDeadline(stalled, took: max(0, Self.waterMarkSpan - stallTaken), now: now)
                stallCarried = (until, until - now)
            }
            stalled = nil
            // The last answer's end still queued: idle from now (its deadline was out of force
            // while the client took the answer).
            if endPending && inFlight == 0 && !reading { arm(context, limits.idleTimeout) }
        } else if stalled == nil {
            // Stalled again before the last stall's deadline passed: it goes on with the time
            // that stall had left (the time writable between them, the node producing or the
            // client between requests, is not the client's to pay).
            let due = stallCarried.flatMap { $0.until > now ? now + $0.left : nil } ?? now + limits.writeStallTimeout
            stalled = due
            stallTaken = 0
            wake(context, at: due)
        }
        context.fireChannelWritabilityChanged()
    }

    /// What a connection's output drops by from unwritable to writable: NIO's default water
    /// marks (64 KiB high, 32 KiB low), which the API port keeps.
    static let waterMarkSpan = 32 << 10

    /// Response body parts whose writing is watched for progress.
    static let progressChunk = 64 << 10

    /// The earlier of the request deadline and the write-stall deadline, if any.
    private var due: NIODeadline? {
        // While the last answer is taken at the drain rate, its rule alone.
        let deadline: NIODeadline? = endPending && stalled != nil ? nil : self.deadline
        return switch (deadline, stalled) {
        case (let a?, let b?): min(a, b)
        case (let a?, nil): a
        case (nil, let b?): b
        case (nil, nil): nil
        }
    }

    private func arm(_ context: ChannelHandlerContext, _ timeout: TimeAmount) {
        let due = context.eventLoop.now + timeout
        deadline = due
        wake(context, at: due)
    }

    /// Makes sure the timer fires by `due` (a timer already due no later checks then).
    private func wake(_ context: ChannelHandlerContext, at due: NIODeadline) {
        if let timer {
            guard timer.due > due else { return }
            timer.task.cancel()
        }
        schedule(context, at: due)
    }

    private func schedule(_ context: ChannelHandlerContext, at due: NIODeadline) {
        let channel = context.channel
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let task = context.eventLoop.scheduleTask(deadline: due) {
            let (handler, context) = loopBound.value
            handler.timer = nil
            guard let next = handler.due else {
                // Nothing under way and no deadline: never left so (the connection would be
                // held for ever); idle from now.
                if handler.inFlight == 0 && !handler.reading { handler.arm(context, handler.limits.idleTimeout) }
                return
            }
            if next <= context.eventLoop.now {
                channel.close(promise: nil)
            } else {
                handler.schedule(context, at: next)
            }
        }
        timer = (due, task)
    }
}
