internal import COpenSSL
import Synchronization

/// An Ed25519 private key held by OpenSSL (`EVP_PKEY`).
///
/// Stored on disk as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), the form
/// `openssl pkey -in KEY -noout -text` reads.
public final class Ed25519PrivateKey: @unchecked Sendable {
    // EVP_PKEY is immutable after creation and safe to share between threads when every
    // operation uses its own EVP_MD_CTX, as `sign` does.
    private let pkey: OpaquePointer

    /// The matching public key.
    public let publicKey: Ed25519PublicKey

    private init(pkey: OpaquePointer) throws(CryptoError) {
        var raw = [UInt8](repeating: 0, count: Ed25519PublicKey.byteCount)
        var length = raw.count
        guard EVP_PKEY_get_raw_public_key(pkey, &raw, &length) == 1, length == raw.count,
              let publicKey = try? Ed25519PublicKey(rawRepresentation: raw) else {
            EVP_PKEY_free(pkey)
            throw .fromOpenSSL(.invalidKey, "cannot read the public half of an Ed25519 key")
        }
        self.pkey = pkey
        self.publicKey = publicKey
    }

    deinit { EVP_PKEY_free(pkey) }

    /// Generates a new key with OpenSSL's key generator.
    public convenience init() throws(CryptoError) {
        guard let ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nil) else {
            throw .fromOpenSSL(.keyGeneration, "EVP_PKEY_CTX_new_id(ED25519) failed")
        }
        defer { EVP_PKEY_CTX_free(ctx) }
        var key: OpaquePointer?
        guard EVP_PKEY_keygen_init(ctx) == 1, EVP_PKEY_keygen(ctx, &key) == 1, let key else {
            throw .fromOpenSSL(.keyGeneration, "Ed25519 key generation failed")
        }
        try self.init(pkey: key)
    }

    /// A key from its 32-byte seed (RFC 8032 private key).
    public convenience init(rawRepresentation seed: [UInt8]) throws(CryptoError) {
        guard seed.count == 32 else {
            throw CryptoError(code: .invalidKey, message: "an Ed25519 private key is 32 bytes, got \(seed.count)")
        }
        guard let key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, seed, seed.count) else {
            throw .fromOpenSSL(.invalidKey, "cannot load an Ed25519 private key")
        }
        try self.init(pkey: key)
    }

    /// A key from PEM text: PKCS#8 (`BEGIN PRIVATE KEY`), unencrypted.
    public convenience init(pem: String) throws(CryptoError) {
        let bytes = Array(pem.utf8)
        let key: OpaquePointer? = bytes.withUnsafeBytes { buffer in
            guard let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PrivateKey(bio, nil, refusePassphrase, nil)
        }
        guard let key else { throw .fromOpenSSL(.invalidKey, "not a PEM private key") }
        guard EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519 else {
            EVP_PKEY_free(key)
            throw CryptoError(code: .invalidKey, message: "the PEM key is not an Ed25519 key")
        }
        try self.init(pkey: key)
    }

    /// The key as unencrypted PKCS#8 PEM. Treat the result as a secret.
    public func pemRepresentation() throws(CryptoError) -> String {
        guard let bio = BIO_new(BIO_s_mem()) else { throw .fromOpenSSL(.encoding, "BIO_new failed") }
        defer { BIO_free(bio) }
        guard PEM_write_bio_PrivateKey(bio, pkey, nil, nil, 0, nil, nil) == 1 else {
            throw .fromOpenSSL(.encoding, "PEM_write_bio_PrivateKey failed")
        }
        return readMemoryBIO(bio)
    }

    /// Signs `message` (Ed25519 signs the whole message; there is no pre-hash).
    public func signature(for message: [UInt8]) throws(CryptoError) -> [UInt8] {
        guard let ctx = EVP_MD_CTX_new() else { throw .fromOpenSSL(.signing, "EVP_MD_CTX_new failed") }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestSignInit(ctx, nil, nil, nil, pkey) == 1 else {
            throw .fromOpenSSL(.signing, "EVP_DigestSignInit failed")
        }
        var signature = [UInt8](repeating: 0, count: 64)
        var length = signature.count
        let ok = message.withUnsafeBufferPointer { m in
            EVP_DigestSign(ctx, &signature, &length, m.baseAddress, m.count)
        }
        guard ok == 1, length == 64 else { throw .fromOpenSSL(.signing, "EVP_DigestSign failed") }
        return signature
    }
}

/// An Ed25519 public key: 32 raw bytes (RFC 8032).
public struct Ed25519PublicKey: Hashable, Sendable {
    /// The length of a raw Ed25519 public key.
    public static let byteCount = 32

    /// The raw 32 bytes.
    public let rawRepresentation: [UInt8]

    /// A key from its raw 32 bytes; fails on any other length. (OpenSSL loads any 32 bytes as
    /// a raw Ed25519 public key and checks the point when a signature is verified, so loading
    /// one here, as this did, only cost an `EVP_PKEY` per key read from a store row.)
    public init(rawRepresentation: [UInt8]) throws(CryptoError) {
        guard rawRepresentation.count == Self.byteCount else {
            throw CryptoError(code: .invalidKey, message: "an Ed25519 public key is 32 bytes, got \(rawRepresentation.count)")
        }
        try Self.checkStrong(rawRepresentation)
        self.rawRepresentation = rawRepresentation
    }

    /// The encodings (y, the sign bit ignored) of the eight points of small order and of y at
    /// or past the field's prime `p` that also name them (libsodium's list; each one checked to
    /// be of order dividing 8 by RFC 8032 arithmetic when it was written down). OpenSSL verifies
    /// a signature made with no private key at all (R the identity, S zero) under such a key,
    /// so a log rotated to one, or a witness or log key of that form, could be signed for by anyone.
    static let smallOrder: [[UInt8]] = [
        [UInt8](repeating: 0, count: 32),                                            // y = 0: order 4
        [1] + [UInt8](repeating: 0, count: 31),                                      // y = 1: the identity
        hex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),     // order 8
        hex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),     // order 8
        [0xEC] + [UInt8](repeating: 0xFF, count: 30) + [0x7F],                       // y = p - 1: order 2
        [0xED] + [UInt8](repeating: 0xFF, count: 30) + [0x7F],                       // y = p, that is 0
        [0xEE] + [UInt8](repeating: 0xFF, count: 30) + [0x7F],                       // y = p + 1, that is 1
    ]

    private static func hex(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        var digits = text.utf8.makeIterator()
        while let high = digits.next(), let low = digits.next() {
            func value(_ c: UInt8) -> UInt8 { c <= 0x39 ? c - 0x30 : c - 0x61 + 10 }
            out.append(value(high) << 4 | value(low))
        }
        return out
    }

    /// Refuses a key that is a point of small order, or whose y is not below `p` (not the
    /// canonical encoding): no legitimate key is either (a key is a secret scalar times the base
    /// point, of prime order), and the first lets anyone sign.
    static func checkStrong(_ raw: [UInt8]) throws(CryptoError) {
        for blocked in smallOrder {
            var difference: UInt8 = 0
            for i in 0..<31 { difference |= raw[i] ^ blocked[i] }
            difference |= (raw[31] & 0x7F) ^ blocked[31]
            if difference == 0 {
                throw CryptoError(code: .invalidKey, message: "the Ed25519 public key is a point of small order, for which anyone can make signatures")
            }
        }
        // y >= p = 2^255 - 19: bytes 1...30 all 0xFF, the top byte 0x7F (sign bit ignored) and
        // the lowest at least 0xED.
        if raw[31] & 0x7F == 0x7F, raw[1..<31].allSatisfy({ $0 == 0xFF }), raw[0] >= 0xED {
            throw CryptoError(code: .invalidKey, message: "the Ed25519 public key is not canonically encoded (its y is not below the field prime)")
        }
    }

    /// A key from PEM text (`BEGIN PUBLIC KEY`, SubjectPublicKeyInfo).
    public init(pem: String) throws(CryptoError) {
        let bytes = Array(pem.utf8)
        let key: OpaquePointer? = bytes.withUnsafeBytes { buffer in
            guard let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PUBKEY(bio, nil, nil, nil)
        }
        guard let key else { throw .fromOpenSSL(.invalidKey, "not a PEM public key") }
        defer { EVP_PKEY_free(key) }
        guard EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519 else {
            throw CryptoError(code: .invalidKey, message: "the PEM key is not an Ed25519 key")
        }
        var raw = [UInt8](repeating: 0, count: Self.byteCount)
        var length = raw.count
        guard EVP_PKEY_get_raw_public_key(key, &raw, &length) == 1, length == raw.count else {
            throw .fromOpenSSL(.invalidKey, "cannot read an Ed25519 public key")
        }
        try Self.checkStrong(raw)
        self.rawRepresentation = raw
    }

    /// The key as PEM SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`).
    public func pemRepresentation() throws(CryptoError) -> String {
        guard let key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, rawRepresentation, rawRepresentation.count) else {
            throw .fromOpenSSL(.invalidKey, "cannot load an Ed25519 public key")
        }
        defer { EVP_PKEY_free(key) }
        guard let bio = BIO_new(BIO_s_mem()) else { throw .fromOpenSSL(.encoding, "BIO_new failed") }
        defer { BIO_free(bio) }
        guard PEM_write_bio_PUBKEY(bio, key) == 1 else { throw .fromOpenSSL(.encoding, "PEM_write_bio_PUBKEY failed") }
        return readMemoryBIO(bio)
    }

    /// Whether `signature` is a valid Ed25519 signature of `message` under this key.
    ///
    /// A triple that verified lately is answered from `RecentlyVerified` (a node checks the
    /// same signed checkpoint as it replicates it, as a witness, and as it reads cosignatures).
    public func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        guard signature.count == 64 else { return false }
        let digest = RecentlyVerified.digest(key: rawRepresentation, signature: signature, message: message)
        if RecentlyVerified.shared.contains(digest) { return true }
        guard let handle = VerifyingKeys.shared.key(rawRepresentation) else {
            _ = drainOpenSSLErrors()
            return false
        }
        guard let ctx = EVP_MD_CTX_new() else { return false }
        defer { withExtendedLifetime(handle) {} }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestVerifyInit(ctx, nil, nil, nil, handle.pkey) == 1 else {
            _ = drainOpenSSLErrors()
            return false
        }
        let ok = message.withUnsafeBufferPointer { m in
            EVP_DigestVerify(ctx, signature, signature.count, m.baseAddress, m.count)
        }
        if ok != 1 { _ = drainOpenSSLErrors() }
        if ok == 1 { RecentlyVerified.shared.insert(digest) }
        return ok == 1
    }
}

/// The signatures verified lately, as SHA-256 of key, signature and message (32 and 64 bytes
/// then the message, so the parts cannot shift into each other): the same triple is
/// valid again (verification is deterministic, and SHA-256's collision resistance keeps any
/// other triple from matching). Only valid ones are kept, at most `limit`, the oldest forgotten
/// first; hashing a checkpoint costs about a hundredth of verifying it.
final class RecentlyVerified: Sendable {
    static let shared = RecentlyVerified()
    static let limit = 512

    private struct Ring {
        var known: Set<[UInt8]> = []
        var order: [[UInt8]] = []
        var next = 0
    }

    private let ring = Mutex(Ring())

    static func digest(key: [UInt8], signature: [UInt8], message: [UInt8]) -> [UInt8] {
        key.withUnsafeBytes { k in
            signature.withUnsafeBytes { s in
                message.withUnsafeBytes { m in SHA256.hash(parts: [k, s, m]) }
            }
        }
    }

    func contains(_ digest: [UInt8]) -> Bool { ring.withLock { $0.known.contains(digest) } }

    /// How many digests are kept.
    var count: Int { ring.withLock { $0.known.count } }

    func insert(_ digest: [UInt8]) {
        ring.withLock { ring in
            guard ring.known.insert(digest).inserted else { return }
            if ring.order.count < Self.limit {
                ring.order.append(digest)
            } else {
                ring.known.remove(ring.order[ring.next])
                ring.order[ring.next] = digest
                ring.next = (ring.next + 1) % Self.limit
            }
        }
    }
}

/// OpenSSL public keys made once per key and kept for verifying: making an `EVP_PKEY` from raw
/// bytes fetches the key manager by name each time, a large part of a verification. A key is
/// shared by threads (each verification has its own `EVP_MD_CTX`); at most `limit` are kept,
/// and a full cache starts again (a handle in use stays alive with its user). (Copying a
/// context initialised once per key instead of initialising one per verification measured no
/// faster with OpenSSL 3.0: 183 against 176 µs.)
final class VerifyingKeys: Sendable {
    static let shared = VerifyingKeys()
    static let limit = 1024

    final class Handle: @unchecked Sendable {
        // Immutable after creation; freed when the last user lets go.
        let pkey: OpaquePointer
        init(_ pkey: OpaquePointer) { self.pkey = pkey }
        deinit { EVP_PKEY_free(pkey) }
    }

    private let keys = Mutex<[[UInt8]: Handle]>([:])

    /// The OpenSSL key of `raw` (32 bytes), or nil if OpenSSL refuses it.
    func key(_ raw: [UInt8]) -> Handle? {
        if let known = keys.withLock({ $0[raw] }) { return known }
        guard let pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, raw, raw.count) else { return nil }
        let handle = Handle(pkey)
        return keys.withLock { keys in
            if let known = keys[raw] { return known }
            if keys.count >= Self.limit { keys.removeAll() }
            keys[raw] = handle
            return handle
        }
    }
}

/// Reads everything written to a memory BIO as UTF-8 text.
private func readMemoryBIO(_ bio: OpaquePointer) -> String {
    var pointer: UnsafeMutablePointer<CChar>?
    let length = quartet_BIO_get_mem_data(bio, &pointer)
    guard let pointer, length > 0 else { return "" }
    return pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
        String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
    }
}

/// OpenSSL's default passphrase callback prompts on the terminal, which would hang a daemon
/// reading an encrypted key; Quartet's keys are unencrypted, so an encrypted one is refused.
let refusePassphrase: @convention(c) (UnsafeMutablePointer<CChar>?, Int32, Int32, UnsafeMutableRawPointer?) -> Int32 = { _, _, _, _ in 0 }
