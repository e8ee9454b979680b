import Foundation
import QuartetLedger

/// A data owner's own word on its entry in the federation file: a signed note, made with the
/// key the owner held before (`from`), naming the key and labels it holds after. The federation
/// file is signed by a quorum of members, not by the owners; without these a quorum could pin a
/// key of its own for an owner (and sign agreements in its name) or move its labels to an
/// owner of its own. A node that has accepted an owner's entry takes a change to it only with
/// statements signed by the owner, each by the key before it (`OwnerHistory.succession`).
///
///     quartet data owner
///     uk-ot-workforce
///     HEIW
///     seq 1
///     from HEIW+1f2e3d4c+AQ…
///     vkey HEIW+5a6b7c8d+AQ…
///     label heiw.*
///
///     — HEIW …
public struct OwnerStatement: Sendable, Equatable {
    static let header = "quartet data owner"
    /// At most this many statements per owner (a key a year for decades).
    public static let maxPerOwner = 64

    /// The federation whose file it is for (a statement is not replayed into another).
    public var federation: String
    public var owner: String
    /// Its place in the owner's statements: each one's is greater than the one before it, so an
    /// old statement cannot be added again after a later one (a label rolled back).
    public var sequence: UInt64
    /// The key that signs: the owner's key before the change.
    public var from: NoteVerifier
    /// The owner's key after it.
    public var key: NoteVerifier
    /// Its labels after it.
    public var labels: [String]

    public init(federation: String, owner: String, sequence: UInt64, from: NoteVerifier, key: NoteVerifier, labels: [String]) {
        self.federation = federation
        self.owner = owner
        self.sequence = sequence
        self.from = from
        self.key = key
        self.labels = labels
    }

    /// The note text.
    public var text: String {
        "\(Self.header)\n\(federation)\n\(owner)\nseq \(sequence)\nfrom \(from.vkey)\nvkey \(key.vkey)\n" + labels.map { "label \($0)\n" }.joined()
    }

    /// The largest sequence number a statement may carry (2^53: exact in every JSON reader).
    public static let maxSequence: UInt64 = 1 << 53

    /// Parses and checks a statement as signed: its form, both keys named by the owner, and
    /// the signature of `from`.
    public init(note: SignedNote) throws(PolicyError) {
        let lines = note.text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 7, lines.last == "", lines[0] == Self.header, !lines[1].isEmpty, !lines[2].isEmpty,
              lines[3].hasPrefix("seq "), let sequence = UInt64(lines[3].dropFirst(4)), String(sequence) == lines[3].dropFirst(4),
              lines[4].hasPrefix("from "), lines[5].hasPrefix("vkey ") else {
            throw PolicyError("expected `\(Self.header)`, the federation's name, the owner's id, `seq N`, `from <vkey>`, `vkey <vkey>` and a `label <label>` line per label")
        }
        // Bounded, so the next statement's number (one more) is always one a statement may
        // carry: a number planted at the top would stop the owner's own next change.
        guard sequence <= Self.maxSequence else {
            throw PolicyError("seq \(sequence): at most \(Self.maxSequence)")
        }
        federation = String(lines[1])
        owner = String(lines[2])
        self.sequence = sequence
        do {
            from = try NoteVerifier(vkey: String(lines[4].dropFirst(5)))
            key = try NoteVerifier(vkey: String(lines[5].dropFirst(5)))
        } catch {
            throw PolicyError("a key line is not a verifier key: \(error.message)")
        }
        guard from.name == owner, key.name == owner else {
            throw PolicyError("both keys must be named by the owner's id (\(owner)); found \(from.name) and \(key.name)")
        }
        var labels: [String] = []
        for line in lines[6..<(lines.count - 1)] {
            guard line.hasPrefix("label "), LabelOwnership.isValid(String(line.dropFirst(6))) else {
                throw PolicyError("expected `label <label or prefix.*>`, found \"\(line.prefix(80))\"")
            }
            labels.append(String(line.dropFirst(6)))
        }
        guard labels.count <= 1000 else { throw PolicyError("at most 1000 labels per data owner") }
        self.labels = labels
        do { try from.verify(note) } catch {
            throw PolicyError("not signed by the key it changes from, \(from.vkey) (\(error.message))")
        }
    }
}

/// What an owner's statements say about its keys: checked as a chain from the first statement
/// to the owner's entry, and what a later version may change (`succession`).
public struct OwnerHistory: Sendable, Equatable {
    /// The statements as written in the federation file (signed notes), oldest first.
    public var statements: [String]
    /// Keys the owner held before its current one, oldest first: an agreement signed by one of
    /// them (and not by the current key) was the owner's, and has ended (`Policy`).
    public var pastKeys: [NoteVerifier]
    /// The owner is retired: none of its agreements is in force; its id and labels stay its.
    public var retired: Bool

    public init(statements: [String] = [], pastKeys: [NoteVerifier] = [], retired: Bool = false) {
        self.statements = statements
        self.pastKeys = pastKeys
        self.retired = retired
    }

    /// Checks `notes` (oldest first) as `owner`'s chain ending at its entry (`key`, `labels`):
    /// each statement signed by the key the one before it names (the first by whatever key it
    /// names as `from`), the last naming exactly the entry. Throws what is wrong and where.
    public static func verify(federation: String, owner: String, key: NoteVerifier, labels: [String], notes: [String], retired: Bool) throws(PolicyError) -> OwnerHistory {
        guard notes.count <= OwnerStatement.maxPerOwner else { throw PolicyError("at most \(OwnerStatement.maxPerOwner) statements per data owner") }
        var past: [NoteVerifier] = []
        var previous: OwnerStatement?
        for (i, text) in notes.enumerated() {
            let statement: OwnerStatement
            do {
                statement = try OwnerStatement(note: try SignedNote(parsing: text))
            } catch let error as PolicyError {
                throw PolicyError("statement \(i): \(error.message)")
            } catch {
                throw PolicyError("statement \(i): not a signed note: \(error)")
            }
            guard statement.owner == owner else { throw PolicyError("statement \(i) is data owner \(statement.owner)'s, not \(owner)'s") }
            guard statement.federation == federation else {
                throw PolicyError("statement \(i) is for federation \(statement.federation), not \(federation)")
            }
            if let previous {
                guard previous.key == statement.from else {
                    throw PolicyError("statement \(i) is signed by \(statement.from.vkey), but statement \(i - 1) named \(previous.key.vkey): each is signed by the key the one before it names")
                }
                guard statement.sequence > previous.sequence else {
                    throw PolicyError("statement \(i) has seq \(statement.sequence), not more than statement \(i - 1)'s \(previous.sequence): an earlier statement does not come again")
                }
                // Numbered one after another (as `agreement owner-change` numbers them): a
                // number planted near the top would leave the owner's next change none to take.
                guard statement.sequence == previous.sequence + 1 else {
                    throw PolicyError("statement \(i) has seq \(statement.sequence), not \(previous.sequence + 1): statements are numbered one after another")
                }
            } else {
                guard statement.sequence == 1 else {
                    throw PolicyError("statement 0 has seq \(statement.sequence), not 1: an owner's statements are numbered from 1")
                }
            }
            if statement.key != statement.from, !past.contains(statement.from) { past.append(statement.from) }
            // A key once changed from does not come back: the agreements it signed were withdrawn.
            guard !past.contains(statement.key) else {
                throw PolicyError("statement \(i) names \(statement.key.vkey), a key data owner \(owner) has changed from; a key does not come back")
            }
            previous = statement
        }
        if let last = previous, last.key != key || Set(last.labels) != Set(labels) {
            throw PolicyError("the last statement names key \(last.key.vkey) and labels [\(last.labels.sorted().joined(separator: ", "))], not the owner's entry (\(key.vkey), [\(labels.sorted().joined(separator: ", "))])")
        }
        return OwnerHistory(statements: notes, pastKeys: past, retired: retired)
    }

    /// The statement that would follow `history` for an owner whose entry is `key`: its
    /// sequence number (one more than the last).
    public static func nextSequence(after history: OwnerHistory) -> UInt64 {
        guard let last = history.statements.last, let note = try? SignedNote(parsing: last), let statement = try? OwnerStatement(note: note) else { return 1 }
        return statement.sequence + 1
    }

    /// One owner's entry as a federation file states it.
    public struct Entry: Sendable, Equatable {
        public var key: NoteVerifier
        public var labels: [String]
        public var history: OwnerHistory

        public init(key: NoteVerifier, labels: [String], history: OwnerHistory) {
            self.key = key
            self.labels = labels
            self.history = history
        }
    }

    /// Why `new` cannot follow `accepted` as `owner`'s entry (nil when it can; nil for `new`
    /// means the owner is left out). The owner's key and labels change only with statements
    /// the owner signed from the accepted key on (those accepted kept, new ones added); a
    /// retired owner stays retired and unchanged (its agreements came back into force
    /// otherwise); an owner is retired, never left out (its agreements would no longer be
    /// found, so never ended: nothing purged, nothing for its auditors).
    public static func succession(owner: String, accepted: Entry, new: Entry?) -> String? {
        guard let new else {
            return "data owner \(owner) is left out; an owner leaves by \"retired\": true (its agreements end and its records stay readable)"
        }
        if accepted.history.retired {
            guard new.history.retired, new.key == accepted.key, Set(new.labels) == Set(accepted.labels),
                  new.history.statements == accepted.history.statements else {
                return "data owner \(owner) is retired; a retired owner stays as it is (a new owner needs a new id)"
            }
            return nil
        }
        guard new.history.statements.starts(with: accepted.history.statements) else {
            return "data owner \(owner)'s statements differ from those accepted; a new version keeps them and adds new ones after"
        }
        let unchanged = new.key == accepted.key && Set(new.labels) == Set(accepted.labels)
        let added = new.history.statements.dropFirst(accepted.history.statements.count)
        guard let first = added.first else {
            return unchanged ? nil : "data owner \(owner)'s key or labels change without a statement signed by its key \(accepted.key.vkey) (`quartet agreement owner-change`)"
        }
        // Added statements start from the key accepted, changed entry or not: a chain a quorum
        // made from a key of its own would make that key one of the owner's past keys.
        guard let note = try? SignedNote(parsing: first), let statement = try? OwnerStatement(note: note), statement.from == accepted.key else {
            return "data owner \(owner)'s new statements do not start from its key \(accepted.key.vkey): the first must be signed by it (`quartet agreement owner-change`)"
        }
        return nil
    }
}
