import HTTPTypes
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
///   and sends its body anyway. An HTTP/1.0 request without `Host` is taken, as HTTP/1.0 allows,
///   and its connection closed after the answer unless it asked `Connection: keep-alive`.
/// - Any other version NIO's parser reads (`HTTP/2.0`, a request line with none) is refused (505),
///   and so is a transfer coding other than chunked (501: the coded bytes would be read as the body).
final class HTTPVersionRules: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    /// A request refused by these rules, with what to tell the client.
    struct Refused: Error {
        var status: HTTPResponse.Status = .badRequest
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
        // NIO's parser also reads `HTTP/2.0` and a request line with no version (0.9), whose
        // headers it still parses: neither is served here (505).
        guard head.version == .http1_1 || head.version == .http1_0 else {
            refused = true
            context.fireErrorCaught(Refused(status: .httpVersionNotSupported,
                                            message: "HTTP/\(head.version.major).\(head.version.minor) is not served here; send HTTP/1.1"))
            return
        }
        // A transfer coding other than chunked (`gzip, chunked`): NIO's parser reads the body by
        // its chunks and hands on the coded bytes as if they were the body (RFC 9112 §6.1: 501).
        if head.headers.contains(name: "transfer-encoding"),
           head.headers[canonicalForm: "transfer-encoding"].contains(where: { $0.lowercased() != "chunked" }) {
            refused = true
            context.fireErrorCaught(Refused(status: .notImplemented, message: "Transfer-Encoding: only chunked is understood here; send the body chunked or with a Content-Length"))
            return
        }
        if head.version == .http1_1, !head.headers.contains(name: "host") {
            refused = true
            context.fireErrorCaught(Refused(message: "an HTTP/1.1 request needs a Host header (RFC 9112 §3.2)"))
            return
        }
        guard head.version == .http1_0 else {
            context.fireChannelRead(data)
            return
        }
        head.headers.remove(name: "expect")
        // HTTP/1.0 closes after the answer unless the client asked to keep the connection
        // (RFC 9112 §9.3); the request's version is gone after this handler, so it is said as
        // HTTP/1.1 says it (a client that frames by the close waited for the idle timeout).
        if !head.headers[canonicalForm: "connection"].contains(where: { $0.lowercased() == "keep-alive" }) {
            head.headers.replaceOrAdd(name: "connection", value: "close")
        }
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }
}
