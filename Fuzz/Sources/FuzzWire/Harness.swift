import FuzzFixtures
import FuzzSupport
import QuartetLedger
import QuartetReplication

/// The replication wire (Sources/QuartetReplication/Wire.swift, docs/protocol.md section 2).
///
/// The input is read twice: as one frame body for `Message(body:)`, and as a byte stream for
/// `FrameDecoder`, fed whole and in pieces. Checked:
/// - decoding never traps, whatever the bytes;
/// - the stream splits into the same frames (and the same error) however it arrives;
/// - a decoded message re-encodes to exactly the bytes it came from (one encoding per message),
///   except `error`, whose code and message `frame()` normalises: that one re-encodes to an
///   `error` within the protocol's 1,000-byte limit that decodes to the same code;
/// - what a message carries goes through its receiver's checks (entry headers and payload
///   commitments, checkpoint notes against the pinned key, evidence) without trapping.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWire(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzInput(data, size)
    checkBody(input)

    let whole = frames(of: input, pieces: [input.count])
    var pieces: [Int] = []
    var seed = UInt32(truncatingIfNeeded: input.count) &* 2_654_435_761 | 1
    var total = 0
    while total < input.count {
        seed = seed &* 1_103_515_245 &+ 12_345
        let n = 1 + Int(seed >> 16) % 9
        pieces.append(n)
        total += n
    }
    let split = frames(of: input, pieces: pieces)
    fuzzCheck(whole.bodies == split.bodies && whole.error == split.error, "FrameDecoder: frames depend on how the bytes arrive",
              "whole: \(whole.bodies.count) frames, \(whole.error.map(\.message) ?? "no error"); in pieces: \(split.bodies.count) frames, \(split.error.map(\.message) ?? "no error")")
    var consumed = 0
    for body in whole.bodies {
        fuzzCheck(!body.isEmpty && body.count <= ProtocolLimits.maxFrame, "FrameDecoder: a frame body of \(body.count) bytes")
        consumed += 4 + body.count
        checkBody(body)
    }
    fuzzCheck(consumed <= input.count, "FrameDecoder: frames longer than the input")
    return 0
}

/// Decodes a stream fed in pieces of the given sizes, until it ends or throws.
func frames(of input: [UInt8], pieces: [Int]) -> (bodies: [[UInt8]], error: WireError?) {
    var decoder = FrameDecoder()
    var bodies: [[UInt8]] = []
    var offset = 0
    for n in pieces {
        let end = min(offset + n, input.count)
        decoder.feed(input[offset..<end])
        offset = end
        do {
            while let body = try decoder.next() { bodies.append(body) }
        } catch {
            return (bodies, error)
        }
    }
    return (bodies, nil)
}

func checkBody(_ body: [UInt8]) {
    let message: Message
    do { message = try Message(body: body) } catch { return }

    let frame = message.frame()
    fuzzCheck(frame.count >= 5, "frame(): shorter than a length and a type byte")
    let length = Int(frame[0]) << 24 | Int(frame[1]) << 16 | Int(frame[2]) << 8 | Int(frame[3])
    fuzzCheck(length == frame.count - 4, "frame(): the length prefix \(length) is not the body's \(frame.count - 4) bytes")
    let reencoded = Array(frame.dropFirst(4))
    let again: Message
    do { again = try Message(body: reencoded) } catch {
        fuzzFailure("a decoded \(message.name) re-encodes to bytes that do not decode: \(error)", describe(reencoded))
    }

    switch message {
    case .error(let code, let text):
        guard case .error(let code2, let text2) = again else { fuzzFailure("error re-decodes as \(again.name)") }
        fuzzCheck(code2 == code, "error: code \(code) re-decodes as \(code2)")
        fuzzCheck(text2.utf8.count <= 1000, "error: frame() sends a message of \(text2.utf8.count) bytes, over the protocol's 1,000",
                  "decoded message of \(text.utf8.count) bytes: \(describe(text.utf8))")
        if text.utf8.count <= 1000 {
            fuzzCheck(Array(text2.utf8) == Array(text.utf8), "error: a message within the limit is not sent as decoded")
        } else {
            fuzzCheck(text.utf8.starts(with: text2.utf8), "error: a long message is not cut to a prefix of itself")
        }
    default:
        fuzzCheck(reencoded == body, "\(message.name): re-encodes to different bytes",
                  "decoded from \(describe(body))\nre-encoded \(describe(reencoded))")
        fuzzCheck(again == message, "\(message.name): re-decodes to a different message")
    }

    // What the receiver does next with what it decoded (Replicator.swift), short of storing it.
    let verifier = Fixtures.verifier
    switch message {
    case .hello(let version, _, _):
        _ = ProtocolLimits.accepted.contains(version)
    case .heads(let heads):
        fuzzCheck(heads.count <= ProtocolLimits.maxHeads, "heads: \(heads.count) logs decoded, over the limit")
        for head in heads { _ = try? verifier.verifyCheckpoint(try SignedNote(parsing: head.note)) }
    case .entries(let batch):
        fuzzCheck(batch.entries.count <= ProtocolLimits.maxBatchEntries, "entries: \(batch.entries.count) decoded, over the limit")
        fuzzCheck(batch.from <= UInt64.max - UInt64(batch.entries.count), "entries: from + count overflows")
        _ = batch.end
        _ = try? verifier.verifyCheckpoint(try SignedNote(parsing: batch.note))
        for entry in batch.entries {
            if let decoded = try? Entry(headerBytes: entry.headerBytes, payload: entry.payload) {
                fuzzCheck(decoded.headerBytes == entry.headerBytes, "entries: Entry changed its header bytes")
            }
            _ = EntryHeader.isPublic(encoded: entry.headerBytes)
        }
    case .evidence(let evidence):
        fuzzCheck(evidence.proof.count <= ProtocolLimits.maxProof, "evidence: \(evidence.proof.count) proof hashes decoded, over the limit")
        _ = try? evidence.verify(with: verifier)
    case .witnessed(_, let note):
        // The writer reads the witnessed checkpoint with its own log's key.
        _ = try? verifier.verifyCheckpoint(try SignedNote(parsing: note))
    case .request, .error, .unavailable:
        break
    }
}
