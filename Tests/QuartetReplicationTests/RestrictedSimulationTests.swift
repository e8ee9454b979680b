import Foundation
import QuartetCrypto
import QuartetLedger
import QuartetPolicy
@testable import QuartetReplication
import Testing

/// The deterministic five-node simulation with restricted data: agreements that start, expire
/// and are revoked mid-run, loss, duplication, reordering, relays that answer `unavailable`, and
/// a hostile member that blanks public entries to stubs, sends restricted payloads to anyone
/// and writes forged aggregates in its own log. After every step no honest node holds a
/// payload it may not hold or a stub of a public entry; every restricted payload an honest node
/// sent in full was counted as a disclosure; at the end every honest node holds exactly the
/// payloads it is entitled to.
@Suite struct RestrictedSimulationTests {
    static let ids = ["england", "northern-ireland", "scotland", "uk", "wales"]

    struct Owner {
        let id: String
        let key: Ed25519PrivateKey
        var verifier: NoteVerifier { NoteVerifier(name: id, publicKey: key.publicKey) }
    }

    static func established(_ agreement: Agreement, by owner: Owner) throws -> (type: String, classification: String, payload: [UInt8]?) {
        let note = try NoteSigner(name: owner.id, key: owner.key).sign(text: agreement.text)
        return ("agreement.established", "public", Array(try JSONSerialization.data(withJSONObject: ["note": note.serialized])))
    }

    static func rows(_ board: String, _ count: Int) -> [String: Any] { ["rows": [["board": board, "count": count], ["board": "Other", "count": 40]]] }

    /// Loss, duplication, relays that answer `unavailable`, reordering; catch-ups in batches of
    /// at most 12 entries (a node behind meets rows before a revocation later in the log, sent
    /// by a writer that already judges by it). Then `settle` ends the loss and lets it converge.
    static func lossy(_ sim: inout Simulation) {
        sim.loss = 0.2
        sim.duplication = 0.2
        sim.unavailable = 0.2
        sim.maxDelay = 20
        sim.maxServe = 12
        sim.connectAll()
    }

    static func settle(_ sim: inout Simulation) {
        sim.loss = 0
        sim.unavailable = 0
        sim.runUntil(sim.now + 1500)
    }

    /// Every one of `nodes` ends with exactly the payloads of `holder`'s log that the holder's
    /// policy entitles it to, and the same status of each of `agreements`.
    static func expectEntitled(_ sim: Simulation, holder: String, nodes: [String], agreements: [String], seed: UInt64) throws {
        let truth = sim.policies![holder]!
        let entries = sim.nodes[holder]!.logs[holder]!.entries
        for node in nodes where node != holder {
            for id in agreements {
                #expect(sim.policies![node]!.status(id, at: sim.nowMillis) == truth.status(id, at: sim.nowMillis), "\(node) and \(holder) differ on \(id)")
            }
            var decisions = Decisions(policy: truth, holder: holder, recipient: node, at: sim.nowMillis)
            let held = try #require(sim.nodes[node]!.logs[holder])
            for entry in entries {
                let h = entry.header
                let entitled = h.classification == "public" || decisions.admits(h, payload: entry.payload?.bytes).admitted
                guard held.entries.indices.contains(Int(h.index)) else {
                    Issue.record("seed \(seed): \(node) lacks \(holder)/\(h.index) altogether")
                    break
                }
                let holds = held.entries[Int(h.index)].payload != nil
                #expect(entitled == holds, "seed \(seed): \(node) \(holds ? "holds" : "lacks") \(holder)/\(h.index) (\(h.classification) \(h.type))")
            }
        }
    }

    /// Two agreements on one label at once, over a lossy network: the holder makes each aggregate
    /// under the stricter (northern-ireland's, minimum cell size 10), and it reaches scotland
    /// too under the looser one (minimum 5) until that is revoked; then scotland purges them and
    /// northern-ireland keeps them. Relays withhold what only the writer may send as a stub, and
    /// every node ends with exactly what it is entitled to.
    @Test(arguments: [UInt64(7), 11, 99])
    func aggregatesOfTheStricterOfTwoAgreementsReachTheRecipientsOfBoth(seed: UInt64) throws {
        var sim = try Simulation(ids: Self.ids, seed: seed)
        let heiw = Owner(id: "HEIW", key: try Ed25519PrivateKey())
        let labels = try LabelOwnership(["HEIW": ["heiw.*"]])
        sim.policies = Dictionary(uniqueKeysWithValues: Self.ids.map { ($0, Policy(owners: [heiw.id: heiw.verifier], labels: labels)) })
        Self.lossy(&sim)
        let far: UInt64 = 10_000_000
        let looser = Agreement(id: "HEIW-LOOSE", owner: "HEIW", holder: "wales", labels: ["heiw.rows"], recipients: ["scotland": .aggregate],
                               purpose: "sim", validFrom: 0, validUntil: far, minCellSize: 5)
        let stricter = Agreement(id: "HEIW-STRICT", owner: "HEIW", holder: "wales", labels: ["heiw.rows"], recipients: ["northern-ireland": .aggregate],
                                 purpose: "sim", validFrom: 0, validUntil: far, minCellSize: 10)
        try sim.append("wales", items: [try Self.established(looser, by: heiw), try Self.established(stricter, by: heiw)])
        #expect(Agreement.governing([looser, stricter])?.id == "HEIW-STRICT")
        for round in 0..<16 {
            for id in Self.ids where (round + id.count) % 3 != 0 { try sim.append(id, count: 1 + Int(sim.random.next() % 3)) }
            let table = Self.rows("B\(round)", round + 3)
            let aggregate = try DatasetAggregate.make(rows: table, label: "heiw.rows", minCellSize: 10, agreement: "HEIW-STRICT")
            try sim.append("wales", items: [("dataset.rows", "heiw.rows", Array(try JSONSerialization.data(withJSONObject: table))),
                                            (Policy.aggregateType, "heiw.rows", try DatasetAggregate.encoded(aggregate))])
            if round == 8 {
                try sim.append("wales", items: [("agreement.revoked", "public", Array(#"{"id":"HEIW-LOOSE","reason":"consent withdrawn"}"#.utf8))])
            }
            sim.runUntil(sim.now + 10)
        }
        Self.settle(&sim)

        #expect(sim.violations.isEmpty, "seed \(seed): \(sim.violations.prefix(5))")
        #expect(!sim.sentInFull.values.contains(false), "a full disclosure went uncounted")
        #expect(sim.sentInFull.keys.contains { $0.contains(" scotland wales ") }, "seed \(seed): scotland never received an aggregate under the looser agreement")
        for log in Self.ids { #expect(Set(sim.sizes(log)).count == 1, "log \(log) with seed \(seed)") }
        try Self.expectEntitled(sim, holder: "wales", nodes: Self.ids, agreements: ["HEIW-LOOSE", "HEIW-STRICT"], seed: seed)
        let entries = sim.nodes["wales"]!.logs["wales"]!.entries
        // After the revocation scotland holds none of them; northern-ireland holds them all.
        let aggregates = entries.filter { $0.header.type == Policy.aggregateType }
        #expect(aggregates.count == 16)
        #expect(aggregates.allSatisfy { sim.nodes["scotland"]!.logs["wales"]!.entries[Int($0.header.index)].payload == nil })
        #expect(aggregates.allSatisfy { sim.nodes["northern-ireland"]!.logs["wales"]!.entries[Int($0.header.index)].payload != nil })
    }

    @Test(arguments: [UInt64(1), 2, 3, 42, 1234])
    func restrictedDataGoesOnlyWhereAgreementsLetItWhateverTheNetworkAndAHostileMemberDo(seed: UInt64) throws {
        var sim = try Simulation(ids: Self.ids, seed: seed)
        let heiw = Owner(id: "HEIW", key: try Ed25519PrivateKey())
        let nhss = Owner(id: "NHS-SCOTLAND", key: try Ed25519PrivateKey())
        let nhse = Owner(id: "NHS-ENGLAND", key: try Ed25519PrivateKey())
        let labels = try LabelOwnership(["HEIW": ["heiw.*"], "NHS-SCOTLAND": ["nhss.*"], "NHS-ENGLAND": ["nhse.*"]])
        let owners = Dictionary(uniqueKeysWithValues: [heiw, nhss, nhse].map { ($0.id, $0.verifier) })
        sim.policies = Dictionary(uniqueKeysWithValues: Self.ids.map { ($0, Policy(owners: owners, labels: labels)) })
        sim.hostile = ["england"]
        Self.lossy(&sim)

        let far: UInt64 = 10_000_000
        // wales: rows for uk in full and scotland as aggregates, revoked at round 12; other rows
        // for northern-ireland in full and uk as aggregates from t=40 s on (earlier rows never).
        let revoked = Agreement(id: "HEIW-1", owner: "HEIW", holder: "wales", labels: ["heiw.rows"], recipients: ["uk": .full, "scotland": .aggregate],
                                purpose: "sim", validFrom: 0, validUntil: far, minCellSize: 5)
        let lasting = Agreement(id: "HEIW-2", owner: "HEIW", holder: "wales", labels: ["heiw.other"], recipients: ["northern-ireland": .full, "uk": .aggregate],
                                purpose: "sim", validFrom: 40_000, validUntil: far, minCellSize: 5)
        // scotland: rows for uk and wales in full, until t=120 s.
        let expiring = Agreement(id: "NHS-SCOTLAND-1", owner: "NHS-SCOTLAND", holder: "scotland", labels: ["nhss.rows"], recipients: ["uk": .full, "wales": .full],
                                 purpose: "sim", validFrom: 0, validUntil: 120_000, minCellSize: 5)
        // england (hostile): aggregates for uk, which it forges from raw rows.
        let forgedUnder = Agreement(id: "NHS-ENGLAND-1", owner: "NHS-ENGLAND", holder: "england", labels: ["nhse.rows"], recipients: ["uk": .aggregate],
                                    purpose: "sim", validFrom: 0, validUntil: far, minCellSize: 5)
        try sim.append("wales", items: [try Self.established(revoked, by: heiw), try Self.established(lasting, by: heiw)])
        try sim.append("scotland", items: [try Self.established(expiring, by: nhss)])
        try sim.append("england", items: [try Self.established(forgedUnder, by: nhse)])

        for round in 0..<24 {
            for id in Self.ids where (round + id.count) % 3 != 0 {
                try sim.append(id, count: 1 + Int(sim.random.next() % 3))
            }
            func rowsAndAggregate(_ label: String, _ agreement: String, _ count: Int) throws -> [(type: String, classification: String, payload: [UInt8]?)] {
                let table = Self.rows("B\(round)", count)
                let aggregate = try DatasetAggregate.make(rows: table, label: label, minCellSize: 5, agreement: agreement)
                return [("dataset.rows", label, Array(try JSONSerialization.data(withJSONObject: table))),
                        (Policy.aggregateType, label, try DatasetAggregate.encoded(aggregate))]
            }
            if round < 12 { try sim.append("wales", items: try rowsAndAggregate("heiw.rows", "HEIW-1", round)) }
            if round == 12 {
                try sim.append("wales", items: [("agreement.revoked", "public", Array(#"{"id":"HEIW-1","reason":"consent withdrawn"}"#.utf8))])
            }
            try sim.append("wales", items: try rowsAndAggregate("heiw.other", "HEIW-2", round + 7))
            if round < 14 { try sim.append("scotland", items: try rowsAndAggregate("nhss.rows", "NHS-SCOTLAND-1", round + 3)) }
            // england posts raw rows typed as an aggregate.
            let raw = Array(try JSONSerialization.data(withJSONObject: Self.rows("E\(round)", 2)))
            try sim.append("england", items: [(Policy.aggregateType, "nhse.rows", raw)])
            // england relays what honest peers lack of wales's log with every public entry blanked.
            if round % 4 == 1, let held = sim.nodes["england"]!.logs["wales"] {
                for peer in Self.ids where peer != "england" && peer != "wales" {
                    let from = sim.nodes[peer]!.logs["wales"]?.frontier.size ?? 0
                    guard let end = held.checkpoints.keys.filter({ $0 > from }).max(), let note = held.checkpoints[end] else { continue }
                    var entries = held.entries[Int(from)..<Int(end)].map(WireEntry.init)
                    for i in entries.indices where EntryHeader.isPublic(encoded: entries[i].headerBytes) { entries[i].payload = nil }
                    sim.send(from: "england", to: peer, .entries(Batch(log: "wales", from: from, note: note, entries: entries)))
                }
            }
            sim.runUntil(sim.now + 10)
        }
        // Quiet: no more loss or unavailable relays (england goes on misbehaving).
        Self.settle(&sim)

        #expect(sim.violations.isEmpty, "seed \(seed): \(sim.violations.prefix(5))")
        #expect(!sim.sentInFull.values.contains(false), "a full disclosure went uncounted")
        #expect(sim.sentInFull.keys.contains { $0.hasPrefix("wales uk wales ") }, "uk never received heiw.rows in full")

        let honest = Self.ids.filter { !sim.hostile.contains($0) }
        for log in Self.ids {
            let sizes = sim.sizes(log)
            #expect(Set(sizes).count == 1, "log \(log) sizes \(sizes) with seed \(seed)")
        }
        // Every honest node ends with exactly the payloads it is entitled to, by the holder's policy.
        for holder in honest {
            try Self.expectEntitled(sim, holder: holder, nodes: honest, agreements: ["HEIW-1", "HEIW-2", "NHS-SCOTLAND-1", "NHS-ENGLAND-1"], seed: seed)
        }
        // heiw.other rows recorded before HEIW-2's valid-from never reached northern-ireland.
        let early = sim.nodes["wales"]!.logs["wales"]!.entries.filter { $0.header.classification == "heiw.other" && $0.header.timeMillis < 40_000 }
        #expect(!early.isEmpty)
        // (Held as stubs: the entry there, its payload not; a copy without the entry would pass a nil chain.)
        #expect(early.allSatisfy { sim.nodes["northern-ireland"]!.logs["wales"]?.entries.dropFirst(Int($0.header.index)).first.map { $0.payload == nil } == true })
        // uk kept england's forged aggregates as stubs and said so.
        let forged = sim.nodes["england"]!.logs["england"]!.entries.filter { $0.header.type == Policy.aggregateType }
        #expect(!forged.isEmpty)
        #expect(forged.allSatisfy { sim.nodes["uk"]!.logs["england"]?.entries.dropFirst(Int($0.header.index)).first.map { $0.payload == nil } == true })
        #expect(sim.nodes["uk"]!.alerts.contains { $0.kind == .violation && $0.log == "england" })
        // The hostile member's blanked public entries were refused and reported.
        #expect(!sim.blanked.isEmpty, "seed \(seed): the hostile member's blanked entries never reached an honest node's store")
        for node in sim.blanked {
            #expect(sim.nodes[node]!.alerts.contains { $0.kind == .rejected && $0.peer == "england" && $0.message.contains("came as a stub") },
                    "seed \(seed): \(node) was sent blanked entries and did not report england")
        }
    }
}
