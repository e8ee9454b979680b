import Foundation
import QuartetLedger
import QuartetPolicy

/// What a member reviews before it signs a federation file (`quartet federation show` and
/// `sign`): every field of the file that decides trust, and a field-by-field diff against the
/// version accepted before. Pure: no files, no output.
///
/// A member signs the file's SHA-256, so whatever the review leaves out, a hostile member
/// preparing a routine change could slip in unseen (delete a revocation, swap another member's
/// witness key, move a data owner's labels). So every field `Federation.parse` keeps is here:
/// the federation's name and version; per member its id, role, log, log key (`vkey`),
/// `current_vkey`, witness key, each revoked key with its size, peer and api; per data owner its
/// id, key and labels. (An owner's `name` is the one field the parser reads and drops: it
/// decides nothing, and is not shown.)
public enum FederationReview {
    /// Where a field belongs.
    public enum Scope: Hashable, Sendable {
        case federation
        case member(String)
        case owner(String)

        /// `federation`, `member ID`, `data owner ID`.
        public var label: String {
            switch self {
            case .federation: return "federation"
            case .member(let id): return "member \(id)"
            case .owner(let id): return "data owner \(id)"
            }
        }
    }

    /// One field as shown: `name` (`role`, `vkey`, `witness`, `revoked`, `label`, ...) and its
    /// value as the file states it. A field that holds a list (a member's revoked keys, an
    /// owner's labels) is one field per item, so an item added or removed shows by itself;
    /// `key` tells items of one list apart.
    public struct Field: Hashable, Sendable {
        public var name: String
        public var value: String
        /// `name`, or `name` and the item for a list's items (`revoked VKEY`, `label heiw.*`).
        public var key: String

        public init(_ name: String, _ value: String, item: String? = nil) {
            self.name = name
            self.value = value
            self.key = item.map { "\(name) \($0)" } ?? name
        }
    }

    /// The fields of `federation`, in the order shown: the federation's, then each member's in
    /// file order, then each owner's by id.
    public static func fields(of federation: Federation) -> [(scope: Scope, fields: [Field])] {
        [(.federation, [Field("name", federation.name), Field("version", String(federation.version))])]
            + federation.members.map { (.member($0.id), fields(of: $0)) }
            + ownerIDs(of: federation).map { (.owner($0), ownerFields(federation, $0)) }
    }

    /// A member's fields. Absent optional fields are absent here too (`current_vkey`,
    /// `witness`); each revocation is a field of its own, by key.
    public static func fields(of member: Federation.Member) -> [Field] {
        var fields = [Field("id", member.id), Field("role", member.role.rawValue), Field("log", member.log), Field("vkey", member.verifier.vkey)]
        if let current = member.current { fields.append(Field("current_vkey", current.vkey)) }
        if let witness = member.witness { fields.append(Field("witness", witness.vkey)) }
        for revocation in revocations(of: member) {
            fields.append(Field("revoked", "\(revocation.vkey) after \(revocation.after)", item: revocation.vkey))
        }
        fields.append(Field("peer", member.peer.description))
        fields.append(Field("api", member.api))
        return fields
    }

    /// A member's revoked keys as the file states them (`vkey`, and `after`: the largest size
    /// the key's checkpoints still count for), by key. A revoked key is one of the log's: the
    /// parser checks its name is the log key's.
    public static func revocations(of member: Federation.Member) -> [(vkey: String, after: UInt64)] {
        member.revoked.map { (vkey: NoteVerifier(name: member.verifier.name, publicKey: $0.key).vkey, after: $0.value) }
            .sorted { $0.vkey < $1.vkey }
    }

    /// The data owners' ids, sorted: those with a key and those with labels.
    public static func ownerIDs(of federation: Federation) -> [String] {
        Set(federation.owners.keys).union(federation.labels.patterns.keys).sorted()
    }

    static func ownerFields(_ federation: Federation, _ id: String) -> [Field] {
        var fields = [Field("id", id)]
        if let key = federation.owners[id] { fields.append(Field("vkey", key.vkey)) }
        for label in (federation.labels.patterns[id] ?? []).sorted() { fields.append(Field("label", label, item: label)) }
        if let history = federation.ownerHistory[id] {
            if history.retired { fields.append(Field("retired", "yes")) }
            // Each statement as what it says (the chain was checked when the file was read).
            for (i, text) in history.statements.enumerated() {
                let said = (try? SignedNote(parsing: text)).flatMap { try? OwnerStatement(note: $0) }
                    .map { "signed by \($0.from.vkey): key \($0.key.vkey), labels \($0.labels.sorted().joined(separator: " "))" } ?? text
                fields.append(Field("statement", said, item: String(i)))
            }
        }
        return fields
    }

    /// One difference between two versions.
    public struct Change: Hashable, Sendable {
        public enum Kind: String, Sendable {
            /// A field (or, with `field` nil, a whole member or owner) the accepted version lacks.
            case added
            /// A field (or a whole member or owner) the new version lacks.
            case removed
            /// A field in both, with another value.
            case changed
        }

        public var scope: Scope
        public var kind: Kind
        /// The field's name (`witness`, `revoked`, `label`, ...); nil when a whole member or
        /// owner was added or removed.
        public var field: String?
        /// The value in the accepted version (nil: added).
        public var old: String?
        /// The value in the new version (nil: removed).
        public var new: String?

        public init(scope: Scope, kind: Kind, field: String?, old: String?, new: String?) {
            self.scope = scope
            self.kind = kind
            self.field = field
            self.old = old
            self.new = new
        }
    }

    /// Every difference from `accepted` (nil: there was none, as for a first version: every
    /// member and owner is added) to `proposed`, field by field. A member or owner present in
    /// one only is one change, whose fields follow as changes of their own (so a new member's
    /// keys are shown as what they are). Empty: no change.
    public static func diff(from accepted: Federation?, to proposed: Federation) -> [Change] {
        let old = accepted.map(fields(of:)) ?? []
        let new = fields(of: proposed)
        var changes: [Change] = []
        let oldScopes = Dictionary(old.map { ($0.scope, $0.fields) }, uniquingKeysWith: { first, _ in first })
        let newScopes = Dictionary(new.map { ($0.scope, $0.fields) }, uniquingKeysWith: { first, _ in first })
        // The new version's order, then what only the accepted one had (in its order).
        let scopes = new.map(\.scope) + old.map(\.scope).filter { newScopes[$0] == nil }
        for scope in scopes {
            let before = oldScopes[scope], after = newScopes[scope]
            if scope != .federation {
                if before == nil { changes.append(Change(scope: scope, kind: .added, field: nil, old: nil, new: nil)) }
                if after == nil { changes.append(Change(scope: scope, kind: .removed, field: nil, old: nil, new: nil)) }
            }
            let beforeByKey = Dictionary((before ?? []).map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
            let afterByKey = Dictionary((after ?? []).map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
            for field in after ?? [] {
                if let was = beforeByKey[field.key] {
                    if was.value != field.value { changes.append(Change(scope: scope, kind: .changed, field: field.name, old: was.value, new: field.value)) }
                } else {
                    changes.append(Change(scope: scope, kind: .added, field: field.name, old: nil, new: field.value))
                }
            }
            for field in before ?? [] where afterByKey[field.key] == nil {
                changes.append(Change(scope: scope, kind: .removed, field: field.name, old: field.value, new: nil))
            }
        }
        return changes
    }

    /// What a change means for trust, where a reviewer could miss it: nil for most.
    static func warning(_ change: Change) -> String? {
        switch (change.scope, change.field, change.kind) {
        case (.member, "revoked"?, .removed): return "a revocation deleted: that key may sign this log's checkpoints again"
        case (.member, "revoked"?, .changed): return "a revocation moved: the key's checkpoints up to the new size count"
        case (.member, "witness"?, .changed), (.member, "witness"?, .removed): return "this member's witness key replaced or removed"
        case (.member, "vkey"?, .changed): return "the log's pinned key replaced (a log key changes by rotation, not here)"
        case (.member, "current_vkey"?, _): return "the key whose signature counts as this member's"
        case (.owner, "vkey"?, .changed), (.owner, "vkey"?, .removed): return "the key that countersigns this owner's agreements"
        case (.owner, "label"?, _): return "which agreements this owner's key may open"
        case (.federation, "name"?, _): return "nodes of one federation refuse a file of another"
        case (.member, "peer"?, .changed): return "address changed: members will dial this host"
        case (.member, "api"?, .changed): return "address changed: members will read this host"
        default: return nil
        }
    }

    /// The text of `fields(of:)`, one line per field, indented under its member or owner.
    public static func lines(of federation: Federation) -> [String] {
        var lines: [String] = ["federation \(federation.name), version \(federation.version)"]
        for (scope, fields) in fields(of: federation) where scope != .federation {
            lines.append(scope.label)
            let width = fields.map(\.name.count).max() ?? 0
            for field in fields where field.name != "id" {
                lines.append("  \(field.name):\(String(repeating: " ", count: width - field.name.count + 1))\(field.value)")
            }
            if case .member(let id) = scope, let member = federation.member(id) {
                if member.current == nil { lines.append("  (no current_vkey: signs with vkey)") }
                if member.witness == nil { lines.append("  (no witness key: witnesses no log)") }
                if member.revoked.isEmpty { lines.append("  (no revoked keys)") }
            }
            if case .owner = scope, !fields.contains(where: { $0.name == "label" }) { lines.append("  (no labels: opens nothing)") }
        }
        return lines
    }

    /// The text of `diff`: one line per change, grouped by member or owner; "no change" when
    /// there is none.
    public static func lines(of changes: [Change]) -> [String] {
        guard !changes.isEmpty else { return ["no change"] }
        var lines: [String] = []
        var current: Scope?
        // Whether the current member or owner is added or removed whole: its fields are then
        // listed without the notes meant for one field changed among others.
        var whole = false
        for change in changes {
            if change.scope != current {
                current = change.scope
                whole = change.field == nil
                switch (change.field, change.kind) {
                case (nil, .added): lines.append("+ \(change.scope.label) (added)")
                case (nil, .removed): lines.append("- \(change.scope.label) (removed)")
                default: lines.append("~ \(change.scope.label)")
                }
                if change.field == nil { continue }
            }
            guard let field = change.field, !(whole && field == "id") else { continue }
            let note = whole ? "" : warning(change).map { "   [\($0)]" } ?? ""
            switch change.kind {
            case .added: lines.append("    + \(field): \(change.new ?? "")\(note)")
            case .removed: lines.append("    - \(field): \(change.old ?? "")\(note)")
            case .changed: lines.append("    ~ \(field): \(change.old ?? "") -> \(change.new ?? "")\(note)")
            }
        }
        return lines
    }
}
