import QuartetCrypto
import QuartetLedger
@testable import QuartetReplication
import Testing

@Suite struct WireTests {
    func roundTrip(_ message: Message) throws -> Message {
        var decoder = FrameDecoder()
        // Fed one byte at a time: frames split anywhere still decode.
        var decoded: [Message] = []
        for byte in message.frame() {
            decoder.feed([byte])
            while let body = try decoder.next() { decoded.append(try Message(body: body)) }
        }
        #expect(decoded.count == 1)
        return decoded[0]
    }

    @Test func everyMessageRoundTrips() throws {
        let entry = try Entry(log: "wales", index: 7, timeMillis: 1, type: "measure.reading", classification: "public", author: "op",
                              payload: Array(#"{"v":1}"#.utf8), salt: [UInt8](repeating: 3, count: 32))
        let messages: [Message] = [
            .hello(version: 1, node: "wales", federation: "uk-ot-workforce"),
            .heads([.init(log: "wales", note: "a\n\nb\n"), .init(log: "uk", note: "c\n")]),
            .heads([]),
            .request(log: "scotland", from: 1 << 40),
            .entries(Batch(log: "wales", from: 7, note: "note\n", entries: [WireEntry(entry), WireEntry(entry.stub)])),
            .evidence(Evidence(log: "wales", first: "x\n", second: "y\n", prefixRoot: .emptyTree, proof: [.emptyTree, .leaf([1])])),
            .error(code: .tooLarge, message: "frame too large"),
            .unavailable(log: "wales", from: 4096),
            .witnessed(log: "wales", note: "quartet.test/wales\n3\nroot\n\n— sig\n"),
            .federation(statement: "quartet federation file\nuk-ot-workforce\nversion 2\nsha256 00\n\n— sig\n"),
        ]
        for message in messages { #expect(try roundTrip(message) == message) }
    }

    @Test func badFramesAreRefusedWithTheReason() throws {
        func error(_ body: [UInt8]) -> String? {
            do { _ = try Message(body: body); return nil } catch { return error.message }
        }
        #expect(error([]) == "message type: truncated (needs 1 bytes, 0 left)")
        #expect(error([99]) == "unknown message type 99")
        var hello = Message.hello(version: 1, node: "wales", federation: "f").frame()
        hello.removeFirst(4)
        #expect(error(Array(hello.dropLast())) == "hello.federation: truncated (needs 1 bytes, 0 left)")
        #expect(error(hello + [0]) == "1 unexpected bytes after a hello message")
        // A count beyond the limit is refused before anything is allocated.
        #expect(error([2, 0xFF, 0xFF, 0xFF, 0xFF])?.contains("exceeds the limit") == true)
        // Payload flag must be 0 or 1; a salted payload must match nothing here but decode.
        var entries = Message.entries(Batch(log: "w", from: 0, note: "n", entries: [WireEntry(headerBytes: [1, 2], payload: nil)])).frame()
        entries.removeFirst(4)
        entries[entries.count - 1] = 7
        #expect(error(entries) == "entries[0].has_payload must be 0 or 1, found 7")

        var decoder = FrameDecoder()
        decoder.feed([0x10, 0, 0, 0, 1])  // 256 MiB
        #expect(throws: WireError.self) { _ = try decoder.next() }
        var empty = FrameDecoder()
        empty.feed([0, 0, 0, 0])
        #expect(throws: WireError.self) { _ = try empty.next() }
    }

    @Test func evidenceVerification() throws {
        let key = try Ed25519PrivateKey()
        let signer = try NoteSigner(name: "quartet.test/wales", key: key)
        let leaves = (0..<6).map { Hash.leaf([UInt8($0)]) }
        let other = (0..<6).map { Hash.leaf([UInt8($0 + 100)]) }
        func note(_ size: Int, _ leaves: [Hash]) throws -> String {
            try signer.sign(Checkpoint(origin: "quartet.test/wales", size: UInt64(size), root: Merkle.root(ofLeaves: Array(leaves.prefix(size))), timeMillis: 0)).serialized
        }
        let proof = try Merkle.consistencyProof(from: 3, to: 6) { level, index in try Merkle.subtreeHash(of: other, level: level, index: index) }
        let good = Evidence(log: "wales", first: try note(3, leaves), second: try note(6, other),
                            prefixRoot: Merkle.root(ofLeaves: Array(other.prefix(3))), proof: proof)
        #expect(throws: Never.self) { _ = try good.verify(with: signer.verifier) }
        // Consistent checkpoints are not evidence.
        let consistent = Evidence(log: "wales", first: try note(3, leaves), second: try note(6, leaves),
                                  prefixRoot: Merkle.root(ofLeaves: Array(leaves.prefix(3))), proof: proof)
        #expect(throws: WireError.self) { _ = try consistent.verify(with: signer.verifier) }
        // A made-up prefix root with a proof that does not lead to the second root.
        var bogus = good
        bogus.prefixRoot = .leaf([42])
        #expect(throws: WireError.self) { _ = try bogus.verify(with: signer.verifier) }
        // Signed by another key.
        let stranger = try NoteSigner(name: "quartet.test/wales", key: try Ed25519PrivateKey())
        #expect(throws: WireError.self) { _ = try good.verify(with: stranger.verifier) }
    }
}
