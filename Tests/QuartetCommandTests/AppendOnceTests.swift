import Foundation
import NIOCore
import NIOPosix
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
    @Test func anAnswerLostIsAskedForAgainAndTheEntryIsAppendedOnce() async throws {
        let files = try NodeFiles(entries: 1)
        defer { files.remove() }
        // An operator's token in the node's configuration.
        let token = "qt_wales_" + String(repeating: "A", count: 43)
        let url = URL(fileURLWithPath: files.configPath)
        var config = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        config["tokens"] = [["name": "op", "role": "operator", "sha256": SHA256.hash(Array(token.utf8)).map { String(format: "%02x", $0) }.joined()]]
        try JSONSerialization.data(withJSONObject: config).write(to: url)
        let node = try NodeProcess(config: files.configPath, arguments: ["--i-am-the-only-copy"])
        defer { _ = node.stop() }
        let (client, configuration) = try NodeClientOptions.parse(["--config", files.configPath, "--token", token]).client()
        let item = AppendItem(type: "note.test", payload: ["n": .number(1)])
        var sent: [String] = []
        var lost: ReceiptBody?
        let receipt = try await appendOnce(configuration, retryWaits: [.milliseconds(10)]) { key in
            sent.append(key)
            let answer = try await client.append(log: "wales", item, idempotencyKey: key)
            // The first answer arrives, and is lost on its way (as a reset connection loses it).
            if lost == nil {
                lost = answer
                throw ChannelError.eof
            }
            return answer
        }
        #expect(sent.count == 2 && sent[0] == sent[1] && sent[0].count == 36, "\(sent)")
        #expect(receipt == lost, "the repeat is answered with the first receipt")
        // Nothing was appended by the repeat: the next entry follows it.
        let next = try await client.append(log: "wales", item)
        #expect(next.index == receipt.index + 1)

        // Out of tries, the loss is said.
        await #expect(throws: CLIError.self) {
            _ = try await appendOnce(configuration, retryWaits: [.milliseconds(10)]) { _ -> ReceiptBody in throw ChannelError.eof }
        }
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
