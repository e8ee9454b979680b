import Foundation
internal import COpenSSL

/// A subject alternative name as read from a certificate or a certificate request, including the
/// kinds Quartet never issues (so a policy can name what it refuses).
public enum GeneralName: Hashable, Sendable, CustomStringConvertible {
    case uri(String)
    case dns(String)
    /// An IP address in its canonical text form (`192.0.2.1`, `2001:db8::1`); an address of a
    /// length other than 4 or 16 bytes is kept as `<N bytes>` so the policy refuses it.
    case ip(String)
    case email(String)
    /// otherName, x400Address, directoryName, ediPartyName or registeredID: `kind` is its name.
    case other(kind: String)

    public var description: String {
        switch self {
        case .uri(let v): return "URI:\(v)"
        case .dns(let v): return "DNS:\(v)"
        case .ip(let v): return "IP:\(v)"
        case .email(let v): return "email:\(v)"
        case .other(let kind): return kind
        }
    }
}

/// Reads an OpenSSL `GENERAL_NAMES` stack. Strings are decoded as UTF-8 with invalid bytes
/// replaced, so a hostile name can never pass a check meant for ASCII.
func readGeneralNames(_ names: OpaquePointer) -> [GeneralName] {
    var out: [GeneralName] = []
    for i in 0..<quartet_sk_GENERAL_NAME_num(names) {
        guard let name = quartet_sk_GENERAL_NAME_value(names, i) else { continue }
        switch name.pointee.type {
        case GEN_URI: out.append(.uri(asn1Text(name.pointee.d.uniformResourceIdentifier)))
        case GEN_DNS: out.append(.dns(asn1Text(name.pointee.d.dNSName)))
        case GEN_EMAIL: out.append(.email(asn1Text(name.pointee.d.rfc822Name)))
        case GEN_IPADD: out.append(.ip(ipText(asn1Bytes(name.pointee.d.iPAddress))))
        case GEN_OTHERNAME: out.append(.other(kind: "otherName"))
        case GEN_X400: out.append(.other(kind: "x400Address"))
        case GEN_DIRNAME: out.append(.other(kind: "directoryName"))
        case GEN_EDIPARTY: out.append(.other(kind: "ediPartyName"))
        case GEN_RID: out.append(.other(kind: "registeredID"))
        default: out.append(.other(kind: "general name of type \(name.pointee.type)"))
        }
    }
    return out
}

func asn1Bytes(_ string: UnsafeMutablePointer<ASN1_STRING>?) -> [UInt8] {
    guard let string, let data = ASN1_STRING_get0_data(string) else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: Int(ASN1_STRING_length(string))))
}

func asn1Text(_ string: UnsafeMutablePointer<ASN1_STRING>?) -> String {
    String(decoding: asn1Bytes(string), as: UTF8.self)
}

/// The canonical text of a 4- or 16-byte address (`inet_ntop`).
func ipText(_ bytes: [UInt8]) -> String {
    let family: Int32
    switch bytes.count {
    case 4: family = AF_INET
    case 16: family = AF_INET6
    default: return "<\(bytes.count) bytes>"
    }
    var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
    guard inet_ntop(family, bytes, &buffer, socklen_t(buffer.count)) != nil else { return "<\(bytes.count) bytes>" }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Colon-separated upper-case hex, as `openssl x509 -fingerprint -sha256` prints it.
func colonHex(_ bytes: [UInt8]) -> String {
    bytes.map { String(format: "%02X", $0) }.joined(separator: ":")
}

/// The SHA-256 of a public key's DER SubjectPublicKeyInfo, in colon hex: the same for a key,
/// its request and its certificate (`openssl pkey -pubout -outform DER | sha256sum`).
func publicKeySHA256(_ pkey: OpaquePointer) -> String {
    var der: UnsafeMutablePointer<UInt8>?
    let length = i2d_PUBKEY(pkey, &der)
    guard length > 0, let der else { return "?" }
    defer { quartet_OPENSSL_free(der) }
    return colonHex(SHA256.hash(Array(UnsafeBufferPointer(start: der, count: Int(length)))))
}

extension Certificate {
    /// Every subject alternative name, in the certificate's order.
    public var alternativeNames: [GeneralName] {
        guard let raw = X509_get_ext_d2i(x509, NID_subject_alt_name, nil, nil) else { return [] }
        let names = OpaquePointer(raw)
        defer { quartet_GENERAL_NAMES_free(names) }
        return readGeneralNames(names)
    }

    /// The DNS subject alternative names.
    public var dnsNames: [String] {
        alternativeNames.compactMap { if case .dns(let name) = $0 { name } else { nil } }
    }

    /// The IP address subject alternative names, in canonical text form.
    public var ipAddresses: [String] {
        alternativeNames.compactMap { if case .ip(let address) = $0 { address } else { nil } }
    }

    /// The SHA-256 fingerprint of the DER certificate in colon hex, as
    /// `openssl x509 -noout -fingerprint -sha256` prints it: for checking out of band.
    public var sha256Fingerprint: String {
        var der: UnsafeMutablePointer<UInt8>?
        let length = i2d_X509(x509, &der)
        guard length > 0, let der else { return "?" }
        defer { quartet_OPENSSL_free(der) }
        return colonHex(SHA256.hash(Array(UnsafeBufferPointer(start: der, count: Int(length)))))
    }

    /// The SHA-256 of the certificate's public key (see `CertificateRequest.publicKeySHA256`).
    public var publicKeySHA256: String {
        guard let key = X509_get0_pubkey(x509) else { return "?" }
        return QuartetCrypto.publicKeySHA256(key)
    }
}
