import Foundation
import QuartetCrypto
import QuartetLedger
import QuartetStore
#if canImport(Glibc)
import Glibc
#endif

/// `quartet config check`: a node's configuration and every file it names, checked offline
/// before a start (or a reload), every problem listed with the file and key it concerns — as
/// `nginx -t` does. A configuration that does not parse stops at its first mistake (the parser
/// names it); one that parses is checked in full.
public enum ConfigurationCheck {
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        public enum Severity: String, Sendable { case error, warning }
        public var severity: Severity
        /// The file, and the key in it, the problem concerns (`wales.json: tls.certificate`).
        public var place: String
        public var message: String

        public var description: String { "\(severity.rawValue): \(place): \(message)" }
    }

    /// Certificates expiring sooner than this are reported (as warnings).
    public static let expiryWarning: TimeInterval = 30 * 86400

    /// Every problem of the configuration at `path`, as of `now`. `probePorts` also tries to
    /// bind the listen addresses (a port in use is a warning: the node may be running).
    public static func run(path: String, now: Date = Date(), probePorts: Bool = true) -> [Problem] {
        let configuration: NodeConfiguration
        do { configuration = try NodeConfiguration.load(path: path) } catch {
            return [Problem(severity: .error, place: error.file + (error.key.map { ": \($0)" } ?? ""), message: error.message)]
        }
        var problems: [Problem] = []
        func fail(_ key: String, _ message: String) { problems.append(Problem(severity: .error, place: "\(configuration.file): \(key)", message: message)) }
        func warn(_ key: String, _ message: String) { problems.append(Problem(severity: .warning, place: "\(configuration.file): \(key)", message: message)) }

        // The PKI: the CA, the node's certificate under it, its key.
        let ca = certificate(configuration.caCertificate, key: "tls.ca", report: fail)
        let leaf = certificate(configuration.certificate, key: "tls.certificate", report: fail)
        for (key, cert) in [("tls.ca", ca), ("tls.certificate", leaf)] {
            guard let cert else { continue }
            if cert.notAfter >= now, cert.notAfter < now.addingTimeInterval(expiryWarning) {
                warn(key, "expires on \(iso(cert.notAfter)), in \(Int(cert.notAfter.timeIntervalSince(now) / 86400)) days; renew it and reload (SIGHUP)")
            }
        }
        if let ca, let leaf {
            let cas = (try? Certificate.all(pem: ConfigObject.readPEM(configuration.caCertificate, what: "certificate"))) ?? [ca]
            for error in certificateErrors(cas: cas, leaf: leaf, caPath: configuration.caCertificate, now: now) { fail(error.key, error.message) }
        } else {
            // Each one read is still checked for its dates.
            for (key, cert) in [("tls.ca", ca), ("tls.certificate", leaf)] {
                guard let cert else { continue }
                for error in datesErrors(cert, key: key, now: now) { fail(error.key, error.message) }
            }
        }
        if let leaf, FederationIdentity(certificate: leaf) != .node(configuration.node) {
            let names = leaf.uriNames.joined(separator: ", ")
            fail("tls.certificate", "names \(names.isEmpty ? "no quartet:// identity" : names), expected quartet://node/\(configuration.node)")
        }
        // The revocation lists: the CAs' own, one per CA, the node's certificate verifying with
        // them as a handshake would (the rules a start and a reload apply).
        if ca != nil, let leaf, let text = try? ConfigObject.readPEM(configuration.caCertificate, what: "certificate") {
            do { _ = try TLSContexts.revocationLists(configuration, ca: text, leaf: leaf) } catch {
                fail(error.key ?? "tls.crl", error.message)
            }
        }
        do {
            let key = try PrivateKey(pem: try ConfigObject.readPEM(configuration.privateKey, what: "TLS key"))
            if let leaf, !leaf.matches(key) { fail("tls.key", "\(configuration.privateKey) is not the key of \(configuration.certificate)") }
        } catch {
            fail("tls.key", "\(configuration.privateKey): not a private key in PEM: \(error)")
        }
        // Run as root (`sudo quartet config check`), the node's group is its data directory's
        // (quartet:quartet, deploy.md), not root's.
        var group = getegid()
        var data = stat()
        if geteuid() == 0, stat(configuration.dataDirectory, &data) == 0 { group = data.st_gid }
        if let problem = TLSContexts.openToOthers(configuration.privateKey, group: group) { fail("tls.key", problem) }

        // The federation file: signed by a quorum, no older than the one accepted, and naming
        // this node with the log and key the data directory holds.
        var federation: Federation?
        do {
            let (file, admission) = try FederationTrust.evaluate(path: configuration.federationFile, dataDirectory: configuration.dataDirectory)
            federation = file.federation
            _ = admission  // The accepted file is not replaced by a check.
        } catch let refusal as FederationTrust.Refusal {
            fail("federation", refusal.description)
        } catch let parse as ConfigurationError {
            problems.append(Problem(severity: .error, place: parse.file + (parse.key.map { ": \($0)" } ?? ""), message: parse.message))
        } catch {
            fail("federation", "\(error)")
        }
        if let federation {
            if let me = federation.member(configuration.node) {
                if me.log != configuration.log { fail("log", "the federation file says node \(me.id) writes log \(me.log), not \(configuration.log)") }
                if me.peer.port != configuration.peerListen.port {
                    warn("peer.listen", "the federation file gives this node's peer port as \(me.peer); it listens on \(configuration.peerListen)")
                }
            } else {
                fail("federation", "\(configuration.federationFile) does not list node \(configuration.node)")
            }
        }

        // The data directory: there, this user's alone, holding the log and its key.
        let directory = DataDirectory(path: configuration.dataDirectory)
        if let mode = permissions(configuration.dataDirectory) {
            if mode & 0o077 != 0 { fail("data", "\(configuration.dataDirectory) is open to other users (mode \(String(mode, radix: 8))); run chmod 700 on it") }
            do { try directory.checkOwnership() } catch { fail("data", error.message) }
            if let memory = directory.volatileFileSystem() {
                warn("data", "\(configuration.dataDirectory) is on \(memory), in memory: every acknowledged append and the keys are gone at the next reboot; put it on a disk")
            }
            if !directory.exists {
                fail("data", "\(configuration.dataDirectory) holds no database; create it with `quartet init --log \(configuration.log) --data \(configuration.dataDirectory)`")
            }
            do {
                let key = try directory.readSigningKey(log: configuration.log)
                if let member = federation?.member(configuration.node) {
                    let pinned = member.verifier
                    // The key in force: the pinned one, or where the log's rotations moved it.
                    var inForce = pinned
                    if directory.exists {
                        do {
                            let store = try LedgerStore.open(directory)
                            defer { try? store.close() }
                            let log = try store.log(named: configuration.log)
                            let chain = try store.keyChain(log)
                            inForce = NoteVerifier(name: chain.origin, publicKey: chain.current)
                            if chain.pinned != pinned.publicKey {
                                fail("data", "log \(configuration.log) in \(configuration.dataDirectory) is registered under \(NoteVerifier(name: chain.origin, publicKey: chain.pinned).vkey), but the federation file pins \(pinned.vkey)")
                            }
                            if let current = member.current, current.publicKey != chain.current {
                                warn("data", "the federation file names \(current.vkey) as log \(configuration.log)'s current key, but the key in force here is \(inForce.vkey) (a rotation not yet named, or not yet taken from peers)")
                            }
                        } catch {
                            fail("data", "cannot read the key chain of log \(configuration.log) in \(configuration.dataDirectory): \(error)")
                        }
                    }
                    if inForce.publicKey.rawRepresentation != key.publicKey.rawRepresentation {
                        let which = inForce.publicKey == pinned.publicKey ? "the key the federation file pins" : "after the log's rotations"
                        fail("data", "the signing key of log \(configuration.log) in \(configuration.dataDirectory) is not the key in force (\(inForce.vkey), \(which))")
                    }
                }
            } catch {
                fail("data", error.message)
            }
        } else {
            fail("data", "\(configuration.dataDirectory) does not exist; create it with `quartet init --log \(configuration.log) --data \(configuration.dataDirectory)`")
        }

        // The ports.
        if configuration.peerListen == configuration.apiListen { fail("api.listen", "the API and the peer port are both \(configuration.apiListen)") }
        if probePorts {
            for (key, address) in [("peer.listen", configuration.peerListen), ("api.listen", configuration.apiListen)] {
                if let reason = bindProblem(address) { warn(key, "cannot listen on \(address): \(reason)") }
            }
        }
        return problems
    }

    private static func certificate(_ path: String, key: String, report: (String, String) -> Void) -> Certificate? {
        do { return try Certificate(pem: try ConfigObject.readPEM(path, what: "certificate")) } catch {
            report(key, "\(path): not a certificate in PEM: \(error)")
            return nil
        }
    }

    private static func permissions(_ path: String) -> mode_t? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return info.st_mode & 0o777
    }

    /// Why `address` cannot be bound now (nil if it can).
    static func bindProblem(_ address: HostPort) -> String? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(address.host, String(address.port), &hints, &result) == 0, let info = result else { return "cannot resolve \(address.host)" }
        defer { freeaddrinfo(result) }
        let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
        guard fd >= 0 else { return String(cString: strerror(errno)) }
        defer { close(fd) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            let reason = String(cString: strerror(errno))
            return errno == EADDRINUSE ? "\(reason) (is the node already running?)" : reason
        }
        return nil
    }

    private static func iso(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }

    /// What is wrong with a node's certificate and its CA at `now`, by configuration key: out of
    /// their dates, or the certificate not issued by the CA. `config check` reports these, and
    /// a reload refuses a renewed certificate with any (`TLSContexts.renewalProblem`).
    /// `cas`: every CA in `tls.ca` (a rollover bundle holds the old and the new): each one's
    /// dates are checked, and the certificate may be any one's.
    static func certificateErrors(cas: [Certificate], leaf: Certificate, caPath: String, now: Date) -> [(key: String, message: String)] {
        var errors = cas.flatMap { datesErrors($0, key: "tls.ca", now: now) } + datesErrors(leaf, key: "tls.certificate", now: now)
        // At its own start if it is not valid yet (that is said above, once).
        do { try leaf.verify(issuedByAnyOf: cas, at: max(now, leaf.notBefore)) } catch {
            errors.append(("tls.certificate", "not issued by the CA in tls.ca (\(caPath)): \(error)"))
        }
        return errors
    }

    private static func datesErrors(_ cert: Certificate, key: String, now: Date) -> [(key: String, message: String)] {
        var errors: [(key: String, message: String)] = []
        if cert.notAfter < now { errors.append((key, "expired on \(iso(cert.notAfter))")) }
        if cert.notBefore > now { errors.append((key, "not valid before \(iso(cert.notBefore))")) }
        return errors
    }
}
