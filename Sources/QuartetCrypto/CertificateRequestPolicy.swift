import Foundation

/// What a certificate request (PKCS#10) holds, as plain values: the input of
/// `CertificateRequestPolicy.check`, which therefore needs no OpenSSL and no files to test.
/// `CertificateRequest.contents()` fills it from a parsed request.
public struct CertificateRequestContents: Sendable, Equatable {
    /// One attribute of the subject, by OpenSSL's short name (`CN`, `O`, `emailAddress`, ...).
    public struct NameField: Sendable, Equatable {
        public var field: String
        public var value: String
        public init(_ field: String, _ value: String) { self.field = field; self.value = value }
    }

    /// One requested extension, by OpenSSL's short name (`subjectAltName`, `basicConstraints`)
    /// or its dotted OID when OpenSSL has no name for it.
    public struct Extension: Sendable, Equatable {
        public var name: String
        public var critical: Bool
        public init(_ name: String, critical: Bool = false) { self.name = name; self.critical = critical }
    }

    /// The PKCS#10 version field (0 means version 1, the only one defined).
    public var version: Int
    public var subject: [NameField]
    /// The key's algorithm as OpenSSL names it (`EC`, `RSA`, `ED25519`).
    public var keyAlgorithm: String
    /// For an EC key, its named curve (`prime256v1` is P-256); nil otherwise or if unnamed.
    public var keyCurve: String?
    /// The request's signature algorithm (`ecdsa-with-SHA256`).
    public var signatureAlgorithm: String
    /// Whether the request's signature verifies with the key it carries (proof of possession).
    public var signatureVerifies: Bool
    /// Every request attribute by short name; an extension request is `extReq`.
    public var attributes: [String]
    /// The extensions the request asks for, in order.
    public var extensions: [Extension]
    /// The subject alternative names the request asks for, in order.
    public var alternativeNames: [GeneralName]

    public init(version: Int = 0, subject: [NameField], keyAlgorithm: String = "EC", keyCurve: String? = "prime256v1",
                signatureAlgorithm: String = "ecdsa-with-SHA256", signatureVerifies: Bool = true, attributes: [String] = ["extReq"],
                extensions: [Extension] = [Extension("subjectAltName")], alternativeNames: [GeneralName]) {
        self.version = version
        self.subject = subject
        self.keyAlgorithm = keyAlgorithm
        self.keyCurve = keyCurve
        self.signatureAlgorithm = signatureAlgorithm
        self.signatureVerifies = signatureVerifies
        self.attributes = attributes
        self.extensions = extensions
        self.alternativeNames = alternativeNames
    }
}

/// What the CA will certify after `CertificateRequestPolicy.check` accepted a request.
public struct ApprovedRequest: Sendable, Equatable {
    public var identity: FederationIdentity
    public var dnsNames: [String]
    /// Canonical text (`inet_ntop`).
    public var ipAddresses: [String]

    public init(identity: FederationIdentity, dnsNames: [String], ipAddresses: [String]) {
        self.identity = identity
        self.dnsNames = dnsNames
        self.ipAddresses = ipAddresses
    }

    /// The names the certificate will carry: the identity's URI, then DNS names, then IPs.
    public var alternativeNames: [SubjectAlternativeName] {
        [.uri(identity.uri)] + dnsNames.map(SubjectAlternativeName.dns) + ipAddresses.map(SubjectAlternativeName.ip)
    }
}

/// What the federation CA checks in a request before it signs, as one pure function.
///
/// The request may ask for an identity and, for a node, host names — nothing else. The CA never
/// copies anything else from it: subject, extensions, key usages and validity are the CA's own.
public enum CertificateRequestPolicy {
    /// At most this many DNS names, and as many IP addresses, in one certificate: enough for a
    /// host's names, few enough that a request cannot make the certificate a catalogue.
    public static let maximumDNSNames = 16
    public static let maximumIPAddresses = 16
    /// Signature algorithms accepted on the request (its proof of possession).
    public static let signatureAlgorithms: Set<String> = ["ecdsa-with-SHA256", "ecdsa-with-SHA384", "ecdsa-with-SHA512"]

    /// Accepts `request` and says what to certify, or throws the first thing wrong with it.
    public static func check(_ request: CertificateRequestContents) throws(CertificateRequestRefusal) -> ApprovedRequest {
        guard request.signatureVerifies else { throw .signatureDoesNotVerify }
        guard request.version == 0 else { throw .version(request.version) }
        // P-256 only: the certificate serves TLS to browsers, curl and every OpenSSL the federation
        // meets; Ed25519 certificates are refused by browsers, RSA is slower and larger for nothing.
        guard request.keyAlgorithm == "EC", request.keyCurve == "prime256v1" else {
            throw .keyType(algorithm: request.keyAlgorithm, curve: request.keyCurve)
        }
        guard signatureAlgorithms.contains(request.signatureAlgorithm) else { throw .signatureAlgorithm(request.signatureAlgorithm) }
        var extensionRequests = 0
        for attribute in request.attributes {
            guard attribute == "extReq", extensionRequests == 0 else { throw .attribute(attribute) }
            extensionRequests += 1
        }
        var sawAlternativeNames = false
        for requested in request.extensions {
            guard requested.name == "subjectAltName" else { throw .extensionNotAllowed(requested.name) }
            guard !sawAlternativeNames else { throw .duplicateExtension(requested.name) }
            sawAlternativeNames = true
        }

        var identities: [FederationIdentity] = [], dns: [String] = [], ips: [String] = []
        for name in request.alternativeNames {
            switch name {
            case .uri(let uri):
                guard uri.hasPrefix("quartet://") else { throw .nameKindNotAllowed(name) }
                guard let identity = FederationIdentity(uri: uri) else { throw .invalidIdentity(uri) }
                identities.append(identity)
            case .dns(let host): dns.append(host)
            case .ip(let address): ips.append(address)
            case .email, .other: throw .nameKindNotAllowed(name)
            }
        }
        guard let identity = identities.first else { throw .noIdentity }
        guard identities.count == 1 else { throw .severalIdentities(identities.map(\.uri)) }

        let label = identity.fileLabel
        for field in request.subject where field.field != "CN" {
            throw .subjectField(field: field.field, value: field.value, expected: label)
        }
        let commonNames = request.subject.map(\.value)
        guard commonNames == [label] else { throw .commonName(identity: identity.uri, expected: label, found: commonNames) }

        let (dnsNames, ipAddresses) = try checkHostNames(dns: dns, ips: ips, for: identity)
        return ApprovedRequest(identity: identity, dnsNames: dnsNames, ipAddresses: ipAddresses)
    }

    /// Checks an approved request against what the CA holder said to certify, beside the
    /// request: `expected`, the identity from the member's own message (nil: the holder said
    /// nothing, and the request is refused, since anyone can write any identity into a request),
    /// and, for a node listed in the federation file, `hosts`, the peer and api hosts the file
    /// gives for it (host names or address literals): the request must then ask for exactly
    /// those, no more and none fewer (host names compared without case, addresses in canonical
    /// form). `hosts` nil: the names are not checked against a federation file.
    public static func checkExpected(_ approved: ApprovedRequest, identity expected: FederationIdentity?,
                                     hosts: [String]? = nil) throws(CertificateRequestRefusal) {
        guard let expected else { throw .noExpectedIdentity(asked: approved.identity.uri) }
        guard approved.identity == expected else { throw .notTheExpectedIdentity(asked: approved.identity.uri, expected: expected.uri) }
        guard case .node(let node) = expected, let hosts else { return }
        var listedDNS: [String] = [], listedIPs: [String] = [], listed: [String] = []
        for host in hosts {
            if let address = canonicalIPAddress(host) {
                if !listedIPs.contains(address) { listedIPs.append(address); listed.append(address) }
            } else if !listedDNS.contains(host.lowercased()) {
                listedDNS.append(host.lowercased())
                listed.append(host)
            }
        }
        let askedDNS = approved.dnsNames.map { $0.lowercased() }
        let unexpected = approved.dnsNames.filter { !listedDNS.contains($0.lowercased()) } + approved.ipAddresses.filter { !listedIPs.contains($0) }
        let missing = listed.filter { host in
            if let address = canonicalIPAddress(host) { return !approved.ipAddresses.contains(address) }
            return !askedDNS.contains(host.lowercased())
        }
        guard unexpected.isEmpty, missing.isEmpty else {
            throw .hostsNotTheMembers(node: node, unexpected: unexpected, missing: missing, listed: listed)
        }
    }

    /// Checks the DNS names and IP addresses asked for `identity` (also used by `pki request`
    /// before it makes a request); returns them with IP addresses in canonical form.
    public static func checkHostNames(dns: [String], ips: [String], for identity: FederationIdentity) throws(CertificateRequestRefusal) -> ([String], [String]) {
        if !identity.isNode {
            if let host = dns.first { throw .namesNotForRole(role: identity.role, name: .dns(host)) }
            if let address = ips.first { throw .namesNotForRole(role: identity.role, name: .ip(address)) }
        }
        guard dns.count <= maximumDNSNames else { throw .tooManyNames(kind: "DNS names", count: dns.count, limit: maximumDNSNames) }
        guard ips.count <= maximumIPAddresses else { throw .tooManyNames(kind: "IP addresses", count: ips.count, limit: maximumIPAddresses) }
        var seen = Set<String>()
        for host in dns {
            if let reason = dnsNameProblem(host) { throw .invalidDNSName(host, reason: reason) }
            guard seen.insert(host.lowercased()).inserted else { throw .duplicateName(.dns(host)) }
        }
        var canonical: [String] = []
        for address in ips {
            guard let text = canonicalIPAddress(address) else { throw .invalidIPAddress(address) }
            guard !canonical.contains(text) else { throw .duplicateName(.ip(text)) }
            canonical.append(text)
        }
        return (dns, canonical)
    }

    /// Why `name` is not a host name Quartet certifies, or nil if it is: at most 253 characters,
    /// labels of 1–63 letters, digits and `-` not starting or ending with `-` (RFC 1123), no
    /// wildcard, no trailing dot, and a last label that is not all digits (that is an address).
    public static func dnsNameProblem(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        if bytes.isEmpty { return "it is empty" }
        if bytes.count > 253 { return "it is longer than 253 characters" }
        if bytes.first == UInt8(ascii: "*") { return "it is a wildcard; certificates name hosts, not wildcards" }
        if bytes.last == UInt8(ascii: ".") { return "it ends with a dot; write it without" }
        let labels = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        for label in labels {
            if label.isEmpty { return "it has an empty label" }
            if label.count > 63 { return "it has a label longer than 63 characters" }
            let ldh = label.allSatisfy { b in
                (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || (b >= 0x30 && b <= 0x39) || b == 0x2D
            }
            if !ldh { return "only letters, digits, - and . may appear" }
            if label.first == 0x2D || label.last == 0x2D { return "a label starts or ends with -" }
        }
        if let last = labels.last, last.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            return "its last label is all digits, which makes it an address; ask for an IP address instead"
        }
        return nil
    }

    /// The canonical text of an IPv4 or IPv6 address (`inet_pton` then `inet_ntop`), or nil if
    /// `text` is neither or names no one host: the unspecified address (0.0.0.0, ::), the
    /// limited broadcast 255.255.255.255, a multicast group (224.0.0.0/4, ff00::/8), or the
    /// IPv4-mapped form of any of these (::ffff:0.0.0.0).
    public static func canonicalIPAddress(_ text: String) -> String? {
        guard text.utf8.count <= 64, !text.utf8.contains(0) else { return nil }
        var v4 = in_addr(), v6 = in6_addr()
        func namesAHost(v4 bytes: [UInt8]) -> Bool {
            bytes != [0, 0, 0, 0] && bytes != [255, 255, 255, 255] && !(224...239).contains(bytes[0])
        }
        if inet_pton(AF_INET, text, &v4) == 1 {
            let bytes = withUnsafeBytes(of: &v4) { Array($0) }
            guard namesAHost(v4: bytes) else { return nil }
            return ipText(bytes)
        }
        if inet_pton(AF_INET6, text, &v6) == 1 {
            let bytes = withUnsafeBytes(of: &v6) { Array($0) }
            guard bytes.contains(where: { $0 != 0 }), bytes[0] != 0xFF else { return nil }
            if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF, !namesAHost(v4: Array(bytes[12..<16])) { return nil }
            return ipText(bytes)
        }
        return nil
    }
}

extension FederationIdentity {
    /// Whether this is a node: the one role whose certificate names hosts and may serve TLS.
    public var isNode: Bool {
        if case .node = self { return true }
        return false
    }

    /// `node`, `operator`, `reader` or `auditor`.
    public var role: String {
        switch self {
        case .node: return "node"
        case .operator: return "operator"
        case .reader: return "reader"
        case .auditor: return "auditor"
        }
    }
}
