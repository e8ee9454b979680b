import Foundation

/// Onboarding without sharing private keys: a member makes its key and a certificate request on
/// its own host (`request`), sends only the request, and the CA checks it against
/// `CertificateRequestPolicy` and certifies it (`sign`). The CA never sees a member's key.
extension FederationPKI {
    /// The names a node's request asks for when none are given: the node id, `localhost`,
    /// 127.0.0.1 and ::1, as `pki issue` gives a node (curl and the demo on loopback).
    public static func defaultHostNames(for node: String) -> (dns: [String], ips: [String]) {
        ([node, "localhost"], ["127.0.0.1", "::1"])
    }

    /// What `request` wrote.
    public struct RequestFiles: Sendable {
        /// The private key (mode 0600): stays on this host.
        public let key: String
        /// The request: the only file to send to the CA.
        public let request: String
        /// What the request asks for.
        public let asked: ApprovedRequest
        /// The SHA-256 of the public key (colon hex), to read to the CA out of band.
        public let publicKeySHA256: String
    }

    /// Makes a P-256 key and a request for `identity` in `directory`: `<label>.key` (0600,
    /// created with that mode) and `<label>.csr`. Refuses to overwrite either. The names are
    /// checked, and the finished request is run through the CA's own policy, before anything is
    /// written, so a request this writes is one the CA accepts.
    public static func request(_ identity: FederationIdentity, dnsNames: [String] = [], ipAddresses: [String] = [],
                               in directory: String) throws -> RequestFiles {
        try checkName(of: identity)
        let (dns, ips) = try CertificateRequestPolicy.checkHostNames(dns: dnsNames, ips: ipAddresses, for: identity)
        let key = try PrivateKey.generateP256()
        let request = try CertificateRequest.create(for: ApprovedRequest(identity: identity, dnsNames: dns, ipAddresses: ips), key: key)
        let asked = try CertificateRequestPolicy.check(request.contents())
        let label = identity.fileLabel
        let keyPath = "\(directory)/\(label).key", requestPath = "\(directory)/\(label).csr"
        try writeNew(directory: directory, files: [(keyPath, try key.pemRepresentation(), 0o600), (requestPath, try request.pemRepresentation(), 0o644)])
        return RequestFiles(key: keyPath, request: requestPath, asked: asked, publicKeySHA256: request.publicKeySHA256)
    }

    /// The longest certificate `sign` issues, in days. Quartet has no revocation lists: a
    /// certificate's lifetime is the only bound on how long a stolen key or a departed member's
    /// certificate works. 825 days was the CA/Browser Forum's ceiling for server certificates
    /// (2018-2020); the default is 365.
    public static let maximumDays = 825
    /// A CA's lifetime at most (twenty years; far beyond it, the date no longer fits the
    /// certificate's time fields).
    public static let maximumAuthorityDays = 7305

    /// What `sign` wrote.
    public struct SignedFiles: Sendable {
        public let certificate: String
        /// The copy of the CA certificate beside it (the CA's own `ca.pem` if written there).
        public let caCertificate: String
        /// What the certificate names.
        public let approved: ApprovedRequest
        /// The certificate issued, as made: what `pki sign` prints (never read back from
        /// `certificate`, a path in a directory the member's side may write: finding 210).
        public let issued: Certificate
    }

    /// Checks the request at `requestPath` (at most 64 KiB, one PEM block, proof of possession,
    /// P-256, `CertificateRequestPolicy`) and issues its certificate for `days` (1-825, and not
    /// past the CA's own expiry). Writes `<label>.pem` and a copy of `ca.pem` into `directory`
    /// (default: the request's directory); refuses to overwrite the certificate or a different
    /// `ca.pem`. The certificate's extensions are the CA's own; only the approved names and the
    /// public key come from the request.
    ///
    /// `expecting` is the identity the CA holder means to certify (from the member's message,
    /// not from the request): a request for any other identity is refused, and so is every
    /// request when it is nil (the refusal names the identity the request asks for). `hosts`,
    /// for a node, are its peer and api hosts from the federation file: the request must ask
    /// for exactly those (`CertificateRequestPolicy.checkExpected`).
    public static func sign(requestAt requestPath: String, caDirectory: String, in directory: String? = nil, days: Int = 365,
                            expecting: FederationIdentity?, hosts: [String]? = nil, now: Date = Date(), notBefore: Date? = nil) throws -> SignedFiles {
        guard (1...maximumDays).contains(days) else {
            throw PKIError("--days \(days) is outside 1-\(maximumDays): without revocation lists a certificate's lifetime is the only limit on a stolen key")
        }
        let request: CertificateRequest, approved: ApprovedRequest
        do throws(CertificateRequestRefusal) {
            request = try CertificateRequest(pem: try readRequestFile(requestPath))
            approved = try CertificateRequestPolicy.check(request.contents())
            try CertificateRequestPolicy.checkExpected(approved, identity: expecting, hosts: hosts)
        } catch {
            throw RequestRefused(path: requestPath, refusal: error)
        }
        let (caCert, caKey) = try loadAuthority(from: caDirectory)
        let notAfter = now.addingTimeInterval(Double(days) * 86400)
        guard notAfter <= caCert.notAfter else {
            let left = Int(caCert.notAfter.timeIntervalSince(now) / 86400)
            throw PKIError("the CA certificate expires at \(ISO8601DateFormatter().string(from: caCert.notAfter)); a certificate for \(days) days would outlive it (use --days \(max(left, 0)) or less, or renew the CA)")
        }
        guard let publicKey = request.subjectPublicKey else { throw RequestRefused(path: requestPath, refusal: .unreadable("the CSR's public key does not decode")) }
        let cert = try withExtendedLifetime(request) {
            try Certificate.issue(commonName: approved.identity.fileLabel, subjectPublicKey: publicKey, issuer: caCert, issuerKey: caKey,
                                  notBefore: notBefore ?? now.addingTimeInterval(-300), notAfter: notAfter, isCA: false,
                                  alternativeNames: approved.alternativeNames, clientOnly: !approved.identity.isNode)
        }
        // What was signed is what was asked: the request's key, and a chain that verifies.
        guard cert.publicKeySHA256 == request.publicKeySHA256 else { throw PKIError("internal error: the certificate's key is not the request's") }
        try cert.verify(issuedBy: caCert, at: notBefore ?? now)

        let out = directory ?? URL(fileURLWithPath: requestPath).deletingLastPathComponent().path
        let certPath = "\(out)/\(approved.identity.fileLabel).pem", caPath = "\(out)/\(caCertificateFile)"
        var files = [(certPath, try cert.pemRepresentation(), 0o644)]
        let caPEM = try caCert.pemRepresentation()
        if FileManager.default.fileExists(atPath: caPath) {
            // An existing ca.pem must be this CA's; the copy is then already in place.
            guard let existing = try? Certificate(pem: readText(caPath, followSymlinks: false)), existing.sha256Fingerprint == caCert.sha256Fingerprint else {
                throw PKIError("\(caPath) exists and is not this CA's certificate; refusing to overwrite it (choose another --out)")
            }
        } else {
            files.append((caPath, caPEM, 0o644))
        }
        try checkNew(files)
        try recordIssued(cert, identity: approved.identity.uri, caDirectory: caDirectory, now: now)
        try writeNew(directory: out, files: files)
        return SignedFiles(certificate: certPath, caCertificate: caPath, approved: approved, issued: cert)
    }

    /// Reads a request file: a regular file of at most `CertificateRequest.maximumPEMBytes`,
    /// refused before reading if larger, and UTF-8 text.
    static func readRequestFile(_ path: String) throws(CertificateRequestRefusal) -> String {
        let bytes: [UInt8]
        do { bytes = try RegularFile.read(path, limit: CertificateRequest.maximumPEMBytes) } catch {
            guard case .tooLarge(let size, let limit) = error else { throw .unreadable(error.description) }
            throw .unreadable("the file is \(size) bytes; a certificate request is a few hundred bytes and the CA reads at most \(limit)")
        }
        guard let text = String(validating: bytes, as: UTF8.self), !bytes.contains(0) else {
            throw .unreadable("the file is not PEM text (a DER request? convert it with `openssl req -inform DER -in FILE -out FILE.csr`)")
        }
        return text
    }
}

/// `pki sign` refused a request: which file, and why.
public struct RequestRefused: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let refusal: CertificateRequestRefusal
    public var description: String { "refusing to sign \(path): \(refusal)" }
}
