import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import QuartetAPI
import QuartetTLS

/// An HTTPS client that keeps one connection open and sends requests on it one after another
/// (HTTP/1.1 keep-alive), as a dashboard or an analyst's script would: a node's requests to the
/// other members' witnesses and reads of their checkpoints, and the benchmarks, without a
/// handshake per request.
public final class KeepAliveClient: @unchecked Sendable {
    let channel: any Channel
    let collector: SequentialResponses
    let host: String
    let token: String?

    public static func connect(certificate: String?, key: String?, ca: String, node: String, address: HostPort,
                               token: String? = nil) async throws -> KeepAliveClient {
        let context = try TLSContext(role: .client, certificateChain: certificate, privateKey: key, trustRoots: ca)
        let (channel, collector) = try await APIClient.open(context: context, node: node, address: address) { SequentialResponses() }
        return KeepAliveClient(channel: channel, collector: collector, host: address.host, token: token)
    }

    /// A connection presenting `context`'s certificate (a node's own, to the other members'
    /// witnesses).
    static func connect(context: TLSContext, node: String, address: HostPort, answerLimit: Int = maxAnswerBytes) async throws -> KeepAliveClient {
        let (channel, collector) = try await APIClient.open(context: context, node: node, address: address) { SequentialResponses(limit: answerLimit) }
        return KeepAliveClient(channel: channel, collector: collector, host: address.host, token: nil)
    }

    var isOpen: Bool { channel.isActive }

    /// One POST; call again only after it returns. Without an answer within `timeout` the
    /// connection is closed and the request fails.
    public func post(_ path: String, body: Data, contentType: String, timeout: TimeAmount = .seconds(10)) async throws -> (status: Int, body: Data) {
        try await send(.POST, path, body: body, contentType: contentType, timeout: timeout)
    }

    /// One request; call again only after it returns. Without an answer within `timeout` the
    /// connection is closed and the request fails.
    func send(_ method: HTTPMethod, _ path: String, body: Data? = nil, contentType: String? = nil, timeout: TimeAmount) async throws -> (status: Int, body: Data) {
        try await start(method, path, body: body, contentType: contentType, timeout: timeout).get()
    }

    /// `send`, with the answer's headers.
    func sendWithHeaders(_ method: HTTPMethod, _ path: String, timeout: TimeAmount) async throws -> (status: Int, headers: HTTPHeaders, body: Data) {
        try await begin(method, path, body: nil, contentType: nil, timeout: timeout).get()
    }

    /// Writes one request to the connection from the calling thread (no task hop) and returns
    /// its answer's future; start the next only after it completes. Without an answer within
    /// `timeout` the connection is closed and the request fails.
    func start(_ method: HTTPMethod, _ path: String, body: Data? = nil, contentType: String? = nil, timeout: TimeAmount) -> EventLoopFuture<(status: Int, body: Data)> {
        begin(method, path, body: body, contentType: contentType, timeout: timeout).map { (status: $0.status, body: $0.body) }
    }

    private func begin(_ method: HTTPMethod, _ path: String, body: Data?, contentType: String?, timeout: TimeAmount) -> EventLoopFuture<(status: Int, headers: HTTPHeaders, body: Data)> {
        let promise = channel.eventLoop.makePromise(of: (Int, HTTPHeaders, Data).self)
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
        head.headers.add(name: "Host", value: HostPort.hostField(host))
        if let token { head.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            if let contentType { head.headers.add(name: "Content-Type", value: contentType) }
            head.headers.add(name: "Content-Length", value: String(body.count))
        }
        let channel = self.channel, collector = self.collector, request = head
        channel.eventLoop.execute {
            // A connection closed meanwhile (the server's idle timeout) would never answer.
            guard channel.isActive else { return promise.fail(ChannelError.ioOnClosedChannel) }
            collector.waiting.append(promise)
            channel.write(HTTPClientRequestPart.head(request), promise: nil)
            if let body { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil) }
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        }
        let timer = channel.eventLoop.scheduleTask(in: timeout) {
            promise.fail(ChannelError.connectTimeout(timeout))
            channel.close(promise: nil)
        }
        return promise.futureResult.always { _ in timer.cancel() }.map { (status: $0.0, headers: $0.1, body: $0.2) }
    }

    init(channel: any Channel, collector: SequentialResponses, host: String, token: String?) {
        self.channel = channel
        self.collector = collector
        self.host = host
        self.token = token
    }

    /// One GET; call again only after it returns (a minute at most).
    public func get(_ path: String) async throws -> (status: Int, body: Data) {
        try await start(.GET, path, timeout: .seconds(60)).get()
    }

    public func close() async { try? await channel.close().get() }
}

/// Answers the waiting requests of a keep-alive connection in order.
final class SequentialResponses: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    var waiting: [EventLoopPromise<(Int, HTTPHeaders, Data)>] = []
    /// The largest answer taken (a witness's is a few lines).
    let limit: Int
    init(limit: Int = maxAnswerBytes) { self.limit = limit }
    private var status = 0
    private var headers = HTTPHeaders()
    private var body = Data()

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
            headers = head.headers
            body = Data()
        case .body(let buffer):
            guard body.count + buffer.readableBytes <= limit else { return errorCaught(context: context, error: AnswerTooLarge(limit: limit)) }
            body.append(contentsOf: buffer.readableBytesView)
        case .end:
            if !waiting.isEmpty { waiting.removeFirst().succeed((status, headers, body)) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        for promise in waiting { promise.fail(error) }
        waiting = []
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        for promise in waiting { promise.fail(ChannelError.eof) }
        waiting = []
        context.fireChannelInactive()
    }
}
