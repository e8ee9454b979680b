/// Logs, entries, appends and proofs (docs/openapi.yaml: `/v1/logs...`, `/v1/record/...`).
/// Optional properties are absent from the JSON when nil; `EntryBody.payload` is `null` for a
/// stub.
// (Over ~350 lines: every request and response type of the `/v1/logs` and `/v1/record` routes,
// side by side as docs/openapi.yaml lists them.)

/// `GET /v1/logs`: every log the node holds.
public struct LogsResponse: Codable, Sendable, Equatable {
    /// One log as the node holds it.
    public struct Log: Codable, Sendable, Equatable {
        public var log: String
        public var origin: String
        public var own: Bool
        public var size: UInt64
        public var quarantined: Bool
        /// The pinned note verifier key.
        public var vkey: String
        /// The root of the latest checkpoint held (base64); absent before the first.
        public var root: String?
        /// The latest checkpoint held, as signed.
        public var checkpoint: String?
        public var checkpointTimeMillis: UInt64?
        public var checkpointTime: String?
        /// Everything stored was checked before it was stored; false when quarantined or disowned.
        public var verified: Bool
        /// True when this copy holds a checkpoint signed past a revocation of the key that
        /// signed it (a thief's history stored before the revocation reached the node): it no
        /// longer follows the log and needs recovering. Absent otherwise.
        public var disowned: Bool?
        /// The largest size of the log seen signed by its origin.
        public var originSizeSeen: UInt64?
        /// How far `originSizeSeen` is ahead of `size`.
        public var behind: UInt64
        /// Its witnessing, as this node knows it (docs/witness.md); absent before any cosignature.
        public var witnessed: Witnessed?
        /// How many of the log's entries the node's combined view has folded; replicated batches
        /// are folded in passes a few ms after they are stored, so this can trail `size` briefly.
        /// Absent while the view is not folded (during `quartet recover`).
        public var viewSize: UInt64?

        /// The newest checkpoint a quorum (a majority of the log's witnesses) cosigned, or else
        /// the newest any witness cosigned.
        public struct Witnessed: Codable, Sendable, Equatable {
            public var size: UInt64
            /// The members whose witnesses cosigned it.
            public var witnesses: [String]
            /// How many witnesses the log has.
            public var of: Int
            public var quorum: Bool
            /// The newest of those cosignatures' times.
            public var time: String

            public init(size: UInt64, witnesses: [String], of: Int, quorum: Bool, time: String) {
                self.size = size
                self.witnesses = witnesses
                self.of = of
                self.quorum = quorum
                self.time = time
            }
        }

        public init(log: String, origin: String, own: Bool, size: UInt64, quarantined: Bool, vkey: String, root: String? = nil,
                    checkpoint: String? = nil, checkpointTimeMillis: UInt64? = nil, checkpointTime: String? = nil, verified: Bool,
                    originSizeSeen: UInt64? = nil, behind: UInt64, witnessed: Witnessed? = nil, viewSize: UInt64? = nil, disowned: Bool? = nil) {
            self.log = log
            self.origin = origin
            self.own = own
            self.size = size
            self.quarantined = quarantined
            self.vkey = vkey
            self.root = root
            self.checkpoint = checkpoint
            self.checkpointTimeMillis = checkpointTimeMillis
            self.checkpointTime = checkpointTime
            self.verified = verified
            self.originSizeSeen = originSizeSeen
            self.behind = behind
            self.witnessed = witnessed
            self.viewSize = viewSize
            self.disowned = disowned
        }

        enum CodingKeys: String, CodingKey {
            case log, origin, own, size, quarantined, vkey, root, checkpoint, verified, behind, witnessed, disowned
            case checkpointTimeMillis = "checkpoint_time_ms", checkpointTime = "checkpoint_time", originSizeSeen = "origin_size_seen"
            case viewSize = "view_size"
        }
    }

    public var node: String
    public var logs: [Log]

    public init(node: String, logs: [Log]) {
        self.node = node
        self.logs = logs
    }
}

/// An entry: header fields, leaf hash, header bytes, and the payload (parsed, and as the exact
/// stored bytes with its salt, so anyone can recompute SHA-256(salt || payload)) unless it is a
/// stub. `quartet log --format json` prints the same.
public struct EntryBody: Codable, Sendable, Equatable {
    public var log: String
    public var index: UInt64
    public var timeMillis: UInt64
    public var time: String
    public var type: String
    public var classification: String
    public var author: String
    public var payloadCommitment: String
    public var payloadLength: UInt64
    public var leafHash: String
    /// Base64 of the header bytes exactly as signed.
    public var header: String
    /// The payload parsed; `null` for a stub.
    public var payload: PayloadValue
    public var payloadBase64: String?
    public var salt: String?

    public init(log: String, index: UInt64, timeMillis: UInt64, time: String, type: String, classification: String, author: String,
                payloadCommitment: String, payloadLength: UInt64, leafHash: String, header: String, payload: PayloadValue,
                payloadBase64: String? = nil, salt: String? = nil) {
        self.log = log
        self.index = index
        self.timeMillis = timeMillis
        self.time = time
        self.type = type
        self.classification = classification
        self.author = author
        self.payloadCommitment = payloadCommitment
        self.payloadLength = payloadLength
        self.leafHash = leafHash
        self.header = header
        self.payload = payload
        self.payloadBase64 = payloadBase64
        self.salt = salt
    }

    /// Whether the payload is held (a stub has only its commitment).
    public var isStub: Bool { payloadBase64 == nil }

    enum CodingKeys: String, CodingKey {
        case log, index, time, type, classification, author, header, payload, salt
        case timeMillis = "time_ms", payloadCommitment = "payload_commitment", payloadLength = "payload_length"
        case leafHash = "leaf_hash", payloadBase64 = "payload_base64"
    }
}

/// `GET /v1/logs/{log}/entries`: a page of entries; `next` is where the next page starts.
public struct EntriesResponse: Codable, Sendable, Equatable {
    public var log: String
    public var from: UInt64
    public var size: UInt64
    public var next: UInt64
    public var entries: [EntryBody]

    public init(log: String, from: UInt64, size: UInt64, next: UInt64, entries: [EntryBody]) {
        self.log = log
        self.from = from
        self.size = size
        self.next = next
        self.entries = entries
    }
}

/// One item to append: `POST /v1/logs/{log}/entries` takes one, or `AppendBatchRequest`.
public struct AppendItem: Codable, Sendable, Equatable {
    public var type: String
    /// `public` when absent.
    public var classification: String?
    public var payload: PayloadValue

    public init(type: String, classification: String? = nil, payload: PayloadValue) {
        self.type = type
        self.classification = classification
        self.payload = payload
    }
}

/// Up to 1,000 items appended in order, all or none.
public struct AppendBatchRequest: Codable, Sendable, Equatable {
    public var entries: [AppendItem]
    public init(entries: [AppendItem]) { self.entries = entries }
}

/// `Idempotency-Key` on the append routes (docs/openapi.yaml).
public enum IdempotencyKey {
    /// The header's name.
    public static let field = "Idempotency-Key"
    /// The start of the 409 message saying a request with the key is still being appended: a
    /// client keeping its key asks again (the CLI does), one that made up a new key would append twice.
    public static let pendingMessage = "Idempotency-Key: a request with this key is still being appended"
}

/// The receipt of a durable append (`201` of the append and `/v1/record/...` routes).
public struct ReceiptBody: Codable, Sendable, Equatable {
    public var log: String
    public var index: UInt64
    /// Base64.
    public var leafHash: String
    /// The signed checkpoint of the batch that holds the entry.
    public var checkpoint: String

    public init(log: String, index: UInt64, leafHash: String, checkpoint: String) {
        self.log = log
        self.index = index
        self.leafHash = leafHash
        self.checkpoint = checkpoint
    }

    enum CodingKeys: String, CodingKey {
        case log, index, checkpoint
        case leafHash = "leaf_hash"
    }
}

extension ReceiptBody {
    /// `CompactJSONEncoder.encode(self)`, written directly: the answer of every append.
    public var compactJSON: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 + checkpoint.utf8.count + leafHash.utf8.count + log.utf8.count)
        out.append(contentsOf: #"{"checkpoint":"#.utf8)
        JSONTree.writeString(checkpoint, to: &out)
        out.append(contentsOf: #","index":"#.utf8)
        out.append(contentsOf: String(index).utf8)
        out.append(contentsOf: #","leaf_hash":"#.utf8)
        JSONTree.writeString(leafHash, to: &out)
        out.append(contentsOf: #","log":"#.utf8)
        JSONTree.writeString(log, to: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }
}

/// The answer to an `AppendBatchRequest`: one receipt per item, in order.
public struct AppendBatchResponse: Codable, Sendable, Equatable {
    public var log: String
    public var entries: [ReceiptBody]

    public init(log: String, entries: [ReceiptBody]) {
        self.log = log
        self.entries = entries
    }
}

/// An RFC 9162 inclusion proof (`GET /v1/logs/{log}/proofs/inclusion`; `quartet proof
/// inclusion --format json`). Hashes are base64.
public struct InclusionProofBody: Codable, Sendable, Equatable {
    public var log: String
    public var index: UInt64
    public var size: UInt64
    public var leafHash: String
    public var root: String
    public var proof: [String]

    public init(log: String, index: UInt64, size: UInt64, leafHash: String, root: String, proof: [String]) {
        self.log = log
        self.index = index
        self.size = size
        self.leafHash = leafHash
        self.root = root
        self.proof = proof
    }

    enum CodingKeys: String, CodingKey {
        case log, index, size, root, proof
        case leafHash = "leaf_hash"
    }
}

/// An RFC 9162 consistency proof (`GET /v1/logs/{log}/proofs/consistency`; `quartet proof
/// consistency --format json`). Hashes are base64.
public struct ConsistencyProofBody: Codable, Sendable, Equatable {
    public var log: String
    public var from: UInt64
    public var to: UInt64
    public var fromRoot: String
    public var root: String
    public var proof: [String]

    public init(log: String, from: UInt64, to: UInt64, fromRoot: String, root: String, proof: [String]) {
        self.log = log
        self.from = from
        self.to = to
        self.fromRoot = fromRoot
        self.root = root
        self.proof = proof
    }

    enum CodingKeys: String, CodingKey {
        case log, from, to, root, proof
        case fromRoot = "from_root"
    }
}

/// `GET /v1/witnesses`: how this node's log is being witnessed.
public struct WitnessesResponse: Codable, Sendable, Equatable {
    public struct Witness: Codable, Sendable, Equatable {
        /// The member whose witness it is.
        public var id: String
        public var vkey: String
        /// The size of this log it last cosigned, as far as this node knows.
        public var cosignedSize: UInt64?
        public var cosignedTime: String?
        public var failing: Bool
        public var lastError: String?

        public init(id: String, vkey: String, cosignedSize: UInt64?, cosignedTime: String?, failing: Bool, lastError: String?) {
            self.id = id
            self.vkey = vkey
            self.cosignedSize = cosignedSize
            self.cosignedTime = cosignedTime
            self.failing = failing
            self.lastError = lastError
        }

        enum CodingKeys: String, CodingKey {
            case id, vkey, failing
            case cosignedSize = "cosigned_size", cosignedTime = "cosigned_time", lastError = "last_error"
        }
    }

    /// A checkpoint that reached a quorum, the milliseconds from its signing to that, and when
    /// (POSIX milliseconds; absent from nodes older than this field).
    public struct QuorumSample: Codable, Sendable, Equatable {
        public var size: UInt64
        public var millis: Double
        public var at: UInt64?

        public init(size: UInt64, millis: Double, at: UInt64?) {
            self.size = size
            self.millis = millis
            self.at = at
        }

        enum CodingKeys: String, CodingKey {
            case size, millis
            case at = "at_ms"
        }
    }

    public var log: String
    /// The number of cosignatures that make a quorum (a majority of the witnesses).
    public var quorum: Int
    public var witnesses: [Witness]
    /// The newest (at most 1,000) checkpoints that reached a quorum.
    public var quorumLatency: [QuorumSample]

    public init(log: String, quorum: Int, witnesses: [Witness], quorumLatency: [QuorumSample]) {
        self.log = log
        self.quorum = quorum
        self.witnesses = witnesses
        self.quorumLatency = quorumLatency
    }

    enum CodingKeys: String, CodingKey {
        case log, quorum, witnesses
        case quorumLatency = "quorum_latency_ms"
    }
}

/// `GET /v1/witness/cosigned`: what this node's witness last cosigned of each other member's
/// log: per log, the signed checkpoint with this witness's cosignature line (made again at the
/// time it carried). Its peers keep the lines, so a witness restored from an older state learns
/// what it cosigned from them even when a log's own node withholds the line (docs/witness.md).
public struct WitnessCosignedResponse: Codable, Sendable, Equatable {
    /// The member whose witness this is.
    public var witness: String
    /// Signed notes, one per log.
    public var notes: [String]

    public init(witness: String, notes: [String]) {
        self.witness = witness
        self.notes = notes
    }
}
