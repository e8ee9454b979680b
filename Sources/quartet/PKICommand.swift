import ArgumentParser
import Foundation
import QuartetCrypto

struct PKICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pki", abstract: "The federation's certificate authority, certificate requests and certificates.",
                                                    subcommands: [Init.self, Issue.self, Request.self, Sign.self])

    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "init", abstract: "Create the federation CA (ECDSA P-256): ca.pem and ca.key (0600).")

        @Option(help: "Directory for ca.pem and ca.key.") var out: String
        @Option(help: "Days the CA is valid.") var days: Int = 3650
        @Option(help: "The CA's common name.") var name = "Quartet federation CA"
        @OptionGroup var output: FormatOptions

        func run() async throws {
            guard days > 0 else { throw ValidationError("--days must be positive") }
            let files = try FederationPKI.createAuthority(in: out, commonName: name, days: days)
            let cert = try Certificate(pem: String(contentsOfFile: files.certificate, encoding: .utf8))
            report(files, cert, output.format)
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
        @Option(help: "Days the certificate is valid.") var days: Int = 365
        @OptionGroup var output: FormatOptions

        func run() async throws {
            guard days > 0 else { throw ValidationError("--days must be positive") }
            let identity = try chosenIdentity(node: node, operatorLog: operatorLog, reader: reader, auditor: auditor)
            let files = try FederationPKI.issue(identity, caDirectory: ca, in: out, days: days)
            let cert = try Certificate(pem: String(contentsOfFile: files.certificate, encoding: .utf8))
            report(files, cert, output.format)
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
