import ArgumentParser
import Foundation
import QuartetCrypto
import QuartetLedger
import QuartetNode
import QuartetStore
import QuartetPolicy

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

                Before signing, prints every change from the version in use, field by field \
                (members and data owners added or removed; roles, logs, log keys, current keys, \
                witness keys, revocations, addresses, owner keys and labels): give that version \
                with --accepted (the node's DATA/federation.accepted.json), or --no-previous for a \
                federation's first version (every field is then printed as new). One of the two is \
                required: a member signs the file's SHA-256, so what it has not reviewed it signs \
                unseen. If the version in use has signatures beside it (FILE.sig, as a node's \
                federation.accepted.json has), they must be a quorum of its members, or nothing \
                is signed; an unsigned one is flagged.

                FILE is read once: the bytes printed are the bytes signed, and the output names \
                their sha256. --sha256 HEX (the digest `quartet federation show` printed when the \
                file was reviewed) refuses to sign unless the file read is that one.
                """)

        @Option(help: "The federation file.") var file: String
        @Option(help: "The member (node id) who signs.") var member: String
        @Option(help: "The member's data directory (its log key is read from keys/LOG.pem).") var data: String?
        @Option(help: "The member's log signing key (PKCS#8 PEM), instead of --data.") var key: String?
        @Flag(help: "Discard the signatures FILE.sig holds and start it again.") var fresh = false
        @Option(help: "The version in use (e.g. DATA/federation.accepted.json): the changes from it are printed before signing.") var accepted: String?
        @Flag(name: .customLong("no-previous"), help: "This is the federation's first version: there is none to compare with.") var noPrevious = false
        @Option(help: "The sha256 of the file as reviewed (`quartet federation show` prints it): sign only if FILE is still that file.") var sha256: String?
        @OptionGroup var output: FormatOptions

        func run() async throws {
            guard (data == nil) != (key == nil) else { throw ValidationError("give one of --data and --key") }
            guard (accepted == nil) == noPrevious else {
                throw ValidationError(noPrevious
                    ? "give one of --accepted and --no-previous"
                    : "give --accepted FILE, the federation file in use (a node's DATA/federation.accepted.json), to see what this version changes before signing it; or --no-previous if it is the federation's first version")
            }
            // Read once: these bytes are printed and signed (FederationTrust.sign does not read
            // FILE again), so a file changed meanwhile is never signed unseen.
            let unsigned = try FederationTrust.read(file, signatures: false)
            if let sha256 { try FederationTrust.checkPinned(unsigned.bytes, sha256: sha256) }
            let digest = Hex.encode(SHA256.hash(unsigned.bytes))
            let review = try FederationChanges(proposed: unsigned, acceptedPath: accepted)
            if output.format == .text { review.printText() }
            guard let me = unsigned.federation.member(member) else {
                throw CLIError("\(file) lists no member \(member) (it lists \(unsigned.federation.members.map(\.id).joined(separator: ", ")))")
            }
            let signingKey: Ed25519PrivateKey
            if let data {
                signingKey = try DataDirectory(path: data).readSigningKey(log: me.log)
                // The logs this member holds, followed under the file to be signed: a rotation
                // the file disowns stops every member's chain there. Meant after a theft (the
                // thief's rotation); otherwise a key the file should still name (docs/operations.md).
                for problem in VerifyCommand.federationProblems(DataDirectory(path: data), unsigned.federation) where problem.index != nil {
                    FileHandle.standardError.write(Data(TerminalText.escaped("warning: log \(problem.log ?? "?"), entry \(problem.index ?? 0): \(problem.message) — if no key of it was stolen, the file must name or revoke that key before it is signed\n").utf8))
                }
            } else {
                signingKey = try SigningKeyFile.read(key!)
            }
            let note = try FederationTrust.sign(unsigned, member: member, key: signingKey, fresh: fresh)
            let federation = unsigned.federation
            let signers = FederationTrust.signers(of: note, among: federation)
            let needed = FederationTrust.quorum(of: federation.members.count)
            switch output.format {
            case .json:
                var object: [String: Any] = ["file": file, "signatures": FederationTrust.signaturePath(of: file), "version": federation.version,
                                             "sha256": digest, "signed_by": signers, "quorum": needed]
                review.addJSON(to: &object)
                printJSON(object)
            case .text:
                print(TerminalText.escaped("signed \(file) version \(federation.version) sha256 \(digest) as \(member): \(FederationTrust.signaturePath(of: file))"))
                print("signed by \(signers.joined(separator: ", ")) (\(signers.count) of \(federation.members.count); a first start needs \(needed))")
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
                now in use), FILE must be newer and signed by a quorum of that version's members. \
                With --config, FILE must also be one that node can take: at a reload, no change \
                from the version its data directory accepted that needs a restart (a member's \
                log, log key or role, the aggregator, the data owners); and with the logs its \
                data directory holds (no new log under a held log's origin or key, its own log \
                held as its own): what serve and a reload check before keeping a file.
                """)

        @Option(help: "The federation file.") var file: String
        @Option(help: "The version a node accepted before (e.g. DATA/federation.accepted.json).") var accepted: String?
        @Option(help: "A node's configuration: FILE must also be one this node can take with the logs its data directory holds (as serve and a reload check).") var config: String?
        @OptionGroup var output: FormatOptions

        struct NotAdmissible: Error, CustomStringConvertible { let description: String }

        func run() async throws {
            let signed = try FederationTrust.read(file)
            let previous = try accepted.map { path in
                // A version a node accepted: read by the rules it was accepted under (finding 215).
                let old = try FederationTrust.read(path, signatures: false, accepted: true)
                return (federation: old.federation, bytes: old.bytes)
            }
            let node = try config.map { try NodeConfiguration.load(path: $0) }
            do {
                let signers = try FederationTrust.check(file: signed.bytes, federation: signed.federation, note: signed.note, accepted: previous)
                // In Node.reload's order: the signatures, what changes from the version in
                // force (the accepted file), then the logs held.
                if let node, let conflict = try FederationTrust.reloadConflict(of: signed.federation, dataDirectory: node.dataDirectory, node: node.node) {
                    throw NotAdmissible(description: "node \(node.node) would refuse it at a reload: \(conflict)")
                }
                if let node, let problem = try FederationTrust.admissibility(of: signed.federation, dataDirectory: node.dataDirectory, ownLog: node.log) {
                    throw NotAdmissible(description: "node \(node.node) would refuse it: \(problem)")
                }
                switch output.format {
                case .json:
                    printJSON(["file": file, "accepted": true, "version": signed.federation.version, "signed_by": signers] as [String: Any])
                case .text:
                    print("\(file): version \(signed.federation.version) would be accepted; signed by \(signers.joined(separator: ", "))")
                }
            } catch {
                let reason = String(describing: error)
                switch output.format {
                case .json: printJSON(["file": file, "accepted": false, "reason": reason] as [String: Any])
                // The reason quotes the file's own text (a name from its signatures): escaped,
                // so a crafted file cannot redraw the screen to read as accepted.
                case .text: FileHandle.standardError.write(Data((TerminalText.escaped("\(file): refused: \(reason)") + "\n").utf8))
                }
                throw ExitCode(1)
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show", abstract: "Print every field of the federation file that decides trust, its signers, and what it changes.",
            discussion: """
                Prints the federation's name and version, every member's id, role, log, log key \
                (vkey), current_vkey, witness key, revoked keys, peer and api, every data owner's \
                key and labels, and who signed. With --accepted (the version in use, e.g. a node's \
                DATA/federation.accepted.json), also every change from that version, field by field \
                ("no change" if there is none): what a member reviews before signing (`sign` prints \
                the same).
                """)

        @Option(help: "The federation file.") var file: String
        @Option(help: "The version in use (e.g. DATA/federation.accepted.json): print the changes from it.") var accepted: String?
        @OptionGroup var output: FormatOptions

        func run() async throws {
            let signed = try FederationTrust.read(file)
            let federation = signed.federation
            let digest = Hex.encode(SHA256.hash(signed.bytes))
            let signers = signed.note.map { FederationTrust.signers(of: $0, among: federation) } ?? []
            let stated = signed.note.flatMap { FederationTrust.Statement(text: $0.text) }
            let matches = stated == FederationTrust.Statement(file: signed.bytes, federation: federation)
            let review = try accepted.map { try FederationChanges(proposed: signed, acceptedPath: $0) }
            switch output.format {
            case .json:
                var object: [String: Any] = [
                    "federation": federation.name, "version": federation.version, "sha256": digest,
                    "members": federation.members.map { member -> [String: Any] in
                        var entry: [String: Any] = ["id": member.id, "role": member.role.rawValue, "log": member.log, "peer": "\(member.peer)",
                                                    "api": member.api, "vkey": member.verifier.vkey]
                        if let current = member.current { entry["current_vkey"] = current.vkey }
                        if let witness = member.witness { entry["witness"] = witness.vkey }
                        entry["revoked"] = FederationReview.revocations(of: member).map { ["vkey": $0.vkey, "after": $0.after] as [String: Any] }
                        return entry
                    },
                    "owners": FederationReview.ownerIDs(of: federation).map { id -> [String: Any] in
                        var entry: [String: Any] = ["id": id, "labels": (federation.labels.patterns[id] ?? []).sorted()]
                        if let key = federation.owners[id] { entry["vkey"] = key.vkey }
                        let history = federation.ownerHistory[id] ?? OwnerHistory()
                        entry["statements"] = history.statements
                        entry["retired"] = history.retired
                        return entry
                    },
                    "signed_by": matches ? signers : [], "signatures_match_file": matches, "quorum": FederationTrust.quorum(of: federation.members.count),
                ]
                review?.addJSON(to: &object)
                printJSON(object)
            case .text:
                print(TerminalText.escaped("federation \(federation.name), version \(federation.version), sha256 \(digest)"))
                for line in FederationReview.lines(of: federation).dropFirst() { print(TerminalText.escaped(line)) }
                if signed.note == nil {
                    print("not signed (no \(FederationTrust.signaturePath(of: file)))")
                } else if !matches {
                    print("the signatures in \(FederationTrust.signaturePath(of: file)) are not over this file (it changed after signing)")
                } else {
                    print("signed by \(signers.joined(separator: ", ")) (\(signers.count) of \(federation.members.count); a first start needs \(FederationTrust.quorum(of: federation.members.count)))")
                }
                review?.printText()
            }
        }
    }
}

/// What a federation file changes from the version in use (or, with none, every field as new):
/// printed by `federation show --accepted` and by `federation sign` before it signs.
struct FederationChanges {
    let proposed: FederationTrust.SignedFile
    /// The version in use, as read; nil for a first version (`sign --no-previous`).
    let accepted: FederationTrust.SignedFile?
    let changes: [FederationReview.Change]
    /// Who signed the version in use (a quorum of its own members); nil when it has no
    /// signatures beside it (or there is none).
    let acceptedSigners: [String]?
    /// Why the version in use's signatures do not show a quorum of its own members, if so.
    let baselineDoubt: String?

    init(proposed: FederationTrust.SignedFile, acceptedPath: String?) throws {
        self.proposed = proposed
        let accepted = try acceptedPath.map { try FederationTrust.read($0, accepted: true) }
        // A baseline handed over with a change could be made up to hide what it changes: its
        // signatures, where it has them (a node's federation.accepted.json does), are checked.
        // Not a refusal: a node accepted it on the quorum of the version before, which is not
        // kept, so a version that changed most members can fail this check honestly; said
        // loudly instead, before anything is signed.
        var doubt: String?
        if let accepted {
            let checked: (signers: [String], quorum: Bool)?
            do { checked = try FederationTrust.checkBaseline(file: accepted.bytes, federation: accepted.federation, note: accepted.note) } catch {
                throw CLIError("--accepted \(accepted.path): refused as the version in use: \(error.description) (\(FederationTrust.signaturePath(of: accepted.path))); compare with a node's DATA/federation.accepted.json")
            }
            acceptedSigners = checked?.signers
            if let checked, !checked.quorum {
                let needed = FederationTrust.quorum(of: accepted.federation.members.count)
                doubt = "the version in use (\(accepted.path)) is signed by \(checked.signers.isEmpty ? "none" : checked.signers.joined(separator: ", ")) of its own \(accepted.federation.members.count) members, fewer than \(needed): a node may have accepted it on the quorum of the version before (after a change of most members), but compare it with a node's DATA/federation.accepted.json before trusting this review"
            }
        } else {
            acceptedSigners = nil
        }
        baselineDoubt = doubt
        self.accepted = accepted
        changes = FederationReview.diff(from: accepted?.federation, to: proposed.federation)
    }

    /// Said when the version in use has no signatures: nothing shows a quorum took it.
    var unsignedBaseline: String? {
        if let baselineDoubt { return baselineDoubt }
        guard let accepted, acceptedSigners == nil else { return nil }
        return "the version in use (\(accepted.path)) is unsigned (no \(FederationTrust.signaturePath(of: accepted.path))): nothing shows the members accepted it; the changes are only as true as it is (a node's DATA/federation.accepted.json has its signatures beside it)"
    }

    /// Why nodes that accepted `accepted` would refuse the file whatever its signatures, if so.
    var refusedByNodes: String? {
        guard let accepted else { return nil }
        let old = accepted.federation, new = proposed.federation
        switch FederationTrust.succession(proposed.bytes, new, after: (old, accepted.bytes)) {
        case .otherFederation?: return "the file is for federation \(new.name), but the version in use is for \(old.name): nodes will refuse it"
        case .older?: return "version \(new.version) is older than version \(old.version) in use: nodes will refuse it"
        case .sameVersionOtherBytes?: return "the file differs from version \(old.version) in use under the same version number: nodes will refuse it (raise \"version\")"
        case nil: return new.ownersConflict(after: old).map { "\($0): nodes will refuse it" }
        }
    }

    func printText() {
        if let accepted {
            let what = changes.isEmpty ? " no change" : ""
            if let unsignedBaseline { print(TerminalText.escaped("warning: \(unsignedBaseline)")) }
            print(TerminalText.escaped("changes from version \(accepted.federation.version) (\(accepted.path)) to version \(proposed.federation.version):\(what)"))
            if !changes.isEmpty { for line in FederationReview.lines(of: changes) { print(TerminalText.escaped("  \(line)")) } }
            if let refusedByNodes { print(TerminalText.escaped("warning: \(refusedByNodes)")) }
        } else {
            print(TerminalText.escaped("no previous version (--no-previous): every field of version \(proposed.federation.version) is new"))
            for line in FederationReview.lines(of: changes) { print(TerminalText.escaped("  \(line)")) }
        }
    }

    func addJSON(to object: inout [String: Any]) {
        object["accepted_version"] = accepted.map { $0.federation.version as Any } ?? NSNull()
        if accepted != nil {
            object["accepted_signed_by"] = acceptedSigners.map { $0 as Any } ?? NSNull()
            if let unsignedBaseline { object["accepted_warning"] = unsignedBaseline }
        }
        object["changes"] = changes.map { change -> [String: Any] in
            var entry: [String: Any] = ["kind": change.kind.rawValue]
            switch change.scope {
            case .federation: entry["scope"] = "federation"
            case .member(let id): entry["scope"] = "member"; entry["id"] = id
            case .owner(let id): entry["scope"] = "owner"; entry["id"] = id
            }
            if let field = change.field { entry["field"] = field }
            if let old = change.old { entry["old"] = old }
            if let new = change.new { entry["new"] = new }
            return entry
        }
        if let refusedByNodes { object["warning"] = refusedByNodes }
    }
}
