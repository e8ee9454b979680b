import NIOCore
import NIOHTTP1

/// The rules of a request that depend on its HTTP version, which the request loses once it is
/// made an `HTTPRequest` (`HTTP1ToHTTPServerCodec`): so this handler sits just before that
/// codec.
///
/// - An HTTP/1.1 request without `Host` is refused (RFC 9112 §3.2: the server MUST answer 400):
///   every check that names this node's own origin (a cookie's write, `Strict-Transport-Security`)
///   reads the authority from it. The refusal is `ExchangeHandler`'s, answered as a parser
///   refusal is (JSON with a request id, after the answers owed before it, then the connection
///   closed); nothing of the request, or of what follows it on the connection, goes on.
/// - `Expect` on an HTTP/1.0 request is left out (RFC 9110 §10.1.1: the server MUST ignore a
///   100-continue expectation in an HTTP/1.0 request): such a client knows no interim answer
///   and sends its body anyway. An HTTP/1.0 request without `Host` is taken, as HTTP/1.0 allows.
final class HTTPVersionRules: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    /// A request refused by these rules, with what to tell the client.
    struct Refused: Error {
        let message: String
    }

    /// A request was refused: nothing more is passed on (the connection closes).
    private var refused = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        guard case .head(var head) = unwrapInboundIn(data) else {
            context.fireChannelRead(data)
            return
        }
        if head.version.major == 1, head.version.minor >= 1, !head.headers.contains(name: "host") {
            refused = true
            context.fireErrorCaught(Refused(message: "an HTTP/1.1 request needs a Host header (RFC 9112 §3.2)"))
            return
        }
        if head.version == .http1_0, head.headers.contains(name: "expect") {
            head.headers.remove(name: "expect")
            context.fireChannelRead(wrapInboundOut(.head(head)))
            return
        }
        context.fireChannelRead(data)
    }
}
