import QuartetCrypto

/// A C2SP `signed-note`: UTF-8 text ending in a newline, a blank line, then one line per
/// signature: `— <key name> <base64(key id || signature)>`.
public struct SignedNote: Hashable, Sendable {
    /// One signature line.
    public struct Signature: Hashable, Sendable {
        /// The signer's key name (for a checkpoint, the log's origin).
        public var keyName: String
        /// The first four bytes of SHA-256(key name || 0x0A || 0x01 || public key).
        public var keyID: [UInt8]
        /// The Ed25519 signature over the note text.
        public var signature: [UInt8]

        public init(keyName: String, keyID: [UInt8], signature: [UInt8]) {
            self.keyName = keyName
            self.keyID = keyID
            self.signature = signature
        }

        /// The signature line as a note carries it, without its newline:
        /// `— <key name> <base64(key id || signature)>`.
        public var line: String { "\u{2014} \(keyName) \(Base64.encode(keyID + signature))" }
    }

    /// The largest note this code accepts, in bytes.
    public static let maxLength = 1 << 16

    /// The signed text, ending in a newline.
    public var text: String
    /// The signatures, in the order they appear.
    public var signatures: [Signature]

    public init(text: String, signatures: [Signature]) {
        self.text = text
        self.signatures = signatures
    }

    /// The note as transmitted and stored.
    public var serialized: String {
        var out = text + "\n"
        for s in signatures {
            out += s.line + "\n"
        }
        return out
    }

    /// Parses a serialized note. Signature lines whose bytes are shorter than a key id are refused.
    public init(parsing serialized: String) throws(LedgerError) {
        guard serialized.utf8.count <= Self.maxLength else {
            throw LedgerError(.malformed, "signed note: longer than \(Self.maxLength) bytes")
        }
        guard serialized.hasSuffix("\n") else { throw LedgerError(.malformed, "signed note: does not end with a newline") }
        // As C2SP and Go's note package: no control characters below U+0020 except newline.
        guard !serialized.utf8.contains(where: { $0 < 0x20 && $0 != 0x0A }) else {
            throw LedgerError(.malformed, "signed note: contains control characters")
        }
        let utf8 = Array(serialized.utf8)
        guard let split = (0..<max(utf8.count - 1, 0)).last(where: { utf8[$0] == 0x0A && utf8[$0 + 1] == 0x0A }) else {
            throw LedgerError(.malformed, "signed note: no blank line before the signatures")
        }
        let text = String(decoding: utf8[...split], as: UTF8.self)
        // Signature lines are parsed on bytes, not Characters, so that a name starting with a
        // combining mark cannot merge with the separator.
        let dash: [UInt8] = [0xE2, 0x80, 0x94, 0x20]
        var signatures: [Signature] = []
        for line in utf8[(split + 2)...].split(separator: 0x0A, omittingEmptySubsequences: false).dropLast() {
            guard line.starts(with: dash) else {
                throw LedgerError(.malformed, "signed note: signature line does not start with an em dash and a space")
            }
            let parts = line.dropFirst(dash.count).split(separator: 0x20, omittingEmptySubsequences: false)
            let name = parts.first.map { String(decoding: $0, as: UTF8.self) } ?? ""
            guard parts.count == 2, Checkpoint.isValidOrigin(name) else {
                throw LedgerError(.malformed, "signed note: signature line is not `— name base64`")
            }
            guard let raw = Base64.decode(String(decoding: parts[1], as: UTF8.self)), raw.count > 4 else {
                throw LedgerError(.malformed, "signed note: signature of \(name) is not base64 of a key id and signature")
            }
            signatures.append(Signature(keyName: name, keyID: Array(raw.prefix(4)), signature: Array(raw.dropFirst(4))))
        }
        guard !signatures.isEmpty else { throw LedgerError(.malformed, "signed note: no signatures") }
        self.text = text
        self.signatures = signatures
    }
}

/// The note key id of an Ed25519 key: SHA-256(name || 0x0A || 0x01 || public key)[0..<4].
public func noteKeyID(name: String, publicKey: Ed25519PublicKey) -> [UInt8] {
    Array(SHA256.hash(Array(name.utf8) + [0x0A, 0x01] + publicKey.rawRepresentation).prefix(4))
}

/// Signs notes with an Ed25519 key under a key name.
public struct NoteSigner: Sendable {
    /// The key name, e.g. a log's origin.
    public let name: String
    /// The 4-byte key id.
    public let keyID: [UInt8]
    private let key: Ed25519PrivateKey

    public init(name: String, key: Ed25519PrivateKey) throws(LedgerError) {
        guard Checkpoint.isValidOrigin(name) else { throw LedgerError(.invalidArgument, "note key name \"\(name)\" must be non-empty, without spaces or +") }
        self.name = name
        self.key = key
        self.keyID = noteKeyID(name: name, publicKey: key.publicKey)
    }

    /// The verifier for this signer's signatures.
    public var verifier: NoteVerifier { NoteVerifier(name: name, publicKey: key.publicKey) }

    /// Signs `text` (which must end in a newline) and returns the signed note.
    public func sign(text: String) throws -> SignedNote {
        guard text.hasSuffix("\n") else { throw LedgerError(.invalidArgument, "note text must end with a newline") }
        let signature = try key.signature(for: Array(text.utf8))
        return SignedNote(text: text, signatures: [.init(keyName: name, keyID: keyID, signature: signature)])
    }

    /// Signs a checkpoint. The key name must be the checkpoint's origin.
    public func sign(_ checkpoint: Checkpoint) throws -> SignedNote {
        guard checkpoint.origin.utf8.elementsEqual(name.utf8) else {
            throw LedgerError(.invalidArgument, "checkpoint origin \(checkpoint.origin) differs from the key name \(name)")
        }
        return try sign(text: checkpoint.body)
    }
}

/// Verifies notes signed by one Ed25519 key; built from a pinned key or a verifier key string.
public struct NoteVerifier: Hashable, Sendable {
    /// The key name.
    public let name: String
    /// The 4-byte key id.
    public let keyID: [UInt8]
    /// The public key.
    public let publicKey: Ed25519PublicKey

    public init(name: String, publicKey: Ed25519PublicKey) {
        self.name = name
        self.publicKey = publicKey
        self.keyID = noteKeyID(name: name, publicKey: publicKey)
    }

    /// Parses a verifier key string `name+hex(key id)+base64(0x01 || public key)`, the form Go's
    /// `golang.org/x/mod/sumdb/note` prints.
    public init(vkey: String) throws(LedgerError) {
        let parsed = try VerifierKey.parse(vkey, type: 0x01, what: "verifier key", keyID: noteKeyID)
        self.init(name: parsed.name, publicKey: parsed.key)
    }

    /// The verifier key string `name+hex(key id)+base64(0x01 || public key)`.
    public var vkey: String {
        "\(name)+\(Hex.encode(keyID))+\(Base64.encode([0x01] + publicKey.rawRepresentation))"
    }

    /// Checks that `note` carries a valid signature by this key; signatures by other keys are
    /// ignored. As Go's note package does, the first signature by this key decides: a bad one
    /// is not excused by a good one after it.
    public func verify(_ note: SignedNote) throws(LedgerError) {
        guard let mine = note.signatures.first(where: { $0.keyName.utf8.elementsEqual(name.utf8) && $0.keyID == keyID }) else {
            throw LedgerError(.badSignature, "note carries no signature by \(name)+\(Hex.encode(keyID))")
        }
        guard publicKey.isValidSignature(mine.signature, for: Array(note.text.utf8)) else {
            throw LedgerError(.badSignature, "the signature by \(name) does not verify")
        }
    }

    /// `note` with only this key's (first) signature line: what a node stores and serves of a
    /// checkpoint it received, so a relay cannot add lines to what is served "as signed".
    public func originOnly(_ note: SignedNote) -> SignedNote {
        SignedNote(text: note.text, signatures: note.signatures.first(where: { $0.keyName.utf8.elementsEqual(name.utf8) && $0.keyID == keyID }).map { [$0] } ?? [])
    }

    /// Verifies a signed checkpoint: the signature, then the body; the origin must be the key name.
    public func verifyCheckpoint(_ note: SignedNote) throws(LedgerError) -> Checkpoint {
        try verify(note)
        let checkpoint = try Checkpoint(parsing: note.text)
        guard checkpoint.origin.utf8.elementsEqual(name.utf8) else {
            throw LedgerError(.badSignature, "checkpoint origin \(checkpoint.origin) is not the key name \(name)")
        }
        return checkpoint
    }
}

/// The vkey form of C2SP signed-note keys, `name+hex(key id)+base64(type || public key)`, for
/// Ed25519 keys of one signature type (0x01 note signatures, 0x04 cosignatures).
enum VerifierKey {
    static func parse(_ vkey: String, type: UInt8, what: String,
                      keyID: (_ name: String, _ key: Ed25519PublicKey) -> [UInt8]) throws(LedgerError) -> (name: String, key: Ed25519PublicKey) {
        // The name and key id cannot hold '+'; the base64 key can.
        let parts = vkey.split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, Checkpoint.isValidOrigin(String(parts[0])) else {
            throw LedgerError(.malformed, "\(what): expected name+keyid+key")
        }
        guard parts[1].count == 8, let id = Hex.decode(String(parts[1])) else {
            throw LedgerError(.malformed, "\(what) \(parts[0]): key id must be 8 hex digits")
        }
        guard let raw = Base64.decode(String(parts[2])), raw.count == 33, raw[0] == type else {
            let kind = type == 0x01 ? "a note key (0x01)" : "a cosignature key (0x04; a log key, type 0x01, is not a witness key)"
            throw LedgerError(.malformed, "\(what) \(parts[0]): key must be base64 of 0x\(String(format2: type)) and a 32-byte Ed25519 key: \(kind)")
        }
        let key: Ed25519PublicKey
        do { key = try Ed25519PublicKey(rawRepresentation: Array(raw.dropFirst())) } catch {
            throw LedgerError(.malformed, "\(what) \(parts[0]): \(error)")
        }
        guard keyID(String(parts[0]), key) == id else { throw LedgerError(.malformed, "\(what) \(parts[0]): key id \(parts[1]) does not match the key") }
        return (String(parts[0]), key)
    }
}

private extension String {
    init(format2 byte: UInt8) { self = byte < 0x10 ? "0" + String(byte, radix: 16) : String(byte, radix: 16) }
}
