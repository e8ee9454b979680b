import ArgumentParser
import Foundation
import QuartetCrypto
import QuartetNode

// Onboarding without sharing private keys: `pki request` on the member's host, `pki sign` at the
// CA. See docs/operations.md ("Joining without sending a key") and docs/security.md.

extension PKICommand {
    struct Request: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "request", abstract: "Make a key (P-256, 0600) and a certificate request on this host; send only the .csr to the CA.",
            discussion: """
                Give exactly one of --node ID, --operator LOG, --reader NAME, --auditor NAME. A node's \
                request names the DNS names and IP addresses given with --dns and --ip (repeatable, \
                at most 16 of each); with neither, it names ID, localhost, 127.0.0.1 and ::1. Operator, \
                reader and auditor certificates name no hosts. Writes LABEL.key and LABEL.csr into --out \
                (LABEL: ID, operator-LOG, reader-NAME, auditor-NAME) and never overwrites a file.
                """)

        @Option(help: "A node id, e.g. wales (quartet://node/ID).") var node: String?
        @Option(name: .customLong("operator"), help: "A log whose operator this is (quartet://operator/LOG).") var operatorLog: String?
        @Option(help: "A reader's name (quartet://reader/NAME).") var reader: String?
        @Option(help: "An auditor's name (quartet://auditor/NAME).") var auditor: String?
        @Option(name: .customLong("dns"), help: "A DNS name for a node's certificate (repeatable).") var dnsNames: [String] = []
        @Option(name: .customLong("ip"), help: "An IPv4 or IPv6 address for a node's certificate (repeatable).") var ipAddresses: [String] = []
        @Option(help: "Directory for LABEL.key (0600) and LABEL.csr.") var out: String
        @OptionGroup var output: FormatOptions

        func run() async throws {
            let identity = try chosenIdentity(node: node, operatorLog: operatorLog, reader: reader, auditor: auditor)
            var dns = dnsNames, ips = ipAddresses
            if case .node(let id) = identity, dns.isEmpty, ips.isEmpty { (dns, ips) = FederationPKI.defaultHostNames(for: id) }
            // The role's rules first (nothing made for a request refused), then the directory.
            _ = try CertificateRequestPolicy.checkHostNames(dns: dns, ips: ips, for: identity)
            try OwnDirectory.prepare(out, option: "--out")
            let files = try FederationPKI.request(identity, dnsNames: dns, ipAddresses: ips, in: out)
            let asked = files.asked
            switch output.format {
            case .json:
                printJSON(RequestOutput(key: files.key, csr: files.request, send: [files.request], identity: asked.identity.uri,
                                        subject: "CN=\(asked.identity.fileLabel)", dnsNames: asked.dnsNames, ipAddresses: asked.ipAddresses,
                                        publicKeySHA256: files.publicKeySHA256))
            case .text:
                print("key:        \(files.key) (0600: keep it on this host, never send it)")
                print("request:    \(files.request)")
                print("identity:   \(asked.identity.uri)")
                print("subject:    CN=\(asked.identity.fileLabel)")
                if !asked.dnsNames.isEmpty { print("DNS names:  \(asked.dnsNames.joined(separator: ", "))") }
                if !asked.ipAddresses.isEmpty { print("IP:         \(asked.ipAddresses.joined(separator: ", "))") }
                print("public key SHA-256: \(files.publicKeySHA256)")
                print("Send \(files.request) (only that file) to the federation CA, and confirm the public key SHA-256 with it by another channel.")
            }
        }
    }

    struct Sign: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sign", abstract: "Check a certificate request against the federation's policy and issue its certificate.",
            discussion: """
                Refuses a request that is over 64 KiB, not one PEM CERTIFICATE REQUEST, not signed by the \
                key it carries, not ECDSA P-256, or that asks for anything its role does not allow (see \
                docs/security.md). Writes LABEL.pem and a copy of ca.pem into --out (default: the \
                request's directory); never overwrites the certificate or a different ca.pem. Exactly one \
                of --node, --operator, --reader or --auditor is required: the identity you mean to \
                certify, from the member's own message (a request can name anyone); a request for any \
                other identity is refused. With --federation FILE, a node must be one the file lists and \
                its request must name exactly the node's peer and api hosts there, and an operator's \
                log must be one the file lists. A node the file does not list yet (first onboarding): \
                --host for each host its request must name, from the member's own message (without \
                either, the hosts are certified unchecked and named on stderr).
                """)

        @Option(help: "The CA directory (from `pki init`).") var ca: String
        @Option(help: "The request file (LABEL.csr from `pki request`, or made with `openssl req`).") var csr: String
        @Option(parsing: .unconditional, help: "Days the certificate is valid (1-\(FederationPKI.maximumDays)).") var days: Int = 365
        @Option(help: "Directory for LABEL.pem and ca.pem (default: the request's directory).") var out: String?
        @Option(help: "The node this certificate is for (one of --node, --operator, --reader, --auditor is required).") var node: String?
        @Option(name: .customLong("operator"), help: "The log whose operator this certificate is for.") var operatorLog: String?
        @Option(help: "The reader this certificate is for.") var reader: String?
        @Option(help: "The auditor this certificate is for.") var auditor: String?
        @Option(help: "The federation file: a node's request must name exactly its peer and api hosts listed there.") var federation: String?
        @Option(name: .customLong("host"), help: "For a node not yet in the federation file: a host name or address its request must name (repeat for each; exactly these, from the member's own message).")
        var hosts: [String] = []
        @OptionGroup var output: FormatOptions

        func run() async throws {
            // None given: the request is read and refused with the identity it asks for named.
            let expected = [node, operatorLog, reader, auditor].allSatisfy { $0 == nil } ? nil
                : try chosenIdentity(node: node, operatorLog: operatorLog, reader: reader, auditor: auditor)
            var hosts: [String]? = self.hosts.isEmpty ? nil : self.hosts
            if !self.hosts.isEmpty {
                guard case .node? = expected else { throw ValidationError("--host is for a node's certificate (--node)") }
                guard self.hosts.count <= 32 else { throw ValidationError("--host: at most 32") }
            }
            if let federation, let expected {
                let file = try Federation.load(path: federation)
                switch expected {
                case .node(let id):
                    if let member = file.member(id) {
                        guard self.hosts.isEmpty else { throw CLIError("\(federation) lists \(id)'s hosts: give --host only for a node it does not list yet") }
                        hosts = certificateHosts(of: member)
                    } else {
                        guard !self.hosts.isEmpty else {
                            throw CLIError("\(federation) lists no node \(id) (it lists \(file.members.map(\.id).joined(separator: ", "))); add it there first, or give its hosts with --host")
                        }
                        // A new member's hosts from its own message, none of them another
                        // member's (its certificate would pass for that member's API host).
                        for other in file.members {
                            let theirs = certificateHosts(of: other).map { CertificateRequestPolicy.canonicalIPAddress($0) ?? $0.lowercased() }
                            for host in self.hosts where theirs.contains(CertificateRequestPolicy.canonicalIPAddress(host) ?? host.lowercased()) {
                                throw CLIError("--host \(host) is \(other.id)'s in \(federation): a certificate for \(id) must not name it")
                            }
                        }
                    }
                case .operator(let log):
                    guard file.members.contains(where: { $0.log == log }) else {
                        throw CLIError("\(federation) lists no log \(log) (it lists \(file.members.map(\.log).joined(separator: ", ")))")
                    }
                case .reader, .auditor:
                    break
                }
            }
            try OwnDirectory.check(ca, option: "--ca")
            try OwnDirectory.check(out ?? URL(fileURLWithPath: csr).deletingLastPathComponent().path, option: out == nil ? "the request's directory (the default --out)" : "--out")
            let files = try FederationPKI.sign(requestAt: csr, caDirectory: ca, in: out, days: days, expecting: expected, hosts: hosts)
            if case .node? = expected, hosts == nil {
                // Nothing checked the hosts: say which were certified (browsers trust them).
                let named = files.issued.dnsNames + files.issued.ipAddresses
                FileHandle.standardError.write(Data(TerminalText.escaped("quartet pki sign: the hosts certified were not checked (give --host for each, from the member's own message, or --federation): \(named.joined(separator: ", "))\n").utf8))
            }
            // What was issued, as made: the file may be replaced before it is read again.
            let cert = files.issued
            let formatter = ISO8601DateFormatter()
            let signed = SignOutput(certificate: files.certificate, caCertificate: files.caCertificate, subject: "CN=\(cert.commonName ?? "")",
                                    identity: files.approved.identity.uri, dnsNames: cert.dnsNames, ipAddresses: cert.ipAddresses,
                                    notBefore: formatter.string(from: cert.notBefore), notAfter: formatter.string(from: cert.notAfter),
                                    serial: cert.serialHex, sha256Fingerprint: cert.sha256Fingerprint, publicKeySHA256: cert.publicKeySHA256)
            switch output.format {
            case .json: printJSON(signed)
            case .text:
                print("certificate: \(signed.certificate)")
                print("CA:          \(signed.caCertificate)")
                print("subject:     \(signed.subject)")
                print("identity:    \(signed.identity)")
                if !signed.dnsNames.isEmpty { print("DNS names:   \(signed.dnsNames.joined(separator: ", "))") }
                if !signed.ipAddresses.isEmpty { print("IP:          \(signed.ipAddresses.joined(separator: ", "))") }
                print("valid:       \(signed.notBefore) to \(signed.notAfter)")
                print("serial:      \(signed.serial)")
                print("SHA-256 fingerprint: \(signed.sha256Fingerprint)")
                print("public key SHA-256:  \(signed.publicKeySHA256) (the member's `pki request` printed the same)")
                print("Send \(signed.certificate) and \(signed.caCertificate) to the member.")
            }
        }
    }
}

/// The hosts a member's node certificate names: its peer host and its api URL's host (an IPv6
/// literal without brackets), in that order, each once.
func certificateHosts(of member: Federation.Member) -> [String] {
    var hosts = [member.peer.host]
    // The api host as the federation file's parse checked it (`Federation.apiHost`).
    if let api = Federation.apiHost(of: member.api), !hosts.contains(where: { $0.lowercased() == api.lowercased() }) { hosts.append(api) }
    return hosts
}

/// The one identity given as --node, --operator, --reader or --auditor.
func chosenIdentity(node: String?, operatorLog: String?, reader: String?, auditor: String?) throws -> FederationIdentity {
    let identities = [node.map(FederationIdentity.node), operatorLog.map(FederationIdentity.operator), reader.map(FederationIdentity.reader),
                      auditor.map(FederationIdentity.auditor)].compactMap { $0 }
    guard identities.count == 1 else { throw ValidationError("give exactly one of --node, --operator, --reader and --auditor") }
    return identities[0]
}

/// `quartet pki request --format json`.
struct RequestOutput: Encodable {
    var key, csr: String
    /// The files to send to the CA: only the request.
    var send: [String]
    var identity, subject: String
    var dnsNames, ipAddresses: [String]
    var publicKeySHA256: String

    enum CodingKeys: String, CodingKey {
        case key, csr, send, identity, subject
        case dnsNames = "dns_names", ipAddresses = "ip_addresses", publicKeySHA256 = "public_key_sha256"
    }
}

/// `quartet pki sign --format json`.
struct SignOutput: Encodable {
    var certificate, caCertificate, subject, identity: String
    var dnsNames, ipAddresses: [String]
    var notBefore, notAfter, serial, sha256Fingerprint, publicKeySHA256: String

    enum CodingKeys: String, CodingKey {
        case certificate, subject, identity, serial
        case caCertificate = "ca_certificate", dnsNames = "dns_names", ipAddresses = "ip_addresses", notBefore = "not_before",
             notAfter = "not_after", sha256Fingerprint = "sha256_fingerprint", publicKeySHA256 = "public_key_sha256"
    }
}
