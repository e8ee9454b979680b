import Foundation
import HTTPTypes
import Hummingbird
import Logging
import QuartetAPI
import QuartetCrypto
import QuartetStore

/// `Idempotency-Key` on the append routes (`POST /v1/logs/{log}/entries`, `/v1/record/…`;
/// draft-ietf-httpapi-idempotency-key-header): a client that did not get its answer (a timeout,
/// a reset connection) sends the same request again with the same key and gets the first one's
/// answer, with nothing appended twice. Without it a retry appended again, for good. The first
/// answer is kept (`Submissions`: the newest 16 MiB of answers in memory, every one of a day on
/// disk, so neither a restart nor the memory's limit forgets a key), keyed by the credential (`Caller.slotCredential`: a token, or a
/// certificate; a token replaced under the same name is another) and the key; the same key with
/// another request (another route or body) is refused (422), and one still being appended is
/// waited for (up to 30 s, then 409 with `IdempotencyKey.pendingMessage`, which the CLI asks again on). A
/// request admission refused (400, 401, 503) frees its key; one that failed where it may have
/// been appended (a 500: the commit failed, or a rare failure before it) keeps it, and a repeat
/// is told to look at the log (409).
extension API {
    static let idempotencyKeyField = HTTPField.Name(IdempotencyKey.field)!
    /// Marks an answer given again for a repeated key.
    static let idempotentReplayedField = HTTPField.Name("Idempotent-Replayed")!
    /// The longest key taken (a UUID is 36).
    static let longestIdempotencyKey = 128
    /// The answers kept in memory for repeats, in bytes in all (all of them on disk too, a day).
    static let idempotentAnswers = 16 << 20

    /// The append routes' keys: in memory, and in `store` across restarts (its failures said
    /// to `logger`).
    static func appendKeys(store: SubmissionStore?, logger: Logger = Logger(label: "quartet"), failed: @escaping @Sendable () -> Void = {}) -> Submissions<[UInt8]> {
        Submissions(limit: idempotentAnswers, durable: store.map { .init(store: $0, begins: SubmissionBegins(store: $0), namespace: "api", encode: { $0 }, decode: { $0 },
                                                                        logger: logger, failed: failed) }) { key, answer in
            key.utf8.count + 96 + (answer?.count ?? 0)
        }
    }

    /// The key of `request`, or nil when it has none: a Structured Field string (quoted), or
    /// the same characters unquoted as many clients send them; 1 to 128 printable ASCII
    /// characters. Given twice, or malformed: refused (400), since the client means it.
    static func idempotencyKey(_ request: Request) throws -> String? {
        // (Every append asks: one look, no array, for the usual request without a key.)
        guard let value = request.headers[idempotencyKeyField] else { return nil }
        guard request.headers[values: idempotencyKeyField].count == 1 else { throw HTTPError(.badRequest, message: "Idempotency-Key: given more than once") }
        var key = Substring(value)
        if key.first == "\"" {
            guard key.count >= 2, key.last == "\"" else { throw HTTPError(.badRequest, message: "Idempotency-Key: a quoted key has no closing quote") }
            key = key.dropFirst().dropLast()
        }
        guard (1...longestIdempotencyKey).contains(key.utf8.count),
              key.utf8.allSatisfy({ (0x21...0x7E).contains($0) && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) else {
            throw HTTPError(.badRequest, message: "Idempotency-Key: expected 1 to \(longestIdempotencyKey) printable ASCII characters, no quote or backslash inside (a random id such as a UUID), in double quotes")
        }
        return String(key)
    }

    /// Runs `append` (which answers 201 with these JSON bytes) once per `Idempotency-Key` of
    /// the caller (`key`, read by `idempotencyKey` before the body, so a bad one is refused before
    /// the client sends it); a request without one, every time. `route`: the route's own name
    /// (not the path as spelt: `%77ales` is `wales`). `wait`: how long a repeat waits for the
    /// first of its key still under way.
    func once(key: String?, route: String, body: ByteBuffer, caller: Caller, wait: Duration = .seconds(30),
              _ append: () async throws -> [UInt8]) async throws -> Response {
        guard let key else { return Self.jsonResponse(try await append(), status: .created) }
        // The route and the body, hashed where they lie (a body is up to 16 MiB).
        let route = Array((route + "\n").utf8)
        let digest = route.withUnsafeBytes { route in
            body.withUnsafeReadableBytes { body in SHA256.hash(parts: [route, body]) }
        }
        let credential = caller.slotCredential
        let turn: Submissions<[UInt8]>.Turn
        do { turn = try await appendKeys.turn(author: credential, id: key, digest: digest, until: .now + wait) } catch let error as SubmissionStore.Unrecorded {
            throw HTTPError(.serviceUnavailable, headers: [.retryAfter: "5"], message: "Idempotency-Key: \(error): nothing was appended; send it again with the same key")
        }
        switch turn {
        case .first:
            break
        case .saved(let answer):
            var response = Self.jsonResponse(answer, status: .created)
            response.headers[Self.idempotentReplayedField] = "?1"
            return response
        case .pending:
            throw HTTPError(.conflict, headers: [.retryAfter: "5"], message: IdempotencyKey.pendingMessage + ": nothing more was appended; send it again with the same key in a few seconds")
        case .differs:
            throw HTTPError(.unprocessableContent, message: "Idempotency-Key: this key was sent before with another request (route or body): nothing was appended; a new request needs a new key")
        case .unknown:
            throw HTTPError(.conflict, message: "Idempotency-Key: an earlier request with this key failed where it may have been appended: nothing more was appended; look at the log before sending it with a new key")
        }
        // Kept at its size (an encoder's buffer may have room to spare the limit would not see).
        let answer = try await appendKeys.finishing(author: credential, id: key, save: { $0.withUnsafeBufferPointer { Array($0) } },
                                                    appendedNothing: Self.appendedNothing, append)
        return Self.jsonResponse(answer, status: .created)
    }
}
