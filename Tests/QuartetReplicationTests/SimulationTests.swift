import QuartetCrypto
import Foundation
import QuartetLedger
import QuartetPolicy
@testable import QuartetReplication
import Testing

/// One simulated log held in memory: entries and the checkpoints stored for it.
struct MemoryLog {
    var entries: [Entry] = []
    var frontier = MerkleFrontier()
    var checkpoints: [UInt64: String] = [:]
    var leaves: [Hash] { entries.map(\.leafHash) }
}

/// A simulated node: a replicator and what a store would hold.
struct SimNode {
    let id: String
    var replicator: Replicator
    var logs: [String: MemoryLog] = [:]
    var signer: NoteSigner
    var evidence: [Evidence] = []
    var alerts: [ReplicationAlert] = []
    /// The size at which the replicator said the node may append to its own log.
    var synced: UInt64?
    /// Federation statements peers gave it (`federationStated`), in order.
    var statements: [(peer: String, statement: String)] = []
}

/// A deterministic network of simulated nodes, with loss, duplication, reordering and delay.
struct Simulation {
    struct Packet {
        var at: UInt64
        var sequence: Int
        var from: String
        var to: String
        var frame: [UInt8]
    }

    var nodes: [String: SimNode] = [:]
    var queue: [Packet] = []
    var now: UInt64 = 0
    var sequence = 0
    var random: SplitMix64
    var loss = 0.0
    var duplication = 0.0
    /// How often a relay (not the log's writer) answers a request `unavailable`, as a relay
    /// holding only stubs of restricted entries does.
    var unavailable = 0.0
    var maxDelay: UInt64 = 5
    /// Every frame takes at least this long (a slow link: an answer arrives rounds after it
    /// was asked for).
    var minDelay: UInt64 = 0
    /// Entries per served batch at most (a small value splits catch-ups into many batches).
    var maxServe = ProtocolLimits.maxBatchEntries
    /// Links that are cut (both directions).
    var cut: Set<[String]> = []
    /// Messages sent, by "from>to name" (`Message.name`).
    var sent: [String: Int] = [:]
    var timers: [(at: UInt64, node: String)] = []
    static let origin = "quartet.test/"

    // MARK: Restricted data (nil: every entry is public and goes everywhere as it is)

    /// Each node's policy, folded from the agreement entries it stores, as QuartetNode's view
    /// does; egress, ingress and purges decide by it through `DataFlow`.
    var policies: [String: Policy]?
    /// Members that misbehave as senders: they blank public payloads to stubs and send
    /// restricted payloads to anyone; they keep whatever they receive.
    var hostile: Set<String> = []
    /// Members that never answer a request (requests sent to them are lost).
    var swallowsRequests: Set<String> = []
    /// The requests they were sent: (asker, log).
    var swallowed: [(from: String, log: String)] = []
    /// Payloads honest nodes sent in full, by (sender, recipient, log, index), and whether the
    /// egress decision counted each as a disclosure.
    var sentInFull: [String: Bool] = [:]
    /// Honest nodes that came to store a batch with a blanked public entry from a hostile member.
    var blanked: Set<String> = []
    /// Broken invariants, as found after each step.
    var violations: [String] = []
    /// Simulated milliseconds (policies and entry times use them).
    var nowMillis: UInt64 { now * 1000 }

    init(ids: [String], seed: UInt64) throws {
        random = SplitMix64(seed: seed)
        var signers: [String: NoteSigner] = [:]
        for id in ids { signers[id] = try NoteSigner(name: Self.origin + id, key: try Ed25519PrivateKey()) }
        let verifiers = signers.mapValues(\.verifier)
        for id in ids {
            let settings = ReplicationSettings(node: id, federation: "sim", ownLog: id, verifiers: verifiers, peers: ids.filter { $0 != id })
            nodes[id] = SimNode(id: id, replicator: Replicator(settings: settings, heads: [:], seed: seed &+ id.utf8.reduce(UInt64(0)) { $0 &* 31 &+ UInt64($1) }),
                                signer: signers[id]!)
        }
    }

    func isCut(_ a: String, _ b: String) -> Bool { cut.contains([a, b].sorted()) }

    mutating func chance(_ p: Double) -> Bool { Double(random.next() % 1_000_000) / 1_000_000 < p }

    /// Connects every pair that is not cut (both sides see the connection).
    mutating func connectAll() {
        let ids = nodes.keys.sorted()
        for a in ids { for b in ids where a < b && !isCut(a, b) { connect(a, b) } }
    }

    mutating func connect(_ a: String, _ b: String) {
        run(a, nodes[a]!.replicator.connected(b))
        run(b, nodes[b]!.replicator.connected(a))
    }

    mutating func disconnect(_ a: String, _ b: String) {
        run(a, nodes[a]!.replicator.disconnected(b))
        run(b, nodes[b]!.replicator.disconnected(a))
    }

    /// The origin appends `count` entries in one batch and tells its replicator.
    mutating func append(_ id: String, count: Int) throws {
        try append(id, items: (0..<count).map { _ in (type: "measure.reading", classification: "public", payload: nil) })
    }

    /// The origin appends `items` (a nil payload: a small public one of its own) in one batch.
    mutating func append(_ id: String, items: [(type: String, classification: String, payload: [UInt8]?)]) throws {
        var log = nodes[id]!.logs[id] ?? MemoryLog()
        let from = UInt64(log.entries.count)
        var batch: [Entry] = []
        for (i, item) in items.enumerated() {
            let index = from + UInt64(i)
            let entry = try Entry(log: id, index: index, timeMillis: policies == nil ? now : nowMillis, type: item.type, classification: item.classification,
                                  author: "sim", payload: item.payload ?? Array(#"{"i":\#(index)}"#.utf8),
                                  salt: [UInt8](repeating: UInt8(index & 0xFF), count: 32))
            batch.append(entry)
            log.entries.append(entry)
            log.frontier.append(entry.leafHash)
        }
        fold(id, batch)
        let checkpoint = Checkpoint(origin: Self.origin + id, size: log.frontier.size, root: log.frontier.root, timeMillis: now)
        let note = try nodes[id]!.signer.sign(checkpoint).serialized
        log.checkpoints[checkpoint.size] = note
        nodes[id]!.logs[id] = log
        let wire = Batch(log: id, from: from, note: note, entries: batch.map(WireEntry.init))
        run(id, nodes[id]!.replicator.committed(wire, checkpoint: checkpoint))
    }

    /// Carries out directives for `id`, as QuartetNode's shell does with its store.
    mutating func run(_ id: String, _ directives: [Directive]) {
        for directive in directives {
            switch directive {
            case .send(let peer, let message):
                send(from: id, to: peer, message)
            case .store(let peer, let batch, let checkpoint):
                var log = nodes[id]!.logs[batch.log] ?? MemoryLog()
                var frontier = log.frontier
                var entries: [Entry] = []
                var failure: String?
                for (i, wire) in batch.entries.enumerated() {
                    guard let entry = try? Entry(headerBytes: wire.headerBytes, payload: wire.payload),
                          entry.header.log == batch.log, entry.header.index == batch.from + UInt64(i) else { failure = "bad entry \(i)"; break }
                    frontier.append(entry.leafHash)
                    entries.append(entry)
                }
                if failure == nil, hostile.contains(peer), !hostile.contains(id), entries.contains(where: { $0.payload == nil && $0.header.classification == "public" }) {
                    blanked.insert(id)
                }
                if failure == nil, let policy = policies?[id], !hostile.contains(id) {
                    let items = entries.map { DataFlow.Item(header: $0.header, payload: $0.payload?.bytes) }
                    let current = batch.end >= (nodes[id]!.replicator.seen[batch.log]?.size ?? 0)
                    switch DataFlow.ingress(items, holder: batch.log, recipient: id, policy: policy, at: nowMillis,
                                            fromWriter: batch.log == peer, current: current) {
                    case .refuse(let reason):
                        run(id, nodes[id]!.replicator.refused(batch, from: peer, reason: reason))
                        continue
                    case .keep(let strip, let violations, let forged):
                        for i in strip { entries[i] = entries[i].stub }
                        if !violations.isEmpty || !forged.isEmpty {
                            nodes[id]!.alerts.append(ReplicationAlert(kind: .violation, log: batch.log, peer: peer, message: "violations \(violations) forged \(forged)"))
                        }
                    }
                }
                if failure == nil, frontier.size != log.frontier.size + UInt64(batch.entries.count) || log.frontier.size != batch.from { failure = "not at the end" }
                if failure == nil, frontier.root != checkpoint.root { failure = "leaves do not match the signed root" }
                if let failure {
                    run(id, nodes[id]!.replicator.rejected(batch, from: peer, reason: failure))
                } else {
                    log.entries += entries
                    log.frontier = frontier
                    log.checkpoints[checkpoint.size] = batch.note
                    nodes[id]!.logs[batch.log] = log
                    fold(id, entries)
                    run(id, nodes[id]!.replicator.stored(batch, checkpoint: checkpoint, from: peer))
                }
            case .serve(let peer, let logName, let from):
                guard let log = nodes[id]!.logs[logName] else { continue }
                if logName != id, nodes[id]!.replicator.speaksUnavailable(peer), chance(unavailable) {
                    send(from: id, to: peer, .unavailable(log: logName, from: from))
                    continue
                }
                // The largest stored checkpoint within the batch limit, and within the rotations
                // one batch may carry (as the node's store cuts a served batch).
                var limit = from + UInt64(min(ProtocolLimits.maxBatchEntries, maxServe))
                var rotations = 0
                for entry in log.entries.dropFirst(Int(from)).prefix(Int(limit - from)) where entry.header.type == KeyRotation.entryType {
                    rotations += 1
                    if rotations > Replicator.maxNewRotationsPerBatch { limit = entry.header.index; break }
                }
                guard let end = log.checkpoints.keys.filter({ $0 > from && $0 <= limit }).max(), let note = log.checkpoints[end] else { continue }
                let entries = log.entries[Int(from)..<Int(end)].map(WireEntry.init)
                send(from: id, to: peer, .entries(Batch(log: logName, from: from, note: note, entries: Array(entries))))
            case .check(_, let logName, let note, let checkpoint):
                guard let log = nodes[id]!.logs[logName], let headNote = log.checkpoints[log.frontier.size] else { continue }
                let leaves = log.leaves
                let ours = Merkle.root(ofLeaves: Array(leaves[0..<Int(checkpoint.size)]))
                if ours != checkpoint.root {
                    let proof = try! Merkle.consistencyProof(from: checkpoint.size, to: log.frontier.size) { level, index in
                        try Merkle.subtreeHash(of: leaves, level: level, index: index)
                    }
                    run(id, nodes[id]!.replicator.inconsistent(Evidence(log: logName, first: note, second: headNote, prefixRoot: ours, proof: proof)))
                }
            case .checkFork(let peer, let logName, _, let checkpoint, let rotation):
                guard let log = nodes[id]!.logs[logName] else { continue }
                let ours = Merkle.root(ofLeaves: Array(log.leaves[0..<Int(checkpoint.size)]))
                run(id, nodes[id]!.replicator.checkedFork(logName, size: checkpoint.size, rotation: rotation, matchesStored: ours == checkpoint.root, shownBy: peer))
            case .checkOwnAhead(let peer, let checkpoint, let note):
                let log = nodes[id]!.logs[id] ?? MemoryLog()
                let ours = checkpoint.size <= log.frontier.size && Merkle.root(ofLeaves: Array(log.leaves[0..<Int(checkpoint.size)])) == checkpoint.root
                if ours { nodes[id]!.replicator.ownCommitShown(note) } else { run(id, nodes[id]!.replicator.ownLogAheadConfirmed(checkpoint, peer: peer)) }
            case .keepEvidence(let evidence):
                nodes[id]!.evidence.append(evidence)
            case .alert(let alert):
                nodes[id]!.alerts.append(alert)
            case .ownLogSynced(let size):
                nodes[id]!.synced = size
            case .federationStated(let peer, let statement):
                nodes[id]!.statements.append((peer, statement))
            case .dial, .close:
                break  // connections are managed by the test
            }
        }
    }

    mutating func send(from: String, to: String, _ original: Message) {
        guard !isCut(from, to) else { return }
        sent["\(from)>\(to) \(original.name)", default: 0] += 1
        if case .request(let log, _) = original, swallowsRequests.contains(to) {
            swallowed.append((from, log))
            return
        }
        var message = original
        if policies != nil, case .entries(let batch) = original {
            guard let shaped = shape(batch, from: from, to: to) else {
                message = .unavailable(log: batch.log, from: batch.from)
                return send(from: from, to: to, message)
            }
            message = .entries(shaped)
        }
        // The greeting opens a connection: it arrives, once and first (as TCP would deliver it).
        if isHello(message) {
            sequence += 1
            queue.append(Packet(at: now, sequence: sequence, from: from, to: to, frame: message.frame()))
            return
        }
        let copies = chance(loss) ? 0 : (chance(duplication) ? 2 : 1)
        for _ in 0..<copies {
            sequence += 1
            queue.append(Packet(at: now + minDelay + random.next() % (maxDelay + 1), sequence: sequence, from: from, to: to, frame: message.frame()))
        }
    }

    /// Delivers packets and fires anti-entropy ticks until `until`.
    mutating func runUntil(_ until: UInt64, tickEvery: UInt64 = 50) {
        while now <= until {
            if now % tickEvery == 0 {
                for id in nodes.keys.sorted() { run(id, nodes[id]!.replicator.tick()) }
            }
            if policies != nil {
                // Expiry: each node purges what an agreement that ended let it hold.
                for id in nodes.keys.sorted() { purge(id) }
            }
            // Deliver everything due now, in a shuffled order (reordering).
            var due = queue.filter { $0.at <= now }
            queue.removeAll { $0.at <= now }
            due.sort { $0.sequence < $1.sequence }
            for i in due.indices.reversed() where i > 0 {
                let j = Int(random.next() % UInt64(i + 1))
                due.swapAt(i, j)
            }
            for packet in due {
                var decoder = FrameDecoder()
                decoder.feed(packet.frame)
                let body = try! decoder.next()!
                let message = try! Message(body: body)
                guard nodes[packet.to]!.replicator.connectedPeers.contains(packet.from) || isHello(message) else { continue }
                run(packet.to, nodes[packet.to]!.replicator.received(message, from: packet.from))
            }
            checkInvariants()
            now += 1
        }
    }

    func isHello(_ message: Message) -> Bool { if case .hello = message { return true }; return false }

    // MARK: The data-flow rules, as QuartetNode's shell carries them out

    /// Egress for an honest sender (nil: withheld); a hostile one blanks public payloads and
    /// sends every restricted payload it holds.
    mutating func shape(_ batch: Batch, from: String, to: String) -> Batch? {
        var out = batch
        if hostile.contains(from) {
            // As a relay it blanks public entries of other logs; its own it sends as written
            // (a writer blanking its own log only stops its log from reaching anyone).
            for i in out.entries.indices where batch.log != from && EntryHeader.isPublic(encoded: out.entries[i].headerBytes) && chance(0.5) {
                out.entries[i].payload = nil
            }
            return out
        }
        let items = batch.entries.indices.compactMap { i -> (position: Int, header: EntryHeader?, hasPayload: Bool)? in
            EntryHeader.isPublic(encoded: batch.entries[i].headerBytes) ? nil
                : (i, try? EntryHeader(decoding: batch.entries[i].headerBytes), batch.entries[i].payload != nil)
        }
        // As the node does (PeerConnections.egress): an aggregate goes under the agreement it names.
        var named: [Int: String] = [:]
        for item in items where item.header?.type == Policy.aggregateType {
            if let payload = batch.entries[item.position].payload, let id = DataFlow.namedAgreement(payload.bytes) { named[item.position] = id }
        }
        switch DataFlow.egress(items, holder: batch.log, recipient: to, policy: policies![from]!, at: nowMillis, aggregateAgreements: named,
                               isWriter: batch.log == from) {
        case .withhold:
            return nil
        case .send(let strip, let disclosed):
            for i in strip { out.entries[i].payload = nil }
            let sent = items.filter { out.entries[$0.position].payload != nil }
            if sent.count != disclosed.reduce(0, { $0 + $1.count }) {
                violations.append("\(from) sent \(sent.count) restricted payloads of \(batch.log) to \(to) but its egress counted \(disclosed)")
            }
            for item in sent { sentInFull["\(from) \(to) \(batch.log) \(item.header?.index ?? 0)"] = !disclosed.isEmpty }
            return out
        }
    }

    /// Folds the public agreement entries of a stored batch into the node's policy, then purges.
    mutating func fold(_ id: String, _ entries: [Entry]) {
        guard policies != nil else { return }
        for entry in entries where PolicyEntryType(rawValue: entry.header.type) != nil && entry.header.classification == "public" {
            policies![id]!.apply(log: entry.header.log, index: entry.header.index, timeMillis: entry.header.timeMillis,
                                 type: entry.header.type, payload: entry.payload?.bytes)
        }
        purge(id)
    }

    /// Drops the payloads `id` may no longer hold (agreements revoked or expired).
    mutating func purge(_ id: String) {
        guard let policy = policies?[id], !hostile.contains(id) else { return }
        for (name, log) in nodes[id]!.logs where name != id {
            var decisions = Decisions(policy: policy, holder: name, recipient: id, at: nowMillis)
            var changed = log
            for (i, entry) in log.entries.enumerated() where entry.payload != nil && entry.header.classification != "public" {
                if !decisions.admits(entry.header, payload: entry.payload?.bytes).admitted {
                    changed.entries[i] = entry.stub
                }
            }
            nodes[id]!.logs[name] = changed
        }
    }

    /// After every step: no honest node holds a payload its policy does not let it hold, nor a
    /// stub of a public entry.
    mutating func checkInvariants() {
        guard let policies else { return }
        for (id, node) in nodes where !hostile.contains(id) {
            for (name, log) in node.logs where name != id {
                var decisions = Decisions(policy: policies[id]!, holder: name, recipient: id, at: nowMillis)
                for entry in log.entries {
                    let h = entry.header
                    if h.classification == "public" {
                        if entry.payload == nil { violations.append("t=\(now): \(id) holds a stub of public \(name)/\(h.index)") }
                    } else if entry.payload != nil, !decisions.admits(h, payload: entry.payload?.bytes).admitted {
                        violations.append("t=\(now): \(id) holds \(name)/\(h.index) (\(h.classification) \(h.type)) that no agreement lets it hold")
                    }
                }
            }
        }
    }

    /// Every node's root per log.
    func roots() -> [String: [String: Hash]] {
        nodes.mapValues { $0.logs.mapValues(\.frontier.root) }
    }

    func sizes(_ log: String) -> [UInt64] { nodes.keys.sorted().map { nodes[$0]!.logs[log]?.frontier.size ?? 0 } }
}

@Suite struct SimulationTests {
    static let ids = ["england", "northern-ireland", "scotland", "uk", "wales"]

    @Test(arguments: [UInt64(1), 2, 3, 42, 1234])
    func fiveNodesConvergeDespiteLossDuplicationReorderingDelayAndUnavailableRelays(seed: UInt64) throws {
        var sim = try Simulation(ids: Self.ids, seed: seed)
        sim.loss = 0.2
        sim.duplication = 0.2
        sim.unavailable = 0.2
        sim.maxDelay = 20
        sim.connectAll()
        for round in 0..<20 {
            for id in Self.ids where (round + id.count) % 3 != 0 {
                try sim.append(id, count: 1 + Int(sim.random.next() % 7))
            }
            sim.runUntil(sim.now + 10)
        }
        // Then quiet: anti-entropy repairs what was lost.
        sim.loss = 0
        sim.unavailable = 0
        sim.runUntil(sim.now + 1000)
        for log in Self.ids {
            let sizes = sim.sizes(log)
            #expect(Set(sizes).count == 1, "log \(log) sizes \(sizes) with seed \(seed)")
            let roots = Set(sim.nodes.values.compactMap { $0.logs[log]?.frontier.root })
            #expect(roots.count == 1, "log \(log) diverged")
        }
        #expect(sim.nodes.values.allSatisfy { $0.evidence.isEmpty })
        #expect(sim.nodes.values.allSatisfy { $0.alerts.isEmpty }, "\(sim.nodes.values.flatMap(\.alerts))")
    }

    /// Writer a, honest relay b, silent relay h (it swallows every request), and c, cut off from
    /// a (and, unless `bReachesC`, not yet connected to b or h), after a's first 20 entries.
    static func silentRelay(seed: UInt64, bReachesC: Bool) throws -> Simulation {
        var sim = try Simulation(ids: ["a", "b", "c", "h"], seed: seed)
        sim.cut = [["a", "c"]]
        sim.swallowsRequests = ["h"]
        sim.connect("a", "b")
        sim.connect("a", "h")
        if bReachesC { sim.connect("b", "c") }
        try sim.append("a", count: 20)
        sim.runUntil(100)
        return sim
    }

    /// The silent relay answers its request, just before the round's end, with an empty batch
    /// of old news under a note already checked (no cost, no fault): that answers nothing, so
    /// the round's end still marks it, and the next head it shows sends the request to the
    /// honest relay (before, the batch cleared the request and the relay kept winning it).
    /// c away from b while a grows; c meets h only, and its request goes to h, which swallows
    /// it; then b comes back while h's request is out: c learns b holds 40, the request stays
    /// with h (no round ends meanwhile).
    static func requestOutToTheSilentRelay(seed: UInt64) throws -> Simulation {
        var sim = try Self.silentRelay(seed: seed, bReachesC: true)
        #expect(sim.sizes("a") == [20, 20, 20, 20])
        sim.disconnect("b", "c")
        try sim.append("a", count: 20)
        sim.runUntil(200)
        sim.connect("c", "h")
        sim.runUntil(220, tickEvery: 1_000_000)
        #expect(sim.swallowed.contains { $0.from == "c" && $0.log == "a" })
        #expect(sim.sizes("a")[2] == 20)
        sim.connect("b", "c")
        sim.runUntil(225, tickEvery: 1_000_000)
        return sim
    }

    /// The peers `directives` ask for log `a`.
    static func askedForA(_ directives: [Directive]) -> [String] {
        directives.compactMap { directive -> String? in
            guard case .send(let peer, .request(let log, _)) = directive, log == "a" else { return nil }
            return peer
        }
    }

    @Test func oldNewsDoesNotAnswerARequest() throws {
        var sim = try Self.requestOutToTheSilentRelay(seed: 13)
        // h's "answer", just before the round's end: old news under a note c has checked.
        let old = try #require(sim.nodes["a"]!.logs["a"]!.checkpoints[20])
        sim.run("c", sim.nodes["c"]!.replicator.received(.entries(Batch(log: "a", from: 20, note: old, entries: [])), from: "h"))
        sim.run("c", sim.nodes["c"]!.replicator.tick())
        // After the round's end h shows its head first: b is asked.
        let note = try #require(sim.nodes["a"]!.logs["a"]!.checkpoints[40])
        let directives = sim.nodes["c"]!.replicator.received(.heads([Message.Head(log: "a", note: note)]), from: "h")
        #expect(Self.askedForA(directives) == ["b"], "\(directives)")
    }

    /// A member holding a log wins the one request per log with its heads and never answers:
    /// once it has left one unanswered at a round's end, another peer that offers the log is
    /// asked first until it answers, so the catch-up goes on through the honest relay.
    @Test func aRelayThatNeverAnswersDoesNotHoldACatchUpUp() throws {
        var sim = try Self.silentRelay(seed: 11, bReachesC: false)
        #expect(sim.sizes("a") == [20, 20, 0, 20])
        // c meets the silent holder first, then the honest one.
        sim.connect("c", "h")
        sim.runUntil(150)
        sim.connect("c", "b")
        sim.runUntil(sim.now + 60)
        #expect(sim.sizes("a") == [20, 20, 20, 20])
        #expect(sim.swallowed.filter { $0.from == "c" && $0.log == "a" }.count <= 2)
        // As the log grows, h may announce a new size first and be asked (the only peer offering
        // more); once b offers it too, the request moves to b within the round. c ends a round
        // behind about as often as with an honest h (3 of 40 here; 20 when h kept the request).
        // h also sends c, each round, a batch nobody asked for: old news under a note c has
        // checked (no cost, no fault); it does not count as answering.
        var late = 0
        for _ in 0..<40 {
            try sim.append("a", count: 2)
            let held = sim.nodes["c"]!.logs["a"]!.frontier.size
            if let note = sim.nodes["a"]!.logs["a"]!.checkpoints[held] {
                sim.run("c", sim.nodes["c"]!.replicator.received(.entries(Batch(log: "a", from: held, note: note, entries: [])), from: "h"))
            }
            sim.runUntil(sim.now + 50)
            if sim.sizes("a")[2] < sim.sizes("a")[0] { late += 1 }
        }
        sim.runUntil(sim.now + 200)
        #expect(sim.sizes("a") == [100, 100, 100, 100])
        #expect(late <= 6, "c was behind at the end of \(late) rounds of 40")
    }

    /// The silent relay replaces its connection (a second one, which the shell keeps, with no
    /// disconnect for the first) instead of answering: its request still counts as unanswered,
    /// and the next head it shows sends the request to the honest relay.
    @Test func aRelayReplacingItsConnectionDoesNotKeepTheRequest() throws {
        var sim = try Self.requestOutToTheSilentRelay(seed: 17)
        // h's new connection replaces the old before the round's end.
        sim.run("c", sim.nodes["c"]!.replicator.connected("h"))
        sim.run("c", sim.nodes["c"]!.replicator.received(.hello(version: ProtocolLimits.version, node: "h", federation: "sim"), from: "h"))
        let note = try #require(sim.nodes["a"]!.logs["a"]!.checkpoints[40])
        let directives = sim.nodes["c"]!.replicator.received(.heads([Message.Head(log: "a", note: note)]), from: "h")
        #expect(Self.askedForA(directives) == ["b"], "\(directives)")
    }

    /// A batch this node could not store for a reason of its own (a full disk) is not asked for
    /// again in the same round: the next batch's gap would otherwise fetch it over and over.
    @Test func aBatchNotStoredHereIsAskedForAgainOnlyNextRound() throws {
        var sim = try Simulation(ids: ["a", "b"], seed: 5)
        sim.connectAll()
        sim.runUntil(10)
        try sim.append("a", count: 2)
        try sim.append("a", count: 2)
        let log = sim.nodes["a"]!.logs["a"]!
        let first = Batch(log: "a", from: 0, note: try #require(log.checkpoints[2]), entries: log.entries.prefix(2).map(WireEntry.init))
        let second = Batch(log: "a", from: 2, note: try #require(log.checkpoints[4]), entries: log.entries[2..<4].map(WireEntry.init))
        var replicator = sim.nodes["b"]!.replicator
        _ = replicator.received(.heads([Message.Head(log: "a", note: second.note)]), from: "a")
        // The first batch comes and cannot be stored here; the second then finds a gap.
        let toStore = replicator.received(.entries(first), from: "a")
        #expect(toStore.contains { if case .store = $0 { return true }; return false }, "\(toStore)")
        _ = replicator.notStored(first)
        let gap = replicator.received(.entries(second), from: "a")
        #expect(!gap.contains { if case .send(_, .request(log: "a", from: 0)) = $0 { return true }; return false }, "asked again at once: \(gap)")
        _ = replicator.tick()
        let next = replicator.received(.heads([Message.Head(log: "a", note: second.note)]), from: "a")
        #expect(next.contains { if case .send("a", .request(log: "a", from: 0)) = $0 { return true }; return false }, "\(next)")
    }

    /// A head whose checkpoint no node would store (a size past SQLite's integers, a time past
    /// them) is taken for nothing: not seen, not claimed, not asked for.
    @Test func aHeadNoNodeWouldStoreIsTakenForNothing() throws {
        var sim = try Simulation(ids: ["a", "b"], seed: 5)
        sim.connectAll()
        sim.runUntil(10)
        for (size, time) in [(UInt64(1) << 63, UInt64(1)), (UInt64(5), UInt64(1) << 63)] {
            let note = try sim.nodes["a"]!.signer.sign(Checkpoint(origin: Simulation.origin + "a", size: size, root: Hash.emptyTree, timeMillis: time)).serialized
            let out = sim.nodes["b"]!.replicator.received(.heads([Message.Head(log: "a", note: note)]), from: "a")
            #expect(!out.contains { if case .send(_, .request(log: "a", from: _)) = $0 { return true }; return false }, "\(out)")
            #expect(sim.nodes["b"]!.replicator.seen["a"].map { $0.size < 5 } ?? true)
        }
    }

    /// Faults held against a peer decay by one each round it gives none: an honest peer's
    /// rare faults never add up to a close, a peer faulting round after round still reaches it.
    @Test func aPeersRareFaultsDoNotAddUpToAClose() throws {
        var sim = try Simulation(ids: ["a", "b"], seed: 5)
        sim.connectAll()
        sim.runUntil(10)
        var replicator = sim.nodes["a"]!.replicator
        func closes(_ out: [Directive]) -> Bool { out.contains { if case .close(peer: "b", _) = $0 { return true }; return false } }
        let limit = replicator.settings.penaltyLimit
        for _ in 0..<(limit - 1) { #expect(!closes(replicator.penalize("b", log: nil, "test fault"))) }
        for _ in 0..<limit { _ = replicator.tick() }
        // The quiet rounds took them off: as many again in one round, and no close.
        for _ in 0..<(limit - 1) { #expect(!closes(replicator.penalize("b", log: nil, "test fault"))) }
        #expect(closes(replicator.penalize("b", log: nil, "test fault")), "the limit in one round closes")
        // One fault every round: none decays, and the limit is reached.
        var closedAt: Int?
        for round in 0..<(2 * limit) {
            _ = replicator.tick()
            if closes(replicator.penalize("b", log: nil, "test fault")) { closedAt = round; break }
        }
        #expect(closedAt == limit - 1, "\(String(describing: closedAt))")
    }

    /// A member shows heads of new valid notes over and over (a writer can mint any number of
    /// its own log at one size; anyone can cycle through more old ones than the memo holds):
    /// at most `maxHeadChecksPerRound` are checked a round per peer and log, none penalised.
    @Test func headsAreCheckedAtMostAFewTimesARoundPerPeerAndLog() throws {
        var sim = try Simulation(ids: ["a", "b", "c"], seed: 3)
        sim.connectAll()
        try sim.append("a", count: 4)
        sim.runUntil(100)
        let log = sim.nodes["a"]!.logs["a"]!
        let notes = try (1...40).map { i in
            try sim.nodes["a"]!.signer.sign(Checkpoint(origin: Simulation.origin + "a", size: log.frontier.size, root: log.frontier.root,
                                                       timeMillis: sim.now + UInt64(i))).serialized
        }
        let before = sim.nodes["b"]!.replicator.checkpointsVerified
        for note in notes {
            sim.run("b", sim.nodes["b"]!.replicator.received(.heads([Message.Head(log: "a", note: note)]), from: "a"))
        }
        #expect(sim.nodes["b"]!.replicator.checkpointsVerified - before == Replicator.maxHeadChecksPerRound)
        // The next round takes as many again; the memo answers the ones already checked.
        sim.run("b", sim.nodes["b"]!.replicator.tick())
        for note in notes {
            sim.run("b", sim.nodes["b"]!.replicator.received(.heads([Message.Head(log: "a", note: note)]), from: "a"))
        }
        #expect(sim.nodes["b"]!.replicator.checkpointsVerified - before == 2 * Replicator.maxHeadChecksPerRound)
        // Old news (here empty batches) under new notes counts the same.
        sim.run("b", sim.nodes["b"]!.replicator.tick())
        let more = try (41...80).map { i in
            try sim.nodes["a"]!.signer.sign(Checkpoint(origin: Simulation.origin + "a", size: log.frontier.size, root: log.frontier.root,
                                                       timeMillis: sim.now + UInt64(i))).serialized
        }
        for note in more {
            sim.run("b", sim.nodes["b"]!.replicator.received(.entries(Batch(log: "a", from: log.frontier.size, note: note, entries: [])), from: "a"))
        }
        #expect(sim.nodes["b"]!.replicator.checkpointsVerified - before == 3 * Replicator.maxHeadChecksPerRound)
        // So do batches past what is held that cannot be stored now (answered by a request),
        // once the first has shown the size they claim (progress is always checked).
        sim.run("b", sim.nodes["b"]!.replicator.tick())
        let ahead = try (81...120).map { i in
            try sim.nodes["a"]!.signer.sign(Checkpoint(origin: Simulation.origin + "a", size: log.frontier.size + 5, root: log.frontier.root,
                                                       timeMillis: sim.now + UInt64(i))).serialized
        }
        for note in ahead {
            sim.run("b", sim.nodes["b"]!.replicator.received(.entries(Batch(log: "a", from: log.frontier.size + 5, note: note, entries: [])), from: "a"))
        }
        #expect(sim.nodes["b"]!.replicator.checkpointsVerified - before == 4 * Replicator.maxHeadChecksPerRound + 1)
        // Heads of each new commit claim progress and are never dropped for the round's
        // budget: while b waits on a (its request out to it, above) the newest is kept
        // unchecked, and checked once the wait ends (here the round's end); then b asks for it.
        let checked = sim.nodes["b"]!.replicator.checkpointsVerified
        let size = sim.nodes["a"]!.logs["a"]!.frontier.size
        // (Past size + 5, which the batches above claimed.)
        for _ in 0..<25 { try sim.append("a", count: 1) }
        for grown in (size + 6)...(size + 25) {
            let note = try #require(sim.nodes["a"]!.logs["a"]!.checkpoints[grown])
            sim.run("b", sim.nodes["b"]!.replicator.received(.heads([Message.Head(log: "a", note: note)]), from: "a"))
        }
        #expect(sim.nodes["b"]!.replicator.checkpointsVerified - checked == 0)
        let afterRound = sim.nodes["b"]!.replicator.tick()
        #expect(sim.nodes["b"]!.replicator.checkpointsVerified - checked == 1)
        #expect(afterRound.contains { if case .send("a", .request("a", _)) = $0 { return true }; return false }, "\(afterRound)")
        #expect(sim.nodes["b"]!.replicator.seen["a"]?.size == size + 25)
        #expect(!sim.nodes["b"]!.alerts.contains { $0.kind == .rejected || $0.kind == .protocolViolation }, "\(sim.nodes["b"]!.alerts)")
    }

    @Test func aLogReachesTheAggregatorThroughARelayWhenItsLinkIsCut() throws {
        var sim = try Simulation(ids: Self.ids, seed: 7)
        sim.cut = [["uk", "wales"]]
        sim.connectAll()
        try sim.append("wales", count: 5)
        try sim.append("wales", count: 3)
        sim.runUntil(200)
        #expect(sim.nodes["uk"]!.logs["wales"]?.frontier.size == 8)
        #expect(sim.nodes["uk"]!.logs["wales"]?.frontier.root == sim.nodes["wales"]!.logs["wales"]!.frontier.root)
    }

    @Test func aNodeNeverAcceptsEntriesForItsOwnLogAndForgedBatchesAreRejected() throws {
        var sim = try Simulation(ids: ["uk", "wales"], seed: 9)
        sim.connectAll()
        try sim.append("wales", count: 4)
        sim.runUntil(50)
        #expect(sim.nodes["uk"]!.logs["wales"]?.frontier.size == 4)

        // uk pretends wales' log has a new batch: signed by wales' key? No: uk cannot sign for
        // wales, so it replays wales' real checkpoint with altered entries.
        let walesLog = sim.nodes["wales"]!.logs["wales"]!
        let note = walesLog.checkpoints[4]!
        var entries = walesLog.entries.map(WireEntry.init)
        entries[2].headerBytes[entries[2].headerBytes.count - 1] ^= 1
        // To wales itself: its own log, refused whatever it holds.
        var directives = sim.nodes["wales"]!.replicator.received(.entries(Batch(log: "wales", from: 0, note: note, entries: entries)), from: "uk")
        #expect(directives.contains { if case .alert(let alert) = $0 { return alert.message.contains("own log") }; return false })
        #expect(!directives.contains { if case .store = $0 { return true }; return false })

        // A third node that has nothing of wales yet gets the forged batch: verified, refused.
        var fresh = try Simulation(ids: ["uk", "wales", "scotland"], seed: 9)
        fresh.nodes["wales"]!.signer = sim.nodes["wales"]!.signer
        let verifiers = ["uk": sim.nodes["uk"]!.signer.verifier, "wales": sim.nodes["wales"]!.signer.verifier, "scotland": fresh.nodes["scotland"]!.signer.verifier]
        var settings = ReplicationSettings(node: "scotland", federation: "sim", ownLog: "scotland", verifiers: verifiers, peers: ["uk", "wales"])
        settings.penaltyLimit = 2
        fresh.nodes["scotland"]!.replicator = Replicator(settings: settings, heads: [:], seed: 1)
        fresh.connect("scotland", "uk")
        fresh.runUntil(5)
        directives = fresh.nodes["scotland"]!.replicator.received(.entries(Batch(log: "wales", from: 0, note: note, entries: entries)), from: "uk")
        #expect(directives.count == 1)
        fresh.run("scotland", directives)
        #expect(fresh.nodes["scotland"]!.logs["wales"] == nil, "nothing of a forged batch is stored")
        #expect(fresh.nodes["scotland"]!.alerts.contains { $0.kind == .rejected && $0.peer == "uk" })

        // Reordered: the right entries and checkpoint, in another order; the store refuses it.
        var reordered = walesLog.entries.map(WireEntry.init)
        reordered.swapAt(0, 1)
        directives = fresh.nodes["scotland"]!.replicator.received(.entries(Batch(log: "wales", from: 0, note: note, entries: reordered)), from: "uk")
        #expect(directives.count == 1)
        let storeDirectives = directives
        let before = fresh.nodes["scotland"]!.alerts.count
        // Run the store by hand to see what the refusal returns.
        if case .store(let peer, let batch, _) = storeDirectives[0] {
            let out = fresh.nodes["scotland"]!.replicator.rejected(batch, from: peer, reason: "entry 0 names index 1")
            // The second rejection reaches the penalty limit: the peer is disconnected.
            #expect(out.contains { if case .close(peer: "uk", _) = $0 { return true }; return false })
            fresh.run("scotland", out)
        }
        #expect(fresh.nodes["scotland"]!.logs["wales"] == nil)
        #expect(fresh.nodes["scotland"]!.alerts.count == before + 1)
        // The real store check refuses the reordered batch too.
        fresh.run("scotland", storeDirectives)
        #expect(fresh.nodes["scotland"]!.logs["wales"] == nil)
        fresh.connect("scotland", "uk")
        fresh.runUntil(fresh.now + 5)

        // Truncated: entries that do not reach the checkpoint's size.
        directives = fresh.nodes["scotland"]!.replicator.received(
            .entries(Batch(log: "wales", from: 0, note: note, entries: Array(walesLog.entries.prefix(3).map(WireEntry.init)))), from: "uk")
        #expect(directives.contains { if case .alert(let a) = $0 { return a.message.contains("covers [0, 3)") }; return false })

        // Signed by the wrong key.
        let forger = try NoteSigner(name: Simulation.origin + "wales", key: try Ed25519PrivateKey())
        let forged = try forger.sign(Checkpoint(origin: Simulation.origin + "wales", size: 4, root: walesLog.frontier.root, timeMillis: 0)).serialized
        fresh.connect("scotland", "uk")
        fresh.runUntil(fresh.now + 5)
        directives = fresh.nodes["scotland"]!.replicator.received(.entries(Batch(log: "wales", from: 0, note: forged, entries: walesLog.entries.map(WireEntry.init))), from: "uk")
        #expect(directives.contains { if case .alert(let a) = $0 { return a.message.contains("does not verify") }; return false })
        #expect(!directives.contains { if case .store = $0 { return true }; return false })

        // Signed by wales's own key, with extension lines a Quartet writer never signs (up to
        // 64 KiB that every node would keep with the batch): refused, nothing stored.
        let padded = try sim.nodes["wales"]!.signer.sign(Checkpoint(origin: Simulation.origin + "wales", size: 4, root: walesLog.frontier.root,
                                                                    extensions: ["quartet-time 1", String(repeating: "x", count: 50_000)])).serialized
        fresh.connect("scotland", "uk")
        fresh.runUntil(fresh.now + 5)
        directives = fresh.nodes["scotland"]!.replicator.received(.entries(Batch(log: "wales", from: 0, note: padded, entries: walesLog.entries.map(WireEntry.init))), from: "uk")
        #expect(directives.contains { if case .alert(let a) = $0 { return a.message.contains("2 extension lines") }; return false })
        #expect(!directives.contains { if case .store = $0 { return true }; return false })
    }

    @Test func equivocationIsDetectedKeptQuarantinedAndPassedOn() throws {
        var sim = try Simulation(ids: ["england", "uk", "wales"], seed: 11)
        sim.connectAll()
        try sim.append("wales", count: 3)
        sim.runUntil(50)
        #expect(sim.sizes("wales") == [3, 3, 3])
        // wales' key signs a second, different history of the same log (a compromised or
        // misbehaving origin) and shows it to england only.
        var other = MemoryLog()
        for i in 0..<5 {
            let entry = try Entry(log: "wales", index: UInt64(i), timeMillis: 1, type: "t", classification: "public", author: "x",
                                  payload: Array("{\"evil\":\(i)}".utf8), salt: [UInt8](repeating: 9, count: 32))
            other.entries.append(entry)
            other.frontier.append(entry.leafHash)
        }
        let evilNote = try sim.nodes["wales"]!.signer.sign(Checkpoint(origin: Simulation.origin + "wales", size: 5, root: other.frontier.root, timeMillis: 1)).serialized
        let evilThree = try sim.nodes["wales"]!.signer.sign(Checkpoint(origin: Simulation.origin + "wales", size: 2,
            root: Merkle.root(ofLeaves: Array(other.leaves.prefix(2))), timeMillis: 1)).serialized
        // A smaller inconsistent checkpoint: england checks it against its tree and finds the lie.
        sim.run("england", sim.nodes["england"]!.replicator.received(.heads([.init(log: "wales", note: evilThree)]), from: "wales"))
        #expect(sim.nodes["england"]!.replicator.quarantined["wales"] != nil)
        let evidence = try #require(sim.nodes["england"]!.evidence.first)
        #expect(throws: Never.self) { _ = try evidence.verify(with: sim.nodes["wales"]!.signer.verifier) }
        #expect(sim.nodes["england"]!.alerts.contains { $0.kind == .equivocation })
        sim.runUntil(sim.now + 30)
        // Passed on: uk verified the evidence and quarantined the log too.
        #expect(sim.nodes["uk"]!.replicator.quarantined["wales"] == evidence)
        #expect(sim.nodes["uk"]!.alerts.contains { $0.kind == .equivocation })
        // A quarantined log takes no more entries.
        let directives = sim.nodes["uk"]!.replicator.received(.entries(Batch(log: "wales", from: 3, note: evilNote, entries: [])), from: "england")
        #expect(directives.isEmpty)
        // Nor is evidence against it checked (two signatures each, of any number of pairs a
        // writer that signed many checkpoints of one size can make): junk is dropped unchecked.
        #expect(sim.nodes["uk"]!.replicator.received(.evidence(Evidence(log: "wales", first: evilNote, second: evilNote, prefixRoot: Hash.leaf([2]), proof: [])),
                                                     from: "england").isEmpty)
        // A peer still announcing the log (it was away, or could not verify the evidence yet)
        // is sent the evidence again, once a round.
        let told = { (out: [Directive]) in out.filter { if case .send("england", .evidence(let e)) = $0 { return e == evidence }; return false }.count }
        let head = [Message.Head(log: "wales", note: evilNote)]
        _ = sim.nodes["uk"]!.replicator.tick()
        let firstAnswer = sim.nodes["uk"]!.replicator.received(.heads(head), from: "england")
        #expect(told(firstAnswer) == 1, "\(firstAnswer)")
        #expect(told(sim.nodes["uk"]!.replicator.received(.heads(head), from: "england")) == 0, "once a round")
        _ = sim.nodes["uk"]!.replicator.tick()
        #expect(told(sim.nodes["uk"]!.replicator.received(.heads(head), from: "england")) == 1)
        // Evidence whose checkpoints a key this node has not seen signed (a rotation it lacks)
        // is not the sender's fault: no penalty, nothing kept.
        let stranger = try NoteSigner(name: Simulation.origin + "england", key: try Ed25519PrivateKey())
        let unknownNote = { (size: UInt64) in try stranger.sign(Checkpoint(origin: Simulation.origin + "england", size: size, root: Hash.leaf([UInt8(size)]), timeMillis: 1)).serialized }
        let unverifiable = Evidence(log: "england", first: try unknownNote(2), second: try unknownNote(3), prefixRoot: Hash.leaf([2]), proof: [])
        let answer = sim.nodes["uk"]!.replicator.received(.evidence(unverifiable), from: "england")
        #expect(!answer.contains { if case .alert(let a) = $0 { return a.kind == .rejected }; return false }, "\(answer)")
        #expect(sim.nodes["uk"]!.replicator.quarantined["england"] == nil)
        // The same evidence again is not held against its sender (its rounds and uk's are not
        // in step); other unverifiable evidence in the same round is (a junk key line must not
        // buy unlimited unverifiable evidence).
        let same = sim.nodes["uk"]!.replicator.received(.evidence(unverifiable), from: "england")
        #expect(!same.contains { if case .alert(let a) = $0 { return a.kind == .rejected }; return false }, "\(same)")
        let otherEvidence = Evidence(log: "england", first: try unknownNote(4), second: try unknownNote(5), prefixRoot: Hash.leaf([4]), proof: [])
        let again = sim.nodes["uk"]!.replicator.received(.evidence(otherEvidence), from: "england")
        #expect(again.contains { if case .alert(let a) = $0 { return a.kind == .rejected }; return false }, "\(again)")
        // Evidence that fails for any other reason still counts against its sender.
        let forged = Evidence(log: "england", first: evilNote, second: evilNote, prefixRoot: Hash.leaf([2]), proof: [])
        #expect(sim.nodes["uk"]!.replicator.received(.evidence(forged), from: "england").contains { if case .alert(let a) = $0 { return a.kind == .rejected }; return false })
        // The same evidence again is taken a few times a round; sent again and again, it is held
        // against its sender (before its signatures are checked again), and the next round it is
        // taken again.
        let rejected = { (out: [Directive]) in out.contains { if case .alert(let a) = $0 { return a.kind == .rejected }; return false } }
        for _ in 1..<Replicator.excusedResendsPerRound {
            #expect(!rejected(sim.nodes["uk"]!.replicator.received(.evidence(unverifiable), from: "england")))
        }
        let flooded = sim.nodes["uk"]!.replicator.received(.evidence(unverifiable), from: "england")
        #expect(flooded.contains { if case .alert(let a) = $0 { return a.kind == .rejected && a.message.contains("sent \(Replicator.excusedResendsPerRound + 1) times this round") }; return false }, "\(flooded)")
        // Further copies are dropped unchecked, held against it no more this round.
        #expect(sim.nodes["uk"]!.replicator.received(.evidence(unverifiable), from: "england").isEmpty)
        _ = sim.nodes["uk"]!.replicator.tick()
        // A new round counts again from nothing: four copies taken, the fifth held against it.
        for _ in 0..<Replicator.excusedResendsPerRound {
            #expect(!rejected(sim.nodes["uk"]!.replicator.received(.evidence(unverifiable), from: "england")), "a new round takes it again")
        }
        #expect(rejected(sim.nodes["uk"]!.replicator.received(.evidence(unverifiable), from: "england")), "the count starts again each round")
        // Same size, different root, is evidence with no proof.
        var fresh = try Simulation(ids: ["uk", "wales"], seed: 12)
        fresh.nodes["wales"]!.signer = sim.nodes["wales"]!.signer
        let settings = ReplicationSettings(node: "uk", federation: "sim", ownLog: "uk",
                                           verifiers: ["uk": fresh.nodes["uk"]!.signer.verifier, "wales": sim.nodes["wales"]!.signer.verifier], peers: ["wales"])
        let realNote = sim.nodes["wales"]!.logs["wales"]!.checkpoints[3]!
        let real = try sim.nodes["wales"]!.signer.verifier.verifyCheckpoint(try SignedNote(parsing: realNote))
        fresh.nodes["uk"]!.replicator = Replicator(settings: settings, heads: ["wales": LogHead(checkpoint: real, note: realNote)], seed: 3)
        let sameSize = try sim.nodes["wales"]!.signer.sign(Checkpoint(origin: Simulation.origin + "wales", size: 3,
            root: Merkle.root(ofLeaves: Array(other.leaves.prefix(3))), timeMillis: 1)).serialized
        fresh.connect("uk", "wales")
        fresh.runUntil(3)
        let out = fresh.nodes["uk"]!.replicator.received(.heads([.init(log: "wales", note: sameSize)]), from: "wales")
        let kept = out.compactMap { if case .keepEvidence(let e) = $0 { return e }; return nil }
        #expect(kept.count == 1 && kept[0].proof.isEmpty)
        #expect(throws: Never.self) { _ = try kept[0].verify(with: sim.nodes["wales"]!.signer.verifier) }
    }

    @Test func reconnectsBackOffWithJitterWithinBounds() throws {
        let settings = ReplicationSettings(node: "england", federation: "sim", ownLog: "england", verifiers: [:], peers: ["uk", "wales"])
        var replicator = Replicator(settings: settings, heads: [:], seed: 5)
        #expect(replicator.start() == [.dial(peer: "uk", afterMillis: 0), .dial(peer: "wales", afterMillis: 0)])
        var delays: [UInt64] = []
        for _ in 0..<10 {
            for directive in replicator.disconnected("uk") {
                if case .dial(_, let after) = directive { delays.append(after) }
            }
        }
        for (i, delay) in delays.enumerated() {
            let ceiling = replicator.backoffCeiling(failures: i + 1)
            #expect(delay >= ceiling && delay <= ceiling + ceiling / 2, "attempt \(i + 1): \(delay)")
        }
        #expect(delays.last! >= settings.backoffMaxMillis)
        #expect(Set(delays.suffix(4)).count > 1, "jitter varies the delay")
        // The side with the larger id dials once at start, and never redials.
        let other = Replicator(settings: ReplicationSettings(node: "wales", federation: "sim", ownLog: "wales", verifiers: [:], peers: ["uk"]), heads: [:], seed: 1)
        var copy = other
        #expect(copy.start() == [.dial(peer: "uk", afterMillis: 0)])
        #expect(copy.disconnected("uk").isEmpty)
    }

    @Test func aRequestARelayCannotServeIsAskedElsewhereAtOnce() throws {
        // wales' log, signed by wales; uk asks relays for it before wales itself is connected.
        var sim = try Simulation(ids: ["england", "scotland", "uk", "wales"], seed: 5)
        sim.connect("wales", "england")
        sim.connect("wales", "scotland")
        try sim.append("wales", count: 4)
        sim.runUntil(50)
        let note = sim.nodes["wales"]!.logs["wales"]!.checkpoints[4]!
        let verifiers = sim.nodes.mapValues { $0.signer.verifier }
        var settings = ReplicationSettings(node: "uk", federation: "sim", ownLog: "uk", verifiers: verifiers, peers: ["england", "scotland", "wales"])
        settings.writers = ["england": "england", "scotland": "scotland", "uk": "uk", "wales": "wales"]
        var uk = Replicator(settings: settings, heads: [:], seed: 1)
        func greet(_ peer: String) -> [Directive] {
            _ = uk.connected(peer)
            _ = uk.received(.hello(version: ProtocolLimits.version, node: peer, federation: "sim"), from: peer)
            return uk.received(.heads([.init(log: "wales", note: note)]), from: peer)
        }
        func requests(_ directives: [Directive]) -> [String] {
            directives.compactMap { if case .send(let peer, .request("wales", 0)) = $0 { return peer }; return nil }
        }
        #expect(requests(greet("england")) == ["england"])
        #expect(requests(greet("scotland")).isEmpty, "one request per log outstanding")
        // An answer nobody asked for changes nothing.
        #expect(uk.received(.unavailable(log: "wales", from: 0), from: "scotland").isEmpty)
        // england holds only stubs uk may have in full: scotland is asked at once, not after the round.
        #expect(requests(uk.received(.unavailable(log: "wales", from: 0), from: "england")) == ["scotland"])
        // scotland cannot either: nobody else has it, so nothing is asked until the writer appears.
        #expect(requests(uk.received(.unavailable(log: "wales", from: 0), from: "scotland")).isEmpty)
        #expect(requests(greet("wales")) == ["wales"])
        // After the anti-entropy round the relays may be asked again (they may hold more by then).
        _ = uk.received(.unavailable(log: "wales", from: 0), from: "wales")
        _ = uk.tick()
        #expect(requests(uk.received(.heads([.init(log: "wales", note: note)]), from: "england")) == ["wales"], "the writer first")
    }

    /// A replica that pulls a log from its writer (told each commit as a head, it asks for
    /// what follows what it holds, one request at a time) checks the signature of the newest
    /// head that came while its request was out — when the answer comes, and only if the answer
    /// did not cover it — not of every one: each was a check (~30 % of a replica's CPU under
    /// load) that changed nothing. It still ends up holding all of it. (Here every kept head is
    /// covered by the answer; `headsKeptDuringARequestStillSendTheNextRequestToTheWriter` takes one.)
    @Test func aReplicaPullingFromTheWriterChecksOnlyTheNewestHeadOfAWait() throws {
        var sim = try Simulation(ids: ["scotland", "wales"], seed: 3)
        sim.minDelay = 4
        sim.maxDelay = 4
        try sim.append("wales", count: 4)
        sim.connect("scotland", "wales")
        sim.runUntil(30)
        #expect(sim.sizes("wales") == [4, 4])
        let before = sim.nodes["scotland"]!.replicator.checkpointsVerified
        // 40 commits 2 ms apart, each told to scotland as a head; answers take 8 ms.
        for _ in 0..<40 {
            try sim.append("wales", count: 1)
            sim.runUntil(sim.now + 1, tickEvery: .max)
        }
        sim.runUntil(sim.now + 60, tickEvery: .max)
        #expect(sim.sizes("wales") == [44, 44])
        let checks = sim.nodes["scotland"]!.replicator.checkpointsVerified - before
        #expect(sim.sent["wales>scotland heads", default: 0] >= 40, "\(sim.sent)")
        #expect(checks <= 20, "\(checks) signature checks for 40 heads (one each before) and \(sim.sent["scotland>wales request", default: 0]) answers")
    }

    /// The writer's heads kept while its answer was on its way are taken when the answer comes,
    /// before it is stored: the next request goes to the writer at once (read while the answer
    /// is stored), not to a relay that showed as much (a review found it asked the relay when
    /// the heads waited for the store too, and a second that the next request waited for the
    /// store).
    @Test func headsKeptDuringARequestStillSendTheNextRequestToTheWriter() throws {
        let (sim, log, notes) = try HandDrivenUK.twentyOfWales()
        var uk = HandDrivenUK.replicator(sim)
        func greet(_ peer: String, _ note: String) -> [Directive] { HandDrivenUK.greet(&uk, peer, note) }
        let requests = HandDrivenUK.requests
        #expect(requests(greet("wales", notes[0])) == ["wales@0"])
        _ = greet("england", notes[3])
        // While the request is out to wales, its heads of each commit are kept, not checked.
        let checked = uk.checkpointsVerified
        for note in notes[1...] { #expect(uk.received(.heads([.init(log: "wales", note: note)]), from: "wales").isEmpty) }
        #expect(uk.checkpointsVerified == checked)
        // The answer: stored, and the newest head taken as it comes, so that the rest is asked
        // of wales at once (read by wales while this is stored), and once only.
        let answer = Batch(log: "wales", from: 0, note: notes[0], entries: log.entries[0..<5].map(WireEntry.init))
        let taken = uk.received(.entries(answer), from: "wales")
        guard let stored = taken.first(where: { if case .store = $0 { return true }; return false }),
              case .store(_, let batch, let checkpoint) = stored else { Issue.record("not stored: \(taken)"); return }
        #expect(requests(taken) == ["wales@5"], "\(taken)")
        #expect(requests(uk.stored(batch, checkpoint: checkpoint, from: "wales")).isEmpty)
    }

    /// The writer's answer to this node's request, arriving while a relay's batch from the same
    /// place is being stored, is dropped (the batch in flight covers it) but ends the request:
    /// once the store is done the rest is asked of the writer at once (the request was left
    /// out, so the log waited for the round's end and the writer counted as not answering).
    @Test func anAnswerDroppedForTheBatchInFlightStillEndsItsRequest() throws {
        let (sim, log, notes) = try HandDrivenUK.twentyOfWales()
        var uk = HandDrivenUK.replicator(sim)
        func greet(_ peer: String, _ note: String) -> [Directive] { HandDrivenUK.greet(&uk, peer, note) }
        let requests = HandDrivenUK.requests
        #expect(requests(greet("wales", notes[3])) == ["wales@0"])
        #expect(requests(greet("england", notes[3])).isEmpty)
        // England relays the first ten: taken and stored while the request is out to wales.
        let relayed = uk.received(.entries(Batch(log: "wales", from: 0, note: notes[1], entries: log.entries[0..<10].map(WireEntry.init))), from: "england")
        guard let store = relayed.first(where: { if case .store = $0 { return true }; return false }),
              case .store(_, let batch, let checkpoint) = store else { Issue.record("not stored: \(relayed)"); return }
        // Wales's answer from 0: the batch in flight covers its start, so it is dropped.
        let answer = Batch(log: "wales", from: 0, note: notes[2], entries: log.entries[0..<15].map(WireEntry.init))
        #expect(!uk.received(.entries(answer), from: "wales").contains { if case .store = $0 { return true }; return false })
        // Stored: the rest is asked of the writer now.
        #expect(requests(uk.stored(batch, checkpoint: checkpoint, from: "england")) == ["wales@10"])
    }

    /// The writer's head kept while its request was out, covered only by a relay's batch being
    /// stored, is taken when that batch is rejected (it was dropped unchecked: the writer's size
    /// stayed stale and nothing was asked until the round's end, or the relay was asked again).
    @Test func aKeptHeadCoveredByARelaysRejectedBatchIsTakenWhenItIsRejected() throws {
        let (sim, log, notes) = try HandDrivenUK.twentyOfWales()
        var uk = HandDrivenUK.replicator(sim)
        func greet(_ peer: String, _ note: String) -> [Directive] { HandDrivenUK.greet(&uk, peer, note) }
        let requests = HandDrivenUK.requests
        #expect(requests(greet("wales", notes[1])) == ["wales@0"])
        _ = greet("england", notes[1])
        // Wales's head at 20 while its request is out: kept.
        let checked = uk.checkpointsVerified
        #expect(uk.received(.heads([.init(log: "wales", note: notes[3])]), from: "wales").isEmpty)
        #expect(uk.checkpointsVerified == checked)
        // England relays 20 entries under wales's real note, its entries made up: taken to store
        // (the leaves are the store's to check).
        var forged = log.entries[0..<20].map(WireEntry.init)
        forged[3] = WireEntry(try Entry(log: "wales", index: 3, timeMillis: sim.now, type: "note.test", classification: "public",
                                        author: "sim", payload: Array("{}".utf8), salt: [UInt8](repeating: 9, count: 32)))
        let relayed = uk.received(.entries(Batch(log: "wales", from: 0, note: notes[3], entries: forged)), from: "england")
        guard let store = relayed.first(where: { if case .store = $0 { return true }; return false }),
              case .store(_, let batch, _) = store else { Issue.record("not stored: \(relayed)"); return }
        // Wales answers from 0: dropped for the batch in flight, its request ended; its head of
        // 20 is covered by england's batch, so not checked yet.
        _ = uk.received(.entries(Batch(log: "wales", from: 0, note: notes[1], entries: log.entries[0..<10].map(WireEntry.init))), from: "wales")
        // England's batch is rejected: wales's head is taken, and the log asked of wales.
        #expect(requests(uk.rejected(batch, from: "england", reason: "leaves do not match")) == ["wales@0"])
    }

    /// The writer's head kept while its request was out, at the size its answer then brought but
    /// with another root, is checked when the answer is stored: a second history, said and
    /// quarantined (it was dropped unchecked, as covered by what was held).
    @Test func aKeptHeadContradictingTheAnswerAtItsSizeIsCaught() throws {
        var sim = try Simulation(ids: ["england", "uk", "wales"], seed: 5)
        for _ in 0..<2 { try sim.append("wales", count: 5) }
        let log = sim.nodes["wales"]!.logs["wales"]!
        let note = try #require(log.checkpoints[10])
        var uk = HandDrivenUK.replicator(sim)
        #expect(HandDrivenUK.requests(HandDrivenUK.greet(&uk, "wales", note)) == ["wales@0"])
        // While the request is out, the writer shows another root at 10: kept, unchecked.
        let other = try sim.nodes["wales"]!.signer.sign(Checkpoint(origin: Simulation.origin + "wales", size: 10, root: Hash.leaf([1]), timeMillis: sim.now)).serialized
        #expect(uk.received(.heads([.init(log: "wales", note: other)]), from: "wales").isEmpty)
        // The answer (the first history) is stored; then the kept head is compared with it.
        let taken = uk.received(.entries(Batch(log: "wales", from: 0, note: note, entries: log.entries.map(WireEntry.init))), from: "wales")
        guard let store = taken.first(where: { if case .store = $0 { return true }; return false }),
              case .store(_, let batch, let checkpoint) = store else { Issue.record("not stored: \(taken)"); return }
        #expect(uk.quarantined["wales"] == nil)
        let stored = uk.stored(batch, checkpoint: checkpoint, from: "wales")
        #expect(uk.quarantined["wales"] != nil)
        #expect(stored.contains { if case .alert(let a) = $0 { return a.kind == .equivocation }; return false }, "\(stored)")
    }

    /// Notes claiming progress are checked at most `maxProgressChecksPerRound` times a round per
    /// peer and log: a relay passing on a writer's notes of ever larger sizes (only the writer's
    /// key can sign them) costs each node that many checks a round, the rest dropped unchecked
    /// until the next round.
    @Test func progressClaimsAreCheckedAtMostTheirBoundARound() throws {
        let (sim, _, _) = try HandDrivenUK.twentyOfWales()
        var uk = HandDrivenUK.replicator(sim)
        let signer = sim.nodes["wales"]!.signer
        let bound = Replicator.maxProgressChecksPerRound
        let notes = try (1...(bound + 100)).map { size in
            try signer.sign(Checkpoint(origin: Simulation.origin + "wales", size: UInt64(size), root: Hash.leaf(Array("\(size)".utf8)), timeMillis: sim.now)).serialized
        }
        // Wales (the writer) is away: england relays them, each claiming more than the last.
        _ = HandDrivenUK.greet(&uk, "england", notes[0])
        for note in notes.dropFirst() { _ = uk.received(.heads([.init(log: "wales", note: note)]), from: "england") }
        #expect(uk.checkpointsVerified == bound)
        // The next round, more are checked.
        _ = uk.tick()
        let more = try signer.sign(Checkpoint(origin: Simulation.origin + "wales", size: UInt64(bound + 200), root: Hash.leaf([1]), timeMillis: sim.now)).serialized
        _ = uk.received(.heads([.init(log: "wales", note: more)]), from: "england")
        #expect(uk.checkpointsVerified == bound + 1)
    }

    @Test func bothSidesKeepTheSameOfTwoConnections() {
        // A connection the smaller id dialled replaces anything; of two of a kind the newer wins.
        for heldCanonical in [false, true] {
            for age: UInt64 in [0, 500, 5_000] {
                #expect(ConnectionChoice.keepsNew(newCanonical: true, heldCanonical: heldCanonical, heldAgeMillis: age))
            }
        }
        #expect(ConnectionChoice.keepsNew(newCanonical: false, heldCanonical: false, heldAgeMillis: 0))
        // Both dialled at start: the larger id's connection loses to a young canonical one...
        #expect(!ConnectionChoice.keepsNew(newCanonical: false, heldCanonical: true, heldAgeMillis: 0))
        #expect(!ConnectionChoice.keepsNew(newCanonical: false, heldCanonical: true, heldAgeMillis: ConnectionChoice.startRaceMillis - 1))
        // ...but replaces an old one: the larger id restarted, and the old link may be half-open.
        #expect(ConnectionChoice.keepsNew(newCanonical: false, heldCanonical: true, heldAgeMillis: ConnectionChoice.startRaceMillis))
        // Whatever order the two connections arrive in, both sides end with the canonical one
        // during the start-up race: side A sees (x then y), side B (y then x).
        func kept(first: Bool, second: Bool) -> Bool {
            ConnectionChoice.keepsNew(newCanonical: second, heldCanonical: first, heldAgeMillis: 10) ? second : first
        }
        #expect(kept(first: true, second: false) == true && kept(first: false, second: true) == true)
    }

    @Test func unavailableAnswersAreMatchedToTheRequestAndVersionOnePeersNeverGetThem() throws {
        var sim = try Simulation(ids: ["england", "scotland", "uk", "wales"], seed: 7)
        sim.connect("wales", "england")
        sim.connect("wales", "scotland")
        try sim.append("wales", count: 4)
        try sim.append("wales", count: 2)
        sim.runUntil(50)
        let log = sim.nodes["wales"]!.logs["wales"]!
        let four = log.checkpoints[4]!, six = log.checkpoints[6]!
        let verifiers = sim.nodes.mapValues { $0.signer.verifier }
        var settings = ReplicationSettings(node: "uk", federation: "sim", ownLog: "uk", verifiers: verifiers, peers: ["england", "scotland", "wales"])
        settings.writers = ["england": "england", "scotland": "scotland", "uk": "uk", "wales": "wales"]
        var uk = Replicator(settings: settings, heads: [:], seed: 1)
        func greet(_ peer: String, version: UInt16 = ProtocolLimits.version) -> [Directive] {
            _ = uk.connected(peer)
            _ = uk.received(.hello(version: version, node: peer, federation: "sim"), from: peer)
            return uk.received(.heads([.init(log: "wales", note: six)]), from: peer)
        }
        func requests(_ directives: [Directive]) -> [String: UInt64] {
            var out: [String: UInt64] = [:]
            for case .send(let peer, .request("wales", let from)) in directives { out[peer] = from }
            return out
        }
        #expect(requests(greet("england")) == ["england": 0])
        _ = greet("scotland", version: 1)
        #expect(!uk.speaksUnavailable("scotland") && uk.speaksUnavailable("england"), "version 1 peers are accepted")
        // A late answer to an older request (another `from`) is ignored: the request stands.
        #expect(uk.received(.unavailable(log: "wales", from: 3), from: "england").isEmpty)
        #expect(requests(uk.received(.unavailable(log: "wales", from: 0), from: "scotland")).isEmpty, "not asked of scotland")
        // The right answer moves the request to scotland at once.
        #expect(requests(uk.received(.unavailable(log: "wales", from: 0), from: "england")) == ["scotland": 0])
        // Nothing to give from there: a version-2 peer is told so, a version-1 peer is not.
        #expect(uk.received(.request(log: "wales", from: 0), from: "england") == [.send(peer: "england", .unavailable(log: "wales", from: 0))])
        #expect(uk.received(.request(log: "wales", from: 0), from: "scotland").isEmpty)

        // Pipelined: while a batch is being stored, the next request starts at its end; an
        // unavailable answer to it is asked elsewhere from that end, not from what is held.
        _ = uk.tick()
        _ = uk.received(.heads([.init(log: "wales", note: six)]), from: "england")
        let firstBatch = Batch(log: "wales", from: 0, note: four, entries: log.entries.prefix(4).map(WireEntry.init))
        let directives = uk.received(.entries(firstBatch), from: "england")
        #expect(requests(directives) == ["england": 4])
        #expect(directives.contains { if case .store = $0 { return true }; return false })
        #expect(requests(uk.received(.unavailable(log: "wales", from: 4), from: "england")) == ["scotland": 4])
    }

    @Test func theHandshakeIsCheckedBeforeAnythingElse() throws {
        let settings = ReplicationSettings(node: "uk", federation: "sim", ownLog: "uk", verifiers: [:], peers: ["wales"])
        var replicator = Replicator(settings: settings, heads: [:], seed: 1)
        _ = replicator.connected("wales")
        var out = replicator.received(.request(log: "uk", from: 0), from: "wales")
        #expect(out.contains { if case .close = $0 { return true }; return false })
        _ = replicator.connected("wales")
        out = replicator.received(.hello(version: ProtocolLimits.oldest - 1, node: "wales", federation: "sim"), from: "wales")
        #expect(out.contains { if case .send(_, .error(.version, _)) = $0 { return true }; return false })
        // A newer peer is fine: both use the highest version both speak (ours).
        _ = replicator.connected("wales")
        out = replicator.received(.hello(version: ProtocolLimits.version + 1, node: "wales", federation: "sim"), from: "wales")
        #expect(out == [.send(peer: "wales", .heads([]))])
        #expect(replicator.peerVersions == ["wales": ProtocolLimits.version])
        _ = replicator.connected("wales")
        out = replicator.received(.hello(version: ProtocolLimits.version, node: "england", federation: "sim"), from: "wales")
        #expect(out.contains { if case .send(_, .error(.identity, _)) = $0 { return true }; return false })
        _ = replicator.connected("wales")
        out = replicator.received(.hello(version: ProtocolLimits.version, node: "wales", federation: "sim"), from: "wales")
        #expect(out == [.send(peer: "wales", .heads([]))])
        #expect(replicator.connectedPeers == ["wales"])
    }

    /// A node of the first release (0.1.0) speaks versions 1 and 2 and refuses a hello above
    /// them instead of taking the lower: the next connection offers the version its hello named
    /// (or one less, had it said nothing), until its hello names this node's version again.
    @Test func aPeerThatRefusesTheVersionIsOfferedItsOwnNextTime() throws {
        let settings = ReplicationSettings(node: "uk", federation: "sim", ownLog: "uk", verifiers: [:], peers: ["wales", "england"])
        var replicator = Replicator(settings: settings, heads: [:], seed: 1)
        func hello(_ out: [Directive], _ peer: String) -> UInt16? {
            for directive in out { if case .send(peer, .hello(let version, _, _)) = directive { return version } }
            return nil
        }
        #expect(hello(replicator.connected("wales"), "wales") == ProtocolLimits.version)
        // Its hello (2) first, then its refusal of ours.
        _ = replicator.received(.hello(version: 2, node: "wales", federation: "sim"), from: "wales")
        var out = replicator.received(.error(code: .version, message: "unsupported protocol version 3"), from: "wales")
        #expect(out.contains { if case .close(peer: "wales", _) = $0 { return true }; return false })
        #expect(!out.contains { if case .alert = $0 { return true }; return false }, "refusing a version is no violation")
        _ = replicator.disconnected("wales")
        #expect(hello(replicator.connected("wales"), "wales") == 2)
        out = replicator.received(.hello(version: 2, node: "wales", federation: "sim"), from: "wales")
        #expect(replicator.peerVersions["wales"] == 2)
        // Upgraded to a version between (3, below this node's): that link is closed too, and the
        // next offers this node's own, which the peer takes down to its 3 (was: kept at 2).
        _ = replicator.disconnected("wales")
        #expect(hello(replicator.connected("wales"), "wales") == 2)
        out = replicator.received(.hello(version: 3, node: "wales", federation: "sim"), from: "wales")
        #expect(out.contains { if case .close(peer: "wales", _) = $0 { return true }; return false },
                "a link at the lower version is closed once the peer names a later one")
        _ = replicator.disconnected("wales")
        #expect(hello(replicator.connected("wales"), "wales") == ProtocolLimits.version)
        _ = replicator.received(.hello(version: 3, node: "wales", federation: "sim"), from: "wales")
        #expect(replicator.peerVersions["wales"] == 3)
        // Refused again, then upgraded to this node's version: closed, and offered it again.
        _ = replicator.received(.error(code: .version, message: "unsupported protocol version \(ProtocolLimits.version)"), from: "wales")
        _ = replicator.disconnected("wales")
        #expect(hello(replicator.connected("wales"), "wales") == 3)
        out = replicator.received(.hello(version: ProtocolLimits.version, node: "wales", federation: "sim"), from: "wales")
        #expect(out.contains { if case .close(peer: "wales", _) = $0 { return true }; return false },
                "a link at the lower version is closed once the peer names this one")
        _ = replicator.disconnected("wales")
        #expect(hello(replicator.connected("wales"), "wales") == ProtocolLimits.version)
        // A refusal before any hello: one less each time, never below the oldest; other peers keep theirs.
        for expected in stride(from: Int(ProtocolLimits.version) - 1, through: Int(ProtocolLimits.oldest), by: -1) {
            _ = replicator.connected("england")
            _ = replicator.received(.error(code: .version, message: "no"), from: "england")
            _ = replicator.disconnected("england")
            #expect(hello(replicator.connected("england"), "england") == UInt16(expected))
            _ = replicator.disconnected("england")
        }
        _ = replicator.connected("england")
        _ = replicator.received(.error(code: .version, message: "no"), from: "england")
        _ = replicator.disconnected("england")
        #expect(hello(replicator.connected("england"), "england") == ProtocolLimits.oldest)
        #expect(hello(replicator.connected("wales"), "wales") == ProtocolLimits.version)
    }
}

/// uk driven by hand: a replicator of the simulation's logs with england and wales as its peers
/// (each writes its own log), for tests that set the order of its messages themselves.
enum HandDrivenUK {
    /// A simulation whose wales wrote 20 entries in commits of 5: it, wales's log, and the
    /// notes at 5, 10, 15 and 20.
    static func twentyOfWales() throws -> (Simulation, MemoryLog, [String]) {
        var sim = try Simulation(ids: ["england", "uk", "wales"], seed: 5)
        for _ in 0..<4 { try sim.append("wales", count: 5) }
        let log = sim.nodes["wales"]!.logs["wales"]!
        return (sim, log, try [5, 10, 15, 20].map { try #require(log.checkpoints[UInt64($0)]) })
    }

    static func replicator(_ sim: Simulation) -> Replicator {
        var settings = ReplicationSettings(node: "uk", federation: "sim", ownLog: "uk", verifiers: sim.nodes.mapValues { $0.signer.verifier },
                                           peers: ["england", "wales"])
        settings.writers = ["england": "england", "uk": "uk", "wales": "wales"]
        return Replicator(settings: settings, heads: [:], seed: 1)
    }

    /// `peer` connects, says hello and shows `note`, a head of wales's log: what uk does then.
    static func greet(_ uk: inout Replicator, _ peer: String, _ note: String) -> [Directive] {
        _ = uk.connected(peer)
        _ = uk.received(.hello(version: ProtocolLimits.version, node: peer, federation: "sim"), from: peer)
        return uk.received(.heads([.init(log: "wales", note: note)]), from: peer)
    }

    /// The requests for wales's log among `directives`, as `peer@from`.
    static func requests(_ directives: [Directive]) -> [String] {
        directives.compactMap { if case .send(let peer, .request("wales", let from)) = $0 { return "\(peer)@\(from)" }; return nil }
    }
}
