import QuartetLedger

/// The replication protocol's limits (docs/protocol.md, "Limits").
public enum ProtocolLimits {
    /// The highest protocol version this code speaks.
    /// 2 added `unavailable`; 3 added `witnessed`; 4 added `federation`.
    public static let version: UInt16 = 4
    /// The oldest version it still speaks (the N-1 promise: the current and the previous one,
    /// so a federation upgrades one node at a time).
    public static let oldest: UInt16 = 1
    /// The versions a node can speak with a peer.
    public static let accepted: ClosedRange<UInt16> = oldest...version

    /// The version two nodes use: the highest both speak. A peer's hello names the highest it
    /// speaks; one higher than ours is fine (it speaks ours too, by the same promise), one
    /// below `oldest` is refused. Nil: nothing in common.
    public static func negotiate(ours: UInt16, theirs: UInt16) -> UInt16? {
        let agreed = min(ours, theirs)
        return agreed >= oldest ? agreed : nil
    }
    /// Largest frame body (type byte included), in bytes.
    public static let maxFrame = 64 << 20
    /// Most entries in one `entries` message.
    public static let maxBatchEntries = 4096
    /// Payload bytes a sender puts in one `entries` message before it stops at a checkpoint
    /// boundary (a single origin batch may exceed it, up to `maxFrame`).
    public static let batchBytesBudget = 8 << 20
    /// Most logs in one `heads` message.
    public static let maxHeads = 1024
    /// Longest string field (names, notes, messages), in bytes.
    public static let maxString = SignedNote.maxLength
    /// Most hashes in a proof.
    public static let maxProof = 128
}

/// A protocol violation: what was wrong, for the log line and the `error` message sent back.
public struct WireError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One entry on the wire: the header bytes exactly as signed into the leaf, and the salt and
/// payload unless the entry travels as a stub.
public struct WireEntry: Sendable, Equatable {
    public var headerBytes: [UInt8]
    public var payload: EntryPayload?

    public init(headerBytes: [UInt8], payload: EntryPayload?) {
        self.headerBytes = headerBytes
        self.payload = payload
    }

    public init(_ entry: Entry) {
        headerBytes = entry.headerBytes
        payload = entry.payload
    }
}

/// Entries `[from, from + entries.count)` of a log and the signed checkpoint of size
/// `from + entries.count` that covers them.
public struct Batch: Sendable, Equatable {
    public var log: String
    public var from: UInt64
    public var note: String
    public var entries: [WireEntry]

    public init(log: String, from: UInt64, note: String, entries: [WireEntry]) {
        self.log = log
        self.from = from
        self.note = note
        self.entries = entries
    }

    public var end: UInt64 { from + UInt64(entries.count) }
}

/// The messages of replication protocol version 4 (docs/protocol.md).
public enum Message: Sendable, Equatable {
    /// First message on a connection, from both sides.
    case hello(version: UInt16, node: String, federation: String)
    /// The latest signed checkpoint of each log the sender holds, as (log, note).
    case heads([Head])
    /// Asks for the entries of `log` from index `from` on.
    case request(log: String, from: UInt64)
    /// Entries with the checkpoint that covers them.
    case entries(Batch)
    /// Equivocation evidence.
    case evidence(Evidence)
    /// A fatal protocol error; the sender closes the connection after it.
    case error(code: ErrorCode, message: String)
    /// The answer to a `request` the sender cannot serve in a form the requester may keep: it
    /// holds only stubs of entries there that the holder's agreements let the requester have
    /// in full (ask the holder).
    case unavailable(log: String, from: UInt64)
    /// The newest checkpoint of `log` the sender's witness has cosigned (version 3), sent to the
    /// log's writer when a connection is greeted, before `heads`: a writer restored from an older
    /// copy learns what was witnessed of its log even where the sender's replica holds less.
    case witnessed(log: String, note: String)
    /// The signatures of the federation file the sender runs (version 4): its
    /// `federation.json.sig`, a signed note stating the federation, the file's version and its
    /// SHA-256, signed by a quorum of the members of the version before. Sent when a connection
    /// is greeted and when the sender takes a new file: a node restored with an older file
    /// learns, from a statement a quorum signed, that the federation has moved on.
    case federation(statement: String)

    public struct Head: Sendable, Equatable {
        public var log: String
        public var note: String
        public init(log: String, note: String) {
            self.log = log
            self.note = note
        }
    }

    public enum ErrorCode: UInt16, Sendable {
        case malformed = 1
        case version = 2
        case identity = 3
        case tooLarge = 4
    }

    enum Kind: UInt8 {
        case hello = 1, heads, request, entries, evidence, error, unavailable, witnessed, federation
    }

    // MARK: Encoding

    /// The whole frame: 4-byte big-endian length, type byte, body.
    public func frame() -> [UInt8] {
        var w = WireWriter()
        w.u32(0)
        switch self {
        case .hello(let version, let node, let federation):
            w.u8(Kind.hello.rawValue); w.u16(version); w.string(node); w.string(federation)
        case .heads(let heads):
            w.u8(Kind.heads.rawValue); w.u32(UInt32(heads.count))
            for head in heads { w.string(head.log); w.string(head.note) }
        case .request(let log, let from):
            w.u8(Kind.request.rawValue); w.string(log); w.u64(from)
        case .entries(let batch):
            w.u8(Kind.entries.rawValue); w.string(batch.log); w.u64(batch.from); w.string(batch.note); w.u32(UInt32(batch.entries.count))
            for entry in batch.entries {
                w.bytes(entry.headerBytes)
                if let payload = entry.payload {
                    w.u8(1); w.raw(payload.salt); w.bytes(payload.bytes)
                } else {
                    w.u8(0)
                }
            }
        case .evidence(let evidence):
            w.u8(Kind.evidence.rawValue); w.string(evidence.log); w.string(evidence.first); w.string(evidence.second)
            w.raw(evidence.prefixRoot.bytes); w.u16(UInt16(evidence.proof.count))
            for hash in evidence.proof { w.raw(hash.bytes) }
        case .error(let code, let message):
            w.u8(Kind.error.rawValue); w.u16(code.rawValue); w.string(Self.prefix(of: message, utf8Bytes: 1000))
        case .unavailable(let log, let from):
            w.u8(Kind.unavailable.rawValue); w.string(log); w.u64(from)
        case .witnessed(let log, let note):
            w.u8(Kind.witnessed.rawValue); w.string(log); w.string(note)
        case .federation(let statement):
            w.u8(Kind.federation.rawValue); w.string(statement)
        }
        var bytes = w.bytes
        let length = UInt32(bytes.count - 4)
        bytes[0] = UInt8(length >> 24); bytes[1] = UInt8(length >> 16 & 0xFF); bytes[2] = UInt8(length >> 8 & 0xFF); bytes[3] = UInt8(length & 0xFF)
        return bytes
    }

    /// The longest prefix of whole Unicode scalars of `text` within `limit` UTF-8 bytes (cutting
    /// the bytes instead would turn a split character into a 3-byte U+FFFD, past the limit).
    static func prefix(of text: String, utf8Bytes limit: Int) -> String {
        guard text.utf8.count > limit else { return text }
        var out = String.UnicodeScalarView()
        var bytes = 0
        for scalar in text.unicodeScalars {
            bytes += UTF8.width(scalar)
            guard bytes <= limit else { break }
            out.append(scalar)
        }
        return String(out)
    }

    // MARK: Decoding

    /// Decodes one frame body (type byte and what follows, without the length prefix).
    public init(body: some Collection<UInt8>) throws(WireError) {
        var r = WireReader(Array(body))
        let typeByte = try r.u8("message type")
        guard let kind = Kind(rawValue: typeByte) else { throw WireError("unknown message type \(typeByte)") }
        switch kind {
        case .hello:
            self = .hello(version: try r.u16("hello.version"), node: try r.string("hello.node"), federation: try r.string("hello.federation"))
        case .heads:
            let count = try r.count("heads.count", max: ProtocolLimits.maxHeads)
            var heads: [Head] = []
            for i in 0..<count { heads.append(Head(log: try r.string("heads[\(i)].log"), note: try r.string("heads[\(i)].note"))) }
            self = .heads(heads)
        case .request:
            self = .request(log: try r.string("request.log"), from: try r.u64("request.from"))
        case .entries:
            let log = try r.string("entries.log")
            let from = try r.u64("entries.from")
            let note = try r.string("entries.note")
            let count = try r.count("entries.count", max: ProtocolLimits.maxBatchEntries)
            var entries: [WireEntry] = []
            entries.reserveCapacity(count)
            for i in 0..<count {
                let header = try r.bytes("entries[\(i)].header", max: 1 << 16)
                let flag = try r.u8("entries[\(i)].has_payload")
                switch flag {
                case 0:
                    entries.append(WireEntry(headerBytes: header, payload: nil))
                case 1:
                    let salt = try r.raw("entries[\(i)].salt", count: EntryPayload.saltLength)
                    let payload = try r.bytes("entries[\(i)].payload", max: EntryHeader.maxPayloadLength)
                    do { entries.append(WireEntry(headerBytes: header, payload: try EntryPayload(salt: salt, bytes: payload))) } catch {
                        throw WireError("entries[\(i)]: \(error)")
                    }
                default:
                    throw WireError("entries[\(i)].has_payload must be 0 or 1, found \(flag)")
                }
            }
            guard from <= UInt64.max - UInt64(count) else { throw WireError("entries.from overflows") }
            self = .entries(Batch(log: log, from: from, note: note, entries: entries))
        case .evidence:
            let log = try r.string("evidence.log")
            let first = try r.string("evidence.first"), second = try r.string("evidence.second")
            let prefix = try r.hash("evidence.prefix_root")
            let count = try r.u16("evidence.proof_count")
            guard Int(count) <= ProtocolLimits.maxProof else { throw WireError("evidence.proof_count \(count) exceeds \(ProtocolLimits.maxProof)") }
            var proof: [Hash] = []
            for i in 0..<Int(count) { proof.append(try r.hash("evidence.proof[\(i)]")) }
            self = .evidence(Evidence(log: log, first: first, second: second, prefixRoot: prefix, proof: proof))
        case .error:
            let raw = try r.u16("error.code")
            let message = try r.string("error.message")
            self = .error(code: ErrorCode(rawValue: raw) ?? .malformed, message: message)
        case .unavailable:
            self = .unavailable(log: try r.string("unavailable.log"), from: try r.u64("unavailable.from"))
        case .witnessed:
            self = .witnessed(log: try r.string("witnessed.log"), note: try r.string("witnessed.note"))
        case .federation:
            self = .federation(statement: try r.string("federation.statement"))
        }
        guard r.remaining == 0 else { throw WireError("\(r.remaining) unexpected bytes after a \(kind) message") }
    }

    /// The message's name in logs.
    public var name: String {
        switch self {
        case .hello: return "hello"
        case .heads: return "heads"
        case .request: return "request"
        case .entries: return "entries"
        case .evidence: return "evidence"
        case .error: return "error"
        case .unavailable: return "unavailable"
        case .witnessed: return "witnessed"
        case .federation: return "federation"
        }
    }
}

/// Splits a byte stream into frames.
public struct FrameDecoder: Sendable {
    private var buffer: [UInt8] = []
    private var start = 0

    public init() {}

    /// Appends received bytes.
    public mutating func feed(_ bytes: some Sequence<UInt8>) {
        buffer.append(contentsOf: bytes)
    }

    /// The next complete frame's body, nil if more bytes are needed; throws on an oversized or
    /// empty frame (the connection must then be closed).
    public mutating func next() throws(WireError) -> [UInt8]? {
        guard buffer.count - start >= 4 else { compact(); return nil }
        let length = Int(buffer[start]) << 24 | Int(buffer[start + 1]) << 16 | Int(buffer[start + 2]) << 8 | Int(buffer[start + 3])
        guard length > 0 else { throw WireError("empty frame") }
        guard length <= ProtocolLimits.maxFrame else { throw WireError("frame of \(length) bytes exceeds the limit of \(ProtocolLimits.maxFrame)") }
        guard buffer.count - start - 4 >= length else { compact(); return nil }
        let body = Array(buffer[start + 4..<start + 4 + length])
        start += 4 + length
        return body
    }

    private mutating func compact() {
        if start > 0 {
            buffer.removeFirst(start)
            start = 0
        }
    }
}

struct WireWriter {
    var bytes: [UInt8] = []
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { bytes.append(UInt8(v >> 8)); bytes.append(UInt8(v & 0xFF)) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.bigEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.bigEndian) { bytes.append(contentsOf: $0) } }
    mutating func raw(_ v: [UInt8]) { bytes.append(contentsOf: v) }
    mutating func bytes(_ v: [UInt8]) { u32(UInt32(v.count)); bytes.append(contentsOf: v) }
    mutating func string(_ v: String) { bytes(Array(v.utf8)) }
}

struct WireReader {
    let data: [UInt8]
    var offset = 0
    init(_ data: [UInt8]) { self.data = data }
    var remaining: Int { data.count - offset }

    mutating func take(_ n: Int, _ field: @autoclosure () -> String) throws(WireError) -> ArraySlice<UInt8> {
        guard n <= remaining else { throw WireError("\(field()): truncated (needs \(n) bytes, \(remaining) left)") }
        defer { offset += n }
        return data[offset..<offset + n]
    }
    mutating func u8(_ field: @autoclosure () -> String) throws(WireError) -> UInt8 { try take(1, field()).first! }
    mutating func u16(_ field: @autoclosure () -> String) throws(WireError) -> UInt16 { try take(2, field()).reduce(0) { $0 << 8 | UInt16($1) } }
    mutating func u32(_ field: @autoclosure () -> String) throws(WireError) -> UInt32 { try take(4, field()).reduce(0) { $0 << 8 | UInt32($1) } }
    mutating func u64(_ field: @autoclosure () -> String) throws(WireError) -> UInt64 { try take(8, field()).reduce(0) { $0 << 8 | UInt64($1) } }
    mutating func raw(_ field: @autoclosure () -> String, count: Int) throws(WireError) -> [UInt8] { Array(try take(count, field())) }
    mutating func hash(_ field: @autoclosure () -> String) throws(WireError) -> Hash {
        let raw = try raw(field(), count: 32)
        return try! Hash(raw)
    }
    mutating func count(_ field: @autoclosure () -> String, max: Int) throws(WireError) -> Int {
        let n = try u32(field())
        guard n <= max else { throw WireError("\(field()) \(n) exceeds the limit of \(max)") }
        return Int(n)
    }
    mutating func bytes(_ field: @autoclosure () -> String, max: Int) throws(WireError) -> [UInt8] {
        let n = try u32(field() + " length")
        guard n <= max else { throw WireError("\(field()) of \(n) bytes exceeds the limit of \(max)") }
        return Array(try take(Int(n), field()))
    }
    mutating func string(_ field: @autoclosure () -> String) throws(WireError) -> String {
        let raw = try bytes(field(), max: ProtocolLimits.maxString)
        guard let text = String(validating: raw, as: UTF8.self) else { throw WireError("\(field()) is not UTF-8") }
        return text
    }
}
