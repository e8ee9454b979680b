import QuartetCrypto

/// A `key.rotation` entry: a log's writer moves to a new signing key inside the log, keeping
/// its origin (its identity). The entry states the new key and carries two Ed25519 signatures
/// over the same statement — one by the key in force (so only its holder can rotate) and one by
/// the new key (so nobody can rotate to a key they do not hold) — and the statement names the
/// origin and the entry's index, so a rotation cannot be replayed elsewhere. Checkpoints of a
/// size beyond the entry's index are signed by the new key (docs/formats.md, "Key rotation").
public struct KeyRotation: Sendable, Equatable {
    /// The entry type.
    public static let entryType = "key.rotation"

    /// The log's origin (checkpoint origin and note key name).
    public var origin: String
    /// The rotation entry's index in the log.
    public var index: UInt64
    /// The key in force before it.
    public var previous: Ed25519PublicKey
    /// The key in force after it.
    public var key: Ed25519PublicKey
    /// `previous`'s signature over `statement`.
    public var previousSignature: [UInt8]
    /// `key`'s signature over `statement`.
    public var keySignature: [UInt8]

    /// What both keys sign.
    public static func statement(origin: String, index: UInt64, previous: Ed25519PublicKey, key: Ed25519PublicKey) -> [UInt8] {
        Array("quartet key rotation\n\(origin)\n\(index)\n\(NoteVerifier(name: origin, publicKey: previous).vkey)\n\(NoteVerifier(name: origin, publicKey: key).vkey)\n".utf8)
    }

    /// Makes the rotation of `origin` at `index` from `previous` to `key`, signed by both.
    public static func make(origin: String, index: UInt64, previous: Ed25519PrivateKey, key: Ed25519PrivateKey) throws -> KeyRotation {
        let statement = statement(origin: origin, index: index, previous: previous.publicKey, key: key.publicKey)
        return KeyRotation(origin: origin, index: index, previous: previous.publicKey, key: key.publicKey,
                           previousSignature: try previous.signature(for: statement), keySignature: try key.signature(for: statement))
    }

    /// The verifier of the new key (what Go's `sumdb/note` takes to check later checkpoints).
    public var verifier: NoteVerifier { NoteVerifier(name: origin, publicKey: key) }

    /// The entry's payload: one JSON object in a fixed form (keys in this order, no spaces),
    /// which `init(payload:)` requires byte for byte.
    public var payload: [UInt8] {
        Array(#"{"key":"\#(Base64.encode(key.rawRepresentation))","key_signature":"\#(Base64.encode(keySignature))","previous":"\#(Base64.encode(previous.rawRepresentation))","previous_signature":"\#(Base64.encode(previousSignature))","vkey":"\#(verifier.vkey)"}"#.utf8)
    }

    /// Reads a rotation entry of `origin` at `index` and checks both signatures (unless
    /// `verifyingSignatures` is false: the caller runs `verifySignatures()` once the cheap
    /// checks have passed). It does not check that `previous` is the key in force there
    /// (`KeyChain.apply` does).
    public init(origin: String, index: UInt64, payload encoded: [UInt8]) throws(LedgerError) {
        try self.init(origin: origin, index: index, payload: encoded, verifyingSignatures: true)
    }

    /// `init(origin:index:payload:)`, its signatures checked only if `verifyingSignatures`.
    public init(origin: String, index: UInt64, payload encoded: [UInt8], verifyingSignatures: Bool) throws(LedgerError) {
        let text = String(decoding: encoded, as: UTF8.self)
        var fields: [String: String] = [:]
        // The fixed form: {"k":"v",...} with plain strings (base64 and a verifier key need no escapes).
        guard encoded.count <= 1024, text.hasPrefix("{\""), text.hasSuffix("\"}") else {
            throw LedgerError(.malformed, "key.rotation payload: expected the fixed form {\"key\":…,\"key_signature\":…,\"previous\":…,\"previous_signature\":…,\"vkey\":…}")
        }
        for pair in text.dropFirst(2).dropLast(2).split(separator: "\",\"", omittingEmptySubsequences: false) {
            let parts = pair.split(separator: "\":\"", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2, fields[parts[0]] == nil else { throw LedgerError(.malformed, "key.rotation payload: malformed field near \(pair.prefix(40))") }
            fields[parts[0]] = parts[1]
        }
        func bytes(_ name: String, count: Int) throws(LedgerError) -> [UInt8] {
            guard let value = fields[name], let raw = Base64.decode(value), raw.count == count else {
                throw LedgerError(.malformed, "key.rotation payload: \(name) must be base64 of \(count) bytes")
            }
            return raw
        }
        let previous: Ed25519PublicKey, key: Ed25519PublicKey
        do {
            previous = try Ed25519PublicKey(rawRepresentation: try bytes("previous", count: 32))
            key = try Ed25519PublicKey(rawRepresentation: try bytes("key", count: 32))
        } catch let error as LedgerError { throw error } catch {
            throw LedgerError(.malformed, "key.rotation payload: \(error)")
        }
        self.init(origin: origin, index: index, previous: previous, key: key,
                  previousSignature: try bytes("previous_signature", count: 64), keySignature: try bytes("key_signature", count: 64))
        guard payload == encoded else {
            throw LedgerError(.malformed, "key.rotation payload: not in the fixed form (fields, order or vkey differ)")
        }
        guard key != previous else { throw LedgerError(.malformed, "key.rotation: the new key is the key in force") }
        if verifyingSignatures { try verifySignatures() }
    }

    /// Checks both signatures over the statement (two Ed25519 verifications, ~0.2 ms each here).
    public func verifySignatures() throws(LedgerError) {
        let statement = Self.statement(origin: origin, index: index, previous: previous, key: key)
        guard previous.isValidSignature(previousSignature, for: statement) else {
            throw LedgerError(.badSignature, "key.rotation at index \(index): the signature by the key in force does not verify")
        }
        guard key.isValidSignature(keySignature, for: statement) else {
            throw LedgerError(.badSignature, "key.rotation at index \(index): the signature by the new key does not verify")
        }
    }

    public init(origin: String, index: UInt64, previous: Ed25519PublicKey, key: Ed25519PublicKey, previousSignature: [UInt8], keySignature: [UInt8]) {
        self.origin = origin
        self.index = index
        self.previous = previous
        self.key = key
        self.previousSignature = previousSignature
        self.keySignature = keySignature
    }

    /// The rotation `entry` states, if it is one (nil for other types); throws if it claims to
    /// be one and is not valid — a stub of one included (rotations are public and travel whole).
    public static func from(_ entry: Entry, origin: String, verifyingSignatures: Bool = true) throws(LedgerError) -> KeyRotation? {
        guard entry.header.type == entryType else { return nil }
        guard entry.header.classification == EntryHeader.publicClassification else {
            throw LedgerError(.malformed, "key.rotation at index \(entry.header.index) must be public")
        }
        guard let payload = entry.payload else {
            throw LedgerError(.malformed, "key.rotation at index \(entry.header.index) came without its payload")
        }
        return try KeyRotation(origin: origin, index: entry.header.index, payload: payload.bytes, verifyingSignatures: verifyingSignatures)
    }
}
