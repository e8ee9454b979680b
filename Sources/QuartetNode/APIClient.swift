import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import QuartetTLS

/// A minimal HTTPS client for a node's API over QuartetTLS (no other TLS stack in the package):
/// one request per connection, authenticated by a client certificate or a bearer token.
public struct APIClient: Sendable {
    let context: TLSContext
    let node: String
    let address: HostPort
    let token: String?

    /// - Parameters:
    ///   - certificate, key: the client certificate and key, or nil to go without (then give `token`).
    ///   - node: the node expected at `address` (its certificate must name it).
    public init(certificate: String?, key: String?, ca: String, node: String, address: HostPort, token: String? = nil) throws {
        context = try TLSContext(role: .client, certificateChain: certificate, privateKey: key, trustRoots: ca)
        self.node = node
        self.address = address
        self.token = token
    }

    /// An HTTPS connection to `node` at `address` (its certificate must name it), with `handler`
    /// above the HTTP/1.1 client handlers.
    static func open(context: TLSContext, node: String, address: HostPort, handler: any ChannelHandler & Sendable) async throws -> any Channel {
        var logger = Logger(label: "quartet.client")
        logger.logLevel = .critical
        let quiet = logger
        return try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(try TLSHandler(context: context, policy: .node(node), serverName: node, logger: quiet))
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .connect(host: address.host, port: address.port).get()
    }

    public func get(_ path: String, accept: String? = nil) async throws -> (status: Int, body: Data) {
        try await request(.GET, path, accept: accept)
    }

    public func post(_ path: String, json: Data) async throws -> (status: Int, body: Data) {
        try await request(.POST, path, body: json)
    }

    public func request(_ method: HTTPMethod, _ path: String, body: Data? = nil, accept: String? = nil) async throws -> (status: Int, body: Data) {
        let promise = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: (Int, Data).self)
        let channel: any Channel
        do {
            channel = try await Self.open(context: context, node: node, address: address, handler: ResponseCollector(promise: promise))
        } catch {
            promise.fail(error)
            throw error
        }
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
        head.headers.add(name: "Host", value: address.host)
        head.headers.add(name: "Connection", value: "close")
        if let token { head.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let accept { head.headers.add(name: "Accept", value: accept) }
        if let body {
            head.headers.add(name: "Content-Type", value: "application/json")
            head.headers.add(name: "Content-Length", value: String(body.count))
        }
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if let body { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        let (status, responseBody) = try await promise.futureResult.get()
        try? await channel.close().get()
        return (status, responseBody)
    }
}

final class ResponseCollector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    private let promise: EventLoopPromise<(Int, Data)>
    private var status = 0
    private var body = Data()
    private var done = false

    init(promise: EventLoopPromise<(Int, Data)>) { self.promise = promise }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): status = Int(head.status.code)
        case .body(let buffer): body.append(contentsOf: buffer.readableBytesView)
        case .end:
            done = true
            promise.succeed((status, body))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !done { done = true; promise.fail(error) }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !done { done = true; promise.fail(ChannelError.eof) }
        context.fireChannelInactive()
    }
}

/// An HTTPS client that keeps one connection open and sends requests on it one after another
/// (HTTP/1.1 keep-alive), as a dashboard or an analyst's script would: for benchmarks of the
/// query path without a handshake per request.
public final class KeepAliveClient: @unchecked Sendable {
    let channel: any Channel
    let collector: SequentialResponses
    let host: String
    let token: String?

    public static func connect(certificate: String?, key: String?, ca: String, node: String, address: HostPort,
                               token: String? = nil) async throws -> KeepAliveClient {
        let context = try TLSContext(role: .client, certificateChain: certificate, privateKey: key, trustRoots: ca)
        let collector = SequentialResponses()
        let channel = try await APIClient.open(context: context, node: node, address: address, handler: collector)
        return KeepAliveClient(channel: channel, collector: collector, host: address.host, token: token)
    }

    init(channel: any Channel, collector: SequentialResponses, host: String, token: String?) {
        self.channel = channel
        self.collector = collector
        self.host = host
        self.token = token
    }

    /// One GET; call again only after it returns.
    public func get(_ path: String) async throws -> (status: Int, body: Data) {
        let promise = channel.eventLoop.makePromise(of: (Int, Data).self)
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
        head.headers.add(name: "Host", value: host)
        if let token { head.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let channel = self.channel, collector = self.collector, request = head
        channel.eventLoop.execute {
            collector.waiting.append(promise)
            channel.write(HTTPClientRequestPart.head(request), promise: nil)
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        }
        return try await promise.futureResult.get()
    }

    public func close() async { try? await channel.close().get() }
}

/// Answers the waiting requests of a keep-alive connection in order.
final class SequentialResponses: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    var waiting: [EventLoopPromise<(Int, Data)>] = []
    private var status = 0
    private var body = Data()

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
            body = Data()
        case .body(let buffer): body.append(contentsOf: buffer.readableBytesView)
        case .end:
            if !waiting.isEmpty { waiting.removeFirst().succeed((status, body)) }
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
