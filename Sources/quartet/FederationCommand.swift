import ArgumentParser
import Foundation
import QuartetCrypto
import QuartetLedger
import QuartetNode
import QuartetStore

/// `quartet federation sign|verify|show`: the signed, versioned federation file
/// (docs/security.md, "Membership"; docs/operations.md, "Changing the federation").
struct FederationCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "federation", abstract: "Sign, verify and show the federation file (members sign; a quorum must).",
        subcommands: [Sign.self, Verify.self, Show.self])

    struct Sign: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sign", abstract: "Add a member's signature to FILE.sig (made with the member's log key).",
            discussion: """
                Each member's operator signs the file as it is, on the member's own host, with its \
                log's signing key (--data: the node's data directory, whose keys/LOG.pem is used; or \
                --key PEM). The signatures collect in FILE.sig, which travels with the file; a node \
                accepts the file once more than half of the members it trusts (those of the version \
                it accepted last) have signed. Raise "version" for every change. --fresh starts \
                FILE.sig again (after the file changed).
                """)

        @Option(help: "The federation file.") var file: String
        @Option(help: "The member (node id) who signs.") var member: String
        @Option(help: "The member's data directory (its log key is read from keys/LOG.pem).") var data: String?
        @Option(help: "The member's log signing key (PKCS#8 PEM), instead of --data.") var key: String?
        @Flag(help: "Discard the signatures FILE.sig holds and start it again.") var fresh = false
        @OptionGroup var output: FormatOptions

        func run() async throws {
            guard (data == nil) != (key == nil) else { throw ValidationError("give one of --data and --key") }
            let unsigned = try FederationTrust.read(file, signatures: false)
            guard let me = unsigned.federation.member(member) else {
                throw CLIError("\(file) lists no member \(member) (it lists \(unsigned.federation.members.map(\.id).joined(separator: ", ")))")
            }
            let signingKey: Ed25519PrivateKey
            if let data {
                signingKey = try DataDirectory(path: data).readSigningKey(log: me.log)
            } else {
                let pem: String
                do { pem = try RegularFile.readText(key!, limit: 65_536) } catch { throw CLIError("--key: \(key!): \(error)") }
                signingKey = try Ed25519PrivateKey(pem: pem)
            }
            let note = try FederationTrust.sign(file: file, member: member, key: signingKey, fresh: fresh)
            let signed = try FederationTrust.read(file)
            let signers = FederationTrust.signers(of: note, among: signed.federation)
            let needed = FederationTrust.quorum(of: signed.federation.members.count)
            switch output.format {
            case .json:
                printJSON(["file": file, "signatures": FederationTrust.signaturePath(of: file), "version": signed.federation.version,
                           "signed_by": signers, "quorum": needed] as [String: Any])
            case .text:
                print("signed \(file) version \(signed.federation.version) as \(member): \(FederationTrust.signaturePath(of: file))")
                print("signed by \(signers.joined(separator: ", ")) (\(signers.count) of \(signed.federation.members.count); a first start needs \(needed))")
                print("(counted by this file's keys; a node counts them by the version it accepted before: `quartet federation verify --accepted` checks that)")
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify", abstract: "Check FILE.sig as a node would: exit 0 if a node would accept FILE.",
            discussion: """
                Without --accepted, FILE is checked as on a node's first start (a quorum of its own \
                members). With --accepted (a node's DATA/federation.accepted.json, or the version \
                now in use), FILE must be newer and signed by a quorum of that version's members.
                """)

        @Option(help: "The federation file.") var file: String
        @Option(help: "The version a node accepted before (e.g. DATA/federation.accepted.json).") var accepted: String?
        @OptionGroup var output: FormatOptions

        func run() async throws {
            let signed = try FederationTrust.read(file)
            let previous = try accepted.map { path in
                let old = try FederationTrust.read(path, signatures: false)
                return (federation: old.federation, bytes: old.bytes)
            }
            do {
                let signers = try FederationTrust.check(file: signed.bytes, federation: signed.federation, note: signed.note, accepted: previous)
                switch output.format {
                case .json:
                    printJSON(["file": file, "accepted": true, "version": signed.federation.version, "signed_by": signers] as [String: Any])
                case .text:
                    print("\(file): version \(signed.federation.version) would be accepted; signed by \(signers.joined(separator: ", "))")
                }
            } catch {
                switch output.format {
                case .json: printJSON(["file": file, "accepted": false, "reason": error.description] as [String: Any])
                case .text: FileHandle.standardError.write(Data("\(file): refused: \(error.description)\n".utf8))
                }
                throw ExitCode(1)
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Print the federation file's version, members, owners and signers.")

        @Option(help: "The federation file.") var file: String
        @OptionGroup var output: FormatOptions

        func run() async throws {
            let signed = try FederationTrust.read(file)
            let federation = signed.federation
            let digest = Hex.encode(SHA256.hash(signed.bytes))
            let signers = signed.note.map { FederationTrust.signers(of: $0, among: federation) } ?? []
            let stated = signed.note.flatMap { FederationTrust.Statement(text: $0.text) }
            let matches = stated == FederationTrust.Statement(file: signed.bytes, federation: federation)
            switch output.format {
            case .json:
                printJSON([
                    "federation": federation.name, "version": federation.version, "sha256": digest,
                    "members": federation.members.map { member -> [String: Any] in
                        var entry: [String: Any] = ["id": member.id, "role": member.role.rawValue, "log": member.log, "peer": "\(member.peer)", "api": member.api, "vkey": member.verifier.vkey]
                        if let current = member.current { entry["current_vkey"] = current.vkey }
                        return entry
                    },
                    "owners": federation.owners.keys.sorted(),
                    "signed_by": matches ? signers : [], "signatures_match_file": matches, "quorum": FederationTrust.quorum(of: federation.members.count),
                ] as [String: Any])
            case .text:
                print(TerminalText.escaped("federation \(federation.name), version \(federation.version), sha256 \(digest)"))
                for member in federation.members {
                    let current = member.current.map { ", signs with \($0.vkey) (rotated)" } ?? ""
                    print(TerminalText.escaped("  \(member.id) (\(member.role.rawValue)) log \(member.log), peer \(member.peer), api \(member.api)\(current)"))
                }
                if !federation.owners.isEmpty { print("data owners: \(federation.owners.keys.sorted().joined(separator: ", "))") }
                if signed.note == nil {
                    print("not signed (no \(FederationTrust.signaturePath(of: file)))")
                } else if !matches {
                    print("the signatures in \(FederationTrust.signaturePath(of: file)) are not over this file (it changed after signing)")
                } else {
                    print("signed by \(signers.joined(separator: ", ")) (\(signers.count) of \(federation.members.count); a first start needs \(FederationTrust.quorum(of: federation.members.count)))")
                }
            }
        }
    }
}
