import QuartetCrypto

/// The header of a ledger entry: everything the log commits to, with the payload only by its
/// salted commitment. A node that may not see a payload holds and verifies the header alone
/// (a *stub*). The binary layout is in docs/formats.md and is never re-encoded once signed.
public struct EntryHeader: Hashable, Sendable {
    /// The header format this code writes; the first byte of every encoded header.
    public static let formatVersion: UInt8 = 1
    /// The largest payload an entry may carry, in bytes.
    public static let maxPayloadLength = 1 << 20
    /// The classification of data anyone may hold.
    public static let publicClassification = "public"

    /// The log (origin name) the entry belongs to, e.g. `wales`.
    public var log: String
    /// The entry's position in its log, from 0.
    public var index: UInt64
    /// When the writer appended it: milliseconds since the Unix epoch, UTC.
    public var timeMillis: UInt64
    /// The entry type, e.g. `progress.reading`.
    public var type: String
    /// `public`, or the label of the data it carries under a data-sharing agreement.
    public var classification: String
    /// The operator who submitted it (may be empty when unknown).
    public var author: String
    /// SHA-256(salt || payload).
    public var payloadCommitment: Hash
    /// The payload's length in bytes.
    public var payloadLength: UInt32

    public init(log: String, index: UInt64, timeMillis: UInt64, type: String, classification: String,
                author: String, payloadCommitment: Hash, payloadLength: UInt32) {
        self.log = log
        self.index = index
        self.timeMillis = timeMillis
        self.type = type
        self.classification = classification
        self.author = author
        self.payloadCommitment = payloadCommitment
        self.payloadLength = payloadLength
    }

    /// Checks every field against what the format allows, naming the field that is wrong.
    public func validate() throws(LedgerError) {
        try Self.validateName(log, field: "log", extra: "-")
        try Self.validateName(type, field: "type", extra: ".-_")
        try Self.validateName(classification, field: "classification", extra: ".-_:")
        guard author.utf8.count <= 255 else {
            throw LedgerError(.invalidArgument, "author: at most 255 bytes of UTF-8, got \(author.utf8.count)")
        }
        guard !Self.containsControlCharacter(author) else {
            throw LedgerError(.invalidArgument, "author: control characters are not allowed")
        }
        guard Int(payloadLength) <= Self.maxPayloadLength else {
            throw LedgerError(.invalidArgument, "payload: at most \(Self.maxPayloadLength) bytes, got \(payloadLength)")
        }
    }

    /// Whether `text` holds a C0 or C1 control character or DEL (checked on the UTF-8 bytes).
    static func containsControlCharacter(_ text: String) -> Bool {
        var previous: UInt8 = 0
        for b in text.utf8 {
            if b < 0x20 || b == 0x7F || (previous == 0xC2 && b >= 0x80 && b <= 0x9F) { return true }
            previous = b
        }
        return false
    }

    /// Log names, types and classifications: 1–64 bytes of lowercase ASCII letters, digits and `extra`,
    /// starting with a letter or digit.
    static func validateName(_ value: String, field: String, extra: String) throws(LedgerError) {
        let count = value.utf8.count
        guard (1...64).contains(count) else {
            throw LedgerError(.invalidArgument, "\(field): expected 1 to 64 characters, got \(count)")
        }
        var first = true
        for b in value.utf8 {
            let alnum = (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9"))
            guard alnum || (!first && extra.utf8.contains(b)) else {
                throw LedgerError(.invalidArgument, "\(field): \"\(value)\" may hold only a-z, 0-9 and \"\(extra)\", starting with a letter or digit")
            }
            first = false
        }
    }

    /// The deterministic binary encoding (docs/formats.md). Fails if a field is out of range.
    public func encoded() throws(LedgerError) -> [UInt8] {
        try validate()
        var out: [UInt8] = []
        out.reserveCapacity(64 + log.utf8.count + type.utf8.count + classification.utf8.count + author.utf8.count)
        out.append(Self.formatVersion)
        Self.appendString(log, to: &out)
        Self.appendInteger(index, to: &out)
        Self.appendInteger(timeMillis, to: &out)
        Self.appendString(type, to: &out)
        Self.appendString(classification, to: &out)
        Self.appendString(author, to: &out)
        out.append(contentsOf: payloadCommitment.bytes)
        Self.appendInteger(payloadLength, to: &out)
        return out
    }

    /// Whether encoded header bytes carry the `public` classification, read straight from the
    /// layout without decoding the rest (replication asks this of every entry it sends).
    /// Malformed bytes count as not public.
    public static func isPublic(encoded bytes: [UInt8]) -> Bool {
        var offset = 1
        guard bytes.count > offset else { return false }
        offset += 1 + Int(bytes[offset]) + 16          // log, index, time
        guard bytes.count > offset else { return false }
        offset += 1 + Int(bytes[offset])               // type
        guard bytes.count > offset else { return false }
        let length = Int(bytes[offset])
        guard length == 6, bytes.count >= offset + 7 else { return false }
        return bytes[(offset + 1)...(offset + 6)].elementsEqual("public".utf8)
    }

    /// Whether an encoded header's type is `type` (its UTF-8 bytes), read in place without
    /// decoding the header; false if the bytes do not reach the type.
    public static func hasType(_ type: [UInt8], encoded bytes: [UInt8]) -> Bool {
        var offset = 1
        guard bytes.count > offset else { return false }
        offset += 1 + Int(bytes[offset]) + 16          // log, index, time
        guard bytes.count > offset else { return false }
        let length = Int(bytes[offset])
        guard length == type.count, bytes.count >= offset + 1 + length else { return false }
        return bytes[(offset + 1)..<(offset + 1 + length)].elementsEqual(type)
    }

    /// The payload commitment of an encoded header, read in place: the 32 bytes before the
    /// trailing 4-byte payload length. Nil if the bytes are too short to hold them. Used where a
    /// header's bytes come from the node's own store and only travel on; `init(decoding:)`
    /// is what checks a header.
    public static func payloadCommitment(encoded bytes: [UInt8]) -> Hash? {
        guard bytes.count >= 1 + 1 + 16 + 3 + 32 + 4 else { return nil }
        return Hash(digest: Array(bytes[(bytes.count - 36)..<(bytes.count - 4)]))
    }

    /// Decodes a header, refusing anything that is not exactly what `encoded()` would produce.
    public init(decoding bytes: [UInt8]) throws(LedgerError) {
        var reader = ByteReader(bytes)
        let version = try reader.byte("format version")
        guard version == Self.formatVersion else {
            throw LedgerError(.malformed, "entry header: format version \(version), expected \(Self.formatVersion)")
        }
        let log = try reader.string("log")
        let index = try reader.uint64("index")
        let time = try reader.uint64("time")
        let type = try reader.string("type")
        let classification = try reader.string("classification")
        let author = try reader.string("author")
        let commitment = try Hash(try reader.bytes(32, "payload commitment"))
        let length = try reader.uint32("payload length")
        guard reader.isAtEnd else {
            throw LedgerError(.malformed, "entry header: \(reader.remaining) bytes after the payload length")
        }
        self.init(log: log, index: index, timeMillis: time, type: type, classification: classification,
                  author: author, payloadCommitment: commitment, payloadLength: length)
        do { try validate() } catch { throw LedgerError(.malformed, "entry header: \(error.message)") }
    }

    private static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(s.utf8.count))
        out.append(contentsOf: s.utf8)
    }

    private static func appendInteger<T: FixedWidthInteger>(_ v: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: v.bigEndian) { out.append(contentsOf: $0) }
    }
}

/// A payload and the salt that hides it: the commitment is SHA-256(salt || bytes).
public struct EntryPayload: Hashable, Sendable {
    /// Length of the per-entry salt.
    public static let saltLength = 32

    /// Fresh random bytes, never reused, so that a header alone reveals nothing guessable.
    public let salt: [UInt8]
    /// The payload: UTF-8 JSON of the entry type's schema, stored exactly as received.
    public let bytes: [UInt8]

    /// SHA-256(salt || payload).
    public let commitment: Hash

    public init(salt: [UInt8], bytes: [UInt8]) throws(LedgerError) {
        guard salt.count == Self.saltLength else {
            throw LedgerError(.invalidArgument, "payload salt: expected \(Self.saltLength) bytes, got \(salt.count)")
        }
        self.salt = salt
        self.bytes = bytes
        self.commitment = salt.withUnsafeBytes { s in bytes.withUnsafeBytes { b in Hash(digest: SHA256.hash(parts: [s, b])) } }
    }

    /// A payload read back from the node's own store only to be sent on, with the commitment of
    /// the header it was stored under instead of one recomputed here. Every receiver recomputes
    /// it (`Entry(headerBytes:payload:)` refuses a payload that does not match), and `quartet
    /// verify` checks the store, so a corrupted copy is caught where its bytes are used. Never
    /// for bytes from outside the node.
    public init(stored salt: [UInt8], bytes: [UInt8], commitment: Hash) {
        self.salt = salt
        self.bytes = bytes
        self.commitment = commitment
    }
}

/// An entry as stored and replicated: its header bytes exactly as signed, and its payload unless
/// this copy is a stub.
public struct Entry: Sendable, Equatable {
    /// The decoded header.
    public let header: EntryHeader
    /// The header exactly as encoded when appended.
    public let headerBytes: [UInt8]
    /// RFC 9162 leaf hash: SHA-256(0x00 || headerBytes).
    public let leafHash: Hash
    /// The payload with its salt, or nil for a stub.
    public let payload: EntryPayload?

    /// Whether this copy holds only the header.
    public var isStub: Bool { payload == nil }

    /// Builds a new entry for appending: commits to the payload with `salt` and encodes the header.
    public init(log: String, index: UInt64, timeMillis: UInt64, type: String, classification: String,
                author: String, payload: [UInt8], salt: [UInt8]) throws(LedgerError) {
        try self.init(log: log, index: index, timeMillis: timeMillis, type: type, classification: classification,
                      author: author, payload: try EntryPayload(salt: salt, bytes: payload))
    }

    /// Builds a new entry for appending from a payload already committed to with its salt.
    public init(log: String, index: UInt64, timeMillis: UInt64, type: String, classification: String,
                author: String, payload body: EntryPayload) throws(LedgerError) {
        let payload = body.bytes
        guard payload.count <= EntryHeader.maxPayloadLength else {
            throw LedgerError(.invalidArgument, "payload: at most \(EntryHeader.maxPayloadLength) bytes, got \(payload.count)")
        }
        let header = EntryHeader(log: log, index: index, timeMillis: timeMillis, type: type,
                                 classification: classification, author: author,
                                 payloadCommitment: body.commitment, payloadLength: UInt32(payload.count))
        let bytes = try header.encoded()
        self.header = header
        self.headerBytes = bytes
        self.leafHash = .leaf(bytes)
        self.payload = body
    }

    /// An entry from stored or received bytes. Checks the header's encoding and, when a payload
    /// is present, that it matches the header's commitment and length.
    public init(headerBytes: [UInt8], payload: EntryPayload?) throws(LedgerError) {
        let header = try EntryHeader(decoding: headerBytes)
        if let payload {
            guard payload.bytes.count == Int(header.payloadLength) else {
                throw LedgerError(.malformed, "entry \(header.log)/\(header.index): payload is \(payload.bytes.count) bytes, header says \(header.payloadLength)")
            }
            guard payload.commitment == header.payloadCommitment else {
                throw LedgerError(.malformed, "entry \(header.log)/\(header.index): payload does not match the header's commitment")
            }
        }
        self.header = header
        self.headerBytes = headerBytes
        self.leafHash = .leaf(headerBytes)
        self.payload = payload
    }

    /// The same entry without its payload.
    public var stub: Entry {
        Entry(header: header, headerBytes: headerBytes, leafHash: leafHash)
    }

    private init(header: EntryHeader, headerBytes: [UInt8], leafHash: Hash) {
        self.header = header
        self.headerBytes = headerBytes
        self.leafHash = leafHash
        self.payload = nil
    }
}

/// Reads the fields of a binary encoding, naming the field that runs out.
struct ByteReader {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { offset == bytes.count }
    var remaining: Int { bytes.count - offset }

    /// Moves past `n` bytes and returns where they start; the field's name is built only for
    /// the error (decoding runs once per entry replicated).
    private mutating func take(_ n: Int, _ field: @autoclosure () -> String) throws(LedgerError) -> Int {
        guard n <= remaining else {
            throw LedgerError(.malformed, "entry header: truncated at \(field()) (byte \(offset), need \(n), have \(remaining))")
        }
        defer { offset += n }
        return offset
    }

    mutating func bytes(_ n: Int, _ field: @autoclosure () -> String) throws(LedgerError) -> [UInt8] {
        let start = try take(n, field())
        return Array(bytes[start..<start + n])
    }

    mutating func byte(_ field: @autoclosure () -> String) throws(LedgerError) -> UInt8 { bytes[try take(1, field())] }

    mutating func uint64(_ field: @autoclosure () -> String) throws(LedgerError) -> UInt64 {
        let start = try take(8, field())
        var value: UInt64 = 0
        for i in start..<start + 8 { value = value << 8 | UInt64(bytes[i]) }
        return value
    }

    mutating func uint32(_ field: @autoclosure () -> String) throws(LedgerError) -> UInt32 {
        let start = try take(4, field())
        var value: UInt32 = 0
        for i in start..<start + 4 { value = value << 8 | UInt32(bytes[i]) }
        return value
    }

    mutating func string(_ field: @autoclosure () -> String) throws(LedgerError) -> String {
        let n = Int(try byte("\(field()) length"))
        let start = try take(n, field())
        guard let s = String(validating: bytes[start..<start + n], as: UTF8.self) else {
            throw LedgerError(.malformed, "entry header: \(field()) is not valid UTF-8")
        }
        return s
    }
}
