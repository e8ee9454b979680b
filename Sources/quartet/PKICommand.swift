import ArgumentParser
import Foundation
import QuartetCrypto

struct PKICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pki", abstract: "The federation's certificate authority, certificate requests and certificates.",
                                                    subcommands: [Init.self, Issue.self, Request.self, Sign.self, Revoke.self])

    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "init", abstract: "Create the federation CA (ECDSA P-256): ca.pem and ca.key (0600).")

        @Option(help: "Directory for ca.pem and ca.key.") var out: String
        @Option(parsing: .unconditional, help: "Days the CA is valid.") var days: Int = 3650
        @Option(help: "The CA's common name.") var name = "Quartet federation CA"
        @OptionGroup var output: FormatOptions

        func run() async throws {
            // Checked before --out is made: a refused run leaves nothing behind.
            guard (1...FederationPKI.maximumAuthorityDays).contains(days) else {
                throw ValidationError("--days \(days) is outside 1-\(FederationPKI.maximumAuthorityDays) for the CA")
            }
            try OwnDirectory.prepare(out, option: "--out")
            let files = try FederationPKI.createAuthority(in: out, commonName: name, days: days)
            report(files, files.issued, output.format)
        }
    }

    struct Issue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "issue", abstract: "Issue a key and certificate signed by the federation CA: for a node, an operator, a reader or an auditor.",
            discussion: """
                --node ID: a node (quartet://node/ID), for its peer port and API. --operator LOG: an \
                operator who may append to LOG through its node's API (quartet://operator/LOG). \
                --reader NAME: someone who may read every node's API (quartet://reader/NAME).
                --auditor NAME: a data owner's auditor: reads, and agreements and disclosures (quartet://auditor/NAME).
                """)

        @Option(help: "The CA directory (from `pki init`).") var ca: String
        @Option(help: "A node id, e.g. wales; carried as the URI name quartet://node/ID.") var node: String?
        @Option(name: .customLong("operator"), help: "A log whose operator this certificate is (quartet://operator/LOG).") var operatorLog: String?
        @Option(help: "A reader's name (quartet://reader/NAME).") var reader: String?
        @Option(help: "An auditor's name (quartet://auditor/NAME).") var auditor: String?
        @Option(help: "Directory for the .pem, the .key (0600) and a copy of ca.pem.") var out: String
        @Option(parsing: .unconditional, help: "Days the certificate is valid.") var days: Int = 365
        @OptionGroup var output: FormatOptions

        func run() async throws {
            // Checked, and the CA read, before --out is made: a refused run leaves nothing behind.
            guard (1...FederationPKI.maximumDays).contains(days) else {
                throw ValidationError("--days \(days) is outside 1-\(FederationPKI.maximumDays): without revocation lists a certificate's lifetime is the only limit on a stolen key")
            }
            let identity = try chosenIdentity(node: node, operatorLog: operatorLog, reader: reader, auditor: auditor)
            try FederationPKI.checkName(of: identity)
            try OwnDirectory.check(ca, option: "--ca")
            try FederationPKI.checkLifetime(days: days, within: try FederationPKI.loadAuthority(from: ca).0)
            try OwnDirectory.prepare(out, option: "--out")
            let files = try FederationPKI.issue(identity, caDirectory: ca, in: out, days: days)
            report(files, files.issued, output.format)
        }
    }
}

extension PKICommand {
    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "revoke", abstract: "Revoke certificates the federation CA issued: write its revocation list (crl.pem in the CA directory) with them.",
            discussion: """
                For a node's, an operator's, a reader's or an auditor's key that may be exposed: the \
                list names each certificate by its serial number, signed by the CA, with those revoked \
                before. Put crl.pem on every node (tls.crl in its configuration) and reload them \
                (SIGHUP): from then on no node accepts those certificates, as peers or as API \
                clients, and the connections made before the reload are closed. Issue the holder a \
                new certificate for a new key first (pki request and pki sign). \
                openssl crl -in crl.pem -CAfile ca.pem -noout -text shows and checks the list.
                """)

        @Option(help: "The CA directory (from `pki init`).") var ca: String
        @Argument(help: "Certificates to revoke (PEM files the CA issued).") var certificates: [String] = []
        @Option(name: .customLong("serial"), help: "A serial number to revoke (hex, as `openssl x509 -serial -noout` prints it), for a certificate whose file is gone.") var serials: [String] = []
        @Flag(name: .customLong("new-list"), help: "Start the CA's revocation list (the first revocation, or an empty list for a CA of a rollover bundle).") var newList = false
        @Flag(help: "Revoke a --serial the CA's record (issued.txt) does not list (the record was lost); otherwise such a serial is refused as a likely typo.") var unrecorded = false
        @OptionGroup var output: FormatOptions

        func run() async throws {
            guard !certificates.isEmpty || !serials.isEmpty || newList else { throw ValidationError("name a certificate file, or --serial, to revoke (or --new-list for an empty list)") }
            try OwnDirectory.check(ca, option: "--ca")
            let revocation = try FederationPKI.revoke(certificates: certificates, serials: serials, caDirectory: ca, newList: newList, unrecorded: unrecorded)
            switch output.format {
            case .json:
                printJSON(["revocation_list": revocation.revocationList, "added": revocation.added, "revoked": revocation.revoked])
            case .text:
                print("revocation list: \(revocation.revocationList) (\(revocation.revoked.count) certificate\(revocation.revoked.count == 1 ? "" : "s") revoked)")
                for serial in revocation.added { print("revoked:         serial \(serial)") }
                if revocation.added.isEmpty { print("(every serial named was revoked already)") }
                print("next: copy it to every node as tls.crl and reload them (SIGHUP)")
            }
        }
    }
}

private func report(_ files: FederationPKI.IssuedFiles, _ cert: Certificate, _ format: OutputFormat) {
    let formatter = ISO8601DateFormatter()
    switch format {
    case .json:
        printJSON(["certificate": files.certificate, "key": files.key, "ca_certificate": files.caCertificate,
                   "common_name": cert.commonName ?? "", "uris": cert.uriNames,
                   "not_before": formatter.string(from: cert.notBefore), "not_after": formatter.string(from: cert.notAfter)])
    case .text:
        print("certificate: \(files.certificate) (\(cert.commonName ?? "?"), valid until \(formatter.string(from: cert.notAfter)))")
        print("key:         \(files.key) (keep it secret)")
        if files.caCertificate != files.certificate { print("CA:          \(files.caCertificate)") }
        for uri in cert.uriNames { print("identity:    \(uri)") }
    }
}
