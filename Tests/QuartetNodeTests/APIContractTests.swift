import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import QuartetAPI
@testable import QuartetNode
import QuartetPlan
import Synchronization
import Testing
import Yams

/// The API's typed contract (QuartetAPI) against what the node serves and what
/// docs/openapi.yaml documents: every JSON answer decodes into its type and encodes back to the
/// same bytes (so the type holds every field the node sends), its keys are the documented ones
/// (required present, none undocumented), and the bytes are those the dictionaries wrote before
/// the types existed.
@Suite struct APIContractTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// One JSON request and the status it must get; `template` is its path in docs/openapi.yaml.
    struct Request: Sendable {
        let method: HTTPRequest.Method
        let uri: String
        let body: String?
        let status: HTTPResponse.Status
        let template: String
    }

    /// A request and the type of its answer.
    struct Call {
        let request: Request
        let check: (Data) throws -> Void
    }

    static func call<Body: Codable & Equatable>(_ uri: String, _ type: Body.Type, method: HTTPRequest.Method = .get, body: String? = nil,
                                                status: HTTPResponse.Status = .ok, template: String) -> Call {
        Call(request: Request(method: method, uri: uri, body: body, status: status, template: template)) { data in try roundTrip(data, type) }
    }

    /// Decodes a served body as `Body` and encodes it again: the bytes must be the same (a field
    /// the type lacks would be dropped, one the node does not send would fail to decode).
    static func roundTrip<Body: Codable & Equatable>(_ served: Data, _ type: Body.Type) throws {
        let value = try JSONDecoder().decode(Body.self, from: served)
        var again = try CompactJSONEncoder.encode(value)
        again.append(UInt8(ascii: "\n"))
        #expect(String(decoding: again, as: UTF8.self) == String(decoding: served, as: UTF8.self), "\(Body.self) does not hold every field served")
    }

    @Test func everyJSONAnswerIsItsTypeAndTheDocumentedShape() async throws {
        let node = try InProcessNode(entries: 3)
        defer { node.remove() }
        let text = try String(contentsOf: Self.root.appendingPathComponent("docs/openapi.yaml"), encoding: .utf8)
        let document = try #require(try Yams.load(yaml: text) as? [String: Any])
        let calls: [Call] = [
            Self.call("/healthz", HealthResponse.self, template: "/healthz"),
            // In process the node listens nowhere: connected to no member, so not ready.
            Self.call("/readyz", ReadyResponse.self, status: .serviceUnavailable, template: "/readyz"),
            Self.call("/v1/logs", LogsResponse.self, template: "/v1/logs"),
            Self.call("/v1/logs/wales/entries", ReceiptBody.self, method: .post, body: #"{"type":"note.test","payload":{"n":1,"ok":true,"x":0.5,"s":"a/b é"}}"#,
                      status: .created, template: "/v1/logs/{log}/entries"),
            Self.call("/v1/logs/wales/entries", AppendBatchResponse.self, method: .post,
                      body: #"{"entries":[{"type":"note.test","payload":{"n":0}},{"type":"note.test","payload":{"list":[1,null]}}]}"#,
                      status: .created, template: "/v1/logs/{log}/entries"),
            Self.call("/v1/logs/wales/entries?from=0&limit=10", EntriesResponse.self, template: "/v1/logs/{log}/entries"),
            Self.call("/v1/logs/wales/proofs/inclusion?index=1", InclusionProofBody.self, template: "/v1/logs/{log}/proofs/inclusion"),
            Self.call("/v1/logs/wales/proofs/consistency?from=1", ConsistencyProofBody.self, template: "/v1/logs/{log}/proofs/consistency"),
            Self.call("/v1/peers", PeersResponse.self, template: "/v1/peers"),
            Self.call("/v1/alerts", AlertsResponse.self, template: "/v1/alerts"),
            Self.call("/v1/agreements", AgreementsResponse.self, template: "/v1/agreements"),
            Self.call("/v1/logs/nowhere/entries", APIErrorBody.self, status: .notFound, template: "/v1/logs/{log}/entries"),
            Self.call("/v1/logs/wales/entries?limit=0", APIErrorBody.self, status: .badRequest, template: "/v1/logs/{log}/entries"),
        ]
        let requests = calls.map(\.request)
        let answers = Mutex<[(status: HTTPResponse.Status, body: Data)]>([])
        try await node.test(CertificateHeaderContext.self) { client, _ in
            var headers = HTTPFields()
            headers[.authorization] = "Bearer token-wales-op"
            headers[.contentType] = "application/json"
            for request in requests {
                let answer = try await client.execute(uri: request.uri, method: request.method, headers: headers,
                                                      body: request.body.map { ByteBuffer(string: $0) }) { ($0.status, Data($0.body.readableBytesView)) }
                answers.withLock { $0.append(answer) }
            }
        }
        let served = answers.withLock { $0 }
        try #require(served.count == calls.count)
        for (call, (status, data)) in zip(calls, served) {
            let request = call.request
            #expect(status == request.status, "\(request.method) \(request.uri): \(status) \(String(decoding: data, as: UTF8.self))")
            guard status == request.status else { continue }
            try call.check(data)
            let schema = try Self.responseSchema(document, request.template, request.method, status)
            let json = try JSONSerialization.jsonObject(with: data)
            for problem in Self.problems(json, schema, document, at: "\(request.method) \(request.uri)") { Issue.record(Comment(rawValue: problem)) }
        }
    }

    /// Each log says how far the node's view has folded it: the own log's appends are folded
    /// before they are acknowledged, so its `view_size` is its size; every log of the view has
    /// one, folded or not yet (the federation tests wait for replicas' views by it).
    /// The body `node` answers a GET of `uri` with, asked with the bearer `token`.
    static func get(_ node: InProcessNode, _ uri: String, token: String) async throws -> Data {
        let served = Mutex<Data?>(nil)
        try await node.test(CertificateHeaderContext.self) { client, _ in
            var headers = HTTPFields()
            headers[.authorization] = "Bearer \(token)"
            let body = try await client.execute(uri: uri, method: .get, headers: headers) { Data($0.body.readableBytesView) }
            served.withLock { $0 = body }
        }
        return try #require(served.withLock { $0 })
    }

    @Test func eachLogSaysHowFarTheViewHasFoldedIt() async throws {
        let node = try InProcessNode(entries: 3)
        defer { node.remove() }
        let logs = try JSONDecoder().decode(LogsResponse.self, from: try await Self.get(node, "/v1/logs", token: "token-wales-op")).logs
        let wales = try #require(logs.first { $0.log == "wales" })
        #expect(wales.size == 3 && wales.viewSize == 3, "\(wales)")
        #expect(logs.allSatisfy { $0.viewSize != nil && $0.viewSize! <= $0.size }, "\(logs)")
    }

    /// A search's query is read as a GET form sends it: "+" a space, "%2B" a plus (was: every
    /// plus a space, "C++" searched and shown as "C  ").
    @Test func aSearchKeepsATypedPlus() async throws {
        let node = try InProcessNode(entries: 1)
        defer { node.remove() }
        let page = String(decoding: try await Self.get(node, "/search?q=C%2B%2B+plan", token: "token-reader"), as: UTF8.self)
        #expect(page.contains(#"value="C++ plan""#), "\(page.prefix(2000))")
    }

    /// A field renamed on one side only does not read as missing: the client refuses the answer,
    /// naming the field.
    @Test func aRenamedFieldIsRefusedNamingIt() throws {
        let served = #"{"logs":[{"behind":0,"log":"wales","origin":"o","own":true,"quarantined":false,"verified":true,"vkey":"k","entries":3}],"node":"wales"}"#
        do {
            _ = try JSONDecoder().decode(LogsResponse.self, from: Data(served.utf8))
            Issue.record("a log without size decoded")
        } catch {
            #expect(APIClient.describe(error) == "logs[0].size: missing")
        }
        let entry = #"{"author":"","classification":"public","header":"","index":0,"leaf_hash":"","log":"w","payload_commitment":"","payload_length":2,"time":"","time_ms":0,"type":"t"}"#
        #expect(throws: DecodingError.self, "an entry without its payload (null for a stub) is refused") {
            _ = try JSONDecoder().decode(EntryBody.self, from: Data(entry.utf8))
        }
    }

    /// The typed bodies write the bytes the dictionaries wrote (JSONWriter over `[String: Any]`),
    /// with `null` and absent fields where they were.
    @Test func typedBodiesWriteTheBytesTheDictionariesWrote() throws {
        let proof = InclusionProofBody(log: "wales", index: 3, size: 9, leafHash: "AQ==", root: "Ag==", proof: ["Aw==", "BA=="])
        let old: [String: Any] = ["log": "wales", "index": UInt64(3), "size": UInt64(9), "leaf_hash": "AQ==", "root": "Ag==", "proof": ["Aw==", "BA=="]]
        #expect(try CompactJSONEncoder.encode(proof) == Array(JSONWriter.data(old)))

        // A log before its first checkpoint: no root, checkpoint or times; after: all of them.
        let bare = LogsResponse.Log(log: "wales", origin: "o/wales", own: true, size: 0, quarantined: false, vkey: "k", verified: true, behind: 0)
        let oldBare: [String: Any] = ["log": "wales", "origin": "o/wales", "own": true, "size": UInt64(0), "quarantined": false, "vkey": "k",
                                      "verified": true, "behind": UInt64(0)]
        #expect(try CompactJSONEncoder.encode(bare) == Array(JSONWriter.data(oldBare)))
        var full = bare
        (full.root, full.checkpoint, full.checkpointTimeMillis, full.checkpointTime, full.originSizeSeen) = ("r", "note\n— sig\n", 1_700_000_000_000, "2023-11-14T22:13:20.000Z", 5)
        var oldFull = oldBare
        for (k, v) in [("root", "r"), ("checkpoint", "note\n— sig\n"), ("checkpoint_time", "2023-11-14T22:13:20.000Z")] as [(String, Any)] { oldFull[k] = v }
        oldFull["checkpoint_time_ms"] = UInt64(1_700_000_000_000)
        oldFull["origin_size_seen"] = UInt64(5)
        #expect(try CompactJSONEncoder.encode(full) == Array(JSONWriter.data(oldFull)))

        // An entry held and a stub: payload parsed, or null with no payload_base64 and salt.
        let payload: [UInt8] = Array(#"{"a":"x\/y","b":[2.5,null,"\u0001 \"q\""],"c":{"d":"é"}}"#.utf8)
        let held = EntryBody(log: "wales", index: 1, timeMillis: 5, time: "t", type: "note", classification: "public", author: "ann",
                             payloadCommitment: "pc", payloadLength: 40, leafHash: "lh", header: "h", payload: PayloadValue.parseIfValid(payload)!,
                             payloadBase64: "cGF5", salt: "c2FsdA==")
        let oldHeld: [String: Any] = ["log": "wales", "index": UInt64(1), "time_ms": UInt64(5), "time": "t", "type": "note", "classification": "public",
                                      "author": "ann", "payload_commitment": "pc", "payload_length": UInt32(40), "leaf_hash": "lh", "header": "h",
                                      "payload": try JSONSerialization.jsonObject(with: Data(payload)), "payload_base64": "cGF5", "salt": "c2FsdA=="]
        #expect(String(decoding: try CompactJSONEncoder.encode(held), as: UTF8.self) == String(decoding: JSONWriter.data(oldHeld), as: UTF8.self))
        var stub = held
        (stub.payload, stub.payloadBase64, stub.salt) = (.null, nil, nil)
        var oldStub = oldHeld
        oldStub["payload"] = NSNull()
        oldStub["payload_base64"] = nil
        oldStub["salt"] = nil
        #expect(try CompactJSONEncoder.encode(stub) == Array(JSONWriter.data(oldStub)))
        #expect(stub.isStub && !held.isStub)

        // The append's answer, written directly, is what the encoder writes.
        let receipt = ReceiptBody(log: "wales", index: 42, leafHash: "q2Sz/+==", checkpoint: "o/wales\n43\nroot=\n\n— o/wales sig\"\u{7f}\n")
        let oldReceipt: [String: Any] = ["log": "wales", "index": UInt64(42), "leaf_hash": "q2Sz/+==", "checkpoint": receipt.checkpoint]
        #expect(receipt.compactJSON == (try CompactJSONEncoder.encode(receipt)))
        #expect(receipt.compactJSON == Array(JSONWriter.data(oldReceipt)))

        // A refusal.
        let refusal = APIErrorBody(status: 403, message: "log wales is written by node wales; append there", requestID: "r1")
        let oldRefusal: [String: Any] = ["error": ["status": 403, "message": refusal.error.message], "request_id": "r1"]
        #expect(try CompactJSONEncoder.encode(refusal) == Array(JSONWriter.data(oldRefusal)))
    }

    /// Payload numbers stay numbers: the dictionaries' path (JSONSerialization, then the writer)
    /// showed the numbers 0 and 1 as false and true; the typed path keeps what was appended.
    @Test func payloadNumbersAreNotBooleans() throws {
        let bytes = Array(#"{"one":1,"zero":0,"yes":true,"big":1e20,"half":0.5}"#.utf8)
        let value = try #require(PayloadValue.parseIfValid(bytes))
        #expect(String(decoding: try CompactJSONEncoder.encode(value), as: UTF8.self) == #"{"big":1e+20,"half":0.5,"one":1,"yes":true,"zero":0}"#)
    }

    // MARK: - docs/openapi.yaml

    static func responseSchema(_ document: [String: Any], _ template: String, _ method: HTTPRequest.Method, _ status: HTTPResponse.Status) throws -> [String: Any] {
        let paths = try #require(document["paths"] as? [String: Any])
        let operation = try #require((paths[template] as? [String: Any])?[method.rawValue.lowercased()] as? [String: Any], "\(method) \(template) undocumented")
        var response = try #require((operation["responses"] as? [String: Any])?["\(status.code)"] as? [String: Any], "\(template): \(status.code) undocumented")
        response = resolve(response, document)
        let content = try #require(response["content"] as? [String: Any], "\(template) \(status.code): no content")
        let json = try #require(content["application/json"] as? [String: Any], "\(template) \(status.code): not JSON")
        return resolve(try #require(json["schema"] as? [String: Any]), document)
    }

    static func resolve(_ schema: [String: Any], _ document: [String: Any]) -> [String: Any] {
        guard let ref = schema["$ref"] as? String else { return schema }
        var node: Any = document
        for part in ref.dropFirst(2).split(separator: "/") { node = (node as? [String: Any])?[String(part)] as Any }
        return resolve(node as? [String: Any] ?? [:], document)
    }

    /// Where `value` departs from `schema`: a required key missing, a key not documented (where
    /// the schema lists its properties), recursively through objects and arrays.
    static func problems(_ value: Any, _ schema: [String: Any], _ document: [String: Any], at path: String) -> [String] {
        let schema = resolve(schema, document)
        if let alternatives = schema["oneOf"] as? [[String: Any]] {
            let all = alternatives.map { problems(value, $0, document, at: path) }
            return all.contains { $0.isEmpty } ? [] : all.min { $0.count < $1.count } ?? []
        }
        var found: [String] = []
        if let object = value as? [String: Any] {
            for key in schema["required"] as? [String] ?? [] where object[key] == nil { found.append("\(path): required \(key) missing") }
            if let properties = schema["properties"] as? [String: Any] {
                for (key, member) in object.sorted(by: { $0.key < $1.key }) {
                    guard let property = properties[key] as? [String: Any] else {
                        found.append("\(path): \(key) is not in docs/openapi.yaml")
                        continue
                    }
                    found += problems(member, property, document, at: "\(path).\(key)")
                }
            }
        } else if let array = value as? [Any], let items = schema["items"] as? [String: Any] {
            for (i, item) in array.enumerated() { found += problems(item, items, document, at: "\(path)[\(i)]") }
        }
        return found
    }
}

/// Numbers in query parameters are decimal digits only, within UInt64 (`UInt64.init` alone
/// takes a sign): `from=+5` or `index=-0` is a 400, not a number.
@Suite struct QueryNumberTests {
    @Test func onlyDecimalDigitsAreANumber() {
        #expect(API.digits("0") == 0 && API.digits("007") == 7 && API.digits("18446744073709551615") == UInt64.max)
        for bad in ["", "+5", "-0", "-1", " 5", "5 ", "0x10", "1e3", "18446744073709551616", "000000000000000000001", "٣", "5\u{0}"] {
            #expect(API.digits(bad) == nil, "\(bad.debugDescription)")
        }
    }
}
