import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import QuartetAPI
@testable import QuartetNode
import Testing

/// `Idempotency-Key` on the append routes (finding 328): a repeat is answered with the first
/// answer and appends nothing; the key with another request is refused; a refused request frees
/// its key; a malformed key is refused.
@Suite struct IdempotentAppendsTests {
    struct Answer: Sendable {
        let status: HTTPResponse.Status
        let headers: HTTPFields
        let body: String
    }

    static func post(_ client: RouterClient, _ uri: String, _ body: String, key: [String], token: String = "token-wales-op") async throws -> Answer {
        var headers = HTTPFields()
        headers[.authorization] = "Bearer \(token)"
        headers[.contentType] = "application/json"
        for k in key { headers.append(HTTPField(name: API.idempotencyKeyField, value: k)) }
        return try await client.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: body)) {
            Answer(status: $0.status, headers: $0.headers, body: String(buffer: $0.body))
        }
    }

    static func index(_ answer: Answer) throws -> UInt64 {
        try JSONDecoder().decode(ReceiptBody.self, from: Data(answer.body.utf8)).index
    }

    @Test func aRepeatIsAnsweredWithTheFirstAnswerAndAppendsNothing() async throws {
        let node = try InProcessNode(entries: 1)
        defer { node.remove() }
        try await node.test(CertificateHeaderContext.self) { client, _ in
            let entries = "/v1/logs/wales/entries"
            let note = #"{"type":"note.test","payload":{"n":1}}"#
            let first = try await Self.post(client, entries, note, key: [#""k-1""#])
            #expect(first.status == .created && first.headers[API.idempotentReplayedField] == nil, "\(first)")
            // Sent again (quoted or not, as clients do; its path spelt otherwise): the same
            // answer, said to be a repeat.
            for (spelling, uri) in [(#""k-1""#, entries), ("k-1", entries), ("k-1", "/v1/logs/%77ales/entries")] {
                let again = try await Self.post(client, uri, note, key: [spelling])
                #expect(again.status == .created && again.body == first.body && again.headers[API.idempotentReplayedField] == "?1", "\(again)")
            }
            // Nothing was appended by the repeats: the next entry follows the first.
            let next = try await Self.post(client, entries, note, key: ["k-2"])
            #expect(try Self.index(next) == Self.index(first) + 1, "\(next)")
            // Without a key, every request appends (as before).
            let plain1 = try await Self.post(client, entries, note, key: [])
            let plain2 = try await Self.post(client, entries, note, key: [])
            #expect(try Self.index(plain2) == Self.index(plain1) + 1)

            // The key with another body, or on another route: refused, nothing appended.
            let other = try await Self.post(client, entries, #"{"type":"note.test","payload":{"n":2}}"#, key: ["k-1"])
            #expect(other.status == .unprocessableContent && other.body.contains("sent before with another request"), "\(other)")
            let route = try await Self.post(client, "/v1/record/evidence", note, key: ["k-1"])
            #expect(route.status == .unprocessableContent, "\(route)")
            // A batch is one request: its answer is given again whole.
            let batch = #"{"entries":[{"type":"note.test","payload":{"n":3}},{"type":"note.test","payload":{"n":4}}]}"#
            let batched = try await Self.post(client, entries, batch, key: ["k-batch"])
            let batchedAgain = try await Self.post(client, entries, batch, key: ["k-batch"])
            #expect(batched.status == .created && batchedAgain.body == batched.body, "\(batchedAgain)")

            // Refused by admission: the key is free again, for the corrected request.
            let refused = try await Self.post(client, entries, #"{"type":"plan.action","payload":{}}"#, key: ["k-3"])
            #expect(refused.status == .badRequest, "\(refused)")
            let mended = try await Self.post(client, entries, note, key: ["k-3"])
            #expect(mended.status == .created && mended.headers[API.idempotentReplayedField] == nil, "\(mended)")
            let batchLast = try #require(try JSONDecoder().decode(AppendBatchResponse.self, from: Data(batched.body.utf8)).entries.last).index
            #expect(try Self.index(mended) == batchLast + 1, "\(mended)")

            // Malformed keys: refused, nothing appended.
            for bad in [[#""k-4"#], [#""""#], [String(repeating: "a", count: API.longestIdempotencyKey + 1)], ["k 4"], [#""k\"4""#], ["é"], ["k-5", "k-6"]] {
                let answer = try await Self.post(client, entries, note, key: bad)
                #expect(answer.status == .badRequest && answer.body.contains("Idempotency-Key"), "\(bad): \(answer)")
            }
            // Refused before the body is read: a body said over the limit (and not sent) is not
            // what the answer is about.
            for uri in [entries, "/v1/record/reading"] {
                let headers: HTTPFields = [.authorization: "Bearer token-wales-op", .contentType: "application/json", API.idempotencyKeyField: "k 7",
                                           .contentLength: String(API.maxBody + 1)]
                let early = try await client.execute(uri: uri, method: .post, headers: headers) { ($0.status, String(buffer: $0.body)) }
                #expect(early.0 == .badRequest && early.1.contains("Idempotency-Key"), "\(uri): \(early)")
            }
            let last = try await Self.post(client, entries, note, key: [String(repeating: "a", count: API.longestIdempotencyKey)])
            #expect(try Self.index(last) == Self.index(mended) + 1, "\(last)")
        }
    }

    @Test func repeatsSentTogetherAppendOnceAndAllGetItsAnswer() async throws {
        let node = try InProcessNode(entries: 1)
        defer { node.remove() }
        try await node.test(CertificateHeaderContext.self) { client, _ in
            let answers = try await withThrowingTaskGroup(of: Answer.self) { group in
                for _ in 0..<8 {
                    group.addTask { try await Self.post(client, "/v1/logs/wales/entries", #"{"type":"note.test","payload":{"n":9}}"#, key: ["together"]) }
                }
                return try await group.reduce(into: [Answer]()) { $0.append($1) }
            }
            #expect(answers.allSatisfy { $0.status == .created && $0.body == answers[0].body }, "\(answers)")
            #expect(answers.filter { $0.headers[API.idempotentReplayedField] == nil }.count == 1)
            let next = try await Self.post(client, "/v1/logs/wales/entries", #"{"type":"note.test","payload":{"n":9}}"#, key: [])
            #expect(try Self.index(next) == Self.index(answers[0]) + 1)
        }
    }

    @Test func eachCredentialHasItsOwnKeys() async throws {
        // A token replaced under the same name (another digest): the two callers' authors are
        // the same, so only keys kept by credential keep them apart.
        let node = try InProcessNode(entries: 1, extraTokens: [TokenGrant(name: "wales-op", identity: .operator("wales"), sha256: TokenGrant.digest("token-second-op"))])
        defer { node.remove() }
        try await node.test(CertificateHeaderContext.self) { client, _ in
            let note = #"{"type":"note.test","payload":{"n":1}}"#
            let first = try await Self.post(client, "/v1/logs/wales/entries", note, key: ["shared"])
            let other = try await Self.post(client, "/v1/logs/wales/entries", note, key: ["shared"], token: "token-second-op")
            #expect(other.status == .created && other.headers[API.idempotentReplayedField] == nil, "\(other)")
            #expect(try Self.index(other) == Self.index(first) + 1, "another credential's key of the same text is its own")
            let log = try node.node.store.log(named: "wales")
            let authors = try node.node.store.entries(log, from: Self.index(first), limit: 2).map(\.header.author)
            #expect(authors.count == 2 && authors[0] == authors[1], "\(authors)")
        }
    }

    /// How `once` classes the ways an append can end: a refusal frees the key; a failure where
    /// it may have been appended keeps it (a repeat is told to look at the log); a repeat of one
    /// still under way waits, then is told so in the words the CLI asks again on.
    @Test func aFailureThatMayHaveAppendedKeepsItsKeyAndARefusalFreesIt() async throws {
        let node = try InProcessNode(entries: 1)
        defer { node.remove() }
        let api = node.node.api()
        let caller = Caller(identity: .operator("wales"), author: "operator-wales token op", viaCookie: false)
        struct CommitFailed: Error {}
        let body = ByteBuffer(string: "{}")
        await #expect(throws: CommitFailed.self) { _ = try await api.once(key: "k-1", route: "record/reading", body: body, caller: caller) { throw CommitFailed() } }
        var ran = false
        do {
            _ = try await api.once(key: "k-1", route: "record/reading", body: body, caller: caller) { ran = true; return [] }
            Issue.record("a repeat of an append that may have been made ran")
        } catch let error as HTTPError {
            #expect(error.status == .conflict && (error.body ?? "").contains("may have been appended"), "\(error)")
        }
        #expect(!ran)
        // Refused by admission (400, 401, 503): free again.
        for status in [HTTPResponse.Status.badRequest, .unauthorized, .serviceUnavailable] {
            let key = "k-\(status.code)"
            await #expect(throws: HTTPError.self) { _ = try await api.once(key: key, route: "record/reading", body: body, caller: caller) { throw HTTPError(status) } }
            let again = try await api.once(key: key, route: "record/reading", body: body, caller: caller) { Array("{}\n".utf8) }
            #expect(again.status == .created, "\(status)")
        }
        // Any other status (a 403 can come after the entry was queued: a token withdrawn at the
        // admission lock; a 500): kept, a repeat told to look at the log.
        for status in [HTTPResponse.Status.forbidden, .internalServerError, .conflict] {
            let key = "k-kept-\(status.code)"
            await #expect(throws: HTTPError.self) { _ = try await api.once(key: key, route: "record/reading", body: body, caller: caller) { throw HTTPError(status) } }
            var ranAgain = false
            do {
                _ = try await api.once(key: key, route: "record/reading", body: body, caller: caller) { ranAgain = true; return [] }
                Issue.record("a repeat after a \(status) ran")
            } catch let error as HTTPError {
                #expect(error.status == .conflict && (error.body ?? "").contains("may have been appended"), "\(status): \(error)")
            }
            #expect(!ranAgain, "\(status)")
        }

        // Still under way: the repeat waits (here 100 ms), then 409 with the words a client
        // keeping its key asks again on, and Retry-After.
        let (started, startedGo) = AsyncStream.makeStream(of: Void.self)
        let (release, releaseGo) = AsyncStream.makeStream(of: Void.self)
        let first = Task {
            try await api.once(key: "k-slow", route: "record/reading", body: body, caller: caller) {
                startedGo.yield()
                for await _ in release { break }
                return Array("{\"first\":1}\n".utf8)
            }
        }
        for await _ in started { break }
        do {
            _ = try await api.once(key: "k-slow", route: "record/reading", body: body, caller: caller, wait: .milliseconds(100)) { Issue.record("ran twice"); return [] }
            Issue.record("a repeat of one under way was not told so")
        } catch let error as HTTPError {
            #expect(error.status == .conflict && (error.body ?? "").hasPrefix(IdempotencyKey.pendingMessage) && error.headers[.retryAfter] == "5", "\(error)")
        }
        // Waiting long enough, it gets the first's answer (released once it is surely waiting).
        let waiting = Task { try await api.once(key: "k-slow", route: "record/reading", body: body, caller: caller) { Issue.record("ran twice"); return [] } }
        try await eventually({ api.appendKeys.waiting == 1 }, "the repeat never waited")
        releaseGo.yield()
        let answers = [try await first.value, try await waiting.value]
        #expect(answers.map(\.status) == [.created, .created] && answers[1].headers[API.idempotentReplayedField] == "?1")
    }
}
