import Foundation
import QuartetCrypto
import QuartetLedger
import QuartetPolicy
import Testing

/// A HEIW agreement for wales's headcount data: uk aggregate only.
func heiwAgreement(from: String = "2025-01-01T00:00:00Z", until: String = "2027-01-01T00:00:00Z") throws -> Agreement {
    Agreement(id: "HEIW-WALES-2025-01", owner: "HEIW", holder: "wales", labels: ["heiw.workforce.headcount"],
              recipients: ["uk": .aggregate, "england": .none], purpose: "UK OT workforce planning",
              validFrom: try #require(Timestamp.parse(from)), validUntil: try #require(Timestamp.parse(until)), minCellSize: 5)
}

func payload(_ note: SignedNote) -> [UInt8] {
    Array(try! JSONSerialization.data(withJSONObject: ["note": note.serialized]))
}

@Suite struct AgreementTests {
    @Test func textRoundTripsAndIsTheSignedForm() throws {
        let a = try heiwAgreement()
        #expect(a.text == """
            quartet-agreement v1
            id HEIW-WALES-2025-01
            owner HEIW
            holder wales
            label heiw.workforce.headcount
            recipient england none
            recipient uk aggregate
            purpose UK OT workforce planning
            valid-from 2025-01-01T00:00:00Z
            valid-until 2027-01-01T00:00:00Z
            min-cell-size 5

            """)
        #expect(try Agreement(text: a.text) == a)
    }

    @Test func badTextIsRefusedNamingTheLine() throws {
        let good = try heiwAgreement().text
        func message(_ text: String) -> String? {
            do { _ = try Agreement(text: text); return nil } catch { return error.message }
        }
        #expect(message(good.replacingOccurrences(of: "recipient uk aggregate", with: "recipient uk everything"))
                == "agreement line 7: expected \"recipient <node> full|aggregate|none\", got \"recipient uk everything\"")
        #expect(message(good.replacingOccurrences(of: "min-cell-size 5", with: "min-cell-size 0")) == "agreement line 11: min-cell-size must be 1 to 1000, got \"0\"")
        #expect(message(good.replacingOccurrences(of: "2027-01-01T00:00:00Z", with: "2024-01-01T00:00:00Z")) == "agreement line 10: valid-until is not after valid-from")
        #expect(message(good.replacingOccurrences(of: "label heiw.workforce.headcount\n", with: "")) == "agreement: expected at least one \"label\" line")
        #expect(message(good.replacingOccurrences(of: "recipient england none\nrecipient uk aggregate", with: "recipient uk aggregate\nrecipient england none"))?.contains("sorted") == true)
        #expect(message(good + "extra x\n") == "agreement line 12: unknown field \"extra\"")
        #expect(message(good.replacingOccurrences(of: "recipient england none", with: "recipient wales full"))
                == "agreement line 6: the holder wales is not a recipient of its own data")
    }

    @Test func timestamps() {
        #expect(Timestamp.parse("1970-01-01T00:00:00Z") == 0)
        #expect(Timestamp.parse("2026-11-23T12:34:56Z") == 1_795_437_296_000)
        #expect(Timestamp.format(1_795_437_296_000) == "2026-11-23T12:34:56Z")
        #expect(Timestamp.parse("2025-02-29T00:00:00Z") == nil)
        #expect(Timestamp.parse("2024-02-29T00:00:00Z") != nil)
        #expect(Timestamp.parse("2025-01-01 00:00:00Z") == nil)
    }
}

@Suite struct PolicyTests {
    let heiwKey = try! Ed25519PrivateKey()
    var owners: [String: NoteVerifier] { ["HEIW": NoteVerifier(name: "HEIW", publicKey: heiwKey.publicKey)] }
    let label = "heiw.workforce.headcount"

    func signed(_ a: Agreement, by key: Ed25519PrivateKey? = nil, name: String = "HEIW") throws -> SignedNote {
        try NoteSigner(name: name, key: key ?? heiwKey).sign(text: a.text)
    }

    @Test func aCountersignedAgreementDecidesAccessWhileInForce() throws {
        var policy = Policy(owners: owners)
        let a = try heiwAgreement()
        #expect(policy.apply(log: "wales", index: 3, timeMillis: 0, type: "agreement.established", payload: payload(try signed(a))) == .accepted(a.id))
        let during = try #require(Timestamp.parse("2025-06-01T00:00:00Z"))
        #expect(policy.access(label: label, holder: "wales", recipient: "uk", at: during) == (.aggregate, a.id))
        #expect(policy.access(label: label, holder: "wales", recipient: "england", at: during).access == .none)
        #expect(policy.access(label: label, holder: "wales", recipient: "scotland", at: during).access == .none)
        #expect(policy.access(label: label, holder: "wales", recipient: "wales", at: during).access == .full)
        #expect(policy.access(label: "public", holder: "wales", recipient: "scotland", at: during).access == .full)
        // Another holder's data under the same label is not covered.
        #expect(policy.access(label: label, holder: "england", recipient: "uk", at: during).access == .none)
        // Before and after its validity: nothing.
        #expect(policy.access(label: label, holder: "wales", recipient: "uk", at: try #require(Timestamp.parse("2024-12-31T23:59:59Z"))).access == .none)
        #expect(policy.access(label: label, holder: "wales", recipient: "uk", at: try #require(Timestamp.parse("2027-01-01T00:00:00Z"))).access == .none)
    }

    @Test func aggregateAccessAdmitsOnlyThePublishedAggregates() throws {
        #expect(Access.full.admits(type: "dataset.rows") && Access.full.admits(type: Policy.aggregateType))
        #expect(!Access.aggregate.admits(type: "dataset.rows") && Access.aggregate.admits(type: Policy.aggregateType))
        #expect(!Access.none.admits(type: "dataset.rows") && !Access.none.admits(type: Policy.aggregateType))

        var policy = Policy(owners: owners)
        let a = try heiwAgreement()
        _ = policy.apply(log: "wales", index: 3, timeMillis: 0, type: "agreement.established", payload: payload(try signed(a)))
        let during = try #require(Timestamp.parse("2025-06-01T00:00:00Z"))
        var uk = Decisions(policy: policy, holder: "wales", recipient: "uk", at: during)
        #expect(uk.admits(label: label, type: "dataset.rows", recorded: during) == (false, .aggregate, a.id))
        #expect(uk.admits(label: label, type: Policy.aggregateType, recorded: during) == (true, .aggregate, a.id))
        #expect(uk.admits(label: "public", type: "progress.reading", recorded: during) == (true, .full, nil))
        var england = Decisions(policy: policy, holder: "wales", recipient: "england", at: during)
        #expect(england.admits(label: label, type: Policy.aggregateType, recorded: during) == (false, .none, nil))
    }

    @Test func revocationStopsTheFlowFromItsEntryTime() throws {
        var policy = Policy(owners: owners)
        let a = try heiwAgreement()
        policy.apply(log: "wales", index: 0, timeMillis: 0, type: "agreement.established", payload: payload(try signed(a)))
        let revokedAt = try #require(Timestamp.parse("2025-07-01T00:00:00Z"))
        let revocation = Array(#"{"id":"HEIW-WALES-2025-01","reason":"owner withdrew consent"}"#.utf8)
        // Only the holder's log revokes.
        #expect(policy.apply(log: "england", index: 0, timeMillis: revokedAt, type: "agreement.revoked", payload: revocation) == .ignored("only the holder wales revokes HEIW-WALES-2025-01"))
        #expect(policy.apply(log: "wales", index: 1, timeMillis: revokedAt, type: "agreement.revoked", payload: revocation) == .revoked(a.id))
        #expect(policy.access(label: label, holder: "wales", recipient: "uk", at: revokedAt - 1).access == .aggregate)
        #expect(policy.access(label: label, holder: "wales", recipient: "uk", at: revokedAt).access == .none)
        #expect(policy.apply(log: "wales", index: 2, timeMillis: revokedAt, type: "agreement.revoked", payload: revocation) == .ignored("agreement HEIW-WALES-2025-01 is already revoked"))
    }

    /// A holder purges an agreement's payloads once it has ended by its own clock, and only
    /// then: a revocation folded before its entry time (this node's clock behind the revoking
    /// log's) has not ended the agreement yet — a purge then, deciding at that time, would keep
    /// everything and, marked done, never run again.
    @Test func anAgreementHasEndedOnlyFromItsRevocationOrItsValiditysEnd() throws {
        var policy = Policy(owners: owners)
        let a = try heiwAgreement(until: "2027-01-01T00:00:00Z")
        policy.apply(log: "wales", index: 0, timeMillis: 0, type: "agreement.established", payload: payload(try signed(a)))
        let revokedAt = try #require(Timestamp.parse("2025-07-01T00:00:00Z"))
        let validUntil = try #require(Timestamp.parse("2027-01-01T00:00:00Z"))
        #expect(try #require(policy.agreements[a.id]).ended(by: revokedAt) == nil)
        #expect(try #require(policy.agreements[a.id]).ended(by: validUntil - 1) == nil)
        #expect(try #require(policy.agreements[a.id]).ended(by: validUntil) == "expired")
        policy.apply(log: "wales", index: 1, timeMillis: revokedAt, type: "agreement.revoked",
                     payload: Array(#"{"id":"HEIW-WALES-2025-01","reason":"owner withdrew consent"}"#.utf8))
        let revoked = try #require(policy.agreements[a.id])
        // Folded six seconds before its time by this node's clock: not ended yet.
        #expect(revoked.ended(by: revokedAt - 6_000) == nil)
        #expect(revoked.inForce(at: revokedAt - 6_000))
        #expect(revoked.ended(by: revokedAt) == "revoked")
        #expect(!revoked.inForce(at: revokedAt))
        #expect(revoked.ended(by: validUntil) == "revoked")
    }

    /// The count of agreement boundaries passed moves when an agreement starts, ends or is
    /// revoked by the clock alone: the dashboard's cached page keys on it.
    @Test func theBoundariesPassedMoveWithTheClockAlone() throws {
        var policy = Policy(owners: owners)
        let a = try heiwAgreement(from: "2025-01-01T00:00:00Z", until: "2027-01-01T00:00:00Z")
        policy.apply(log: "wales", index: 0, timeMillis: 0, type: "agreement.established", payload: payload(try signed(a)))
        let from = try #require(Timestamp.parse("2025-01-01T00:00:00Z")), until = try #require(Timestamp.parse("2027-01-01T00:00:00Z"))
        let revokedAt = try #require(Timestamp.parse("2025-07-01T00:00:00Z"))
        #expect(policy.boundariesPassed(by: from - 1) == 0)
        #expect(policy.boundariesPassed(by: from) == 1)
        #expect(policy.boundariesPassed(by: until) == 2)
        policy.apply(log: "wales", index: 1, timeMillis: revokedAt, type: "agreement.revoked",
                     payload: Array(#"{"id":"HEIW-WALES-2025-01","reason":"r"}"#.utf8))
        #expect(policy.boundariesPassed(by: revokedAt - 1) == 1)
        #expect(policy.boundariesPassed(by: revokedAt) == 2)
    }

    /// An aggregate is published only under the agreement it was made under (its payload names
    /// it): in force, covering the label from before the aggregate was recorded, giving some
    /// node access. Another agreement in force later does not publish it again (a revoked one's
    /// aggregate reappeared at its holder once the owner signed a new agreement).
    @Test func anAggregateIsPublishedOnlyUnderTheAgreementItWasMadeUnder() throws {
        var policy = Policy(owners: owners)
        let a = try heiwAgreement()
        policy.apply(log: "wales", index: 0, timeMillis: 0, type: "agreement.established", payload: payload(try signed(a)))
        let recorded = try #require(Timestamp.parse("2025-06-01T00:00:00Z"))
        let later = try #require(Timestamp.parse("2025-06-02T00:00:00Z"))
        #expect(policy.publishes(aggregate: a.id, label: label, holder: "wales", recorded: recorded, at: later))
        // To a member node: only one the agreement gives access (uk), not one it names `none`
        // (england) or leaves out (scotland).
        #expect(policy.publishes(aggregate: a.id, label: label, holder: "wales", recorded: recorded, at: later, to: "uk"))
        #expect(!policy.publishes(aggregate: a.id, label: label, holder: "wales", recorded: recorded, at: later, to: "england"))
        #expect(!policy.publishes(aggregate: a.id, label: label, holder: "wales", recorded: recorded, at: later, to: "scotland"))
        // Named nothing, an unknown agreement, another label or another holder: not published.
        #expect(!policy.publishes(aggregate: nil, label: label, holder: "wales", recorded: recorded, at: later))
        #expect(!policy.publishes(aggregate: "HEIW-OTHER", label: label, holder: "wales", recorded: recorded, at: later))
        #expect(!policy.publishes(aggregate: a.id, label: "heiw.workforce.vacancies", holder: "wales", recorded: recorded, at: later))
        #expect(!policy.publishes(aggregate: a.id, label: label, holder: "england", recorded: recorded, at: later))
        // Recorded before the agreement's valid-from: not covered.
        #expect(!policy.publishes(aggregate: a.id, label: label, holder: "wales", recorded: a.validFrom - 1, at: later))

        // Revoked; then the owner signs a new agreement from a later date.
        let revokedAt = try #require(Timestamp.parse("2025-07-01T00:00:00Z"))
        policy.apply(log: "wales", index: 1, timeMillis: revokedAt, type: "agreement.revoked",
                     payload: Array(#"{"id":"HEIW-WALES-2025-01","reason":"owner withdrew consent"}"#.utf8))
        var b = try heiwAgreement(from: "2025-07-01T12:00:00Z")
        b.id = "HEIW-WALES-2025-07"
        #expect(policy.apply(log: "wales", index: 2, timeMillis: revokedAt, type: "agreement.established", payload: payload(try signed(b))) == .accepted(b.id))
        let after = try #require(Timestamp.parse("2025-07-02T00:00:00Z"))
        // The old aggregate stays unpublished: its agreement is revoked, and the new one does not
        // cover what was recorded before its valid-from.
        #expect(!policy.publishes(aggregate: a.id, label: label, holder: "wales", recorded: recorded, at: after))
        #expect(!policy.publishes(aggregate: b.id, label: label, holder: "wales", recorded: recorded, at: after))
        // One made under the new agreement after its valid-from is published.
        #expect(policy.publishes(aggregate: b.id, label: label, holder: "wales", recorded: try #require(Timestamp.parse("2025-07-01T13:00:00Z")), at: after))

        // An aggregate made under an agreement that gives no node access is published while
        // another in force covers it with terms its suppression meets; a larger minimum cell
        // size in force (or none giving access) leaves it the holder's.
        var closed = try heiwAgreement()
        closed.id = "HEIW-WALES-CLOSED"
        closed.recipients = ["uk": .none]
        policy.apply(log: "wales", index: 3, timeMillis: revokedAt, type: "agreement.established", payload: payload(try signed(closed)))
        let late = try #require(Timestamp.parse("2025-07-01T13:00:00Z"))
        #expect(policy.publishes(aggregate: closed.id, label: label, holder: "wales", recorded: late, at: after))
        var stricter = try heiwAgreement(from: "2025-07-01T12:00:00Z")
        stricter.id = "HEIW-WALES-STRICT"
        stricter.minCellSize = 20
        policy.apply(log: "wales", index: 4, timeMillis: revokedAt, type: "agreement.established", payload: payload(try signed(stricter)))
        policy.apply(log: "wales", index: 5, timeMillis: after, type: "agreement.revoked", payload: Array(#"{"id":"HEIW-WALES-2025-07","reason":"r"}"#.utf8))
        let end = after + 1000
        #expect(!policy.publishes(aggregate: closed.id, label: label, holder: "wales", recorded: late, at: end))
        #expect(policy.publishes(aggregate: stricter.id, label: label, holder: "wales", recorded: late, at: end))
    }

    @Test func agreementsWithoutTheOwnersCountersignatureAreIgnored() throws {
        var policy = Policy(owners: owners)
        let a = try heiwAgreement()
        // Signed by the holder (or anyone) instead of HEIW's pinned key.
        let forged = try signed(a, by: try Ed25519PrivateKey())
        let outcome = policy.apply(log: "wales", index: 0, timeMillis: 0, type: "agreement.established", payload: payload(forged))
        guard case .ignored(let reason) = outcome else { Issue.record("accepted a forged agreement"); return }
        #expect(reason.contains("not countersigned by data owner HEIW"))
        // Unsigned (no signature line at all).
        let bare = Array(try JSONSerialization.data(withJSONObject: ["note": a.text]))
        #expect(policy.apply(log: "wales", index: 1, timeMillis: 0, type: "agreement.established", payload: bare) != .accepted(a.id))
        // An owner the federation does not pin.
        var other = a
        other.owner = "NHS-SCOTLAND"
        other.id = "NHS-SCOTLAND-2025"
        guard case .ignored(let unpinned) = policy.apply(log: "wales", index: 2, timeMillis: 0, type: "agreement.established",
                                                         payload: payload(try signed(other, name: "NHS-SCOTLAND"))) else { Issue.record("accepted"); return }
        #expect(unpinned.contains("pins no key for data owner NHS-SCOTLAND"))
        // An id that does not begin with its owner's: no owner can take another's agreement id.
        var taken = a
        taken.id = "HCPC-2025"
        guard case .ignored(let prefix) = policy.apply(log: "wales", index: 3, timeMillis: 0, type: "agreement.established",
                                                       payload: payload(try signed(taken))) else { Issue.record("accepted"); return }
        #expect(prefix.contains("begins with its data owner's id"))
        // An owner whose id prefixes another's ("HEIW" of "HEIW-NORTH") cannot take the other's
        // ids: "HEIW-NORTH-1" is HEIW-NORTH's (HEIW contesting it would put it out of force).
        let north = try Ed25519PrivateKey()
        var both = Policy(owners: owners.merging(["HEIW-NORTH": NoteVerifier(name: "HEIW-NORTH", publicKey: north.publicKey)]) { a, _ in a })
        var squatted = a
        squatted.id = "HEIW-NORTH-1"
        guard case .ignored(let squat) = both.apply(log: "wales", index: 0, timeMillis: 0, type: "agreement.established",
                                                    payload: payload(try signed(squatted))) else { Issue.record("accepted"); return }
        #expect(squat.contains("begins with data owner HEIW-NORTH's id"), "\(squat)")
        // The text changed after signing.
        var note = try signed(a)
        note.text = note.text.replacingOccurrences(of: "recipient uk aggregate", with: "recipient uk full")
        #expect(policy.apply(log: "wales", index: 3, timeMillis: 0, type: "agreement.established", payload: payload(note)) != .accepted(a.id))
        // Appended to a log other than the holder's.
        guard case .ignored(let wrongLog) = policy.apply(log: "england", index: 0, timeMillis: 0, type: "agreement.established", payload: payload(try signed(a))) else {
            Issue.record("accepted in the wrong log"); return
        }
        #expect(wrongLog.contains("names holder wales"))
        #expect(policy.agreements.isEmpty)
        #expect(policy.access(label: label, holder: "wales", recipient: "uk", at: try #require(Timestamp.parse("2025-06-01T00:00:00Z"))).access == .none)
        #expect(policy.ignored.count == 6)
    }

    @Test func theWidestAccessOfAgreementsInForceWins() throws {
        var policy = Policy(owners: owners)
        var full = try heiwAgreement()
        full.id = "HEIW-WALES-2025-02"
        full.recipients = ["uk": .full]
        full.validUntil = try #require(Timestamp.parse("2025-03-01T00:00:00Z"))
        policy.apply(log: "wales", index: 0, timeMillis: 0, type: "agreement.established", payload: payload(try signed(try heiwAgreement())))
        policy.apply(log: "wales", index: 1, timeMillis: 0, type: "agreement.established", payload: payload(try signed(full)))
        #expect(policy.access(label: label, holder: "wales", recipient: "uk", at: try #require(Timestamp.parse("2025-02-01T00:00:00Z"))) == (.full, full.id))
        #expect(policy.access(label: label, holder: "wales", recipient: "uk", at: try #require(Timestamp.parse("2025-04-01T00:00:00Z"))) == (.aggregate, "HEIW-WALES-2025-01"))
        #expect(policy.apply(log: "wales", index: 2, timeMillis: 0, type: "agreement.established", payload: payload(try signed(full)))
                == .ignored("agreement HEIW-WALES-2025-02 is already on the ledger"))
    }
}
