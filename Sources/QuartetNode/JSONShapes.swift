import Foundation
import QuartetPolicy
import QuartetLedger
import QuartetStore

/// JSON shapes shared by the CLI's `--format json` output and the API.

/// An entry: header fields, leaf hash, header bytes, and the payload (parsed, and as the exact
/// stored bytes with its salt) unless it is a stub.
public func entryJSON(_ entry: Entry) -> [String: Any] {
    let h = entry.header
    var out: [String: Any] = [
        "log": h.log, "index": h.index, "time_ms": h.timeMillis, "time": iso8601(h.timeMillis), "type": h.type,
        "classification": h.classification, "author": h.author, "payload_commitment": h.payloadCommitment.base64,
        "payload_length": h.payloadLength, "leaf_hash": entry.leafHash.base64, "header": Base64.encode(entry.headerBytes),
    ]
    if let payload = entry.payload {
        out["payload"] = (try? JSONSerialization.jsonObject(with: Data(payload.bytes), options: [.fragmentsAllowed])) ?? NSNull()
        // The exact stored bytes, so anyone can recompute SHA-256(salt || payload).
        out["payload_base64"] = Base64.encode(payload.bytes)
        out["salt"] = Base64.encode(payload.salt)
    } else {
        out["payload"] = NSNull()
    }
    return out
}

public func iso8601(_ millis: UInt64) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    // Times come from entries a writer chose: clamped to the last second `Timestamp` writes.
    return formatter.string(from: Date(timeIntervalSince1970: Double(min(millis, Timestamp.maxMillis)) / 1000))
}


/// An inclusion proof, as `quartet proof inclusion --format json` prints it.
public func inclusionJSON(_ proof: InclusionProof) -> [String: Any] {
    ["log": proof.log, "index": proof.index, "size": proof.size, "leaf_hash": proof.leafHash.base64,
     "root": proof.root.base64, "proof": proof.proof.map(\.base64)]
}

/// A consistency proof, as `quartet proof consistency --format json` prints it.
public func consistencyJSON(_ proof: ConsistencyProof) -> [String: Any] {
    ["log": proof.log, "from": proof.from, "to": proof.to, "from_root": proof.fromRoot.base64,
     "root": proof.root.base64, "proof": proof.proof.map(\.base64)]
}
