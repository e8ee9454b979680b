import Foundation
import QuartetCrypto
import QuartetLedger
import QuartetPolicy
import Testing

/// The data-flow rules without IO: what a node keeps of a batch, what it sends a peer, and which
/// agreements are in force whatever order the logs are folded in.
@Suite struct DataFlowTests {
    let heiwKey = try! Ed25519PrivateKey()
    let otherKey = try! Ed25519PrivateKey()
    var owners: [String: NoteVerifier] {
        ["HEIW": NoteVerifier(name: "HEIW", publicKey: heiwKey.publicKey), "HCPC": NoteVerifier(name: "HCPC", publicKey: otherKey.publicKey)]
    }
    var labels: LabelOwnership { try! LabelOwnership(["HEIW": ["heiw.*"], "HCPC": ["hcpc.register.occupational-therapists"]]) }
    let label = "heiw.workforce.headcount"
    let during = Timestamp.parse("2025-06-01T00:00:00Z")!

    func established(_ a: Agreement, key: Ed25519PrivateKey? = nil, index: UInt64 = 0, time: UInt64 = 0) throws -> DataFlow.Item {
        let note = try NoteSigner(name: a.owner, key: key ?? heiwKey).sign(text: a.text)
        let bytes = Array(try JSONSerialization.data(withJSONObject: ["note": note.serialized]))
        return item(index: index, time: time, type: "agreement.established", payload: bytes)
    }

    func item(index: UInt64, time: UInt64? = nil, type: String, classification: String = "public", payload: [UInt8]?) -> DataFlow.Item {
        let header = EntryHeader(log: "wales", index: index, timeMillis: time ?? during, type: type, classification: classification,
                                 author: "wales", payloadCommitment: try! Hash([UInt8](repeating: 0, count: 32)), payloadLength: UInt32(payload?.count ?? 0))
        return DataFlow.Item(header: header, payload: payload)
    }

    func full(_ recipients: [String: Access] = ["uk": .full]) throws -> Agreement {
        var a = try heiwAgreement()
        a.recipients = recipients
        return a
    }

    @Test func aStubOfAPublicEntryRefusesTheBatch() throws {
        let policy = Policy(owners: owners, labels: labels)
        for type in ["agreement.revoked", "plan.action", "disclosure.recorded", "progress.reading"] {
            let decision = DataFlow.ingress([item(index: 4, type: type, payload: nil)], holder: "wales", recipient: "uk", policy: policy, at: during)
            guard case .refuse(let reason) = decision else { Issue.record("\(type) as a stub was kept"); continue }
            #expect(reason.contains("public") && reason.contains("entry 4"))
        }
    }

    @Test func aStubOfARestrictedEntryIsKeptOnlyWhereThisNodeMayNotHoldIt() throws {
        var policy = Policy(owners: owners, labels: labels)
        let agreement = try established(try full(["uk": .full, "england": .aggregate]))
        policy.apply(log: "wales", index: 0, timeMillis: 0, type: agreement.header.type, payload: agreement.payload)
        let row = item(index: 1, type: "dataset.rows", classification: label, payload: nil)
        // uk may hold the rows: a relay's stub of them is refused. The writer's is taken (it may
        // have revoked the agreement further on in its log). england may not: the stub is right.
        #expect(DataFlow.ingress([row], holder: "wales", recipient: "uk", policy: policy, at: during) != .keep(strip: [], violations: []))
        #expect(DataFlow.ingress([row], holder: "wales", recipient: "uk", policy: policy, at: during, fromWriter: true) == .keep(strip: [], violations: []))
        #expect(DataFlow.ingress([row], holder: "wales", recipient: "england", policy: policy, at: during) == .keep(strip: [], violations: []))
        // A payload england may not hold is dropped and the sender named.
        let sent = item(index: 1, type: "dataset.rows", classification: label, payload: Array("{}".utf8))
        #expect(DataFlow.ingress([sent], holder: "wales", recipient: "england", policy: policy, at: during) == .keep(strip: [0], violations: [1]))
        // Behind the log's head, an agreement further on may cover it: dropped, nobody blamed.
        #expect(DataFlow.ingress([sent], holder: "wales", recipient: "england", policy: policy, at: during, current: false) == .keep(strip: [0], violations: []))
    }

    @Test func anAgreementEarlierInTheBatchCountsForTheRowsAfterIt() throws {
        let policy = Policy(owners: owners, labels: labels)
        let batch = [try established(try full()), item(index: 1, type: "dataset.rows", classification: label, payload: Array("{}".utf8))]
        #expect(DataFlow.ingress(batch, holder: "wales", recipient: "uk", policy: policy, at: during) == .keep(strip: [], violations: []))
        // Without the agreement in the batch the payload is not uk's to hold.
        #expect(DataFlow.ingress([batch[1]], holder: "wales", recipient: "uk", policy: policy, at: during) == .keep(strip: [0], violations: [1]))
        // And a revocation earlier in the batch ends it for what follows.
        var granted = Policy(owners: owners, labels: labels)
        granted.apply(log: "wales", index: 0, timeMillis: 0, type: batch[0].header.type, payload: batch[0].payload)
        let revoke = item(index: 1, time: during - 2 * DataFlow.clockToleranceMillis, type: "agreement.revoked", payload: Array(#"{"id":"HEIW-WALES-2025-01","reason":"ended"}"#.utf8))
        let after = item(index: 2, type: "dataset.rows", classification: label, payload: Array("{}".utf8))
        #expect(DataFlow.ingress([revoke, after], holder: "wales", recipient: "uk", policy: granted, at: during) == .keep(strip: [1], violations: [2]))
        // Rows before the revocation in the same batch are judged with it too: the holder
        // (deciding by its policy, which has the revocation) sent them as stubs.
        let before = item(index: 1, type: "dataset.rows", classification: label, payload: nil)
        let laterRevoke = item(index: 2, time: during - 2 * DataFlow.clockToleranceMillis, type: "agreement.revoked", payload: revoke.payload)
        #expect(DataFlow.ingress([before, laterRevoke], holder: "wales", recipient: "uk", policy: granted, at: during) == .keep(strip: [], violations: []))
        // Within the clock tolerance of the end the payload is dropped, but no one is blamed.
        let justRevoked = item(index: 1, time: during - 1, type: "agreement.revoked", payload: revoke.payload)
        #expect(DataFlow.ingress([justRevoked, after], holder: "wales", recipient: "uk", policy: granted, at: during) == .keep(strip: [1], violations: []))
    }

    /// A holder whose log's time runs ahead of the clock stamps its revocation an hour in the
    /// future: the agreement ends when the node learns of it, not an hour later (the rows after
    /// it are dropped; no one is blamed, the holder's own time being what it is).
    @Test func aRevocationStampedInTheFutureEndsTheAgreementWhenLearnt() throws {
        var granted = Policy(owners: owners, labels: labels)
        let grant = try established(try full())
        granted.apply(log: "wales", index: 0, timeMillis: 0, type: grant.header.type, payload: grant.payload)
        let revoke = item(index: 1, time: during + 3_600_000, type: "agreement.revoked", payload: Array(#"{"id":"HEIW-WALES-2025-01","reason":"ended"}"#.utf8))
        let after = item(index: 2, time: during + 3_600_001, type: "dataset.rows", classification: label, payload: Array("{}".utf8))
        #expect(DataFlow.ingress([revoke, after], holder: "wales", recipient: "uk", policy: granted, at: during) == .keep(strip: [1], violations: []))
        #expect(Policy.effectiveTime(during + 3_600_000, now: during) == during)
        #expect(Policy.effectiveTime(during - 5, now: during) == during - 5, "a past revocation keeps its time")
    }

    /// A relay forwards a batch whose rows come before the holder's revocation in it: judged
    /// with the batch's own agreement entries (`including`), as the recipient will judge it,
    /// the rows go as stubs and no disclosure is recorded under the revoked agreement; judged by
    /// the relay's policy alone (its view has not folded the revocation) they went in full.
    @Test func aRelayJudgesABatchWithItsOwnRevocation() throws {
        var granted = Policy(owners: owners, labels: labels)
        let grant = try established(try full(["uk": .full, "england": .full]))
        granted.apply(log: "wales", index: 0, timeMillis: 0, type: grant.header.type, payload: grant.payload)
        let rows = item(index: 1, type: "dataset.rows", classification: label, payload: Array("{}".utf8))
        let revoke = item(index: 2, time: during - 2 * DataFlow.clockToleranceMillis, type: "agreement.revoked",
                          payload: Array(#"{"id":"HEIW-WALES-2025-01","reason":"ended"}"#.utf8))
        let items = [(position: 0, header: Optional(rows.header), hasPayload: true)]
        #expect(DataFlow.egress(items, holder: "wales", recipient: "england", policy: granted, at: during)
                == .send(strip: [], disclosed: [DataFlow.Disclosed(agreement: "HEIW-WALES-2025-01", access: .full, positions: [0])]))
        let judged = DataFlow.including([rows, revoke], of: "wales", in: granted, at: during)
        #expect(DataFlow.egress(items, holder: "wales", recipient: "england", policy: judged, at: during) == .send(strip: [0], disclosed: []))
        // The recipient's ingress agrees: the stub is what it may hold, and no one is blamed.
        let stub = item(index: 1, type: "dataset.rows", classification: label, payload: nil)
        #expect(DataFlow.ingress([stub, revoke], holder: "wales", recipient: "england", policy: granted, at: during) == .keep(strip: [], violations: []))
    }

    /// A copy of the holder's log behind the newest checkpoint of it seen may lack a revocation
    /// recorded since: it discloses nothing in full, as relay or writer; stubs still go.
    @Test func aRelayBehindTheHoldersLogDisclosesNothing() throws {
        var granted = Policy(owners: owners, labels: labels)
        let grant = try established(try full(["uk": .full, "england": .full]))
        granted.apply(log: "wales", index: 0, timeMillis: 0, type: grant.header.type, payload: grant.payload)
        let rows = item(index: 1, type: "dataset.rows", classification: label, payload: Array("{}".utf8))
        let items = [(position: 0, header: Optional(rows.header), hasPayload: true)]
        #expect(DataFlow.egress(items, holder: "wales", recipient: "england", policy: granted, at: during, current: false) == .withhold)
        // The writer too (restored from a backup taken before its revocation, its peers hold more of its log).
        #expect(DataFlow.egress(items, holder: "wales", recipient: "england", policy: granted, at: during, isWriter: true, current: false) == .withhold)
        #expect(DataFlow.egress(items, holder: "wales", recipient: "england", policy: granted, at: during, current: true)
                == .send(strip: [], disclosed: [DataFlow.Disclosed(agreement: "HEIW-WALES-2025-01", access: .full, positions: [0])]))
        // A node whose members run a newer federation file discloses nothing, as writer too.
        #expect(DataFlow.egress(items, holder: "wales", recipient: "england", policy: granted, at: during, isWriter: true, membershipCurrent: false) == .withhold)
        // What it may not disclose anyway still goes as a stub.
        #expect(DataFlow.egress(items, holder: "wales", recipient: "scotland", policy: granted, at: during, current: false) == .send(strip: [0], disclosed: []))
    }

    /// A holder whose clock is a little ahead of this node's sends rows recorded just after an
    /// agreement's start a moment before the start comes here: kept, nobody blamed, as at an
    /// agreement's end (finding 289: they were dropped for good and the honest holder named).
    /// Beyond the tolerance they are still dropped and the sender named.
    @Test func rowsSentAtAnAgreementsStartWithinTheClockToleranceAreKept() throws {
        var policy = Policy(owners: owners, labels: labels)
        let agreement = try established(try full())
        policy.apply(log: "wales", index: 0, timeMillis: 0, type: agreement.header.type, payload: agreement.payload)
        let validFrom = try heiwAgreement().validFrom
        let row = item(index: 1, time: validFrom + 1000, type: "dataset.rows", classification: label, payload: Array("{}".utf8))
        #expect(DataFlow.ingress([row], holder: "wales", recipient: "uk", policy: policy, at: validFrom - 5000) == .keep(strip: [], violations: []))
        #expect(DataFlow.ingress([row], holder: "wales", recipient: "uk", policy: policy, at: validFrom - DataFlow.clockToleranceMillis) == .keep(strip: [], violations: []))
        #expect(DataFlow.ingress([row], holder: "wales", recipient: "uk", policy: policy, at: validFrom - DataFlow.clockToleranceMillis - 1) == .keep(strip: [0], violations: [1]))
        // Not a recipient of the agreement: dropped and blamed whatever the clocks.
        #expect(DataFlow.ingress([row], holder: "wales", recipient: "england", policy: policy, at: validFrom - 5000) == .keep(strip: [0], violations: [1]))
        // A row recorded before the start is not covered a moment later either.
        let early = item(index: 1, time: validFrom - 1, type: "dataset.rows", classification: label, payload: Array("{}".utf8))
        #expect(DataFlow.ingress([early], holder: "wales", recipient: "uk", policy: policy, at: validFrom - 5000) == .keep(strip: [0], violations: [1]))
    }

    @Test func anAgreementDisclosesNothingRecordedBeforeItsValidFrom() throws {
        var policy = Policy(owners: owners, labels: labels)
        let agreement = try established(try full())
        policy.apply(log: "wales", index: 0, timeMillis: 0, type: agreement.header.type, payload: agreement.payload)
        let validFrom = try heiwAgreement().validFrom
        let before = item(index: 1, time: validFrom - 1, type: "dataset.rows", classification: label, payload: Array("{}".utf8))
        let onTime = item(index: 2, time: validFrom, type: "dataset.rows", classification: label, payload: Array("{}".utf8))
        #expect(DataFlow.egress([(0, before.header, true), (1, onTime.header, true)], holder: "wales", recipient: "uk", policy: policy, at: during)
                == .send(strip: [0], disclosed: [DataFlow.Disclosed(agreement: "HEIW-WALES-2025-01", access: .full, positions: [1])]))
        #expect(policy.access(label: label, holder: "wales", recipient: "uk", at: during, recorded: validFrom - 1).access == .none)
    }

    @Test func aRelayHoldingOnlyAStubWithholdsTheBatchFromAnEntitledPeer() throws {
        var policy = Policy(owners: owners, labels: labels)
        let agreement = try established(try full())
        policy.apply(log: "wales", index: 0, timeMillis: 0, type: agreement.header.type, payload: agreement.payload)
        let row = item(index: 1, type: "dataset.rows", classification: label, payload: nil)
        #expect(DataFlow.egress([(0, row.header, false)], holder: "wales", recipient: "uk", policy: policy, at: during) == .withhold)
        #expect(DataFlow.egress([(0, row.header, false)], holder: "wales", recipient: "england", policy: policy, at: during) == .send(strip: [], disclosed: []))
    }

    @Test func anOwnerOpensOnlyItsOwnLabels() throws {
        var policy = Policy(owners: owners, labels: labels)
        // HCPC countersigns an agreement over HEIW's label: in force nowhere, whoever appends it
        // (kept as withdrawn, as any agreement its owner signed that the file does not let count).
        var a = try full()
        a.owner = "HCPC"
        a.id = "HCPC-GRAB"
        let grab = try established(a, key: otherKey)
        policy.apply(log: "wales", index: 0, timeMillis: 0, type: grab.header.type, payload: grab.payload)
        #expect(policy.state("HCPC-GRAB")?.withdrawn?.contains("belongs to HEIW") == true)
        // Its boundaries move the pages' cache key too (publication reads withdrawn methods).
        #expect(policy.boundariesPassed(by: 0) == 0 && policy.boundariesPassed(by: during) == 1)
        #expect(policy.inForce(label: label, holder: "wales", at: during).isEmpty)
        #expect(policy.access(label: label, holder: "wales", recipient: "uk", at: during).access == .none)
        #expect(throws: PolicyError.self) { try LabelOwnership(["A": ["x.*"], "B": ["x.y"]]) }
    }

    @Test func anAgreementIdUsedByTwoHoldersIsInForceNowhereWhateverTheFoldOrder() throws {
        var walesFirst = try heiwAgreement()
        walesFirst.recipients = ["uk": .full]
        var englandToo = walesFirst
        englandToo.holder = "england"
        englandToo.recipients = ["uk": .full]
        let w = try established(walesFirst), e = try established(englandToo)
        var one = Policy(owners: owners, labels: labels), two = Policy(owners: owners, labels: labels)
        one.apply(log: "wales", index: 0, timeMillis: 0, type: w.header.type, payload: w.payload)
        one.apply(log: "england", index: 0, timeMillis: 0, type: e.header.type, payload: e.payload)
        two.apply(log: "england", index: 0, timeMillis: 0, type: e.header.type, payload: e.payload)
        two.apply(log: "wales", index: 0, timeMillis: 0, type: w.header.type, payload: w.payload)
        for policy in [one, two] {
            #expect(policy.status(walesFirst.id, at: during) == "contested")
            #expect(policy.access(label: label, holder: "wales", recipient: "uk", at: during).access == .none)
            #expect(policy.access(label: label, holder: "england", recipient: "uk", at: during).access == .none)
        }
    }

    /// The holder read second appending the same contested agreement again and again: kept
    /// once (it was kept whole each time, up to 64 KiB, on every node, and each copy purged its
    /// log again); distinct agreements signed under the id, a few per holder.
    @Test func aContestedAgreementAppendedAgainIsKeptOnce() throws {
        var walesFirst = try heiwAgreement()
        walesFirst.recipients = ["uk": .full]
        var englandToo = walesFirst
        englandToo.holder = "england"
        let w = try established(walesFirst), e = try established(englandToo)
        var policy = Policy(owners: owners, labels: labels)
        policy.apply(log: "wales", index: 0, timeMillis: 0, type: w.header.type, payload: w.payload)
        for index in 0..<50 { policy.apply(log: "england", index: UInt64(index), timeMillis: 0, type: e.header.type, payload: e.payload) }
        #expect(policy.shadowed.count == 1 && policy.shadowed.first?.agreement == englandToo)
        for extra in 0..<40 {
            var variant = englandToo
            variant.recipients = ["uk": .full, "scotland": extra % 2 == 0 ? .full : .aggregate]
            variant.purpose = "variant \(extra)"
            let v = try established(variant)
            policy.apply(log: "england", index: UInt64(100 + extra), timeMillis: 0, type: v.header.type, payload: v.payload)
        }
        #expect(policy.shadowed.count == Policy.maxContestedCopiesPerHolder)
        #expect(policy.status(walesFirst.id, at: during) == "contested")
    }

    /// A policy holding HEIW's agreement (uk: aggregate access, minimum cell size 5), and the
    /// aggregate of `rows` the holder makes under it, as entry `index`.
    func aggregateUnderHEIW(_ rows: [String: Any], index: UInt64) throws -> (policy: Policy, made: [String: Any], aggregate: DataFlow.Item) {
        var policy = Policy(owners: owners, labels: labels)
        let agreement = try established(try full(["uk": .aggregate]))
        policy.apply(log: "wales", index: 0, timeMillis: 0, type: agreement.header.type, payload: agreement.payload)
        let made = try DatasetAggregate.make(rows: rows, label: label, minCellSize: 5, agreement: "HEIW-WALES-2025-01")
        return (policy, made, item(index: index, type: Policy.aggregateType, classification: label, payload: try DatasetAggregate.encoded(made)))
    }

    @Test func rawRowsDressedAsAnAggregateAreKeptAsAStubAndReported() throws {
        let rows: [String: Any] = ["rows": [["board": "Powys", "count": 3], ["board": "Cardiff", "count": 40]]]
        let (policy, made, real) = try aggregateUnderHEIW(rows, index: 2)
        let rowBytes = Array(try JSONSerialization.data(withJSONObject: rows))
        let raw = item(index: 2, type: Policy.aggregateType, classification: label, payload: rowBytes)
        #expect(DataFlow.ingress([real], holder: "wales", recipient: "uk", policy: policy, at: during) == .keep(strip: [], violations: []))
        #expect(DataFlow.ingress([raw], holder: "wales", recipient: "uk", policy: policy, at: during) == .keep(strip: [0], violations: [], forged: [2]))
        // An aggregate that names no agreement of this holder and label is no aggregate either.
        var other = made
        other["agreement"] = "SOMEONE-ELSE"
        let misnamed = item(index: 2, type: Policy.aggregateType, classification: label, payload: try DatasetAggregate.encoded(other))
        #expect(DataFlow.ingress([misnamed], holder: "wales", recipient: "uk", policy: policy, at: during) == .keep(strip: [0], violations: [], forged: [2]))
        // Where the rows come along (full access), the aggregate must be exactly their table.
        var granted = Policy(owners: owners, labels: labels)
        let fullAgreement = try established(try full(["uk": .full]))
        granted.apply(log: "wales", index: 0, timeMillis: 0, type: fullAgreement.header.type, payload: fullAgreement.payload)
        let rowItem = item(index: 1, type: "dataset.rows", classification: label, payload: rowBytes)
        var altered = made
        altered["grand_total"] = 45
        altered["cells"] = [[NSNull()], [45]]
        let lying = item(index: 2, type: Policy.aggregateType, classification: label, payload: try DatasetAggregate.encoded(altered))
        #expect(DataFlow.ingress([rowItem, real], holder: "wales", recipient: "uk", policy: granted, at: during) == .keep(strip: [], violations: []))
        guard case .keep(let strip, _, let forged) = DataFlow.ingress([rowItem, lying], holder: "wales", recipient: "uk", policy: granted, at: during) else {
            Issue.record("refused"); return
        }
        #expect(strip == [1] && forged == [2])
    }

    /// A published aggregate travels and stays only under an agreement its suppression meets:
    /// once the agreement that made it is revoked, another in force that covers the same label
    /// and time but asks a larger minimum cell size does not carry it, at egress, at ingress or
    /// in a purge.
    @Test func anAggregateOfARevokedAgreementDoesNotTravelUnderAStricterOne() throws {
        let rows: [String: Any] = ["rows": [["board": "Powys", "count": 30], ["board": "Cardiff", "count": 40]]]
        var (policy, _, aggregate) = try aggregateUnderHEIW(rows, index: 3)
        let items = [(position: 0, header: Optional(aggregate.header), hasPayload: true)]
        let named = [0: "HEIW-WALES-2025-01"]
        #expect(DataFlow.ingress([aggregate], holder: "wales", recipient: "uk", policy: policy, at: during) == .keep(strip: [], violations: []))
        #expect(DataFlow.egress(items, holder: "wales", recipient: "uk", policy: policy, at: during, aggregateAgreements: named)
                == .send(strip: [], disclosed: [.init(agreement: "HEIW-WALES-2025-01", access: .aggregate, positions: [0])]))

        // Revoked; a second agreement from the start of the year, minimum cell size 50.
        let revokedAt = during + 1000
        policy.apply(log: "wales", index: 4, timeMillis: revokedAt, type: "agreement.revoked",
                     payload: Array(#"{"id":"HEIW-WALES-2025-01","reason":"withdrawn"}"#.utf8))
        var stricter = try full(["uk": .aggregate])
        stricter.id = "HEIW-WALES-2025-STRICT"
        stricter.minCellSize = 50
        let second = try established(stricter, index: 5, time: revokedAt)
        policy.apply(log: "wales", index: 5, timeMillis: revokedAt, type: second.header.type, payload: second.payload)
        // Past the clock tolerance (within it the sender is not blamed: its clock may lag).
        let now = revokedAt + DataFlow.clockToleranceMillis + 1000
        // By its label alone the aggregate is still admitted (the stricter agreement covers it)...
        var decisions = Decisions(policy: policy, holder: "wales", recipient: "uk", at: now)
        #expect(decisions.admits(label: label, type: Policy.aggregateType, recorded: during).agreement == "HEIW-WALES-2025-STRICT")
        // ...but it goes nowhere under it: its suppression (5) is looser than the agreement in
        // force asks (50). The writer sends the stub; a relay withholds the batch (the recipient
        // would refuse a relay's stub of what its label lets it hold); ingress drops it without
        // blaming the sender (an older node judged it by its label); a purge drops it.
        #expect(decisions.admits(aggregate.header, payload: aggregate.payload).admitted == false)
        #expect(DataFlow.egress(items, holder: "wales", recipient: "uk", policy: policy, at: now, aggregateAgreements: named, isWriter: true)
                == .send(strip: [0], disclosed: []))
        #expect(DataFlow.egress(items, holder: "wales", recipient: "uk", policy: policy, at: now, aggregateAgreements: named) == .withhold)
        #expect(DataFlow.ingress([aggregate], holder: "wales", recipient: "uk", policy: policy, at: now) == .keep(strip: [0], violations: []))
        // One made under the stricter agreement goes under it.
        let strictMade = try DatasetAggregate.make(rows: rows, label: label, minCellSize: 50, agreement: "HEIW-WALES-2025-STRICT")
        let strictAggregate = item(index: 6, time: now, type: Policy.aggregateType, classification: label, payload: try DatasetAggregate.encoded(strictMade))
        #expect(DataFlow.ingress([strictAggregate], holder: "wales", recipient: "uk", policy: policy, at: now) == .keep(strip: [], violations: []))
        #expect(decisions.admits(strictAggregate.header, payload: strictAggregate.payload) == (true, .aggregate, "HEIW-WALES-2025-STRICT"))
    }

    /// Two agreements on one label at once: the holder makes each aggregate under the stricter
    /// (`Agreement.governing`), and it goes to the recipients of both; one made under the looser
    /// does not go to the stricter one's recipient.
    @Test func anAggregateOfTheStrictestAgreementGoesUnderEachAgreementItMeets() throws {
        var policy = Policy(owners: owners, labels: labels)
        var loose = try full(["uk": .aggregate])
        loose.id = "HEIW-LOOSE"
        var strict = try full(["scotland": .aggregate])
        strict.id = "HEIW-STRICT"
        strict.minCellSize = 10
        for (i, a) in [loose, strict].enumerated() {
            let e = try established(a, index: UInt64(i))
            policy.apply(log: "wales", index: UInt64(i), timeMillis: 0, type: e.header.type, payload: e.payload)
        }
        #expect(Agreement.governing([loose, strict])?.id == "HEIW-STRICT")
        for (named, recipient, admitted) in [("HEIW-STRICT", "uk", true), ("HEIW-STRICT", "scotland", true),
                                             ("HEIW-LOOSE", "uk", true), ("HEIW-LOOSE", "scotland", false)] {
            var decisions = Decisions(policy: policy, holder: "wales", recipient: recipient, at: during)
            #expect(decisions.admitsAggregate(label: label, recorded: during, named: named).admitted == admitted, "\(named) to \(recipient)")
        }
        // Published at the holder under the method that governs the label now; one made under
        // the looser (before the stricter came into force) is the holder's alone meanwhile: the
        // two tables side by side would pin counts each hides.
        #expect(policy.publishes(aggregate: "HEIW-STRICT", label: label, holder: "wales", recorded: during, at: during))
        #expect(!policy.publishes(aggregate: "HEIW-LOOSE", label: label, holder: "wales", recorded: during, at: during))
    }

    /// Two methods for one label in force at once: only aggregates of the governing one are
    /// published, and only while it protects jointly with every method the label was ever
    /// agreed under (a board of 20 is 18 to base 6 and 21 to base 3: both ever shown, it is 20).
    @Test func aLabelIsPublishedUnderOneMethodAtATime() throws {
        var policy = Policy(owners: owners, labels: labels)
        var coarse = try full(["uk": .aggregate])
        coarse.id = "HEIW-BASE-5"
        coarse.minCellSize = 8
        coarse.rounding = 5
        let first = try established(coarse, index: 0)
        policy.apply(log: "wales", index: 0, timeMillis: 0, type: first.header.type, payload: first.payload)
        let rows: [String: Any] = ["rows": [["board": "Powys", "count": 20], ["board": "Cardiff", "count": 40]]]
        let byFive = try DatasetAggregate.encoded(try DatasetAggregate.make(rows: rows, label: label, minCellSize: 8, rounding: 5, agreement: coarse.id))
        #expect(policy.publishes(aggregatePayload: byFive, label: label, holder: "wales", recorded: during, at: during))
        var coarser = coarse
        coarser.id = "HEIW-BASE-10"
        coarser.rounding = 10
        coarser.recipients = ["scotland": .aggregate]
        let second = try established(coarser, index: 1)
        policy.apply(log: "wales", index: 1, timeMillis: 0, type: second.header.type, payload: second.payload)
        #expect(Agreement.governing([coarse, coarser])?.id == coarser.id)
        let byTen = try DatasetAggregate.encoded(try DatasetAggregate.make(rows: rows, label: label, minCellSize: 8, rounding: 10, agreement: coarser.id))
        #expect(policy.publishes(aggregatePayload: byTen, label: label, holder: "wales", recorded: during, at: during))
        #expect(!policy.publishes(aggregatePayload: byFive, label: label, holder: "wales", recorded: during, at: during))
        #expect(!policy.publishes(aggregate: coarse.id, label: label, holder: "wales", recorded: during, at: during))
        // A stricter agreement that gives no node access governs nothing: it publishes nothing
        // itself, and the method of those that do stays the label's.
        var closed = coarse
        closed.id = "HEIW-CLOSED"
        closed.minCellSize = 10
        closed.rounding = 5
        closed.recipients = ["england": .none]
        let third = try established(closed, index: 2)
        policy.apply(log: "wales", index: 2, timeMillis: 0, type: third.header.type, payload: third.payload)
        #expect(Policy.governing(policy.inForce(label: label, holder: "wales", at: during))?.id == coarser.id)
        #expect(policy.publishes(aggregatePayload: byTen, label: label, holder: "wales", recorded: during, at: during))
        // One not yet begun (or revoked before it began) published nothing: it stops nothing.
        var later = coarse
        later.id = "HEIW-LATER-6"
        later.rounding = 6
        later.validFrom = during + 3_000_000_000_000
        later.validUntil = during + 4_000_000_000_000
        let notYet = try established(later, index: 4)
        policy.apply(log: "wales", index: 4, timeMillis: 0, type: notYet.header.type, payload: notYet.payload)
        #expect(policy.publishes(aggregatePayload: byTen, label: label, holder: "wales", recorded: during, at: during))
        // An owner's mistakes revoked before they began (base 3, and the base 6 above: never in
        // force) block nothing: an agreement with the governing method is still taken. Not
        // revoked, the base 6 one blocks it (below, the third method).
        var mistake = coarse
        mistake.id = "HEIW-MISTAKE-3"
        mistake.rounding = 3
        mistake.validFrom = during + 1_000_000
        let mistaken = try established(mistake, index: 5)
        policy.apply(log: "wales", index: 5, timeMillis: 0, type: mistaken.header.type, payload: mistaken.payload)
        var again = coarser
        again.id = "HEIW-BASE-10-AGAIN"
        #expect(throws: PolicyError.self) { try policy.check(type: "agreement.established", payload: try established(again, index: 7).payload!, log: "wales") }
        policy.apply(log: "wales", index: 6, timeMillis: during, type: "agreement.revoked", payload: Array(#"{"id":"HEIW-MISTAKE-3","reason":"wrong base"}"#.utf8))
        policy.apply(log: "wales", index: 7, timeMillis: during, type: "agreement.revoked", payload: Array(#"{"id":"HEIW-LATER-6","reason":"wrong base"}"#.utf8))
        #expect(throws: Never.self) { try policy.check(type: "agreement.established", payload: try established(again, index: 8).payload!, log: "wales") }
        #expect(policy.publishes(aggregatePayload: byTen, label: label, holder: "wales", recorded: during, at: during))
        // A third method that does not protect jointly with those before (base 6 with base 5:
        // 27 is 25 and 30, so 27 alone): the holder's append refuses it (an append-only ledger
        // cannot take it back), and where it is on the ledger all the same, from then on no
        // table of the label is published, not the new method's, not the governing one's — a
        // reader kept what it saw before.
        var other = coarse
        other.id = "HEIW-BASE-6"
        other.rounding = 6
        let sixth = try established(other, index: 3)
        #expect { try policy.check(type: sixth.header.type, payload: sixth.payload!, log: "wales") } throws: {
            "\($0)".contains("protects jointly") && "\($0)".contains("HEIW-BASE-")
        }
        policy.apply(log: "wales", index: 3, timeMillis: 0, type: sixth.header.type, payload: sixth.payload)
        let bySix = try DatasetAggregate.encoded(try DatasetAggregate.make(rows: rows, label: label, minCellSize: 8, rounding: 6, agreement: other.id))
        #expect(!policy.publishes(aggregatePayload: byTen, label: label, holder: "wales", recorded: during, at: during))
        #expect(!policy.publishes(aggregatePayload: bySix, label: label, holder: "wales", recorded: during, at: during))
    }

    /// A policy holding one agreement of HEIW's for `label` at wales (uk given aggregates).
    func policyWithOneAgreement(_ id: String) throws -> (Policy, Agreement) {
        var policy = Policy(owners: owners, labels: labels)
        var agreement = try full(["uk": .aggregate])
        agreement.id = id
        let entry = try established(agreement, index: 0)
        policy.apply(log: "wales", index: 0, timeMillis: 0, type: entry.header.type, payload: entry.payload)
        return (policy, agreement)
    }

    /// A method stays counted once its agreement no longer counts: an id disputed by a second
    /// holder (contested) still showed tables before, so a later agreement at a base that does
    /// not protect jointly with it is refused and publishes nothing (a review: the dispute made
    /// the method forgotten).
    @Test func aDisputedAgreementsMethodIsStillCounted() throws {
        let (start, first) = try policyWithOneAgreement("HEIW-BASE-5")
        var policy = start
        var copy = first
        copy.holder = "england"
        let atEngland = try established(copy, index: 0)
        policy.apply(log: "england", index: 0, timeMillis: 0, type: atEngland.header.type, payload: atEngland.payload)
        #expect(policy.contested.contains(first.id))
        var next = first
        next.id = "HEIW-BASE-6"
        next.rounding = 6
        let later = try established(next, index: 1)
        #expect { try policy.check(type: later.header.type, payload: later.payload!, log: "wales") } throws: { "\($0)".contains("protects jointly") }
        policy.apply(log: "wales", index: 1, timeMillis: 0, type: later.header.type, payload: later.payload)
        let rows: [String: Any] = ["rows": [["board": "Powys", "count": 27], ["board": "Cardiff", "count": 40]]]
        let bySix = try DatasetAggregate.encoded(try DatasetAggregate.make(rows: rows, label: label, minCellSize: next.minCellSize, rounding: 6, agreement: next.id))
        #expect(!policy.publishes(aggregatePayload: bySix, label: label, holder: "wales", recorded: during, at: during))
    }

    /// Which pairs of methods a reader may see one label under: every pair of values the two
    /// can show together stands for two true counts or more (the helper's worked examples).
    @Test func methodsProtectJointlyOnlyWhenNoCountIsAloneInBoth() throws {
        func m(_ size: Int, _ base: Int) throws -> Suppression.Method { try Suppression.Method(minCellSize: size, rounding: base) }
        for (a, b, joint) in [((8, 5), (8, 10), true), ((8, 5), (10, 5), true), ((8, 5), (8, 15), true), ((8, 5), (8, 5), true),
                              ((8, 3), (8, 6), false), ((8, 5), (8, 6), false), ((8, 4), (8, 5), false), ((8, 2), (8, 4), false),
                              ((8, 999), (8, 1000), false), ((1000, 1000), (1, 2), false)] {
            #expect(try m(a.0, a.1).jointlyProtects(with: try m(b.0, b.1)) == joint, "\(a) with \(b)")
            #expect(try m(b.0, b.1).jointlyProtects(with: try m(a.0, a.1)) == joint, "\(b) with \(a)")
        }
        // Checked directly for one failing pair: some count is the only one showing its pair.
        let five = try m(8, 5), six = try m(8, 6)
        #expect((0...200).contains { count in (0...200).filter { five.publish($0) == five.publish(count) && six.publish($0) == six.publish(count) }.count == 1 })
    }

    /// One method per label over every holder: the same label held under a coarser method at
    /// another node publishes only that one's tables; a third holder's method that does not
    /// protect jointly with it (base 7 with base 10) stops them too.
    @Test func aLabelHeldAtTwoNodesIsPublishedUnderOneMethod() throws {
        let (start, atWales) = try policyWithOneAgreement("HEIW-WALES-5")
        var policy = start
        let rows: [String: Any] = ["rows": [["board": "Powys", "count": 27], ["board": "Cardiff", "count": 40]]]
        let wales = try DatasetAggregate.encoded(try DatasetAggregate.make(rows: rows, label: label, minCellSize: atWales.minCellSize, rounding: atWales.rounding, agreement: atWales.id))
        #expect(policy.publishes(aggregatePayload: wales, label: label, holder: "wales", recorded: during, at: during))
        // The same label under another agreement at another holder, with its own base.
        func held(at holder: String, id: String, rounding: Int) throws -> Agreement {
            var other = atWales
            other.id = id
            other.holder = holder
            other.rounding = rounding
            let entry = try established(other, index: 0)
            policy.apply(log: holder, index: 0, timeMillis: 0, type: entry.header.type, payload: entry.payload)
            return other
        }
        let atEngland = try held(at: "england", id: "HEIW-ENGLAND-10", rounding: 10)
        let england = try DatasetAggregate.encoded(try DatasetAggregate.make(rows: rows, label: label, minCellSize: atEngland.minCellSize, rounding: 10, agreement: atEngland.id))
        #expect(policy.publishes(aggregatePayload: england, label: label, holder: "england", recorded: during, at: during))
        #expect(!policy.publishes(aggregatePayload: wales, label: label, holder: "wales", recorded: during, at: during), "england's method governs the label")
        _ = try held(at: "scotland", id: "HEIW-SCOTLAND-7", rounding: 7)
        #expect(!policy.publishes(aggregatePayload: england, label: label, holder: "england", recorded: during, at: during))
    }

    /// An aggregate published by its agreement's terms but not a table that agreement's method
    /// makes (the method before 2026-11-30 kept exact counts and true totals, with no `method`)
    /// is the holder's alone, however it came to be stored.
    @Test func anAggregateItsMethodDidNotMakeIsNotPublished() throws {
        let rows: [String: Any] = ["rows": [["board": "Powys", "count": 3], ["board": "Cardiff", "count": 40]]]
        let (policy, made, real) = try aggregateUnderHEIW(rows, index: 2)
        let payload = try #require(real.payload)
        #expect(policy.publishes(aggregatePayload: payload + Array(repeating: 0x20, count: 100), label: label, holder: "wales", recorded: during, at: during))
        var old = made
        old["method"] = nil
        old["suppressed"] = ["primary": 1, "secondary": 0]
        #expect(!policy.publishes(aggregatePayload: try DatasetAggregate.encoded(old), label: label, holder: "wales", recorded: during, at: during))
        var exact = made
        exact["row_totals"] = [3, 40]
        #expect(!policy.publishes(aggregatePayload: try DatasetAggregate.encoded(exact), label: label, holder: "wales", recorded: during, at: during))
        #expect(!policy.publishes(aggregatePayload: payload, label: "heiw.workforce.vacancies", holder: "wales", recorded: during, at: during))
    }

    @Test func timesAWriterChoosesFormatInConstantTimeAndRoundTrip() throws {
        #expect(Timestamp.format(UInt64.max) == "9999-12-31T23:59:59Z")
        #expect(Timestamp.format(0) == "1970-01-01T00:00:00Z")
        var generator = SeededGenerator(state: 7)
        for _ in 0..<2000 {
            let millis = (generator.next() % Timestamp.maxMillis) / 1000 * 1000
            #expect(Timestamp.parse(Timestamp.format(millis)) == millis, "\(millis)")
        }
        #expect(Timestamp.format(951_782_400_000) == "2000-02-29T00:00:00Z")
    }
}

/// Disclosure and purge records are kept in memory by every node: one larger than a writer
/// makes is not folded (a member could otherwise fill every node's memory with one entry).
@Suite struct PolicyRecordBoundsTests {
    @Test func aRecordLargerThanAWriterMakesIsNotFolded() throws {
        var policy = Policy(owners: [:])
        func disclosure(_ ranges: Int) -> [UInt8] {
            let pairs = (0..<ranges).map { "[\($0),\($0)]" }.joined(separator: ",")
            return Array(#"{"log":"wales","ranges":[\#(pairs)],"count":1,"recipient":"uk","agreement":"HEIW-1","time":"2026-12-04T00:00:00Z"}"#.utf8)
        }
        func purge(_ entries: Int) -> [UInt8] {
            Array(#"{"log":"wales","entries":[\#((0..<entries).map(String.init).joined(separator: ","))],"agreement":"HEIW-1","reason":"revoked","time":"2026-12-04T00:00:00Z"}"#.utf8)
        }
        #expect(policy.apply(log: "uk", index: 0, timeMillis: 0, type: "disclosure.recorded", payload: disclosure(Policy.maxRangesPerDisclosureRecord)) == .accepted("HEIW-1"))
        guard case .ignored(let why) = policy.apply(log: "uk", index: 1, timeMillis: 0, type: "disclosure.recorded", payload: disclosure(Policy.maxRangesPerDisclosureRecord + 1)) else {
            Issue.record("a disclosure record over the bound was folded"); return
        }
        #expect(why.contains("over the \(Policy.maxRangesPerDisclosureRecord) a record holds"))
        #expect(policy.apply(log: "uk", index: 2, timeMillis: 0, type: "purge.recorded", payload: purge(Policy.maxEntriesPerPurgeRecord)) == .accepted("HEIW-1"))
        guard case .ignored = policy.apply(log: "uk", index: 3, timeMillis: 0, type: "purge.recorded", payload: purge(Policy.maxEntriesPerPurgeRecord + 1)) else {
            Issue.record("a purge record over the bound was folded"); return
        }
        #expect(policy.disclosures["HEIW-1"]?.count == 1 && policy.purges["HEIW-1"]?.count == 1)
    }

    /// Numbers no writer makes (negative, fractional, past UInt64, a count past Int) are left
    /// out of what is kept, never truncated or trapped on.
    @Test func numbersNoWriterMakesAreLeftOut() throws {
        var policy = Policy(owners: [:])
        let disclosure = #"{"log":"wales","ranges":[[1,2],[-1,3],[1e30,1e31],[0.5,4],[18446744073709551615,18446744073709551615]],"count":1e30,"recipient":"uk","agreement":"HEIW-1","time":"2026-12-04T00:00:00Z"}"#
        #expect(policy.apply(log: "uk", index: 0, timeMillis: 0, type: "disclosure.recorded", payload: Array(disclosure.utf8)) == .accepted("HEIW-1"))
        let kept = try #require(policy.disclosures["HEIW-1"]?.first)
        #expect(kept.ranges == [1...2, UInt64.max...UInt64.max] && kept.count == 0, "\(kept.ranges) \(kept.count)")
        let purge = #"{"log":"wales","entries":[3,-4,1e40,2.5,7],"agreement":"HEIW-1","reason":"revoked","time":"2026-12-04T00:00:00Z"}"#
        #expect(policy.apply(log: "uk", index: 1, timeMillis: 0, type: "purge.recorded", payload: Array(purge.utf8)) == .accepted("HEIW-1"))
        #expect(policy.purges["HEIW-1"]?.first?.entries == [3, 7])
    }
}

/// An agreement's disclosure and purge records come in pages, in the order of the entries that
/// hold them, whatever order the logs were folded in: bounded by records and by ranges.
@Suite struct RecordPageTests {
    func disclosure(_ ranges: Int, start: Int = 0) -> [UInt8] {
        let pairs = (0..<ranges).map { "[\(start + $0 * 2),\(start + $0 * 2)]" }.joined(separator: ",")
        return Array(#"{"log":"wales","ranges":[\#(pairs)],"count":\#(ranges),"recipient":"england","agreement":"HEIW-1","time":"2026-12-05T00:00:00Z"}"#.utf8)
    }
    let purge = Array(#"{"log":"wales","entries":[1,2,3],"agreement":"HEIW-1","reason":"revoked","time":"2026-12-05T00:00:00Z"}"#.utf8)

    /// Every record of HEIW-1, page by page, and the refs of each page.
    func pages(_ policy: Policy, limit: Int) -> [[RecordRef]] {
        var pages: [[RecordRef]] = []
        var after: RecordRef?
        for _ in 0..<1000 {
            let page = policy.records(of: "HEIW-1", after: after, limit: limit)
            let refs = (page.disclosures.map { RecordRef(log: $0.recordLog, index: $0.recordIndex) }
                        + page.purges.map { RecordRef(log: $0.recordLog, index: $0.recordIndex) }).sorted()
            pages.append(refs)
            guard let next = page.next else { break }
            #expect(next == refs.last, "next names the page's last record")
            after = next
        }
        return pages
    }

    @Test func pagesFollowTheEntriesOrderWhateverTheFoldOrder() throws {
        // Two logs folded interleaved, and in the other order: the same pages.
        var one = Policy(owners: [:]), other = Policy(owners: [:])
        var applied: [(String, UInt64, [UInt8], String)] = []
        for i in 0..<7 {
            applied.append(("uk", UInt64(i * 3), disclosure(2, start: i), "disclosure.recorded"))
            applied.append(("england", UInt64(i), i % 2 == 0 ? purge : disclosure(1), i % 2 == 0 ? "purge.recorded" : "disclosure.recorded"))
        }
        for (log, index, payload, type) in applied { one.apply(log: log, index: index, timeMillis: 0, type: type, payload: payload) }
        for (log, index, payload, type) in applied.sorted(by: { $0.0 < $1.0 }).reversed() { other.apply(log: log, index: index, timeMillis: 0, type: type, payload: payload) }
        let expected = applied.map { RecordRef(log: $0.0, index: $0.1) }.sorted()
        for limit in [1, 3, 5, 14, 1000] {
            let paged = pages(one, limit: limit)
            #expect(paged.flatMap { $0 } == expected, "limit \(limit)")
            #expect(paged.allSatisfy { $0.count <= limit && !$0.isEmpty })
            #expect(pages(other, limit: limit) == paged, "the fold order changed the pages at limit \(limit)")
        }
        #expect(one.records(of: "HEIW-1", after: nil, limit: 1000).total == 14)
        // After the last record, nothing; after a ref between records, the next one.
        let none = one.records(of: "HEIW-1", after: expected.last, limit: 5)
        #expect(none.disclosures.isEmpty && none.purges.isEmpty && none.next == nil && none.total == 14)
        let between = one.records(of: "HEIW-1", after: RecordRef(log: "uk", index: 4), limit: 1)
        #expect(between.disclosures.map(\.recordIndex) == [6] && between.next == RecordRef(log: "uk", index: 6))
        let unknown = one.records(of: "HEIW-2", after: nil, limit: 10)
        #expect(unknown.disclosures.isEmpty && unknown.purges.isEmpty && unknown.next == nil && unknown.total == 0)
    }

    @Test func aPageHoldsAtMostItsRangesButAlwaysOneRecord() throws {
        var policy = Policy(owners: [:])
        let big = Policy.maxRangesPerDisclosureRecord
        for i in 0..<25 {
            #expect(policy.apply(log: "uk", index: UInt64(i), timeMillis: 0, type: "disclosure.recorded", payload: disclosure(big)) == .accepted("HEIW-1"))
        }
        let paged = pages(policy, limit: Policy.recordsPerPage)
        // Each record weighs its ranges and one: nine fit under the page's ranges, not ten.
        let perPage = Policy.rangesPerPage / (big + 1)
        #expect(paged.map(\.count) == [perPage, perPage, 25 - 2 * perPage], "\(paged.map(\.count))")
        // A limit below one still gives one record (the route refuses it before).
        #expect(policy.records(of: "HEIW-1", after: nil, limit: 0).disclosures.count == 1)
    }

    @Test func aRecordRefIsALogNameAndAnIndex() {
        #expect(RecordRef(parsing: "northern-ireland:17") == RecordRef(log: "northern-ireland", index: 17))
        #expect(RecordRef(parsing: "uk:18446744073709551615")?.index == UInt64.max)
        for bad in ["", ":", "uk", "uk:", ":3", "UK:3", "uk:-1", "uk:3x", "uk:18446744073709551616", "u k:3", "uk:+3", "ü:3",
                    String(repeating: "a", count: 65) + ":1", "a:b:1"] {
            #expect(RecordRef(parsing: bad) == nil, "\(bad)")
        }
        #expect(RecordRef(log: "england", index: 9) < RecordRef(log: "uk", index: 0))
        #expect(RecordRef(log: "uk", index: 2) < RecordRef(log: "uk", index: 10))
        #expect(RecordRef(log: "uk", index: 10).description == "uk:10")
    }
}
