import Foundation
import QuartetCrypto
import QuartetLedger
import Synchronization

/// Agreement entries' payloads: parsed, judged under the federation file, owners' signatures
/// checked once.
extension Policy {
    // MARK: Payloads

    /// Checks an `agreement.established` payload, `{"note": "<signed note>"}`: the note parses,
    /// its text is an agreement, the data owner's pinned key signed it, the owner is not
    /// retired and the federation file gives it every label the agreement opens.
    public static func verify(payload: [UInt8], owners: [String: NoteVerifier], labels: LabelOwnership? = nil,
                              history: [String: OwnerHistory] = [:]) throws(PolicyError) -> (Agreement, String) {
        switch judge(payload: payload, owners: owners, labels: labels, history: history) {
        case .counts(let agreement, let note): return (agreement, note)
        case .withdrawn(let agreement, _, let reason): throw PolicyError("agreement \(agreement.id): \(reason)")
        case .refused(let error): throw error
        }
    }

    /// What an agreement entry is under the federation file.
    enum Judgement {
        /// Its owner's key in force signed it, the owner is not retired, its labels are the owner's.
        case counts(Agreement, String)
        /// Its owner signed it, but the file no longer lets it count: a key the owner has changed
        /// from (one its statements name), a retired owner, or a label the file gives another
        /// owner or none. Ended, so recipients purge (`withdraw`).
        case withdrawn(Agreement, String, reason: String)
        /// No key of its owner signed it, or it is no agreement: ignored.
        case refused(PolicyError)
    }

    /// Judges an agreement entry with at most one signature check, whatever its note holds: by
    /// the owner's key in force when the note carries its line (an agreement it signed; a line
    /// that fails is a refusal, not a reason to try past keys), else by the first past key
    /// whose line it carries (an honest agreement carries one line of its owner's).
    static func judge(payload: [UInt8], owners: [String: NoteVerifier], labels: LabelOwnership?, history: [String: OwnerHistory]) -> Judgement {
        let agreement: Agreement, note: SignedNote, noteText: String
        do { (agreement, note, noteText) = try parse(payload: payload, owners: owners) } catch { return .refused(error) }
        let owner = agreement.owner
        guard let current = owners[owner] else {
            return .refused(PolicyError("agreement \(agreement.id): the federation file pins no key for data owner \(owner)"))
        }
        func carries(_ key: NoteVerifier) -> Bool { note.signatures.contains { $0.keyName.utf8.elementsEqual(key.name.utf8) && $0.keyID == key.keyID } }
        if carries(current) {
            do { try checkSignature(note, by: current) } catch {
                return .refused(PolicyError("agreement \(agreement.id): not countersigned by data owner \(owner) (\(error.message))"))
            }
            if history[owner]?.retired == true {
                return .withdrawn(agreement, noteText, reason: "data owner \(owner) is retired; none of its agreements is in force")
            }
            if let labels, let refusal = labelRefusal(agreement, labels) { return .withdrawn(agreement, noteText, reason: refusal) }
            return .counts(agreement, noteText)
        }
        let past = history[owner]?.pastKeys ?? []
        guard let key = note.signatures.lazy.compactMap({ line in past.first { $0.name.utf8.elementsEqual(line.keyName.utf8) && $0.keyID == line.keyID } }).first else {
            return .refused(PolicyError("agreement \(agreement.id): not countersigned by data owner \(owner) (note carries no signature by \(current.name)+\(Hex.encode(current.keyID)))"))
        }
        do { try checkSignature(note, by: key) } catch {
            return .refused(PolicyError("agreement \(agreement.id): not countersigned by data owner \(owner) (\(error.message))"))
        }
        return .withdrawn(agreement, noteText, reason: "signed by \(key.vkey), a key data owner \(owner) has changed from")
    }

    /// An agreement entry's note and agreement, with its id checked against the owners' ids.
    private static func parse(payload: [UInt8], owners: [String: NoteVerifier]) throws(PolicyError) -> (Agreement, SignedNote, String) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any], object.count == 1,
              let noteText = object["note"] as? String else {
            throw PolicyError("payload: expected {\"note\": \"<the agreement as a signed note>\"}")
        }
        let note: SignedNote
        do { note = try SignedNote(parsing: noteText) } catch { throw PolicyError("payload.note: \(error.message)") }
        let agreement = try Agreement(text: note.text)
        // An id names one agreement everywhere: it begins with its owner's id, so no owner can
        // take (and so contest) another owner's agreement id.
        guard agreement.id.hasPrefix(agreement.owner + "-") else {
            throw PolicyError("agreement \(agreement.id): an agreement id begins with its data owner's id and '-' (e.g. \(agreement.owner)-2025)")
        }
        // Nor one whose id also begins with a longer owner id ("NHS-SCOTLAND-1" is
        // NHS-SCOTLAND's, not NHS's): an owner whose id prefixes another's could otherwise take
        // that owner's ids and contest its agreements out of force.
        if let other = owners.keys.sorted().first(where: { $0 != agreement.owner && $0.count > agreement.owner.count && agreement.id.hasPrefix($0 + "-") }) {
            throw PolicyError("agreement \(agreement.id): the id begins with data owner \(other)'s id; \(agreement.owner)'s agreement ids begin with \(agreement.owner)- and not another owner's")
        }
        return (agreement, note, noteText)
    }

    /// Checks `verifier`'s signature on `note`, remembered once it verifies. Keyed by what the
    /// check decides on: the text and the key's line (other keys' lines, which anyone can add,
    /// would make each copy of one agreement a new entry).
    private static func checkSignature(_ note: SignedNote, by verifier: NoteVerifier) throws(LedgerError) {
        let checked = SHA256.hash(Array("\(verifier.vkey)\n\(verifier.originOnly(note).serialized)".utf8))
        guard !CheckedAgreementSignatures.shared.contains(checked) else { return }
        try verifier.verify(note)
        CheckedAgreementSignatures.shared.insert(checked)
    }

    /// Why the federation file's labels do not let `agreement` open what it names, or nil.
    private static func labelRefusal(_ agreement: Agreement, _ labels: LabelOwnership) -> String? {
        for label in agreement.labels {
            guard let owner = labels.owner(of: label) else { return "label \(label) belongs to no data owner in the federation file" }
            guard owner == agreement.owner else { return "label \(label) belongs to \(owner); only \(owner) may open it, not \(agreement.owner)" }
        }
        return nil
    }

    /// An `agreement.revoked` payload: `{"id", "reason"}`.
    public static func revocation(_ payload: [UInt8]) throws(PolicyError) -> (id: String, reason: String) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any],
              let id = object["id"] as? String, let reason = object["reason"] as? String, !reason.isEmpty,
              Set(object.keys).isSubset(of: ["id", "reason"]) else {
            throw PolicyError("payload: expected {\"id\": \"<agreement id>\", \"reason\": \"...\"}")
        }
        return (id, reason)
    }
}
