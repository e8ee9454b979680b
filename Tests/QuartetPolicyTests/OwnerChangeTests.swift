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

    func statement(by key: Ed25519PrivateKey, to next: Ed25519PrivateKey, labels: [String] = ["heiw.*"], owner: String = "HEIW",
                   sequence: UInt64 = 1, federation: String = "uk-ot") throws -> String {
        let text = OwnerStatement(federation: federation, owner: owner, sequence: sequence, from: verifier(key, owner), key: verifier(next, owner), labels: labels).text
        return try NoteSigner(name: owner, key: key).sign(text: text).serialized
    }

    func verify(_ key: Ed25519PrivateKey, labels: [String] = ["heiw.*"], _ notes: [String], retired: Bool = false) throws -> OwnerHistory {
        try OwnerHistory.verify(federation: "uk-ot", owner: "HEIW", key: verifier(key), labels: labels, notes: notes, retired: retired)
    }

    func entry(_ key: Ed25519PrivateKey, labels: [String] = ["heiw.*"], statements: [String] = [], retired: Bool = false) throws -> OwnerHistory.Entry {
        OwnerHistory.Entry(key: verifier(key), labels: labels, history: try verify(key, labels: labels, statements, retired: retired))
    }

    @Test func aChainIsCheckedStatementByStatementToTheEntry() throws {
        let rotation = try statement(by: first, to: second)
        let history = try verify(second, [rotation])
        #expect(history.pastKeys == [verifier(first)])
        // Signed by a key other than the one it names as `from`.
        let stranger = try Ed25519PrivateKey()
        var forged = try SignedNote(parsing: rotation)
        forged = try NoteSigner(name: "HEIW", key: stranger).sign(text: forged.text)
        #expect(throws: PolicyError.self) { try verify(second, [forged.serialized]) }
        // The last statement must name the entry: another key, or other labels.
        #expect(throws: PolicyError.self) { try verify(first, [rotation]) }
        #expect(throws: PolicyError.self) { try verify(second, labels: ["heiw.*", "x.*"], [rotation]) }
        // Linked: the second statement is signed by the key the first names.
        let third = try Ed25519PrivateKey()
        let unlinked = try statement(by: stranger, to: third, sequence: 2)
        do {
            _ = try verify(third, [rotation, unlinked])
            Issue.record("an unlinked chain was taken")
        } catch {
            #expect("\(error)".contains("statement 1 is signed by"), "\(error)")
        }
        // Another owner's statement; another federation's.
        let other = try statement(by: first, to: second, owner: "HCPC")
        #expect(throws: PolicyError.self) { try OwnerHistory.verify(federation: "uk-ot", owner: "HEIW", key: verifier(second, "HCPC"), labels: ["heiw.*"], notes: [other], retired: false) }
        #expect(throws: PolicyError.self) { try verify(second, [try statement(by: first, to: second, federation: "elsewhere")]) }
        // Sequence numbers rise: an old statement does not come again after a later one (a
        // label rolled back), nor does a key once changed from.
        let labelsOnly = try statement(by: second, to: second, labels: ["heiw.*", "x.*"], sequence: 2)
        let dropped = try statement(by: second, to: second, labels: ["heiw.*"], sequence: 3)
        #expect(throws: Never.self) { try verify(second, [rotation, labelsOnly, dropped]) }
        #expect(throws: PolicyError.self) { try verify(second, labels: ["heiw.*", "x.*"], [rotation, labelsOnly, dropped, labelsOnly]) }
        let back = try statement(by: second, to: first, sequence: 4)
        do {
            _ = try verify(first, [rotation, labelsOnly, dropped, back])
            Issue.record("a key changed from came back")
        } catch {
            #expect("\(error)".contains("does not come back"), "\(error)")
        }
    }

    /// A statement numbered at the top (planted by whoever writes the file, under a throwaway
    /// first key) made the owner's next statement's number overflow, or pass the bound: `quartet
    /// agreement owner-change` trapped, or refused its own statement. Statements are numbered
    /// from 1, one after another, so the next number is always one a statement may carry.
    @Test func statementsAreNumberedOneAfterAnotherFromOne() throws {
        #expect(throws: PolicyError.self) { try verify(second, [try statement(by: first, to: second, sequence: UInt64.max)]) }
        #expect(throws: PolicyError.self) { try verify(second, [try statement(by: first, to: second, sequence: OwnerStatement.maxSequence)]) }
        let third = try Ed25519PrivateKey()
        let one = try statement(by: first, to: second, sequence: 1)
        #expect(throws: PolicyError.self) { try verify(third, [one, try statement(by: second, to: third, sequence: 3)]) }
        let history = try verify(second, [one])
        let next = OwnerHistory.nextSequence(after: history)
        #expect(next == 2)
        #expect(try verify(third, [one, try statement(by: second, to: third, sequence: next)]).pastKeys == [verifier(first), verifier(second)])
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
        // ... or a chain of its own leading to the owner's unchanged entry, which would make its
        // key one of the owner's past keys (a review found it taken): refused.
        let sneaked = try entry(first, statements: [try statement(by: theirs, to: first)])
        #expect(OwnerHistory.succession(owner: "HEIW", accepted: accepted, new: sneaked)?.contains("do not start from its key") == true)
        // Labels moved away (to an owner of the quorum's): refused without the owner's statement.
        let fewer = try entry(first, labels: ["heiw.other"])
        #expect(OwnerHistory.succession(owner: "HEIW", accepted: accepted, new: fewer) != nil)
        // The owner's own rotation: taken, and the new key is what counts.
        let rotated = try entry(second, statements: [try statement(by: first, to: second)])
        #expect(OwnerHistory.succession(owner: "HEIW", accepted: accepted, new: rotated) == nil)
        // A later version keeps the statements accepted, adding after them.
        let third = try Ed25519PrivateKey()
        let again = try entry(third, statements: rotated.history.statements + [try statement(by: second, to: third, sequence: 2)])
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

    /// An agreement signed again under its id after a key change keeps its method: with a larger
    /// minimum cell size, the tables made under the id at the smaller one would be judged (and
    /// sent in full, and shown) by terms they were not made with (review of 2026-12-06, 316).
    @Test func anAgreementSignedAgainUnderItsIdKeepsItsMethod() throws {
        let rotation = try statement(by: first, to: second, labels: [label])
        let history = ["HEIW": try verify(second, labels: [label], [rotation])]
        var policy = Policy(owners: ["HEIW": verifier(second)], labels: try LabelOwnership(["HEIW": [label]]), history: history)
        let old = try heiwAgreement()
        #expect(policy.apply(log: "wales", index: 0, timeMillis: 0, type: "agreement.established",
                             payload: payload(try NoteSigner(name: "HEIW", key: first).sign(text: old.text))) == .accepted(old.id))
        var stricter = old
        stricter.minCellSize = old.minCellSize + 5
        stricter.recipients["england"] = .aggregate
        let again = payload(try NoteSigner(name: "HEIW", key: second).sign(text: stricter.text))
        do {
            try policy.check(type: "agreement.established", payload: again, log: "wales")
            Issue.record("a copy signed again with another method was let through")
        } catch {
            #expect(error.message.contains("min-cell-size \(old.minCellSize)") && error.message.contains("new id"), "\(error.message)")
        }
        guard case .ignored = policy.apply(log: "wales", index: 1, timeMillis: 0, type: "agreement.established", payload: again) else {
            Issue.record("a copy signed again with another method was folded"); return
        }
        #expect(policy.agreements[old.id] == nil)
        // Decided alike whatever order a node folds the logs in: another holder's copy of the id
        // is in force either way, not contested by the copy that does not count (a review found
        // the check after the contest, so the order decided).
        var elsewhere = old
        elsewhere.holder = "england"
        elsewhere.recipients["england"] = nil
        let englands = payload(try NoteSigner(name: "HEIW", key: second).sign(text: elsewhere.text))
        for englandFirst in [true, false] {
            var folded = Policy(owners: ["HEIW": verifier(second)], labels: try LabelOwnership(["HEIW": [label]]), history: history)
            _ = folded.apply(log: "wales", index: 0, timeMillis: 0, type: "agreement.established",
                             payload: payload(try NoteSigner(name: "HEIW", key: first).sign(text: old.text)))
            if englandFirst { _ = folded.apply(log: "england", index: 0, timeMillis: 0, type: "agreement.established", payload: englands) }
            _ = folded.apply(log: "wales", index: 1, timeMillis: 0, type: "agreement.established", payload: again)
            if !englandFirst { _ = folded.apply(log: "england", index: 0, timeMillis: 0, type: "agreement.established", payload: englands) }
            #expect(folded.agreements[old.id]?.agreement.holder == "england" && !folded.contested.contains(old.id), "england first: \(englandFirst)")
        }
        // Nor through a copy of the key before the change with the other method, kept as
        // withdrawn: it keeps the method too, so the new copy is still held to the first's (a
        // read-through found the newest withdrawn copy compared alone, and this laundering it).
        var laundered = Policy(owners: ["HEIW": verifier(second)], labels: try LabelOwnership(["HEIW": [label]]), history: history)
        _ = laundered.apply(log: "wales", index: 0, timeMillis: 0, type: "agreement.established",
                            payload: payload(try NoteSigner(name: "HEIW", key: first).sign(text: old.text)))
        guard case .ignored = laundered.apply(log: "wales", index: 1, timeMillis: 0, type: "agreement.established",
                                              payload: payload(try NoteSigner(name: "HEIW", key: first).sign(text: stricter.text))) else {
            Issue.record("a withdrawn copy with another method was kept"); return
        }
        guard case .ignored = laundered.apply(log: "wales", index: 2, timeMillis: 0, type: "agreement.established", payload: again) else {
            Issue.record("a copy with another method counted after a withdrawn one of that method"); return
        }
        #expect(laundered.agreements[old.id] == nil)
        // The same method signed again counts, as before.
        let same = payload(try NoteSigner(name: "HEIW", key: second).sign(text: old.text))
        try policy.check(type: "agreement.established", payload: same, log: "wales")
        #expect(policy.apply(log: "wales", index: 2, timeMillis: 0, type: "agreement.established", payload: same) == .accepted(old.id))
    }

    @Test func anAgreementTheFileNoLongerLetsCountIsWithdrawnAndEnded() throws {
        let rotation = try statement(by: first, to: second, labels: [label])
        let history = ["HEIW": try verify(second, labels: [label], [rotation])]
        let labels = try LabelOwnership(["HEIW": [label]])
        var policy = Policy(owners: ["HEIW": verifier(second)], labels: labels, history: history)
        let old = try heiwAgreement()
        let during = try #require(Timestamp.parse("2025-06-01T00:00:00Z"))
        // Signed by the key HEIW changed from: kept by its id, in force nowhere, ended.
        #expect(policy.apply(log: "wales", index: 0, timeMillis: 0, type: "agreement.established",
                             payload: payload(try NoteSigner(name: "HEIW", key: first).sign(text: old.text))) == .accepted(old.id))
        let state = try #require(policy.state(old.id))
        #expect(state.withdrawn?.contains("changed from") == true && policy.agreements[old.id] == nil)
        #expect(!state.inForce(at: during))
        #expect(state.ended(by: during) == "withdrawn")
        #expect(policy.status(old.id, at: during) == "withdrawn")
        #expect(policy.access(label: label, holder: "wales", recipient: "uk", at: during).access == .none)
        // It takes no id from one that counts: the same id signed by the new key is in force.
        #expect(policy.apply(log: "wales", index: 1, timeMillis: 0, type: "agreement.established",
                             payload: payload(try NoteSigner(name: "HEIW", key: second).sign(text: old.text))) == .accepted(old.id))
        #expect(policy.status(old.id, at: during) == "in-force" && policy.listed.count == 2)
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
        #expect(policy.state(junk.id) == nil)
    }

    /// A withdrawn copy of a live agreement's id (a compromised past key signing one for
    /// another holder) neither contests nor is contested, whatever order the logs are folded
    /// in: before, the order decided whether the live one stayed in force (a review found it).
    @Test func aWithdrawnCopyOfAnIdChangesNothingWhateverTheFoldOrder() throws {
        let rotation = try statement(by: first, to: second, labels: [label])
        let history = ["HEIW": try verify(second, labels: [label], [rotation])]
        let fresh = Policy(owners: ["HEIW": verifier(second)], labels: try LabelOwnership(["HEIW": [label]]), history: history)
        let live = try heiwAgreement()
        var copy = live
        copy.holder = "england"
        copy.recipients = ["uk": .aggregate]
        let liveEntry = payload(try NoteSigner(name: "HEIW", key: second).sign(text: live.text))
        let copyEntry = payload(try NoteSigner(name: "HEIW", key: first).sign(text: copy.text))
        var walesFirst = fresh, englandFirst = fresh
        walesFirst.apply(log: "wales", index: 0, timeMillis: 0, type: "agreement.established", payload: liveEntry)
        walesFirst.apply(log: "england", index: 0, timeMillis: 0, type: "agreement.established", payload: copyEntry)
        englandFirst.apply(log: "england", index: 0, timeMillis: 0, type: "agreement.established", payload: copyEntry)
        englandFirst.apply(log: "wales", index: 0, timeMillis: 0, type: "agreement.established", payload: liveEntry)
        let during = try #require(Timestamp.parse("2025-06-01T00:00:00Z"))
        for policy in [walesFirst, englandFirst] {
            #expect(policy.status(live.id, at: during) == "in-force" && policy.contested.isEmpty)
            #expect(policy.state(live.id)?.agreement.holder == "wales")
            #expect(policy.withdrawn[live.id]?.map(\.agreement.holder) == ["england"])
        }
        #expect(walesFirst.listed == englandFirst.listed, "\(walesFirst.ignored)")
        // The copy's holder may not read the records filed under the id; the live one's may.
        #expect(walesFirst.recordHolders(of: live.id) == ["wales"])
        // A past key minting agreements for its holder's log: at most 64 are kept.
        var flooded = fresh
        for i in 0..<(Policy.maxWithdrawnPerHolder + 10) {
            var minted = copy
            minted.id = "HEIW-MINT-\(i)"
            flooded.apply(log: "england", index: UInt64(i), timeMillis: 0, type: "agreement.established",
                          payload: payload(try NoteSigner(name: "HEIW", key: first).sign(text: minted.text)))
        }
        #expect(flooded.withdrawn.count == Policy.maxWithdrawnPerHolder)
    }

    /// An agreement signed again under its id after a key change, then withdrawn at the next,
    /// is a second withdrawn entry with a purge of its own (before, the first copy held the
    /// holder's slot and the second was ignored: never ended, never purged; a review found it).
    /// Withdrawn copies of one id under two holders open the records to neither operator.
    @Test func anAgreementSignedAgainUnderItsIdIsWithdrawnAgainAtTheNextChange() throws {
        let third = try Ed25519PrivateKey()
        let notes = [try statement(by: first, to: second, labels: [label]), try statement(by: second, to: third, labels: [label], sequence: 2)]
        let history = ["HEIW": try verify(third, labels: [label], notes)]
        var policy = Policy(owners: ["HEIW": verifier(third)], labels: try LabelOwnership(["HEIW": [label]]), history: history)
        let a = try heiwAgreement()
        policy.apply(log: "wales", index: 0, timeMillis: 0, type: "agreement.established", payload: payload(try NoteSigner(name: "HEIW", key: first).sign(text: a.text)))
        policy.apply(log: "wales", index: 5, timeMillis: 0, type: "agreement.established", payload: payload(try NoteSigner(name: "HEIW", key: second).sign(text: a.text)))
        #expect(policy.withdrawn[a.id]?.map(\.ref.index) == [0, 5])
        #expect(policy.recordHolders(of: a.id) == ["wales"])
        var copy = a
        copy.holder = "england"
        copy.recipients = ["uk": .aggregate]
        policy.apply(log: "england", index: 0, timeMillis: 0, type: "agreement.established", payload: payload(try NoteSigner(name: "HEIW", key: first).sign(text: copy.text)))
        #expect(policy.withdrawn[a.id]?.count == 3 && policy.recordHolders(of: a.id).isEmpty)
    }

    @Test func aRetiredOwnersAndAMovedLabelsAgreementsAreWithdrawn() throws {
        let a = try heiwAgreement()
        let during = try #require(Timestamp.parse("2025-06-01T00:00:00Z"))
        let note = try NoteSigner(name: "HEIW", key: first).sign(text: a.text)
        // Retired.
        let retired = ["HEIW": try verify(first, labels: [label], [], retired: true)]
        var policy = Policy(owners: ["HEIW": verifier(first)], labels: try LabelOwnership(["HEIW": [label]]), history: retired)
        #expect(policy.apply(log: "wales", index: 0, timeMillis: 0, type: "agreement.established", payload: payload(note)) == .accepted(a.id))
        #expect(policy.status(a.id, at: during) == "withdrawn")
        #expect(policy.state(a.id)?.withdrawn?.contains("retired") == true)
        // The label now another owner's.
        let hcpc = try Ed25519PrivateKey()
        var moved = Policy(owners: ["HEIW": verifier(first), "HCPC": verifier(hcpc, "HCPC")],
                           labels: try LabelOwnership(["HEIW": ["heiw.other"], "HCPC": [label]]))
        #expect(moved.apply(log: "wales", index: 0, timeMillis: 0, type: "agreement.established", payload: payload(note)) == .accepted(a.id))
        #expect(moved.state(a.id)?.withdrawn?.contains("belongs to HCPC") == true)
        #expect(moved.access(label: label, holder: "wales", recipient: "uk", at: during).access == .none)
        // A revocation of it has nothing to revoke (it has ended) and changes nothing.
        #expect(moved.apply(log: "wales", index: 1, timeMillis: 1, type: "agreement.revoked",
                            payload: Array(#"{"id":"HEIW-WALES-2025-01","reason":"done"}"#.utf8)) != .revoked(a.id))
        #expect(moved.status(a.id, at: during) == "withdrawn")
    }
}
