import Foundation
import QuartetAPI
import QuartetLedger
import QuartetPolicy
import QuartetStore

/// The API's typed bodies built from the ledger's values; the CLI's `--format json` prints the
/// same.

extension EntryBody {
    /// An entry: its header, leaf hash and header bytes, and the payload unless it is a stub.
    public init(_ entry: Entry) {
        let h = entry.header
        var payload = PayloadValue.null, payloadBase64: String?, salt: String?
        if let held = entry.payload {
            payload = PayloadValue.parseIfValid(held.bytes) ?? .null
            payloadBase64 = Base64.encode(held.bytes)
            salt = Base64.encode(held.salt)
        }
        self.init(log: h.log, index: h.index, timeMillis: h.timeMillis, time: iso8601(h.timeMillis), type: h.type,
                  classification: h.classification, author: h.author, payloadCommitment: h.payloadCommitment.base64,
                  payloadLength: UInt64(h.payloadLength), leafHash: entry.leafHash.base64, header: Base64.encode(entry.headerBytes),
                  payload: payload, payloadBase64: payloadBase64, salt: salt)
    }
}

extension InclusionProofBody {
    public init(_ proof: InclusionProof) {
        self.init(log: proof.log, index: proof.index, size: proof.size, leafHash: proof.leafHash.base64,
                  root: proof.root.base64, proof: proof.proof.map(\.base64))
    }
}

extension ConsistencyProofBody {
    public init(_ proof: ConsistencyProof) {
        self.init(log: proof.log, from: proof.from, to: proof.to, fromRoot: proof.fromRoot.base64,
                  root: proof.root.base64, proof: proof.proof.map(\.base64))
    }
}

extension ReceiptBody {
    public init(_ receipt: AppendReceipt) {
        self.init(log: receipt.log, index: receipt.index, leafHash: receipt.leafHash.base64, checkpoint: receipt.checkpoint.note)
    }
}

public func iso8601(_ millis: UInt64) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    // Times come from entries a writer chose: clamped to the last second `Timestamp` writes.
    return formatter.string(from: Date(timeIntervalSince1970: Double(min(millis, Timestamp.maxMillis)) / 1000))
}

// The view's provenance answer (ViewAPI) still builds dictionaries around entries and proofs:
// these give it the typed bodies' JSON. Remove them once ViewAPI uses the types.

