import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import QuartetAPI
import QuartetCrypto
import QuartetPolicy
import QuartetTLS

/// A minimal HTTPS client for a node's API over QuartetTLS (no other TLS stack in the package):
/// one request per connection, authenticated by a client certificate or a bearer token.
public struct APIClient: Sendable {
    let context: TLSContext
    let node: String
    let address: HostPort
    let token: String?
    /// A request not answered in full within this fails and its connection is closed: a node
    /// that never answers, or trickles its answer, must not hold a command for ever.
    public var timeout: TimeAmount = .seconds(60)

    /// - Parameters:
    ///   - certificate, key: the client certificate and key, or nil to go without (then give `token`).
    ///   - node: the node expected at `address` (its certificate must name it).
    ///   - revocationLists: the CA's lists (`tls.crl`): a node certificate they revoke is refused.
    public init(certificate: String?, key: String?, ca: String, node: String, address: HostPort, token: String? = nil,
                revocationLists: [RevocationList] = []) throws {
        context = try TLSContext(role: .client, certificateChain: certificate, privateKey: key, trustRoots: ca, revocationLists: revocationLists)
        self.node = node
        self.address = address
        self.token = token
    }

    /// An HTTPS connection to `node` at `address` (its certificate must name it), with a handler
    /// `makeHandler` makes above the HTTP/1.1 client handlers; the connection and that handler.
    /// A name with several addresses is tried as NIO tries them (Happy Eyeballs), a pipeline per
    /// attempt: each attempt has a handler of its own, so one that loses and is closed later
    /// cannot fail the requests of the one that won.
    static func open<Handler: ChannelHandler & Sendable>(context: TLSContext, node: String, address: HostPort,
                                                       makeHandler: @escaping @Sendable () -> Handler) async throws -> (channel: any Channel, handler: Handler) {
        var logger = Logger(label: "quartet.client")
        logger.logLevel = .critical
        let quiet = logger
        // The winning attempt's own handler comes back from its initializer (looked up after
        // the connect, a handshake refused meanwhile had already removed it, hiding the refusal).
        let (channel, handler) = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(5))
            .connect(host: address.host, port: address.port) { channel in
                channel.eventLoop.makeCompletedFuture { () throws -> (any Channel, Handler) in
                    try channel.pipeline.syncOperations.addHandler(try TLSHandler(context: context, policy: .node(node), serverName: node, logger: quiet))
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    let handler = makeHandler()
                    try channel.pipeline.syncOperations.addHandler(handler)
                    return (channel, handler)
                }
            }
        return (channel, handler)
    }

    public func get(_ path: String, accept: String? = nil) async throws -> (status: Int, body: Data) {
        try await request(.GET, path, accept: accept)
    }

    public func post(_ path: String, json: Data) async throws -> (status: Int, body: Data) {
        try await request(.POST, path, body: json)
    }

    /// A client presenting `context`'s certificate (a node's own, for its witness requests).
    init(context: TLSContext, node: String, address: HostPort) {
        self.context = context
        self.node = node
        self.address = address
        self.token = nil
    }

    /// `headers`: fields sent besides those every request carries (`Idempotency-Key`).
    public func request(_ method: HTTPMethod, _ path: String, body: Data? = nil, accept: String? = nil,
                        contentType: String = "application/json", headers extra: [(String, String)] = []) async throws -> (status: Int, body: Data) {
        let (channel, collector) = try await Self.open(context: context, node: node, address: address) {
            ResponseCollector(promise: MultiThreadedEventLoopGroup.singleton.next().makePromise(of: (Int, Data).self))
        }
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
        head.headers.add(name: "Host", value: HostPort.hostField(address.host))
        head.headers.add(name: "Connection", value: "close")
        if let token { head.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let accept { head.headers.add(name: "Accept", value: accept) }
        head.headers.add(contentsOf: extra)
        if let body {
            head.headers.add(name: "Content-Type", value: contentType)
            head.headers.add(name: "Content-Length", value: String(body.count))
        }
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if let body { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        let deadline = channel.eventLoop.scheduleTask(in: timeout) { [timeout] in
            // On the channel's loop, as the collector's other events.
            (try? channel.pipeline.syncOperations.handler(type: ResponseCollector.self))?.expire(after: timeout, channel: channel)
        }
        defer { deadline.cancel() }
        let (status, responseBody) = try await collector.answer.get()
        try? await channel.close().get()
        return (status, responseBody)
    }
}

extension APIClient {
    /// Whether a request that failed with `error` may have reached the node and been done with
    /// its answer lost (the connection closed or reset, the answer timed out), so that sending
    /// it again could do it twice: not when the node answered (a refusal, an answer too large),
    /// nor when no connection was made (refused, unreachable, the handshake failed).
    public static func mayHaveArrived(_ error: any Error) -> Bool {
        switch error {
        case is APIClientError, is AnswerTooLarge, is NIOConnectionError: return false
        case let error as TLSError: return error.code == .protocolError
        case let error as ChannelError:
            if case .connectTimeout = error { return false }
            return true
        case let error as IOError: return error.errnoCode != ECONNREFUSED && error.errnoCode != ENETUNREACH && error.errnoCode != EHOSTUNREACH
        default: return true
        }
    }
}

/// An answer the client could not use: a refusal (non-2xx, with the node's `APIErrorBody` when
/// it sent one), or a body that is not the documented shape (a field renamed or missing).
public struct APIClientError: Error, CustomStringConvertible, Sendable {
    public enum Code: Sendable, Equatable {
        /// The node answered with a status outside 2xx.
        case refused
        /// The body did not decode as the documented type.
        case unreadableAnswer
    }

    public let code: Code
    /// The request, as `GET /v1/logs`.
    public let request: String
    public let status: Int
    /// The node's refusal body, when it sent one.
    public let refusal: APIErrorBody?
    /// What went wrong: the node's message, or where decoding failed.
    public let message: String

    public var description: String { "\(request): \(status): \(message)" }
}

extension APIClient {
    /// Sends a request and decodes the answer as `Answer`; a non-2xx status throws
    /// `APIClientError.refused` carrying the node's `APIErrorBody`, a body of another shape
    /// `.unreadableAnswer` naming the field. `accepting` lists other statuses whose body is an
    /// `Answer` too (`/healthz`'s 503).
    public func send<Answer: Decodable>(_ method: HTTPMethod, _ path: String, body: (some Encodable)? = nil as AppendItem?,
                                        as _: Answer.Type = Answer.self, accepting: Set<Int> = [], idempotencyKey: String? = nil) async throws -> Answer {
        let data = try body.map { try CompactJSONEncoder.data($0) }
        let (status, response) = try await request(method, path, body: data, headers: idempotencyKey.map { [(IdempotencyKey.field, "\"\($0)\"")] } ?? [])
        let name = "\(method.rawValue) \(path)"
        guard (200..<300).contains(status) || accepting.contains(status) else {
            let refusal = try? JSONDecoder().decode(APIErrorBody.self, from: response)
            throw APIClientError(code: .refused, request: name, status: status, refusal: refusal,
                                 message: refusal?.error.message ?? String(decoding: response.prefix(500), as: UTF8.self))
        }
        do { return try JSONDecoder().decode(Answer.self, from: response) } catch {
            throw APIClientError(code: .unreadableAnswer, request: name, status: status, refusal: nil,
                                 message: "the answer is not a \(Answer.self): \(Self.describe(error))")
        }
    }

    /// A decoding error as a sentence naming the field (`logs[2].size: missing`).
    static func describe(_ error: any Error) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().drop { $0 == "." }.description
        }
        switch error as? DecodingError {
        case .keyNotFound(let key, let context)?: return "\(path(context.codingPath + [key])): missing"
        case .typeMismatch(_, let context)?, .valueNotFound(_, let context)?, .dataCorrupted(let context)?:
            return "\(path(context.codingPath)): \(context.debugDescription)"
        default: return "\(error)"
        }
    }

    static func segment(_ name: String) -> String {
        name.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? name
    }

    /// `GET /healthz` (answered also when unhealthy: then `status` is `unavailable`).
    public func health() async throws -> HealthResponse { try await send(.GET, "/healthz", accepting: [503]) }

    /// `GET /v1/logs`.
    public func logs() async throws -> LogsResponse { try await send(.GET, "/v1/logs") }

    /// `GET /v1/logs/{log}/entries`: at most `limit` (1–1,000) entries from `from`.
    public func entries(log: String, from: UInt64 = 0, limit: Int = 100) async throws -> EntriesResponse {
        try await send(.GET, "/v1/logs/\(Self.segment(log))/entries?from=\(from)&limit=\(limit)")
    }

    /// `GET /v1/logs/{log}/checkpoint`: the latest checkpoint exactly as signed; with
    /// `covering`, the newest a quorum of the log's witnesses cosigned that holds that many
    /// entries, with its cosignatures (else the latest).
    public func checkpoint(log: String, covering: UInt64? = nil) async throws -> String {
        let path = "/v1/logs/\(Self.segment(log))/checkpoint" + (covering.map { "?covering=\($0)" } ?? "")
        let (status, body) = try await get(path)
        guard status == 200 else {
            let refusal = try? JSONDecoder().decode(APIErrorBody.self, from: body)
            throw APIClientError(code: .refused, request: "GET \(path)", status: status, refusal: refusal,
                                 message: refusal?.error.message ?? String(decoding: body.prefix(500), as: UTF8.self))
        }
        return String(decoding: body, as: UTF8.self)
    }

    /// `GET /v1/logs/{log}/proofs/inclusion`.
    public func inclusionProof(log: String, index: UInt64, size: UInt64? = nil) async throws -> InclusionProofBody {
        try await send(.GET, "/v1/logs/\(Self.segment(log))/proofs/inclusion?index=\(index)" + (size.map { "&size=\($0)" } ?? ""))
    }

    /// `GET /v1/logs/{log}/proofs/consistency`.
    public func consistencyProof(log: String, from: UInt64, to: UInt64? = nil) async throws -> ConsistencyProofBody {
        try await send(.GET, "/v1/logs/\(Self.segment(log))/proofs/consistency?from=\(from)" + (to.map { "&to=\($0)" } ?? ""))
    }

    /// `POST /v1/logs/{log}/entries` with one item; answered once durable. With
    /// `idempotencyKey`, the same request sent again with it is answered without a second append.
    public func append(log: String, _ item: AppendItem, idempotencyKey: String? = nil) async throws -> ReceiptBody {
        try await send(.POST, "/v1/logs/\(Self.segment(log))/entries", body: item, idempotencyKey: idempotencyKey)
    }

    /// `POST /v1/logs/{log}/entries` with up to 1,000 items, in order, all or none.
    public func append(log: String, batch items: [AppendItem], idempotencyKey: String? = nil) async throws -> AppendBatchResponse {
        try await send(.POST, "/v1/logs/\(Self.segment(log))/entries", body: AppendBatchRequest(entries: items), idempotencyKey: idempotencyKey)
    }

    /// `POST /v1/record/{kind}` (`status`, `reading` or `evidence`): the body is the payload.
    public func record(_ kind: String, payload: PayloadValue, idempotencyKey: String? = nil) async throws -> ReceiptBody {
        try await send(.POST, "/v1/record/\(Self.segment(kind))", body: payload, idempotencyKey: idempotencyKey)
    }

    /// `GET /v1/peers`.
    public func peers() async throws -> PeersResponse { try await send(.GET, "/v1/peers") }

    /// `GET /v1/alerts`.
    public func alerts() async throws -> AlertsResponse { try await send(.GET, "/v1/alerts") }

    /// `GET /v1/agreements`.
    public func agreements() async throws -> AgreementsResponse { try await send(.GET, "/v1/agreements") }

    /// `GET /v1/agreements/{id}`.
    public func agreement(id: String) async throws -> AgreementBody { try await send(.GET, "/v1/agreements/\(Self.segment(id))") }

    /// One page of `GET /v1/agreements/{id}/disclosures` (the owner's auditors and the holder's
    /// operator): the records after `after` (`LOG:INDEX`, a page's `next`), at most `limit`.
    public func disclosures(agreement id: String, after: String?, limit: Int) async throws -> DisclosuresResponse {
        try await send(.GET, "/v1/agreements/\(Self.segment(id))/disclosures?limit=\(limit)" + (after.map { "&after=\(Self.queryValue($0))" } ?? ""))
    }

    /// Every record of `GET /v1/agreements/{id}/disclosures`, page by page. The node's word is
    /// hostile input: each `next` must move forward, each record on a page must lie after the
    /// page's start and at most at its `next`, and at most `maxRecords` records and
    /// `maxRanges` ranges and purged entries are read.
    public func disclosures(agreement id: String, maxRecords: Int = 1_000_000, maxRanges: Int = 10_000_000) async throws -> DisclosuresResponse {
        func refused(_ message: String) -> APIClientError {
            APIClientError(code: .unreadableAnswer, request: "GET /v1/agreements/\(id)/disclosures", status: 200, refusal: nil, message: message)
        }
        var whole: DisclosuresResponse?
        var after: RecordRef?
        var ranges = 0
        while true {
            var page = try await disclosures(agreement: id, after: after?.description, limit: 1000)
            // `next` is a record ref past where this page started, and every record on the page
            // lies in (start, next]: pages that repeat or go back end the read.
            let next = try page.next.map { text in
                guard let ref = RecordRef(parsing: text), after.map({ $0 < ref }) ?? true else {
                    throw refused("the node's page after \(after?.description ?? "the start") names \(text) as next, which is not further on")
                }
                return ref
            }
            for record in page.disclosures.map(\.record) + page.purges.map(\.record) {
                let ref = RecordRef(log: record.log, index: record.index)
                guard after.map({ $0 < ref }) ?? true, next.map({ ref <= $0 }) ?? true else {
                    throw refused("the node's page after \(after?.description ?? "the start") holds \(ref), outside the page")
                }
            }
            ranges += page.disclosures.reduce(0) { $0 + $1.ranges.count } + page.purges.reduce(0) { $0 + $1.entries.count }
            guard ranges <= maxRanges else { throw refused("more than \(maxRanges) ranges and purged entries; not read whole") }
            if whole == nil {
                page.next = nil
                whole = page
            } else {
                whole!.disclosures += page.disclosures
                whole!.purges += page.purges
            }
            guard whole!.disclosures.count + whole!.purges.count <= maxRecords else {
                throw refused("more than \(maxRecords) disclosure and purge records; not read whole")
            }
            guard let next else { return whole! }
            guard page.disclosures.count + page.purges.count > 0 else { throw refused("the node's page before \(next) holds no record") }
            after = next
        }
    }
}

/// The largest answer body a client keeps (a node's answer is hostile input too): 32 MiB, well
/// above a page of entries (at most 4 MiB of payload, about 7 MB of JSON) and the view, and a
/// bound on what decoding an answer may cost. The unpaged list (alerts) passes it only past
/// ~150,000 records; an agreement's disclosures come in pages.
let maxAnswerBytes = 32 << 20

/// A node did not answer in full within the client's time.
public struct AnswerTimedOut: Error, CustomStringConvertible {
    var after: TimeAmount
    public var description: String { "the node did not answer within \(after.nanoseconds / 1_000_000_000) s; gave up" }
}

/// Refused when a node's answer passes what the client takes (`maxAnswerBytes` unless less).
public struct AnswerTooLarge: Error, CustomStringConvertible {
    var limit = maxAnswerBytes
    public var description: String { "the node's answer is larger than \(limit >= 1 << 20 ? "\(limit >> 20) MiB" : "\(limit >> 10) KiB"); refused" }
}

final class ResponseCollector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    private let promise: EventLoopPromise<(Int, Data)>
    private var status = 0
    private var body = Data()
    private var done = false

    init(promise: EventLoopPromise<(Int, Data)>) { self.promise = promise }

    var answer: EventLoopFuture<(Int, Data)> { promise.futureResult }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): status = Int(head.status.code)
        case .body(let buffer):
            guard body.count + buffer.readableBytes <= maxAnswerBytes else { return errorCaught(context: context, error: AnswerTooLarge()) }
            body.append(contentsOf: buffer.readableBytesView)
        case .end:
            done = true
            promise.succeed((status, body))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !done { done = true; promise.fail(error) }
        context.close(promise: nil)
    }

    /// The request's time ran out (on the channel's event loop): it fails, unless answered.
    func expire(after timeout: TimeAmount, channel: any Channel) {
        if !done { done = true; promise.fail(AnswerTimedOut(after: timeout)) }
        channel.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !done { done = true; promise.fail(ChannelError.eof) }
        context.fireChannelInactive()
    }

    /// An attempt that never connected (or lost to another address) ends its own promise.
    func handlerRemoved(context: ChannelHandlerContext) {
        if !done { done = true; promise.fail(ChannelError.eof) }
    }
}
