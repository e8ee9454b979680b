import Foundation
import Hummingbird
import Logging
import NIOCore
import QuartetCrypto
import QuartetStore
import QuartetTLS

/// The request context of the node's API: Hummingbird's core storage plus the connection, so a
/// route can ask which federation identity the client's certificate carries.
public struct NodeRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// The identity in the client's verified certificate, or nil when it presented none.
    func clientIdentity() async throws -> FederationIdentity? {
        let channel = self.channel
        return try await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.handler(type: TLSHandler.self).peerIdentity
        }.get()
    }

    /// Refuses a request without a client certificate from the federation CA (401).
    @discardableResult
    func requireIdentity() async throws -> FederationIdentity {
        guard let identity = try await clientIdentity() else {
            throw HTTPError(.unauthorized, message: "this endpoint needs a client certificate issued by the federation CA")
        }
        return identity
    }
}

/// The node's HTTPS JSON API. Only `/healthz` answers without a client certificate.
enum API {
    static func router(node: String, store: LedgerStore) -> Router<NodeRequestContext> {
        let router = Router(context: NodeRequestContext.self)
        router.get("/healthz") { _, _ -> Response in
            // Healthy means the data directory answers a read.
            do {
                _ = try store.logs()
                return json(["status": "ok", "node": node])
            } catch {
                return json(["status": "unavailable", "node": node, "error": "the data directory cannot be read"], status: .serviceUnavailable)
            }
        }
        router.get("/v1/logs/{log}/checkpoint") { _, context -> Response in
            try await context.requireIdentity()
            let name = try context.parameters.require("log")
            let log = try findLog(name, in: store)
            guard let checkpoint = try store.latestCheckpoint(log) else {
                throw HTTPError(.notFound, message: "log \(name) has no checkpoint yet")
            }
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: checkpoint.note)))
        }
        return router
    }

    static func findLog(_ name: String, in store: LedgerStore) throws -> LogInfo {
        let logs = try store.logs()
        guard let log = logs.first(where: { $0.name == name }) else {
            throw HTTPError(.notFound, message: "no log named \(name) on this node")
        }
        return log
    }

    static func json(_ object: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data + Data("\n".utf8))))
    }
}
