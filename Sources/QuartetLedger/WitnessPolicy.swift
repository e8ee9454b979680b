/// A C2SP tlog-policy file: the logs a verifier accepts, the witnesses it knows, groups of them
/// with thresholds, and the quorum a checkpoint's cosignatures must meet.
///
///     log <vkey> [<url>]
///     witness <name> <vkey> [<url>]
///     group <name> all|any|<k> <name>...
///     quorum <name>|none
///
/// Lines are split on spaces and tabs; blank lines and `#` comments are ignored; a group or the
/// quorum may name only witnesses and groups defined above it; each name is a member of one
/// group at most once; duplicate keys are refused. Limits: 32 logs, 32 witnesses, 32 groups
/// (the spec's recommended minimum, kept as the maximum so a hostile file costs little).
public struct WitnessPolicy: Sendable, Equatable {
    /// The federation's default quorum of `witnesses`: a majority, so two conflicting
    /// checkpoints can never both gather one while a majority is honest. `quartet policy`, the
    /// log's rounds, the view's "witnessed by k of n" and the browser's check all use it.
    public static func majority(of witnesses: Int) -> Int { witnesses / 2 + 1 }

    public struct Witness: Sendable, Equatable {
        public var name: String
        public var verifier: CosignatureVerifier
        public var url: String?

        public init(name: String, verifier: CosignatureVerifier, url: String? = nil) {
            self.name = name
            self.verifier = verifier
            self.url = url
        }
    }

    public struct Group: Sendable, Equatable {
        public var name: String
        public var threshold: Int
        public var members: [String]

        public init(name: String, threshold: Int, members: [String]) {
            self.name = name
            self.threshold = threshold
            self.members = members
        }
    }

    public static let maxLogs = 32, maxWitnesses = 32, maxGroups = 32
    public static let maxBytes = 64 << 10

    public var logs: [NoteVerifier]
    public var logURLs: [String?]
    public var witnesses: [Witness]
    public var groups: [Group]
    /// The name of the witness or group that must witness a checkpoint; nil for `quorum none`.
    public var quorum: String?

    public init(logs: [NoteVerifier], logURLs: [String?]? = nil, witnesses: [Witness], groups: [Group], quorum: String?) {
        self.logs = logs
        self.logURLs = logURLs ?? logs.map { _ in nil }
        self.witnesses = witnesses
        self.groups = groups
        self.quorum = quorum
    }

    public init(parsing text: String) throws(LedgerError) {
        guard text.utf8.count <= Self.maxBytes else { throw LedgerError(.malformed, "policy: longer than \(Self.maxBytes) bytes") }
        if let bad = text.utf8.first(where: { ($0 < 0x20 && $0 != 0x09 && $0 != 0x0A) || $0 == 0x7F }) {
            throw LedgerError(.malformed, "policy: control character 0x\(String(bad, radix: 16)) (only tab and newline are allowed)")
        }
        var logs: [NoteVerifier] = [], urls: [String?] = [], witnesses: [Witness] = [], groups: [Group] = []
        var quorum: String?? = nil
        // Names are opaque octet strings (the spec): kept and compared as bytes, never as
        // Swift Strings, which would equate canonically equivalent names (K and the Kelvin sign).
        var defined = Set<[UInt8]>()
        var grouped = Set<[UInt8]>()
        // Two different names that Unicode calls equivalent are refused rather than told apart
        // (results are reported by name, and a reader could not tell them apart either).
        var lookalikes = Set<String>()
        // Each key name and key id once across the log and witness lines: a signature line is
        // matched by both, and the first key listed would decide it, so a key made to share
        // another's name and id (4 bytes: ground in hours) could hide that key's line (Go's note
        // package calls such a set ambiguous).
        var lineKeys = Set<[UInt8]>()
        func newLineKey(_ name: String, _ keyID: [UInt8], line: Int) throws(LedgerError) {
            guard lineKeys.insert(Array(name.utf8) + [0x0A] + keyID).inserted else {
                throw LedgerError(.malformed, "policy line \(line): the key name \(name) with key id \(Hex.encode(keyID)) is listed before: a signature line would be read for one of the two keys only (ambiguous keys)")
            }
        }
        func newName(_ name: String, line: Int) throws(LedgerError) {
            guard name != "none", !defined.contains(Array(name.utf8)) else { throw LedgerError(.malformed, "policy line \(line): the name \(name) is already defined") }
            guard !lookalikes.contains(name) else {
                throw LedgerError(.malformed, "policy line \(line): the name \(name) differs from one defined above only in Unicode form; use a different name")
            }
            defined.insert(Array(name.utf8))
            lookalikes.insert(name)
        }
        for (number, raw) in Array(text.utf8).split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            let line = number + 1
            let split = raw.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 })
            // A comment is a line whose first octet past blanks is `#` (tested on the octet: a
            // `#` followed by a combining mark is one Character that is not "#").
            guard let first = split.first, first.first != UInt8(ascii: "#") else { continue }
            let words = split.map { String(decoding: $0, as: UTF8.self) }
            let keyword = words[0]
            func fail(_ message: String) -> LedgerError { LedgerError(.malformed, "policy line \(line): \(message)") }
            switch keyword {
            case "log":
                guard words.count == 2 || words.count == 3 else { throw fail("expected `log <vkey> [<url>]`") }
                let verifier: NoteVerifier
                do { verifier = try NoteVerifier(vkey: words[1]) } catch { throw fail(error.message) }
                guard !logs.contains(where: { $0.publicKey == verifier.publicKey }) else { throw fail("the key of log \(verifier.name) is listed twice") }
                // One line per log: with two keys for one origin, verifiers would differ on
                // which one a checkpoint is checked against (the page takes the first).
                guard !logs.contains(where: { $0.name.utf8.elementsEqual(verifier.name.utf8) }) else { throw fail("the log \(verifier.name) is listed twice") }
                guard logs.count < Self.maxLogs else { throw fail("more than \(Self.maxLogs) logs") }
                try newLineKey(verifier.name, verifier.keyID, line: line)
                logs.append(verifier)
                urls.append(words.count == 3 ? words[2] : nil)
            case "witness":
                guard words.count == 3 || words.count == 4 else { throw fail("expected `witness <name> <vkey> [<url>]`") }
                let name = words[1]
                try newName(name, line: line)
                let verifier: CosignatureVerifier
                do { verifier = try CosignatureVerifier(vkey: words[2]) } catch { throw fail(error.message) }
                guard !witnesses.contains(where: { $0.verifier.publicKey == verifier.publicKey }) else { throw fail("the key of witness \(name) is listed twice") }
                guard witnesses.count < Self.maxWitnesses else { throw fail("more than \(Self.maxWitnesses) witnesses") }
                try newLineKey(verifier.name, verifier.keyID, line: line)
                witnesses.append(Witness(name: name, verifier: verifier, url: words.count == 4 ? words[3] : nil))
            case "group":
                guard words.count >= 4 else { throw fail("expected `group <name> all|any|<k> <name>...`") }
                let name = words[1]
                let members = Array(words[3...])
                guard Set(members.map { Array($0.utf8) }).count == members.count else { throw fail("group \(name) lists a member twice") }
                for member in members {
                    guard defined.contains(Array(member.utf8)) else { throw fail("group \(name) names \(member), which is not defined above it") }
                    guard !grouped.contains(Array(member.utf8)) else { throw fail("\(member) is a member of more than one group") }
                    grouped.insert(Array(member.utf8))
                }
                let threshold: Int
                switch words[2] {
                case "all": threshold = members.count
                case "any": threshold = 1
                default:
                    // Digits only, no sign or leading zero (`+2` and `02` are not thresholds; the
                    // page's parser refuses them too).
                    let digits = Array(words[2].utf8)
                    guard (1...3).contains(digits.count), digits[0] != 0x30, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                          let k = Int(words[2]), k >= 1, k <= members.count else {
                        throw fail("group \(name): threshold must be all, any or a number from 1 to \(members.count), got \(words[2])")
                    }
                    threshold = k
                }
                guard groups.count < Self.maxGroups else { throw fail("more than \(Self.maxGroups) groups") }
                try newName(name, line: line)
                groups.append(Group(name: name, threshold: threshold, members: members))
            case "quorum":
                guard words.count == 2 else { throw fail("expected `quorum <name>`") }
                guard quorum == nil else { throw fail("a second quorum line") }
                guard words[1] == "none" || defined.contains(Array(words[1].utf8)) else { throw fail("quorum names \(words[1]), which is not defined above it") }
                quorum = .some(words[1] == "none" ? nil : words[1])
            default:
                throw fail("unknown keyword \(keyword) (expected log, witness, group or quorum)")
            }
        }
        guard let quorum else { throw LedgerError(.malformed, "policy: no quorum line") }
        self.init(logs: logs, logURLs: urls, witnesses: witnesses, groups: groups, quorum: quorum)
    }

    /// The policy as a file.
    public var text: String {
        var out = ""
        for (log, url) in zip(logs, logURLs) { out += "log \(log.vkey)" + (url.map { " \($0)" } ?? "") + "\n" }
        for w in witnesses { out += "witness \(w.name) \(w.verifier.vkey)" + (w.url.map { " \($0)" } ?? "") + "\n" }
        for g in groups {
            let k = g.threshold == g.members.count ? "all" : g.threshold == 1 ? "any" : String(g.threshold)
            out += "group \(g.name) \(k) \(g.members.joined(separator: " "))\n"
        }
        out += "quorum \(quorum ?? "none")\n"
        return out
    }

    /// What a checkpoint verified against the policy shows.
    public struct Verified: Sendable, Equatable {
        public var checkpoint: Checkpoint
        /// The log key that signed it.
        public var log: String
        /// The witnesses (policy names) whose cosignatures verified, with their times.
        public var witnesses: [String: UInt64]
        /// Lines by a listed witness's key name and id that do not verify (counted as absent),
        /// each as "name: reason": someone made them up, or mangled them on the way.
        public var refused: [String] = []
    }

    /// Checks `note`: signed by one of the policy's logs, and cosigned by witnesses meeting the
    /// quorum. Cosignatures that do not verify count as absent (and are named: in the error if
    /// the quorum then fails, else in `refused`); lines of unknown keys are ignored.
    public func verify(_ note: SignedNote) throws(LedgerError) -> Verified {
        let (checkpoint, logName) = try logSigned(note)
        return try witnessed(note, checkpoint: checkpoint, log: logName)
    }

    /// `verify(_:)` for a log that may have moved to another key since the policy was written:
    /// `rotations` (the log's `key.rotation` entries in index order, as a node gives them: from
    /// the key the federation pins; their signatures not yet checked) are followed from the
    /// policy's key for the note's origin — past the one that rotated to it, when the policy
    /// names a key the log moved to — each checked by the chain's rules (`KeyChain.check`: signed
    /// by the key in force at its index, to a key the log never had, those before the policy's
    /// included, at most `KeyChain.maxRotations`), then its two signatures; the note must be signed by the key in
    /// force at its size. A note a key of the policy signs needs none (`followed` 0), as in the
    /// browser's check. Nodes follow a chain with the federation's revocations; this reader
    /// cannot, so a key reached by rotations is taken only where the policy has a quorum:
    /// witnesses, who follow the revocations, vouch for the checkpoint. That the rotations are
    /// the log's own (included in the checkpoint) is the caller's to check, against the
    /// checkpoint this returns.
    public func verify(_ note: SignedNote, following rotations: [KeyRotation]) throws(LedgerError) -> (verified: Verified, followed: Int) {
        let unrotated: LedgerError
        switch Result(catching: { () throws(LedgerError) in try logSigned(note) }) {
        case .success(let (checkpoint, logName)): return (try witnessed(note, checkpoint: checkpoint, log: logName), 0)
        case .failure(let error): unrotated = error
        }
        guard let origin = rotations.first?.origin, let line = logs.first(where: { Array($0.name.utf8) == Array(origin.utf8) }) else { throw unrotated }
        // The chain as a node gives it starts at the key the federation pins: a policy written
        // after a rotation names the key it moved to, and is followed from there. The keys before
        // it are the log's too: no rotation after may come back to one (as no node's chain may).
        let start = rotations.firstIndex(where: { $0.key == line.publicKey }).map { $0 + 1 } ?? 0
        let mine = rotations[start...]
        var chain = KeyChain(pinned: line, after: rotations[..<start].flatMap { [$0.previous, $0.key] })
        let checkpoint: Checkpoint
        do throws(LedgerError) {
            for rotation in mine {
                try chain.check(rotation)
                try rotation.verifySignatures()
                try chain.apply(rotation)
            }
            checkpoint = try chain.verifyCheckpoint(note).checkpoint
        } catch {
            throw LedgerError(error.code, "following the log's key rotations from the policy's key \(line.vkey): \(error.message)")
        }
        let followed = mine.filter { $0.index < checkpoint.size }.count
        guard followed == 0 || quorum != nil else {
            throw LedgerError(.badSignature, "the checkpoint of \(origin) is signed by a key the log rotated to after your policy was written, and the policy's quorum is none: "
                              + "a rotated key is followed only where witnesses vouch for the checkpoint (nodes follow the federation's revocations; a reader's policy cannot). "
                              + "Write the policy again from the federation file naming the log's current key (`quartet policy`), or use one with a quorum")
        }
        return (try witnessed(note, checkpoint: checkpoint, log: line.name), followed)
    }

    /// The checkpoint of `note` and the name of the policy's log whose key signed it.
    private func logSigned(_ note: SignedNote) throws(LedgerError) -> (Checkpoint, String) {
        var lastError: LedgerError?
        for log in logs where note.signatures.contains(where: { $0.keyName == log.name && $0.keyID == log.keyID }) {
            do { return (try log.verifyCheckpoint(note), log.name) } catch { lastError = error }
        }
        if let lastError { throw lastError }
        // Signed under a log's name by a key the policy does not name: most likely the log moved
        // to a new key after the policy was written.
        if let named = logs.first(where: { log in note.signatures.contains { $0.keyName == log.name } }) {
            throw LedgerError(.badSignature, "the checkpoint is signed as \(named.name) by a key the policy does not name (not \(named.vkey)): "
                              + "if the log rotated its key since the policy was written, write the policy again from the federation file naming its current key (`quartet policy`); "
                              + "a figure's provenance carries the log's rotations, which `quartet verify-figure` follows from the policy's key under a policy with a quorum")
        }
        throw LedgerError(.badSignature, "the checkpoint is not signed by any log of the policy")
    }

    /// The witnesses whose cosignatures of `note` (stating `checkpoint`) verify, with their
    /// times, meeting the quorum: `verify`'s witness part, whatever key signed the log's line
    /// (the caller checks that too).
    public func cosigned(_ note: SignedNote, checkpoint: Checkpoint) throws(LedgerError) -> [String: UInt64] {
        try witnessed(note, checkpoint: checkpoint, log: "").witnesses
    }

    /// `checkpoint`, verified as the note's under log key `log`, with the witnesses whose
    /// cosignatures verify; it must meet the quorum.
    private func witnessed(_ note: SignedNote, checkpoint: Checkpoint, log logName: String) throws(LedgerError) -> Verified {
        var signed: [String: UInt64] = [:]
        var refused: [String] = []
        for w in witnesses where note.signatures.contains(where: w.verifier.owns) {
            do { signed[w.name] = try w.verifier.verify(note) } catch { refused.append("\(w.name): \(error.message)") }
        }
        guard let quorum else { return Verified(checkpoint: checkpoint, log: logName, witnesses: signed, refused: refused) }
        guard satisfied(quorum, by: Set(signed.keys)) else {
            let names = signed.keys.sorted()
            throw LedgerError(.badSignature, "the checkpoint of \(checkpoint.origin) at size \(checkpoint.size) does not meet the quorum \(quorum)"
                              + " (\(describe(quorum))): cosigned by \(names.isEmpty ? "no witness of the policy" : names.joined(separator: ", "))"
                              + (refused.isEmpty ? "" : "; refused: " + refused.joined(separator: "; ")))
        }
        return Verified(checkpoint: checkpoint, log: logName, witnesses: signed, refused: refused)
    }

    /// How fresh a verified checkpoint is by its witnesses' word: the latest time `t` such that
    /// the witnesses whose cosignatures are dated `t` or later still meet the quorum — each said
    /// that, as of its time, this was the largest tree it had seen (C2SP tlog-cosignature). Nil
    /// without a quorum line, or when `signed` does not meet it. A node serving an old
    /// checkpoint a quorum did cosign shows here how old the quorum's word is.
    public func quorumTime(_ signed: [String: UInt64]) -> UInt64? {
        guard let quorum else { return nil }
        for t in Set(signed.values).sorted(by: >) where satisfied(quorum, by: Set(signed.filter { $0.value >= t }.keys)) {
            return t
        }
        return nil
    }

    /// Whether witness or group `name` has witnessed, given the witnesses that cosigned.
    public func satisfied(_ name: String, by signed: Set<String>) -> Bool {
        let bytes = Array(name.utf8)
        if witnesses.contains(where: { Array($0.name.utf8) == bytes }) { return signed.contains { Array($0.utf8) == bytes } }
        guard let group = groups.first(where: { Array($0.name.utf8) == bytes }) else { return false }
        return group.members.filter { satisfied($0, by: signed) }.count >= group.threshold
    }

    func describe(_ name: String) -> String {
        guard let group = groups.first(where: { Array($0.name.utf8) == Array(name.utf8) }) else { return "witness \(name)" }
        return "\(group.threshold) of \(group.members.joined(separator: ", "))"
    }
}
