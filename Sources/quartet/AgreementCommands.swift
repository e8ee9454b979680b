import ArgumentParser
import Foundation
import QuartetAPI
import QuartetCrypto
import QuartetLedger
import QuartetNode
import QuartetPlan
import QuartetPolicy

// (Over ~350 lines: the `quartet agreement` subcommands and `quartet audit` (which judges each
// disclosure record against the agreement's signed terms) share their output types: one command
// group per file, as the CLI lists them.)

struct AgreementCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agreement",
        abstract: "Data-sharing agreements: a data owner's key, countersigning, putting them on the ledger, listing them.",
        discussion: """
            A data owner makes a key once (keygen) and gives its verifier key to the federation \
            (the federation file's "owners"). For each agreement the owner signs the agreement text \
            (sign); the holder appends the signed note to its own log (establish) and may revoke it \
            (revoke). Nodes honour only agreements countersigned by the owner's pinned key. \
            See docs/agreements.md. Restricted data itself is not accepted yet.
            """,
        subcommands: [AgreementKeygen.self, AgreementSign.self, AgreementOwnerChange.self, AgreementEstablish.self, AgreementRevoke.self, AgreementList.self])
}

struct AgreementKeygen: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "keygen", abstract: "A data owner's Ed25519 key (PEM, mode 0600) and its verifier key.")
    @Option(help: "The data owner's id, e.g. HEIW.") var owner: String
    @Option(help: "Where to write OWNER.pem.") var out: String
    @OptionGroup var output: FormatOptions

    func run() throws {
        guard Names.isOwner(owner) else { throw ValidationError("--owner must be A-Z, 0-9 and '-' (e.g. HEIW)") }
        // (Made, its entry synced into its parent, by the check.)
        try OwnDirectory.prepare(out, option: "--out")
        let path = (out as NSString).appendingPathComponent("\(owner).pem")
        guard !FileManager.default.fileExists(atPath: path) else { throw CLIError("\(path) exists; not overwriting a data owner's key") }
        let key = try Ed25519PrivateKey()
        // Durably (file and folder synced) and never over a file made meanwhile: the key its
        // printed vkey names is the owner's only one.
        do { try RegularFile.writeDurably(Array(try key.pemRepresentation().utf8), to: path, mode: 0o600) } catch {
            throw CLIError("cannot write \(path): \(error)")
        }
        let vkey = NoteVerifier(name: owner, publicKey: key.publicKey).vkey
        switch output.format {
        case .json: printJSON(OwnerKeyOutput(owner: owner, key: path, vkey: vkey))
        case .text:
            print("key: \(path) (keep it with the data owner)")
            print("add to the federation file's \"owners\": {\"id\": \"\(owner)\", \"vkey\": \"\(vkey)\", \"labels\": [\"<the owner's labels, or a prefix such as \(owner.lowercased()).*>\"]}")
        }
    }
}

struct AgreementSign: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign", abstract: "As the data owner, countersign an agreement: prints it as a signed note.")
    @Option(help: "The data owner's key (from keygen).") var key: String
    @Option(help: "The data owner's id.") var owner: String
    @Option(help: "The agreement's id.") var id: String
    @Option(help: "The node that holds the data.") var holder: String
    @Option(help: "A data label covered (repeat).") var label: [String]
    @Option(help: "NODE=full|aggregate|none (repeat).") var recipient: [String]
    @Option(help: "Why the data is shared.") var purpose: String
    @Option(help: "In force from (UTC, 2025-01-01T00:00:00Z).") var validFrom: String
    @Option(help: "In force until, exclusive (UTC).") var validUntil: String
    @Option(help: "The smallest count an aggregate may publish.") var minCellSize: Int
    @Option(help: "The base published counts are rounded to (2-1000).") var rounding: Int = 5
    @Option(help: "Write the signed note here instead of standard output.") var out: String?

    func run() throws {
        var recipients: [String: Access] = [:]
        for item in recipient {
            let parts = item.split(separator: "=").map(String.init)
            guard parts.count == 2, let access = Access(rawValue: parts[1]) else { throw ValidationError("--recipient expects NODE=full|aggregate|none, got \(item)") }
            // The agreement's text refuses a recipient twice; the owner must not sign the last one
            // given thinking it signed the first.
            guard recipients[parts[0]] == nil else { throw ValidationError("--recipient \(parts[0]) is given twice") }
            recipients[parts[0]] = access
        }
        if let scalar = purpose.unicodeScalars.first(where: { ShownText.isControl($0) }) {
            throw ValidationError("--purpose holds a control character (U+\(String(scalar.value, radix: 16, uppercase: true))); the agreement is one line of text per field")
        }
        guard let from = Timestamp.parse(validFrom) else { throw ValidationError("--valid-from expects a UTC time like 2025-01-01T00:00:00Z") }
        guard let until = Timestamp.parse(validUntil) else { throw ValidationError("--valid-until expects a UTC time like 2027-01-01T00:00:00Z") }
        let agreement = Agreement(id: id, owner: owner, holder: holder, labels: label, recipients: recipients, purpose: purpose,
                                  validFrom: from, validUntil: until, minCellSize: minCellSize, rounding: rounding)
        // Check it as a node will.
        do { _ = try Agreement(text: agreement.text) } catch { throw CLIError(error.message) }
        // The owner's choice, but said before it is signed.
        if let weaker = (try? Suppression.Method(minCellSize: minCellSize, rounding: rounding))?.belowNHSPractice {
            FileHandle.standardError.write(Data("warning: \(weaker)\n".utf8))
        }
        let note = try NoteSigner(name: owner, key: try SigningKeyFile.read(key)).sign(text: agreement.text)
        if let out {
            do { try RegularFile.writeDurably(Array(note.serialized.utf8), to: out, mode: 0o644, replacing: true) } catch {
                throw CLIError("cannot write \(out): \(error)")
            }
        } else {
            print(note.serialized, terminator: "")
        }
    }
}

struct AgreementOwnerChange: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "owner-change",
        abstract: "As the data owner, sign a change of its own entry in the federation file (a new key, other labels).",
        discussion: """
            Signed with the key the owner holds now (the one the federation file names), naming \
            the key and labels it holds after, for this federation and as the next of the owner's \
            statements. Add the note printed to the owner's "statements" in the federation file \
            (after those already there), set its "vkey" and "labels" to what the note names and \
            raise "version": nodes take a change of an owner's key or labels only so. Agreements \
            the old key signed are withdrawn when the file is in force (docs/agreements.md).
            """)
    @Option(help: "The federation file as in force (its name, the owner's entry and statements are read from it).") var federation: String
    @Option(help: "The data owner's key now (the one the federation file names).") var key: String
    @Option(help: "The data owner's id.") var owner: String
    @Option(help: "The owner's verifier key after the change (default: unchanged).") var newVkey: String?
    @Option(help: "A label or prefix (heiw.*) the owner holds after the change (repeat: all of them, changed or not; required).") var label: [String] = []
    @OptionGroup var output: FormatOptions

    func run() throws {
        guard Names.isOwner(owner) else { throw ValidationError("--owner must be A-Z, 0-9 and '-' (e.g. HEIW)") }
        let file = try FederationTrust.read(federation, signatures: false).federation
        guard let current = file.owners[owner] else { throw CLIError("\(federation) lists no data owner \(owner)") }
        if file.ownerHistory[owner]?.retired == true { throw CLIError("data owner \(owner) is retired in \(federation); a retired owner does not change") }
        let signer = try NoteSigner(name: owner, key: try SigningKeyFile.read(key))
        guard signer.verifier == current else {
            throw CLIError("--key is not \(owner)'s key in \(federation) (\(current.vkey)): a change is signed by the key the nodes hold")
        }
        let next: NoteVerifier
        if let newVkey {
            do { next = try NoteVerifier(vkey: newVkey) } catch { throw ValidationError("--new-vkey: \(error)") }
            guard next.name == owner else { throw ValidationError("--new-vkey is named \(next.name); the owner's keys are named \(owner)") }
        } else {
            next = current
        }
        // Named by the owner, never copied from the file: the file is not checked here (a copy
        // changed on its way to the owner would have it sign its labels away, looking
        // unchanged, and members would then see the owner's own statement behind the change).
        guard !label.isEmpty else {
            throw CLIError("--label: name every label or prefix \(owner) holds after the change (repeat it; now, by \(federation): \((file.labels.patterns[owner] ?? []).joined(separator: ", "))); the file's list is not signed on its word")
        }
        let labels = label
        let history = file.ownerHistory[owner] ?? OwnerHistory()
        let statement = OwnerStatement(federation: file.name, owner: owner, sequence: OwnerHistory.nextSequence(after: history),
                                       from: current, key: next, labels: labels)
        let note = try signer.sign(text: statement.text)
        // Checked as a node will read the file with it.
        do {
            _ = try OwnerHistory.verify(federation: file.name, owner: owner, key: next, labels: labels,
                                        notes: history.statements + [note.serialized], retired: false)
        } catch {
            throw CLIError(error.message)
        }
        switch output.format {
        case .json: printJSON(OwnerChangeOutput(owner: owner, from: current.vkey, vkey: next.vkey, labels: labels, statement: note.serialized))
        case .text:
            print(note.serialized, terminator: "")
            FileHandle.standardError.write(Data("add it to \(owner)'s \"statements\" as a JSON string, set \"vkey\" to \(next.vkey) and \"labels\" to [\(labels.map { "\"\($0)\"" }.joined(separator: ", "))], and raise \"version\"\n".utf8))
        }
    }
}

struct OwnerChangeOutput: Encodable {
    let owner: String
    let from: String
    let vkey: String
    let labels: [String]
    let statement: String
}

struct AgreementEstablish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "establish", abstract: "As the holder's operator, append a countersigned agreement to the node's own log.")
    @Argument(help: "The signed note (from sign).") var file: String
    @OptionGroup var node: NodeClientOptions
    @OptionGroup var appendKey: AppendKeyOptions
    @OptionGroup var output: FormatOptions

    func run() async throws {
        let note: String
        // A signed note is at most `SignedNote.maxLength` bytes: a larger file (or a FIFO, a
        // device) is refused before it is read whole.
        do { note = try RegularFile.readText(file, limit: SignedNote.maxLength) } catch { throw CLIError("cannot read \(file): \(error)") }
        try await postEntry(AppendItem(type: "agreement.established", payload: ["note": .string(note)]), node: node, key: appendKey,
                            format: output.format, done: "agreement on the ledger as")
    }
}

struct AgreementRevoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "revoke", abstract: "As the holder's operator, revoke an agreement from now.")
    @Option(help: "The agreement's id.") var id: String
    @Option(help: "Why.") var reason: String
    @OptionGroup var node: NodeClientOptions
    @OptionGroup var appendKey: AppendKeyOptions
    @OptionGroup var output: FormatOptions

    func run() async throws {
        try await postEntry(AppendItem(type: "agreement.revoked", payload: ["id": .string(id), "reason": .string(reason)]), node: node, key: appendKey,
                            format: output.format, done: "revoked as")
    }
}

struct AgreementList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "The agreements a running node honours, and those it ignored.")
    @Option(help: "Seconds the whole audit may take (each request has --timeout; a node answering page after page, each just in time, is bounded by this).")
    var deadline: Int = 1800
    @OptionGroup var node: NodeClientOptions
    @OptionGroup var output: FormatOptions

    func validate() throws {
        guard (1...86_400).contains(deadline) else { throw ValidationError("--deadline must be from 1 to 86,400 seconds") }
    }

    func run() async throws {
        // The whole audit within --deadline: past it nothing is concluded (exit status 1).
        let watchdog = OverallDeadline.start(seconds: deadline, command: "audit")
        defer { watchdog.cancel() }
        let (client, configuration) = try node.client()
        let listing = try await api(configuration) { try await client.agreements() }
        if output.format == .json { printJSON(listing); return }
        for a in listing.agreements {
            let recipients = a.recipients.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            printEscaped("\(a.id)  \(a.status)  owner \(a.owner)  holder \(a.holder)  \(recipients)  \(a.validFrom) → \(a.validUntil)")
        }
        for i in listing.ignored {
            printEscaped("ignored \(i.log)/\(i.index): \(i.reason)")
        }
    }
}

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "For a data owner: every agreement of theirs and every disclosure of their data recorded on the ledger.",
        discussion: """
            Needs an auditor's credentials (quartet://auditor/NAME or an auditor token), or the holder's operator. \
            Each disclosure record is held against its agreement's signed terms (its holder's entries, to a recipient \
            at the access the agreement gives it, between its start and its end or revocation): one outside them is \
            marked and the audit exits with status 4. A record is its sender's statement, and the listing is the \
            node's: records it leaves out are not seen here (docs/agreements.md, What an audit proves).
            """)
    @Option(help: "The data owner, e.g. HEIW.") var owner: String
    @Flag(help: "Fail (exit status 3) unless each log holding the owner's records is covered by a checkpoint a quorum of witnesses cosigned. Without --policy this is the node's own account (docs/witness.md).")
    var requireWitnessed = false
    @Option(help: "A C2SP tlog-policy file you hold (`quartet policy` writes the federation's). Coverage is then checked here: each log's covering checkpoint against the policy's log key and quorum, and each listed record's entry, its inclusion in that checkpoint and what it says — not the node's summary. A listed record its entry does not bear out (refused, not in the checkpoint, saying something else) fails the audit with status 5; records it could not check (no checkpoint meeting the policy) with status 3, as --require-witnessed does.")
    var policy: String?
    @Option(help: "Seconds the whole audit may take (each request has --timeout; a node answering page after page, each just in time, is bounded by this).")
    var deadline: Int = 1800
    @OptionGroup var node: NodeClientOptions
    @OptionGroup var output: FormatOptions

    func validate() throws {
        guard (1...86_400).contains(deadline) else { throw ValidationError("--deadline must be from 1 to 86,400 seconds") }
    }

    func run() async throws {
        // The whole audit within --deadline: past it nothing is concluded (exit status 1).
        let watchdog = OverallDeadline.start(seconds: deadline, command: "audit")
        defer { watchdog.cancel() }
        let (client, configuration) = try node.client()
        let listing = try await api(configuration) { try await client.agreements() }
        // Owner ids are matched without case, as the node's access rule and pages match them;
        // an owner the federation does not know is a mistake to say, not an empty audit.
        let known = Set(listing.owners.map { $0.id.uppercased() }).union(listing.agreements.map { $0.owner.uppercased() })
        guard known.contains(owner.uppercased()) else {
            throw CLIError("--owner \(owner): no data owner of that id in the federation at \(configuration.node) (owners: \(listing.owners.map(\.id).sorted().joined(separator: ", ")))")
        }
        var report: [AuditOutput.Item] = []
        var seen = Set<String>()
        // Once per agreement id and holder (an agreement re-signed under its id is listed once
        // per signed copy; its records are the same).
        for agreement in listing.agreements where agreement.owner.uppercased() == owner.uppercased() && seen.insert(agreement.id + "\u{0}" + agreement.holder).inserted {
            let answer = try await api(configuration) { try await client.disclosures(agreement: agreement.id) }
            // The signed copies of this id and holder (an owner re-signs under the same id after
            // a key change): a record within a copy in force is within the agreement. One within
            // only a withdrawn copy (signed by a key the owner has changed from; its withdrawal
            // cannot be dated here) is marked so, not counted outside.
            func terms(_ a: AgreementBody) -> AuditJudgement.Terms {
                AuditJudgement.Terms(holder: a.holder, recipients: a.recipients, validFrom: a.validFrom, validUntil: a.validUntil, revoked: a.revoked?.time)
            }
            let copies = listing.agreements.filter { $0.id == agreement.id && $0.holder == agreement.holder }
            let inForce = copies.filter { $0.withdrawn == nil }.map(terms), withdrawn = copies.filter { $0.withdrawn != nil }.map(terms)
            let outside = answer.disclosures.compactMap { d -> AuditOutput.Outside? in
                let record = AuditJudgement.Record(log: d.log, sender: d.record.log, recipient: d.recipient, access: d.access, time: d.time)
                let problems = AuditJudgement.problems(record, underAnyOf: inForce.isEmpty ? withdrawn : inForce)
                guard !problems.isEmpty else { return nil }
                if !inForce.isEmpty, !withdrawn.isEmpty, AuditJudgement.problems(record, underAnyOf: withdrawn).isEmpty {
                    return AuditOutput.Outside(record: d.record, problems: ["within only a withdrawn copy of the agreement (its withdrawal cannot be dated here); under the copy in force: " + problems.joined(separator: "; ")],
                                               withdrawnOnly: true)
                }
                return AuditOutput.Outside(record: d.record, problems: problems)
            }
            report.append(AuditOutput.Item(agreement: agreement, disclosures: answer.disclosures, purges: answer.purges, outside: outside))
        }
        // The logs the records are in, and how far: each must be covered by a checkpoint a
        // quorum of the log's witnesses cosigned, or an outsider has only this node's word.
        var needed: [String: UInt64] = [:]
        for item in report {
            // (An index is the node's word: one at UInt64.max must not trap the count.)
            for r in item.disclosures.map(\.record) + item.purges.map(\.record) { needed[r.log] = max(needed[r.log] ?? 0, min(r.index, UInt64.max - 1) + 1) }
        }
        var witnessing: [String: AuditOutput.Witnessing] = [:]
        var contradicted: [String] = []
        if let policy {
            let parsed = try VerifyCheckpointCommand.readPolicy(policy)
            let coverage = AuditCoverage(client: client, policy: parsed)
            for (log, upTo) in needed.sorted(by: { $0.key < $1.key }) {
                var records: [AuditCoverage.Expected] = []
                for item in report {
                    records += item.disclosures.filter { $0.record.log == log }.map { .init(index: $0.record.index, agreement: item.agreement.id, disclosure: $0) }
                    records += item.purges.filter { $0.record.log == log }.map { .init(index: $0.record.index, agreement: item.agreement.id, purge: $0) }
                }
                let r = await coverage.check(log: log, upTo: upTo, records: records)
                witnessing[log] = AuditOutput.Witnessing(recordsUpTo: upTo, size: r.size, witnesses: r.witnesses, of: parsed.witnesses.count,
                                                         covered: r.problem == nil, checkedBy: "policy", recordsChecked: r.checked, problem: r.problem)
                if r.contradicted { contradicted.append(log) }
            }
        } else {
            let logs = needed.isEmpty ? [] : try await api(configuration) { try await client.logs() }.logs
            for (log, upTo) in needed {
                let w = logs.first { $0.log == log }?.witnessed
                witnessing[log] = AuditOutput.Witnessing(recordsUpTo: upTo, size: w?.size, witnesses: w?.witnesses ?? [], of: w?.of ?? 0,
                                                         covered: w.map { $0.quorum && $0.size >= upTo } ?? false, checkedBy: "node")
            }
        }
        if output.format == .json {
            printJSON(AuditOutput(owner: owner, agreements: report, witnessing: witnessing))
        } else {
            printText(report, witnessing: witnessing, node: configuration.node)
        }
        let outside = report.reduce(0) { $0 + $1.outside.filter { !$0.withdrawnOnly }.count }
        if outside > 0 {
            FileHandle.standardError.write(Data(("quartet audit: \(outside) disclosure record\(outside == 1 ? "" : "s") outside the agreement's signed terms (listed above)\n").utf8))
        }
        let uncovered = witnessing.filter { !$0.value.covered }.keys.sorted()
        // With a policy file the check is this command's own: records it could not check fail it
        // (a node serving a checkpoint short of the quorum skipped every record check).
        let coverageAsked = requireWitnessed || policy != nil
        if coverageAsked && !uncovered.isEmpty {
            FileHandle.standardError.write(Data((TerminalText.escaped("quartet audit: the records in \(uncovered.joined(separator: ", ")) are not covered by a checkpoint a quorum of witnesses cosigned"
                                                                        + (policy == nil ? "" : " (checked against \(policy!))")) + "\n").utf8))
        }
        if !contradicted.isEmpty {
            FileHandle.standardError.write(Data((TerminalText.escaped("quartet audit: in \(contradicted.joined(separator: ", ")) the node lists records its signed ledger does not bear out (checked against \(policy ?? "your policy")): its listing is not to be trusted") + "\n").utf8))
        }
        let status = Self.exitStatus(contradicted: !contradicted.isEmpty, outside: outside, uncovered: !uncovered.isEmpty, requireWitnessed: coverageAsked)
        if status != 0 { throw ExitCode(status) }
    }

    /// The audit's exit status: a listing the signed ledger contradicts (5: the node misstates
    /// its records, which can hide one outside its terms) before records outside their agreement
    /// (4), and those before records not shown witnessed (3, asked for with
    /// `--require-witnessed`); 0 otherwise. Each is said on standard error.
    static func exitStatus(contradicted: Bool, outside: Int, uncovered: Bool, requireWitnessed: Bool) -> Int32 {
        if contradicted { return 5 }
        if outside > 0 { return 4 }
        if requireWitnessed && uncovered { return 3 }
        return 0
    }

    private func printText(_ report: [AuditOutput.Item], witnessing: [String: AuditOutput.Witnessing], node: String) {
        for (log, w) in witnessing.sorted(by: { $0.key < $1.key }) {
            let who = w.witnesses.isEmpty ? "" : " (\(w.witnesses.joined(separator: ", ")))"
            if w.checkedBy == "policy" {
                printEscaped("records in \(log) up to index \(w.recordsUpTo - 1): " + (w.covered
                    ? "\(w.recordsChecked ?? 0) record(s) checked here in the checkpoint of size \(w.size!), which meets your policy (cosigned by \(w.witnesses.joined(separator: ", ")))"
                    : "NOT shown covered under your policy: \(w.problem ?? "unknown")"))
                continue
            }
            printEscaped("records in \(log) up to index \(w.recordsUpTo - 1): " + (w.covered
                ? "covered by size \(w.size!), witnessed by \(w.witnesses.count) of \(w.of)\(who) (as this node reports; --policy checks it)"
                : "NOT covered by a checkpoint a quorum of witnesses cosigned" + (w.size.map { " (newest witnessed: size \($0), \(w.witnesses.count) of \(w.of)\(who))" } ?? "")))
        }
        if report.isEmpty { printEscaped("no agreement of \(owner) on the ledger at \(node)") }
        for item in report {
            let a = item.agreement
            let disclosures = item.disclosures
            printEscaped("\(a.id) (\(a.status), held by \(a.holder)): \(disclosures.count) disclosure record\(disclosures.count == 1 ? "" : "s")")
            for d in disclosures {
                let ranges = d.ranges.map { "\($0.first.map(String.init) ?? "?")-\($0.last.map(String.init) ?? "?")" }.joined(separator: ",")
                // Who says so: a record is its sender's statement (a relay's, or any member's).
                printEscaped("  \(d.time)  \(d.count) entries of \(d.log) in \(ranges) → \(d.recipient) (\(d.access), recorded by \(d.record.log) at \(d.record.log)/\(d.record.index))")
                if let outside = item.outside.first(where: { $0.record == d.record }) {
                    printEscaped((outside.withdrawnOnly ? "    CHECK: " : "    OUTSIDE THE AGREEMENT: ") + outside.problems.joined(separator: "; "))
                }
            }
            for p in item.purges {
                let entries = p.entries.map(String.init).joined(separator: ",")
                printEscaped("  \(p.time)  purged by \(p.record.log): \(p.log)/\(entries) (\(p.reason))")
            }
        }
    }
}

/// `quartet agreement keygen --format json`.
struct OwnerKeyOutput: Encodable {
    var owner, key, vkey: String
}

/// `quartet audit --format json`: each agreement of the owner with its disclosures and purges.
struct AuditOutput: Encodable {
    struct Item: Encodable {
        var agreement: AgreementBody
        var disclosures: [DisclosuresResponse.Disclosure]
        var purges: [DisclosuresResponse.Purge]
        /// The disclosure records outside the agreement's signed terms (`AuditJudgement`).
        var outside: [Outside]
    }

    /// A disclosure record outside its agreement's terms, and why.
    struct Outside: Encodable {
        var record: LedgerRef
        var problems: [String]
        /// Within a withdrawn signed copy of the agreement, not the one in force: said, not
        /// counted outside (the exit status).
        var withdrawnOnly = false
    }

    /// Per log holding the owner's records: how far the records go and whether a checkpoint a
    /// quorum of witnesses cosigned covers them.
    struct Witnessing: Encodable {
        var recordsUpTo: UInt64
        var size: UInt64?
        var witnesses: [String]
        var of: Int
        var covered: Bool
        /// `policy`: checked by this command against the reader's policy file, each record's
        /// entry and inclusion too; `node`: the node's own account (`/v1/logs`).
        var checkedBy: String
        var recordsChecked: Int?
        /// Why a check against the policy failed.
        var problem: String?
    }

    var owner: String
    var agreements: [Item]
    var witnessing: [String: Witnessing]
}

/// A line made of a node's answer, escaped (`TerminalText`).
private func printEscaped(_ line: String) { print(TerminalText.escaped(line)) }
