import ArgumentParser
import Foundation
import QuartetAPI
import QuartetLedger
import QuartetNode
import QuartetPlan
import QuartetStore

/// `quartet verify-figure`: checks a figure's provenance answer (`GET
/// /v1/view/figures/{id}/provenance`, saved to a file) against a C2SP tlog-policy file the
/// reader holds, offline, with this binary's own code rather than a script a node serves: each
/// checkpoint against the policy (the log's key, a quorum of witness cosignatures, the log the
/// policy's line names), each entry's header and payload against each other and its inclusion in
/// that checkpoint, then the figure recomputed from the entries by the fold every node runs
/// (`StrategyView`, each log's entries in index order; what the answer leaves out counts as
/// absent), which must be exactly the value the answer states.
struct VerifyFigureCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-figure",
        abstract: "Check a figure's provenance (as GET /v1/view/figures/{id}/provenance answers) against a C2SP tlog-policy file and recompute the figure: offline from a saved answer, or asked of a node with --config (and --whole: every entry of the logs read and checked).")

    @Option(help: "The policy file (`quartet policy` writes the federation's).") var policy: String
    @Option(help: "The figure you asked for (a reading:, status: or total: id, e.g. total:P2.A2.M1:2025): the answer must be for exactly it.") var figure: String
    @Argument(help: "The provenance answer (a file, or - for standard input); without it, --config asks the node for it.") var answer: String?
    @Option(help: "A node's configuration or client file: ask that node for the answer (and, with --whole, its logs).") var config: String?
    @Option(help: "A bearer token for the node (with --config; default: $QUARTET_TOKEN as the other commands take it; prefer --token-file).") var token: String?
    @Option(help: "A file holding the bearer token (this user's, mode 600), or - for standard input (with --config).") var tokenFile: String?
    @Option(help: "A client certificate from the federation CA (with --config).") var cert: String?
    @Option(help: "The client certificate's private key.") var key: String?
    @Flag(help: "Also read every entry of the figure's logs (for a UK total, of every log the policy names) up to checkpoints that meet the policy, check each and the logs' roots, and recompute the figure from all of them: an entry the answer left out is then caught (needs --max-age).")
    var whole = false
    @Option(help: "The UK aggregator's log, whose measures' totals the nations' readings add into.") var ukLog = "uk"
    @Option(help: "Fail unless the policy's quorum cosigned each checkpoint as the newest it had seen within this many seconds.")
    var maxAge: UInt64?
    @Option(help: "Seconds the whole check may take, asking a node (each request has its own timeout; a node serving a log page after page, each just in time, is bounded by this).")
    var deadline: Int = 1800
    @OptionGroup var output: FormatOptions

    /// An answer is at most this long (1,000 entries and 4 MiB of payloads, with proofs).
    static let maxBytes = 32 << 20

    struct Report: Encodable {
        var figure: String
        var entries: Int
        /// Per log: the checkpoint's size and the witnesses whose cosignatures count.
        var checkpoints: [String: Checkpoint]
        /// The figure recomputed from the entries (JSON): the value the answer states.
        var recomputed: String
        var ukLog: String

        /// With `--whole`: what reading the logs whole found.
        var whole: Whole?

        struct Checkpoint: Encodable {
            var size: UInt64
            var root: String
            var witnesses: [String]
            var quorumTime: UInt64?
            /// The log's key rotations followed from the policy's key to the key that signed it
            /// (absent: none, the policy's key signed it).
            var rotationsFollowed: Int?
        }

        struct Whole: Encodable {
            /// Per log, the entries read (up to its checkpoint's size).
            var logs: [String: UInt64]
            var recomputed: String
        }
    }

    func run() async throws {
        guard (1...86_400).contains(deadline) else { throw ValidationError("--deadline must be from 1 to 86,400 seconds") }
        guard answer != nil || config != nil else { throw ValidationError("give the saved answer, or --config to ask a node for it") }
        guard answer == nil || config == nil || whole else {
            throw ValidationError("give the saved answer or --config to ask a node for it (both only with --whole: the saved answer checked, the logs read whole from that node)")
        }
        if whole, config == nil { throw ValidationError("--whole reads the logs from a node: give --config") }
        if tokenFile == "-", answer == "-" || policy == "-" {
            throw ValidationError("--token-file - and the \(answer == "-" ? "answer" : "policy") both read standard input: give one of them as a file")
        }
        // Read whole up to an old checkpoint a quorum did cosign, the logs as they were then pass:
        // a node could answer (and serve its logs) from before a later correction or a nation's
        // reading. Only the witnesses' times rule that out.
        if whole, maxAge == nil {
            throw ValidationError("--whole needs --max-age SECONDS: without it a node can answer, and serve its logs, as of an old checkpoint its witnesses did cosign (before a later correction or a nation's reading), and reading whole up to it passes")
        }
        // Asking a node, the whole check within --deadline: past it nothing is concluded (exit 1).
        let watchdog = config == nil ? nil : OverallDeadline.start(seconds: deadline, command: "verify-figure")
        defer { watchdog?.cancel() }
        var node: (client: APIClient, configuration: ClientConfiguration)?
        if let config {
            var arguments = ["--config", config]
            if let token { arguments += ["--token", token] }
            if let tokenFile { arguments += ["--token-file", tokenFile] }
            if let cert { arguments += ["--cert", cert] }
            if let key { arguments += ["--key", key] }
            node = try NodeClientOptions.parse(arguments).client()
        }
        let parsed = try VerifyCheckpointCommand.readPolicy(policy)
        let data: Data
        let source = answer ?? "the answer of \(node!.configuration.node)"
        if let answer {
            data = try VerifyCheckpointCommand.read(answer, limit: Self.maxBytes, what: "a provenance answer")
        } else {
            let (client, configuration) = node!
            do { data = try await client.viewProvenanceBody(figure: figure) } catch let error as APIClient.ViewRequestError {
                throw CLIError(error.description)
            } catch {
                throw CLIError(unreachable(configuration, error))
            }
        }
        let provenance: ViewProvenance
        switch Result(catching: { () throws(Failure) in try Self.decodeAnswer(data) }) {
        case .success(let decoded): provenance = decoded
        case .failure(let failure): throw CLIError("\(source): \(failure.description)")
        }
        let now = wallClockMillis() / 1000
        var report: Report
        switch Result(catching: { () throws(Failure) in try Self.check(provenance, figure: figure, policy: parsed, ukLog: ukLog, maxAge: maxAge, now: now) }) {
        case .success(let checked): report = checked
        case .failure(let failure): throw CLIError("\(source): \(failure.description)")
        }
        if whole, let node, let maxAge {
            report.whole = try await Self.readWhole(node.client, configuration: node.configuration, figure: figure, policy: parsed, ukLog: ukLog,
                                                    answered: report.checkpoints, stated: provenance.stated ?? .null, maxAge: maxAge, now: now)
        }
        switch output.format {
        case .json:
            printJSON(report, snakeCaseKeys: true)
        case .text:
            // Names and values come from the answer and the policy file: escaped.
            // With how late the quorum saw it as the newest: an old state a quorum did cosign
            // passes as that time's state, and the reader is told which time that is.
            for (log, c) in report.checkpoints.sorted(by: { $0.key < $1.key }) {
                let asLate = c.quorumTime.map { " — the newest its quorum had seen as late as \(VerifyCheckpointCommand.shown($0)) (\(ViewQueries.age(Double(now > $0 ? now - $0 : 0))) ago)" } ?? ""
                let followed = c.rotationsFollowed.map { ", signed by the key its \($0) key rotation\($0 == 1 ? " from your policy's key leads" : "s from your policy's key lead") to" } ?? ""
                print(TerminalText.escaped("ok: \(log) size \(c.size)\(followed), cosigned by \(c.witnesses.joined(separator: ", ")) (the policy's quorum)\(asLate)"))
            }
            if maxAge == nil {
                print("not checked: how fresh these checkpoints are (a node can answer with an older state a quorum did cosign); --max-age checks")
            }
            print(TerminalText.escaped("ok: \(report.entries) entr\(report.entries == 1 ? "y" : "ies"), each in its log's checkpoint"))
            print(TerminalText.escaped("ok: \(report.figure) recomputed from them is \(report.recomputed), the value the answer states (UK log: \(report.ukLog))"))
            if let whole = report.whole {
                let logs = whole.logs.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value))" }.joined(separator: ", ")
                print(TerminalText.escaped("ok: read whole, every entry of \(logs) checked against its log's root: they give \(whole.recomputed), the value the answer states; nothing was left out of these logs up to those checkpoints"))
            } else {
                print("not shown: entries the answer leaves out, with the value stated for what the rest give (a later correction, a nation's reading, or an entry that kept a later one from counting: a withdrawal, a redefinition); --whole with --config reads the logs whole")
            }
        }
    }

    /// Why the answer fails, said as the reason.
    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// Checks `provenance`, the answer for `figure` (the id the reader asked for), against
    /// `policy` and recomputes the figure (`ukLog`: the UK log).
    static func check(_ provenance: ViewProvenance, figure: String, policy: WitnessPolicy, ukLog: String, maxAge: UInt64?, now: UInt64) throws(Failure) -> Report {
        // The answer for the figure asked, byte for byte (not another period, log or kind, nor
        // an id that looks the same), and one this command recomputes.
        guard Array(provenance.figure.utf8) == Array(figure.utf8) else {
            throw Failure("the answer is for figure \(TerminalText.escaped(provenance.figure)), not \(TerminalText.escaped(figure))")
        }
        let kind = figure.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
        guard ["reading", "status", "total"].contains(kind) else {
            throw Failure("\(TerminalText.escaped(figure)): verify-figure recomputes reading:, status: and total: figures; a priority, a cell or an aggregate is not recomputed")
        }
        if let omitted = provenance.omitted, omitted != 0 {
            throw Failure("the answer leaves out \(omitted) of the figure's entries (its bound): it cannot be checked whole")
        }
        // Each log's checkpoint: meets the policy (the log's key rotations the answer gives
        // followed from the policy's key, each in that checkpoint), and is the log the answer
        // files it under.
        if let stray = provenance.rotations?.keys.sorted().first(where: { provenance.checkpoints[$0] == nil }) {
            throw Failure("the answer gives key rotations of \(TerminalText.escaped(stray)) but no checkpoint of it")
        }
        var heads: [String: (size: UInt64, root: Hash)] = [:]
        var checkpoints: [String: Report.Checkpoint] = [:]
        for (log, text) in provenance.checkpoints.sorted(by: { $0.key < $1.key }) {
            let rotations = try Self.rotations(provenance.rotations?[log] ?? [], of: log, note: text)
            let (verified, quorumTime, followed) = try Self.head(text, of: log, policy: policy, rotations: rotations.map(\.rotation), maxAge: maxAge, now: now)
            for given in rotations {
                // (An honest node gives only those the checkpoint holds.)
                guard given.rotation.index < verified.checkpoint.size else {
                    throw Failure("key rotation \(log)/\(given.rotation.index): beyond the checkpoint of \(log), of size \(verified.checkpoint.size)")
                }
                try Self.included(given.item, leaf: given.leaf, in: (verified.checkpoint.size, verified.checkpoint.root), at: "key rotation \(log)/\(given.rotation.index)")
            }
            heads[log] = (verified.checkpoint.size, verified.checkpoint.root)
            checkpoints[log] = .init(size: verified.checkpoint.size, root: verified.checkpoint.root.base64, witnesses: verified.witnesses.keys.sorted(),
                                     quorumTime: quorumTime, rotationsFollowed: followed > 0 ? followed : nil)
        }
        // Each entry: its header and payload agree, and it is in its log's checkpoint.
        var folded: [String: [(index: UInt64, entry: ViewEntry)]] = [:]
        var seen = Set<EntryRef>()
        for item in provenance.entries {
            let body = item.entry
            let at = "entry \(body.log)/\(body.index)"
            guard let head = heads[body.log] else { throw Failure("\(at): the answer carries no checkpoint of \(body.log)") }
            guard seen.insert(EntryRef(log: body.log, index: body.index)).inserted else { throw Failure("\(at): given twice") }
            let (entry, viewEntry): (Entry, ViewEntry)
            do { (entry, viewEntry) = try Self.foldable(body) } catch { throw Failure("\(at): \(error.description)") }
            try Self.included(item, leaf: entry.leafHash, in: head, at: at)
            folded[body.log, default: []].append((body.index, viewEntry))
        }
        // The figure, recomputed by the fold every node runs: each log's entries in index order
        // (numbered afresh: the fold's rules read the order, not the indices), the logs the
        // policy names counting in UK totals.
        let counted = Set(heads.keys)
        var view = StrategyView(ukLog: ukLog, logs: Array(heads.keys), counted: counted)
        // Logs in one order, as `--whole` reads them (a dictionary's order differs between runs).
        for (log, entries) in folded.sorted(by: { $0.key < $1.key }) {
            for (n, item) in entries.sorted(by: { $0.index < $1.index }).enumerated() {
                let e = item.entry
                do {
                    try view.apply(ViewEntry(log: log, index: UInt64(n), timeMillis: e.timeMillis, type: e.type, payload: e.payload, isPublic: e.isPublic, classification: e.classification))
                } catch {
                    throw Failure("entry \(log)/\(item.index): the fold refused it: \(error.message)")
                }
            }
        }
        let queries = ViewQueries(view: view, health: [:], nowMillis: now * 1000, order: heads.keys.sorted())
        let recomputed = try Self.same(queries.stated(figure), as: provenance.stated, figure: figure, from: "the entries")
        return Report(figure: figure, entries: provenance.entries.count, checkpoints: checkpoints, recomputed: recomputed, ukLog: ukLog)
    }

    /// An answer read strictly first (a key given twice is refused: another reader of the same
    /// file must not see another figure or value), and `stated` as given: a status never
    /// recorded is stated as null, which the decoder would read as absent.
    static func decodeAnswer(_ data: Data) throws(Failure) -> ViewProvenance {
        let strict: JSONValue
        do { strict = try JSONValueCoding.parse(Array(data)) } catch { throw Failure("not JSON this command reads: \(error)") }
        guard case .object(let fields) = strict else { throw Failure("not a provenance answer (a JSON object)") }
        var provenance: ViewProvenance
        do { provenance = try JSONDecoder().decode(ViewProvenance.self, from: data) } catch {
            throw Failure("not a provenance answer (GET /v1/view/figures/{id}/provenance): \(error)")
        }
        provenance.stated = fields["stated"]
        return provenance
    }

    /// `item`'s entry (`leaf`) is in `head` by its inclusion proof, which is for the entry's
    /// own log and index.
    static func included(_ item: ViewProvenance.Item, leaf: Hash, in head: (size: UInt64, root: Hash), at: String) throws(Failure) {
        let body = item.entry
        guard Array(item.inclusion.log.utf8) == Array(body.log.utf8), item.inclusion.index == body.index else {
            throw Failure("\(at): its proof is for \(item.inclusion.log)/\(item.inclusion.index)")
        }
        guard item.inclusion.size == head.size else {
            throw Failure("\(at): its proof is to size \(item.inclusion.size), not the checkpoint's \(head.size)")
        }
        do {
            try Merkle.verifyInclusion(index: body.index, size: head.size, leaf: leaf, proof: try item.inclusion.proof.map { try Hash(base64: $0) }, root: head.root)
        } catch {
            throw Failure("\(at): not in the checkpoint of \(body.log) of size \(head.size): \(error)")
        }
    }

    /// The key rotations an answer gives for `log` (whose checkpoint is `note`), each read as
    /// an entry of that log, in index order; their signatures are checked as they are followed
    /// (`WitnessPolicy.verify(_:following:)`), and `check` shows each in the checkpoint once
    /// that verifies.
    static func rotations(_ items: [ViewProvenance.Item], of log: String, note: String) throws(Failure) -> [(rotation: KeyRotation, leaf: Hash, item: ViewProvenance.Item)] {
        guard !items.isEmpty else { return [] }
        // Bounded before anything is parsed (a chain holds at most this many).
        guard items.count <= KeyChain.maxRotations else {
            throw Failure("the answer gives \(items.count) key rotations of \(log), more than a log may hold (\(KeyChain.maxRotations))")
        }
        // The origin the checkpoint claims (checked when it verifies: a rotation of another
        // origin leads from no key of the policy's line for it).
        guard let origin = Checkpoint(unverifiedNote: note)?.origin else { throw Failure("the checkpoint of \(log) is not a signed checkpoint") }
        var out: [(rotation: KeyRotation, leaf: Hash, item: ViewProvenance.Item)] = []
        for item in items {
            let at = "key rotation \(item.entry.log)/\(item.entry.index)"
            guard Array(item.entry.log.utf8) == Array(log.utf8) else { throw Failure("\(at): given as a key rotation of \(log)") }
            if let last = out.last, item.entry.index <= last.rotation.index { throw Failure("\(at): the key rotations are not in index order") }
            let entry: Entry
            do { entry = try Self.foldable(item.entry).entry } catch { throw Failure("\(at): \(error.description)") }
            let read: KeyRotation?
            do { read = try KeyRotation.from(entry, origin: origin, verifyingSignatures: false) } catch { throw Failure("\(at): \(error.message)") }
            guard let rotation = read else { throw Failure("\(at): an entry of type \(entry.header.type), not \(KeyRotation.entryType)") }
            out.append((rotation, entry.leafHash, item))
        }
        return out
    }

    /// `text`, a checkpoint filed under `log` (by the answer or the node): it meets `policy` (its
    /// key followed along `rotations`, the log's rotations the caller then shows to be in the
    /// checkpoint), the policy's line for its key names `log`, and with `maxAge` its quorum saw it
    /// newest lately. `followed`: the rotations it took to reach the key that signed it.
    static func head(_ text: String, of log: String, policy: WitnessPolicy, rotations: [KeyRotation] = [], maxAge: UInt64?, now: UInt64) throws(Failure)
        -> (verified: WitnessPolicy.Verified, quorumTime: UInt64?, followed: Int) {
        let verified: WitnessPolicy.Verified, followed: Int
        do { (verified, followed) = try policy.verify(try SignedNote(parsing: text), following: rotations) } catch {
            throw Failure("the checkpoint of \(log) does not meet your policy: \(error.message)")
        }
        if let refusal = AuditCoverage.namesAnotherLog(policy, origin: verified.checkpoint.origin, log: log) { throw Failure(refusal) }
        let quorumTime = policy.quorumTime(verified.witnesses)
        if let maxAge {
            guard policy.quorum != nil else { throw Failure("--max-age: the policy's quorum is none, so no witness vouches for when a checkpoint was the newest") }
            if let refusal = VerifyCheckpointCommand.ageRefusal(quorumTime: quorumTime, now: now, maxAge: maxAge) { throw Failure("\(log): \(refusal)") }
        }
        return (verified, quorumTime, followed)
    }

    /// An entry as served: its header and payload checked against each other and naming the
    /// place it is served at, a public plan entry with its payload (served without, it would
    /// count for nothing: a correction withheld, the old value stated), and what the fold takes
    /// of it (a public plan entry's payload; nothing else's).
    static func foldable(_ body: EntryBody) throws(Failure) -> (entry: Entry, view: ViewEntry) {
        guard let header = Base64.decode(body.header) else { throw Failure("its header is not base64") }
        let entry: Entry
        do {
            if let text = body.payloadBase64 {
                guard let bytes = Base64.decode(text), let salt = body.salt.flatMap(Base64.decode) else { throw Failure("its payload or salt is not base64") }
                entry = try Entry(headerBytes: header, payload: try EntryPayload(salt: salt, bytes: bytes))
            } else {
                entry = try Entry(headerBytes: header, payload: nil)
            }
        } catch let error as LedgerError {
            throw Failure(error.message)
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure("\(error)")
        }
        let h = entry.header
        guard Array(h.log.utf8) == Array(body.log.utf8), h.index == body.index else { throw Failure("its header names \(h.log)/\(h.index)") }
        let isPublic = h.classification == EntryHeader.publicClassification, isPlan = PlanValidator.isPlanType(h.type)
        if isPublic, isPlan, entry.payload == nil { throw Failure("a public entry is served without its payload") }
        return (entry, ViewEntry(log: h.log, index: h.index, timeMillis: h.timeMillis, type: h.type, payload: isPublic && isPlan ? entry.payload?.bytes : nil,
                                 isPublic: isPublic, classification: h.classification))
    }

    /// The figure `recomputed` from entries (`from` says which), as JSON text, if it is exactly,
    /// byte for byte as written, the value `stated` (a total sums whole counts, exact in any order).
    static func same(_ recomputed: JSONValue?, as stated: JSONValue?, figure: String, from: String) throws(Failure) -> String {
        guard let recomputed else {
            throw Failure("\(figure): \(from) give no such figure (a definition or the reading itself is missing, or the fold refuses them)")
        }
        let text = String(decoding: recomputed.encoded(), as: UTF8.self)
        guard let stated else { throw Failure("\(figure): \(from) give \(text), and the answer states no value") }
        guard recomputed.encoded() == stated.encoded() else {
            throw Failure("\(figure): \(from) give \(text), not the \(String(decoding: stated.encoded(), as: UTF8.self)) the answer states")
        }
        return text
    }

}
