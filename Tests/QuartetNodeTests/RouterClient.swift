import HTTPTypes
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded

/// The API driven in process, without sockets: each request goes straight to the router's
/// responder, as Hummingbird's router test mode sends it. (`HummingbirdTesting` is not used: it
/// brings swift-nio-ssl and BoringSSL into the test build, which the project keeps out — TLS
/// comes from the system OpenSSL.)
struct RouterClient: Sendable {
    private let respond: @Sendable (Request) async throws -> Response

    /// A client of `responder`, each request in a context of its own (no TLS on its channel).
    init<Responder: HTTPResponder>(_ responder: Responder, logger: Logger) where Responder.Context: InitializableFromSource<ApplicationRequestContextSource> {
        let ids = NIOLockedValueBox(0)
        respond = { request in
            // Each request's logger names it, as the server's does (`RequestContext.id` reads it).
            var logger = logger
            logger[metadataKey: "hb.request.id"] = .string("test-\(ids.withLockedValue { $0 += 1; return $0 })")
            let context = Responder.Context(source: ApplicationRequestContextSource(channel: NIOAsyncTestingChannel(), logger: logger))
            return try await responder.respond(to: request, context: context)
        }
    }

    struct Answer: Sendable {
        let head: HTTPResponse
        var status: HTTPResponse.Status { head.status }
        var headers: HTTPFields { head.headerFields }
        let body: ByteBuffer
    }

    /// Sends one request (the body whole, its length said) and gives `testCallback` the answer
    /// (an error the responder throws is a 500, as a server would answer).
    @discardableResult
    func execute<Return>(uri: String, method: HTTPRequest.Method, headers: HTTPFields = [:], body: ByteBuffer? = nil,
                         testCallback: @escaping (Answer) async throws -> Return = { $0 }) async throws -> Return {
        var headers = headers
        if let length = body.map(\.readableBytes) { headers[.contentLength] = String(length) }
        let request = Request(head: .init(method: method, scheme: "http", authority: "localhost", path: uri, headerFields: headers),
                              body: RequestBody(buffer: body ?? ByteBuffer()))
        let response: Response
        do { response = try await respond(request) } catch { response = Response(status: .internalServerError) }
        let writer = Writer()
        try await response.body.write(writer)
        return try await testCallback(Answer(head: response.head, body: writer.body.withLockedValue { $0 }))
    }

    private struct Writer: ResponseBodyWriter {
        let body = NIOLockedValueBox(ByteBuffer())
        func write(_ buffer: ByteBuffer) async throws { body.withLockedValue { _ = $0.writeImmutableBuffer(buffer) } }
        func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }
}
