import QuartetCrypto

/// C2SP tlog-cosignature (v1, Ed25519): a witness's note signature line on a checkpoint, saying
/// that as of its timestamp the witness had seen no larger consistent tree for the log than this
/// one. The line is `— <witness name> base64(key id || timestamp || signature)`, where the key id
/// is SHA-256(name || 0x0A || 0x04 || public key)[:4], the timestamp is 8 bytes big-endian POSIX
/// seconds, and the Ed25519 signature covers `cosignature/v1\ntime <t>\n` followed by the whole
/// checkpoint body. A witness key is never a log's key (docs/witness.md).
public enum Cosignature {
    /// The signature type byte of an Ed25519 cosignature key (in its key id and vkey).
    public static let signatureType: UInt8 = 0x04

    /// The key id of witness `name` with `publicKey`.
    public static func keyID(name: String, publicKey: Ed25519PublicKey) -> [UInt8] {
        Array(SHA256.hash(Array(name.utf8) + [0x0A, signatureType] + publicKey.rawRepresentation).prefix(4))
    }

    /// The message a cosignature at `time` signs over checkpoint `body` (which ends in a newline).
    public static func message(time: UInt64, body: String) -> [UInt8] {
        Array("cosignature/v1\ntime \(time)\n".utf8) + Array(body.utf8)
    }
}

/// Makes cosignatures with a witness key.
public struct CosignatureSigner: Sendable {
    public let name: String
    public let keyID: [UInt8]
    private let key: Ed25519PrivateKey

    public init(name: String, key: Ed25519PrivateKey) throws(LedgerError) {
        guard Checkpoint.isValidOrigin(name) else { throw LedgerError(.invalidArgument, "witness key name \"\(name)\" must be non-empty, without spaces or +") }
        self.name = name
        self.key = key
        self.keyID = Cosignature.keyID(name: name, publicKey: key.publicKey)
    }

    public var verifier: CosignatureVerifier { CosignatureVerifier(name: name, publicKey: key.publicKey) }

    /// The cosignature line's signature at `time` (POSIX seconds) over checkpoint `body`.
    public func cosign(body: String, time: UInt64) throws -> SignedNote.Signature {
        guard time < 1 << 63 else { throw LedgerError(.invalidArgument, "cosignature time \(time) is past 2^63 - 1") }
        let signature = try key.signature(for: Cosignature.message(time: time, body: body))
        return SignedNote.Signature(keyName: name, keyID: keyID, signature: bigEndian(time) + signature)
    }
}

/// Checks the cosignatures of one witness key. Built from the key or from its vkey,
/// `name+hex(key id)+base64(0x04 || public key)`.
public struct CosignatureVerifier: Hashable, Sendable {
    public let name: String
    public let keyID: [UInt8]
    public let publicKey: Ed25519PublicKey

    public init(name: String, publicKey: Ed25519PublicKey) {
        self.name = name
        self.publicKey = publicKey
        self.keyID = Cosignature.keyID(name: name, publicKey: publicKey)
    }

    public init(vkey: String) throws(LedgerError) {
        let parsed = try VerifierKey.parse(vkey, type: Cosignature.signatureType, what: "witness verifier key", keyID: Cosignature.keyID)
        self.init(name: parsed.name, publicKey: parsed.key)
    }

    public var vkey: String { "\(name)+\(Hex.encode(keyID))+\(Base64.encode([Cosignature.signatureType] + publicKey.rawRepresentation))" }

    /// Whether `signature` is a line of this key (by name and key id; its validity aside).
    public func owns(_ signature: SignedNote.Signature) -> Bool { signature.keyName.utf8.elementsEqual(name.utf8) && signature.keyID == keyID }

    /// Checks this witness's cosignature line on `note` (the first line of this key decides, as
    /// for log signatures) and returns its time. Lines of other keys are ignored.
    public func verify(_ note: SignedNote) throws(LedgerError) -> UInt64 {
        guard let mine = note.signatures.first(where: owns) else {
            throw LedgerError(.badSignature, "no cosignature by witness \(name)")
        }
        return try verify(mine, body: note.text)
    }

    /// Checks one cosignature line over checkpoint `body`; returns its time.
    public func verify(_ line: SignedNote.Signature, body: String) throws(LedgerError) -> UInt64 {
        guard owns(line) else { throw LedgerError(.badSignature, "the line is not by witness \(name)") }
        guard line.signature.count == 8 + 64 else {
            throw LedgerError(.badSignature, "cosignature of \(name): expected 72 bytes (time and signature), got \(line.signature.count)")
        }
        let time = line.signature.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard time < 1 << 63 else { throw LedgerError(.badSignature, "cosignature of \(name): time past 2^63 - 1") }
        guard publicKey.isValidSignature(Array(line.signature.dropFirst(8)), for: Cosignature.message(time: time, body: body)) else {
            throw LedgerError(.badSignature, "the cosignature by witness \(name) does not verify")
        }
        return time
    }
}

private func bigEndian(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) } }
