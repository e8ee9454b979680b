import Foundation
internal import COpenSSL

/// A PKCS#10 certificate signing request (OpenSSL's `X509_REQ`), as `quartet pki request` or
/// `openssl req` make it: a public key, a subject and requested extensions, signed with the
/// private key itself. The signature proves that whoever made the request holds the key, so the
/// CA can certify a key it never sees.
public final class CertificateRequest: @unchecked Sendable {
    // Immutable after creation.
    package let req: OpaquePointer

    /// The largest request file the CA reads. A P-256 request with 32 names is under 3 KiB; the
    /// bound keeps a hostile file from costing the CA more than a glance.
    public static let maximumPEMBytes = 64 * 1024

    init(owning req: OpaquePointer) { self.req = req }
    deinit { X509_REQ_free(req) }

    /// Makes a request for what `approved` names (subject `CN=<label>`, subject alternative
    /// names: the identity's URI, then DNS names and IP addresses), signed by `key` with SHA-256.
    public static func create(for approved: ApprovedRequest, key: PrivateKey) throws(CryptoError) -> CertificateRequest {
        guard let raw = X509_REQ_new() else { throw .fromOpenSSL(.encoding, "X509_REQ_new failed") }
        let request = CertificateRequest(owning: raw)
        guard X509_REQ_set_version(raw, 0) == 1, let name = X509_REQ_get_subject_name(raw),
              X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, approved.identity.fileLabel, -1, -1, 0) == 1,
              X509_REQ_set_pubkey(raw, key.pkey) == 1 else {
            throw .fromOpenSSL(.encoding, "cannot set the request's subject or key")
        }
        var ctx = X509V3_CTX()
        quartet_X509V3_set_ctx_nodb(&ctx)
        X509V3_set_ctx(&ctx, nil, nil, raw, nil, 0)
        // The names were checked by CertificateRequestPolicy (LDH host names, canonical
        // addresses, a valid identity), so none can carry the config syntax's separators.
        let value = approved.alternativeNames.map(\.configValue).joined(separator: ",")
        guard let stack = quartet_sk_X509_EXTENSION_new_null() else { throw .fromOpenSSL(.encoding, "cannot allocate an extension stack") }
        defer { quartet_sk_X509_EXTENSION_pop_free(stack) }
        guard let ext = X509V3_EXT_conf_nid(nil, &ctx, NID_subject_alt_name, value) else {
            throw .fromOpenSSL(.encoding, "bad subjectAltName \(value)")
        }
        guard quartet_sk_X509_EXTENSION_push(stack, ext) > 0 else {
            X509_EXTENSION_free(ext)
            throw .fromOpenSSL(.encoding, "cannot push the subjectAltName extension")
        }
        guard X509_REQ_add_extensions(raw, stack) == 1 else { throw .fromOpenSSL(.encoding, "X509_REQ_add_extensions failed") }
        guard X509_REQ_sign(raw, key.pkey, EVP_sha256()) > 0 else { throw .fromOpenSSL(.signing, "X509_REQ_sign failed") }
        return request
    }

    /// Reads one PEM `CERTIFICATE REQUEST` (at most `maximumPEMBytes`). Refuses, saying why, a
    /// larger file, a private key, no or several PEM blocks, and a block that is not PKCS#10.
    public convenience init(pem: String) throws(CertificateRequestRefusal) {
        let size = pem.utf8.count
        guard size <= Self.maximumPEMBytes else {
            throw .unreadable("the file is \(size) bytes; a certificate request is a few hundred bytes and the CA reads at most \(Self.maximumPEMBytes)")
        }
        if pem.contains("PRIVATE KEY-----") {
            throw .unreadable("the file holds a private key: never send a key to the CA, send only the .csr that `quartet pki request` wrote")
        }
        let blocks = pem.components(separatedBy: "-----BEGIN ").count - 1
        guard blocks > 0 else { throw .unreadable("the file is not a PEM certificate request: it has no -----BEGIN CERTIFICATE REQUEST----- line") }
        guard blocks == 1 else { throw .unreadable("the file holds \(blocks) PEM blocks; a request file holds exactly one CERTIFICATE REQUEST") }
        guard pem.contains("-----BEGIN CERTIFICATE REQUEST-----") || pem.contains("-----BEGIN NEW CERTIFICATE REQUEST-----") else {
            throw .unreadable("the file's PEM block is not a CERTIFICATE REQUEST")
        }
        let raw: OpaquePointer? = withMemoryBIO(pem) { PEM_read_bio_X509_REQ($0, nil, nil, nil) }
        guard let raw else {
            let detail = drainOpenSSLErrors().joined(separator: "; ")
            throw .unreadable("the CERTIFICATE REQUEST block does not decode as PKCS#10\(detail.isEmpty ? "" : " (\(detail))")")
        }
        self.init(owning: raw)
    }

    /// The request as PEM (`-----BEGIN CERTIFICATE REQUEST-----`).
    public func pemRepresentation() throws(CryptoError) -> String {
        try writeMemoryBIO("PEM_write_bio_X509_REQ") { PEM_write_bio_X509_REQ($0, req) }
    }

    /// The SHA-256 of the request's public key (DER SubjectPublicKeyInfo) in colon hex: the same
    /// value `pki request` prints on the member's host and the issued certificate carries, for a
    /// check by telephone; `openssl pkey -in KEY -pubout -outform DER | sha256sum` gives it too.
    public var publicKeySHA256: String {
        guard let key = X509_REQ_get0_pubkey(req) else { return "?" }
        return QuartetCrypto.publicKeySHA256(key)
    }

    /// The request's public key (`EVP_PKEY`, owned by the request: use it while `self` lives).
    package var subjectPublicKey: OpaquePointer? { X509_REQ_get0_pubkey(req) }

    /// Everything the policy judges, read from the request; checks the signature with the
    /// request's own key. Throws only if a part does not decode at all.
    public func contents() throws(CertificateRequestRefusal) -> CertificateRequestContents {
        defer { _ = drainOpenSSLErrors() }
        guard let key = X509_REQ_get0_pubkey(req) else { throw .unreadable("the CSR's public key does not decode") }
        let algorithm = EVP_PKEY_get0_type_name(key).map { String(cString: $0) } ?? String(cString: OBJ_nid2sn(EVP_PKEY_get_base_id(key)))
        var curve: String?
        if EVP_PKEY_get_base_id(key) == EVP_PKEY_EC {
            var buffer = [CChar](repeating: 0, count: 80)
            var length = 0
            if EVP_PKEY_get_group_name(key, &buffer, buffer.count, &length) == 1 {
                curve = String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
            try checkPublicKey(key)
        }
        let verifies = X509_REQ_verify(req, key) == 1
        let signatureNID = X509_REQ_get_signature_nid(req)
        let signature = signatureNID == NID_undef ? "an unknown algorithm" : String(cString: OBJ_nid2sn(signatureNID))

        var subject: [CertificateRequestContents.NameField] = []
        if let name = X509_REQ_get_subject_name(req) {
            for i in 0..<X509_NAME_entry_count(name) {
                guard let entry = X509_NAME_get_entry(name, i) else { continue }
                subject.append(.init(objectName(X509_NAME_ENTRY_get_object(entry)), utf8(X509_NAME_ENTRY_get_data(entry))))
            }
        }
        var attributes: [String] = []
        for i in 0..<X509_REQ_get_attr_count(req) {
            guard let attribute = X509_REQ_get_attr(req, i) else { continue }
            attributes.append(objectName(X509_ATTRIBUTE_get0_object(attribute)))
        }

        var extensions: [CertificateRequestContents.Extension] = [], names: [GeneralName] = []
        let asksForExtensions = X509_REQ_get_attr_by_NID(req, NID_ext_req, -1) >= 0 || X509_REQ_get_attr_by_NID(req, NID_ms_ext_req, -1) >= 0
        if let stack = X509_REQ_get_extensions(req) {
            defer { quartet_sk_X509_EXTENSION_pop_free(stack) }
            for i in 0..<quartet_sk_X509_EXTENSION_num(stack) {
                guard let ext = quartet_sk_X509_EXTENSION_value(stack, i) else { continue }
                let object = X509_EXTENSION_get_object(ext)
                extensions.append(.init(objectName(object), critical: X509_EXTENSION_get_critical(ext) != 0))
                guard OBJ_obj2nid(object) == NID_subject_alt_name else { continue }
                guard let decoded = X509V3_EXT_d2i(ext) else { throw .unreadable("the CSR's subjectAltName extension does not decode") }
                let generalNames = OpaquePointer(decoded)
                defer { quartet_GENERAL_NAMES_free(generalNames) }
                names += readGeneralNames(generalNames)
            }
        } else if asksForExtensions {
            throw .unreadable("the CSR's extension request does not decode")
        }
        return CertificateRequestContents(version: Int(X509_REQ_get_version(req)), subject: subject, keyAlgorithm: algorithm, keyCurve: curve,
                                          signatureAlgorithm: signature, signatureVerifies: verifies, attributes: attributes,
                                          extensions: extensions, alternativeNames: names)
    }

    /// Refuses an EC public key that is not a valid point of its curve.
    private func checkPublicKey(_ key: OpaquePointer) throws(CertificateRequestRefusal) {
        guard let ctx = EVP_PKEY_CTX_new_from_pkey(nil, key, nil) else { throw .unreadable("cannot check the CSR's public key") }
        defer { EVP_PKEY_CTX_free(ctx) }
        guard EVP_PKEY_public_check(ctx) == 1 else { throw .unreadable("the CSR's public key is not a valid point of its curve") }
    }
}

/// OpenSSL's short name for an object (`CN`, `subjectAltName`), or its dotted OID.
private func objectName(_ object: OpaquePointer?) -> String {
    guard let object else { return "?" }
    let nid = OBJ_obj2nid(object)
    if nid != NID_undef, let name = OBJ_nid2sn(nid) { return String(cString: name) }
    var buffer = [CChar](repeating: 0, count: 128)
    let length = OBJ_obj2txt(&buffer, Int32(buffer.count), object, 1)
    guard length > 0 else { return "?" }
    return String(decoding: buffer.prefix(min(Int(length), buffer.count - 1)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// An ASN.1 string of any type as UTF-8 (`ASN1_STRING_to_UTF8`).
private func utf8(_ string: UnsafeMutablePointer<ASN1_STRING>?) -> String {
    guard let string else { return "" }
    var out: UnsafeMutablePointer<UInt8>?
    let length = ASN1_STRING_to_UTF8(&out, string)
    guard length >= 0, let out else { return "<undecodable>" }
    defer { quartet_OPENSSL_free(out) }
    return String(decoding: UnsafeBufferPointer(start: out, count: Int(length)), as: UTF8.self)
}
