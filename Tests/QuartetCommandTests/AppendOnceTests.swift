import Foundation
import NIOCore
import QuartetAPI
import QuartetCrypto
@testable import QuartetNode
@testable import quartet
import QuartetTestKit
import QuartetTLS
import Testing

/// The CLI's appends carry an `Idempotency-Key` and are sent again when their answer was lost
/// (finding 328): against a real node, the repeat is answered with the first receipt and the
/// log holds the entry once.
@Suite(.serialized) struct AppendOnceTests {
    /// An operator's token, granted in the node's configuration (before the node starts).
    static func grantOperatorToken(_ files: NodeFiles) throws -> String {
        let token = "qt_wales_" + String(repeating: "A", count: 43)
        let url = URL(fileURLWithPath: files.configPath)
        var config = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        config["tokens"] = [["name": "op", "role": "operator", "sha256": SHA256.hash(Array(token.utf8)).map { String(format: "%02x", $0) }.joined()]]
        try JSONSerialization.data(withJSONObject: config).write(to: url)
        return token
    }

    @Test func anAnswerLostIsAskedForAgainAndTheEntryIsAppendedOnce() async throws {
        let files = try NodeFiles(entries: 1)
        defer { files.remove() }
        let token = try Self.grantOperatorToken(files)
        let node = try NodeProcess(config: files.configPath, arguments: ["--i-am-the-only-copy"])
        defer { _ = node.stop() }
        let (client, configuration) = try NodeClientOptions.parse(["--config", files.configPath, "--token", token]).client()
        do { try await checkAppendOnce(client: client, configuration: configuration) } catch {
            Issue.record("\(error)\nthe node's log:\n\(node.log.suffix(4000))")
        }
    }

    func checkAppendOnce(client: APIClient, configuration: ClientConfiguration) async throws {
        let item = AppendItem(type: "note.test", payload: ["n": .number(1)])
        var sent: [String] = []
        var keysSent: Set<String> = []
        var lost: ReceiptBody?
        // The CLI's own waits (a transient failure of the first try, on a loaded machine, is
        // retried as it would be for a user).
        let receipt = try await appendOnce(configuration) { key in
            sent.append(key)
            let answer = try await client.append(log: "wales", item, idempotencyKey: key)
            // The first answer arrives, and is lost on its way (as a reset connection loses it).
            if lost == nil {
                lost = answer
                throw ChannelError.eof
            }
            return answer
        }
        #expect(sent.count >= 2 && Set(sent).count == 1 && sent[0].count == 36, "\(sent)")
        #expect(receipt == lost, "the repeat is answered with the first receipt")
        // Nothing was appended by the repeat: the next entry follows it.
        let next = try await client.append(log: "wales", item)
        #expect(next.index == receipt.index + 1)

        // Out of tries, the loss is said: the entry may be in the log, and the key.
        var key = ""
        do {
            _ = try await appendOnce(configuration, retryWaits: [.milliseconds(10)]) { k -> ReceiptBody in key = k; throw ChannelError.eof }
            Issue.record("no error")
        } catch let error as CLIError {
            #expect(error.description.contains("may have been appended (Idempotency-Key \(key))") && error.description.contains("newest entries of log wales"), "\(error)")
        }
        // Lost, then the node cannot be reached, then answers 503 (restarting): asked again with
        // the same key until it is back (its keys outlive the restart)...
        var tries = 0
        keysSent.removeAll()
        let back = try await appendOnce(configuration, retryWaits: [.milliseconds(10)], restartWaits: [.milliseconds(10), .milliseconds(10), .milliseconds(10)]) { k -> ReceiptBody in
            tries += 1
            keysSent.insert(k)
            switch tries {
            case 1: throw ChannelError.eof
            case 2: throw IOError(errnoCode: ECONNREFUSED, reason: "connect")
            case 3: throw APIClientError(code: .refused, request: "POST /v1/logs/wales/entries", status: 503, refusal: nil, message: "taking its own log back")
            default: return receipt
            }
        }
        #expect(back == receipt && tries == 4 && keysSent.count == 1, "\(tries) \(keysSent)")
        // ...and, not back in time, said the same way as a lost answer (with the key to send it
        // again with), not as a node never reached.
        tries = 0
        do {
            _ = try await appendOnce(configuration, retryWaits: [.milliseconds(10)], restartWaits: [.milliseconds(10)]) { _ -> ReceiptBody in
                tries += 1
                throw tries == 1 ? ChannelError.eof : IOError(errnoCode: ECONNREFUSED, reason: "connect")
            }
            Issue.record("no error")
        } catch let error as CLIError {
            #expect(tries == 3 && error.description.contains("may have been appended") && error.description.contains("--idempotency-key"), "\(tries) \(error)")
        }
        // A key given (`--idempotency-key`, the one a lost append was said with): sent as given.
        let given = try await appendOnce(configuration, key: "given-key-1") { k -> String in k }
        #expect(given == "given-key-1")
        #expect(throws: (any Error).self) { _ = try AppendKeyOptions.parse(["--idempotency-key", "two words"]) }
        #expect(try AppendKeyOptions.parse(["--idempotency-key", "3f1c9a52-5f4e"]).idempotencyKey == "3f1c9a52-5f4e")
        // Never sent (refused at connect): as any request's error, tried once.
        tries = 0
        do {
            _ = try await appendOnce(configuration, retryWaits: [.milliseconds(10)]) { _ -> ReceiptBody in tries += 1; throw IOError(errnoCode: ECONNREFUSED, reason: "connect") }
            Issue.record("no error")
        } catch let error as CLIError {
            #expect(tries == 1 && error.description.contains("cannot reach node") && !error.description.contains("may have been appended"), "\(error)")
        }
        // Lost, then the repeat is still being appended at the node: asked again, same key.
        tries = 0
        var keys: Set<String> = []
        let late = try await appendOnce(configuration, retryWaits: [.milliseconds(10)], pendingWaits: [.milliseconds(10)]) { k -> ReceiptBody in
            tries += 1
            keys.insert(k)
            switch tries {
            case 1: throw ChannelError.eof
            case 2: throw APIClientError(code: .refused, request: "POST /v1/record/reading", status: 409, refusal: nil, message: IdempotencyKey.pendingMessage + ": nothing more was appended")
            default: return receipt
            }
        }
        #expect(late == receipt && tries == 3 && keys.count == 1)
        // A refusal is the node's answer: not sent again.
        var refusals = 0
        await #expect(throws: CLIError.self) {
            _ = try await appendOnce(configuration, retryWaits: [.milliseconds(10)]) { key -> ReceiptBody in
                refusals += 1
                return try await client.append(log: "wales", AppendItem(type: "plan.action", payload: [:]), idempotencyKey: key)
            }
        }
        #expect(refusals == 1)
    }

    /// A key outlives the node's restart: the repeat sent after it is answered with the first
    /// receipt and appends nothing (the keys were in memory only: a restart between a lost
    /// answer and its repeat appended the entry twice).
    @Test func aKeyOutlivesARestartOfTheNode() async throws {
        let files = try NodeFiles(entries: 1)
        defer { files.remove() }
        let token = try Self.grantOperatorToken(files)
        let (client, _) = try NodeClientOptions.parse(["--config", files.configPath, "--token", token]).client()
        let item = AppendItem(type: "note.test", payload: ["n": .number(2)])
        let first = try NodeProcess(config: files.configPath, arguments: ["--i-am-the-only-copy"])
        let receipt: ReceiptBody
        do {
            receipt = try await client.append(log: "wales", item, idempotencyKey: "restart-1")
        } catch {
            Issue.record("\(error)\n\(first.log.suffix(3000))")
            _ = first.stop()
            return
        }
        // Killed outright, as a crash would: the answer's record is the kernel's by then.
        _ = first.stop(signal: SIGKILL)
        let second = try NodeProcess(config: files.configPath, arguments: ["--i-am-the-only-copy"])
        defer { _ = second.stop() }
        do {
            // The same key with another body first (judged by the digest the file kept):
            // refused, nothing appended.
            do {
                _ = try await client.append(log: "wales", AppendItem(type: "note.test", payload: ["n": .number(3)]), idempotencyKey: "restart-1")
                Issue.record("another body under the key was appended")
            } catch let error as APIClientError {
                #expect(error.status == 422, "\(error)")
            }
            let again = try await client.append(log: "wales", item, idempotencyKey: "restart-1")
            #expect(again == receipt, "the repeat after the restart is answered with the first receipt")
            let next = try await client.append(log: "wales", item)
            #expect(next.index == receipt.index + 1, "nothing was appended by the repeats")
        } catch {
            Issue.record("\(error)\n\(second.log.suffix(3000))")
        }
    }

    @Test func onlyAFailureAfterTheRequestMayHaveArrivedIsSentAgain() {
        #expect(APIClient.mayHaveArrived(ChannelError.eof))
        #expect(APIClient.mayHaveArrived(IOError(errnoCode: ECONNRESET, reason: "read")))
        #expect(APIClient.mayHaveArrived(TLSError(.protocolError, "bad record")))
        #expect(!APIClient.mayHaveArrived(IOError(errnoCode: ECONNREFUSED, reason: "connect")))
        #expect(!APIClient.mayHaveArrived(ChannelError.connectTimeout(.seconds(5))))
        #expect(!APIClient.mayHaveArrived(AnswerTooLarge()))
        #expect(!APIClient.mayHaveArrived(TLSError(.handshakeFailed, "refused")))
        #expect(!APIClient.mayHaveArrived(APIClientError(code: .refused, request: "POST /v1/logs/wales/entries", status: 400, refusal: nil, message: "no")))
    }
}
