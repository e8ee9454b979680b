import Foundation
internal import COpenSSL

/// An X.509 certificate revocation list (RFC 5280 section 5) signed by the federation CA: the
/// certificates it revoked by serial number. A node given one (`tls.crl`) refuses them on
/// every handshake, as peer, client or server (OpenSSL's own CRL check), and a reload that
/// changes it closes the connections made before (docs/operations.md, "Revoking a
/// certificate"). Made by `quartet pki revoke`; `openssl crl` and `openssl verify -crl_check`
/// read it too.
public final class RevocationList: @unchecked Sendable {
    // Immutable after creation (OpenSSL's store takes its own reference).
    package let crl: OpaquePointer

    package init(owning crl: OpaquePointer) { self.crl = crl }
    deinit { X509_CRL_free(crl) }

    /// The first revocation list in PEM text (`-----BEGIN X509 CRL-----`).
    public convenience init(pem: String) throws(CryptoError) {
        let crl: OpaquePointer? = withMemoryBIO(pem) { PEM_read_bio_X509_CRL($0, nil, nil, nil) }
        guard let crl else { throw .fromOpenSSL(.invalidKey, "not a PEM revocation list (X509 CRL)") }
        self.init(owning: crl)
    }

    /// Every revocation list in PEM text (one per CA of a bundle), at most `limit`.
    public static func all(pem: String, limit: Int = 16) throws(CryptoError) -> [RevocationList] {
        try everyPEMObject(in: pem, limit: limit, what: "revocation list (X509 CRL)") { PEM_read_bio_X509_CRL($0, nil, nil, nil).map(RevocationList.init(owning:)) }
    }

    /// Checks `certificate` as a TLS handshake of a context holding `lists` would: against
    /// `trustRoots` with OpenSSL's CRL check, a list's dates aside (`TLSContext`), and no date at
    /// all (the certificate's and the CA's dates are judged elsewhere: a node whose certificate
    /// expired must still take the reload that brings its renewal or a federation file). A list that
    /// loads but refuses every certificate (a critical extension OpenSSL does not know, a scope
    /// of CA certificates only, a CA without `cRLSign`), or a CA of the bundle without a list,
    /// fails here as it would fail every peer.
    public static func check(_ certificate: Certificate, trustRoots: [Certificate], lists: [RevocationList]) throws(CryptoError) {
        try certificate.verify(issuedByAnyOf: trustRoots, at: nil, revocationLists: lists)
    }

    public func pemRepresentation() throws(CryptoError) -> String {
        try writeMemoryBIO("PEM_write_bio_X509_CRL") { PEM_write_bio_X509_CRL($0, crl) }
    }

    /// The serial numbers revoked (upper-case hex, as `Certificate.serialHex` and `openssl x509
    /// -serial` give them) with the time each was revoked.
    public var revoked: [(serial: String, at: Date)] {
        guard let stack = X509_CRL_get_REVOKED(crl) else { return [] }
        var out: [(String, Date)] = []
        for i in 0..<quartet_sk_X509_REVOKED_num(stack) {
            guard let entry = quartet_sk_X509_REVOKED_value(stack, i), let serial = X509_REVOKED_get0_serialNumber(entry) else { continue }
            // An entry whose reason is removeFromCRL takes a revocation back (OpenSSL does not
            // count it as revoked): neither is it here.
            if let reason = X509_REVOKED_get_ext_d2i(entry, NID_crl_reason, nil, nil) {
                let code = ASN1_ENUMERATED_get(reason.assumingMemoryBound(to: ASN1_ENUMERATED.self))
                ASN1_ENUMERATED_free(reason.assumingMemoryBound(to: ASN1_ENUMERATED.self))
                if code == 8 { continue }
            }
            out.append((serialText(serial), Certificate.date(X509_REVOKED_get0_revocationDate(entry))))
        }
        return out
    }

    /// What the list revokes, each as its issuer (`issuer`) and serial, `ISSUER/SERIAL`:
    /// comparable between lists, so a list replacing another can say which revocations it takes
    /// back.
    public var revocations: Set<String> { revocations(issuedBy: issuer) }

    /// What the list revokes, keyed under `issuer` (`issuer(of:)` of the CA that signed it).
    public func revocations(issuedBy issuer: String) -> Set<String> {
        Set(revoked.map { "\(issuer)/\($0.serial)" })
    }

    /// The issuing CA as `NAME:KEYID`: the SHA-256 of the issuer name's DER and the authority
    /// key identifier (hex; empty when the list has none). Two CAs named alike (a rollover's old
    /// and new, both named by `pki init`'s default) differ by their key.
    public var issuer: String {
        var keyID: [UInt8] = []
        if let extensionValue = X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, nil, nil) {
            let akid = extensionValue.assumingMemoryBound(to: AUTHORITY_KEYID.self)
            keyID = asn1Bytes(akid.pointee.keyid)
            AUTHORITY_KEYID_free(akid)
        }
        return Self.issuerKey(name: X509_CRL_get_issuer(crl), keyID: keyID)
    }

    /// `ca` as a list it issued names its issuer (`issuer`): its subject and subject key identifier.
    public static func issuer(of ca: Certificate) -> String {
        issuerKey(name: X509_get_subject_name(ca.x509), keyID: X509_get0_subject_key_id(ca.x509).map { asn1Bytes(UnsafeMutablePointer(mutating: $0)) } ?? [])
    }

    static func issuerKey(name: OpaquePointer?, keyID: [UInt8]) -> String {
        var der: UnsafeMutablePointer<UInt8>?
        let length = name.map { i2d_X509_NAME($0, &der) } ?? 0
        guard length > 0, let der else { return "?:" + hex(keyID) }
        defer { quartet_OPENSSL_free(der) }
        return hex(SHA256.hash(Array(UnsafeBufferPointer(start: der, count: Int(length))))) + ":" + hex(keyID)
    }

    private static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    /// When the list was made (its `thisUpdate`).
    public var lastUpdate: Date { Certificate.date(X509_CRL_get0_lastUpdate(crl)) }

    /// Whether the list revokes `certificate` (its issuer the list's, its serial listed).
    public func revokes(_ certificate: Certificate) -> Bool {
        guard let issuer = X509_get_issuer_name(certificate.x509), X509_NAME_cmp(issuer, X509_CRL_get_issuer(crl)) == 0 else { return false }
        let serial = certificate.serialHex
        return revoked.contains { $0.serial == serial }
    }

    /// Checks that `ca` made this list: its issuer is the CA's subject and the CA's key signed
    /// it. A list from another CA would fail every handshake (OpenSSL finds no list for the
    /// certificates' issuer), one whose signature fails too: refused when loaded instead.
    public func verify(issuedBy ca: Certificate) throws(CryptoError) {
        guard let subject = X509_get_subject_name(ca.x509), X509_NAME_cmp(subject, X509_CRL_get_issuer(crl)) == 0 else {
            throw CryptoError(code: .invalidKey, message: "the revocation list is not issued by \(ca.commonName ?? "the CA") (its issuer names another CA)")
        }
        guard let key = X509_get0_pubkey(ca.x509), X509_CRL_verify(crl, key) == 1 else {
            throw CryptoError(code: .invalidKey, message: "the revocation list's signature does not verify with the CA's key", openSSLErrors: drainOpenSSLErrors())
        }
    }

    /// A list signed by `ca` (with `key`) revoking `serials` (hex) as of `now`: version 2, the
    /// CA's subject as issuer, `thisUpdate` now and no `nextUpdate` (a node keeps using a list
    /// until it is given another), a CRL number of the seconds since 1970, entries sorted.
    /// `revokedAt` keeps the dates of serials revoked before.
    public static func make(ca: Certificate, key: PrivateKey, serials: [String], revokedAt: [String: Date] = [:], now: Date = Date()) throws(CryptoError) -> RevocationList {
        guard let crl = X509_CRL_new() else { throw .fromOpenSSL(.encoding, "X509_CRL_new failed") }
        let list = RevocationList(owning: crl)
        guard let thisUpdate = ASN1_TIME_set(nil, time_t(now.timeIntervalSince1970)) else { throw .fromOpenSSL(.encoding, "ASN1_TIME_set failed") }
        defer { ASN1_STRING_free(thisUpdate) }
        guard X509_CRL_set_version(crl, 1) == 1, X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca.x509)) == 1,
              X509_CRL_set1_lastUpdate(crl, thisUpdate) == 1 else {
            throw .fromOpenSSL(.encoding, "cannot set the revocation list's version, issuer or date")
        }
        var listed = Set<String>()
        for serial in serials {
            guard serial.utf8.count <= 64, !serial.isEmpty, serial.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x41...0x46).contains($0) }) else {
                throw CryptoError(code: .encoding, message: "serial \(serial): expected upper-case hex digits (as openssl x509 -serial prints them), at most 64")
            }
            var bn: OpaquePointer?
            guard BN_hex2bn(&bn, serial) > 0, let bn else { throw .fromOpenSSL(.encoding, "serial \(serial) is not hex") }
            defer { BN_free(bn) }
            // One entry per number, however its hex was written (a leading zero or not).
            guard let canonical = BN_bn2hex(bn) else { throw .fromOpenSSL(.encoding, "BN_bn2hex failed") }
            let key = String(cString: canonical)
            quartet_OPENSSL_free(canonical)
            guard listed.insert(key).inserted else { continue }
            guard let number = BN_to_ASN1_INTEGER(bn, nil) else { throw .fromOpenSSL(.encoding, "BN_to_ASN1_INTEGER failed") }
            defer { ASN1_INTEGER_free(number) }
            guard let when = ASN1_TIME_set(nil, time_t((revokedAt[key] ?? revokedAt[serial] ?? now).timeIntervalSince1970)) else { throw .fromOpenSSL(.encoding, "ASN1_TIME_set failed") }
            defer { ASN1_STRING_free(when) }
            guard let entry = X509_REVOKED_new() else { throw .fromOpenSSL(.encoding, "X509_REVOKED_new failed") }
            guard X509_REVOKED_set_serialNumber(entry, number) == 1, X509_REVOKED_set_revocationDate(entry, when) == 1,
                  X509_CRL_add0_revoked(crl, entry) == 1 else {
                X509_REVOKED_free(entry)
                throw .fromOpenSSL(.encoding, "cannot add serial \(serial) to the revocation list")
            }
        }
        guard X509_CRL_sort(crl) == 1 else { throw .fromOpenSSL(.encoding, "X509_CRL_sort failed") }
        // The CA's key id: OpenSSL matches a list to its CA by it where two CAs share a name
        // (a bundle of the old and new CA during a rollover).
        var ctx = X509V3_CTX()
        quartet_X509V3_set_ctx_nodb(&ctx)
        X509V3_set_ctx(&ctx, ca.x509, nil, nil, crl, 0)
        guard let akid = X509V3_EXT_conf_nid(nil, &ctx, NID_authority_key_identifier, "keyid:always") else {
            throw .fromOpenSSL(.encoding, "cannot name the CA's key in the revocation list")
        }
        defer { X509_EXTENSION_free(akid) }
        guard X509_CRL_add_ext(crl, akid, -1) == 1 else { throw .fromOpenSSL(.encoding, "X509_CRL_add_ext failed") }
        guard let number = ASN1_INTEGER_new() else { throw .fromOpenSSL(.encoding, "ASN1_INTEGER_new failed") }
        defer { ASN1_INTEGER_free(number) }
        guard ASN1_INTEGER_set_int64(number, Int64(now.timeIntervalSince1970)) == 1,
              X509_CRL_add1_ext_i2d(crl, NID_crl_number, UnsafeMutableRawPointer(number), 0, 0) == 1 else {
            throw .fromOpenSSL(.encoding, "cannot number the revocation list")
        }
        let md = EVP_PKEY_get_base_id(key.pkey) == EVP_PKEY_ED25519 ? nil : EVP_sha256()
        guard X509_CRL_sign(crl, key.pkey, md) > 0 else { throw .fromOpenSSL(.signing, "X509_CRL_sign failed") }
        return list
    }
}
