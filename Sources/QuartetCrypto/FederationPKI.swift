import Foundation

/// The identity a federation certificate carries, as one URI subject alternative name:
/// `quartet://node/<id>` for a node, `quartet://operator/<log>` for an operator who may append to
/// that log through its node's API, `quartet://reader/<name>` for someone who may read,
/// `quartet://auditor/<name>` for a data owner's auditor (reads, and agreements and disclosures).
public enum FederationIdentity: Hashable, Sendable, CustomStringConvertible {
    case node(String)
    case `operator`(String)
    case reader(String)
    case auditor(String)

    /// The URI form written into certificates.
    public var uri: String {
        switch self {
        case .node(let id): return "quartet://node/\(id)"
        case .operator(let log): return "quartet://operator/\(log)"
        case .reader(let name): return "quartet://reader/\(name)"
        case .auditor(let name): return "quartet://auditor/\(name)"
        }
    }

    /// The name part (node id, log, or reader name).
    public var name: String {
        switch self {
        case .node(let id), .operator(let id), .reader(let id), .auditor(let id): return id
        }
    }

    /// A short label for files and logs: `wales`, `operator-wales`, `reader-analyst`.
    public var fileLabel: String {
        switch self {
        case .node(let id): return id
        case .operator(let log): return "operator-\(log)"
        case .reader(let name): return "reader-\(name)"
        case .auditor(let name): return "auditor-\(name)"
        }
    }

    /// Parses the URI form; nil for anything else.
    public init?(uri: String) {
        for (prefix, make) in [("quartet://node/", FederationIdentity.node), ("quartet://operator/", FederationIdentity.operator),
                               ("quartet://reader/", FederationIdentity.reader), ("quartet://auditor/", FederationIdentity.auditor)] where uri.hasPrefix(prefix) {
            let id = String(uri.dropFirst(prefix.count))
            guard FederationPKI.isValidNodeID(id) else { return nil }
            self = make(id)
            return
        }
        return nil
    }

    /// The identity of a certificate: its only `quartet://` URI name, or nil.
    public init?(certificate: Certificate) {
        self.init(uriNames: certificate.uriNames)
    }

    /// The identity of URI names `uris`: exactly one names a `quartet:` identity (any case), and
    /// it parses; nil otherwise. A second `quartet:` URI that does not parse
    /// (`QUARTET://operator/england`, `quartet://node/England`) refuses the certificate rather
    /// than being passed over: a person reading `openssl x509 -text` would take it for a name
    /// the certificate holds (docs/formats.md: exactly one `quartet://` URI).
    public init?(uriNames uris: [String]) {
        let claimed = uris.filter { $0.lowercased().hasPrefix("quartet:") }
        guard claimed.count == 1, let identity = FederationIdentity(uri: claimed[0]) else { return nil }
        self = identity
    }

    public var description: String { uri }
}

/// The federation's certificate authority and node certificates, as ordinary PEM files.
///
/// Keys are ECDSA P-256: every TLS stack a node meets (OpenSSL, curl, Python, browsers that open
/// the dashboard) accepts it, while Ed25519 certificates are refused by browsers.
public enum FederationPKI {
    /// File names inside a PKI directory.
    public static let caCertificateFile = "ca.pem"
    public static let caKeyFile = "ca.key"

    /// Node ids: 1–64 characters of a-z, 0-9 and '-', starting with a letter or digit.
    public static func isValidNodeID(_ id: String) -> Bool {
        let bytes = Array(id.utf8)
        guard (1...64).contains(bytes.count) else { return false }
        return bytes.enumerated().allSatisfy { i, b in
            (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || (i > 0 && b == 0x2D)
        }
    }

    /// What `createAuthority` and `issueNode` wrote.
    public struct IssuedFiles: Sendable {
        public let certificate: String
        public let key: String
        public let caCertificate: String
        /// The certificate issued, as made (never read back from `certificate`, a path in a
        /// directory others may write).
        public let issued: Certificate
    }

    /// The CA directory's record of what it issued: a line per certificate (`issuedRecord`).
    public static let issuedRecordFile = "issued.txt"

    /// Appends a line for `cert` to the CA's record (`issued.txt`, 0600, never through a link):
    /// the time, serial, identity, SHA-256 fingerprint and public key SHA-256, so a certificate
    /// can be found (and revoked by serial) later whatever became of the file it was written to.
    static func recordIssued(_ cert: Certificate, identity: String, caDirectory: String, now: Date) throws {
        let path = "\(caDirectory)/\(issuedRecordFile)"
        let fd = RegularFile.openForAppending(path, create: true)
        guard fd >= 0 else { throw PKIError("cannot record the certificate in \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        // This user's file, with no other name (a hard link another user made beforehand would
        // let it read what is recorded, or have the record land in a file of its choosing).
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_uid == geteuid(), info.st_nlink == 1, info.st_mode & 0o077 == 0 else {
            throw PKIError("\(path) is not a private file of this user's with one name (mode 0600, no hard links): refusing to record certificates in it")
        }
        let created = info.st_size == 0
        let line = Array("\(ISO8601DateFormatter().string(from: now)) serial=\(cert.serialHex) identity=\(identity) sha256=\(cert.sha256Fingerprint) key-sha256=\(cert.publicKeySHA256)\n".utf8)
        let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == line.count, fsync(fd) == 0 else { throw PKIError("cannot record the certificate in \(path): \(String(cString: strerror(errno)))") }
        // A new record's name durable too (a power cut must not lose the file the line is in).
        if created {
            let directory = open(caDirectory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if directory >= 0 { _ = fsync(directory); close(directory) }
        }
    }

    /// Creates a CA in `directory` (`ca.pem`, and `ca.key` with mode 0600). Refuses to overwrite.
    public static func createAuthority(in directory: String, commonName: String = "Quartet federation CA",
                                       days: Int = 3650, now: Date = Date()) throws -> IssuedFiles {
        guard (1...maximumAuthorityDays).contains(days) else {
            throw PKIError("--days \(days) is outside 1-\(maximumAuthorityDays) for the CA")
        }
        let key = try PrivateKey.generateP256()
        let cert = try Certificate.issue(commonName: commonName, subjectKey: key, issuer: nil, issuerKey: key,
                                         notBefore: now.addingTimeInterval(-300), notAfter: now.addingTimeInterval(Double(days) * 86400), isCA: true)
        let certPath = "\(directory)/\(caCertificateFile)", keyPath = "\(directory)/\(caKeyFile)"
        try writeNew(directory: directory, files: [(keyPath, try key.pemRepresentation(), 0o600), (certPath, try cert.pemRepresentation(), 0o644)])
        return IssuedFiles(certificate: certPath, key: keyPath, caCertificate: certPath, issued: cert)
    }

    /// Loads the CA of a PKI directory.
    public static func loadAuthority(from directory: String) throws -> (Certificate, PrivateKey) {
        let cert = try Certificate(pem: try readText("\(directory)/\(caCertificateFile)"))
        // The CA's key as `issued.txt` is held: this user's file, readable by no one else, not
        // through a link — another user's key put in its place would sign certificates the
        // federation trusts under their control (finding 292).
        let keyPath = "\(directory)/\(caKeyFile)"
        let keyText: String
        do {
            keyText = try RegularFile.readText(keyPath, limit: 1 << 20, followSymlinks: false) { info in
                if info.st_uid != geteuid() { return "it belongs to user \(info.st_uid), not this one" }
                if info.st_mode & 0o077 != 0 { return "others can read or change it (mode \(String(info.st_mode & 0o777, radix: 8))); it must be 0600" }
                return nil
            }
        } catch { throw PKIError("cannot read the CA's key \(keyPath): \(error)") }
        let key = try PrivateKey(pem: keyText)
        guard cert.matches(key) else { throw PKIError("\(directory)/\(caKeyFile) is not the key of \(directory)/\(caCertificateFile)") }
        return (cert, key)
    }

    /// The CA's revocation list, in the CA directory.
    public static let revocationListFile = "crl.pem"

    /// A serial's hex digits without leading zeros (the record and the list may pad them).
    static func serialDigits(_ hex: String) -> String { String(hex.uppercased().drop { $0 == "0" }) }

    /// The serials the CA's record lists (`serial=` of each line), as `serialDigits`.
    static func issuedSerials(_ caDirectory: String) throws -> Set<String> {
        let path = "\(caDirectory)/\(issuedRecordFile)"
        let text: String
        do { text = try RegularFile.readText(path, limit: 64 << 20) } catch {
            throw PKIError("cannot read \(path), the CA's record of what it issued, to check the serial: \(error) (give --unrecorded if the record was lost)")
        }
        var serials: Set<String> = []
        for line in text.split(separator: "\n") {
            for field in line.split(separator: " ") where field.hasPrefix("serial=") { serials.insert(serialDigits(String(field.dropFirst("serial=".count)))) }
        }
        return serials
    }

    /// What `revoke` did: the list's path, the serials it added and every serial it holds.
    public struct Revocation: Sendable {
        public let revocationList: String
        public let added: [String]
        public let revoked: [String]
    }

    /// Revokes `certificates` (PEM files the CA issued) and `serials` (hex): writes the CA's
    /// revocation list (`crl.pem` in `caDirectory`) anew with them and every serial it held
    /// before (their dates kept), signed by the CA, durably (a crash leaves the old list or
    /// the new). A certificate of another CA is refused; a serial already revoked is kept once.
    /// `newList`: there is no list yet and one is started (without it a missing `crl.pem` is
    /// refused: a CA directory restored without its list would drop every earlier revocation).
    /// One `revoke` at a time per CA directory (a lock on the directory).
    /// A serial must be one the CA's record (`issued.txt`) lists: a typo would leave the
    /// certificate meant in use while the command said it was revoked. `unrecorded` takes
    /// serials the record does not list (a CA whose record was lost).
    public static func revoke(certificates: [String], serials: [String], caDirectory: String, newList: Bool = false, unrecorded: Bool = false,
                              now: Date = Date()) throws -> Revocation {
        let (ca, key) = try loadAuthority(from: caDirectory)
        let lock = try DirectoryLock(caDirectory, busy: "another pki revoke is writing \(caDirectory)/\(revocationListFile); try again when it is done")
        defer { lock.release() }
        var wanted: [String] = []
        for path in certificates {
            let certificate = try Certificate(pem: try readText(path))
            // Issued by this CA: its signature verifies with the CA's key, checked at a time the
            // certificate was valid (an expired one may still be revoked).
            do { try certificate.verify(issuedBy: ca, at: certificate.notBefore.addingTimeInterval(1)) } catch {
                throw PKIError("\(path) was not issued by the CA in \(caDirectory): \(error)")
            }
            wanted.append(certificate.serialHex)
        }
        // As `openssl x509 -serial` prints it (`serial=`, colons, either case); the digits are
        // checked where the list is made (`RevocationList.make`).
        let recorded = serials.isEmpty || unrecorded ? [] : try issuedSerials(caDirectory)
        for serial in serials {
            var text = serial.uppercased()
            if text.hasPrefix("SERIAL=") { text.removeFirst("SERIAL=".count) }
            text = text.replacingOccurrences(of: ":", with: "")
            let digits = Self.serialDigits(text)
            guard !digits.isEmpty || text.isEmpty else { throw PKIError("serial \(serial) is zero, which no certificate has") }
            if !unrecorded, !recorded.contains(digits) {
                throw PKIError("serial \(serial) is not one \(caDirectory)/\(issuedRecordFile) lists as issued by this CA (a typo would leave the certificate meant in use); check it with `openssl x509 -serial -noout`; give --unrecorded for a certificate the record cannot list (issued before the CA kept it, releases before 2026-12-05, or a record lost)")
            }
            wanted.append(text)
        }
        let path = "\(caDirectory)/\(revocationListFile)"
        var before: [String: Date] = [:]
        if !FileManager.default.fileExists(atPath: path), !newList {
            throw PKIError("\(path) does not exist: pass --new-list to start this CA's revocation list (a CA directory restored without its list would otherwise drop every revocation made before)")
        }
        if FileManager.default.fileExists(atPath: path) {
            let existing = try RevocationList(pem: try readText(path))
            do { try existing.verify(issuedBy: ca) } catch { throw PKIError("\(path) is not this CA's revocation list: \(error)") }
            for (serial, at) in existing.revoked { before[serial] = at }
        }
        // The list's own form of each serial (no leading zero bytes), so one is never listed twice.
        let made: RevocationList
        do { made = try RevocationList.make(ca: ca, key: key, serials: Array(before.keys) + wanted, revokedAt: before, now: now) } catch {
            throw PKIError("cannot make the revocation list: \(error)")
        }
        let revoked = made.revoked.map(\.serial)
        do { try RegularFile.writeDurably(Array(try made.pemRepresentation().utf8), to: path, mode: 0o644, replacing: true) } catch {
            throw PKIError("cannot write \(path): \(error)")
        }
        return Revocation(revocationList: path, added: revoked.filter { before[$0] == nil }, revoked: revoked)
    }

    /// Issues a node certificate: `<node>.pem`, `<node>.key` (0600) and a copy of `ca.pem` in
    /// `directory`. Subject alternative names: `quartet://node/<node>`, DNS `<node>` and
    /// `localhost`, IP 127.0.0.1 and ::1 (so loopback clients such as curl can check it).
    public static func issueNode(_ node: String, caDirectory: String, in directory: String, days: Int = 365,
                                 now: Date = Date(), notBefore: Date? = nil) throws -> IssuedFiles {
        try issue(.node(node), caDirectory: caDirectory, in: directory, days: days, now: now, notBefore: notBefore)
    }

    /// Issues a key and certificate for `identity`, named `<label>.pem` / `<label>.key` (label:
    /// `wales`, `operator-wales`, `reader-analyst`). Node certificates also carry DNS and IP
    /// names for the API (the node id, localhost, 127.0.0.1, ::1).
    public static func issue(_ identity: FederationIdentity, caDirectory: String, in directory: String, days: Int = 365,
                             now: Date = Date(), notBefore: Date? = nil) throws -> IssuedFiles {
        let name = identity.name
        try checkName(of: identity)
        // The bounds `sign` keeps: without revocation lists a certificate's lifetime is the only
        // limit on a stolen key, and none outlives the CA that vouches for it.
        guard (1...maximumDays).contains(days) else {
            throw PKIError("--days \(days) is outside 1-\(maximumDays): without revocation lists a certificate's lifetime is the only limit on a stolen key")
        }
        let (caCert, caKey) = try loadAuthority(from: caDirectory)
        try checkLifetime(days: days, within: caCert, now: now)
        let key = try PrivateKey.generateP256()
        var names: [SubjectAlternativeName] = [.uri(identity.uri)]
        if case .node = identity { names += [.dns(name), .dns("localhost"), .ip("127.0.0.1"), .ip("::1")] }
        let cert = try Certificate.issue(commonName: identity.fileLabel, subjectKey: key, issuer: caCert, issuerKey: caKey,
                                         notBefore: notBefore ?? now.addingTimeInterval(-300), notAfter: now.addingTimeInterval(Double(days) * 86400),
                                         isCA: false, alternativeNames: names, clientOnly: !identity.isNode)
        let label = identity.fileLabel
        let certPath = "\(directory)/\(label).pem", keyPath = "\(directory)/\(label).key", caPath = "\(directory)/\(caCertificateFile)"
        var files = [(keyPath, try key.pemRepresentation(), 0o600), (certPath, try cert.pemRepresentation(), 0o644)]
        if URL(fileURLWithPath: directory).standardized != URL(fileURLWithPath: caDirectory).standardized {
            files.append((caPath, try caCert.pemRepresentation(), 0o644))
        }
        try checkNew(files, allowExisting: [caPath])
        try recordIssued(cert, identity: identity.uri, caDirectory: caDirectory, now: now)
        try writeNew(directory: directory, files: files, allowExisting: [caPath])
        return IssuedFiles(certificate: certPath, key: keyPath, caCertificate: caPath, issued: cert)
    }

    /// Refuses a certificate of `days` from `now` that would outlive the CA certificate `ca`.
    public static func checkLifetime(days: Int, within ca: Certificate, now: Date = Date()) throws {
        guard now.addingTimeInterval(Double(days) * 86400) <= ca.notAfter else {
            let left = Int(ca.notAfter.timeIntervalSince(now) / 86400)
            throw PKIError("the CA certificate expires at \(ISO8601DateFormatter().string(from: ca.notAfter)); a certificate for \(days) days would outlive it (use --days \(max(left, 0)) or less, or renew the CA)")
        }
    }

    /// Refuses an identity whose name is not 1-64 of a-z, 0-9 and -, naming what kind of name it is.
    public static func checkName(of identity: FederationIdentity) throws {
        guard !isValidNodeID(identity.name) else { return }
        let kind: String
        switch identity {
        case .node: kind = "node id"
        case .operator: kind = "log name"
        case .reader: kind = "reader name"
        case .auditor: kind = "auditor name"
        }
        throw PKIError("\(kind) \"\(printable(identity.name))\" must be 1-64 of a-z, 0-9 and -, starting with a letter or digit")
    }

    /// A PEM file of the PKI (a certificate, a key): a regular file of at most 1 MiB (a
    /// member's inbox may hold a planted `ca.pem`: a FIFO, `/dev/zero`), and with
    /// `followSymlinks: false` (such a file) never through a link.
    static func readText(_ path: String, followSymlinks: Bool = true) throws -> String {
        let bytes: [UInt8]
        do { bytes = try RegularFile.read(path, limit: 1 << 20, followSymlinks: followSymlinks) } catch {
            throw PKIError("cannot read \(path): \(error)")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw PKIError("cannot read \(path): not UTF-8 text") }
        return text
    }

    /// Refuses when any of `files` (but those in `allowExisting`) is there already: checked
    /// before a certificate is recorded as issued, and again by `writeNew`.
    static func checkNew(_ files: [(String, String, Int)], allowExisting: Set<String> = []) throws {
        let checked = files.map(\.0).filter { !allowExisting.contains($0) }
        let existing = checked.filter { FileManager.default.fileExists(atPath: $0) }
        guard let first = existing.first else { return }
        // Some of a set written one file after another, not all: a run stopped between them
        // (a kill, a power cut, a full disk). Said so, with the way out (was: a bare "already
        // exists", and nothing but hand editing to go on).
        // A key with its certificate or request beside it under its name is in use (a node's,
        // renewed in place), whatever else of the set is missing: the plain refusal.
        func companion(_ path: String) -> Bool {
            guard path.hasSuffix(".key") else { return false }
            let base = String(path.dropLast(4))
            return [".pem", ".csr"].contains { FileManager.default.fileExists(atPath: base + $0) }
        }
        if existing.count < checked.count, !existing.contains(where: companion) {
            let missing = checked.filter { !existing.contains($0) }
            throw PKIError("\(existing.joined(separator: ", ")) already exist(s) but \(missing.joined(separator: ", ")) do(es) not: an earlier run may have stopped between writing them. If so, and nothing uses \(existing.count == 1 ? "it" : "them"), move \(existing.joined(separator: " and ")) aside and run this again; a certificate that run recorded in issued.txt was never handed out (revoke its serial to be sure)")
        }
        throw PKIError("\(first) already exists; refusing to overwrite it")
    }

    static func writeNew(directory: String, files: [(String, String, Int)], allowExisting: Set<String> = []) throws {
        do { try RegularFile.makeDirectoryDurably(directory, mode: 0o700) } catch { throw PKIError(error.description) }
        try checkNew(files, allowExisting: allowExisting)
        for (path, text, mode) in files {
            // Not over a file that appeared since the check above either.
            do { try RegularFile.writeDurably(Array(text.utf8), to: path, mode: mode_t(mode), replacing: allowExisting.contains(path)) } catch {
                throw PKIError(error.description)
            }
        }
    }
}

/// A PKI file or argument problem.
public struct PKIError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
