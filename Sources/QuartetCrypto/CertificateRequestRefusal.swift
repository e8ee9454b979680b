/// Why the federation CA refuses a certificate request: each case says what the request asked
/// for and what the CA allows, so the member can make a request that will be signed.
public enum CertificateRequestRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file is not a single PEM certificate request (or is too large, or is a key).
    case unreadable(String)
    /// Proof of possession failed: the signature does not verify with the request's own key.
    case signatureDoesNotVerify
    case version(Int)
    case keyType(algorithm: String, curve: String?)
    case signatureAlgorithm(String)
    /// A request attribute other than one extension request (e.g. challengePassword).
    case attribute(String)
    /// A requested extension other than subjectAltName.
    case extensionNotAllowed(String)
    case duplicateExtension(String)
    /// An email, directoryName, otherName, ... or a URI that is not `quartet://`.
    case nameKindNotAllowed(GeneralName)
    /// A `quartet://` URI that names no valid identity.
    case invalidIdentity(String)
    case noIdentity
    case severalIdentities([String])
    /// A subject field other than CN.
    case subjectField(field: String, value: String, expected: String)
    /// The CN (or CNs) do not equal the identity's label.
    case commonName(identity: String, expected: String, found: [String])
    /// A DNS name or IP address asked for an operator, reader or auditor.
    case namesNotForRole(role: String, name: GeneralName)
    case invalidDNSName(String, reason: String)
    case invalidIPAddress(String)
    case tooManyNames(kind: String, count: Int, limit: Int)
    case duplicateName(GeneralName)
    /// The CA holder said which identity to certify, and the request names another.
    case notTheExpectedIdentity(asked: String, expected: String)
    /// The CA holder did not say which identity to certify (`pki sign` without --node,
    /// --operator, --reader or --auditor): a request's own claim is never enough.
    case noExpectedIdentity(asked: String)
    /// A node's request asks for host names other than exactly the peer and api hosts the
    /// federation file lists for that node: those it asks for beyond them, and those it leaves out.
    case hostsNotTheMembers(node: String, unexpected: [String], missing: [String], listed: [String])

    public var description: String {
        switch self {
        case .unreadable(let why):
            return why
        case .signatureDoesNotVerify:
            return "the CSR's signature does not verify: it was not made with the key it carries (the request was damaged or altered; make a new one)"
        case .version(let v):
            return "the CSR has version field \(v); PKCS#10 requests are version 1 (field 0)"
        case .keyType(let algorithm, let curve):
            let key = curve.map { "\(algorithm) \(printable($0))" } ?? printable(algorithm)
            return "the CSR's key is \(key); federation certificates need ECDSA P-256 (prime256v1), which browsers and every TLS stack the federation meets accept"
        case .signatureAlgorithm(let algorithm):
            return "the CSR is signed with \(printable(algorithm)); the CA accepts ECDSA with SHA-256, SHA-384 or SHA-512"
        case .attribute(let name):
            return "the CSR carries the attribute \(printable(name)); the CA accepts only one extension request (attributes such as challengePassword mean nothing here)"
        case .extensionNotAllowed(let name):
            return "the CSR asks for the \(printable(name)) extension; a request may ask only for subjectAltName: the CA sets basicConstraints (CA:FALSE), keyUsage and extendedKeyUsage itself"
        case .duplicateExtension(let name):
            return "the CSR asks for the \(printable(name)) extension twice"
        case .nameKindNotAllowed(let name):
            return "the CSR asks for the name \(printable(name.description)); federation certificates carry one quartet:// URI and, for a node, DNS names and IP addresses"
        case .invalidIdentity(let uri):
            return "the CSR asks for \(printable(uri)), which is not an identity: quartet://node|operator|reader|auditor/NAME, NAME 1-64 of a-z, 0-9 and -, not starting with -"
        case .noIdentity:
            return "the CSR names no identity: it must carry exactly one quartet:// URI name (e.g. URI:quartet://node/wales)"
        case .severalIdentities(let uris):
            return "the CSR names \(uris.count) identities (\(uris.map(printable).joined(separator: ", "))); a certificate carries exactly one"
        case .subjectField(let field, let value, let expected):
            return "the CSR's subject has \(printable(field))=\(printable(value)); the subject must be exactly CN=\(expected) (other fields are refused, not ignored)"
        case .commonName(let identity, let expected, let found):
            if found.isEmpty { return "the CSR's subject has no CN; \(identity) needs CN=\(expected)" }
            return "the CSR's subject is \(found.map { "CN=\(printable($0))" }.joined(separator: ", ")) but \(identity) needs exactly CN=\(expected)"
        case .namesNotForRole(let role, .ip(let address)):
            return "the CSR asks for IP address \(printable(address)) but \(role) certificates carry no IP addresses (only a node's certificate names its host)"
        case .namesNotForRole(let role, let name):
            let host = if case .dns(let host) = name { host } else { name.description }
            return "the CSR asks for DNS name \(printable(host)) but \(role) certificates carry no DNS names (only a node's certificate names its host)"
        case .invalidDNSName(let name, let reason):
            return "the CSR asks for DNS name \(printable(name)), which is not a host name: \(reason)"
        case .invalidIPAddress(let address):
            return "the CSR asks for IP address \(printable(address)), which is not a host's IPv4 or IPv6 address"
        case .tooManyNames(let kind, let count, let limit):
            return "the CSR asks for \(count) \(kind); a certificate carries at most \(limit)"
        case .duplicateName(let name):
            return "the CSR asks for \(printable(name.description)) twice"
        case .notTheExpectedIdentity(let asked, let expected):
            return "the CSR asks for \(asked) but the CA was told to sign \(expected)"
        case .noExpectedIdentity(let asked):
            return "the CSR asks for \(printable(asked)); say whom you mean to certify with exactly one of --node ID, --operator LOG, --reader NAME "
                + "or --auditor NAME (from the member's own message, not from the request: anyone can write any identity into a request)"
        case .hostsNotTheMembers(let node, let unexpected, let missing, let listed):
            let shownListed = listed.map(printable).joined(separator: ", ")
            var parts: [String] = []
            if !unexpected.isEmpty {
                parts.append("the CSR for node \(printable(node)) asks for \(unexpected.map(printable).joined(separator: ", ")), "
                             + "not \(printable(node))'s peer or api host in the federation file (\(shownListed))")
            }
            if !missing.isEmpty {
                parts.append("the CSR for node \(printable(node)) leaves out \(missing.map(printable).joined(separator: ", ")), "
                             + "\(printable(node))'s peer or api host in the federation file; a node's certificate names exactly those hosts")
            }
            return parts.joined(separator: "; ")
        }
    }
}

/// `text` made safe to print: control and non-ASCII characters escaped, at most 100 characters.
/// Everything in a request is the sender's choice, including what reaches the CA's terminal.
func printable<S: StringProtocol>(_ text: S) -> String {
    var out = ""
    for scalar in text.unicodeScalars {
        if out.count >= 100 { return out + "…" }
        if scalar.value >= 0x20 && scalar.value < 0x7F { out.unicodeScalars.append(scalar) } else {
            out += "\\u{\(String(scalar.value, radix: 16))}"
        }
    }
    return out
}
