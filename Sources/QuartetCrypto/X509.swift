import Foundation
internal import COpenSSL

/// A private key of any algorithm OpenSSL holds (`EVP_PKEY`): P-256 for TLS and the federation
/// CA, Ed25519 for log signing (see `Ed25519PrivateKey`).
public final class PrivateKey: @unchecked Sendable {
    // Immutable after creation; OpenSSL allows concurrent use with per-operation contexts.
    package let pkey: OpaquePointer

    package init(owning pkey: OpaquePointer) { self.pkey = pkey }
    deinit { EVP_PKEY_free(pkey) }

    /// A new ECDSA P-256 (prime256v1) key.
    public static func generateP256() throws(CryptoError) -> PrivateKey {
        guard let ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, nil) else { throw .fromOpenSSL(.keyGeneration, "EVP_PKEY_CTX_new_id(EC) failed") }
        defer { EVP_PKEY_CTX_free(ctx) }
        var key: OpaquePointer?
        guard EVP_PKEY_keygen_init(ctx) == 1, EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx, NID_X9_62_prime256v1) == 1,
              EVP_PKEY_keygen(ctx, &key) == 1, let key else {
            throw .fromOpenSSL(.keyGeneration, "P-256 key generation failed")
        }
        return PrivateKey(owning: key)
    }

    /// A key from unencrypted PEM (PKCS#8 or the algorithm's traditional form).
    public convenience init(pem: String) throws(CryptoError) {
        let key: OpaquePointer? = withMemoryBIO(pem) { PEM_read_bio_PrivateKey($0, nil, refusePassphrase, nil) }
        guard let key else { throw .fromOpenSSL(.invalidKey, "not a PEM private key") }
        self.init(owning: key)
    }

    /// Unencrypted PKCS#8 PEM. Treat the result as a secret.
    public func pemRepresentation() throws(CryptoError) -> String {
        try writeMemoryBIO("PEM_write_bio_PrivateKey") { PEM_write_bio_PrivateKey($0, pkey, nil, nil, 0, nil, nil) }
    }

    /// The algorithm, as OpenSSL names it (e.g. `EC`, `ED25519`).
    public var algorithm: String {
        String(cString: OBJ_nid2sn(EVP_PKEY_get_base_id(pkey)))
    }
}

/// A subject alternative name in a certificate.
public enum SubjectAlternativeName: Hashable, Sendable {
    case uri(String)
    case dns(String)
    case ip(String)

    var configValue: String {
        switch self {
        case .uri(let v): return "URI:\(v)"
        case .dns(let v): return "DNS:\(v)"
        case .ip(let v): return "IP:\(v)"
        }
    }
}

/// An X.509 certificate held by OpenSSL.
public final class Certificate: @unchecked Sendable {
    package let x509: OpaquePointer

    package init(owning x509: OpaquePointer) { self.x509 = x509 }
    deinit { X509_free(x509) }

    /// The first certificate in PEM text.
    public convenience init(pem: String) throws(CryptoError) {
        let cert: OpaquePointer? = withMemoryBIO(pem) { PEM_read_bio_X509($0, nil, nil, nil) }
        guard let cert else { throw .fromOpenSSL(.invalidKey, "not a PEM certificate") }
        self.init(owning: cert)
    }

    /// Every certificate in PEM text (a CA bundle), at most `limit`.
    public static func all(pem: String, limit: Int = 16) throws(CryptoError) -> [Certificate] {
        try everyPEMObject(in: pem, limit: limit, what: "certificate") { PEM_read_bio_X509($0, nil, nil, nil).map(Certificate.init(owning:)) }
    }

    /// The certificate as PEM.
    public func pemRepresentation() throws(CryptoError) -> String {
        try writeMemoryBIO("PEM_write_bio_X509") { PEM_write_bio_X509($0, x509) }
    }

    /// The subject's common name, if any.
    public var commonName: String? {
        guard let name = X509_get_subject_name(x509) else { return nil }
        var buffer = [CChar](repeating: 0, count: 256)
        let n = X509_NAME_get_text_by_NID(name, NID_commonName, &buffer, Int32(buffer.count))
        guard n >= 0 else { return nil }
        return String(decoding: buffer.prefix(Int(n)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The serial number in upper-case hex (as `openssl x509 -serial` prints it), naming this
    /// certificate in records of who did what.
    public var serialHex: String {
        X509_get_serialNumber(x509).map { serialText(UnsafePointer($0)) } ?? "?"
    }

    /// The URI subject alternative names.
    public var uriNames: [String] {
        guard let raw = X509_get_ext_d2i(x509, NID_subject_alt_name, nil, nil) else { return [] }
        let names = OpaquePointer(raw)
        defer { quartet_GENERAL_NAMES_free(names) }
        var out: [String] = []
        for i in 0..<quartet_sk_GENERAL_NAME_num(names) {
            guard let name = quartet_sk_GENERAL_NAME_value(names, i), name.pointee.type == GEN_URI,
                  let uri = name.pointee.d.uniformResourceIdentifier,
                  let data = ASN1_STRING_get0_data(uri) else { continue }
            out.append(String(decoding: UnsafeBufferPointer(start: data, count: Int(ASN1_STRING_length(uri))), as: UTF8.self))
        }
        return out
    }

    /// Not valid before (seconds since the epoch).
    public var notBefore: Date { Self.date(X509_get0_notBefore(x509)) }
    /// Not valid after (seconds since the epoch).
    public var notAfter: Date { Self.date(X509_get0_notAfter(x509)) }

    static func date(_ time: UnsafePointer<ASN1_TIME>?) -> Date {
        var tm = tm()
        guard let time, ASN1_TIME_to_tm(time, &tm) == 1 else { return .distantPast }
        return Date(timeIntervalSince1970: TimeInterval(timegm(&tm)))
    }

    /// Issues a certificate for `subjectKey`, signed by `issuerKey` (self-signed when `issuer` is nil).
    ///
    /// A CA gets `basicConstraints=critical,CA:TRUE,pathlen:0` and `keyCertSign,cRLSign`; an end
    /// entity gets `CA:FALSE`, `digitalSignature`, and `serverAuth,clientAuth` (nodes are both)
    /// or, with `clientOnly`, `clientAuth` alone (operators, readers, auditors).
    public static func issue(commonName: String, subjectKey: PrivateKey, issuer: Certificate?, issuerKey: PrivateKey,
                             notBefore: Date, notAfter: Date, isCA: Bool,
                             alternativeNames: [SubjectAlternativeName] = [], clientOnly: Bool = false) throws(CryptoError) -> Certificate {
        try issue(commonName: commonName, subjectPublicKey: subjectKey.pkey, issuer: issuer, issuerKey: issuerKey, notBefore: notBefore,
                  notAfter: notAfter, isCA: isCA, alternativeNames: alternativeNames, clientOnly: clientOnly)
    }

    /// Issues a certificate for a public key held in an `EVP_PKEY` (from a certificate request:
    /// the CA never has the private key). `clientOnly` limits an end entity's extended key usage
    /// to `clientAuth`, so the certificate cannot serve TLS under any name.
    package static func issue(commonName: String, subjectPublicKey: OpaquePointer, issuer: Certificate?, issuerKey: PrivateKey,
                              notBefore: Date, notAfter: Date, isCA: Bool,
                              alternativeNames: [SubjectAlternativeName], clientOnly: Bool) throws(CryptoError) -> Certificate {
        guard let x = X509_new() else { throw .fromOpenSSL(.encoding, "X509_new failed") }
        let cert = Certificate(owning: x)
        guard X509_set_version(x, 2) == 1 else { throw .fromOpenSSL(.encoding, "X509_set_version failed") }
        // A random positive 128-bit serial.
        var serial = try SecureRandom.bytes(count: 16)
        serial[0] &= 0x7F
        serial[0] |= 0x01
        guard let bn = BN_bin2bn(serial, Int32(serial.count), nil) else { throw .fromOpenSSL(.encoding, "BN_bin2bn failed") }
        defer { BN_free(bn) }
        guard BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != nil,
              ASN1_TIME_set(X509_getm_notBefore(x), time_t(notBefore.timeIntervalSince1970)) != nil,
              ASN1_TIME_set(X509_getm_notAfter(x), time_t(notAfter.timeIntervalSince1970)) != nil else {
            throw .fromOpenSSL(.encoding, "cannot set serial or validity")
        }
        guard let name = X509_get_subject_name(x),
              X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, commonName, -1, -1, 0) == 1,
              X509_set_issuer_name(x, issuer.map { X509_get_subject_name($0.x509) } ?? name) == 1,
              X509_set_pubkey(x, subjectPublicKey) == 1 else {
            throw .fromOpenSSL(.encoding, "cannot set names or public key")
        }
        var ctx = X509V3_CTX()
        quartet_X509V3_set_ctx_nodb(&ctx)
        X509V3_set_ctx(&ctx, issuer?.x509 ?? x, x, nil, nil, 0)
        var extensions: [(Int32, String)] = [(NID_subject_key_identifier, "hash")]
        if isCA {
            extensions += [(NID_basic_constraints, "critical,CA:TRUE,pathlen:0"), (NID_key_usage, "critical,keyCertSign,cRLSign")]
        } else {
            extensions += [(NID_basic_constraints, "critical,CA:FALSE"), (NID_key_usage, "critical,digitalSignature"),
                           (NID_ext_key_usage, clientOnly ? "clientAuth" : "serverAuth,clientAuth"), (NID_authority_key_identifier, "keyid:always")]
        }
        if !alternativeNames.isEmpty {
            extensions.append((NID_subject_alt_name, alternativeNames.map(\.configValue).joined(separator: ",")))
        }
        for (nid, value) in extensions {
            guard let ext = X509V3_EXT_conf_nid(nil, &ctx, nid, value) else {
                throw .fromOpenSSL(.encoding, "bad certificate extension \(String(cString: OBJ_nid2sn(nid))) = \(value)")
            }
            defer { X509_EXTENSION_free(ext) }
            guard X509_add_ext(x, ext, -1) == 1 else { throw .fromOpenSSL(.encoding, "X509_add_ext failed") }
        }
        // Ed25519 signs without a separate digest; ECDSA and RSA with SHA-256.
        let md = EVP_PKEY_get_base_id(issuerKey.pkey) == EVP_PKEY_ED25519 ? nil : EVP_sha256()
        guard X509_sign(x, issuerKey.pkey, md) > 0 else { throw .fromOpenSSL(.signing, "X509_sign failed") }
        return cert
    }

    /// Whether `key` is this certificate's key.
    public func matches(_ key: PrivateKey) -> Bool {
        X509_check_private_key(x509, key.pkey) == 1
    }

    /// Checks this certificate against `ca` at `time` with OpenSSL's chain verifier; throws
    /// with OpenSSL's reason (e.g. "certificate has expired") if it does not verify.
    public func verify(issuedBy ca: Certificate, at time: Date = Date()) throws(CryptoError) {
        try verify(issuedByAnyOf: [ca], at: time)
    }

    /// The certificates among `cas` whose key signed this one (its issuer in a CA bundle, under
    /// any of the issuer's certificates: one renewed on the same key is there twice), the dates
    /// not judged: an expired issuer is still found. A signature check, not a chain's: an
    /// intermediate is found without its root.
    public func issuers(among cas: [Certificate]) -> [Certificate] {
        cas.filter { ca in
            guard let key = X509_get0_pubkey(ca.x509), X509_NAME_cmp(X509_get_issuer_name(x509), X509_get_subject_name(ca.x509)) == 0 else { return false }
            let signed = X509_verify(x509, key) == 1
            _ = drainOpenSSLErrors()
            return signed
        }
    }

    /// When the chain of CAs in `cas` above this certificate ends: up the issuers (at each step
    /// the one of the latest date, where one key has several certificates), the earliest date
    /// among them — peers refuse a chain from the day any CA of it expires. Nil when no CA in
    /// `cas` signed this certificate.
    public func chainNotAfter(among cas: [Certificate]) -> Date? {
        var current = self, earliest: Date?
        for _ in 0..<8 {
            guard let issuer = current.issuers(among: cas).max(by: { $0.notAfter < $1.notAfter }) else { break }
            earliest = min(earliest ?? issuer.notAfter, issuer.notAfter)
            // A root signs itself: the chain ends there.
            if X509_NAME_cmp(X509_get_subject_name(issuer.x509), X509_get_issuer_name(issuer.x509)) == 0, issuer.issuers(among: [issuer]).count == 1 { break }
            current = issuer
        }
        return earliest
    }

    /// Checks this certificate against a bundle of CAs (any of them may have issued it: the old
    /// and the new CA during a rollover) at `time`.
    public func verify(issuedByAnyOf cas: [Certificate], at time: Date = Date()) throws(CryptoError) {
        try verify(issuedByAnyOf: cas, at: time, revocationLists: [])
    }

    /// OpenSSL's chain verifier over `cas` and, if any, `revocationLists` (the CRL check, the
    /// lists' dates tolerated as `TLSContext` tolerates them), at `time` or (nil) at no time at
    /// all. The one store both kinds of check build.
    func verify(issuedByAnyOf cas: [Certificate], at time: Date?, revocationLists: [RevocationList]) throws(CryptoError) {
        guard let store = X509_STORE_new() else { throw .fromOpenSSL(.encoding, "X509_STORE_new failed") }
        defer { X509_STORE_free(store) }
        for ca in cas where X509_STORE_add_cert(store, ca.x509) != 1 { throw .fromOpenSSL(.encoding, "cannot build a certificate store") }
        for list in revocationLists where X509_STORE_add_crl(store, list.crl) != 1 { throw .fromOpenSSL(.encoding, "cannot add a revocation list to the store") }
        var flags = revocationLists.isEmpty ? 0 : X509_V_FLAG_CRL_CHECK
        if time == nil { flags |= X509_V_FLAG_NO_CHECK_TIME }
        if flags != 0, X509_STORE_set_flags(store, UInt(flags)) != 1 { throw .fromOpenSSL(.encoding, "cannot set the verification flags") }
        if !revocationLists.isEmpty { quartet_X509_STORE_set_verify_tolerating_crl_dates(store) }
        guard let ctx = X509_STORE_CTX_new() else {
            throw .fromOpenSSL(.encoding, "cannot build a certificate store")
        }
        defer { X509_STORE_CTX_free(ctx) }
        guard X509_STORE_CTX_init(ctx, store, x509, nil) == 1 else { throw .fromOpenSSL(.encoding, "X509_STORE_CTX_init failed") }
        if let time { X509_STORE_CTX_set_time(ctx, 0, time_t(time.timeIntervalSince1970)) }
        if X509_verify_cert(ctx) != 1 {
            let reason = String(cString: X509_verify_cert_error_string(Int(X509_STORE_CTX_get_error(ctx))))
            throw CryptoError(code: .invalidKey, message: "certificate \(commonName ?? "?") (serial \(serialHex)) does not verify\(revocationLists.isEmpty ? "" : " with the revocation list"): \(reason)",
                              openSSLErrors: drainOpenSSLErrors())
        }
    }
}

/// A serial number (or any ASN.1 integer) in upper-case hex, as `openssl x509 -serial` prints it.
func serialText(_ serial: UnsafePointer<ASN1_INTEGER>) -> String {
    guard let bn = ASN1_INTEGER_to_BN(serial, nil) else { return "?" }
    defer { BN_free(bn) }
    guard let hex = BN_bn2hex(bn) else { return "?" }
    defer { quartet_OPENSSL_free(hex) }
    return String(cString: hex)
}

/// Every object `read` takes from PEM text, in order (other blocks skipped), at most `limit`:
/// a CA bundle's certificates, a file's revocation lists.
func everyPEMObject<T>(in pem: String, limit: Int, what: String, read: (OpaquePointer) -> T?) throws(CryptoError) -> [T] {
    var objects: [T] = []
    _ = withMemoryBIO(pem) { bio -> Bool? in
        while objects.count <= limit, let object = read(bio) { objects.append(object) }
        return true
    }
    _ = drainOpenSSLErrors()
    guard !objects.isEmpty else { throw CryptoError(code: .invalidKey, message: "not a PEM \(what)") }
    guard objects.count <= limit else { throw CryptoError(code: .invalidKey, message: "more than \(limit) of \(what) in one file") }
    return objects
}

func withMemoryBIO<T>(_ text: String, _ body: (OpaquePointer) -> T?) -> T? {
    let bytes = Array(text.utf8)
    return bytes.withUnsafeBytes { buffer in
        guard let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count)) else { return nil }
        defer { BIO_free(bio) }
        return body(bio)
    }
}

func writeMemoryBIO(_ what: String, _ body: (OpaquePointer) -> Int32) throws(CryptoError) -> String {
    guard let bio = BIO_new(BIO_s_mem()) else { throw .fromOpenSSL(.encoding, "BIO_new failed") }
    defer { BIO_free(bio) }
    guard body(bio) == 1 else { throw .fromOpenSSL(.encoding, "\(what) failed") }
    var pointer: UnsafeMutablePointer<CChar>?
    let length = quartet_BIO_get_mem_data(bio, &pointer)
    guard let pointer, length > 0 else { return "" }
    return pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
        String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
    }
}
