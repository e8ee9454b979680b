import Foundation
import QuartetCrypto
import QuartetLedger
import QuartetPolicy
import Testing

/// Data owners' entries in the federation file change only by statements the owner signs
/// (`OwnerStatement`, `OwnerHistory`), and an agreement the owner signed that the file no
/// longer lets count is withdrawn — ended, so recipients purge — not silently dropped.
@Suite struct OwnerChangeTests {
    let first = try! Ed25519PrivateKey()
    let second = try! Ed25519PrivateKey()
    let label = "heiw.workforce.headcount"

    func verifier(_ key: Ed25519PrivateKey, _ name: String = "HEIW") -> NoteVerifier { NoteVerifier(name: name, publicKey: key.publicKey) }

    func statement(by key: Ed25519PrivateKey, to next: Ed25519PrivateKey, labels: [String] = ["heiw.*"], owner: String = "HEIW") throws -> String {
        let text = OwnerStatement(owner: owner, from: verifier(key, owner), key: verifier(next, owner), labels: labels).text
        return try NoteSigner(name: owner, key: key).sign(text: text).serialized
    }

    func entry(_ key: Ed25519PrivateKey, labels: [String] = ["heiw.*"], statements: [String] = [], retired: Bool = false) throws -> OwnerHistory.Entry {
        OwnerHistory.Entry(key: verifier(key), labels: labels,
                           history: try OwnerHistory.verify(owner: "HEIW", key: verifier(key), labels: labels, notes: statements, retired: retired))
    }

    @Test func aChainIsCheckedStatementByStatementToTheEntry() throws {
        let rotation = try statement(by: first, to: second)
        let history = try OwnerHistory.verify(owner: "HEIW", key: verifier(second), labels: ["heiw.*"], notes: [rotation], retired: false)
        #expect(history.pastKeys == [verifier(first)])
        // Signed by a key other than the one it names as `from`.
        let stranger = try Ed25519PrivateKey()
        var forged = try SignedNote(parsing: rotation)
        forged = try NoteSigner(name: "HEIW", key: stranger).sign(text: forged.text)
        #expect(throws: PolicyError.self) { try OwnerHistory.verify(owner: "HEIW", key: verifier(second), labels: ["heiw.*"], notes: [forged.serialized], retired: false) }
        // The last statement must name the entry: another key, or other labels.
        #expect(throws: PolicyError.self) { try OwnerHistory.verify(owner: "HEIW", key: verifier(first), labels: ["heiw.*"], notes: [rotation], retired: false) }
        #expect(throws: PolicyError.self) { try OwnerHistory.verify(owner: "HEIW", key: verifier(second), labels: ["heiw.*", "x.*"], notes: [rotation], retired: false) }
        // Linked: the second statement is signed by the key the first names.
        let third = try Ed25519PrivateKey()
        let unlinked = try statement(by: stranger, to: third)
        do {
            _ = try OwnerHistory.verify(owner: "HEIW", key: verifier(third), labels: ["heiw.*"], notes: [rotation, unlinked], retired: false)
            Issue.record("an unlinked chain was taken")
        } catch {
            #expect(error.message.contains("statement 1 is signed by"), "\(error)")
        }
        // Another owner's statement.
        let other = try statement(by: first, to: second, owner: "HCPC")
        #expect(throws: PolicyError.self) { try OwnerHistory.verify(owner: "HEIW", key: verifier(second, "HCPC"), labels: ["heiw.*"], notes: [other], retired: false) }
    }

    @Test func anOwnersEntryChangesOnlyByItsOwnSignature() throws {
        let accepted = try entry(first)
        // Unchanged: fine, with or without new statements.
        #expect(OwnerHistory.succession(owner: "HEIW", accepted: accepted, new: accepted) == nil)
        // A quorum pinning a key of its own: refused.
        let theirs = try Ed25519PrivateKey()
        let pinned = try entry(theirs)
        #expect(OwnerHistory.succession(owner: "HEIW", accepted: accepted, new: pinned)?.contains("without a statement signed by its key") == true)
        // ... also with a chain of its own making (signed by its own key, from its own key).
        let madeUp = try entry(theirs, statements: [try statement(by: theirs, to: theirs)])
        #expect(OwnerHistory.succession(owner: "HEIW", accepted: accepted, new: madeUp) != nil)
        // Labels moved away (to an owner of the quorum's): refused without the owner's statement.
        let fewer = try entry(first, labels: ["heiw.other"])
        #expect(OwnerHistory.succession(owner: "HEIW", accepted: accepted, new: fewer) != nil)
        // The owner's own rotation: taken, and the new key is what counts.
        let rotated = try entry(second, statements: [try statement(by: first, to: second)])
        #expect(OwnerHistory.succession(owner: "HEIW", accepted: accepted, new: rotated) == nil)
        // A later version keeps the statements accepted, adding after them.
        let third = try Ed25519PrivateKey()
        let again = try entry(third, statements: rotated.history.statements + [try statement(by: second, to: third)])
        #expect(OwnerHistory.succession(owner: "HEIW", accepted: rotated, new: again) == nil)
        // A node that accepted only the first entry takes the two steps at once.
        #expect(OwnerHistory.succession(owner: "HEIW", accepted: accepted, new: again) == nil)
        // Statements dropped or rewritten: refused (the chain is how a node two versions behind follows).
        #expect(OwnerHistory.succession(owner: "HEIW", accepted: again, new: rotated) != nil)
        // Left out: refused; retired instead.
        #expect(OwnerHistory.succession(owner: "HEIW", accepted: accepted, new: nil)?.contains("retired") == true)
        let retired = try entry(first, retired: true)
        #expect(OwnerHistory.succession(owner: "HEIW", accepted: accepted, new: retired) == nil)
        // Retired for good: not back, not changed.
        #expect(OwnerHistory.succession(owner: "HEIW", accepted: retired, new: accepted) != nil)
        #expect(OwnerHistory.succession(owner: "HEIW", accepted: retired, new: try entry(second, statements: [try statement(by: first, to: second)], retired: true)) != nil)
        #expect(OwnerHistory.succession(owner: "HEIW", accepted: retired, new: retired) == nil)
    }

    @Test func anAgreementTheFileNoLongerLetsCountIsWithdrawnAndEnded() throws {
        let rotation = try statement(by: first, to: second, labels: [label])
        let history = ["HEIW": try OwnerHistory.verify(owner: "HEIW", key: verifier(second), labels: [label], notes: [rotation], retired: false)]
        let labels = try LabelOwnership(["HEIW": [label]])
        var policy = Policy(owners: ["HEIW": verifier(second)], labels: labels, history: history)
        let old = try heiwAgreement()
        let during = try #require(Timestamp.parse("2025-06-01T00:00:00Z"))
        // Signed by the key HEIW changed from: kept by its id, in force nowhere, ended.
        #expect(policy.apply(log: "wales", index: 0, timeMillis: 0, type: "agreement.established",
                             payload: payload(try NoteSigner(name: "HEIW", key: first).sign(text: old.text))) == .accepted(old.id))
        let state = try #require(policy.agreements[old.id])
        #expect(state.withdrawn?.contains("changed from") == true)
        #expect(!state.inForce(at: during))
        #expect(state.ended(by: during) == "withdrawn")
        #expect(policy.status(old.id, at: during) == "withdrawn")
        #expect(policy.access(label: label, holder: "wales", recipient: "uk", at: during).access == .none)
        // Its id stays taken: the same id signed by the new key is not a second agreement.
        #expect(policy.apply(log: "wales", index: 1, timeMillis: 0, type: "agreement.established",
                             payload: payload(try NoteSigner(name: "HEIW", key: second).sign(text: old.text))) != .accepted(old.id))
        // The holder cannot append one signed by the old key as new.
        #expect(throws: PolicyError.self) {
            var fresh = old
            fresh.id = "HEIW-WALES-2025-02"
            try policy.check(type: "agreement.established", payload: payload(try NoteSigner(name: "HEIW", key: first).sign(text: fresh.text)), log: "wales")
        }
        // Signed by no key of HEIW's: ignored as before, not kept.
        var junk = old
        junk.id = "HEIW-JUNK-1"
        guard case .ignored = policy.apply(log: "wales", index: 2, timeMillis: 0, type: "agreement.established",
                                           payload: payload(try NoteSigner(name: "HEIW", key: try Ed25519PrivateKey()).sign(text: junk.text))) else {
            Issue.record("a forged agreement was kept"); return
        }
        #expect(policy.agreements[junk.id] == nil)
    }

    @Test func aRetiredOwnersAndAMovedLabelsAgreementsAreWithdrawn() throws {
        let a = try heiwAgreement()
        let during = try #require(Timestamp.parse("2025-06-01T00:00:00Z"))
        let note = try NoteSigner(name: "HEIW", key: first).sign(text: a.text)
        // Retired.
        let retired = ["HEIW": try OwnerHistory.verify(owner: "HEIW", key: verifier(first), labels: [label], notes: [], retired: true)]
        var policy = Policy(owners: ["HEIW": verifier(first)], labels: try LabelOwnership(["HEIW": [label]]), history: retired)
        #expect(policy.apply(log: "wales", index: 0, timeMillis: 0, type: "agreement.established", payload: payload(note)) == .accepted(a.id))
        #expect(policy.status(a.id, at: during) == "withdrawn")
        #expect(policy.agreements[a.id]?.withdrawn?.contains("retired") == true)
        // The label now another owner's.
        let hcpc = try Ed25519PrivateKey()
        var moved = Policy(owners: ["HEIW": verifier(first), "HCPC": verifier(hcpc, "HCPC")],
                           labels: try LabelOwnership(["HEIW": ["heiw.other"], "HCPC": [label]]))
        #expect(moved.apply(log: "wales", index: 0, timeMillis: 0, type: "agreement.established", payload: payload(note)) == .accepted(a.id))
        #expect(moved.agreements[a.id]?.withdrawn?.contains("belongs to HCPC") == true)
        #expect(moved.access(label: label, holder: "wales", recipient: "uk", at: during).access == .none)
        // Revoking it later changes nothing of that.
        #expect(moved.apply(log: "wales", index: 1, timeMillis: 1, type: "agreement.revoked",
                            payload: Array(#"{"id":"HEIW-WALES-2025-01","reason":"done"}"#.utf8)) == .revoked(a.id))
        #expect(moved.status(a.id, at: during) == "withdrawn")
    }
}
