import Foundation
import Hummingbird
import Logging
import NIOCore
import QuartetCrypto
import QuartetLedger
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

/// The node's HTTPS JSON API (docs/openapi.yaml). Only `/healthz` answers without a client
/// certificate; reading needs any federation identity; appending needs the operator
/// certificate of the node's own log.
struct API {
    let node: String
    let ownLog: String
    let store: LedgerStore
    let writer: LogWriter
    let engine: ReplicationEngine
    let federation: Federation

    func router() -> Router<NodeRequestContext> {
        let router = Router(context: NodeRequestContext.self)
        router.get("/healthz") { _, _ -> Response in
            // Healthy means the data directory answers a read.
            do {
                _ = try store.logs()
                return Self.json(["status": "ok", "node": node])
            } catch {
                return Self.json(["status": "unavailable", "node": node, "error": "the data directory cannot be read"], status: .serviceUnavailable)
            }
        }
        router.get("/v1/logs") { _, context -> Response in
            try await reader(context)
            let logs: [[String: Any]] = engine.logStatus().map { status in
                var out: [String: Any] = ["log": status.log.name, "origin": status.log.origin, "own": status.log.isOwn,
                                          "size": status.head?.size ?? 0, "quarantined": status.quarantined,
                                          "vkey": federation.members.first { $0.log == status.log.name }?.verifier.vkey ?? status.log.verifier.vkey]
                if let head = status.head {
                    out["root"] = head.checkpoint.root.base64
                    out["checkpoint"] = head.note
                    if let time = head.checkpoint.timeMillis {
                        out["checkpoint_time_ms"] = time
                        out["checkpoint_time"] = iso8601(time)
                    }
                }
                // Everything stored was checked (signature against the pinned key, leaves
                // against the signed root) before it was stored; a quarantined log's history is
                // contradicted by its own origin, so it is not verified.
                out["verified"] = !status.quarantined
                if let seen = status.seenSize { out["origin_size_seen"] = seen }
                out["behind"] = (status.seenSize ?? 0) > (status.head?.size ?? 0) ? (status.seenSize! - (status.head?.size ?? 0)) : 0
                return out
            }
            return Self.json(["node": node, "logs": logs])
        }
        router.get("/v1/logs/{log}/checkpoint") { _, context -> Response in
            try await reader(context)
            let log = try findLog(try context.parameters.require("log"))
            guard let checkpoint = try store.latestCheckpoint(log) else {
                throw HTTPError(.notFound, message: "log \(log.name) has no checkpoint yet")
            }
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: checkpoint.note)))
        }
        router.get("/v1/logs/{log}/entries") { request, context -> Response in
            try await reader(context)
            let log = try findLog(try context.parameters.require("log"))
            let from = try Self.number(request, "from") ?? 0
            let limit = try Self.number(request, "limit") ?? 100
            guard (1...1000).contains(limit) else { throw HTTPError(.badRequest, message: "limit must be from 1 to 1000") }
            let size = try store.size(log)
            let entries = try store.entries(log, from: from, limit: Int(min(limit, size > from ? size - from : 0)))
            return Self.json(["log": log.name, "from": from, "size": size, "entries": entries.map(entryJSON)])
        }
        router.get("/v1/logs/{log}/proofs/inclusion") { request, context -> Response in
            try await reader(context)
            let log = try findLog(try context.parameters.require("log"))
            guard let index = try Self.number(request, "index") else { throw HTTPError(.badRequest, message: "index is required") }
            return Self.json(inclusionJSON(try Self.mapStoreError { try store.inclusionProof(log, index: index, size: try Self.number(request, "size")) }))
        }
        router.get("/v1/logs/{log}/proofs/consistency") { request, context -> Response in
            try await reader(context)
            let log = try findLog(try context.parameters.require("log"))
            guard let from = try Self.number(request, "from") else { throw HTTPError(.badRequest, message: "from is required") }
            return Self.json(consistencyJSON(try Self.mapStoreError { try store.consistencyProof(log, from: from, to: try Self.number(request, "to")) }))
        }
        router.post("/v1/logs/{log}/entries") { request, context -> Response in
            let identity = try await reader(context)
            let name = try context.parameters.require("log")
            guard name == ownLog else {
                let writer = federation.members.first { $0.log == name }?.id
                throw HTTPError(.forbidden, message: writer.map { "log \(name) is written by node \($0); append there" } ?? "no log named \(name) in this federation")
            }
            guard identity == .operator(ownLog) else {
                throw HTTPError(.forbidden, message: "appending to \(ownLog) needs the certificate of its operator (quartet://operator/\(ownLog)); this one is \(identity.uri)")
            }
            let body = try await request.body.collect(upTo: EntryHeader.maxPayloadLength + 64 * 1024)
            guard let object = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any] else {
                throw HTTPError(.badRequest, message: "the body must be a JSON object with type, optional classification, and payload (an object)")
            }
            guard let type = object["type"] as? String else { throw HTTPError(.badRequest, message: "type: expected a string") }
            let classification = object["classification"] as? String ?? EntryHeader.publicClassification
            guard let payload = object["payload"] as? [String: Any] else { throw HTTPError(.badRequest, message: "payload: expected a JSON object") }
            let payloadBytes = try JSONSerialization.data(withJSONObject: payload, options: [.sortedKeys, .withoutEscapingSlashes])
            let append = AppendRequest(type: type, classification: classification, author: identity.fileLabel, payload: Array(payloadBytes))
            do { try append.validate() } catch { throw HTTPError(.badRequest, message: (error as? StoreError)?.message ?? "\(error)") }
            let receipt = try await writer.append(append)
            return Self.json(["log": receipt.log, "index": receipt.index, "leaf_hash": receipt.leafHash.base64, "checkpoint": receipt.checkpoint.note],
                             status: .created)
        }
        router.get("/v1/peers") { _, context -> Response in
            try await reader(context)
            let peers: [[String: Any]] = engine.peers().map { peer in
                var out: [String: Any] = ["node": peer.id, "role": peer.role, "peer": peer.address, "connected": peer.connected]
                if let since = peer.since { out["since"] = ISO8601DateFormatter().string(from: since) }
                return out
            }
            return Self.json(["node": node, "peers": peers])
        }
        router.get("/metrics") { _, context -> Response in
            try await reader(context)
            // Prometheus text exposition, written from the node's state (no metrics backend yet).
            var lines: [String] = []
            lines.append("# HELP quartet_log_entries Entries held per log.")
            lines.append("# TYPE quartet_log_entries gauge")
            let logs = engine.logStatus()
            for log in logs { lines.append("quartet_log_entries{log=\"\(log.log.name)\"} \(log.head?.size ?? 0)") }
            lines.append("# HELP quartet_log_behind_entries Entries of a log seen signed by its origin but not yet held.")
            lines.append("# TYPE quartet_log_behind_entries gauge")
            for log in logs {
                let behind = (log.seenSize ?? 0) > (log.head?.size ?? 0) ? (log.seenSize ?? 0) - (log.head?.size ?? 0) : 0
                lines.append("quartet_log_behind_entries{log=\"\(log.log.name)\"} \(behind)")
            }
            lines.append("# HELP quartet_log_quarantined 1 if the log is quarantined for equivocation.")
            lines.append("# TYPE quartet_log_quarantined gauge")
            for log in logs { lines.append("quartet_log_quarantined{log=\"\(log.log.name)\"} \(log.quarantined ? 1 : 0)") }
            lines.append("# HELP quartet_peer_connected 1 if the peer is connected.")
            lines.append("# TYPE quartet_peer_connected gauge")
            for peer in engine.peers() { lines.append("quartet_peer_connected{peer=\"\(peer.id)\"} \(peer.connected ? 1 : 0)") }
            lines.append("# HELP quartet_alerts_total Replication alerts since start, by kind.")
            lines.append("# TYPE quartet_alerts_total counter")
            let totals = engine.alertTotals()
            for kind in ["equivocation", "rejected", "protocol", "own-log-ahead"] {
                lines.append("quartet_alerts_total{kind=\"\(kind)\"} \(totals[kind] ?? 0)")
            }
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: lines.joined(separator: "\n") + "\n")))
        }
        router.get("/v1/alerts") { _, context -> Response in
            try await reader(context)
            let formatter = ISO8601DateFormatter()
            let alerts: [[String: Any]] = engine.alertList().map { item in
                var out: [String: Any] = ["time": formatter.string(from: item.time), "kind": item.alert.kind.rawValue, "message": item.alert.message]
                if let log = item.alert.log { out["log"] = log }
                if let peer = item.alert.peer { out["peer"] = peer }
                return out
            }
            let evidence: [[String: Any]] = engine.evidenceList().map { e in
                ["log": e.log, "first": e.first, "second": e.second, "prefix_root": e.prefixRoot.base64, "proof": e.proof.map(\.base64)]
            }
            return Self.json(["node": node, "alerts": alerts, "quarantined": evidence])
        }
        return router
    }

    /// The client's identity if it may read: a federation member node, the operator of a
    /// federation log, or a reader. A certificate from the CA naming anything else (a node
    /// removed from the federation file, say) is refused (403).
    @discardableResult
    func reader(_ context: NodeRequestContext) async throws -> FederationIdentity {
        let identity = try await context.requireIdentity()
        switch identity {
        case .node(let id):
            guard federation.member(id) != nil else { throw HTTPError(.forbidden, message: "\(identity.uri) is not a member of the federation") }
        case .operator(let log):
            guard federation.members.contains(where: { $0.log == log }) else {
                throw HTTPError(.forbidden, message: "\(identity.uri) operates no log of this federation")
            }
        case .reader:
            break
        }
        return identity
    }

    func findLog(_ name: String) throws -> LogInfo {
        guard let log = try store.logs().first(where: { $0.name == name }) else {
            throw HTTPError(.notFound, message: "no log named \(name) on this node")
        }
        return log
    }

    static func number(_ request: Request, _ name: String) throws -> UInt64? {
        guard let text = request.uri.queryParameters.get(name) else { return nil }
        guard let value = UInt64(text) else { throw HTTPError(.badRequest, message: "\(name) must be a non-negative integer, got \"\(text)\"") }
        return value
    }

    static func mapStoreError<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as StoreError where error.code == .outOfRange {
            throw HTTPError(.badRequest, message: error.message)
        }
    }

    static func json(_ object: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data + Data("\n".utf8))))
    }
}
