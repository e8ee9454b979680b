import ArgumentParser
import Foundation
import QuartetAPI
import QuartetNode
import QuartetCrypto
import QuartetLedger
import QuartetPolicy
import QuartetPlan
import QuartetStore

// (Over ~350 lines: the offline commands on a data directory (init, append, log, checkpoint, key,
// proof, verify), each short, one command group.)

/// The default checkpoint origin of a log: unique to the log, without spaces or `+`.
func defaultOrigin(log: String) -> String { "quartet.ot-workforce.uk/\(log)" }

struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "init", abstract: "Create a log's signing key and its data directory.")

    @Option(help: "The log this node writes, e.g. wales.") var log: String
    @OptionGroup var data: DataOptions
    @Option(help: "Checkpoint origin (default quartet.ot-workforce.uk/LOG).") var origin: String?
    @OptionGroup var output: FormatOptions

    func run() async throws {
        let origin = origin ?? defaultOrigin(log: log)
        do {
            try EntryHeader(log: log, index: 0, timeMillis: 0, type: "x", classification: "public", author: "",
                            payloadCommitment: .emptyTree, payloadLength: 0).validate()
        } catch { throw ValidationError("--log: \(error.message.replacingOccurrences(of: "log: ", with: ""))") }
        guard Checkpoint.isValidOrigin(origin) else { throw ValidationError("--origin must be non-empty, without spaces or +") }
        try requireDataDirectoryOwner(data.data, command: "init")
        let directory = DataDirectory(path: data.data)
        let store = try LedgerStore.create(directory)
        defer { try? store.close() }
        sayMigration(store)
        if let existing = try store.logs().first(where: { $0.name == log || $0.origin == origin }) {
            throw StoreError(.logExists, "log \(existing.name) (origin \(existing.origin)) already exists in \(directory.url.path)")
        }
        // A key with no log: an `init` killed between the two, or the key of a log whose store
        // is gone. Never replaced here (the second is a published log's only key).
        let keyFile = directory.keyPath(log: log)
        if FileManager.default.fileExists(atPath: keyFile) {
            throw CLIError("\(keyFile) exists but \(directory.url.path) holds no log \(log): it is left by an interrupted `quartet init` "
                + "(remove it and run init again) or is the key of a log whose store is gone (keep it: `quartet recover` rebuilds the log from the peers)")
        }
        let key = try Ed25519PrivateKey()
        try directory.writeSigningKey(key, log: log)
        let info = try store.addLog(name: log, origin: origin, publicKey: key.publicKey, own: true, nowMillis: wallClockMillis())
        switch output.format {
        case .json:
            printJSON(CreatedLogOutput(log: info.name, origin: info.origin, data: directory.url.path,
                                       key: directory.keyPath(log: log), vkey: info.verifier.vkey))
        case .text:
            print("created log \(info.name) in \(directory.url.path)")
            print("origin:      \(info.origin)")
            print("signing key: \(directory.keyPath(log: log)) (keep it secret)")
            print("vkey:        \(info.verifier.vkey)")
        }
    }
}

/// Picks the log to append to: the one named, or the directory's only own log.
func ownLog(_ store: LedgerStore, named name: String?) throws -> String {
    if let name { return name }
    let own = try store.logs().filter(\.isOwn)
    guard own.count == 1 else {
        throw ValidationError(own.isEmpty ? "this data directory writes no log; run `quartet init`"
                                          : "this data directory writes \(own.map(\.name).joined(separator: ", ")); choose one with --log")
    }
    return own[0].name
}

struct AppendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "append", abstract: "Append an entry to the node's own log.")

    @OptionGroup var data: DataOptions
    @Option(help: "The log (default: the directory's only own log).") var log: String?
    @Option(help: "Entry type, e.g. progress.reading.") var type: String
    @Option(help: "public (restricted data goes through the node's API, which checks its agreement).") var classification = EntryHeader.publicClassification
    @Option(help: "The operator submitting it.") var author = ""
    @Option(help: "A file holding the JSON object payload, or - for standard input.") var payload: String
    @OptionGroup var output: FormatOptions

    func run() async throws {
        // What only the node's admission makes correctly (from rows, under an agreement, with
        // suppression and padding) is not written offline.
        guard type != Policy.aggregateType && type != "dataset.rows" else {
            throw ValidationError("--type \(type): restricted rows and their aggregates are made through the node's API (quartet record dataset), which checks the agreement, suppresses small counts and pads the payloads; append does none of that")
        }
        // Agreement entries and the node's own records (disclosures, purges) likewise: the API
        // checks an agreement against its owner's pinned key and the ledger, and only the node
        // writes the records, as it sends or purges (finding 233: an operator writing a purge
        // record offline made the owner's audit show a purge that never happened).
        guard PolicyEntryType(rawValue: type) == nil else {
            throw ValidationError("--type \(type): agreement entries are appended through the node's API (quartet agreement establish / revoke), which checks them against the owner's key and the ledger; disclosure and purge records are written by the node itself")
        }
        // Restricted data of any type likewise: only admission checks the agreement covering
        // its label and pads it.
        guard classification == EntryHeader.publicClassification else {
            throw ValidationError("--classification \(classification): restricted data is appended through the node's API, which checks that an agreement in force covers the label and pads the payload; append writes public entries only")
        }
        let bytes: [UInt8]
        // At most one byte past what an entry holds is read (then refused with the size rule),
        // from a regular file (a FIFO or a device named here would hang or fill memory).
        if payload == "-" {
            bytes = Array(FileHandle.standardInput.readData(ofLength: EntryHeader.maxPayloadLength + 1))
        } else {
            do { bytes = try RegularFile.read(payload, limit: EntryHeader.maxPayloadLength) } catch {
                throw CLIError("--payload: \(payload): \(error) (a payload is a regular file of at most \(EntryHeader.maxPayloadLength) bytes)")
            }
        }
        let request = AppendRequest(type: type, classification: classification, author: author, payload: bytes)
        do { try request.validate() } catch {
            let source = payload == "-" ? "standard input" : payload
            throw CLIError("payload from \(source): \(error.message.replacingOccurrences(of: "payload: ", with: ""))")
        }
        if let refusal = CopyMarkers.offlineWriteRefusal(data.data) { throw CLIError(refusal) }
        try requireDataDirectoryOwner(data.data, command: "append")
        let store = try LedgerStore.open(DataDirectory(path: data.data), mode: .writer)
        defer { try? store.close() }
        sayMigration(store)
        let logName = try ownLog(store, named: log)
        if let kind = PlanEntryType(rawValue: type) {
            // The API's checks, against the log as folded: every node's fold counts an entry
            // that fails them unreadable, so one written past them would be lost everywhere.
            let info = try store.log(named: logName)
            // The UK log (the only one that takes priorities) as the federation the directory
            // accepted names it (read by the rules it was accepted under); "uk" when it has
            // accepted none — never guessed for a copy that is there but does not read.
            let acceptedPath = FederationTrust.acceptedPath(dataDirectory: data.data)
            var accepted: Federation?
            var acceptedInfo = stat()
            // Anything there but nothing (a link, a directory it cannot search) is read, and refused if it does not read.
            if lstat(acceptedPath, &acceptedInfo) == 0 || errno != ENOENT {
                do { accepted = try FederationTrust.read(acceptedPath, signatures: false, accepted: true).federation } catch {
                    throw CLIError("cannot read the federation file this data directory accepted (\(acceptedPath)), which names the UK log the checks need: \(error)")
                }
            }
            let ukLog = accepted?.members.first { $0.role == .aggregator }?.log ?? "uk"
            var view = StrategyView(ukLog: ukLog, logs: [logName])
            var from: UInt64 = 0
            let size = try store.size(info)
            while from < size {
                let page = try store.entries(info, from: from, limit: 1000)
                guard !page.isEmpty else { break }
                // As every node folds it (an entry that fails is unreadable, and folding goes on).
                for entry in ViewMaintainer.viewEntries(log: logName, page) { try? view.apply(entry) }
                from += UInt64(page.count)
            }
            do {
                let value = try JSONValue.parse(bytes)
                try PlanValidator.validate(kind, value, context: LogContext(view: view, log: logName))
                try PlanValidator.refuseAhead(kind, value, nowMillis: wallClockMillis())
                try PlanValidator.refuseUnclearNames(kind, value)
            } catch {
                throw CLIError("--type \(type): \(error.message) (the nodes' fold refuses what the API refuses)")
            }
        }
        let writer = try LogWriter(store: store, log: logName)
        let receipt = try await writer.append(request)
        switch output.format {
        case .json:
            printJSON(ReceiptBody(receipt))
        case .text:
            print("appended \(receipt.log)/\(receipt.index)")
            print("leaf hash: \(receipt.leafHash.base64)")
            print("checkpoint:")
            print(receipt.checkpoint.note, terminator: "")
        }
    }
}

struct LogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "log", abstract: "List a log's entries.")

    @OptionGroup var data: DataOptions
    @Option(help: "The log.") var log: String
    @Option(parsing: .unconditional, help: "First index.") var from: UInt64 = 0
    @Option(help: "Most entries to list.") var limit: Int = 100
    @OptionGroup var output: FormatOptions

    func run() async throws {
        guard limit >= 0 else { throw ValidationError("--limit must not be negative") }
        let store = try LedgerStore.open(DataDirectory(path: data.data))
        defer { try? store.close() }
        let info = try store.log(named: log)
        let entries = try store.entries(info, from: from, limit: limit)
        switch output.format {
        case .json:
            printJSON(entries.map(EntryBody.init))
        case .text:
            if entries.isEmpty { print("no entries in \(log) from index \(from)") }
            for entry in entries {
                let h = entry.header
                // Another member's log holds what its signer chose (terminal controls, bidi
                // overrides in an author or a payload): printed escaped (finding 212).
                print(TerminalText.escaped("\(h.log)/\(h.index)  \(iso8601(h.timeMillis))  \(h.type)  [\(h.classification)]  author=\(h.author.isEmpty ? "-" : h.author)"))
                print("  leaf \(entry.leafHash.base64)  commitment \(h.payloadCommitment.base64)")
                if let payload = entry.payload {
                    print("  " + TerminalText.escaped(String(decoding: payload.bytes, as: UTF8.self)))
                } else {
                    print("  (stub: payload of \(h.payloadLength) bytes not held)")
                }
            }
        }
    }
}

struct CheckpointCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "checkpoint", abstract: "Print a log's latest signed checkpoint exactly as signed.")

    @OptionGroup var data: DataOptions
    @Option(help: "The log.") var log: String
    @OptionGroup var output: FormatOptions

    func run() async throws {
        let store = try LedgerStore.open(DataDirectory(path: data.data))
        defer { try? store.close() }
        let info = try store.log(named: log)
        guard let latest = try store.latestCheckpoint(info) else {
            throw StoreError(.outOfRange, "log \(log) has no checkpoint yet (nothing appended)")
        }
        switch output.format {
        case .json:
            printJSON(CheckpointOutput(log: log, origin: latest.checkpoint.origin, size: latest.checkpoint.size,
                                       root: latest.checkpoint.root.base64, note: latest.note, timeMillis: latest.checkpoint.timeMillis))
        case .text:
            print(latest.note, terminator: "")
        }
    }
}

struct KeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "key", abstract: "Show a log's keys.",
                                                    subcommands: [VKey.self, WitnessVKey.self, KeyRotate.self, KeyCurrent.self, KeyRevoke.self])

    struct WitnessVKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "witness-vkey",
            abstract: "Print the node's witness verifier key (C2SP tlog-cosignature, type 0x04), making the witness key if the data directory has none; it goes in the federation file as the node's \"witness\".")

        @OptionGroup var data: DataOptions
        @Option(help: "The node's own log (its origin names the witness key).") var log: String

        func run() async throws {
            // It may make the witness key: as the node's user, or the node cannot read it.
            try requireDataDirectoryOwner(data.data, command: "key witness-vkey")
            let directory = DataDirectory(path: data.data)
            let store = try LedgerStore.open(directory)
            let info = try store.log(named: log)
            try store.close()
            guard info.isOwn else { throw ValidationError("log \(log) in \(data.data) is a replica; name the node's own log") }
            let key = try WitnessStore.witnessKey(directory)
            print(CosignatureVerifier(name: WitnessStore.keyName(origin: info.origin), publicKey: key.publicKey).vkey)
        }
    }

    struct VKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "vkey", abstract: "Print the note verifier key of a log (name+keyid+key): the key in force, or with --pinned the one the federation file pins.")

        @OptionGroup var data: DataOptions
        @Option(help: "The log.") var log: String
        @Flag(help: "The key the log started with (what the federation file pins), not the key in force after rotations.") var pinned = false
        @OptionGroup var output: FormatOptions

        func run() async throws {
            let store = try LedgerStore.open(DataDirectory(path: data.data))
            defer { try? store.close() }
            let info = try store.log(named: log)
            let chain = try store.keyChain(info)
            let verifier = pinned ? info.verifier : chain.verifier(forSize: UInt64.max)
            switch output.format {
            case .json:
                printJSON(KeyOutput(log: log, origin: info.origin, vkey: verifier.vkey,
                                    publicKey: Base64.encode(verifier.publicKey.rawRepresentation)))
            case .text:
                print(verifier.vkey)
            }
        }
    }
}

struct ProofCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "proof", abstract: "Print RFC 9162 proofs.",
                                                    subcommands: [Inclusion.self, Consistency.self])

    struct Inclusion: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "inclusion", abstract: "Prove an entry is in the log.")

        @OptionGroup var data: DataOptions
        @Option(help: "The log.") var log: String
        @Option(parsing: .unconditional, help: "The entry index.") var index: UInt64
        @Option(help: "Tree size (default: the latest checkpoint's).") var size: UInt64?
        @OptionGroup var output: FormatOptions

        func run() async throws {
            let store = try LedgerStore.open(DataDirectory(path: data.data))
            defer { try? store.close() }
            let proof = try store.inclusionProof(try store.log(named: log), index: index, size: size)
            switch output.format {
            case .json:
                printJSON(InclusionProofBody(proof))
            case .text:
                print("inclusion of \(proof.log)/\(proof.index) in the tree of size \(proof.size)")
                print("leaf hash: \(proof.leafHash.base64)")
                print("root:      \(proof.root.base64)")
                for (i, hash) in proof.proof.enumerated() { print("proof[\(i)]: \(hash.base64)") }
            }
        }
    }

    struct Consistency: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "consistency", abstract: "Prove a later tree extends an earlier one.")

        @OptionGroup var data: DataOptions
        @Option(help: "The log.") var log: String
        @Option(parsing: .unconditional, help: "The earlier tree size.") var from: UInt64
        @Option(help: "The later tree size (default: the latest checkpoint's).") var to: UInt64?
        @OptionGroup var output: FormatOptions

        func run() async throws {
            let store = try LedgerStore.open(DataDirectory(path: data.data))
            defer { try? store.close() }
            let proof = try store.consistencyProof(try store.log(named: log), from: from, to: to)
            switch output.format {
            case .json:
                printJSON(ConsistencyProofBody(proof))
            case .text:
                print("consistency of \(proof.log) from size \(proof.from) to \(proof.to)")
                print("from root: \(proof.fromRoot.base64)")
                print("root:      \(proof.root.base64)")
                for (i, hash) in proof.proof.enumerated() { print("proof[\(i)]: \(hash.base64)") }
            }
        }
    }
}

struct VerifyCommand: AsyncParsableCommand {
    /// Verifies a directory; a file SQLite cannot even open is reported as a problem, not thrown.
    /// `markers`: a directory an unfinished backup left fails (`CopyMarkers`); `backup` checks
    /// its own copy before it is finished.
    static func verify(_ directory: DataDirectory, markers: Bool = true) -> VerificationReport {
        if markers, let refusal = CopyMarkers.startRefusal(directory.url.path) {
            var unfinished = VerificationReport()
            unfinished.problems = [VerificationProblem(log: nil, index: nil, message: refusal)]
            return unfinished
        }
        let store: LedgerStore
        do { store = try LedgerStore.open(directory) } catch {
            var damaged = VerificationReport()
            // A format this quartet does not read, or a path that is no data directory (a
            // mistyped --data), is not damage: said as it is, not sent to a backup.
            let message = [.formatVersion, .notADataDirectory].contains(error.code) ? "\(error)" : "\(directory.databasePath) is damaged or truncated: \(error)"
            damaged.problems = [VerificationProblem(log: nil, index: nil, message: message)]
            return damaged
        }
        defer { try? store.close() }
        return store.verify()
    }

    /// What the members would make of the logs `directory` holds, by `federation`'s word on
    /// each (`FederationTrust`'s rules, as replication and the witness follow them): the pinned
    /// key it names, the rotations its revocations and named keys admit (`KeyChain.followed`),
    /// and whether the latest checkpoint is signed by a key that chain trusts at its size.
    /// First, what a node with this directory would refuse at start or reload: a file that
    /// leaves out its own log, or gives a log it holds (its origin or key) to another
    /// (`FederationTrust.admissibility`, the check `federation verify --config` makes). Logs the
    /// file does not name are not followed; a store that does not open was reported by `verify`.
    static func federationProblems(_ directory: DataDirectory, _ federation: Federation) -> [VerificationProblem] {
        guard let store = try? LedgerStore.open(directory, mode: .reader) else { return [] }
        defer { try? store.close() }
        var problems: [VerificationProblem] = []
        let logs = (try? store.logs()) ?? []
        if let own = logs.first(where: \.isOwn) {
            if !federation.members.contains(where: { $0.log == own.name }) {
                problems.append(VerificationProblem(log: own.name, index: nil, message: "the federation file names no member whose log is \(own.name), this directory's own log: a node with it would not start"))
            }
            if let refusal = FederationTrust.admissibility(of: federation, held: logs, ownLog: own.name, dataDirectory: directory.url.path) {
                problems.append(VerificationProblem(log: nil, index: nil, message: "a node with this directory would refuse the file: \(refusal)"))
            }
        }
        for info in logs {
            guard let member = federation.members.first(where: { $0.log == info.name }) else { continue }
            guard member.verifier == info.verifier else {
                problems.append(VerificationProblem(log: info.name, index: nil, message: "the store pins \(info.verifier.vkey), the federation file names \(member.verifier.vkey) for this log"))
                continue
            }
            guard let stored = try? store.keyChain(info) else {
                problems.append(VerificationProblem(log: info.name, index: nil, message: "the log's key rotations cannot be read"))
                continue
            }
            let followed = member.keyChain(following: stored.rotations)
            if let stop = followed.stopped {
                problems.append(VerificationProblem(log: info.name, index: stop.rotation.index, message: "the key rotation to \(stop.rotation.verifier.vkey) is one the federation file disowns: \(stop.reason); members follow this log's keys only up to it (a rotation-fork alert), so nothing signed by that key or a later one is trusted"))
            }
            guard let latest = try? store.latestCheckpoint(info), let note = try? SignedNote(parsing: latest.note) else { continue }
            do { _ = try followed.chain.verifyCheckpoint(note) } catch {
                problems.append(VerificationProblem(log: info.name, index: nil, message: "the latest checkpoint (size \(latest.checkpoint.size)) does not verify under the keys the federation file has in force there: \(error.message)"))
            }
        }
        return problems
    }

    static let configuration = CommandConfiguration(commandName: "verify", abstract: "Re-check a data directory offline from its bytes.")

    @OptionGroup var data: DataOptions
    @OptionGroup var output: FormatOptions
    @Option(help: "Also check each log the file names against it: its pinned key, the key rotations its revocations and named keys admit (as the members follow them), and the latest checkpoint's key. The file's signatures are not checked here (`quartet federation verify` does).")
    var federation: String?

    func run() async throws {
        // The file first: a mistyped path is said before the whole database is read.
        let parsed: Federation?
        do { parsed = try federation.map { path throws(ConfigurationError) in try Federation.load(path: path) } } catch { throw CLIError("--federation: \(error)") }
        var report = Self.verify(DataDirectory(path: data.data))
        // A directory an unfinished backup left is refused by `verify` and not opened again.
        if let parsed, CopyMarkers.startRefusal(data.data) == nil {
            report.problems += Self.federationProblems(DataDirectory(path: data.data), parsed)
        }
        switch output.format {
        case .json:
            printJSON(VerifyOutput(report))
        case .text:
            for log in report.logs {
                print("ok   \(log.log): \(log.entries) entries, \(log.checkpoints) checkpoints, root \(log.root.base64)")
            }
            for problem in report.problems { print("FAIL \(problem)") }
        }
        if !report.isValid { throw ExitCode(1) }
    }
}

/// Says on standard error that opening the directory migrated it (an offline command opening a
/// directory of an older format migrates it as `serve` does, copy first), naming the copy.
func sayMigration(_ store: LedgerStore) {
    guard let migration = store.migration else { return }
    FileHandle.standardError.write(Data("quartet: migrated \(store.directory.url.path) from format \(migration.from) to \(Schema.formatVersion); the copy from before is \(migration.backup) (docs/operations.md, \"Upgrade\")\n".utf8))
}
